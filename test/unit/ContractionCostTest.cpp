//===- ContractionCostTest.cpp - The contraction cost model ---------------===//
//
// The cost model reproduces the MLA note's FLOP formulas
// (../shared/seeds/004_9a52ab3c2c06f466.txt) exactly, and the optimum picks
// what the note's measurements say: order 1 for prefill, order 2 for
// decode, never order 3.
//
//===----------------------------------------------------------------------===//

#include "passes/ContractionCost.h"

#include <gtest/gtest.h>

using namespace tessera::contraction;

namespace {

// DeepSeek-V3: h heads, d = qk_nope_head_dim, q = q_lora_rank,
// k = kv_lora_rank, v = v_head_dim, e = hidden size.
Sizes mla(int64_t b, int64_t s, int64_t t) {
  return {{'b', b}, {'s', s}, {'t', t}, {'h', 128}, {'d', 128},
          {'q', 1536}, {'k', 512}, {'v', 128}, {'e', 7168}};
}

// scores = (W_UQ c_Q)^T (W_UK c_KV): c_Q (b,s,q), W_UQ (h,d,q), c_KV (b,t,k),
// W_UK (h,d,k) -> (b,h,s,t).
const Einsum kScores{{"bsq", "hdq", "btk", "hdk"}, "bhst", {false, true, false, true}};
const Plan kScores1{{{0, 1}, {0, 1}, {0, 1}}}; // (W_UQ c_Q)^T (W_UK c_KV)
const Plan kScores2{{{0, 1}, {1, 2}, {0, 1}}}; // [(W_UQ c_Q)^T W_UK] c_KV
const Plan kScores3{{{1, 3}, {0, 2}, {0, 1}}}; // c_Q^T (W_UQ^T W_UK) c_KV

// out = W_O [score (W_UV c_KV)]: score (b,h,s,t), c_KV (b,t,k), W_UV (h,v,k),
// W_O (e,h,v) -> (b,s,e).
const Einsum kOutput{{"bhst", "btk", "hvk", "ehv"}, "bse", {false, false, true, true}};
const Plan kOutput1{{{1, 2}, {0, 2}, {0, 1}}}; // W_O [score (W_UV c_KV)]
const Plan kOutput2{{{0, 1}, {0, 2}, {0, 1}}}; // W_O [W_UV (score c_KV)]
const Plan kOutput3{{{2, 3}, {0, 1}, {0, 1}}}; // (W_O W_UV)(score c_KV)

double scoresFormula(int order, double b, double s, double t) {
  double h = 128, d = 128, q = 1536, k = 512;
  if (order == 1)
    return 2 * b * s * h * d * q + 2 * b * t * h * d * k + 2 * b * h * s * t * d;
  if (order == 2)
    return 2 * b * s * h * d * q + 2 * b * s * h * k * d + 2 * b * h * s * t * k;
  return 2 * h * q * k * d + 2 * b * s * h * k * q + 2 * b * h * s * t * k;
}

double outputFormula(int order, double b, double s, double t) {
  double h = 128, k = 512, v = 128, e = 7168;
  if (order == 1)
    return 2 * b * t * h * v * k + 2 * b * h * s * v * t + 2 * b * h * s * e * v;
  if (order == 2)
    return 2 * b * h * s * k * t + 2 * b * h * s * v * k + 2 * b * h * s * e * v;
  return 2 * h * k * e * v + 2 * b * h * s * k * t + 2 * b * h * s * e * k;
}

TEST(ContractionCostTest, StepsNameTheIntermediates) {
  std::vector<Step> steps = stepsOf(kScores, kScores2);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].out, "bshd");
  EXPECT_EQ(steps[1].lhs, "hdk");
  EXPECT_EQ(steps[1].rhs, "bshd");
  EXPECT_EQ(steps[1].out, "hkbs");
  EXPECT_EQ(steps[2].out, "bhst");
  std::vector<Step> three = stepsOf(kScores, kScores3);
  EXPECT_EQ(three[0].out, "hqk");
  EXPECT_TRUE(three[0].weightsOnly);
  EXPECT_FALSE(three[1].weightsOnly);
}

TEST(ContractionCostTest, ReproducesTheMlaNotesFormulas) {
  for (int64_t b : {1, 2, 32, 128})
    for (int64_t s : {1, 7, 512, 2048})
      for (int64_t t : {1, 100, 4096, 32768}) {
        Sizes z = mla(b, s, t);
        EXPECT_EQ(totalFlops(kScores, kScores1, z), scoresFormula(1, b, s, t));
        EXPECT_EQ(totalFlops(kScores, kScores2, z), scoresFormula(2, b, s, t));
        EXPECT_EQ(totalFlops(kScores, kScores3, z), scoresFormula(3, b, s, t));
        EXPECT_EQ(totalFlops(kOutput, kOutput1, z), outputFormula(1, b, s, t));
        EXPECT_EQ(totalFlops(kOutput, kOutput2, z), outputFormula(2, b, s, t));
        EXPECT_EQ(totalFlops(kOutput, kOutput3, z), outputFormula(3, b, s, t));
        // order 2 - order 3, exactly as the note has them.
        double bs = double(b) * double(s);
        EXPECT_EQ(totalFlops(kScores, kScores2, z) - totalFlops(kScores, kScores3, z),
                  -134217728.0 * bs - 25769803776.0);
        EXPECT_EQ(totalFlops(kOutput, kOutput2, z) - totalFlops(kOutput, kOutput3, z),
                  -687865856.0 * bs - 120259084288.0);
      }
  // b = 1: prefill (t = s) order 1 - order 2 = -98304 s^2; decode (s = 1)
  // 16678912 t - 16777216.
  for (int64_t s : {1, 64, 2048, 8192}) {
    Sizes z = mla(1, s, s);
    EXPECT_EQ(totalFlops(kScores, kScores1, z) - totalFlops(kScores, kScores2, z),
              -98304.0 * double(s) * double(s));
  }
  for (int64_t t : {1, 2, 4096, 32768}) {
    Sizes z = mla(1, 1, t);
    EXPECT_EQ(totalFlops(kScores, kScores1, z) - totalFlops(kScores, kScores2, z),
              16678912.0 * double(t) - 16777216.0);
  }
}

TEST(ContractionCostTest, OptimumFollowsThePhase) {
  Machine m;
  auto same = [](const Plan &a, const Plan &b) { return a.pairs == b.pairs; };
  // Prefill: order 1 for scores and output; decode: order 2; never order 3.
  for (int64_t s : {512, 1024, 2048, 4096, 8192}) {
    Sizes z = mla(1, s, s);
    EXPECT_TRUE(same(optimalPlan(kScores, z, m), kScores1)) << s << ": "
                                                            << describe(kScores, optimalPlan(kScores, z, m));
    EXPECT_TRUE(same(optimalPlan(kOutput, z, m), kOutput1)) << s;
  }
  for (int64_t b : {1, 32, 128})
    for (int64_t t : {1024, 4096, 32768}) {
      Sizes z = mla(b, 1, t);
      EXPECT_TRUE(same(optimalPlan(kScores, z, m), kScores2))
          << b << " " << t << ": " << describe(kScores, optimalPlan(kScores, z, m));
      EXPECT_TRUE(same(optimalPlan(kOutput, z, m), kOutput2))
          << b << " " << t << ": " << describe(kOutput, optimalPlan(kOutput, z, m));
    }
}

TEST(ContractionCostTest, MatrixChain) {
  // A (m,n) B (n,p) C (p,q): (AB)C costs 2mnp + 2mpq, A(BC) 2npq + 2mnq.
  Einsum chain{{"mn", "np", "pq"}, "mq", {false, false, false}};
  Machine m;
  m.peakBytes = 1e30; // FLOPs only
  Sizes wide{{'m', 10}, {'n', 1000}, {'p', 10}, {'q', 1000}};
  Plan best = optimalPlan(chain, wide, m);
  EXPECT_EQ(best.pairs, (std::vector<std::pair<int, int>>{{0, 1}, {0, 1}})); // (AB)C
  EXPECT_EQ(totalFlops(chain, best, wide), 2.0 * 10 * 1000 * 10 + 2.0 * 10 * 10 * 1000);
  Sizes tall{{'m', 1000}, {'n', 10}, {'p', 1000}, {'q', 10}};
  best = optimalPlan(chain, tall, m);
  EXPECT_EQ(best.pairs, (std::vector<std::pair<int, int>>{{1, 2}, {0, 1}})); // A(BC)
  EXPECT_EQ(describe(chain, best), "(mn (np pq))");
}

} // namespace
