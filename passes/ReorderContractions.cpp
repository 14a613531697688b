//===- ReorderContractions.cpp - tgraph-reorder-contractions --------------===//
//
// n-ary tgraph.contract -> binary contracts in the order of least cost (see
// Passes.td and ContractionCost.h); with dynamic sizes, the orders that win
// somewhere behind a runtime guard on the sizes.
//
//===----------------------------------------------------------------------===//

#include "passes/ContractionCost.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/Support/FormatVariadic.h"

#include <set>

namespace tessera {
#define GEN_PASS_DEF_TGRAPHREORDERCONTRACTIONS
#include "passes/Passes.h.inc"
} // namespace tessera

using namespace mlir;
using namespace tessera::contraction;
using tessera::tgraph::ContractOp;

namespace {

/// A plan's tree with each product's two sides sorted: the same for
/// orders that differ only by commuting a product.
std::string canonical(const Einsum &e, const Plan &plan) {
  std::vector<std::string> names(e.inputs.begin(), e.inputs.end());
  for (auto [i, j] : plan.pairs) {
    std::string x = names[i], y = names[j];
    std::string node = "(" + std::min(x, y) + " " + std::max(x, y) + ")";
    names.erase(names.begin() + j);
    names.erase(names.begin() + i);
    names.push_back(node);
  }
  return names.back();
}

/// Every distinct order (tree) of `e`'s products, for the cost table.
void allPlans(const Einsum &e, size_t n, Plan &current, std::set<std::string> &seen,
              std::vector<Plan> &out) {
  if (n == 1) {
    if (seen.insert(canonical(e, current)).second)
      out.push_back(current);
    return;
  }
  for (int i = 0; i < int(n); ++i)
    for (int j = i + 1; j < int(n); ++j) {
      current.pairs.push_back({i, j});
      allPlans(e, n - 1, current, seen, out);
      current.pairs.pop_back();
    }
}

struct ReorderContractionsPass
    : tessera::impl::TGraphReorderContractionsBase<ReorderContractionsPass> {
  using TGraphReorderContractionsBase::TGraphReorderContractionsBase;

  Machine machine() const {
    Machine m;
    m.peakFlops = peakTflops * 1e12;
    m.peakBytes = peakTbps * 1e12;
    m.precomputeWeights = precomputeWeights;
    return m;
  }

  /// Chains: a contract whose operand is the only use of another contract
  /// becomes one n-ary contract (the inner one's letters renamed into the
  /// outer one's: its result's letters to the outer operand's, its summed
  /// letters to fresh ones), so the whole chain is ordered at once.
  void mergeChains() {
    bool changed = true;
    while (changed) {
      changed = false;
      getOperation()->walk([&](ContractOp outer) {
        if (changed)
          return;
        SmallVector<std::string> outIn = outer.getInputIndices();
        for (auto [k, operand] : llvm::enumerate(outer.getOperands())) {
          auto inner = operand.getDefiningOp<ContractOp>();
          if (!inner || !operand.hasOneUse() ||
              outIn.size() + inner.getOperands().size() - 1 > 16)
            continue;
          SmallVector<std::string> inIn = inner.getInputIndices();
          std::string inOut = inner.getOutputIndices();
          std::set<char> used;
          for (auto &x : outIn)
            used.insert(x.begin(), x.end());
          std::map<char, char> rename;
          for (size_t d = 0; d < inOut.size(); ++d)
            rename[inOut[d]] = outIn[k][d];
          char next = 'a';
          bool ok = true;
          for (auto &x : inIn)
            for (char c : x) {
              if (rename.count(c))
                continue;
              while (next <= 'z' && (used.count(next) || rename.count(next) ||
                                     llvm::any_of(rename, [&](auto &p) { return p.second == next; })))
                ++next;
              if (next > 'z') {
                ok = false;
                break;
              }
              rename[c] = next++;
            }
          if (!ok)
            continue;
          SmallVector<std::string> inputs;
          SmallVector<Value> operands;
          SmallVector<bool> weights;
          for (auto [i, v] : llvm::enumerate(outer.getOperands())) {
            if (i != k) {
              inputs.push_back(outIn[i]);
              operands.push_back(v);
              weights.push_back(outer.isWeight(i));
              continue;
            }
            for (auto [j, w] : llvm::enumerate(inner.getOperands())) {
              std::string x;
              for (char c : inIn[j])
                x += rename[c];
              inputs.push_back(x);
              operands.push_back(w);
              weights.push_back(inner.isWeight(j));
            }
          }
          // Keep what the ordering can take: at most 4 dynamic sizes.
          std::set<char> dynamicLetters;
          for (auto [i, v] : llvm::enumerate(operands)) {
            auto t = cast<RankedTensorType>(v.getType());
            for (int64_t d = 0; d < t.getRank(); ++d)
              if (ShapedType::isDynamic(t.getDimSize(d)))
                dynamicLetters.insert(inputs[i][d]);
          }
          if (dynamicLetters.size() > 4)
            continue;
          std::string spec = llvm::join(inputs, ",") + "->" + outer.getOutputIndices();
          OpBuilder b(outer);
          auto merged = ContractOp::create(b, outer.getLoc(), outer.getType(),
                                           b.getStringAttr(spec), operands,
                                           b.getDenseBoolArrayAttr(weights));
          outer.replaceAllUsesWith(merged.getResult());
          outer.erase();
          inner.erase();
          changed = true;
          return;
        }
      });
    }
  }

  void runOnOperation() override {
    if (!(peakTflops > 0 && peakTflops < 1e30) || !(peakTbps > 0 && peakTbps < 1e30)) {
      getOperation()->emitError("tgraph-reorder-contractions: peak-tflops and peak-tbps must be "
                                "positive and finite");
      return signalPassFailure();
    }
    mergeChains();
    SmallVector<ContractOp> ops;
    getOperation()->walk([&](ContractOp op) {
      if (op.getOperands().size() > 2)
        ops.push_back(op);
    });
    for (ContractOp op : ops)
      if (failed(reorder(op)))
        return signalPassFailure();
  }

  /// `e`, the static sizes, and the dynamic letters with where to read them.
  struct Problem {
    Einsum e;
    Sizes known;
    std::map<char, std::pair<unsigned, unsigned>> dynamic; // letter -> (operand, dim)
    Type elem;
  };

  Problem problemOf(ContractOp op) {
    Problem p;
    SmallVector<std::string> inputs = op.getInputIndices();
    p.e.inputs.assign(inputs.begin(), inputs.end());
    p.e.output = op.getOutputIndices();
    for (unsigned i = 0; i < inputs.size(); ++i)
      p.e.weight.push_back(op.isWeight(i));
    for (auto [i, v] : llvm::enumerate(op.getOperands())) {
      auto t = cast<RankedTensorType>(v.getType());
      p.elem = t.getElementType();
      for (unsigned d = 0; d < t.getRank(); ++d) {
        char c = inputs[i][d];
        if (ShapedType::isDynamic(t.getDimSize(d)))
          p.dynamic.emplace(c, std::make_pair(unsigned(i), d));
        else
          p.known[c] = t.getDimSize(d);
      }
    }
    for (auto it = p.dynamic.begin(); it != p.dynamic.end();)
      it = p.known.count(it->first) ? p.dynamic.erase(it) : std::next(it);
    return p;
  }

  /// The binary contracts of `plan` at `b`, from `operands`.
  Value emit(OpBuilder &b, Location loc, const Problem &p, const Plan &plan,
             SmallVector<Value> operands, Type resultType) {
    std::vector<Step> steps = stepsOf(p.e, plan);
    SmallVector<bool> weight(p.e.weight.begin(), p.e.weight.end());
    for (auto [k, pair] : llvm::enumerate(plan.pairs)) {
      auto [i, j] = pair;
      const Step &s = steps[k];
      Type type = resultType;
      if (k + 1 < steps.size()) {
        SmallVector<int64_t> shape;
        for (char c : s.out)
          shape.push_back(p.known.count(c) ? p.known.at(c) : ShapedType::kDynamic);
        type = RankedTensorType::get(shape, p.elem);
      }
      bool w = weight[i] && weight[j];
      Value r = ContractOp::create(b, loc, type, b.getStringAttr(s.lhs + "," + s.rhs + "->" + s.out),
                                   ValueRange{operands[i], operands[j]},
                                   b.getDenseBoolArrayAttr({bool(weight[i]), bool(weight[j])}));
      operands.erase(operands.begin() + j);
      operands.erase(operands.begin() + i);
      operands.push_back(r);
      weight.erase(weight.begin() + j);
      weight.erase(weight.begin() + i);
      weight.push_back(w);
    }
    return operands.back();
  }

  std::string row(const Problem &p, const Plan &plan, const Sizes &sizes, const Machine &m) {
    double bytes = 0;
    for (const Step &s : stepsOf(p.e, plan))
      bytes += bytesOf(s, sizes, m);
    return llvm::formatv("  {0}: {1:e3} FLOPs, {2:e3} bytes, {3:f3} us", describe(p.e, plan),
                         totalFlops(p.e, plan, sizes), bytes, timeOf(p.e, plan, sizes, m) * 1e6)
        .str();
  }

  LogicalResult reorder(ContractOp op) {
    Problem p = problemOf(op);
    Machine m = machine();
    OpBuilder b(op);
    Location loc = op.getLoc();
    if (p.e.inputs.size() > 16)
      return op.emitOpError("reorders at most 16 operands");
    if (p.dynamic.empty()) {
      Plan best = optimalPlan(p.e, p.known, m);
      if (printCosts) {
        std::string table = "orders by estimated time (chosen: " + describe(p.e, best) + ")";
        if (p.e.inputs.size() <= 6) {
          std::vector<Plan> plans;
          std::set<std::string> seen;
          Plan current;
          allPlans(p.e, p.e.inputs.size(), current, seen, plans);
          std::stable_sort(plans.begin(), plans.end(), [&](const Plan &x, const Plan &y) {
            return timeOf(p.e, x, p.known, m) < timeOf(p.e, y, p.known, m);
          });
          for (const Plan &plan : plans)
            table += "\n" + row(p, plan, p.known, m);
        } else {
          table += "\n" + row(p, best, p.known, m);
        }
        op.emitRemark(table);
      }
      Value r = emit(b, loc, p, best, SmallVector<Value>(op.getOperands()), op.getType());
      op.replaceAllUsesWith(r);
      op.erase();
      return success();
    }

    // Dynamic sizes: the orders that are best somewhere on a grid of powers
    // of two, in order of first appearance.
    std::vector<char> letters;
    for (auto &[c, where] : p.dynamic)
      letters.push_back(c);
    if (letters.size() > 4)
      return op.emitOpError("reorders with at most 4 dynamic sizes, got ") << letters.size();
    std::vector<Plan> candidates;
    std::vector<std::string> names;
    std::vector<std::vector<std::string>> winsAt;
    std::vector<int64_t> grid;
    for (int64_t v = 1; v <= (int64_t(1) << 16); v *= 2)
      grid.push_back(v);
    std::vector<size_t> at(letters.size(), 0);
    while (true) {
      Sizes sizes = p.known;
      std::string where;
      for (size_t i = 0; i < letters.size(); ++i) {
        sizes[letters[i]] = grid[at[i]];
        where += std::string(i ? " " : "") + letters[i] + "=" + std::to_string(grid[at[i]]);
      }
      Plan best = optimalPlan(p.e, sizes, m);
      std::string name = describe(p.e, best);
      auto it = std::find(names.begin(), names.end(), name);
      if (it == names.end()) {
        names.push_back(name);
        candidates.push_back(best);
        winsAt.push_back({});
        it = names.end() - 1;
      }
      if (winsAt[it - names.begin()].size() < 3)
        winsAt[it - names.begin()].push_back(where);
      size_t i = 0;
      while (i < at.size() && ++at[i] == grid.size())
        at[i++] = 0;
      if (i == at.size())
        break;
    }
    if (printCosts) {
      std::string table = std::to_string(candidates.size()) + " orders are best for some sizes:";
      for (size_t c = 0; c < candidates.size(); ++c) {
        table += "\n  " + names[c] + " (e.g. at";
        for (auto &w : winsAt[c])
          table += " [" + w + "]";
        table += ")";
      }
      op.emitRemark(table);
    }
    SmallVector<Value> operands(op.getOperands());
    if (candidates.size() == 1) {
      Value r = emit(b, loc, p, candidates[0], operands, op.getType());
      op.replaceAllUsesWith(r);
      op.erase();
      return success();
    }
    // The guard: each candidate's time on the actual sizes; the cheapest.
    auto f64 = b.getF64Type();
    std::map<char, Value> sizeOf;
    for (auto &[c, where] : p.dynamic) {
      Value dim = tensor::DimOp::create(b, loc, operands[where.first], int64_t(where.second));
      Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), dim);
      sizeOf[c] = arith::SIToFPOp::create(b, loc, f64, i64);
    }
    auto constant = [&](double v) -> Value {
      return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v));
    };
    auto product = [&](const std::string &indices, double factor) -> Value {
      double k = factor;
      Value v;
      for (char c : indices) {
        if (p.known.count(c)) {
          k *= double(p.known.at(c));
          continue;
        }
        v = v ? Value(arith::MulFOp::create(b, loc, v, sizeOf[c])) : sizeOf[c];
      }
      return v ? Value(arith::MulFOp::create(b, loc, v, constant(k))) : constant(k);
    };
    auto unionOf = [](const std::string &x, const std::string &y) {
      std::string u = x;
      for (char c : y)
        if (u.find(c) == std::string::npos)
          u += c;
      return u;
    };
    SmallVector<Value> costs;
    for (const Plan &plan : candidates) {
      Value total = constant(0);
      for (const Step &s : stepsOf(p.e, plan)) {
        Value bytes = arith::AddFOp::create(
            b, loc,
            arith::AddFOp::create(b, loc, product(s.lhs, double(m.elementBytes) / m.peakBytes),
                                  product(s.rhs, double(m.elementBytes) / m.peakBytes)),
            product(s.out, double(m.elementBytes) / m.peakBytes));
        Value t;
        if (s.weightsOnly && m.precomputeWeights)
          t = product(s.out, double(m.elementBytes) / m.peakBytes);
        else
          t = arith::MaximumFOp::create(b, loc, product(unionOf(s.lhs, s.rhs), 2 / m.peakFlops),
                                        bytes);
        total = arith::AddFOp::create(b, loc, total, t);
      }
      costs.push_back(total);
    }
    Value bestIndex = arith::ConstantIndexOp::create(b, loc, 0);
    Value bestCost = costs[0];
    for (size_t c = 1; c < costs.size(); ++c) {
      Value lower = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, costs[c], bestCost);
      bestIndex = arith::SelectOp::create(b, loc, lower, arith::ConstantIndexOp::create(b, loc, c),
                                          bestIndex);
      bestCost = arith::SelectOp::create(b, loc, lower, costs[c], bestCost);
    }
    SmallVector<int64_t> cases;
    for (size_t c = 1; c < candidates.size(); ++c)
      cases.push_back(int64_t(c));
    auto sw = scf::IndexSwitchOp::create(b, loc, TypeRange{op.getType()}, bestIndex, cases,
                                         cases.size());
    auto fill = [&](Region &region, const Plan &plan) {
      Block *block = b.createBlock(&region);
      b.setInsertionPointToStart(block);
      Value r = emit(b, loc, p, plan, operands, op.getType());
      scf::YieldOp::create(b, loc, r);
    };
    fill(sw.getDefaultRegion(), candidates[0]);
    for (size_t c = 1; c < candidates.size(); ++c)
      fill(sw.getCaseRegions()[c - 1], candidates[c]);
    op.replaceAllUsesWith(sw.getResult(0));
    op.erase();
    return success();
  }
};

} // namespace
