//===- IRTextTest.cpp - Textual entry points and their diagnostics --------===//

#include "tessera/IRText.h"

#include <gtest/gtest.h>

namespace {

TEST(IRTextTest, RoundTripsValidIR) {
  const char *src = R"(
func.func @f(%p: !tile.ptr<f32>) {
  %r = tile.make_range 0 to 16 : tensor<16xi32>
  %s = tile.splat %p : !tile.ptr<f32> -> tensor<16x!tile.ptr<f32>>
  %q = tile.addptr %s, %r : tensor<16x!tile.ptr<f32>>, tensor<16xi32>
  %v = tile.load %q : tensor<16x!tile.ptr<f32>>
  tile.store %q, %v : tensor<16x!tile.ptr<f32>>
  return
})";
  auto result = tessera::parseAndPrint(src, "kernel.mlir", false);
  ASSERT_TRUE(result.ok) << result.diagnostics;
  EXPECT_NE(result.ir.find("tile.load %"), std::string::npos);
  // The printed IR parses again to the same text.
  auto again = tessera::parseAndPrint(result.ir, "again.mlir", false);
  ASSERT_TRUE(again.ok) << again.diagnostics;
  EXPECT_EQ(again.ir, result.ir);
  // Generic form carries the same ops.
  auto generic = tessera::parseAndPrint(src, "kernel.mlir", true);
  ASSERT_TRUE(generic.ok);
  EXPECT_NE(generic.ir.find("\"tile.load\""), std::string::npos);
}

TEST(IRTextTest, VerifierErrorsCarryTheLocation) {
  const char *src = "func.func @f(%x: f32) {\n"
                    "  %t = tile.splat %x : f32 -> tensor<6xf32>\n"
                    "  return\n"
                    "}\n";
  auto result = tessera::parseAndPrint(src, "bad.mlir", false);
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.diagnostics.find("bad.mlir:2:8: error: 'tile.splat' op "
                                    "result dimensions must be powers of two"),
            std::string::npos)
      << result.diagnostics;
}

TEST(IRTextTest, ParseErrorsCarryTheLocation) {
  auto result =
      tessera::parseAndPrint("func.func @f() {\n  %0 = tile.nope\n}\n",
                             "parse.mlir", false);
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.diagnostics.find("parse.mlir:2:"), std::string::npos)
      << result.diagnostics;
}

TEST(IRTextTest, PipelineFoldsDotAddIntoAccumulator) {
  const char *src = R"(
func.func @f(%a: tensor<16x16xf16>, %b: tensor<16x16xf16>, %acc: tensor<16x16xf32>) -> tensor<16x16xf32> {
  %z = arith.constant dense<0.0> : tensor<16x16xf32>
  %p = tile.dot %a, %b, %z : tensor<16x16xf16> * tensor<16x16xf16> -> tensor<16x16xf32>
  %r = arith.addf %acc, %p : tensor<16x16xf32>
  return %r : tensor<16x16xf32>
})";
  auto result = tessera::runPipeline(src, "dot.mlir",
                                     "builtin.module(tile-combine)");
  ASSERT_TRUE(result.ok) << result.diagnostics;
  EXPECT_EQ(result.ir.find("arith.addf"), std::string::npos) << result.ir;
  EXPECT_NE(result.ir.find("tile.dot %arg0, %arg1, %arg2"), std::string::npos)
      << result.ir;
}

TEST(IRTextTest, BadPipelineIsAnError) {
  auto result = tessera::runPipeline("module {}", "m.mlir",
                                     "builtin.module(no-such-pass)");
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.diagnostics.find("no-such-pass"), std::string::npos)
      << result.diagnostics;
}

} // namespace
