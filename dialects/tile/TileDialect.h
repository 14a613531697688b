//===- TileDialect.h - The tile dialect -------------------------*- C++ -*-===//
//
// Public header of the tile dialect: the dialect, `!tile.ptr`, the enums, the
// project-wide tensor-shape trait and the ops.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_DIALECTS_TILE_TILEDIALECT_H
#define TESSERA_DIALECTS_TILE_TILEDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/tile/TileDialect.h.inc"
#include "dialects/tile/TileEnums.h.inc"

#define GET_TYPEDEF_CLASSES
#include "dialects/tile/TileTypes.h.inc"

namespace tessera::tile {

/// Largest number of elements a tile tensor may hold (as in Triton).
constexpr int64_t kMaxTensorElements = int64_t(1) << 20;

/// For `!tile.ptr<T>` returns T; for `tensor<S x !tile.ptr<T>>` returns
/// `tensor<S x T>`. Returns a null type for anything else.
mlir::Type getPointeeType(mlir::Type type);

/// `i1` for a scalar, `tensor<S x i1>` for a tensor of shape S.
mlir::Type getI1SameShape(mlir::Type type);

namespace OpTrait {
namespace impl {
mlir::LogicalResult verifyTensorShapes(mlir::Operation *op);
} // namespace impl

/// Checks that every tensor an op touches has a static shape of power-of-two
/// dimensions and at most kMaxTensorElements elements.
template <typename ConcreteType>
class TensorShapeTrait
    : public mlir::OpTrait::TraitBase<ConcreteType, TensorShapeTrait> {
public:
  static mlir::LogicalResult verifyTrait(mlir::Operation *op) {
    return impl::verifyTensorShapes(op);
  }
};
} // namespace OpTrait

} // namespace tessera::tile

#define GET_OP_CLASSES
#include "dialects/tile/TileOps.h.inc"

namespace tessera::tile {
/// On an scf.for (Triton's name; `tl.range(..., loop_unroll_factor=n)`):
/// the GPU lowering repeats its body n times once the loop is expanded
/// (pipelined and lowered to registers), the last iterations in a loop of
/// their own.
constexpr const char *kLoopUnrollFactorAttr = "tt.loop_unroll_factor";
} // namespace tessera::tile

#endif // TESSERA_DIALECTS_TILE_TILEDIALECT_H
