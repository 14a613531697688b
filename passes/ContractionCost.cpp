//===- ContractionCost.cpp - Orders of einsum chains and their cost -------===//

#include "passes/ContractionCost.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <set>

using namespace tessera::contraction;

namespace {

/// The indices of the product of `a` and `b` that are still needed: those
/// in the other operands still to be multiplied or in the result, in order
/// of first appearance in a then b.
std::string keptIndices(const std::string &a, const std::string &b,
                        const std::vector<std::string> &others, const std::string &output) {
  std::string out;
  for (const std::string *s : {&a, &b})
    for (char c : *s) {
      if (out.find(c) != std::string::npos)
        continue;
      bool needed = output.find(c) != std::string::npos;
      for (const std::string &o : others)
        needed = needed || o.find(c) != std::string::npos;
      if (needed)
        out += c;
    }
  return out;
}

std::string unionOf(const std::string &a, const std::string &b) {
  std::string out = a;
  for (char c : b)
    if (out.find(c) == std::string::npos)
      out += c;
  return out;
}

} // namespace

std::vector<Step> tessera::contraction::stepsOf(const Einsum &e, const Plan &plan) {
  std::vector<std::string> ops = e.inputs;
  std::vector<bool> weightsOnly = e.weight;
  weightsOnly.resize(ops.size(), false);
  std::vector<Step> steps;
  for (size_t k = 0; k < plan.pairs.size(); ++k) {
    auto [i, j] = plan.pairs[k];
    assert(i < j && size_t(j) < ops.size());
    std::vector<std::string> others;
    for (size_t x = 0; x < ops.size(); ++x)
      if (int(x) != i && int(x) != j)
        others.push_back(ops[x]);
    bool last = k + 1 == plan.pairs.size();
    Step step{ops[i], ops[j],
              last ? e.output : keptIndices(ops[i], ops[j], others, e.output),
              weightsOnly[i] && weightsOnly[j]};
    steps.push_back(step);
    bool w = step.weightsOnly;
    ops.erase(ops.begin() + j);
    ops.erase(ops.begin() + i);
    weightsOnly.erase(weightsOnly.begin() + j);
    weightsOnly.erase(weightsOnly.begin() + i);
    ops.push_back(step.out);
    weightsOnly.push_back(w);
  }
  return steps;
}

double tessera::contraction::elementsOf(const std::string &indices, const Sizes &sizes) {
  double n = 1;
  for (char c : indices)
    n *= double(sizes.at(c));
  return n;
}

double tessera::contraction::flopsOf(const Step &step, const Sizes &sizes) {
  return 2 * elementsOf(unionOf(step.lhs, step.rhs), sizes);
}

double tessera::contraction::bytesOf(const Step &step, const Sizes &sizes, const Machine &machine) {
  return double(machine.elementBytes) *
         (elementsOf(step.lhs, sizes) + elementsOf(step.rhs, sizes) + elementsOf(step.out, sizes));
}

double tessera::contraction::totalFlops(const Einsum &e, const Plan &plan, const Sizes &sizes) {
  double flops = 0;
  for (const Step &s : stepsOf(e, plan))
    flops += flopsOf(s, sizes);
  return flops;
}

static double stepTime(const Step &s, const Sizes &sizes, const Machine &m) {
  if (s.weightsOnly && m.precomputeWeights) // computed once: read its result
    return double(m.elementBytes) * elementsOf(s.out, sizes) / m.peakBytes;
  return std::max(flopsOf(s, sizes) / m.peakFlops, bytesOf(s, sizes, m) / m.peakBytes);
}

double tessera::contraction::timeOf(const Einsum &e, const Plan &plan, const Sizes &sizes,
                                    const Machine &machine) {
  double t = 0;
  for (const Step &s : stepsOf(e, plan))
    t += stepTime(s, sizes, machine);
  return t;
}

Plan tessera::contraction::optimalPlan(const Einsum &e, const Sizes &sizes,
                                       const Machine &machine) {
  size_t n = e.inputs.size();
  assert(n >= 2 && n <= 16);
  unsigned full = (1u << n) - 1;
  // The indices a subset's product keeps, and whether it is weights only.
  std::vector<std::string> indices(full + 1);
  std::vector<bool> weights(full + 1, true);
  for (unsigned s = 1; s <= full; ++s) {
    std::string all;
    std::vector<std::string> others;
    for (size_t i = 0; i < n; ++i) {
      if (s & (1u << i)) {
        all = unionOf(all, e.inputs[i]);
        weights[s] = weights[s] && i < e.weight.size() && e.weight[i];
      } else {
        others.push_back(e.inputs[i]);
      }
    }
    std::string kept;
    for (char c : all) {
      bool needed = e.output.find(c) != std::string::npos;
      for (const std::string &o : others)
        needed = needed || o.find(c) != std::string::npos;
      if (needed)
        kept += c;
    }
    indices[s] = s == full ? e.output : kept;
    if ((s & (s - 1)) == 0) // one operand: its own indices
      for (size_t i = 0; i < n; ++i)
        if (s == (1u << i))
          indices[s] = e.inputs[i];
  }
  // best[s]: least (time, flops) to produce subset s, and its split.
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<std::pair<double, double>> best(full + 1, {inf, inf});
  std::vector<unsigned> split(full + 1, 0);
  for (size_t i = 0; i < n; ++i)
    best[1u << i] = {0, 0};
  for (unsigned s = 1; s <= full; ++s) {
    if ((s & (s - 1)) == 0)
      continue;
    // Each split {a, s \ a} once: a holds the lowest operand of s.
    unsigned low = s & -s;
    for (unsigned a = (s - 1) & s; a; a = (a - 1) & s) {
      if (!(a & low))
        continue;
      unsigned b = s ^ a;
      if (!b || best[a].first == inf || best[b].first == inf)
        continue;
      Step step{indices[a], indices[b], indices[s], weights[a] && weights[b]};
      double t = best[a].first + best[b].first + stepTime(step, sizes, machine);
      double f = best[a].second + best[b].second + flopsOf(step, sizes);
      if (t < best[s].first * (1 - 1e-12) ||
          (t <= best[s].first * (1 + 1e-12) && f < best[s].second)) {
        best[s] = {t, f};
        split[s] = a;
      }
    }
  }
  // The tree as a path: post-order, each product appended to the list.
  Plan plan;
  std::vector<unsigned> current; // the subset each list position holds
  for (size_t i = 0; i < n; ++i)
    current.push_back(1u << i);
  std::vector<unsigned> order;
  // Post-order of internal nodes.
  std::vector<std::pair<unsigned, bool>> work{{full, false}};
  while (!work.empty()) {
    auto [s, expanded] = work.back();
    work.pop_back();
    if ((s & (s - 1)) == 0)
      continue;
    if (expanded) {
      order.push_back(s);
      continue;
    }
    assert(split[s] && "no finite cost for a subset");
    if (!split[s]) // NaN costs: fall back to the first split
      split[s] = s & -s;
    work.push_back({s, true});
    work.push_back({s ^ split[s], false});
    work.push_back({split[s], false});
  }
  for (unsigned s : order) {
    unsigned a = split[s], b = s ^ a;
    int i = int(std::find(current.begin(), current.end(), a) - current.begin());
    int j = int(std::find(current.begin(), current.end(), b) - current.begin());
    if (i > j)
      std::swap(i, j);
    plan.pairs.push_back({i, j});
    current.erase(current.begin() + j);
    current.erase(current.begin() + i);
    current.push_back(s);
  }
  return plan;
}

std::string tessera::contraction::describe(const Einsum &e, const Plan &plan) {
  std::vector<std::string> names;
  for (size_t i = 0; i < e.inputs.size(); ++i)
    names.push_back(e.inputs[i]);
  for (auto [i, j] : plan.pairs) {
    std::string node = "(" + names[i] + " " + names[j] + ")";
    names.erase(names.begin() + j);
    names.erase(names.begin() + i);
    names.push_back(node);
  }
  return names.empty() ? "" : names.back();
}
