//===- WidenOffsets.cpp - The tile-widen-offsets pass ---------------------===//
//
// Pointer offsets of arrays with 2^31 elements or more, in 64 bits. Kernels
// index with 32-bit integers (ranges, program ids, i32 arguments), and an
// offset such as `row * stride` past 2^31 wraps: a wrong address, read or
// written without a word (Triton's known failure on large tensors). The
// launcher marks such pointer arguments `tile.large` (they are specialized:
// another compile), and this pass recomputes every offset added to a
// pointer derived from one in 64 bits: additions, subtractions and
// multiplications are rebuilt on 64-bit operands, other values (ranges,
// divisions, loads, arguments) are sign-extended where the arithmetic
// meets them.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/SetVector.h"

namespace tessera {
#define GEN_PASS_DEF_TILEWIDENOFFSETS
#include "passes/Passes.h.inc"
} // namespace tessera

using namespace mlir;
namespace tile = tessera::tile;

namespace {

struct WidenOffsetsPass : tessera::impl::TileWidenOffsetsBase<WidenOffsetsPass> {
  void runOnOperation() override {
    getOperation()->walk([&](func::FuncOp func) {
      if (!func.isExternal())
        runOnFunction(func);
    });
  }

  void runOnFunction(func::FuncOp func) {
    // Values derived from a large pointer argument (pointers, tensors of
    // them, loop-carried ones).
    llvm::SetVector<Value> derived;
    for (BlockArgument arg : func.getArguments())
      if (func.getArgAttr(arg.getArgNumber(), "tile.large"))
        derived.insert(arg);
    if (derived.empty())
      return;
    SmallVector<tile::AddPtrOp> addptrs;
    for (size_t i = 0; i < derived.size(); ++i) {
      Value v = derived[i];
      for (OpOperand &use : v.getUses()) {
        Operation *user = use.getOwner();
        if (auto addptr = dyn_cast<tile::AddPtrOp>(user)) {
          if (use.getOperandNumber() == 0) {
            addptrs.push_back(addptr);
            derived.insert(addptr.getResult());
          }
          continue;
        }
        if (auto loop = dyn_cast<scf::ForOp>(user)) {
          for (auto [k, init] : llvm::enumerate(loop.getInitArgs()))
            if (init == v) {
              derived.insert(loop.getRegionIterArgs()[k]);
              derived.insert(loop.getResult(k));
            }
          continue;
        }
        if (auto yield = dyn_cast<scf::YieldOp>(user)) {
          Operation *parent = yield->getParentOp();
          derived.insert(parent->getResult(use.getOperandNumber()));
          if (auto loop = dyn_cast<scf::ForOp>(parent))
            derived.insert(loop.getRegionIterArgs()[use.getOperandNumber()]);
          continue;
        }
        // Shape changes and selections of pointers.
        if (isa<tile::SplatOp, tile::BroadcastOp, tile::ExpandDimsOp, tile::ReshapeOp,
                tile::TransOp, arith::SelectOp>(user))
          for (Value r : user->getResults())
            if (isa<tile::PointerType>(getElementTypeOrSelf(r.getType())))
              derived.insert(r);
      }
    }
    for (tile::AddPtrOp addptr : addptrs) {
      Value offset = addptr.getOffset();
      if (getElementTypeOrSelf(offset.getType()).isInteger(64))
        continue;
      addptr.getOffsetMutable().assign(widen(offset));
    }
  }

  static Type wide(Type t) {
    auto i64 = IntegerType::get(t.getContext(), 64);
    if (auto tensor = dyn_cast<RankedTensorType>(t))
      return RankedTensorType::get(tensor.getShape(), i64, tensor.getEncoding());
    return i64;
  }

  /// `v` (an integer scalar or tensor) computed in 64 bits.
  Value widen(Value v) {
    if (getElementTypeOrSelf(v.getType()).isInteger(64))
      return v;
    if (Value done = widened.lookup(v))
      return done;
    Operation *def = v.getDefiningOp();
    OpBuilder b(v.getContext());
    if (def)
      b.setInsertionPointAfter(def);
    else
      b.setInsertionPointToStart(cast<BlockArgument>(v).getOwner());
    Location loc = v.getLoc();
    Value out;
    APInt value;
    DenseIntElementsAttr dense;
    if (def && isa<arith::AddIOp, arith::SubIOp, arith::MulIOp>(def)) {
      // Rebuilt on 64-bit operands: these are the ops that overflow.
      Value lhs = widen(def->getOperand(0)), rhs = widen(def->getOperand(1));
      b.setInsertionPointAfter(def);
      OperationState state(loc, def->getName(), ValueRange{lhs, rhs}, {wide(v.getType())});
      out = b.create(state)->getResult(0);
    } else if (matchPattern(v, m_ConstantInt(&value))) {
      out = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(value.getSExtValue()));
    } else if (matchPattern(v, m_Constant(&dense)) && dense.isSplat()) {
      auto type = cast<ShapedType>(wide(v.getType()));
      out = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(type, b.getI64IntegerAttr(
                                                   dense.getSplatValue<APInt>().getSExtValue())));
    } else if (auto splat = dyn_cast_or_null<tile::SplatOp>(def)) {
      Value src = widen(splat.getSrc());
      b.setInsertionPointAfter(def);
      out = tile::SplatOp::create(b, loc, wide(v.getType()), src);
    } else if (auto bcast = dyn_cast_or_null<tile::BroadcastOp>(def)) {
      Value src = widen(bcast.getSrc());
      b.setInsertionPointAfter(def);
      out = tile::BroadcastOp::create(b, loc, wide(v.getType()), src);
    } else if (auto expand = dyn_cast_or_null<tile::ExpandDimsOp>(def)) {
      Value src = widen(expand.getSrc());
      b.setInsertionPointAfter(def);
      out = tile::ExpandDimsOp::create(b, loc, wide(v.getType()), src, expand.getAxis());
    } else {
      // Ranges, divisions, remainders, loads, arguments: they fit in 32
      // bits; sign-extended where they meet the wide arithmetic.
      out = arith::ExtSIOp::create(b, loc, wide(v.getType()), v);
    }
    widened[v] = out;
    return out;
  }

  DenseMap<Value, Value> widened;
};

} // namespace
