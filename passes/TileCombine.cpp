//===- TileCombine.cpp - The tile-combine pass ----------------------------===//
//
// Peephole rewrites that make tile IR cheaper before it is lowered; see
// Passes.td for the list.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace tessera {
#define GEN_PASS_DEF_TILECOMBINE
#include "passes/Passes.h.inc"
} // namespace tessera

using namespace mlir;
using namespace tessera::tile;

namespace {

/// `dot(a, b, 0) + d` -> `dot(a, b, d)`, for arith.addf and arith.addi.
template <typename AddOp>
struct FoldAddIntoDotAccumulator : OpRewritePattern<AddOp> {
  using OpRewritePattern<AddOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(AddOp add,
                                PatternRewriter &rewriter) const override {
    for (int i = 0; i < 2; ++i) {
      auto dot = add->getOperand(i).template getDefiningOp<DotOp>();
      Value other = add->getOperand(1 - i);
      if (!dot || !dot->hasOneUse() || other.getType() != dot.getType())
        continue;
      if (!matchPattern(dot.getC(), m_AnyZeroFloat()) &&
          !matchPattern(dot.getC(), m_Zero()))
        continue;
      rewriter.replaceOpWithNewOp<DotOp>(
          add, dot.getType(), dot.getA(), dot.getB(), other,
          dot.getInputPrecision(), dot.getMaxNumImpreciseAcc());
      return success();
    }
    return failure();
  }
};

/// `addptr(addptr(p, x), y)` -> `addptr(p, x + y)`.
struct CombineAddPtrChain : OpRewritePattern<AddPtrOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AddPtrOp op,
                                PatternRewriter &rewriter) const override {
    auto inner = op.getPtr().getDefiningOp<AddPtrOp>();
    if (!inner || inner.getOffset().getType() != op.getOffset().getType())
      return failure();
    Value sum = arith::AddIOp::create(rewriter, op.getLoc(),
                                      inner.getOffset(), op.getOffset());
    rewriter.replaceOpWithNewOp<AddPtrOp>(op, op.getType(), inner.getPtr(),
                                          sum);
    return success();
  }
};

/// A shape change of a splat is a splat of the new shape.
template <typename ShapeOp>
struct SplatThroughShapeChange : OpRewritePattern<ShapeOp> {
  using OpRewritePattern<ShapeOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(ShapeOp op,
                                PatternRewriter &rewriter) const override {
    auto splat = op.getSrc().template getDefiningOp<SplatOp>();
    if (!splat)
      return failure();
    rewriter.replaceOpWithNewOp<SplatOp>(op, op.getType(), splat.getSrc());
    return success();
  }
};

/// In a loop, `broadcast(elementwise(x, splat(s)))` with `x` defined
/// outside the loop -> `elementwise(broadcast(x), splat(s))`: the broadcast
/// becomes loop-invariant (and is hoisted), so a loop-varying mask such as
/// `offs_k[:, None] < K - k * BK` costs no data movement per iteration.
struct SinkBroadcastInLoops : OpRewritePattern<BroadcastOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(BroadcastOp op,
                                PatternRewriter &rewriter) const override {
    Operation *def = op.getSrc().getDefiningOp();
    auto loop = op->getParentOfType<scf::ForOp>();
    if (!def || !loop || def->getNumResults() != 1 || def->getNumRegions() ||
        !def->hasTrait<mlir::OpTrait::Elementwise>() || !isMemoryEffectFree(def) ||
        !def->getResult(0).hasOneUse() || def->getBlock() != op->getBlock())
      return failure();
    auto dstType = cast<RankedTensorType>(op.getType());
    SmallVector<Value> operands;
    bool invariant = false;
    for (Value v : def->getOperands()) {
      auto type = dyn_cast<RankedTensorType>(v.getType());
      if (!type)
        return failure();
      auto target = RankedTensorType::get(dstType.getShape(), type.getElementType(),
                                          dstType.getEncoding());
      if (auto splat = v.getDefiningOp<SplatOp>()) {
        operands.push_back(SplatOp::create(rewriter, op.getLoc(), target, splat.getSrc()));
        continue;
      }
      Operation *owner = isa<BlockArgument>(v)
                             ? cast<BlockArgument>(v).getOwner()->getParentOp()
                             : v.getDefiningOp();
      if (loop->isAncestor(owner))
        return failure(); // a loop-varying tensor operand: keep the broadcast after
      invariant = true;
      operands.push_back(BroadcastOp::create(rewriter, op.getLoc(), target, v));
    }
    if (!invariant)
      return failure();
    Operation *copy = rewriter.clone(*def);
    copy->setOperands(operands);
    copy->getResult(0).setType(RankedTensorType::get(
        dstType.getShape(), getElementTypeOrSelf(def->getResult(0)), dstType.getEncoding()));
    rewriter.replaceOp(op, copy->getResults());
    rewriter.eraseOp(def);
    return success();
  }
};

struct TileCombinePass
    : tessera::impl::TileCombineBase<TileCombinePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FoldAddIntoDotAccumulator<arith::AddFOp>,
                 FoldAddIntoDotAccumulator<arith::AddIOp>, CombineAddPtrChain,
                 SplatThroughShapeChange<BroadcastOp>,
                 SplatThroughShapeChange<ExpandDimsOp>,
                 SplatThroughShapeChange<ReshapeOp>,
                 SplatThroughShapeChange<TransOp>, SinkBroadcastInLoops>(&getContext());
    // Sinking broadcasts through long elementwise chains takes a round per
    // op: allow many rounds. Not converging is no error (the IR is valid at
    // every step), as for canonicalize.
    GreedyRewriteConfig config;
    config.setMaxIterations(256);
    (void)applyPatternsGreedily(getOperation(), std::move(patterns), config);
  }
};

} // namespace
