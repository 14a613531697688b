//===- ContractionCost.h - Orders of einsum chains and their cost -*- C++ -*-===//
//
// The cost model of `tgraph-reorder-contractions`, free of MLIR: an einsum
// over named indices, an order of pairwise products (a path, as
// opt_einsum's), its FLOPs (2 x the product of the sizes of every index a
// pairwise product touches: 2 M N K for a matrix product, the convention of
// the MLA note) and bytes moved, a roofline time per product, and the exact
// optimum by dynamic programming over subsets of operands.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_PASSES_CONTRACTIONCOST_H
#define TESSERA_PASSES_CONTRACTIONCOST_H

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tessera::contraction {

/// An einsum: one index string per operand, the result's, which operands
/// are weights (constant across calls).
struct Einsum {
  std::vector<std::string> inputs;
  std::string output;
  std::vector<bool> weight;
};

/// Concrete sizes per index letter.
using Sizes = std::map<char, int64_t>;

/// How time is estimated: each pairwise product takes
/// max(FLOPs / peakFlops, bytes / peakBytes); products of weights alone are
/// computed once ahead of time (when `precomputeWeights`) and charged the
/// time to read their result once.
struct Machine {
  double peakFlops = 989e12; // H200 dense bf16
  double peakBytes = 4.8e12; // H200 HBM3e
  int64_t elementBytes = 2;
  bool precomputeWeights = true;
};

/// One pairwise product of a plan: the operands' and result's indices.
struct Step {
  std::string lhs, rhs, out;
  bool weightsOnly = false; // both sides are products of weights alone
};

/// An evaluation order: `pairs` are positions in the operand list as it
/// shrinks (opt_einsum's path: the two operands at (i, j), i < j, are
/// removed and their product appended at the end).
struct Plan {
  std::vector<std::pair<int, int>> pairs;
};

/// The products `plan` performs, in order. The last one produces `e.output`
/// (with a final transpose of its indices when they are ordered differently).
std::vector<Step> stepsOf(const Einsum &e, const Plan &plan);

/// 2 x the product of the sizes of the indices of `step`'s two operands.
double flopsOf(const Step &step, const Sizes &sizes);
/// Elements of an index string's tensor.
double elementsOf(const std::string &indices, const Sizes &sizes);
/// Bytes a product reads and writes.
double bytesOf(const Step &step, const Sizes &sizes, const Machine &machine);

/// FLOPs of every product of `plan` (weights' products included).
double totalFlops(const Einsum &e, const Plan &plan, const Sizes &sizes);
/// The roofline time of `plan`, in seconds.
double timeOf(const Einsum &e, const Plan &plan, const Sizes &sizes, const Machine &machine);

/// The plan of least time (ties: fewer FLOPs), by dynamic programming over
/// subsets of the operands (at most 16).
Plan optimalPlan(const Einsum &e, const Sizes &sizes, const Machine &machine);

/// "((0,1),(2,3))"-style text of a plan, naming operands by position.
std::string describe(const Einsum &e, const Plan &plan);

} // namespace tessera::contraction

#endif // TESSERA_PASSES_CONTRACTIONCOST_H
