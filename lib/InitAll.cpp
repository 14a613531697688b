//===- InitAll.cpp - One registration of dialects and passes --------------===//

#include "tessera/InitAll.h"

#include "dialects/tile/TileDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

void tessera::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<tile::TileDialect, mlir::arith::ArithDialect,
                  mlir::math::MathDialect, mlir::scf::SCFDialect,
                  mlir::func::FuncDialect, mlir::cf::ControlFlowDialect>();
}

void tessera::registerAllPasses() {
  static bool registered = [] {
    mlir::registerTransformsPasses();
    tessera::registerTesseraPasses();
    return true;
  }();
  (void)registered;
}
