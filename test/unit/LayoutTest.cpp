//===- LayoutTest.cpp - Blocked layout arithmetic -------------------------===//

#include "dialects/tilegpu/TileGPUDialect.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using tessera::tilegpu::BlockedEncodingAttr;

namespace {

class LayoutTest : public ::testing::Test {
protected:
  LayoutTest() { context.loadDialect<tessera::tilegpu::TileGPUDialect>(); }
  MLIRContext context;
};

TEST_F(LayoutTest, DefaultLayoutCoversTheBlockOnce) {
  // For every power-of-two shape and warp count, the layout uses all 32
  // lanes and all warps, and each thread holds numel / threads elements
  // when the shape is at least as large as the block's tile.
  for (unsigned warps : {1u, 2u, 4u, 8u})
    for (int64_t rows : {1, 4, 16, 64, 256})
      for (int64_t cols : {1, 8, 32, 128, 1024}) {
        SmallVector<int64_t> shape = {rows, cols};
        auto l = BlockedEncodingAttr::getDefault(&context, shape, warps);
        EXPECT_EQ(l.getNumWarps(), warps);
        unsigned lanes = l.getThreadsPerWarp()[0] * l.getThreadsPerWarp()[1];
        EXPECT_EQ(lanes, 32u);
        SmallVector<int64_t> tile = l.getShapePerCTA();
        if (tile[0] <= rows && tile[1] <= cols) {
          EXPECT_EQ(l.getTotalElemsPerThread(shape), rows * cols / (32 * warps))
              << rows << "x" << cols << " warps " << warps;
        }
        EXPECT_GE(l.getTotalElemsPerThread(shape), 1);
      }
}

TEST_F(LayoutTest, VectorLayout) {
  auto l = BlockedEncodingAttr::getDefault(&context, {1024}, 4);
  EXPECT_EQ(l.getSizePerThread()[0], 4u); // 16-byte fp32 vectors
  EXPECT_EQ(l.getThreadsPerWarp()[0], 32u);
  EXPECT_EQ(l.getWarpsPerCTA()[0], 4u);
  EXPECT_EQ(l.getShapePerCTA()[0], 512);
  EXPECT_EQ(l.getElemsPerThread({1024})[0], 8); // two repetitions of 4
  // Smaller than the tile: elements are replicated, one each.
  EXPECT_EQ(l.getElemsPerThread({64})[0], 4);
}

TEST_F(LayoutTest, TileLayoutHas16ByteRowsOfHalves) {
  // A 128 x 32 fp16 dot operand: 8 contiguous elements per thread along the
  // row, 4 lanes per row, 8 rows per warp, warps down the rows.
  auto l = BlockedEncodingAttr::getDefault(&context, {128, 32}, 4);
  EXPECT_EQ(l.getSizePerThread()[1], 8u);
  EXPECT_EQ(l.getThreadsPerWarp()[1], 4u);
  EXPECT_EQ(l.getThreadsPerWarp()[0], 8u);
  EXPECT_EQ(l.getWarpsPerCTA()[0], 4u);
  EXPECT_EQ(l.getTotalElemsPerThread({128, 32}), 32);
}

TEST_F(LayoutTest, MmaLayoutSpreadsWarpsOverTheResult) {
  using tessera::tilegpu::MmaEncodingAttr;
  auto l = MmaEncodingAttr::getForShape(&context, {128, 128}, 4);
  EXPECT_EQ(l.getWarpsPerCTA()[0], 2u);
  EXPECT_EQ(l.getWarpsPerCTA()[1], 2u);
  EXPECT_EQ(l.getTotalElemsPerThread({128, 128}), 128 * 128 / 128);
  // 16 rows: a single row of tiles, the warps go along N.
  l = MmaEncodingAttr::getForShape(&context, {16, 64}, 4);
  EXPECT_EQ(l.getWarpsPerCTA()[0], 1u);
  EXPECT_EQ(l.getWarpsPerCTA()[1], 4u);
  // Too small for 8 warps: they replicate along M.
  l = MmaEncodingAttr::getForShape(&context, {16, 16}, 8);
  EXPECT_EQ(l.getNumWarps(), 8u);
  EXPECT_EQ(l.getTotalElemsPerThread({16, 16}), 4);
}

TEST_F(LayoutTest, VerifierRejectsBadLayouts) {
  std::string message;
  auto emit = [&]() {
    return mlir::emitError(UnknownLoc::get(&context));
  };
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    message = d.str();
    return success();
  });
  EXPECT_TRUE(failed(BlockedEncodingAttr::verify(emit, {1}, {16}, {1}, {0})));
  EXPECT_EQ(message, "threadsPerWarp must cover the 32 lanes of a warp (or the 64 of an AMD wavefront), covers 16");
  EXPECT_TRUE(succeeded(BlockedEncodingAttr::verify(emit, {1, 4}, {4, 8}, {2, 2}, {1, 0})));
}

} // namespace
