//===- ConvertTileToTileGPU.cpp - The convert-tile-to-tilegpu pass --------===//
//
// Gives every tensor of the module the default blocked layout of its shape.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"
#include "llvm/Support/MathExtras.h"

#include <set>

namespace tessera {
#define GEN_PASS_DEF_CONVERTTILETOTILEGPU
#include "passes/Passes.h.inc"
} // namespace tessera

using namespace mlir;
using tessera::tilegpu::BlockedEncodingAttr;
using tessera::tilegpu::ConvertLayoutOp;
using tessera::tilegpu::MmaEncodingAttr;
using tessera::tilegpu::SliceEncodingAttr;

namespace {

struct ConvertTileToTileGPUPass
    : tessera::impl::ConvertTileToTileGPUBase<ConvertTileToTileGPUPass> {
  using ConvertTileToTileGPUBase::ConvertTileToTileGPUBase;

  Type encode(Type type) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor || tensor.getEncoding() || tensor.getRank() == 0)
      return type;
    // Layouts depend on the shape only (a load's pointers, mask and result
    // share one); tiles as wide as those that memory accesses of bytes use
    // get 16 per thread, so bytes move in 16-byte vectors too (keyed by rank
    // and width: a row broadcast to such a tile keeps the same layout).
    unsigned run = byteShapes.count({tensor.getRank(), tensor.getShape().back()}) ? 16 : 8;
    return RankedTensorType::get(
        tensor.getShape(), tensor.getElementType(),
        BlockedEncodingAttr::getDefault(&getContext(), tensor.getShape(), numWarps, run,
                                        threadsPerWarp));
  }
  std::set<std::pair<int64_t, int64_t>> byteShapes; // (rank, last dimension)

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (numWarps < 1 || numWarps > 32 || !llvm::isPowerOf2_32(numWarps)) {
      module.emitError() << "num-warps must be a power of two from 1 to 32, got "
                         << static_cast<unsigned>(numWarps);
      return signalPassFailure();
    }
    if (threadsPerWarp != 32 && threadsPerWarp != 64) {
      module.emitError() << "threads-per-warp must be 32 or 64, got "
                         << static_cast<unsigned>(threadsPerWarp);
      return signalPassFailure();
    }
    if (threadsPerWarp != 32 && computeCapability != 0) {
      module.emitError() << "tensor-core layouts (compute-capability "
                         << static_cast<unsigned>(computeCapability)
                         << ") need 32 threads per warp";
      return signalPassFailure();
    }
    if (mfma && threadsPerWarp != 64) {
      module.emitError() << "MFMA layouts need 64 threads per warp (threads-per-warp=64), got "
                         << static_cast<unsigned>(threadsPerWarp);
      return signalPassFailure();
    }
    MLIRContext *ctx = &getContext();
    module.walk([&](Operation *op) {
      if (!isa<tessera::tile::LoadOp, tessera::tile::StoreOp, tessera::tile::DescriptorLoadOp>(op))
        return;
      for (Type t : llvm::concat<Type>(op->getResultTypes(), op->getOperandTypes()))
        if (auto tensor = dyn_cast<RankedTensorType>(t))
          if (tensor.getRank() >= 2 && tensor.getElementType().isIntOrFloat() &&
              tensor.getElementType().getIntOrFloatBitWidth() == 8)
            byteShapes.insert({tensor.getRank(), tensor.getShape().back()});
    });
    module->setAttr(tessera::tilegpu::kNumWarpsAttr,
                    IntegerAttr::get(IntegerType::get(ctx, 32), numWarps));
    module->setAttr(tessera::tilegpu::kComputeCapabilityAttr,
                    IntegerAttr::get(IntegerType::get(ctx, 32), computeCapability));
    module->setAttr(tessera::tilegpu::kThreadsPerWarpAttr,
                    IntegerAttr::get(IntegerType::get(ctx, 32), threadsPerWarp));
    module.walk([&](Operation *op) {
      for (Region &region : op->getRegions())
        for (Block &block : region)
          for (BlockArgument arg : block.getArguments())
            arg.setType(encode(arg.getType()));
      for (OpResult result : op->getResults())
        result.setType(encode(result.getType()));
      if (auto constant = dyn_cast<arith::ConstantOp>(op))
        if (auto dense = dyn_cast<DenseElementsAttr>(constant.getValue()))
          constant.setValueAttr(
              dense.reshape(cast<ShapedType>(constant.getType())));
    });
    // Function types follow their bodies.
    module.walk([&](func::FuncOp func) {
      if (func.isExternal())
        return;
      SmallVector<Type> results;
      for (Type t : func.getResultTypes())
        results.push_back(encode(t));
      func.setType(FunctionType::get(
          ctx, func.front().getArgumentTypes(), results));
    });
    if (computeCapability >= 80 || mfma)
      assignMmaLayouts(module);
  }

  /// Whether `dot` runs on mma.sync: rank 2, whole 16 x 8 accumulator
  /// tiles, and one of fp16/bf16 -> fp32 (m16n8k16), fp32 with tf32 or
  /// tf32x3 precision -> fp32 (m16n8k8), int8 -> int32 (m16n8k32).
  static bool isMmaDot(tessera::tile::DotOp dot, unsigned computeCapability) {
    auto a = cast<RankedTensorType>(dot.getA().getType());
    auto bTy = cast<RankedTensorType>(dot.getB().getType());
    auto d = cast<RankedTensorType>(dot.getD().getType());
    Type ea = a.getElementType(), ed = d.getElementType();
    auto fp8 = [](Type t) { return isa<Float8E4M3FNType, Float8E5M2Type>(t); };
    if (a.getRank() != 2 || a.getDimSize(0) % 16 || bTy.getDimSize(1) % 8)
      return false;
    int64_t k = a.getDimSize(1);
    // fp8 (e4m3/e5m2, mixed too) -> fp32 on m16n8k32, sm_89+.
    if (fp8(ea) && fp8(bTy.getElementType()))
      return computeCapability >= 89 && ed.isF32() && k % 32 == 0;
    if (ea != bTy.getElementType())
      return false;
    if ((ea.isF16() || ea.isBF16()) && ed.isF32())
      return k % 16 == 0;
    if (ea.isF32() && ed.isF32() &&
        dot.getInputPrecision() != tessera::tile::InputPrecision::IEEE)
      return k % 8 == 0;
    if (ea.isInteger(8) && ed.isInteger(32))
      return k % 32 == 0;
    return false;
  }

  /// Whether `dot` runs on AMD's MFMA (CDNA, 16 x 16 output tiles): rank
  /// 2, M and N multiples of 16, and fp16/bf16 -> fp32 with K % 16 == 0
  /// (v_mfma_f32_16x16x16f16, _16x16x16bf16_1k) or fp32 -> fp32 with
  /// K % 4 == 0 (v_mfma_f32_16x16x4f32: full fp32 products, whatever the
  /// input precision asks).
  static bool isMfmaDot(tessera::tile::DotOp dot) {
    auto a = cast<RankedTensorType>(dot.getA().getType());
    auto bTy = cast<RankedTensorType>(dot.getB().getType());
    auto d = cast<RankedTensorType>(dot.getD().getType());
    Type ea = a.getElementType();
    if (a.getRank() != 2 || a.getDimSize(0) % 16 || bTy.getDimSize(1) % 16 ||
        ea != bTy.getElementType() || !d.getElementType().isF32())
      return false;
    int64_t k = a.getDimSize(1);
    if (ea.isF16() || ea.isBF16())
      return k % 16 == 0;
    return ea.isF32() && k % 4 == 0;
  }

  /// Whether an mma dot can run on wgmma.m64nNk16 with both operands in
  /// swizzled shared memory: fp16/bf16 -> fp32, whole warpgroups along M
  /// (M a multiple of 16 per warp), N a multiple of 16 (rows of B are whole
  /// 32-byte swizzle atoms) up to 256 (one instruction wide).
  static bool isWgmmaDot(tessera::tile::DotOp dot, unsigned numWarps) {
    return bool(wgmmaWarps(dot, numWarps));
  }

  /// The wgmma warp grid of a dot: all warps along M when M has 64 rows a
  /// warpgroup; otherwise, for 16-bit operands, as many warpgroups along M
  /// as M has 64 rows and the rest side by side along N, each on a slab of
  /// the columns (FlashMLA's 64 x 512 on two warpgroups). B's slabs must
  /// start on whole 8-row groups (K-major B, a tl.trans) or whole 128-byte
  /// swizzle columns (N-major). None when the dot cannot run on wgmma.
  static std::optional<std::pair<unsigned, unsigned>> wgmmaWarps(tessera::tile::DotOp dot,
                                                                 unsigned numWarps) {
    if (!canRunOnWgmma(dot, numWarps))
      return std::nullopt;
    auto a = cast<RankedTensorType>(dot.getA().getType());
    auto bTy = cast<RankedTensorType>(dot.getB().getType());
    int64_t m = a.getDimSize(0), n = bTy.getDimSize(1);
    if (m % (16 * numWarps) == 0 && n <= 256)
      return std::make_pair(numWarps, 1u);
    Type ea = a.getElementType();
    if (!(ea.isF16() || ea.isBF16()))
      return std::nullopt;
    for (unsigned wm = numWarps - numWarps % 4; wm >= 4; wm -= 4) {
      if (numWarps % wm || m % (16 * wm))
        continue;
      unsigned wn = numWarps / wm;
      int64_t slab = n / wn;
      // K-major only when the lowering reads the transpose as a view: it
      // feeds dots only (else B is written N-major).
      auto trans = dot.getB().getDefiningOp<tessera::tile::TransOp>();
      bool kMajorB = trans && llvm::all_of(trans->getUses(), [](OpOperand &use) {
                       return isa<tessera::tile::DotOp>(use.getOwner()) &&
                              use.getOperandNumber() <= 1;
                     });
      if (wn > 1 && n % wn == 0 && slab % 16 == 0 && slab <= 256 &&
          (kMajorB || (slab * 2) % 128 == 0))
        return std::make_pair(wm, wn);
    }
    return std::nullopt;
  }

  /// The operand types, M and N of a dot wgmma can take (any warp grid).
  static bool canRunOnWgmma(tessera::tile::DotOp dot, unsigned numWarps) {
    auto a = cast<RankedTensorType>(dot.getA().getType());
    auto bTy = cast<RankedTensorType>(dot.getB().getType());
    Type ea = a.getElementType();
    auto fp8 = [](Type t) { return isa<Float8E4M3FNType, Float8E5M2Type>(t); };
    // fp8 (k32) reads both operands K-major: B must be the transpose of a
    // row-major tile (a transposed view once in shared memory), A not one.
    if (fp8(ea) && (!fp8(bTy.getElementType()) || a.getDimSize(1) % 32 ||
                    !dot.getB().getDefiningOp<tessera::tile::TransOp>() ||
                    dot.getA().getDefiningOp<tessera::tile::TransOp>()))
      return false;
    // tf32 (k8) reads both operands K-major too: fp32 -> fp32 with TF32
    // precision (not tf32x3, which splits each operand on mma.sync), B the
    // transpose of a row-major tile.
    bool tf32 = ea.isF32() && bTy.getElementType().isF32() &&
                dot.getInputPrecision() == tessera::tile::InputPrecision::TF32;
    if (tf32 && (a.getDimSize(1) % 8 || !dot.getB().getDefiningOp<tessera::tile::TransOp>() ||
                 dot.getA().getDefiningOp<tessera::tile::TransOp>()))
      return false;
    if (!(ea.isF16() || ea.isBF16() || fp8(ea) || tf32) || numWarps % 4)
      return false;
    int64_t m = a.getDimSize(0), n = bTy.getDimSize(1);
    return m % 64 == 0 && n % 16 == 0;
  }

  /// Whether `dot`'s result reaches, through elementwise ops, row
  /// reductions, broadcasts and the accumulator of a later dot, the A
  /// operand of another dot of its block (attention's scores, whose
  /// softmax is the next product's A: P), and goes nowhere else but such
  /// ops, layout conversions, stores and dots, in the loop and after it
  /// (through the loop's yield, its iteration arguments and results): the
  /// ops a layout over the first warpgroups only may run on them (the GPU
  /// lowering runs them on those warps alone; a reduction down the
  /// columns would need the other warps).
  static bool feedsDotA(tessera::tile::DotOp dot) {
    SmallVector<Value> work{dot.getD()};
    llvm::SmallPtrSet<Operation *, 32> seen;
    llvm::SmallPtrSet<void *, 16> carried;
    bool found = false;
    while (!work.empty()) {
      Value v = work.pop_back_val();
      for (OpOperand &use : v.getUses()) {
        Operation *user = use.getOwner();
        auto next = dyn_cast<tessera::tile::DotOp>(user);
        if (next && use.getOperandNumber() == 0) {
          found |= user->getBlock() == dot->getBlock();
          continue;
        }
        if (auto yield = dyn_cast<scf::YieldOp>(user)) {
          // Carried to the next iteration and out of the loop.
          auto loop = dyn_cast<scf::ForOp>(yield->getParentOp());
          if (!loop)
            return false;
          unsigned i = use.getOperandNumber();
          for (Value w : {Value(loop.getRegionIterArgs()[i]), Value(loop.getResult(i))})
            if (carried.insert(w.getAsOpaquePointer()).second)
              work.push_back(w);
          continue;
        }
        if (!seen.insert(user).second)
          continue;
        if (next) {
          if (use.getOperandNumber() != 2)
            return false;
          work.push_back(next.getD());
          continue;
        }
        if (isa<tessera::tile::StoreOp>(user)) // stored by the warps that hold it
          continue;
        auto reduce = dyn_cast<tessera::tile::ReduceOp>(user);
        if (reduce && (reduce.getAxisAttr().getInt() != 1 ||
                       cast<RankedTensorType>(reduce.getSrcs()[0].getType()).getRank() != 2))
          return false;
        bool elementwise = isa<arith::ArithDialect, math::MathDialect>(user->getDialect()) &&
                           !isa<arith::ConstantOp>(user) &&
                           llvm::all_of(user->getResultTypes(),
                                        [](Type t) { return isa<RankedTensorType>(t); });
        if (!elementwise && !reduce &&
            !isa<tessera::tile::ExpandDimsOp, tessera::tile::BroadcastOp, ConvertLayoutOp>(user))
          return false;
        llvm::append_range(work, user->getResults());
      }
    }
    return found;
  }

  /// The warp grid of a wgmma dot. A score tile whose warpgroups would
  /// each take a slab under 64 columns (MLA's 64 x 64 on two warpgroups:
  /// m64n32, each reading all of A for a quarter of the work) and whose
  /// softmax feeds a later dot is computed by the first warpgroups alone
  /// (FlashMLA's split: the layout covers warps 0 .. wm - 1, the others
  /// skip its ops and meet it at the next product, which reads P from
  /// shared memory).
  static std::pair<unsigned, unsigned> wgmmaGrid(tessera::tile::DotOp dot, unsigned numWarps) {
    auto grid = *wgmmaWarps(dot, numWarps);
    int64_t n = cast<RankedTensorType>(dot.getB().getType()).getDimSize(1);
    if (grid.second > 1 && n / grid.second < 64 && n <= 256 && feedsDotA(dot))
      return {grid.first, 1u};
    return grid;
  }

  static RankedTensorType withEncoding(Type type, Attribute encoding) {
    auto t = cast<RankedTensorType>(type);
    return RankedTensorType::get(t.getShape(), t.getElementType(), encoding);
  }

  void assignMmaLayouts(ModuleOp module) {
    MLIRContext *ctx = &getContext();
    OpBuilder b(ctx);
    module.walk([&](tessera::tile::DotOp dot) {
      if (mfma ? !isMfmaDot(dot) : !isMmaDot(dot, computeCapability))
        return;
      auto dType = cast<RankedTensorType>(dot.getD().getType());
      MmaEncodingAttr mma;
      if (mfma) {
        mma = MmaEncodingAttr::getForShape(ctx, dType.getShape(), numWarps,
                                           MmaEncodingAttr::kMfma);
      } else if (wgmma && isWgmmaDot(dot, numWarps)) {
        auto [wm, wn] = wgmmaGrid(dot, numWarps);
        mma = MmaEncodingAttr::get(ctx, 3, {wm, wn});
      } else {
        mma = MmaEncodingAttr::getForShape(ctx, dType.getShape(), numWarps);
      }
      RankedTensorType mmaType = withEncoding(dType, mma);
      b.setInsertionPoint(dot);
      Value c = ConvertLayoutOp::create(b, dot.getLoc(), mmaType, dot.getC());
      dot.getCMutable().assign(c);
      dot.getD().setType(mmaType);
      b.setInsertionPointAfter(dot);
      auto back = ConvertLayoutOp::create(b, dot.getLoc(), dType, dot.getD());
      dot.getD().replaceAllUsesExcept(back.getResult(), back);
    });
    // Remove the conversions that cancel, until none does (each rule
    // moves conversions one way; the bound only guards against a pair of
    // rules undoing each other).
    unsigned rounds = 0;
    for (bool changed = true; changed;) {
      if (++rounds > 100000) {
        module.emitError("layout conversions did not settle (internal error; please report "
                         "this kernel)");
        return signalPassFailure();
      }
      changed = false;
      SmallVector<ConvertLayoutOp> converts;
      module.walk([&](ConvertLayoutOp op) { converts.push_back(op); });
      for (ConvertLayoutOp op : converts)
        if (simplify(op, b)) {
          changed = true;
          break; // the walk's list may hold erased ops now
        }
      if (!changed) {
        SmallVector<scf::ForOp> loops;
        module.walk([&](scf::ForOp loop) { loops.push_back(loop); });
        for (scf::ForOp loop : loops)
          changed |= carryInMmaLayout(loop, b);
      }
    }
  }

  /// Whether `v` is computed from coordinates alone (ranges, splats,
  /// constants, expand_dims, broadcasts and pure elementwise arith of
  /// those, at most `budget` ops): a mask or index tensor the NVVM lowering
  /// recomputes in any layout instead of moving it.
  static bool isIndexArithmetic(Value v, int &budget) {
    if (!isa<RankedTensorType>(v.getType()))
      return true;
    Operation *def = v.getDefiningOp();
    if (!def || --budget < 0 || def->getNumResults() != 1 || def->getNumRegions())
      return false;
    Attribute value;
    if (isa<tessera::tile::MakeRangeOp, tessera::tile::SplatOp>(def) ||
        matchPattern(v, m_Constant(&value)))
      return true;
    bool elementwise = isa<arith::ArithDialect>(def->getDialect()) &&
                       OpTrait::hasElementwiseMappableTraits(def) && isPure(def);
    if (!elementwise && !isa<tessera::tile::ExpandDimsOp, tessera::tile::BroadcastOp,
                             tessera::tile::AddPtrOp>(def))
      return false;
    return llvm::all_of(def->getOperands(),
                        [&](Value operand) { return isIndexArithmetic(operand, budget); });
  }

  /// convert(convert(x)) -> convert(x) or x; convert(splat constant) -> a
  /// constant; a convert with no uses goes.
  /// An operand an elementwise op may take with it into an mma layout:
  /// a scalar, a loop's iteration argument (the loop then carries it in
  /// the mma layout), a broadcast (its small source moves) or a splat.
  static bool movesIntoMma(Value v) {
    if (!isa<RankedTensorType>(v.getType()))
      return true;
    if (auto arg = dyn_cast<BlockArgument>(v))
      return isa<scf::ForOp>(arg.getOwner()->getParentOp());
    return isa_and_nonnull<tessera::tile::BroadcastOp, tessera::tile::SplatOp>(v.getDefiningOp());
  }

  static bool simplify(ConvertLayoutOp op, OpBuilder &b) {
    if (op->use_empty()) {
      op->erase();
      return true;
    }
    Value src = op.getSrc();
    if (src.getType() == op.getType()) {
      op.replaceAllUsesWith(src);
      op->erase();
      return true;
    }
    if (auto inner = src.getDefiningOp<ConvertLayoutOp>()) {
      op.getSrcMutable().assign(inner.getSrc());
      if (inner->use_empty())
        inner->erase();
      return true;
    }
    // convert then narrow -> narrow then convert: fewer bytes move (a GEMM
    // epilogue's fp32 accumulator converted once it is fp16).
    // (Not into an mma layout: the rule below moves those conversions the
    // other way, and the two would undo each other forever.)
    if (!isa<MmaEncodingAttr>(op.getType().getEncoding()) && op->hasOneUse() &&
        isa<arith::TruncFOp, arith::TruncIOp>(*op->user_begin()) &&
        op->user_begin()->getBlock() == op->getBlock()) {
      Operation *narrow = *op->user_begin();
      auto srcType = cast<RankedTensorType>(src.getType());
      auto narrowType = cast<RankedTensorType>(narrow->getResult(0).getType());
      b.setInsertionPoint(narrow);
      Operation *early = b.clone(*narrow);
      early->setOperand(0, src);
      early->getResult(0).setType(withEncoding(
          RankedTensorType::get(narrowType.getShape(), narrowType.getElementType()),
          srcType.getEncoding()));
      Value converted = ConvertLayoutOp::create(b, op.getLoc(), narrowType, early->getResult(0));
      narrow->getResult(0).replaceAllUsesWith(converted);
      narrow->erase();
      op->erase();
      return true;
    }
    // Into an mma layout (a dot's accumulator): an elementwise op used only
    // here whose tensor operands are loop iteration arguments, broadcasts or
    // splats (flash attention's acc * alpha[:, None]) is done in the mma
    // layout instead, as is a broadcast used only here; the loop can then
    // carry the accumulator in the mma layout, and only the broadcast's
    // small source (a column) changes layout.
    if (isa<MmaEncodingAttr>(op.getType().getEncoding()) && src.hasOneUse()) {
      Operation *def = src.getDefiningOp();
      auto mmaOf = [&](Type t) {
        return withEncoding(t, op.getType().getEncoding());
      };
      if (def && def->getBlock() == op->getBlock() && def->getNumResults() == 1 &&
          def->getNumRegions() == 0 && OpTrait::hasElementwiseMappableTraits(def) &&
          isPure(def) && llvm::all_of(def->getOperands(), movesIntoMma)) {
        b.setInsertionPoint(op);
        SmallVector<Value> operands;
        for (Value v : def->getOperands())
          operands.push_back(isa<RankedTensorType>(v.getType())
                                 ? ConvertLayoutOp::create(b, op.getLoc(), mmaOf(v.getType()), v)
                                 : v);
        OperationState state(def->getLoc(), def->getName(), operands, {op.getType()},
                             def->getAttrs());
        Value moved = b.create(state)->getResult(0);
        op.replaceAllUsesWith(moved);
        op->erase();
        def->erase();
        return true;
      }
      // (A broadcast outside the loop the conversion is in, of a loop
      // invariant such as the backward's log-sum-exp, moves where it is:
      // the conversion then runs once, not every iteration.)
      if (auto bcast = dyn_cast_or_null<tessera::tile::BroadcastOp>(def);
          bcast && bcast->getParentRegion()->isAncestor(op->getParentRegion())) {
        b.setInsertionPoint(bcast);
        Value small = ConvertLayoutOp::create(b, op.getLoc(), mmaOf(bcast.getSrc().getType()),
                                              bcast.getSrc());
        Value moved = tessera::tile::BroadcastOp::create(b, bcast.getLoc(), op.getType(), small);
        op.replaceAllUsesWith(moved);
        op->erase();
        bcast->erase();
        return true;
      }
      // expand_dims of a rank-1 value (a column of row statistics, such as
      // the backward's log-sum-exp): the value moves into the slice of the
      // mma layout, which expands into it for free.
      if (auto expand = dyn_cast_or_null<tessera::tile::ExpandDimsOp>(def);
          expand && expand->getBlock() == op->getBlock() &&
          cast<RankedTensorType>(expand.getSrc().getType()).getRank() == 1 &&
          cast<RankedTensorType>(op.getType()).getRank() == 2) {
        auto slice = SliceEncodingAttr::get(op.getContext(), unsigned(expand.getAxis()),
                                            cast<MmaEncodingAttr>(op.getType().getEncoding()));
        b.setInsertionPoint(op);
        Value small = ConvertLayoutOp::create(
            b, op.getLoc(), withEncoding(expand.getSrc().getType(), slice), expand.getSrc());
        Value moved = tessera::tile::ExpandDimsOp::create(b, expand.getLoc(), op.getType(), small,
                                                          expand.getAxis());
        op.replaceAllUsesWith(moved);
        op->erase();
        expand->erase();
        return true;
      }
      if (auto splat = dyn_cast_or_null<tessera::tile::SplatOp>(def)) {
        b.setInsertionPoint(op);
        Value moved = tessera::tile::SplatOp::create(b, splat.getLoc(), op.getType(), splat.getSrc());
        op.replaceAllUsesWith(moved);
        op->erase();
        splat->erase();
        return true;
      }
    }
    // Out of an mma layout: elementwise users whose other operands are
    // cheap to bring into it (splats, constants, broadcasts, other values
    // of the same layout) run in the mma layout, the conversion after them;
    // reductions read the mma layout directly. A dot's result then stays in
    // its layout through attention's scaling, masking, row max, exponent
    // and row sum, up to the next dot's operand.
    Attribute srcEncoding = cast<RankedTensorType>(src.getType()).getEncoding();
    if (isa_and_nonnull<MmaEncodingAttr, SliceEncodingAttr>(srcEncoding) &&
        isa<BlockedEncodingAttr>(op.getType().getEncoding())) {
      // `mma` below: the source's layout (an mma layout or a slice of one).
      Attribute mma = srcEncoding;
      auto mmaOf = [&](Type t) { return withEncoding(t, mma); };
      auto cheap = [&](Value v) {
        if (!isa<RankedTensorType>(v.getType()))
          return true;
        if (auto c = v.getDefiningOp<ConvertLayoutOp>())
          return c.getSrc().getType().getEncoding() == mma;
        // Row statistics carried by a loop (flash attention's running max
        // and sum): the loop then carries them in the slice layout.
        if (auto arg = dyn_cast<BlockArgument>(v))
          return isa<SliceEncodingAttr>(mma) && isa<scf::ForOp>(arg.getOwner()->getParentOp());
        // Broadcasts (of a small source, which moves instead) and splats.
        if (isa_and_nonnull<tessera::tile::BroadcastOp, tessera::tile::SplatOp>(v.getDefiningOp()))
          return true;
        // An elementwise op read only here, of a loop's iteration arguments,
        // broadcasts and splats (a running sum carried element-wise, l *
        // alpha[:, None] + p): the rule into the mma layout above moves it
        // there, and the loop then carries the sum in the mma layout.
        // (Only in the conversion's block, that rule's, and of iteration
        // arguments read nowhere else, which the loop can then carry.)
        if (Operation *def = v.getDefiningOp();
            def && isa<MmaEncodingAttr>(mma) && v.hasOneUse() && def->getNumResults() == 1 &&
            def->getBlock() == op->getBlock() && def->getNumRegions() == 0 &&
            OpTrait::hasElementwiseMappableTraits(def) && isPure(def) &&
            llvm::all_of(def->getOperands(), [](Value w) {
              return movesIntoMma(w) && (!isa<BlockArgument>(w) || w.hasOneUse());
            }))
          return true;
        int budget = 32;
        return isIndexArithmetic(v, budget);
      };
      // A wgmma dot writes its register operands to shared memory from any
      // layout: it takes the mma-layout value as it is.
      if (isa<MmaEncodingAttr>(mma) && llvm::all_of(op->getUses(), [](OpOperand &use) {
            auto dot = dyn_cast<tessera::tile::DotOp>(use.getOwner());
            if (!dot || use.getOperandNumber() == 2)
              return false;
            auto d = dyn_cast_or_null<MmaEncodingAttr>(
                cast<RankedTensorType>(dot.getD().getType()).getEncoding());
            return d && d.getVersionMajor() == 3;
          })) {
        op.replaceAllUsesWith(src);
        op->erase();
        return true;
      }
      for (OpOperand &use : op->getUses()) {
        Operation *user = use.getOwner();
        // An atomic add of the mma tile (a backward's dq, added up across
        // programs) whose addresses and mask are index arithmetic: done in
        // the mma layout, the addresses recomputed there (no tile through
        // shared memory); its old values, if read, converted after.
        if (auto rmw = dyn_cast<tessera::tile::AtomicRMWOp>(user);
            rmw && use.getOperandNumber() == 1 && isa<MmaEncodingAttr>(mma) &&
            rmw->getBlock() == op->getBlock()) {
          int budget = 64;
          if (!isIndexArithmetic(rmw.getPtr(), budget) ||
              (rmw.getMask() && !isIndexArithmetic(rmw.getMask(), budget)))
            continue;
          b.setInsertionPoint(rmw);
          rmw->setOperand(0, ConvertLayoutOp::create(b, rmw.getLoc(),
                                                     mmaOf(rmw.getPtr().getType()), rmw.getPtr()));
          use.set(src);
          if (Value m = rmw.getMask())
            rmw.getMaskMutable().assign(
                ConvertLayoutOp::create(b, rmw.getLoc(), mmaOf(m.getType()), m));
          Value old = rmw.getResult();
          Type outer = old.getType();
          old.setType(mmaOf(outer));
          if (!old.use_empty()) {
            b.setInsertionPointAfter(rmw);
            auto back = ConvertLayoutOp::create(b, rmw.getLoc(), outer, old);
            old.replaceAllUsesExcept(back.getResult(), back);
          }
          if (op->use_empty())
            op->erase();
          return true;
        }
        // tl.trans of an mma tile read only by wgmma dots (the backward's
        // P^T and dS^T): the dots write the source to shared memory in the
        // transposed order themselves, from any layout.
        if (auto trans = dyn_cast<tessera::tile::TransOp>(user);
            trans && isa<MmaEncodingAttr>(mma) &&
            cast<RankedTensorType>(src.getType()).getRank() == 2 &&
            llvm::all_of(trans.getResult().getUses(), [](OpOperand &use) {
              auto dot = dyn_cast<tessera::tile::DotOp>(use.getOwner());
              if (!dot || use.getOperandNumber() > 1)
                return false;
              auto d = dyn_cast_or_null<MmaEncodingAttr>(
                  cast<RankedTensorType>(dot.getD().getType()).getEncoding());
              Type elem = cast<RankedTensorType>(use.get().getType()).getElementType();
              // As A (M-major) only 16-bit types; fp8/tf32 read A K-major.
              return d && d.getVersionMajor() == 3 &&
                     (use.getOperandNumber() == 1 || elem.isF16() || elem.isBF16());
            })) {
          b.setInsertionPoint(trans);
          Type resultType = trans.getResult().getType();
          auto moved = tessera::tile::TransOp::create(b, trans.getLoc(), mmaOf(resultType), src,
                                                      trans.getOrderAttr());
          trans.getResult().replaceAllUsesWith(moved.getResult());
          trans->erase();
          if (op->use_empty())
            op->erase();
          return true;
        }
        // expand_dims of a slice along its dimension: the parent layout.
        if (auto expand = dyn_cast<tessera::tile::ExpandDimsOp>(user)) {
          auto slice = dyn_cast<SliceEncodingAttr>(mma);
          if (!slice || expand.getAxis() != slice.getDim())
            continue;
          b.setInsertionPoint(expand);
          Type resultType = expand.getResult().getType();
          Value moved = tessera::tile::ExpandDimsOp::create(
              b, expand.getLoc(), withEncoding(resultType, slice.getParent()), src,
              expand.getAxis());
          Value back = ConvertLayoutOp::create(b, expand.getLoc(), resultType, moved);
          expand.getResult().replaceAllUsesWith(back);
          expand->erase();
          if (op->use_empty())
            op->erase();
          return true;
        }
        if (auto reduce = dyn_cast<tessera::tile::ReduceOp>(user)) {
          auto parent = dyn_cast<MmaEncodingAttr>(mma);
          if (!parent)
            continue;
          // Whole tiles of the layout only (no element held twice).
          ArrayRef<int64_t> shape = cast<RankedTensorType>(src.getType()).getShape();
          SmallVector<int64_t> tile = parent.getShapePerCTA();
          if (shape[0] % tile[0] || shape[1] % tile[1])
            continue;
          if (!llvm::all_of(reduce.getSrcs(), [&](Value v) {
                auto c = v.getDefiningOp<ConvertLayoutOp>();
                return c && c.getSrc().getType().getEncoding() == mma;
              }))
            continue;
          for (OpOperand &operand : reduce->getOpOperands())
            operand.set(operand.get().getDefiningOp<ConvertLayoutOp>().getSrc());
          // A rank-2 reduction leaves its rank-1 result in the slice of
          // the mma layout (no data movement); a conversion follows.
          if (shape.size() == 2) {
            auto slice = SliceEncodingAttr::get(
                op.getContext(), unsigned(reduce.getAxisAttr().getInt()), parent);
            b.setInsertionPointAfter(reduce);
            for (OpResult result : reduce->getResults()) {
              Type outer = result.getType();
              result.setType(withEncoding(outer, slice));
              auto back = ConvertLayoutOp::create(b, reduce.getLoc(), outer, result);
              result.replaceAllUsesExcept(back.getResult(), back);
            }
          }
          if (op->use_empty())
            op->erase();
          return true;
        }
        if (user->getBlock() != op->getBlock() || user->getNumResults() != 1 ||
            user->getNumRegions() || !OpTrait::hasElementwiseMappableTraits(user) ||
            !isPure(user) || !llvm::all_of(user->getOperands(), cheap))
          continue;
        b.setInsertionPoint(user);
        SmallVector<Value> operands;
        for (Value v : user->getOperands()) {
          if (!isa<RankedTensorType>(v.getType())) {
            operands.push_back(v);
          } else if (auto c = v.getDefiningOp<ConvertLayoutOp>();
                     c && c.getSrc().getType().getEncoding() == mma) {
            operands.push_back(c.getSrc());
          } else {
            operands.push_back(ConvertLayoutOp::create(b, user->getLoc(), mmaOf(v.getType()), v));
          }
        }
        Type resultType = user->getResult(0).getType();
        OperationState state(user->getLoc(), user->getName(), operands, {mmaOf(resultType)},
                             user->getAttrs());
        Value moved = b.create(state)->getResult(0);
        Value back = ConvertLayoutOp::create(b, user->getLoc(), resultType, moved);
        user->getResult(0).replaceAllUsesWith(back);
        user->erase();
        if (op->use_empty())
          op->erase();
        return true;
      }
    }
    // Into a slice layout: a load read only here whose pointers, mask and
    // fill value are index arithmetic (recomputed in any layout) is done in
    // the slice layout: each thread loads the rows it needs.
    if (isa<SliceEncodingAttr>(op.getType().getEncoding()) && src.hasOneUse())
      if (auto load = src.getDefiningOp<tessera::tile::LoadOp>();
          load && load->getBlock() == op->getBlock() && !load.getIsVolatile() &&
          llvm::all_of(load->getOperands(), [](Value v) {
            int budget = 32;
            return isIndexArithmetic(v, budget);
          })) {
        b.setInsertionPoint(load);
        SmallVector<Value> operands;
        for (Value v : load->getOperands())
          operands.push_back(ConvertLayoutOp::create(
              b, load.getLoc(), withEncoding(v.getType(), op.getType().getEncoding()), v));
        OperationState state(load.getLoc(), load->getName(), operands, {op.getType()},
                             load->getAttrs());
        Value moved = b.create(state)->getResult(0);
        op.replaceAllUsesWith(moved);
        op->erase();
        load->erase();
        return true;
      }
    DenseElementsAttr dense;
    if (matchPattern(src, m_Constant(&dense)) && dense.isSplat()) {
      b.setInsertionPoint(op);
      auto type = cast<RankedTensorType>(op.getType());
      Value c = arith::ConstantOp::create(
          b, op.getLoc(), type, DenseElementsAttr::get(type, dense.getSplatValue<Attribute>()));
      op.replaceAllUsesWith(c);
      op->erase();
      return true;
    }
    return false;
  }

  /// Carries an accumulator in the loop in its mma layout: an iteration
  /// argument used only through converts to one layout L and yielded from
  /// a convert out of L becomes an L argument, converted before and after
  /// the loop instead of in every iteration. Other uses (a dot's result
  /// carried to the next iteration's softmax, as in attention whose next
  /// scores are computed before this block's softmax) read a conversion at
  /// the top of the loop, which the rules above then take apart: the
  /// softmax runs in the mma layout, with no conversion at all.
  static bool carryInMmaLayout(scf::ForOp loop, OpBuilder &b) {
    bool changed = false;
    auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
    for (unsigned i = 0; i < loop.getNumRegionIterArgs(); ++i) {
      BlockArgument arg = loop.getRegionIterArgs()[i];
      auto yielded = yield.getOperand(i).getDefiningOp<ConvertLayoutOp>();
      if (!yielded || !isa_and_nonnull<MmaEncodingAttr, SliceEncodingAttr>(
                          yielded.getSrc().getType().getEncoding()))
        continue;
      Type inner = yielded.getSrc().getType();
      // Uses: converts into that layout, or operands of wgmma dots (which
      // take A from the mma layout in registers, anything else as it is):
      // flash attention's P, carried to the next step's P V dot.
      auto wgmmaOperand = [&](OpOperand &use) {
        auto dot = dyn_cast<tessera::tile::DotOp>(use.getOwner());
        if (!dot || use.getOperandNumber() > 1)
          return false;
        auto d = dyn_cast_or_null<MmaEncodingAttr>(
            cast<RankedTensorType>(dot.getD().getType()).getEncoding());
        return d && d.getVersionMajor() == 3;
      };
      auto intoInner = [&](OpOperand &use) {
        auto c = dyn_cast<ConvertLayoutOp>(use.getOwner());
        return c && c.getType() == inner;
      };
      // Other uses: only of a dot's result, in an mma layout.
      bool others = !llvm::all_of(arg.getUses(), [&](OpOperand &use) {
        return intoInner(use) || wgmmaOperand(use);
      });
      if (arg.use_empty() ||
          (others && (!yielded.getSrc().getDefiningOp<tessera::tile::DotOp>() ||
                      !isa<MmaEncodingAttr>(yielded.getSrc().getType().getEncoding()))))
        continue;
      Type outer = arg.getType();
      Value top;
      if (others) {
        b.setInsertionPointToStart(loop.getBody());
        top = ConvertLayoutOp::create(b, loop.getLoc(), outer, arg);
      }
      for (OpOperand &use : llvm::make_early_inc_range(arg.getUses())) {
        if (use.getOwner() == top.getDefiningOp())
          continue;
        if (intoInner(use)) {
          Operation *user = use.getOwner();
          user->getResult(0).replaceAllUsesWith(arg);
          user->erase();
        } else if (others && !wgmmaOperand(use)) {
          use.set(top);
        }
      }
      arg.setType(inner);
      yield->setOperand(i, yielded.getSrc());
      if (yielded->use_empty())
        yielded->erase();
      b.setInsertionPoint(loop);
      Value init = ConvertLayoutOp::create(b, loop.getLoc(), inner, loop.getInitArgs()[i]);
      loop.getInitArgsMutable()[i].assign(init);
      OpResult result = loop->getResult(i);
      result.setType(inner);
      b.setInsertionPointAfter(loop);
      auto out = ConvertLayoutOp::create(b, loop.getLoc(), outer, result);
      result.replaceAllUsesExcept(out.getResult(), out);
      changed = true;
    }
    return changed;
  }
};

} // namespace
