//===- AxisInfo.h - Contiguity, divisibility, constancy ---------*- C++ -*-===//
//
// What is known about the values of a tensor along its layout's fastest
// dimension, for the GPU lowering to use 16-byte memory accesses:
//   contiguity  c: in aligned groups of c elements, values step by one (for
//                  pointers: consecutive elements in memory);
//   divisibility d: the first value of each group is a multiple of d (for
//                  pointers: its address, in bytes);
//   constancy   k: in aligned groups of k elements, values are equal.
// All three are powers of two. Scalars carry divisibility only.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_PASSES_AXISINFO_H
#define TESSERA_PASSES_AXISINFO_H

#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"

namespace tessera {

struct AxisInfo {
  int64_t contiguity = 1;
  int64_t divisibility = 1;
  int64_t constancy = 1;
};

/// Computes AxisInfo for every value of a function, in one forward walk;
/// values carried by scf.for loops reach a fixed point over the loop.
/// Values it cannot reason about (loads, while-loop values) get the
/// conservative {1, 1, 1}.
class AxisAnalysis {
public:
  explicit AxisAnalysis(mlir::Operation *function);
  AxisInfo get(mlir::Value value) const;

private:
  void visitBlock(mlir::Block &block);
  void visitOp(mlir::Operation *op);
  void visit(mlir::Operation *op);
  llvm::DenseMap<mlir::Value, AxisInfo> info;
};

} // namespace tessera

#endif // TESSERA_PASSES_AXISINFO_H
