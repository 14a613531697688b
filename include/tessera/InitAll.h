//===- InitAll.h - One registration of dialects and passes -----*- C++ -*-===//
//
// Every tool (tessera-opt, the Python extension, the unit tests) registers
// the same dialects and passes through these two functions.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_INITALL_H
#define TESSERA_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace tessera {

/// Adds Tessera's dialects and the upstream dialects its IR uses.
void registerAllDialects(mlir::DialectRegistry &registry);

/// Registers Tessera's passes and the upstream passes its pipelines use, so
/// that they can be named in textual pipelines. Safe to call more than once.
void registerAllPasses();

} // namespace tessera

#endif // TESSERA_INITALL_H
