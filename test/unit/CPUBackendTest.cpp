//===- CPUBackendTest.cpp - The CPU backend through its C++ API -----------===//
//
// Compiles tile IR to an object, loads it and runs grids on fresh random
// data, checked against double-precision references computed here.
//
//===----------------------------------------------------------------------===//

#include "tessera/CPUBackend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace {

// z[i] = x[i] * y[i] + 1 over blocks of 64, masked by n.
const char *kScaleAdd = R"(
func.func @fma_kernel(%x: !tile.ptr<f32>, %y: !tile.ptr<f32>, %z: !tile.ptr<f32>, %n: i32) {
  %pid = tile.program_id x : i32
  %c64 = arith.constant 64 : i32
  %base = arith.muli %pid, %c64 : i32
  %r = tile.make_range 0 to 64 : tensor<64xi32>
  %b = tile.splat %base : i32 -> tensor<64xi32>
  %offs = arith.addi %b, %r : tensor<64xi32>
  %ns = tile.splat %n : i32 -> tensor<64xi32>
  %m = arith.cmpi slt, %offs, %ns : tensor<64xi32>
  %xs = tile.splat %x : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %xp = tile.addptr %xs, %offs : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  %ys = tile.splat %y : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %yp = tile.addptr %ys, %offs : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  %zs = tile.splat %z : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %zp = tile.addptr %zs, %offs : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  %a = tile.load %xp, %m : tensor<64x!tile.ptr<f32>>
  %c = tile.load %yp, %m : tensor<64x!tile.ptr<f32>>
  %one = arith.constant dense<1.0> : tensor<64xf32>
  %p = arith.mulf %a, %c : tensor<64xf32>
  %s = arith.addf %p, %one : tensor<64xf32>
  tile.store %zp, %s, %m : tensor<64x!tile.ptr<f32>>
  return
}
)";

// Each program (x, y) sums row y of a 16-wide int32 matrix into out[y], and
// every program adds 1 to a shared counter.
const char *kRowSums = R"(
func.func @row_sums(%m: !tile.ptr<i32>, %out: !tile.ptr<i32>, %count: !tile.ptr<i32>) {
  %row = tile.program_id y : i32
  %c16 = arith.constant 16 : i32
  %base = arith.muli %row, %c16 : i32
  %r = tile.make_range 0 to 16 : tensor<16xi32>
  %b = tile.splat %base : i32 -> tensor<16xi32>
  %offs = arith.addi %b, %r : tensor<16xi32>
  %ms = tile.splat %m : !tile.ptr<i32> -> tensor<16x!tile.ptr<i32>>
  %p = tile.addptr %ms, %offs : tensor<16x!tile.ptr<i32>>, tensor<16xi32>
  %v = tile.load %p : tensor<16x!tile.ptr<i32>>
  %s = tile.reduce(%v) axis = 0 : (tensor<16xi32>) -> i32 {
  ^bb0(%a: i32, %c: i32):
    %t = arith.addi %a, %c : i32
    tile.reduce.return %t : i32
  }
  %o = tile.addptr %out, %row : !tile.ptr<i32>, i32
  tile.store %o, %s : !tile.ptr<i32>
  %one = arith.constant 1 : i32
  %old = tile.atomic_rmw add, acq_rel, gpu, %count, %one : !tile.ptr<i32>
  return
}
)";

int64_t address(const void *p) { return reinterpret_cast<int64_t>(p); }

TEST(CPUBackendTest, CompilesLoadsAndRunsAMaskedKernel) {
  auto compiled = tessera::cpu::compile(kScaleAdd, "scale_add.mlir", false);
  ASSERT_TRUE(compiled.ok) << compiled.diagnostics;
  EXPECT_FALSE(compiled.object.empty());
  std::string error;
  auto kernel =
      tessera::cpu::Kernel::load(compiled.object, "fma_kernel", error);
  ASSERT_TRUE(kernel) << error;

  std::mt19937 gen(std::random_device{}());
  std::normal_distribution<float> dist;
  for (int n : {1, 63, 64, 1000}) {
    std::vector<float> x(n), y(n), z(n + 1, -5.0f);
    for (int i = 0; i < n; ++i) {
      x[i] = dist(gen);
      y[i] = dist(gen);
    }
    uint32_t grid[3] = {static_cast<uint32_t>((n + 63) / 64), 1, 1};
    kernel->launch(grid, {address(x.data()), address(y.data()),
                          address(z.data()), n},
                   0);
    for (int i = 0; i < n; ++i)
      EXPECT_NEAR(z[i], double(x[i]) * y[i] + 1.0, 1e-5) << "i=" << i;
    EXPECT_EQ(z[n], -5.0f) << "the mask must keep the store in bounds";
  }
}

TEST(CPUBackendTest, GridReductionsAndAtomicsOnThreads) {
  auto compiled = tessera::cpu::compile(kRowSums, "row_sums.mlir", false);
  ASSERT_TRUE(compiled.ok) << compiled.diagnostics;
  std::string error;
  auto kernel = tessera::cpu::Kernel::load(compiled.object, "row_sums", error);
  ASSERT_TRUE(kernel) << error;

  const int rows = 37;
  std::mt19937 gen(std::random_device{}());
  std::uniform_int_distribution<int32_t> dist(-1000, 1000);
  std::vector<int32_t> m(rows * 16), out(rows, 0);
  for (int32_t &v : m)
    v = dist(gen);
  int32_t count = 0;
  uint32_t grid[3] = {3, rows, 1};
  kernel->launch(grid, {address(m.data()), address(out.data()), address(&count)},
                 4);
  for (int r = 0; r < rows; ++r) {
    int64_t expected = 0;
    for (int c = 0; c < 16; ++c)
      expected += m[r * 16 + c];
    EXPECT_EQ(out[r], expected) << "row " << r;
  }
  EXPECT_EQ(count, 3 * rows);
}

TEST(CPUBackendTest, FailuresComeBackAsLocatedDiagnostics) {
  auto compiled = tessera::cpu::compile(
      "func.func @k(%p: !tile.ptr<f8E4M3FN>) {\n  %x = tile.load %p : !tile.ptr<f8E4M3FN>\n"
      "  tile.store %p, %x : !tile.ptr<f8E4M3FN>\n  return\n}\n",
      "fp8.mlir", false);
  EXPECT_FALSE(compiled.ok);
  EXPECT_NE(compiled.diagnostics.find("fp8.mlir:2:8: error: 'tile.load' op on fp8 values "
                                      "needs the NVIDIA backend"),
            std::string::npos)
      << compiled.diagnostics;
}

TEST(CPUBackendTest, DumpsEveryStage) {
  auto compiled = tessera::cpu::compile(kScaleAdd, "scale_add.mlir", true);
  ASSERT_TRUE(compiled.ok) << compiled.diagnostics;
  ASSERT_EQ(compiled.dumps.size(), tessera::cpu::stages().size() + 1);
  for (size_t i = 0; i < tessera::cpu::stages().size(); ++i)
    EXPECT_EQ(compiled.dumps[i].first, tessera::cpu::stages()[i].name);
  EXPECT_NE(compiled.dumps.back().second.find("fma_kernel__entry"),
            std::string::npos);
}

TEST(CPUBackendTest, LoadRejectsAMissingEntry) {
  auto compiled = tessera::cpu::compile(kScaleAdd, "scale_add.mlir", false);
  ASSERT_TRUE(compiled.ok);
  std::string error;
  auto kernel =
      tessera::cpu::Kernel::load(compiled.object, "no_such_kernel", error);
  EXPECT_FALSE(kernel);
  EXPECT_NE(error.find("no_such_kernel__entry"), std::string::npos) << error;
}

} // namespace
