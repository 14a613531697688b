//===- AxisInfo.cpp - Contiguity, divisibility, constancy -----------------===//

#include "passes/AxisInfo.h"

#include "passes/Passes.h"

#include "mlir/IR/Matchers.h"
#include "llvm/Support/MathExtras.h"

#include <numeric>

using namespace mlir;
using namespace tessera;
namespace tile = tessera::tile;
using tessera::tilegpu::BlockedEncodingAttr;

namespace {

constexpr int64_t kMaxDivisibility = int64_t(1) << 30;

int64_t pow2Factor(int64_t v) {
  if (v == 0)
    return kMaxDivisibility;
  return std::min<int64_t>(kMaxDivisibility, int64_t(1) << llvm::countr_zero(uint64_t(v)));
}

/// The fastest-varying dimension of a tensor's layout, or -1.
int fastestDim(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return -1;
  if (auto layout = dyn_cast_or_null<BlockedEncodingAttr>(tensor.getEncoding()))
    return layout.getOrder()[0];
  return tensor.getRank() - 1;
}

int64_t dimSize(Type type, int dim) {
  return cast<RankedTensorType>(type).getDimSize(dim);
}

int64_t elementBytes(Type pointerLike) {
  auto ptr = cast<tile::PointerType>(getElementTypeOrSelf(pointerLike));
  Type pointee = ptr.getPointeeType();
  if (isa<tile::PointerType>(pointee))
    return 8;
  return std::max<unsigned>(1, pointee.getIntOrFloatBitWidth() / 8);
}

} // namespace

AxisAnalysis::AxisAnalysis(Operation *function) {
  for (Region &region : function->getRegions())
    for (Block &block : region) {
      for (BlockArgument arg : block.getArguments()) {
        AxisInfo a;
        if (auto func = dyn_cast<FunctionOpInterface>(function))
          if (auto d = func.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(),
                                                          "tile.divisibility"))
            a.divisibility = d.getInt();
        info[arg] = a;
      }
      visitBlock(block);
    }
}

void AxisAnalysis::visitBlock(Block &block) {
  for (Operation &op : block)
    visitOp(&op);
}

static AxisInfo join(AxisInfo a, AxisInfo b) {
  return {std::min(a.contiguity, b.contiguity), std::gcd(a.divisibility, b.divisibility),
          std::min(a.constancy, b.constancy)};
}

static bool operator!=(const AxisInfo &a, const AxisInfo &b) {
  return a.contiguity != b.contiguity || a.divisibility != b.divisibility ||
         a.constancy != b.constancy;
}

void AxisAnalysis::visitOp(Operation *op) {
  if (auto loop = dyn_cast<scf::ForOp>(op)) {
    // A loop counter lb + k * step is a multiple of whatever divides both.
    info[loop.getInductionVar()].divisibility =
        std::gcd(get(loop.getLowerBound()).divisibility, get(loop.getStep()).divisibility);
    // Loop-carried values (pointers advanced each iteration): start from
    // the initial values and join what the body yields until nothing
    // changes; the facts only weaken, so this ends.
    auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
    for (auto [arg, init] : llvm::zip(loop.getRegionIterArgs(), loop.getInitArgs()))
      info[arg] = get(init);
    bool converged = false;
    for (int round = 0; round < 16 && !converged; ++round) {
      visitBlock(*loop.getBody());
      converged = true;
      for (auto [i, arg] : llvm::enumerate(loop.getRegionIterArgs())) {
        AxisInfo next = join(get(loop.getInitArgs()[i]), get(yield.getOperand(i)));
        if (next != info[arg]) {
          info[arg] = next;
          converged = false;
        }
      }
    }
    if (!converged) { // give up on the loop: the conservative facts
      for (BlockArgument arg : loop.getRegionIterArgs())
        info[arg] = AxisInfo();
      visitBlock(*loop.getBody());
    }
    for (auto [arg, result] : llvm::zip(loop.getRegionIterArgs(), loop.getResults()))
      info[result] = get(arg);
    return;
  }
  visit(op);
  for (Region &region : op->getRegions())
    for (Block &block : region) {
      for (BlockArgument arg : block.getArguments())
        info[arg] = AxisInfo();
      visitBlock(block);
    }
}

AxisInfo AxisAnalysis::get(Value value) const {
  auto it = info.find(value);
  return it == info.end() ? AxisInfo() : it->second;
}

void AxisAnalysis::visit(Operation *op) {
  if (op->getNumResults() != 1)
    return;
  Value result = op->getResult(0);
  Type type = result.getType();
  int f = fastestDim(type);
  AxisInfo out;
  auto in = [&](unsigned i) { return get(op->getOperand(i)); };

  if (auto range = dyn_cast<tile::MakeRangeOp>(op)) {
    out.contiguity = dimSize(type, 0);
    out.divisibility = pow2Factor(range.getStartAttr().getInt());
  } else if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
    APInt v;
    if (matchPattern(result, m_ConstantInt(&v)))
      out.divisibility = pow2Factor(v.getSExtValue());
    if (f >= 0) {
      auto dense = dyn_cast<DenseElementsAttr>(constant.getValue());
      if (dense && dense.isSplat())
        out.constancy = dimSize(type, f);
    }
  } else if (auto cvt = dyn_cast<tessera::tilegpu::ConvertLayoutOp>(op)) {
    // The same values in another layout: the same facts along the same
    // fastest dimension.
    if (fastestDim(cvt.getSrc().getType()) == f)
      out = in(0);
  } else if (isa<tile::SplatOp>(op)) {
    out.divisibility = in(0).divisibility;
    out.constancy = dimSize(type, f);
  } else if (auto bcast = dyn_cast<tile::BroadcastOp>(op)) {
    out = in(0);
    if (bcast.getSrc().getType().getDimSize(f) == 1) {
      out.contiguity = 1;
      out.constancy = dimSize(type, f);
    }
  } else if (auto expand = dyn_cast<tile::ExpandDimsOp>(op)) {
    int64_t axis = expand.getAxisAttr().getInt();
    if (axis == f) {
      out.divisibility = in(0).divisibility;
    } else {
      // The fastest dimension of the result came from the source's dim f
      // (shifted past the new axis): keep the source's facts if that was
      // also the source's fastest dimension.
      int srcDim = f > axis ? f - 1 : f;
      if (srcDim == fastestDim(expand.getSrc().getType()))
        out = in(0);
      else
        out.divisibility = in(0).divisibility;
    }
  } else if (isa<arith::AddIOp, tile::AddPtrOp>(op)) {
    AxisInfo a = in(0), b = in(1);
    int64_t scale = isa<tile::AddPtrOp>(op) ? elementBytes(type) : 1;
    out.contiguity = std::max(std::min(a.contiguity, b.constancy),
                              std::min(b.contiguity, a.constancy));
    out.divisibility = std::gcd(a.divisibility, b.divisibility * scale);
    out.constancy = std::min(a.constancy, b.constancy);
  } else if (isa<arith::SubIOp>(op)) {
    AxisInfo a = in(0), b = in(1);
    out.contiguity = std::min(a.contiguity, b.constancy);
    out.divisibility = std::gcd(a.divisibility, b.divisibility);
    out.constancy = std::min(a.constancy, b.constancy);
  } else if (isa<arith::MulIOp>(op)) {
    AxisInfo a = in(0), b = in(1);
    out.divisibility = std::min(kMaxDivisibility, a.divisibility * b.divisibility);
    out.constancy = std::min(a.constancy, b.constancy);
    APInt one;
    if (matchPattern(op->getOperand(1), m_ConstantInt(&one)) && one == 1)
      out.contiguity = a.contiguity;
  } else if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
    // `offsets < n`: constant over aligned groups that no multiple of n's
    // divisibility cuts, within the offsets' contiguous groups.
    AxisInfo a = in(0), b = in(1);
    out.constancy = std::min(a.constancy, b.constancy);
    bool ordered = cmp.getPredicate() != arith::CmpIPredicate::eq &&
                   cmp.getPredicate() != arith::CmpIPredicate::ne;
    if (ordered && b.constancy > 1 && a.contiguity > 1)
      out.constancy = std::max(
          out.constancy,
          std::min({a.contiguity, b.divisibility, a.divisibility, b.constancy}));
  } else if (isa<arith::RemSIOp, arith::RemUIOp>(op)) {
    // `offsets % n` (wrapped offsets): runs stay contiguous up to a multiple
    // of n's divisibility, where they may wrap.
    AxisInfo a = in(0), b = in(1);
    if (b.constancy >= a.contiguity)
      out.contiguity = std::min({a.contiguity, b.divisibility, a.divisibility});
    out.divisibility = std::gcd(a.divisibility, b.divisibility);
    out.constancy = std::min(a.constancy, b.constancy);
  } else if (isa<arith::AndIOp, arith::OrIOp>(op)) {
    out.constancy = std::min(in(0).constancy, in(1).constancy);
  } else if (isa<arith::ExtSIOp, arith::ExtUIOp>(op)) {
    out = in(0);
  }
  if (f < 0) {
    out.contiguity = out.constancy = 1;
  } else {
    int64_t size = dimSize(type, f);
    out.contiguity = std::min(out.contiguity, size);
    out.constancy = std::min(out.constancy, size);
  }
  info[result] = out;
}
