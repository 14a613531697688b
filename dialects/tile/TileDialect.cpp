//===- TileDialect.cpp - The tile dialect, types and shared rules ---------===//
//
// Dialect registration, `!tile.ptr`, the helpers that map pointer types to
// their pointee and mask types, and the project-wide tensor-shape rule.
//
//===----------------------------------------------------------------------===//

#include "dialects/tile/TileDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Transforms/InliningUtils.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace tessera::tile;

#include "dialects/tile/TileDialect.cpp.inc"
#include "dialects/tile/TileEnums.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "dialects/tile/TileTypes.cpp.inc"

namespace {
/// Every tile op may be inlined: kernels call helper @jit functions, and the
/// backends see one function per kernel.
struct TileInlinerInterface : DialectInlinerInterface {
  using DialectInlinerInterface::DialectInlinerInterface;
  bool isLegalToInline(Operation *, Operation *, bool) const final {
    return true;
  }
  bool isLegalToInline(Region *, Region *, bool, IRMapping &) const final {
    return true;
  }
  bool isLegalToInline(Operation *, Region *, bool, IRMapping &) const final {
    return true;
  }
};
} // namespace

void TileDialect::initialize() {
  addInterfaces<TileInlinerInterface>();
  addTypes<
#define GET_TYPEDEF_LIST
#include "dialects/tile/TileTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/tile/TileOps.cpp.inc"
      >();
}

Operation *TileDialect::materializeConstant(OpBuilder &builder,
                                            Attribute value, Type type,
                                            Location loc) {
  return arith::ConstantOp::materialize(builder, value, type, loc);
}

//===----------------------------------------------------------------------===//
// PointerType
//===----------------------------------------------------------------------===//

LogicalResult
PointerType::verify(function_ref<InFlightDiagnostic()> emitError,
                    Type pointeeType, int addressSpace) {
  if (!isa<IntegerType, FloatType, PointerType>(pointeeType))
    return emitError() << "pointee must be an integer, float or pointer "
                          "type, got "
                       << pointeeType;
  if (addressSpace < 0)
    return emitError() << "address space must be non-negative, got "
                       << addressSpace;
  return success();
}

//===----------------------------------------------------------------------===//
// Type helpers
//===----------------------------------------------------------------------===//

Type tessera::tile::getPointeeType(Type type) {
  if (auto ptr = dyn_cast<PointerType>(type))
    return ptr.getPointeeType();
  if (auto tensor = dyn_cast<RankedTensorType>(type)) {
    auto ptr = dyn_cast<PointerType>(tensor.getElementType());
    if (!ptr)
      return {};
    return tensor.clone(ptr.getPointeeType());
  }
  return {};
}

Type tessera::tile::getI1SameShape(Type type) {
  auto i1 = IntegerType::get(type.getContext(), 1);
  if (auto tensor = dyn_cast<RankedTensorType>(type))
    return tensor.clone(i1);
  return i1;
}


//===----------------------------------------------------------------------===//
// TensorShapeTrait
//===----------------------------------------------------------------------===//

static LogicalResult verifyTensorShape(Operation *op, Type type,
                                       StringRef what) {
  auto tensor = dyn_cast<TensorType>(type);
  if (!tensor)
    return success();
  if (!tensor.hasRank() || !tensor.hasStaticShape())
    return op->emitOpError() << what << " must have a static shape, got "
                             << type;
  int64_t numel = 1;
  for (int64_t dim : tensor.getShape()) {
    if (dim <= 0 || !llvm::isPowerOf2_64(dim))
      return op->emitOpError()
             << what << " dimensions must be powers of two, got " << type;
    numel *= dim;
  }
  if (numel > kMaxTensorElements)
    return op->emitOpError() << what << " has " << numel
                             << " elements, more than the limit of "
                             << kMaxTensorElements;
  return success();
}

LogicalResult
tessera::tile::OpTrait::impl::verifyTensorShapes(Operation *op) {
  for (Type type : op->getOperandTypes())
    if (failed(verifyTensorShape(op, type, "operand")))
      return failure();
  for (Type type : op->getResultTypes())
    if (failed(verifyTensorShape(op, type, "result")))
      return failure();
  return success();
}
