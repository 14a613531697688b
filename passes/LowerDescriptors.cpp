//===- LowerDescriptors.cpp - Tensor descriptors to element pointers ------===//
//
// `tile.descriptor_load` / `tile.descriptor_store` become tensors of element
// pointers with a bounds mask: for each block dimension d, the indices
// offsets[d] + [0, block[d]) along d, inside where 0 <= i < shape[d], times
// strides[d] (64-bit for all but the last, contiguous, dimension). With
// `keep-tma` (sm_90a) the loads that may become TMA copies stay: in a loop,
// read only by dots (or transposes feeding dots), base/shape/strides being
// function arguments or constants.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"

namespace tessera {
#define GEN_PASS_DEF_TILELOWERDESCRIPTORS
#include "passes/Passes.h.inc"
} // namespace tessera

using namespace mlir;
using namespace tessera::tile;

namespace {

/// The element pointers and the bounds mask of a descriptor access.
std::pair<Value, Value> pointersOf(OpBuilder &b, Location loc, Value base, ValueRange shape,
                                   ValueRange strides, ValueRange offsets,
                                   RankedTensorType block) {
  int64_t rank = block.getRank();
  ArrayRef<int64_t> dims = block.getShape();
  auto i32 = b.getI32Type(), i64 = b.getI64Type();
  // A 1-D tensor along d, made rank-n with size 1 elsewhere.
  auto along = [&](Value v, int64_t d) {
    auto t = cast<RankedTensorType>(v.getType());
    // Build the shape [1, .., size at d, .., 1] by inserting unit axes.
    Value cur = v;
    SmallVector<int64_t> curShape{t.getDimSize(0)};
    int64_t pos = 0; // where d sits in curShape
    for (int64_t axis = 0; axis < rank; ++axis) {
      if (axis == d)
        continue;
      int64_t insertAt = axis < d ? pos : int64_t(curShape.size());
      curShape.insert(curShape.begin() + insertAt, 1);
      if (axis < d)
        ++pos;
      cur = ExpandDimsOp::create(b, loc, RankedTensorType::get(curShape, t.getElementType()),
                                 cur, b.getI32IntegerAttr(int32_t(insertAt)));
    }
    return cur;
  };
  auto full = [&](Value v) {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getShape() == dims)
      return v;
    return Value(BroadcastOp::create(b, loc, RankedTensorType::get(dims, t.getElementType()), v));
  };
  auto splat = [&](Value scalar, ArrayRef<int64_t> shape) {
    return Value(SplatOp::create(b, loc, RankedTensorType::get(shape, scalar.getType()), scalar));
  };
  Value ptrs = splat(base, dims);
  Value mask;
  for (int64_t d = 0; d < rank; ++d) {
    SmallVector<int64_t> one{dims[d]};
    Value range = MakeRangeOp::create(b, loc, RankedTensorType::get(one, i32),
                                      b.getI32IntegerAttr(0), b.getI32IntegerAttr(int32_t(dims[d])));
    Value idx = arith::AddIOp::create(b, loc, splat(offsets[d], one), range);
    Value zero = splat(arith::ConstantIntOp::create(b, loc, 0, 32), one);
    Value aboveZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, idx, zero);
    Value belowEnd =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, idx, splat(shape[d], one));
    Value inside = arith::AndIOp::create(b, loc, aboveZero, belowEnd);
    Value inMask = full(along(inside, d));
    mask = mask ? Value(arith::AndIOp::create(b, loc, mask, inMask)) : inMask;
    Value offs;
    APInt stride;
    if (d == rank - 1 && matchPattern(strides[d], m_ConstantInt(&stride)) && stride.isOne()) {
      offs = idx; // contiguous: 32-bit element offsets
    } else {
      Value wide = arith::ExtSIOp::create(b, loc, RankedTensorType::get(one, i64), idx);
      offs = arith::MulIOp::create(b, loc, wide, splat(strides[d], one));
    }
    ptrs = AddPtrOp::create(b, loc, ptrs.getType(), ptrs, full(along(offs, d)));
  }
  return {ptrs, mask};
}

/// Whether `v` is known before the kernel runs: a function argument or a
/// constant (the launcher can then describe the array to the TMA unit).
bool isLaunchValue(Value v) {
  if (auto ext = v.getDefiningOp<arith::ExtSIOp>()) // an i32 argument as i64
    v = ext.getIn();
  if (isa<BlockArgument>(v))
    return isa<func::FuncOp>(cast<BlockArgument>(v).getOwner()->getParentOp());
  return matchPattern(v, m_Constant());
}

/// Whether a load may become a TMA copy of a pipelined loop on sm_90a.
bool mayUseTma(DescriptorLoadOp op) {
  if (!op->getParentOfType<scf::ForOp>() || op->use_empty())
    return false;
  if (!isLaunchValue(op.getBase()) || !llvm::all_of(op.getShape(), isLaunchValue) ||
      !llvm::all_of(op.getStrides(), isLaunchValue))
    return false;
  auto type = op.getResult().getType();
  if (type.getRank() != 2)
    return false;
  // TMA reads rows as contiguous: the last stride must be the constant 1.
  APInt last;
  if (!matchPattern(op.getStrides().back(), m_ConstantInt(&last)) || !last.isOne())
    return false;
  return llvm::all_of(op->getUsers(), [&](Operation *user) {
    if (auto dot = dyn_cast<DotOp>(user))
      return dot.getC() != op.getResult();
    auto trans = dyn_cast<TransOp>(user);
    return trans && !trans->use_empty() && llvm::all_of(trans->getUsers(), [&](Operation *u) {
      auto dot = dyn_cast<DotOp>(u);
      return dot && dot.getC() != trans.getResult();
    });
  });
}

/// The power of two `v` is known to be a multiple of: a positive
/// constant's, or a kernel argument's `tile.divisibility` (the launch
/// specialization's 16), else 1.
int64_t knownMultiple(Value v) {
  if (auto ext = v.getDefiningOp<arith::ExtSIOp>())
    v = ext.getIn();
  APInt c;
  if (matchPattern(v, m_ConstantInt(&c))) // a tensor map's strides are positive
    return c.isStrictlyPositive() ? int64_t(1) << c.countr_zero() : 1;
  if (auto arg = dyn_cast<BlockArgument>(v))
    if (auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp()))
      if (auto d = func.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(), "tile.divisibility"))
        return d.getInt();
  return 1;
}

/// Whether an atomic add may become TMA's bulk reduction on sm_90a: a 2-D
/// block of f32 or i32 whose rows are whole 16-byte units, at most 256 by
/// 256 (one box), the array described by kernel arguments and constants,
/// its base 16-byte aligned and its row stride a multiple of 16 bytes as
/// far as the launch specialization knows (a tensor map needs both; other
/// arrays take the element atomics rather than fail at launch).
bool mayReduceWithTma(DescriptorAtomicAddOp op) {
  if (!isLaunchValue(op.getBase()) || !llvm::all_of(op.getShape(), isLaunchValue) ||
      !llvm::all_of(op.getStrides(), isLaunchValue))
    return false;
  auto type = op.getValue().getType();
  Type elem = type.getElementType();
  if (type.getRank() != 2 || !(elem.isF32() || elem.isInteger(32)))
    return false;
  APInt last;
  if (!matchPattern(op.getStrides().back(), m_ConstantInt(&last)) || !last.isOne())
    return false;
  return type.getDimSize(0) <= 256 && type.getDimSize(1) <= 256 &&
         (type.getDimSize(1) * 4) % 16 == 0 && knownMultiple(op.getBase()) >= 16 &&
         knownMultiple(op.getStrides()[0]) * 4 % 16 == 0;
}

struct LowerDescriptorsPass
    : tessera::impl::TileLowerDescriptorsBase<LowerDescriptorsPass> {
  using TileLowerDescriptorsBase::TileLowerDescriptorsBase;

  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation()->walk([&](Operation *op) {
      if (auto load = dyn_cast<DescriptorLoadOp>(op)) {
        if (!(keepTma && mayUseTma(load)))
          ops.push_back(op);
      } else if (auto add = dyn_cast<DescriptorAtomicAddOp>(op)) {
        if (!(keepTma && mayReduceWithTma(add)))
          ops.push_back(op);
      } else if (isa<DescriptorStoreOp>(op)) {
        ops.push_back(op);
      }
    });
    for (Operation *op : ops) {
      OpBuilder b(op);
      Location loc = op->getLoc();
      if (auto load = dyn_cast<DescriptorLoadOp>(op)) {
        auto type = load.getResult().getType();
        auto [ptrs, mask] = pointersOf(b, loc, load.getBase(), load.getShape(),
                                       load.getStrides(), load.getOffsets(), type);
        Value zero = arith::ConstantOp::create(b, loc, type, b.getZeroAttr(type));
        Value v = LoadOp::create(b, loc, ptrs, mask, zero);
        load.getResult().replaceAllUsesWith(v);
      } else if (auto add = dyn_cast<DescriptorAtomicAddOp>(op)) {
        // Relaxed, device scope, old values unread (`red` on the GPU).
        auto type = add.getValue().getType();
        auto [ptrs, mask] = pointersOf(b, loc, add.getBase(), add.getShape(), add.getStrides(),
                                       add.getOffsets(), type);
        bool isFloat = isa<FloatType>(type.getElementType());
        AtomicRMWOp::create(b, loc, type, isFloat ? RMWKind::FAdd : RMWKind::Add,
                            MemSemantic::Relaxed, MemScope::GPU, ptrs, add.getValue(), mask);
      } else {
        auto store = cast<DescriptorStoreOp>(op);
        auto [ptrs, mask] = pointersOf(b, loc, store.getBase(), store.getShape(),
                                       store.getStrides(), store.getOffsets(),
                                       store.getValue().getType());
        StoreOp::create(b, loc, ptrs, store.getValue(), mask, CacheModifierAttr(),
                        EvictionPolicyAttr());
      }
      op->erase();
    }
  }
};

} // namespace
