//===- TileOps.cpp - Verifiers, folders and builders of tile ops ----------===//
//
// One section per op group, in the order of TileOps.td. Each verifier states
// the shape and type rules of its op; test/lit/Dialect/Tile/invalid.mlir has
// a case for every diagnostic here.
//
//===----------------------------------------------------------------------===//

#include "dialects/tile/TileDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallBitVector.h"

using namespace mlir;
using namespace tessera::tile;

#define GET_OP_CLASSES
#include "dialects/tile/TileOps.cpp.inc"

/// If `attr` is a splat constant (scalar or splat dense), returns it as a
/// splat of `type`; null otherwise.
static Attribute resplat(Attribute attr, Type type) {
  auto shaped = dyn_cast<ShapedType>(type);
  if (!attr || !shaped)
    return {};
  if (auto dense = dyn_cast<SplatElementsAttr>(attr))
    return DenseElementsAttr::get(shaped, dense.getSplatValue<Attribute>());
  if (isa<IntegerAttr, FloatAttr>(attr))
    return DenseElementsAttr::get(shaped, attr);
  return {};
}

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  llvm::raw_string_ostream os(s);
  llvm::interleaveComma(shape, os);
  os << "]";
  return s;
}

//===----------------------------------------------------------------------===//
// MakeRangeOp
//===----------------------------------------------------------------------===//

LogicalResult MakeRangeOp::verify() {
  int64_t start = getStartAttr().getInt(), end = getEndAttr().getInt();
  if (start < 0)
    return emitOpError() << "start must be non-negative, got " << start;
  if (end <= start)
    return emitOpError() << "end (" << end << ") must be greater than start ("
                         << start << ")";
  auto type = getResult().getType();
  if (type.getRank() != 1 || type.getDimSize(0) != end - start)
    return emitOpError() << "result must be a 1-D tensor of " << end - start
                         << " elements, got " << type;
  return success();
}

//===----------------------------------------------------------------------===//
// SplatOp
//===----------------------------------------------------------------------===//

LogicalResult SplatOp::verify() {
  Type elem = getResult().getType().getElementType();
  if (elem != getSrc().getType())
    return emitOpError() << "result element type " << elem
                         << " does not match the scalar's type "
                         << getSrc().getType();
  return success();
}

OpFoldResult SplatOp::fold(FoldAdaptor adaptor) {
  return resplat(adaptor.getSrc(), getType());
}

//===----------------------------------------------------------------------===//
// BroadcastOp
//===----------------------------------------------------------------------===//

LogicalResult BroadcastOp::verify() {
  auto src = getSrc().getType();
  auto dst = getResult().getType();
  if (src.getRank() != dst.getRank())
    return emitOpError() << "source rank " << src.getRank()
                         << " differs from result rank " << dst.getRank();
  for (auto [i, s, d] : llvm::enumerate(src.getShape(), dst.getShape()))
    if (s != 1 && s != d)
      return emitOpError() << "source dimension " << i << " is " << s
                           << "; it must be 1 or the result's " << d;
  return success();
}

OpFoldResult BroadcastOp::fold(FoldAdaptor adaptor) {
  if (getSrc().getType() == getType())
    return getSrc();
  return resplat(adaptor.getSrc(), getType());
}

//===----------------------------------------------------------------------===//
// ExpandDimsOp
//===----------------------------------------------------------------------===//

LogicalResult ExpandDimsOp::verify() {
  auto src = getSrc().getType();
  int64_t axis = getAxisAttr().getInt();
  if (axis < 0 || axis > src.getRank())
    return emitOpError() << "axis " << axis << " is out of range [0, "
                         << src.getRank() << "]";
  SmallVector<int64_t> expected(src.getShape());
  expected.insert(expected.begin() + axis, 1);
  if (getResult().getType().getShape() != ArrayRef<int64_t>(expected))
    return emitOpError() << "result shape must be " << shapeString(expected)
                         << ", got " << getResult().getType();
  return success();
}

OpFoldResult ExpandDimsOp::fold(FoldAdaptor adaptor) {
  return resplat(adaptor.getSrc(), getType());
}

//===----------------------------------------------------------------------===//
// ReshapeOp
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::verify() {
  auto src = getSrc().getType();
  auto dst = getResult().getType();
  if (src.getNumElements() != dst.getNumElements())
    return emitOpError() << "source has " << src.getNumElements()
                         << " elements but the result has "
                         << dst.getNumElements();
  return success();
}

OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  if (getSrc().getType() == getType())
    return getSrc();
  return resplat(adaptor.getSrc(), getType());
}

//===----------------------------------------------------------------------===//
// TransOp
//===----------------------------------------------------------------------===//

LogicalResult TransOp::verify() {
  auto src = getSrc().getType();
  ArrayRef<int32_t> order = getOrder();
  if (static_cast<int64_t>(order.size()) != src.getRank())
    return emitOpError() << "order has " << order.size()
                         << " entries but the source has rank "
                         << src.getRank();
  llvm::SmallBitVector seen(order.size());
  for (int32_t d : order) {
    if (d < 0 || d >= src.getRank() || seen.test(d))
      return emitOpError() << "order must be a permutation of [0, "
                           << src.getRank() << ")";
    seen.set(d);
  }
  SmallVector<int64_t> expected;
  for (int32_t d : order)
    expected.push_back(src.getDimSize(d));
  if (getResult().getType().getShape() != ArrayRef<int64_t>(expected))
    return emitOpError() << "result shape must be " << shapeString(expected)
                         << ", got " << getResult().getType();
  return success();
}

OpFoldResult TransOp::fold(FoldAdaptor adaptor) {
  if (llvm::equal(getOrder(), llvm::seq<int32_t>(0, getOrder().size())))
    return getSrc();
  return resplat(adaptor.getSrc(), getType());
}

//===----------------------------------------------------------------------===//
// AddPtrOp
//===----------------------------------------------------------------------===//

LogicalResult AddPtrOp::verify() {
  Type ptr = getPtr().getType(), off = getOffset().getType();
  auto ptrTensor = dyn_cast<RankedTensorType>(ptr);
  auto offTensor = dyn_cast<RankedTensorType>(off);
  if (bool(ptrTensor) != bool(offTensor))
    return emitOpError() << "pointer and offset must both be scalars or both "
                            "tensors, got "
                         << ptr << " and " << off;
  if (ptrTensor && ptrTensor.getShape() != offTensor.getShape())
    return emitOpError() << "offset shape " << shapeString(offTensor.getShape())
                         << " differs from pointer shape "
                         << shapeString(ptrTensor.getShape());
  if (getElementTypeOrSelf(off).isInteger(1))
    return emitOpError() << "offset must not be i1";
  return success();
}

OpFoldResult AddPtrOp::fold(FoldAdaptor adaptor) {
  if (matchPattern(adaptor.getOffset(), m_Zero()))
    return getPtr();
  return {};
}

//===----------------------------------------------------------------------===//
// LoadOp / StoreOp
//===----------------------------------------------------------------------===//

void LoadOp::build(OpBuilder &builder, OperationState &state, Value ptr,
                   Value mask, Value other) {
  build(builder, state, getPointeeType(ptr.getType()), ptr, mask, other,
        CacheModifierAttr(), EvictionPolicyAttr(), UnitAttr());
}

LogicalResult LoadOp::verify() {
  if (getOther() && !getMask())
    return emitOpError() << "'other' requires a 'mask'";
  if (auto cache = getCache()) {
    if (*cache == CacheModifier::WB || *cache == CacheModifier::WT)
      return emitOpError() << "cache modifier '" << stringifyEnum(*cache)
                           << "' is for stores; loads take ca, cg, cs or cv";
  }
  return success();
}

void LoadOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  effects.emplace_back(MemoryEffects::Read::get(), &getPtrMutable(),
                       SideEffects::DefaultResource::get());
  // A volatile load must be neither merged with another nor removed.
  if (getIsVolatile())
    effects.emplace_back(MemoryEffects::Write::get(),
                         SideEffects::DefaultResource::get());
}

LogicalResult StoreOp::verify() {
  if (auto cache = getCache()) {
    if (*cache == CacheModifier::CA || *cache == CacheModifier::CV)
      return emitOpError() << "cache modifier '" << stringifyEnum(*cache)
                           << "' is for loads; stores take wb, wt, cg or cs";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Tensor descriptors
//===----------------------------------------------------------------------===//

/// The checks shared by descriptor loads and stores: one shape, stride and
/// offset per dimension of the block, which holds the base's element type.
static LogicalResult verifyDescriptor(Operation *op, Value base, ValueRange shape,
                                      ValueRange strides, ValueRange offsets,
                                      RankedTensorType block) {
  int64_t rank = block.getRank();
  if (rank < 1 || rank > 5)
    return op->emitOpError() << "blocks have 1 to 5 dimensions, got " << rank;
  if (int64_t(shape.size()) != rank || int64_t(strides.size()) != rank ||
      int64_t(offsets.size()) != rank)
    return op->emitOpError() << "needs one shape, stride and offset per block dimension ("
                             << rank << "), got " << shape.size() << ", " << strides.size()
                             << " and " << offsets.size();
  Type elem = cast<PointerType>(base.getType()).getPointeeType();
  if (elem != block.getElementType())
    return op->emitOpError() << "block elements are " << block.getElementType()
                             << " but the base points to " << elem;
  if (!elem.isIntOrFloat() || elem.isInteger(1))
    return op->emitOpError() << "blocks hold numbers, not " << elem;
  APInt last;
  if (matchPattern(strides.back(), m_ConstantInt(&last)) && !last.isOne())
    return op->emitOpError() << "the last stride must be 1 (contiguous rows), got "
                             << last.getSExtValue();
  return success();
}

LogicalResult DescriptorLoadOp::verify() {
  return verifyDescriptor(*this, getBase(), getShape(), getStrides(), getOffsets(),
                          getResult().getType());
}

LogicalResult DescriptorStoreOp::verify() {
  return verifyDescriptor(*this, getBase(), getShape(), getStrides(), getOffsets(),
                          getValue().getType());
}

static bool isFp8(Type t) { return isa<Float8E4M3FNType, Float8E5M2Type>(t); }

LogicalResult DescriptorAtomicAddOp::verify() {
  if (failed(verifyDescriptor(*this, getBase(), getShape(), getStrides(), getOffsets(),
                              getValue().getType())))
    return failure();
  Type elem = getValue().getType().getElementType();
  bool ok = isa<FloatType>(elem) ? !isFp8(elem) : elem.isInteger(32) || elem.isInteger(64);
  if (!ok)
    return emitOpError() << "atomic adds take 32- or 64-bit integers or floats (not fp8), "
                            "got "
                         << elem;
  return success();
}

//===----------------------------------------------------------------------===//
// DotOp
//===----------------------------------------------------------------------===//

LogicalResult DotOp::verify() {
  auto a = getA().getType(), b = getB().getType(), c = getC().getType();
  int64_t rank = a.getRank();
  if (rank != 2 && rank != 3)
    return emitOpError() << "operands must be 2-D, or 3-D with a leading "
                            "batch dimension; got rank "
                         << rank;
  if (b.getRank() != rank || c.getRank() != rank)
    return emitOpError() << "a, b and c must have the same rank";
  if (rank == 3 && (b.getDimSize(0) != a.getDimSize(0) ||
                    c.getDimSize(0) != a.getDimSize(0)))
    return emitOpError() << "batch dimensions differ: " << a.getDimSize(0)
                         << ", " << b.getDimSize(0) << ", "
                         << c.getDimSize(0);
  int64_t m = a.getDimSize(rank - 2), k = a.getDimSize(rank - 1);
  int64_t kb = b.getDimSize(rank - 2), n = b.getDimSize(rank - 1);
  if (k != kb)
    return emitOpError() << "reduction dimension of a (" << k
                         << ") differs from that of b (" << kb << ")";
  if (c.getDimSize(rank - 2) != m || c.getDimSize(rank - 1) != n)
    return emitOpError() << "accumulator shape must be [" << m << ", " << n
                         << "], got " << c;

  Type ea = a.getElementType(), eb = b.getElementType(),
       ec = c.getElementType();
  if (isa<PointerType>(ea) || isa<PointerType>(eb))
    return emitOpError() << "operands must hold numbers, not pointers";
  if (ea.isInteger() || eb.isInteger()) {
    if (!ea.isInteger(8) || !eb.isInteger(8))
      return emitOpError() << "integer dot takes i8 x i8, got " << ea << " x "
                           << eb;
    if (!ec.isInteger(32))
      return emitOpError() << "integer dot accumulates in i32, got " << ec;
  } else {
    if (ea != eb && !(isFp8(ea) && isFp8(eb)))
      return emitOpError() << "a and b must have the same element type, got "
                           << ea << " and " << eb;
    bool ok = ec.isF32() || (ec.isF16() && ea.isF16()) ||
              (ec.isF64() && ea.isF64());
    if (!ok)
      return emitOpError() << "accumulator type " << ec
                           << " is not allowed for " << ea
                           << " inputs (f32; f16 for f16; f64 for f64)";
    if (ea.isF64() && !ec.isF64())
      return emitOpError() << "f64 inputs accumulate in f64";
  }
  if (getInputPrecision() != InputPrecision::IEEE && !ea.isF32())
    return emitOpError() << "precision '"
                         << stringifyEnum(getInputPrecision())
                         << "' applies to f32 inputs only";
  if (getMaxNumImpreciseAccAttr().getInt() < 0)
    return emitOpError() << "maxNumImpreciseAcc must be non-negative";
  return success();
}

//===----------------------------------------------------------------------===//
// ReduceOp / ScanOp
//===----------------------------------------------------------------------===//

/// Rules shared by reduce and scan on the sources: at least one, one shape,
/// axis in range.
static LogicalResult verifySources(Operation *op, ValueRange srcs,
                                   int64_t axis) {
  if (srcs.empty())
    return op->emitOpError() << "needs at least one source tensor";
  auto first = cast<RankedTensorType>(srcs.front().getType());
  for (Value v : srcs.drop_front())
    if (cast<RankedTensorType>(v.getType()).getShape() != first.getShape())
      return op->emitOpError() << "all sources must have the same shape";
  if (axis < 0 || axis >= first.getRank())
    return op->emitOpError() << "axis " << axis << " is out of range [0, "
                             << first.getRank() << ")";
  return success();
}

/// The combining region takes 2N scalars (accumulated, then new) of the
/// sources' element types and returns N of them.
static LogicalResult verifyCombineRegion(Operation *op, Region &region,
                                         ValueRange srcs) {
  SmallVector<Type> elems;
  for (Value v : srcs)
    elems.push_back(cast<RankedTensorType>(v.getType()).getElementType());
  Block &block = region.front();
  size_t n = elems.size();
  if (block.getNumArguments() != 2 * n)
    return op->emitOpError() << "combining region must take " << 2 * n
                             << " arguments, got " << block.getNumArguments();
  for (size_t i = 0; i < 2 * n; ++i)
    if (block.getArgument(i).getType() != elems[i % n])
      return op->emitOpError()
             << "combining region argument " << i << " must be "
             << elems[i % n] << ", got " << block.getArgument(i).getType();
  auto ret = dyn_cast<ReduceReturnOp>(block.getTerminator());
  if (!ret)
    return op->emitOpError()
           << "combining region must end with tile.reduce.return";
  if (ret.getResult().size() != n)
    return ret.emitOpError() << "must return " << n << " values, got "
                             << ret.getResult().size();
  for (size_t i = 0; i < n; ++i)
    if (ret.getResult()[i].getType() != elems[i])
      return ret.emitOpError() << "value " << i << " must be " << elems[i]
                               << ", got " << ret.getResult()[i].getType();
  return success();
}

LogicalResult ReduceOp::verify() {
  if (failed(verifySources(*this, getSrcs(), getAxisAttr().getInt())))
    return failure();
  if (getResult().size() != getSrcs().size())
    return emitOpError() << "has " << getSrcs().size() << " sources but "
                         << getResult().size() << " results";
  for (auto [i, src, res] : llvm::enumerate(getSrcs(), getResult())) {
    auto type = cast<RankedTensorType>(src.getType());
    // The result's layout (encoding) is the backend's business: compare
    // shapes and element types only.
    Type expected = type.getElementType();
    bool matches = res.getType() == expected;
    if (type.getRank() > 1) {
      SmallVector<int64_t> shape(type.getShape());
      shape.erase(shape.begin() + getAxis());
      expected = RankedTensorType::get(shape, type.getElementType());
      auto result = dyn_cast<RankedTensorType>(res.getType());
      matches = result && result.getShape() == ArrayRef<int64_t>(shape) &&
                result.getElementType() == type.getElementType();
    }
    if (!matches)
      return emitOpError() << "result " << i << " must be " << expected
                           << ", got " << res.getType();
  }
  return success();
}

LogicalResult ReduceOp::verifyRegions() {
  return verifyCombineRegion(*this, getCombineOp(), getSrcs());
}

LogicalResult ScanOp::verify() {
  if (failed(verifySources(*this, getSrcs(), getAxisAttr().getInt())))
    return failure();
  if (getResult().size() != getSrcs().size())
    return emitOpError() << "has " << getSrcs().size() << " sources but "
                         << getResult().size() << " results";
  for (auto [i, src, res] : llvm::enumerate(getSrcs(), getResult()))
    if (res.getType() != src.getType())
      return emitOpError() << "result " << i << " must have the source type "
                           << src.getType() << ", got " << res.getType();
  return success();
}

LogicalResult ScanOp::verifyRegions() {
  return verifyCombineRegion(*this, getCombineOp(), getSrcs());
}

//===----------------------------------------------------------------------===//
// Atomics
//===----------------------------------------------------------------------===//

static bool isInt32Or64(Type t) { return t.isInteger(32) || t.isInteger(64); }

LogicalResult AtomicRMWOp::verify() {
  Type elem = getElementTypeOrSelf(getVal().getType());
  bool isFloat = isa<FloatType>(elem) && !isFp8(elem);
  bool ok = false;
  switch (getKind()) {
  case RMWKind::FAdd:
    ok = isFloat;
    break;
  case RMWKind::Add:
  case RMWKind::And:
  case RMWKind::Or:
  case RMWKind::Xor:
  case RMWKind::UMax:
  case RMWKind::UMin:
    ok = isInt32Or64(elem);
    break;
  case RMWKind::Max:
  case RMWKind::Min:
    ok = isInt32Or64(elem) || isFloat;
    break;
  case RMWKind::Xchg:
    ok = isInt32Or64(elem) || elem.isF32() || elem.isF64();
    break;
  }
  if (!ok)
    return emitOpError() << "'" << stringifyEnum(getKind())
                         << "' does not apply to elements of type " << elem;
  return success();
}

LogicalResult AtomicCASOp::verify() {
  Type elem = getElementTypeOrSelf(getVal().getType());
  unsigned bits = elem.isIntOrFloat() ? elem.getIntOrFloatBitWidth() : 0;
  if (bits != 16 && bits != 32 && bits != 64)
    return emitOpError() << "elements must be 16, 32 or 64 bits wide, got "
                         << elem;
  return success();
}

//===----------------------------------------------------------------------===//
// PrintOp / AssertOp
//===----------------------------------------------------------------------===//

LogicalResult PrintOp::verify() {
  if (getHex())
    for (Value arg : getArgs())
      if (!isa<IntegerType>(getElementTypeOrSelf(arg.getType())))
        return emitOpError() << "'hex' prints integers only, got "
                             << arg.getType();
  return success();
}

LogicalResult AssertOp::verify() {
  if (getMessage().empty())
    return emitOpError() << "needs a message";
  return success();
}
