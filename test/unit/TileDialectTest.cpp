//===- TileDialectTest.cpp - The tile dialect through its C++ API ---------===//
//
// Builds tile IR with the generated builders, the way the front end and the
// tgraph lowerings will, and checks the type helpers and verifiers.
//
//===----------------------------------------------------------------------===//

#include "dialects/tile/TileDialect.h"
#include "tessera/InitAll.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace tessera::tile;

namespace {

class TileDialectTest : public ::testing::Test {
protected:
  TileDialectTest() : builder(&context) {
    DialectRegistry registry;
    tessera::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// Verifies `op`, returning the first diagnostic's text ("" on success).
  std::string verifyMessage(Operation *op) {
    std::string message;
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      if (message.empty())
        message = diag.str();
      return success();
    });
    if (succeeded(verify(op)))
      return "";
    return message.empty() ? "<failed without a message>" : message;
  }

  MLIRContext context;
  OpBuilder builder;
};

TEST_F(TileDialectTest, PointeeAndMaskTypes) {
  Type f16 = builder.getF16Type();
  auto ptr = PointerType::get(f16);
  EXPECT_EQ(ptr.getAddressSpace(), 1);
  EXPECT_EQ(getPointeeType(ptr), f16);

  auto ptrs = RankedTensorType::get({4, 8}, ptr);
  EXPECT_EQ(getPointeeType(ptrs), RankedTensorType::get({4, 8}, f16));
  EXPECT_EQ(getI1SameShape(ptrs),
            RankedTensorType::get({4, 8}, builder.getI1Type()));
  EXPECT_EQ(getI1SameShape(ptr), builder.getI1Type());

  // Not a pointer: no pointee.
  EXPECT_FALSE(getPointeeType(f16));
  EXPECT_FALSE(getPointeeType(RankedTensorType::get({4}, f16)));

  auto shared = PointerType::get(builder.getI32Type(), 3);
  EXPECT_NE(shared, PointerType::get(builder.getI32Type()));
  EXPECT_EQ(shared.getAddressSpace(), 3);
}

/// Builds `y[i] = x[i] * 2` over one 128-wide block, checks it verifies, and
/// that the ops were built with the types the rules require.
TEST_F(TileDialectTest, BuildVectorScaleKernel) {
  Location loc = builder.getUnknownLoc();
  auto module = ModuleOp::create(loc);
  builder.setInsertionPointToEnd(module.getBody());
  Type f32 = builder.getF32Type(), i32 = builder.getI32Type();
  auto ptrTy = PointerType::get(f32);
  auto func = func::FuncOp::create(builder, loc, "scale",
                                   builder.getFunctionType({ptrTy, ptrTy}, {}));
  Block *entry = func.addEntryBlock();
  builder.setInsertionPointToStart(entry);

  auto block = RankedTensorType::get({128}, i32);
  Value pid = ProgramIdOp::create(builder, loc, i32, ProgramAxis::X);
  Value c128 = arith::ConstantIntOp::create(builder, loc, 128, 32);
  Value base = arith::MulIOp::create(builder, loc, pid, c128);
  Value range = MakeRangeOp::create(builder, loc, block, 0, 128);
  Value offsets = arith::AddIOp::create(
      builder, loc, SplatOp::create(builder, loc, block, base), range);
  auto ptrs = RankedTensorType::get({128}, ptrTy);
  Value xs = AddPtrOp::create(
      builder, loc, ptrs,
      SplatOp::create(builder, loc, ptrs, entry->getArgument(0)), offsets);
  Value ys = AddPtrOp::create(
      builder, loc, ptrs,
      SplatOp::create(builder, loc, ptrs, entry->getArgument(1)), offsets);
  auto load = LoadOp::create(builder, loc, xs);
  Value two = arith::ConstantOp::create(
      builder, loc,
      DenseElementsAttr::get(RankedTensorType::get({128}, f32),
                             builder.getF32FloatAttr(2.0f)));
  Value scaled = arith::MulFOp::create(builder, loc, load, two);
  StoreOp::create(builder, loc, ys, scaled, Value(), CacheModifierAttr(),
                  EvictionPolicyAttr());
  func::ReturnOp::create(builder, loc);

  EXPECT_EQ(load.getType(), RankedTensorType::get({128}, f32));
  EXPECT_FALSE(load.getMask());
  EXPECT_EQ(verifyMessage(module), "");
  module->erase();
}

TEST_F(TileDialectTest, VerifierRejectsWrongRangeShape) {
  Location loc = builder.getUnknownLoc();
  auto type = RankedTensorType::get({64}, builder.getI32Type());
  auto op = MakeRangeOp::create(builder, loc, type, 0, 128);
  EXPECT_EQ(verifyMessage(op),
            "'tile.make_range' op result must be a 1-D tensor of 128 "
            "elements, got 'tensor<64xi32>'");
  op->erase();
}

TEST_F(TileDialectTest, ShapeTraitRejectsNonPowerOfTwo) {
  Location loc = builder.getUnknownLoc();
  Value x = arith::ConstantOp::create(builder, loc, builder.getF32FloatAttr(1));
  auto op = SplatOp::create(
      builder, loc, RankedTensorType::get({3}, builder.getF32Type()), x);
  EXPECT_EQ(verifyMessage(op), "'tile.splat' op result dimensions must be "
                               "powers of two, got 'tensor<3xf32>'");
  op->erase();
  x.getDefiningOp()->erase();
}

TEST_F(TileDialectTest, LoadBuilderMasksAndDefaults) {
  Location loc = builder.getUnknownLoc();
  auto module = ModuleOp::create(loc);
  builder.setInsertionPointToEnd(module.getBody());
  auto ptrs = RankedTensorType::get({16}, PointerType::get(builder.getF16Type()));
  auto masks = RankedTensorType::get({16}, builder.getI1Type());
  auto func = func::FuncOp::create(
      builder, loc, "masked",
      builder.getFunctionType({ptrs, masks, getPointeeType(ptrs)}, {}));
  Block *entry = func.addEntryBlock();
  builder.setInsertionPointToStart(entry);
  auto load = LoadOp::create(builder, loc, entry->getArgument(0),
                             entry->getArgument(1), entry->getArgument(2));
  func::ReturnOp::create(builder, loc);
  EXPECT_EQ(load.getMask(), entry->getArgument(1));
  EXPECT_EQ(load.getOther(), entry->getArgument(2));
  EXPECT_FALSE(load.getCache().has_value());
  EXPECT_FALSE(load.getIsVolatile());
  EXPECT_EQ(verifyMessage(module), "");
  module->erase();
}

} // namespace
