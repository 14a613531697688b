//===- ConvertTileToCPU.cpp - The convert-tile-to-cpu pass ----------------===//
//
// Lowers tile IR to builtin tensors for the CPU backend: pointers become i64
// addresses, memory accesses go through llvm.inttoptr + llvm.load/store,
// shape ops become tensor reshapes and tensor.generate, dot becomes
// linalg.matmul, reductions linalg.generic, scans scf.for loops. One-shot
// bufferization then turns the tensors into buffers and loops.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Dialect/LLVMIR/FunctionCallUtils.h"
#include "mlir/Dialect/SCF/Transforms/Patterns.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/DialectConversion.h"

namespace tessera {
#define GEN_PASS_DEF_CONVERTTILETOCPU
#include "passes/Passes.h.inc"
} // namespace tessera

using namespace mlir;
namespace tile = tessera::tile;

namespace {

/// Number of trailing i32 arguments a kernel gains: program id x, y, z and
/// grid size x, y, z.
constexpr unsigned kNumGridArgs = 6;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Bytes one element of `type` occupies in memory (i1 is stored as a byte).
int64_t byteSize(Type type) {
  if (isa<tile::PointerType>(type))
    return 8;
  return std::max<int64_t>(1, type.getIntOrFloatBitWidth() / 8);
}

/// The memory type for loads and stores of `type`: i1 lives in a byte.
Type memoryType(Type type) {
  if (type.isInteger(1))
    return IntegerType::get(type.getContext(), 8);
  return type;
}

Value toPointer(OpBuilder &b, Location loc, Value address) {
  return LLVM::IntToPtrOp::create(b, loc,
                                  LLVM::LLVMPointerType::get(b.getContext()),
                                  address);
}

/// Loads a scalar of `type` from integer address `address`.
Value loadScalar(OpBuilder &b, Location loc, Type type, Value address,
                 bool isVolatile) {
  Value ptr = toPointer(b, loc, address);
  Type memTy = memoryType(type);
  Value v = LLVM::LoadOp::create(b, loc, memTy, ptr, /*alignment=*/0,
                                 isVolatile);
  if (memTy != type)
    v = arith::TruncIOp::create(b, loc, type, v);
  return v;
}

void storeScalar(OpBuilder &b, Location loc, Value value, Value address) {
  Value ptr = toPointer(b, loc, address);
  Type memTy = memoryType(value.getType());
  if (memTy != value.getType())
    value = arith::ExtUIOp::create(b, loc, memTy, value);
  LLVM::StoreOp::create(b, loc, value, ptr);
}

/// A zero of a scalar int or float type.
Value zeroOf(OpBuilder &b, Location loc, Type type) {
  return arith::ConstantOp::create(b, loc, b.getZeroAttr(type));
}

SmallVector<Value> extractAll(OpBuilder &b, Location loc, ValueRange tensors,
                              ValueRange indices) {
  SmallVector<Value> out;
  for (Value t : tensors)
    out.push_back(tensor::ExtractOp::create(b, loc, t, indices));
  return out;
}

/// `tensor.generate` of `type` whose element at `indices` is `body(indices)`.
Value generate(OpBuilder &b, Location loc, RankedTensorType type,
               function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  return tensor::GenerateOp::create(
      b, loc, type, ValueRange{},
      [&](OpBuilder &nb, Location nloc, ValueRange indices) {
        tensor::YieldOp::create(nb, nloc, body(nb, nloc, indices));
      });
}

/// Index constants 0..n for loop bounds.
Value indexConst(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

/// Runs `body(indices)` for every index of `shape` in nested scf.for loops,
/// threading `iterArgs` through; returns the final iter values.
SmallVector<Value> forEachIndex(
    OpBuilder &b, Location loc, ArrayRef<int64_t> shape, ValueRange iterArgs,
    function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange,
                                    ValueRange)>
        body) {
  SmallVector<Value> lbs, ubs, steps;
  for (int64_t dim : shape) {
    lbs.push_back(indexConst(b, loc, 0));
    ubs.push_back(indexConst(b, loc, dim));
    steps.push_back(indexConst(b, loc, 1));
  }
  scf::LoopNest nest = scf::buildLoopNest(
      b, loc, lbs, ubs, steps, iterArgs,
      [&](OpBuilder &nb, Location nloc, ValueRange ivs, ValueRange iters) {
        return scf::ValueVector(body(nb, nloc, ivs, iters));
      });
  return SmallVector<Value>(nest.results.begin(), nest.results.end());
}

/// Applies a scalar function elementwise to scalars or same-shape tensors.
Value elementwise(OpBuilder &b, Location loc, Type resultType,
                  ValueRange operands,
                  function_ref<Value(OpBuilder &, Location, ValueRange)> fn) {
  auto tensorType = dyn_cast<RankedTensorType>(resultType);
  if (!tensorType)
    return fn(b, loc, operands);
  return generate(b, loc, tensorType,
                  [&](OpBuilder &nb, Location nloc, ValueRange idx) {
                    return fn(nb, nloc, extractAll(nb, nloc, operands, idx));
                  });
}

/// The enclosing kernel's grid argument `index` (0-2 program id, 3-5 grid
/// size), or an error if the op is not in a kernel.
FailureOr<Value> gridArgument(Operation *op, unsigned index) {
  auto func = op->getParentOfType<func::FuncOp>();
  if (!func || func.isPrivate() || func.getNumArguments() < kNumGridArgs)
    return op->emitOpError()
           << "must be inside a kernel (a public function); calls of other "
              "kernels are inlined first";
  return func.getArgument(func.getNumArguments() - kNumGridArgs + index);
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

template <typename OpTy>
struct TileConversion : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  using Adaptor = typename OpConversionPattern<OpTy>::OpAdaptor;

  RankedTensorType convertedTensor(Type type) const {
    return cast<RankedTensorType>(this->getTypeConverter()->convertType(type));
  }
  Type converted(Type type) const {
    return this->getTypeConverter()->convertType(type);
  }
};

template <typename OpTy, unsigned Offset>
struct GridQueryConversion : TileConversion<OpTy> {
  using TileConversion<OpTy>::TileConversion;
  LogicalResult
  matchAndRewrite(OpTy op, typename TileConversion<OpTy>::Adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    FailureOr<Value> arg =
        gridArgument(op, Offset + static_cast<unsigned>(op.getAxis()));
    if (failed(arg))
      return failure();
    rewriter.replaceOp(op, *arg);
    return success();
  }
};

/// The program ids (x, y, z) of the kernel `op` is in.
FailureOr<SmallVector<Value>> programIds(Operation *op) {
  SmallVector<Value> pids;
  for (unsigned axis = 0; axis < 3; ++axis) {
    FailureOr<Value> pid = gridArgument(op, axis);
    if (failed(pid))
      return failure();
    pids.push_back(*pid);
  }
  return pids;
}

/// The address of a new internal global holding `text` (NUL-terminated),
/// named `prefix` and the first free number.
Value globalString(OpBuilder &b, Location loc, ModuleOp module, StringRef prefix,
                   const std::string &text) {
  std::string name;
  unsigned n = 0;
  do
    name = (prefix + std::to_string(n++)).str();
  while (module.lookupSymbol(name));
  return LLVM::createGlobalString(loc, b, name, text + '\0', LLVM::Linkage::Internal);
}

/// Loops over every element of `shape`, row-major: leaves `b` inside the
/// innermost and returns the induction variables.
SmallVector<Value> elementLoops(OpBuilder &b, Location loc, ArrayRef<int64_t> shape) {
  SmallVector<Value> ivs;
  for (int64_t dim : shape) {
    Value lb = arith::ConstantIndexOp::create(b, loc, 0);
    Value ub = arith::ConstantIndexOp::create(b, loc, dim);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    auto loop = scf::ForOp::create(b, loc, lb, ub, one);
    b.setInsertionPointToStart(loop.getBody());
    ivs.push_back(loop.getInductionVar());
  }
  return ivs;
}

/// tl.device_print: a line per element, as Triton prints them, "pid (x,
/// y, z) idx (i, j) <prefix><value>" (scalars: no idx; with several
/// operands, "(operand k)" after the prefix), through the C library's
/// printf, flushed after each print.
struct PrintConversion : TileConversion<tile::PrintOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::PrintOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    auto module = op->getParentOfType<ModuleOp>();
    Type ptrTy = LLVM::LLVMPointerType::get(ctx), i32 = rewriter.getI32Type();
    FailureOr<LLVM::LLVMFuncOp> printfFn =
        LLVM::lookupOrCreateFn(rewriter, module, "printf", {ptrTy}, i32, /*isVarArg=*/true);
    FailureOr<LLVM::LLVMFuncOp> flushFn =
        LLVM::lookupOrCreateFn(rewriter, module, "fflush", {ptrTy}, i32);
    if (failed(printfFn) || failed(flushFn))
      return op.emitOpError("cannot declare printf and fflush");
    FailureOr<SmallVector<Value>> pids = programIds(op);
    if (failed(pids))
      return failure();
    // Percent signs of the prefix print as themselves.
    std::string prefix;
    for (char c : op.getPrefix())
      prefix += c == '%' ? std::string("%%") : std::string(1, c);
    auto emit = [&](OpBuilder &b, Location l, const std::string &format,
                    ArrayRef<Value> values) {
      Value fmt = globalString(b, l, module, "tessera_print_", format);
      SmallVector<Value> args{fmt};
      args.append(pids->begin(), pids->end());
      args.append(values.begin(), values.end());
      LLVM::CallOp::create(b, l, *printfFn, args);
    };
    auto args = adaptor.getArgs();
    if (args.empty())
      emit(rewriter, loc, "pid (%d, %d, %d) " + prefix + "\n", {});
    for (auto [k, value] : llvm::enumerate(args)) {
      Type elem = getElementTypeOrSelf(op.getArgs()[k].getType());
      bool pointer = isa<tile::PointerType>(elem);
      std::string spec;
      auto printable = [&](OpBuilder &b, Location l, Value v) -> Value {
        Type t = v.getType();
        if (isa<FloatType>(t)) {
          spec = "%f";
          return t.isF64() ? v : arith::ExtFOp::create(b, l, b.getF64Type(), v).getResult();
        }
        unsigned width = t.getIntOrFloatBitWidth();
        bool wide = width > 32;
        if (pointer || op.getHex()) {
          spec = wide ? "0x%llx" : "0x%x";
          if (width < 32)
            v = arith::ExtUIOp::create(b, l, b.getI32Type(), v);
          return v;
        }
        spec = wide ? "%lld" : "%d";
        if (width < 32)
          v = width == 1 ? arith::ExtUIOp::create(b, l, b.getI32Type(), v).getResult()
                         : arith::ExtSIOp::create(b, l, b.getI32Type(), v).getResult();
        return v;
      };
      std::string label = prefix + (args.size() > 1 ? "(operand " + std::to_string(k) + ") " : "");
      auto tensorType = dyn_cast<RankedTensorType>(value.getType());
      if (!tensorType) {
        Value v = printable(rewriter, loc, value);
        emit(rewriter, loc, "pid (%d, %d, %d) " + label + spec + "\n", {v});
        continue;
      }
      OpBuilder::InsertionGuard guard(rewriter);
      SmallVector<Value> ivs = elementLoops(rewriter, loc, tensorType.getShape());
      Value elemValue = tensor::ExtractOp::create(rewriter, loc, value, ivs);
      SmallVector<Value> printed;
      std::string idx = "idx (";
      for (auto [d, iv] : llvm::enumerate(ivs)) {
        printed.push_back(arith::IndexCastOp::create(rewriter, loc, i32, iv));
        idx += (d ? ", %d" : "%d");
      }
      idx += ") ";
      printed.push_back(printable(rewriter, loc, elemValue));
      emit(rewriter, loc, "pid (%d, %d, %d) " + idx + label + spec + "\n", printed);
    }
    Value null = LLVM::ZeroOp::create(rewriter, loc, ptrTy);
    LLVM::CallOp::create(rewriter, loc, *flushFn, ValueRange{null});
    rewriter.eraseOp(op);
    return success();
  }
};

/// tl.device_assert: each element of the condition that is false calls the
/// runtime's tessera_cpu_assert_fail (lib/CPUKernel.cpp) with the message
/// (prefixed by the Python file and line), the program ids and the
/// element's index; the runtime stops the program there and the launch
/// raises.
struct AssertConversion : TileConversion<tile::AssertOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::AssertOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    auto module = op->getParentOfType<ModuleOp>();
    Type ptrTy = LLVM::LLVMPointerType::get(ctx), i32 = rewriter.getI32Type();
    SmallVector<Type> params{ptrTy};
    params.append(8, i32);
    FailureOr<LLVM::LLVMFuncOp> fail = LLVM::lookupOrCreateFn(
        rewriter, module, "tessera_cpu_assert_fail", params, LLVM::LLVMVoidType::get(ctx));
    if (failed(fail))
      return op.emitOpError("cannot declare the runtime's assertion hook");
    FailureOr<SmallVector<Value>> pids = programIds(op);
    if (failed(pids))
      return failure();
    std::string text = op.getMessage().str();
    if (auto file = dyn_cast<FileLineColLoc>(loc))
      text = file.getFilename().str() + ":" + std::to_string(file.getLine()) + ": " + text;
    Value cond = adaptor.getCondition();
    auto type = dyn_cast<RankedTensorType>(cond.getType());
    SmallVector<Value> ivs;
    OpBuilder::InsertionGuard guard(rewriter);
    Value element = cond;
    if (type) {
      if (type.getRank() > 4)
        return op.emitOpError("of a tensor of rank over 4 is not supported");
      ivs = elementLoops(rewriter, loc, type.getShape());
      element = tensor::ExtractOp::create(rewriter, loc, cond, ivs);
    }
    Value isFalse = arith::XOrIOp::create(
        rewriter, loc, element, arith::ConstantIntOp::create(rewriter, loc, 1, 1));
    auto branch = scf::IfOp::create(rewriter, loc, isFalse, /*withElseRegion=*/false);
    rewriter.setInsertionPointToStart(&branch.getThenRegion().front());
    SmallVector<Value> args{globalString(rewriter, loc, module, "tessera_assert_", text)};
    args.append(pids->begin(), pids->end());
    args.push_back(arith::ConstantIntOp::create(rewriter, loc, int64_t(ivs.size()), 32));
    for (unsigned d = 0; d < 4; ++d)
      args.push_back(d < ivs.size()
                         ? arith::IndexCastOp::create(rewriter, loc, i32, ivs[d]).getResult()
                         : arith::ConstantIntOp::create(rewriter, loc, 0, 32).getResult());
    LLVM::CallOp::create(rewriter, loc, *fail, args);
    rewriter.eraseOp(op);
    return success();
  }
};

struct MakeRangeConversion : TileConversion<tile::MakeRangeOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::MakeRangeOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    int64_t start = op.getStartAttr().getInt();
    rewriter.replaceOp(
        op, generate(rewriter, loc, cast<RankedTensorType>(op.getType()),
                     [&](OpBuilder &b, Location l, ValueRange idx) -> Value {
                       Value i = arith::IndexCastOp::create(
                           b, l, b.getI32Type(), idx[0]);
                       Value s = arith::ConstantIntOp::create(b, l, start, 32);
                       return arith::AddIOp::create(b, l, i, s);
                     }));
    return success();
  }
};

struct SplatConversion : TileConversion<tile::SplatOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::SplatOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedTensor(op.getType());
    Value empty = tensor::EmptyOp::create(rewriter, op.getLoc(),
                                          type.getShape(),
                                          type.getElementType());
    rewriter.replaceOp(op, linalg::FillOp::create(rewriter, op.getLoc(),
                                                  ValueRange{adaptor.getSrc()},
                                                  ValueRange{empty})
                               .getResult(0));
    return success();
  }
};

struct BroadcastConversion : TileConversion<tile::BroadcastOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::BroadcastOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedTensor(op.getType());
    ArrayRef<int64_t> srcShape = op.getSrc().getType().getShape();
    Value src = adaptor.getSrc();
    rewriter.replaceOp(
        op, generate(rewriter, op.getLoc(), type,
                     [&](OpBuilder &b, Location l, ValueRange idx) -> Value {
                       SmallVector<Value> srcIdx;
                       for (auto [i, dim] : llvm::enumerate(srcShape))
                         srcIdx.push_back(dim == 1 ? indexConst(b, l, 0)
                                                   : idx[i]);
                       return tensor::ExtractOp::create(b, l, src, srcIdx);
                     }));
    return success();
  }
};

struct ExpandDimsConversion : TileConversion<tile::ExpandDimsOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::ExpandDimsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    int64_t rank = op.getSrc().getType().getRank();
    int64_t axis = op.getAxisAttr().getInt();
    // Source dim i maps to result dim i (i < axis) or i + 1 (i >= axis); the
    // new unit dim joins the group of its right neighbour, or of the last
    // dim when it is appended.
    SmallVector<ReassociationIndices> groups;
    for (int64_t i = 0; i < rank; ++i) {
      ReassociationIndices group;
      if (i == axis)
        group.push_back(axis);
      group.push_back(i < axis ? i : i + 1);
      if (axis == rank && i == rank - 1)
        group.push_back(rank);
      groups.push_back(group);
    }
    rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(
        op, convertedTensor(op.getType()), adaptor.getSrc(), groups);
    return success();
  }
};

/// Row-major reshape: collapse to 1-D, expand to the result shape.
struct ReshapeConversion : TileConversion<tile::ReshapeOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::ReshapeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto srcType = cast<RankedTensorType>(adaptor.getSrc().getType());
    auto dstType = convertedTensor(op.getType());
    Value flat = adaptor.getSrc();
    auto flatType = RankedTensorType::get({srcType.getNumElements()},
                                          srcType.getElementType());
    auto allDims = [](int64_t rank) {
      ReassociationIndices group;
      for (int64_t i = 0; i < rank; ++i)
        group.push_back(i);
      return SmallVector<ReassociationIndices>{group};
    };
    if (srcType.getRank() != 1)
      flat = tensor::CollapseShapeOp::create(rewriter, loc, flatType, flat,
                                             allDims(srcType.getRank()));
    if (dstType.getRank() != 1)
      flat = tensor::ExpandShapeOp::create(rewriter, loc, dstType, flat,
                                           allDims(dstType.getRank()));
    rewriter.replaceOp(op, flat);
    return success();
  }
};

struct TransConversion : TileConversion<tile::TransOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::TransOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedTensor(op.getType());
    Value init = tensor::EmptyOp::create(rewriter, op.getLoc(),
                                         type.getShape(),
                                         type.getElementType());
    SmallVector<int64_t> perm(op.getOrder().begin(), op.getOrder().end());
    rewriter.replaceOp(op, linalg::TransposeOp::create(rewriter, op.getLoc(),
                                                       adaptor.getSrc(), init,
                                                       perm)
                               .getResult());
    return success();
  }
};

struct AddPtrConversion : TileConversion<tile::AddPtrOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::AddPtrOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Type pointee = cast<tile::PointerType>(
                       getElementTypeOrSelf(op.getPtr().getType()))
                       .getPointeeType();
    int64_t size = byteSize(pointee);
    rewriter.replaceOp(
        op, elementwise(
                rewriter, op.getLoc(), converted(op.getType()),
                {adaptor.getPtr(), adaptor.getOffset()},
                [&](OpBuilder &b, Location l, ValueRange v) -> Value {
                  Value off = v[1];
                  if (!off.getType().isInteger(64))
                    off = arith::ExtSIOp::create(b, l, b.getI64Type(), off);
                  Value bytes = arith::MulIOp::create(
                      b, l, off, arith::ConstantIntOp::create(b, l, size, 64));
                  return arith::AddIOp::create(b, l, v[0], bytes);
                }));
    return success();
  }
};

struct LoadConversion : TileConversion<tile::LoadOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::LoadOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Type resultType = converted(op.getType());
    Type elemType = getElementTypeOrSelf(resultType);
    bool isVolatile = op.getIsVolatile();
    SmallVector<Value> operands{adaptor.getPtr()};
    if (adaptor.getMask())
      operands.push_back(adaptor.getMask());
    if (adaptor.getOther())
      operands.push_back(adaptor.getOther());
    bool masked = bool(adaptor.getMask()), hasOther = bool(adaptor.getOther());
    rewriter.replaceOp(
        op, elementwise(
                rewriter, op.getLoc(), resultType, operands,
                [&](OpBuilder &b, Location l, ValueRange v) -> Value {
                  if (!masked)
                    return loadScalar(b, l, elemType, v[0], isVolatile);
                  auto ifOp = scf::IfOp::create(
                      b, l, v[1],
                      [&](OpBuilder &tb, Location tl) {
                        scf::YieldOp::create(
                            tb, tl,
                            loadScalar(tb, tl, elemType, v[0], isVolatile));
                      },
                      [&](OpBuilder &eb, Location el) {
                        scf::YieldOp::create(
                            eb, el, hasOther ? v[2] : zeroOf(eb, el, elemType));
                      });
                  return ifOp.getResult(0);
                }));
    return success();
  }
};

struct StoreConversion : TileConversion<tile::StoreOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::StoreOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    SmallVector<Value> operands{adaptor.getPtr(), adaptor.getValue()};
    if (adaptor.getMask())
      operands.push_back(adaptor.getMask());
    auto storeOne = [&](OpBuilder &b, Location l, ValueRange v) {
      if (v.size() < 3) {
        storeScalar(b, l, v[1], v[0]);
        return;
      }
      scf::IfOp::create(b, l, v[2], [&](OpBuilder &tb, Location tl) {
        storeScalar(tb, tl, v[1], v[0]);
        scf::YieldOp::create(tb, tl);
      });
    };
    if (auto type = dyn_cast<RankedTensorType>(adaptor.getPtr().getType())) {
      forEachIndex(rewriter, loc, type.getShape(), {},
                   [&](OpBuilder &b, Location l, ValueRange idx, ValueRange) {
                     storeOne(b, l, extractAll(b, l, operands, idx));
                     return SmallVector<Value>{};
                   });
    } else {
      storeOne(rewriter, loc, operands);
    }
    rewriter.eraseOp(op);
    return success();
  }
};

struct DotConversion : TileConversion<tile::DotOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::DotOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    SmallVector<Value> ins{adaptor.getA(), adaptor.getB()};
    SmallVector<Value> outs{adaptor.getC()};
    Operation *mm;
    if (op.getA().getType().getRank() == 2)
      mm = linalg::MatmulOp::create(rewriter, op.getLoc(), ins, outs);
    else
      mm = linalg::BatchMatmulOp::create(rewriter, op.getLoc(), ins, outs);
    rewriter.replaceOp(op, mm->getResults());
    return success();
  }
};

/// Clones the combining region of a reduce or scan: the cloned ops combine
/// `acc` with `next` and the yielded values are returned.
SmallVector<Value> combine(OpBuilder &b, Region &region, ValueRange acc,
                           ValueRange next) {
  Block &block = region.front();
  IRMapping map;
  for (auto [i, v] : llvm::enumerate(acc))
    map.map(block.getArgument(i), v);
  for (auto [i, v] : llvm::enumerate(next))
    map.map(block.getArgument(acc.size() + i), v);
  for (Operation &op : block.without_terminator())
    b.clone(op, map);
  SmallVector<Value> out;
  for (Value v : block.getTerminator()->getOperands())
    out.push_back(map.lookupOrDefault(v));
  return out;
}

/// reduce along `axis`: the accumulators start as the first slice along the
/// axis; a linalg.generic folds the remaining slices in with the region.
struct ReduceConversion : TileConversion<tile::ReduceOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::ReduceOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    int64_t axis = op.getAxisAttr().getInt();
    auto srcType = cast<RankedTensorType>(adaptor.getSrcs()[0].getType());
    int64_t rank = srcType.getRank(), n = srcType.getDimSize(axis);
    SmallVector<int64_t> accShape(srcType.getShape());
    accShape.erase(accShape.begin() + axis);

    // Accumulators: src[..., 0, ...].
    SmallVector<Value> accs;
    for (Value src : adaptor.getSrcs()) {
      auto elem = cast<RankedTensorType>(src.getType()).getElementType();
      accs.push_back(generate(
          rewriter, loc, RankedTensorType::get(accShape, elem),
          [&](OpBuilder &b, Location l, ValueRange idx) -> Value {
            SmallVector<Value> full(idx.begin(), idx.end());
            full.insert(full.begin() + axis, indexConst(b, l, 0));
            return tensor::ExtractOp::create(b, l, src, full);
          }));
    }
    if (n > 1) {
      SmallVector<Value> rest;
      for (Value src : adaptor.getSrcs()) {
        SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
        SmallVector<OpFoldResult> sizes, strides(rank,
                                                 rewriter.getIndexAttr(1));
        for (int64_t d : srcType.getShape())
          sizes.push_back(rewriter.getIndexAttr(d));
        offsets[axis] = rewriter.getIndexAttr(1);
        sizes[axis] = rewriter.getIndexAttr(n - 1);
        rest.push_back(tensor::ExtractSliceOp::create(rewriter, loc, src,
                                                      offsets, sizes,
                                                      strides));
      }
      MLIRContext *ctx = rewriter.getContext();
      AffineMap inMap = AffineMap::getMultiDimIdentityMap(rank, ctx);
      AffineMap outMap = inMap.dropResult(axis);
      SmallVector<AffineMap> maps(rest.size(), inMap);
      maps.append(accs.size(), outMap);
      SmallVector<utils::IteratorType> iters(rank,
                                             utils::IteratorType::parallel);
      iters[axis] = utils::IteratorType::reduction;
      SmallVector<Type> accTypes;
      for (Value a : accs)
        accTypes.push_back(a.getType());
      Region &region = op.getCombineOp();
      size_t num = accs.size();
      auto generic = linalg::GenericOp::create(
          rewriter, loc, accTypes, rest, accs, maps, iters,
          [&](OpBuilder &b, Location l, ValueRange args) {
            SmallVector<Value> out =
                combine(b, region, args.drop_front(num), args.take_front(num));
            linalg::YieldOp::create(b, l, out);
          });
      accs.assign(generic.getResults().begin(), generic.getResults().end());
    }
    SmallVector<Value> results;
    for (Value acc : accs) {
      if (rank == 1)
        acc = tensor::ExtractOp::create(rewriter, loc, acc, ValueRange{});
      results.push_back(acc);
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// Inclusive scan along `axis` as loops over the tensor, from the front or,
/// with `reverse`, from the back.
struct ScanConversion : TileConversion<tile::ScanOp> {
  using TileConversion::TileConversion;
  LogicalResult
  matchAndRewrite(tile::ScanOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    int64_t axis = op.getAxisAttr().getInt();
    auto type = cast<RankedTensorType>(adaptor.getSrcs()[0].getType());
    int64_t n = type.getDimSize(axis);
    bool reverse = op.getReverse();
    SmallVector<Value> srcs(adaptor.getSrcs().begin(),
                            adaptor.getSrcs().end());
    if (n == 1) {
      rewriter.replaceOp(op, srcs);
      return success();
    }
    // Iterate over every index, with the axis index running 1..n-1.
    SmallVector<int64_t> shape(type.getShape());
    shape[axis] = n - 1;
    Region &region = op.getCombineOp();
    SmallVector<Value> results = forEachIndex(
        rewriter, loc, shape, srcs,
        [&](OpBuilder &b, Location l, ValueRange ivs, ValueRange outs) {
          SmallVector<Value> cur(ivs.begin(), ivs.end()),
              prev(ivs.begin(), ivs.end());
          Value k = arith::AddIOp::create(b, l, ivs[axis], indexConst(b, l, 1));
          if (reverse) {
            // cur = n - 1 - k, prev = cur + 1.
            Value last = indexConst(b, l, n - 1);
            cur[axis] = arith::SubIOp::create(b, l, last, k);
            prev[axis] = arith::AddIOp::create(b, l, cur[axis],
                                               indexConst(b, l, 1));
          } else {
            cur[axis] = k;
            prev[axis] = ivs[axis];
          }
          SmallVector<Value> acc = extractAll(b, l, outs, prev);
          SmallVector<Value> next = extractAll(b, l, srcs, cur);
          SmallVector<Value> combined = combine(b, region, acc, next);
          SmallVector<Value> updated;
          for (auto [v, t] : llvm::zip(combined, outs))
            updated.push_back(tensor::InsertOp::create(b, l, v, t, cur));
          return updated;
        });
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// A scalar atomic whose pointer is an address cast back to `!tile.ptr`: the
/// form atomics keep through bufferization (which rejects ops without
/// declared memory effects, as llvm.atomicrmw is); lower-tile-cpu-atomics
/// turns it into LLVM atomics afterwards.
bool isCPUScalarAtomic(Operation *op) {
  Value ptr = op->getOperand(0);
  return !isa<ShapedType>(ptr.getType()) &&
         ptr.getDefiningOp<UnrealizedConversionCastOp>();
}

/// Atomics run element by element (masked-off elements return zero).
template <typename OpTy>
struct AtomicConversion : TileConversion<OpTy> {
  using TileConversion<OpTy>::TileConversion;

  LogicalResult
  matchAndRewrite(OpTy op, typename TileConversion<OpTy>::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    SmallVector<Value> ops(adaptor.getOperands().begin(),
                           adaptor.getOperands().end());
    // The mask is the last operand of atomic_rmw when present.
    bool masked = false;
    if constexpr (std::is_same_v<OpTy, tile::AtomicRMWOp>)
      masked = bool(op.getMask());
    Type elem = getElementTypeOrSelf(op.getType());
    Type ptrType = tile::PointerType::get(
        elem, cast<tile::PointerType>(getElementTypeOrSelf(op.getPtr().getType()))
                  .getAddressSpace());
    auto one = [&](OpBuilder &b, Location l, ValueRange v) -> Value {
      auto atomic = [&](OpBuilder &ab, Location al) -> Value {
        Value ptr = UnrealizedConversionCastOp::create(ab, al, ptrType, v[0])
                        .getResult(0);
        SmallVector<Value> operands{ptr};
        size_t numValues = v.size() - (masked ? 1 : 0);
        for (size_t i = 1; i < numValues; ++i)
          operands.push_back(v[i]);
        OperationState state(al, op->getName());
        state.addOperands(operands);
        state.addTypes(elem);
        state.addAttributes(op->getAttrs());
        return ab.create(state)->getResult(0);
      };
      if (!masked)
        return atomic(b, l);
      return scf::IfOp::create(
                 b, l, v.back(),
                 [&](OpBuilder &tb, Location tl) {
                   scf::YieldOp::create(tb, tl, atomic(tb, tl));
                 },
                 [&](OpBuilder &eb, Location el) {
                   scf::YieldOp::create(eb, el, zeroOf(eb, el, elem));
                 })
          .getResult(0);
    };
    auto type = dyn_cast<RankedTensorType>(op.getType());
    if (!type) {
      rewriter.replaceOp(op, one(rewriter, loc, ops));
      return success();
    }
    Value init = tensor::EmptyOp::create(rewriter, loc, type.getShape(), elem);
    SmallVector<Value> result = forEachIndex(
        rewriter, loc, type.getShape(), {init},
        [&](OpBuilder &b, Location l, ValueRange idx, ValueRange iters) {
          Value v = one(b, l, extractAll(b, l, ops, idx));
          return SmallVector<Value>{
              tensor::InsertOp::create(b, l, v, iters[0], idx)};
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// arith.select (and other type-agnostic ops) on pointers: same op, i64.
struct SelectConversion : OpConversionPattern<arith::SelectOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(arith::SelectOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<arith::SelectOp>(
        op, getTypeConverter()->convertType(op.getType()),
        adaptor.getCondition(), adaptor.getTrueValue(),
        adaptor.getFalseValue());
    return success();
  }
};

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

/// Builds `<name>__entry(%args: !llvm.ptr, 6 x i32)`, which loads each
/// argument of `kernel` from its 8-byte slot and calls it.
void buildEntry(OpBuilder &b, func::FuncOp kernel) {
  Location loc = kernel.getLoc();
  MLIRContext *ctx = b.getContext();
  Type ptrTy = LLVM::LLVMPointerType::get(ctx);
  SmallVector<Type> argTypes{ptrTy};
  argTypes.append(kNumGridArgs, b.getI32Type());
  b.setInsertionPointAfter(kernel);
  auto entry = func::FuncOp::create(b, loc, kernel.getName().str() + "__entry",
                                    b.getFunctionType(argTypes, {}));
  Block *body = entry.addEntryBlock();
  b.setInsertionPointToStart(body);
  SmallVector<Value> args;
  unsigned numUser = kernel.getNumArguments() - kNumGridArgs;
  for (unsigned i = 0; i < numUser; ++i) {
    Type type = kernel.getArgumentTypes()[i];
    Value slot = LLVM::GEPOp::create(
        b, loc, ptrTy, b.getI64Type(), body->getArgument(0),
        ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(i)});
    Value v = LLVM::LoadOp::create(b, loc, memoryType(type), slot);
    if (v.getType() != type)
      v = arith::TruncIOp::create(b, loc, type, v);
    args.push_back(v);
  }
  for (unsigned i = 0; i < kNumGridArgs; ++i)
    args.push_back(body->getArgument(1 + i));
  func::CallOp::create(b, loc, kernel, args);
  func::ReturnOp::create(b, loc);
  kernel.setPrivate();
}

struct ConvertTileToCPUPass
    : tessera::impl::ConvertTileToCPUBase<ConvertTileToCPUPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();

    // What the CPU backend cannot run, reported once and before converting.
    bool supported = true;
    auto fp8 = [](Type t) {
      t = getElementTypeOrSelf(t);
      if (auto p = dyn_cast<tile::PointerType>(t))
        t = p.getPointeeType();
      return isa<Float8E4M3FNType, Float8E5M2Type>(t);
    };
    module.walk([&](Operation *op) {
      if (supported && (llvm::any_of(op->getOperandTypes(), fp8) ||
                               llvm::any_of(op->getResultTypes(), fp8))) {
        op->emitOpError("on fp8 values needs the NVIDIA backend (sm_89 or newer)");
        supported = false;
      } else if (isa<tile::ProgramIdOp, tile::NumProgramsOp>(op)) {
        auto func = op->getParentOfType<func::FuncOp>();
        if (!func || func.isPrivate()) {
          op->emitOpError("must be inside a kernel (a public function); calls "
                          "of other functions are inlined first");
          supported = false;
        }
      } else if (auto func = dyn_cast<func::FuncOp>(op)) {
        if (func.isPrivate() || func.isExternal())
          return;
        for (Type type : func.getArgumentTypes())
          if (!type.isIntOrFloat() && !isa<tile::PointerType>(type)) {
            func.emitOpError("is a kernel, so its arguments must be scalars or "
                             "pointers, got ")
                << type;
            supported = false;
          }
      }
    });
    if (!supported)
      return signalPassFailure();

    // Kernels gain the grid arguments.
    SmallVector<func::FuncOp> kernels;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isPrivate() || func.isExternal())
        continue;
      SmallVector<unsigned> at(kNumGridArgs, func.getNumArguments());
      SmallVector<Type> types(kNumGridArgs, IntegerType::get(ctx, 32));
      SmallVector<DictionaryAttr> attrs(kNumGridArgs,
                                        DictionaryAttr::get(ctx));
      SmallVector<Location> locs(kNumGridArgs, func.getLoc());
      if (failed(func.insertArguments(at, types, attrs, locs)))
        return signalPassFailure();
      kernels.push_back(func);
    }

    TypeConverter converter;
    converter.addConversion([](Type t) { return t; });
    converter.addConversion([ctx](tile::PointerType) -> Type {
      return IntegerType::get(ctx, 64);
    });
    converter.addConversion([ctx](RankedTensorType t) -> Type {
      if (isa<tile::PointerType>(t.getElementType()))
        return t.clone(IntegerType::get(ctx, 64));
      return t;
    });

    ConversionTarget target(*ctx);
    target.addIllegalDialect<tile::TileDialect>();
    target.addDynamicallyLegalOp<tile::AtomicRMWOp, tile::AtomicCASOp>(
        isCPUScalarAtomic);
    target.addLegalOp<UnrealizedConversionCastOp>();
    target.addLegalDialect<arith::ArithDialect, math::MathDialect,
                           tensor::TensorDialect, linalg::LinalgDialect,
                           scf::SCFDialect, LLVM::LLVMDialect>();
    target.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp op) {
      return converter.isSignatureLegal(op.getFunctionType()) &&
             converter.isLegal(&op.getBody());
    });
    target.addDynamicallyLegalOp<func::CallOp, func::ReturnOp,
                                 arith::SelectOp>(
        [&](Operation *op) { return converter.isLegal(op); });

    RewritePatternSet patterns(ctx);
    patterns.add<GridQueryConversion<tile::ProgramIdOp, 0>,
                 GridQueryConversion<tile::NumProgramsOp, 3>,
                 MakeRangeConversion, SplatConversion, BroadcastConversion,
                 ExpandDimsConversion, ReshapeConversion, TransConversion,
                 AddPtrConversion, LoadConversion, StoreConversion,
                 DotConversion, ReduceConversion, ScanConversion,
                 AtomicConversion<tile::AtomicRMWOp>,
                 AtomicConversion<tile::AtomicCASOp>, SelectConversion,
                 PrintConversion, AssertConversion>(
        converter, ctx);
    populateFunctionOpInterfaceTypeConversionPattern<func::FuncOp>(patterns,
                                                                   converter);
    populateCallOpTypeConversionPattern(patterns, converter);
    populateReturnOpTypeConversionPattern(patterns, converter);
    scf::populateSCFStructuralTypeConversionsAndLegality(converter, patterns,
                                                          target);

    if (failed(applyPartialConversion(module, target, std::move(patterns))))
      return signalPassFailure();

    OpBuilder builder(ctx);
    for (func::FuncOp kernel : kernels)
      buildEntry(builder, kernel);
  }
};

} // namespace
