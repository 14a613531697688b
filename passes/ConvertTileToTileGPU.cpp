//===- ConvertTileToTileGPU.cpp - The convert-tile-to-tilegpu pass --------===//
//
// Gives every tensor of the module the default blocked layout of its shape.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "llvm/Support/MathExtras.h"

namespace tessera {
#define GEN_PASS_DEF_CONVERTTILETOTILEGPU
#include "passes/Passes.h.inc"
} // namespace tessera

using namespace mlir;
using tessera::tilegpu::BlockedEncodingAttr;

namespace {

struct ConvertTileToTileGPUPass
    : tessera::impl::ConvertTileToTileGPUBase<ConvertTileToTileGPUPass> {
  using ConvertTileToTileGPUBase::ConvertTileToTileGPUBase;

  Type encode(Type type) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor || tensor.getEncoding() || tensor.getRank() == 0)
      return type;
    return RankedTensorType::get(
        tensor.getShape(), tensor.getElementType(),
        BlockedEncodingAttr::getDefault(&getContext(), tensor.getShape(),
                                        numWarps));
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (numWarps < 1 || numWarps > 32 || !llvm::isPowerOf2_32(numWarps)) {
      module.emitError() << "num-warps must be a power of two from 1 to 32, got "
                         << static_cast<unsigned>(numWarps);
      return signalPassFailure();
    }
    MLIRContext *ctx = &getContext();
    module->setAttr(tessera::tilegpu::kNumWarpsAttr,
                    IntegerAttr::get(IntegerType::get(ctx, 32), numWarps));
    module.walk([&](Operation *op) {
      for (Region &region : op->getRegions())
        for (Block &block : region)
          for (BlockArgument arg : block.getArguments())
            arg.setType(encode(arg.getType()));
      for (OpResult result : op->getResults())
        result.setType(encode(result.getType()));
      if (auto constant = dyn_cast<arith::ConstantOp>(op))
        if (auto dense = dyn_cast<DenseElementsAttr>(constant.getValue()))
          constant.setValueAttr(
              dense.reshape(cast<ShapedType>(constant.getType())));
    });
    // Function types follow their bodies.
    module.walk([&](func::FuncOp func) {
      if (func.isExternal())
        return;
      SmallVector<Type> results;
      for (Type t : func.getResultTypes())
        results.push_back(encode(t));
      func.setType(FunctionType::get(
          ctx, func.front().getArgumentTypes(), results));
    });
  }
};

} // namespace
