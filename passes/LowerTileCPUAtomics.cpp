//===- LowerTileCPUAtomics.cpp - The lower-tile-cpu-atomics pass ----------===//
//
// Rewrites the scalar atomics that convert-tile-to-cpu keeps through
// bufferization into llvm.atomicrmw / llvm.cmpxchg.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "passes/AtomicLowering.h"

#include "mlir/IR/PatternMatch.h"

namespace tessera {
#define GEN_PASS_DEF_LOWERTILECPUATOMICS
#include "passes/Passes.h.inc"
} // namespace tessera

using namespace mlir;
namespace tile = tessera::tile;

namespace {

/// The llvm.ptr for a scalar atomic's pointer, or null if it is not the
/// CPU backend's cast of an address.
Value llvmPointer(OpBuilder &b, Value ptr) {
  auto cast = ptr.getDefiningOp<UnrealizedConversionCastOp>();
  if (!cast || cast->getNumOperands() != 1 ||
      !cast->getOperand(0).getType().isInteger(64))
    return {};
  return LLVM::IntToPtrOp::create(b, ptr.getLoc(),
                                  LLVM::LLVMPointerType::get(b.getContext()),
                                  cast->getOperand(0));
}

struct LowerTileCPUAtomicsPass
    : tessera::impl::LowerTileCPUAtomicsBase<LowerTileCPUAtomicsPass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    SmallVector<Operation *> atomics;
    getOperation()->walk([&](Operation *op) {
      if (isa<tile::AtomicRMWOp, tile::AtomicCASOp>(op))
        atomics.push_back(op);
    });
    for (Operation *op : atomics) {
      rewriter.setInsertionPoint(op);
      Value ptr = llvmPointer(rewriter, op->getOperand(0));
      if (!ptr || isa<ShapedType>(op->getResult(0).getType())) {
        op->emitOpError("must be a scalar atomic on a cast address here "
                        "(run convert-tile-to-cpu first)");
        return signalPassFailure();
      }
      Location loc = op->getLoc();
      Value result;
      if (auto rmw = dyn_cast<tile::AtomicRMWOp>(op)) {
        Value val = rmw.getVal();
        result = LLVM::AtomicRMWOp::create(
            rewriter, loc, tessera::llvmBinOp(rmw.getKind(), isa<FloatType>(val.getType())),
            ptr, val, tessera::llvmOrdering(rmw.getSem()));
      } else {
        auto cas = cast<tile::AtomicCASOp>(op);
        LLVM::AtomicOrdering success = tessera::llvmOrdering(cas.getSem());
        LLVM::AtomicOrdering failure = tessera::casFailureOrdering(success);
        Value cmp = cas.getCmp(), val = cas.getVal();
        Type type = val.getType();
        // cmpxchg compares integers: floats go by their bits.
        Type intType = rewriter.getIntegerType(type.getIntOrFloatBitWidth());
        if (type != intType) {
          cmp = arith::BitcastOp::create(rewriter, loc, intType, cmp);
          val = arith::BitcastOp::create(rewriter, loc, intType, val);
        }
        Value pair = LLVM::AtomicCmpXchgOp::create(rewriter, loc, ptr, cmp, val,
                                                   success, failure);
        result = LLVM::ExtractValueOp::create(rewriter, loc, pair, 0);
        if (type != intType)
          result = arith::BitcastOp::create(rewriter, loc, type, result);
      }
      Operation *castOp = op->getOperand(0).getDefiningOp();
      rewriter.replaceOp(op, result);
      if (castOp->use_empty())
        rewriter.eraseOp(castOp);
    }
  }
};

} // namespace
