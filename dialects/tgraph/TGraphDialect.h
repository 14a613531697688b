//===- TGraphDialect.h - The tgraph dialect ---------------------*- C++ -*-===//

#ifndef TESSERA_DIALECTS_TGRAPH_TGRAPHDIALECT_H
#define TESSERA_DIALECTS_TGRAPH_TGRAPHDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/tgraph/TGraphDialect.h.inc"

#define GET_OP_CLASSES
#include "dialects/tgraph/TGraphOps.h.inc"

namespace tessera::tgraph {

/// Splits an einsum spec "ab,bc->ac" into its inputs and output; false
/// (with `error` set) when it is malformed.
bool parseContractSpec(llvm::StringRef spec, llvm::SmallVectorImpl<std::string> &inputs,
                       std::string &output, std::string &error);

} // namespace tessera::tgraph

#endif // TESSERA_DIALECTS_TGRAPH_TGRAPHDIALECT_H
