//===- tessera-opt.cpp - Tessera's optimizer driver -----------------------===//
//
// Parses tile (and later tgraph/tilegpu) IR, runs passes, prints the result;
// the driver of the lit tests. All registration lives in InitAll.
//
//===----------------------------------------------------------------------===//

#include "tessera/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  tessera::registerAllPasses();
  mlir::DialectRegistry registry;
  tessera::registerAllDialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Tessera optimizer driver\n", registry));
}
