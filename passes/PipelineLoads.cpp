//===- PipelineLoads.cpp - The tilegpu-pipeline-loads pass ----------------===//
//
// Software pipelining of the loads that feed tensor-core dots: in a loop
// whose body loads the operand tiles of a tile.dot, the load for iteration
// i + S - 1 is issued at the top of iteration i, and its tile travels in
// the loop's registers until the dot of that iteration uses it. The global
// memory latency of S - 1 iterations is hidden behind the dots.
//
//   scf.for %iv iter_args(%acc, %p) {            %t0 = load(%p0), ... (prologue)
//     %a = tile.load %p                    =>    scf.for %iv iter_args(%acc, %p, %t_i.., %p_ahead) {
//     %d = tile.dot %a, ..., %acc                  %t_next = tile.load %p_ahead (masked past the end)
//     %p2 = tile.addptr %p, %step                  %d = tile.dot %t_i, ..., %acc
//     yield %d, %p2                                yield %d, %p2, %t_i+1.., %t_next, %p_ahead + step
//
// A load qualifies when its address and mask (its backward slice in the
// body) are pure ops over values from outside the loop, the induction
// variable, and iteration arguments whose own updates are such pure ops of
// each other ("address arguments"). Loads of iterations past the end are
// masked off entirely.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"

#include <functional>
#include <optional>
#include <tuple>

namespace tessera {
#define GEN_PASS_DEF_TILEGPUPIPELINELOADS
#include "passes/Passes.h.inc"
} // namespace tessera

using namespace mlir;
namespace tile = tessera::tile;

namespace {

/// Ops an address computation may use (no memory, no regions).
bool isPureAddressOp(Operation *op) {
  if (op->getNumRegions() != 0 || op->getNumResults() != 1)
    return false;
  if (isa<tile::LoadOp, tile::DotOp, tile::AtomicRMWOp, tile::AtomicCASOp,
          tile::StoreOp>(op))
    return false;
  return isMemoryEffectFree(op);
}

class LoopPipeliner {
public:
  LoopPipeliner(scf::ForOp loop, unsigned stages, bool asyncCopy, bool pingPong,
                bool producerWarp, bool lag)
      : loop(loop), stages(stages), asyncCopy(asyncCopy), pingPong(pingPong),
        producerWarp(producerWarp), lag(lag) {}

  bool run();

private:
  /// Collects the body ops `v` depends on into `slice` (in body order);
  /// false if it reaches something that is not a pure address op, or an
  /// iteration argument that is not an address argument.
  bool addSlice(Value v, llvm::SetVector<Operation *> &slice, bool scalarLoads = false);
  bool findAddressArgs();
  /// For a producer warp: the ops of the kernel's entry block before the
  /// loop that its copies' addresses and bounds need, in block order
  /// (scalar, pure or index loads); none when the loop cannot have one.
  std::optional<SmallVector<Operation *>> producerInputs();
  Value cloneSlice(Value v, IRMapping &mapping, OpBuilder &b);
  /// While loads of an iteration ahead are issued: whether that iteration
  /// is in the loop (scalar index loads in their slices are masked by it).
  Value slicePredicate;

  /// Whether `load` can become a tilegpu.async_load: a rank-2 tile of
  /// 1-, 2- or 4-byte elements whose masked-off elements are zero, feeding
  /// tensor-core dots.
  static bool canCopyAsync(tile::LoadOp load);
  /// The dots a load feeds, directly or through a transpose.
  static SmallVector<tile::DotOp> dotsOf(Operation *load);

  scf::ForOp loop;
  unsigned stages;
  bool asyncCopy;
  bool pingPong;
  bool producerWarp;
  bool lag;
  /// Copies complete on per-slot mbarriers; no thread barrier per iteration.
  bool slotBarriers = false;
  /// Scores on the first warpgroups only (a dot whose wgmma layout covers
  /// fewer warps than the program: MLA's, FlashMLA's split): the copies of
  /// the next tiles go after those dots, into the slot the previous
  /// iteration read, once every thread released it (empty mbarriers, no
  /// CTA barrier), so that the other dots of an iteration (P V) may stay
  /// in flight while the next one's scores are issued.
  bool lagged = false;
  Block *body = nullptr;
  llvm::SetVector<unsigned> addressArgs; // iter arg numbers
  SmallVector<tile::LoadOp> loads;
  /// Tensor-descriptor loads copied by TMA (sm_90a), after `loads` in the
  /// tiles the loop carries.
  SmallVector<tile::DescriptorLoadOp> tmaLoads;
};

/// A scalar load whose pointer is an address (block-sparse attention's
/// `tl.load(kv_index + i)`): loads of iterations ahead may read it early,
/// masked off past the end of the loop.
static bool isScalarIndexLoad(Operation *op) {
  auto load = dyn_cast<tile::LoadOp>(op);
  return load && !isa<RankedTensorType>(load.getType()) && !load.getIsVolatile() &&
         load.getType().isSignlessInteger();
}

bool LoopPipeliner::addSlice(Value v, llvm::SetVector<Operation *> &slice, bool scalarLoads) {
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    if (arg.getOwner() != body)
      return true; // from outside the loop
    if (arg == loop.getInductionVar())
      return true;
    return addressArgs.contains(arg.getArgNumber() - 1);
  }
  Operation *def = v.getDefiningOp();
  if (def->getBlock() != body)
    return !loop->isAncestor(def); // defined outside the loop
  if (slice.contains(def))
    return true;
  if (!isPureAddressOp(def) && !(scalarLoads && isScalarIndexLoad(def)))
    return false;
  for (Value operand : def->getOperands())
    if (!addSlice(operand, slice, scalarLoads))
      return false;
  slice.insert(def);
  return true;
}

/// The iteration arguments whose next values are pure functions of
/// themselves, the induction variable and loop-invariant values: start
/// with all, drop those whose update reaches anything else, until stable.
bool LoopPipeliner::findAddressArgs() {
  auto yield = cast<scf::YieldOp>(body->getTerminator());
  for (unsigned i = 0; i < loop.getNumRegionIterArgs(); ++i)
    addressArgs.insert(i);
  for (bool changed = true; changed;) {
    changed = false;
    for (unsigned i : SmallVector<unsigned>(addressArgs.begin(), addressArgs.end())) {
      llvm::SetVector<Operation *> slice;
      if (!addSlice(yield.getOperand(i), slice)) {
        addressArgs.remove(i);
        changed = true;
      }
    }
  }
  return true;
}

/// Whether `op` has tensor operands or results.
static bool onTensors(Operation *op) {
  auto isTensor = [](Type t) { return isa<RankedTensorType>(t); };
  return llvm::any_of(op->getOperandTypes(), isTensor) ||
         llvm::any_of(op->getResultTypes(), isTensor);
}

/// Whether `op` (or an op in its regions) may write memory.
static bool mayWrite(Operation *op) {
  WalkResult r = op->walk([](Operation *nested) {
    if (auto iface = dyn_cast<MemoryEffectOpInterface>(nested)) {
      if (iface.hasEffect<MemoryEffects::Write>() || iface.hasEffect<MemoryEffects::Free>())
        return WalkResult::interrupt();
      return WalkResult::advance();
    }
    if (nested->hasTrait<OpTrait::HasRecursiveMemoryEffects>())
      return WalkResult::advance();
    return WalkResult::interrupt(); // unknown effects
  });
  return r.wasInterrupted();
}

std::optional<SmallVector<Operation *>> LoopPipeliner::producerInputs() {
  auto func = loop->getParentOfType<FunctionOpInterface>();
  if (!func || loop->getBlock() != &func.getFunctionBody().front())
    return std::nullopt;
  Block *entry = loop->getBlock();
  // The body ops the producer clones: the copies' offsets, the address
  // arguments' updates. Scalars only.
  llvm::SetVector<Operation *> bodySlice;
  auto yield = cast<scf::YieldOp>(body->getTerminator());
  for (tile::DescriptorLoadOp load : tmaLoads)
    for (Value o : load.getOffsets())
      if (!addSlice(o, bodySlice, /*scalarLoads=*/true))
        return std::nullopt;
  for (unsigned i : addressArgs) {
    if (isa<RankedTensorType>(body->getArgument(1 + i).getType()) ||
        !addSlice(yield.getOperand(i), bodySlice, /*scalarLoads=*/true))
      return std::nullopt;
  }
  // What they read from before the loop.
  SmallVector<Value> outside = {loop.getLowerBound(), loop.getUpperBound(), loop.getStep()};
  for (unsigned i : addressArgs)
    outside.push_back(loop.getInitArgs()[i]);
  for (tile::DescriptorLoadOp load : tmaLoads) {
    outside.push_back(load.getBase());
    llvm::append_range(outside, load.getShape());
    llvm::append_range(outside, load.getStrides());
  }
  for (Operation *op : bodySlice) {
    if (onTensors(op))
      return std::nullopt;
    for (Value v : op->getOperands())
      if (!loop->isAncestor(v.getParentRegion()->getParentOp()))
        outside.push_back(v);
  }
  // Their scalar slices in the entry block, moved ahead of everything.
  llvm::SetVector<Operation *> inputs;
  bool loads = false;
  std::function<bool(Value)> need = [&](Value v) {
    if (auto arg = dyn_cast<BlockArgument>(v))
      return arg.getOwner() == entry;
    Operation *def = v.getDefiningOp();
    if (def->getBlock() != entry)
      return false;
    if (inputs.contains(def))
      return true;
    if (def->getNumRegions() || onTensors(def))
      return false;
    bool load = isScalarIndexLoad(def);
    if (!load && !isMemoryEffectFree(def))
      return false;
    loads |= load;
    for (Value o : def->getOperands())
      if (!need(o))
        return false;
    inputs.insert(def);
    return true;
  };
  for (Value v : outside)
    if (!need(v))
      return std::nullopt;
  // Index loads read earlier: nothing before the loop may have written
  // what they read.
  if (loads)
    for (Operation &op : *entry) {
      if (&op == loop.getOperation())
        break;
      if (!inputs.contains(&op) && mayWrite(&op))
        return std::nullopt;
    }
  SmallVector<Operation *> ordered(inputs.begin(), inputs.end());
  llvm::sort(ordered, [](Operation *a, Operation *c) { return a->isBeforeInBlock(c); });
  return ordered;
}

Value LoopPipeliner::cloneSlice(Value v, IRMapping &mapping, OpBuilder &b) {
  if (Value mapped = mapping.lookupOrNull(v))
    return mapped;
  Operation *def = v.getDefiningOp();
  if (!def || def->getBlock() != body)
    return v; // loop-invariant
  for (Value operand : def->getOperands())
    cloneSlice(operand, mapping, b);
  if (auto load = dyn_cast<tile::LoadOp>(def); load && slicePredicate) {
    // An index read ahead: nothing is read past the end of the loop.
    Value mask = slicePredicate;
    if (load.getMask())
      mask = arith::AndIOp::create(b, load.getLoc(), mapping.lookupOrDefault(load.getMask()), mask);
    Value other = load.getOther() ? mapping.lookupOrDefault(load.getOther())
                                  : arith::ConstantOp::create(b, load.getLoc(),
                                                              b.getZeroAttr(load.getType()))
                                        .getResult();
    auto copy = tile::LoadOp::create(b, load.getLoc(), load.getType(),
                                     mapping.lookupOrDefault(load.getPtr()), mask, other,
                                     load.getCacheAttr(), load.getEvictAttr(),
                                     load.getIsVolatileAttr());
    mapping.map(load.getResult(), copy.getResult());
    return copy.getResult();
  }
  Operation *copy = b.clone(*def, mapping);
  return copy->getResult(cast<OpResult>(v).getResultNumber());
}

bool LoopPipeliner::canCopyAsync(tile::LoadOp load) {
  auto type = dyn_cast<RankedTensorType>(load.getType());
  if (!type || type.getRank() != 2 || !type.getElementType().isIntOrFloat())
    return false;
  unsigned bits = type.getElementType().getIntOrFloatBitWidth();
  if (bits != 8 && bits != 16 && bits != 32)
    return false;
  if (load.getOther() && !matchPattern(load.getOther(), m_AnyZeroFloat()) &&
      !matchPattern(load.getOther(), m_Zero()))
    return false;
  return llvm::all_of(dotsOf(load), [](tile::DotOp dot) {
    return isa_and_nonnull<tessera::tilegpu::MmaEncodingAttr>(
        cast<RankedTensorType>(dot.getD().getType()).getEncoding());
  });
}

/// Whether `dot` has the version 3 (wgmma) layout.
static bool isWgmmaDot(tile::DotOp dot) {
  auto mma = dyn_cast_or_null<tessera::tilegpu::MmaEncodingAttr>(
      cast<RankedTensorType>(dot.getD().getType()).getEncoding());
  return mma && mma.getVersionMajor() == 3;
}

/// Whether `op` is a transpose a load's tile may reach a wgmma dot
/// through: in shared memory it is a view of the same bytes.
static bool isWgmmaTranspose(Operation *op) {
  auto trans = dyn_cast<tile::TransOp>(op);
  if (!trans || trans.getOrder().size() != 2 || trans->use_empty())
    return false;
  return llvm::all_of(trans->getUsers(), [&](Operation *user) {
    auto dot = dyn_cast<tile::DotOp>(user);
    return dot && isWgmmaDot(dot) && dot.getC() != trans.getResult();
  });
}

/// `load`'s readers read `tile` instead; transposes of a shared tile
/// become transposed views.
static void replaceLoad(Operation *load, Value tile) {
  load->getResult(0).replaceAllUsesWith(tile);
  load->erase();
  auto shared = dyn_cast_or_null<tessera::tilegpu::SharedEncodingAttr>(
      cast<RankedTensorType>(tile.getType()).getEncoding());
  if (!shared)
    return;
  for (Operation *user : tile.getUsers())
    if (auto trans = dyn_cast<tile::TransOp>(user)) {
      auto t = cast<RankedTensorType>(trans.getType());
      trans.getResult().setType(RankedTensorType::get(
          t.getShape(), t.getElementType(),
          tessera::tilegpu::SharedEncodingAttr::get(tile.getContext(), shared.getSwizzle(),
                                                    !shared.getTransposed())));
    }
}

SmallVector<tile::DotOp> LoopPipeliner::dotsOf(Operation *load) {
  SmallVector<tile::DotOp> dots;
  for (Operation *user : load->getUsers()) {
    if (auto dot = dyn_cast<tile::DotOp>(user))
      dots.push_back(dot);
    else
      for (Operation *u : user->getUsers())
        dots.push_back(cast<tile::DotOp>(u));
  }
  return dots;
}

/// The last dot of `body` whose wgmma layout covers fewer warps than the
/// program (the first warpgroups only), if any.
static Operation *lastPartialDot(Block &body) {
  auto module = body.getParentOp()->getParentOfType<ModuleOp>();
  auto warps = module ? module->getAttrOfType<IntegerAttr>(tessera::tilegpu::kNumWarpsAttr)
                      : IntegerAttr();
  if (!warps)
    return nullptr;
  Operation *last = nullptr;
  for (Operation &op : body)
    if (auto dot = dyn_cast<tile::DotOp>(&op))
      if (auto mma = dyn_cast_or_null<tessera::tilegpu::MmaEncodingAttr>(
              cast<RankedTensorType>(dot.getD().getType()).getEncoding());
          mma && mma.getVersionMajor() == 3 &&
          int64_t(mma.getWarpsPerCTA()[0] * mma.getWarpsPerCTA()[1]) < warps.getInt())
        last = &op;
  return last;
}

bool LoopPipeliner::run() {
  body = loop.getBody();
  findAddressArgs();
  // The loads to pipeline: operands of dots, addressed by address args.
  for (Operation &op : *body) {
    auto load = dyn_cast<tile::LoadOp>(&op);
    if (!load || load.getIsVolatile())
      continue;
    bool feedsDot = !load->use_empty() && llvm::all_of(load->getUsers(), [&](Operation *u) {
      auto dot = dyn_cast<tile::DotOp>(u);
      return (dot && dot.getC() != load.getResult()) || isWgmmaTranspose(u);
    });
    if (!feedsDot)
      continue;
    llvm::SetVector<Operation *> slice;
    bool ok = true;
    for (Value operand : load->getOperands())
      ok = ok && addSlice(operand, slice, /*scalarLoads=*/true);
    if (ok)
      loads.push_back(load);
  }
  // Shared-memory stages for every load, or registers for all.
  asyncCopy = asyncCopy && llvm::all_of(loads, canCopyAsync);
  // A tile read by wgmma and by mma.sync dots would need both a swizzled
  // and a padded copy: such loops keep their tiles in registers.
  asyncCopy = asyncCopy && llvm::all_of(loads, [&](tile::LoadOp load) {
    SmallVector<tile::DotOp> dots = dotsOf(load);
    return llvm::all_of(dots, isWgmmaDot) || llvm::none_of(dots, isWgmmaDot);
  });
  MLIRContext *ctx = loop.getContext();
  // Tensor-descriptor loads feeding wgmma dots only, of tiles whose rows
  // are whole swizzle blocks: TMA copies into the same swizzled slots.
  if (asyncCopy)
    for (Operation &op : *body) {
      auto load = dyn_cast<tile::DescriptorLoadOp>(&op);
      if (!load || load->use_empty())
        continue;
      auto t = load.getResult().getType();
      unsigned bits = t.getElementType().getIntOrFloatBitWidth();
      if (t.getRank() != 2 || t.getDimSize(0) > 256 || (bits != 8 && bits != 16 && bits != 32) ||
          (t.getDimSize(1) * bits / 8) % 32)
        continue;
      bool feedsWgmma = llvm::all_of(load->getUsers(), [&](Operation *u) {
        auto dot = dyn_cast<tile::DotOp>(u);
        return (dot && isWgmmaDot(dot) && dot.getC() != load.getResult()) || isWgmmaTranspose(u);
      });
      llvm::SetVector<Operation *> slice;
      bool ok = feedsWgmma;
      for (Value operand : load->getOperands())
        ok = ok && addSlice(operand, slice, /*scalarLoads=*/true);
      if (ok)
        tmaLoads.push_back(load);
    }
  if (loads.empty() && tmaLoads.empty())
    return false;
  // wgmma dots whose operands are all copied here may stay in flight while
  // the next iteration starts (they are marked so): the slot such a dot
  // reads is then free only one iteration later, so the loads get one more
  // slot than stages.
  unsigned slots = stages;
  // Ping-pong loops (two or more dots of a two-warpgroup wgmma layout,
  // directly in the body): per-slot mbarriers, so that one warpgroup may
  // run half an iteration ahead of the other.
  // TMA copies join in: their own mbarriers say a slot is full, the slots'
  // empty barriers that every thread is done reading it (the CTA barrier
  // after each TMA wait goes).
  if (pingPong && asyncCopy && (!loads.empty() || !tmaLoads.empty())) {
    int dots = 0;
    bool ok = true;
    body->walk([&](tile::DotOp dot) {
      ok &= dot->getParentOp() == loop.getOperation() && isWgmmaDot(dot) &&
            cast<tessera::tilegpu::MmaEncodingAttr>(
                cast<RankedTensorType>(dot.getD().getType()).getEncoding())
                    .getWarpsPerCTA()[0] == 8;
      ++dots;
    });
    slotBarriers = ok && dots >= 2;
  }
  if (lag && asyncCopy && !slotBarriers && loads.empty() && !tmaLoads.empty())
    lagged = lastPartialDot(*body) != nullptr;
  if (asyncCopy) {
    SmallVector<tile::DotOp> dots;
    for (Operation &op : *body)
      if (auto dot = dyn_cast<tile::DotOp>(&op))
        dots.push_back(dot);
    auto isLoaded = [&](Value v) {
      if (auto trans = v.getDefiningOp<tile::TransOp>())
        v = trans.getSrc();
      return llvm::any_of(loads, [&](tile::LoadOp l) { return l.getResult() == v; }) ||
             llvm::any_of(tmaLoads, [&](tile::DescriptorLoadOp l) { return l.getResult() == v; });
    };
    // A dot may stay in flight only when nothing reads its result before
    // the next iteration's dot waits for it: the result goes straight to
    // the loop's yield, and the iteration argument it becomes is only that
    // dot's accumulator (the in-flight instructions keep writing the same
    // registers).
    auto chained = [&](tile::DotOp dot) {
      if (!dot.getD().hasOneUse() || *dot.getD().user_begin() != body->getTerminator())
        return false;
      unsigned index = dot.getD().use_begin()->getOperandNumber();
      Value arg = body->getArgument(1 + index);
      return dot.getC() == arg && arg.hasOneUse();
    };
    bool overlap = !slotBarriers && !dots.empty() && llvm::all_of(dots, [&](tile::DotOp dot) {
      return isWgmmaDot(dot) && chained(dot) && isLoaded(dot.getA()) && isLoaded(dot.getB());
    });
    // The spare slot must fit: sm_90's 227 KB of shared memory per block
    // (wgmma exists on sm_90a only), with each slot rounded as the
    // allocator rounds swizzled buffers. Without it the dots wait at once.
    constexpr int64_t kMaxSharedBytes = 232448;
    int64_t slotBytes = 0;
    SmallVector<RankedTensorType> tileTypes;
    for (tile::LoadOp load : loads)
      tileTypes.push_back(cast<RankedTensorType>(load.getType()));
    for (tile::DescriptorLoadOp load : tmaLoads)
      tileTypes.push_back(load.getResult().getType());
    for (RankedTensorType t : tileTypes) {
      slotBytes += (t.getNumElements() * t.getElementType().getIntOrFloatBitWidth() / 8 + 1023) /
                   1024 * 1024;
    }
    // Room for the epilogue's scratch and alignment of the first buffer.
    constexpr int64_t kReserveBytes = 2048;
    if (overlap && int64_t(stages + 1) * slotBytes + kReserveBytes <= kMaxSharedBytes) {
      slots = stages + 1;
      for (tile::DotOp dot : dots)
        dot->setAttr(tessera::tilegpu::kWgmmaInFlightAttr, UnitAttr::get(ctx));
    }
    // The slot iteration i's copies overwrite was last read in iteration
    // i - 2, not i - 1: its release does not wait for the warpgroup behind.
    // The expander adds buffers of its own while the slots live: register
    // operands of the dots from outside the loop, written once before it
    // (attention's q), and the mbarriers.
    if (slotBarriers) {
      int64_t extra = 1024;
      llvm::SmallPtrSet<void *, 4> hoisted;
      for (Operation &op : *body) {
        auto dot = dyn_cast<tile::DotOp>(&op);
        if (!dot)
          continue;
        for (Value operand : {dot.getA(), dot.getB()}) {
          if (auto trans = operand.getDefiningOp<tile::TransOp>())
            operand = trans.getSrc();
          Operation *owner = operand.getDefiningOp();
          if (!owner)
            owner = cast<BlockArgument>(operand).getOwner()->getParentOp();
          auto t = cast<RankedTensorType>(operand.getType());
          if (loop->isAncestor(owner) || !hoisted.insert(operand.getAsOpaquePointer()).second)
            continue;
          extra += (t.getNumElements() * t.getElementType().getIntOrFloatBitWidth() / 8 + 1023) /
                   1024 * 1024;
        }
      }
      if (int64_t(stages + 1) * slotBytes + kReserveBytes + extra <= kMaxSharedBytes)
        slots = stages + 1;
      else
        slotBarriers = false;
    }
  }
  // Operands of wgmma dots go to swizzled tiles (rows cut into blocks of
  // the widest swizzle atom that divides them), the others to padded ones.
  auto sharedTypeOf = [&](RankedTensorType t, ArrayRef<tile::DotOp> dots) {
    unsigned swizzle = 0;
    if (llvm::all_of(dots, isWgmmaDot)) {
      int64_t rowBytes = t.getDimSize(1) * t.getElementType().getIntOrFloatBitWidth() / 8;
      for (unsigned w : {128u, 64u, 32u})
        if (rowBytes % w == 0) {
          swizzle = w;
          break;
        }
    }
    return RankedTensorType::get(t.getShape(), t.getElementType(),
                                 tessera::tilegpu::SharedEncodingAttr::get(ctx, swizzle, false));
  };
  auto sharedType = [&](tile::LoadOp load) {
    return sharedTypeOf(cast<RankedTensorType>(load.getType()), dotsOf(load));
  };

  auto yield = cast<scf::YieldOp>(body->getTerminator());
  Location loc = loop.getLoc();
  OpBuilder b(loop);
  Value lb = loop.getLowerBound(), ub = loop.getUpperBound(), step = loop.getStep();
  Type ivType = loop.getInductionVar().getType();

  // Iteration j's address arguments, from iteration j-1's: clone the
  // updates with the mapping of iteration j-1.
  auto advance = [&](IRMapping &at, OpBuilder &builder) {
    IRMapping next;
    SmallVector<Value> values;
    for (unsigned i : addressArgs)
      values.push_back(cloneSlice(yield.getOperand(i), at, builder));
    for (auto [i, v] : llvm::zip(addressArgs, values))
      next.map(body->getArgument(1 + i), v);
    return next;
  };
  // Iteration j's loads, masked off when iv_j is past the end.
  auto issue = [&](IRMapping &at, Value iv, OpBuilder &builder, Value slot) {
    at.map(body->getArgument(0), iv); // the current body's induction variable
    Value inRange = arith::CmpIOp::create(
        builder, loc, loop.getUnsignedCmp() ? arith::CmpIPredicate::ult : arith::CmpIPredicate::slt,
        iv, ub);
    slicePredicate = inRange;
    llvm::scope_exit done([&] { slicePredicate = Value(); });
    SmallVector<Value> tiles;
    for (tile::LoadOp load : loads) {
      IRMapping local = at;
      Value ptr = cloneSlice(load.getPtr(), local, builder);
      auto ptrType = cast<RankedTensorType>(ptr.getType());
      auto maskType = RankedTensorType::get(ptrType.getShape(), builder.getI1Type(),
                                            ptrType.getEncoding());
      Value mask = tile::SplatOp::create(builder, loc, maskType, inRange);
      if (load.getMask())
        mask = arith::AndIOp::create(builder, loc, cloneSlice(load.getMask(), local, builder),
                                     mask);
      if (asyncCopy) {
        // Into the load's shared buffer (its index), at `slot`; masked-off
        // elements are zero, as `other` is.
        auto copy = tessera::tilegpu::AsyncLoadOp::create(
            builder, loc, sharedType(load), ptr, slot, mask,
            builder.getI32IntegerAttr(int32_t(tiles.size())),
            builder.getI32IntegerAttr(int32_t(slots)));
        tiles.push_back(copy.getResult());
      } else {
        Value other = load.getOther() ? cloneSlice(load.getOther(), local, builder) : Value();
        auto copy = tile::LoadOp::create(builder, loc, load.getType(), ptr, mask, other,
                                         load.getCacheAttr(), load.getEvictAttr(),
                                         load.getIsVolatileAttr());
        tiles.push_back(copy.getResult());
      }
      for (auto &[from, to] : local.getValueMap())
        at.map(from, to);
    }
    if (asyncCopy && !loads.empty())
      tessera::tilegpu::AsyncCommitOp::create(builder, loc);
    if (slotBarriers && !loads.empty()) // TMA copies complete on their own mbarriers
      tessera::tilegpu::AsyncArriveOp::create(builder, loc, slot,
                                              builder.getI32IntegerAttr(int32_t(slots)));
    if (!tmaLoads.empty()) {
      // One arrival per slot and phase, expecting every TMA tile's bytes.
      int64_t bytes = 0;
      for (tile::DescriptorLoadOp load : tmaLoads) {
        auto t = load.getResult().getType();
        bytes += t.getNumElements() * t.getElementType().getIntOrFloatBitWidth() / 8;
      }
      tessera::tilegpu::TmaExpectOp::create(builder, loc, slot, inRange,
                                            builder.getI32IntegerAttr(int32_t(bytes)),
                                            builder.getI32IntegerAttr(int32_t(slots)));
      for (tile::DescriptorLoadOp load : tmaLoads) {
        IRMapping local = at;
        SmallVector<Value> offsets;
        for (Value o : load.getOffsets())
          offsets.push_back(cloneSlice(o, local, builder));
        auto copy = tessera::tilegpu::TmaLoadOp::create(
            builder, loc, sharedTypeOf(load.getResult().getType(), dotsOf(load)),
            load.getBase(), load.getShape(), load.getStrides(), offsets, slot, inRange,
            builder.getI32IntegerAttr(int32_t(tiles.size())),
            builder.getI32IntegerAttr(int32_t(slots)));
        tiles.push_back(copy.getResult());
        for (auto &[from, to] : local.getValueMap())
          at.map(from, to);
      }
    }
    return tiles;
  };
  auto i32 = [&](OpBuilder &builder, int64_t v) -> Value {
    return arith::ConstantIntOp::create(builder, loc, v, 32);
  };

  auto nextSlotPhase = [&](OpBuilder &builder, Value slot, Value phase) {
    Value plusOne = arith::AddIOp::create(builder, loc, slot, i32(builder, 1));
    Value wraps = arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::eq, plusOne,
                                        i32(builder, slots));
    Value next = arith::SelectOp::create(builder, loc, wraps, i32(builder, 0), plusOne);
    Value flipped = arith::XOrIOp::create(builder, loc, phase, i32(builder, 1));
    return std::make_pair(next, Value(arith::SelectOp::create(builder, loc, wraps, flipped,
                                                               phase)));
  };

  // A loop over the same iterations with `inits` (an empty body), and the
  // original body moved into one (its induction variable and iteration
  // arguments replaced by the new loop's first ones).
  // The consumer's loop keeps the original's unroll request (a producer's
  // loop of copies does not need it).
  auto sameIterations = [&](OpBuilder &builder, ValueRange inits, bool consumer = true) {
    auto l = scf::ForOp::create(builder, loc, lb, ub, step, inits);
    l.setUnsignedCmp(loop.getUnsignedCmp());
    if (Attribute unroll = loop->getAttr(tessera::tile::kLoopUnrollFactorAttr); unroll && consumer)
      l->setAttr(tessera::tile::kLoopUnrollFactorAttr, unroll);
    return l;
  };
  auto moveBody = [&](scf::ForOp newLoop) {
    Block *newBody = newLoop.getBody();
    newBody->getOperations().splice(newBody->begin(), body->getOperations());
    loop.getInductionVar().replaceAllUsesWith(newLoop.getInductionVar());
    for (unsigned i = 0; i < loop.getNumRegionIterArgs(); ++i)
      loop.getRegionIterArgs()[i].replaceAllUsesWith(newLoop.getRegionIterArgs()[i]);
    return newBody;
  };

  // A producer warp issues the copies: the loop keeps their waits.
  std::optional<SmallVector<Operation *>> inputs;
  if (producerWarp && slotBarriers && loads.empty() && !tmaLoads.empty())
    inputs = producerInputs();
  if (inputs) {
    Block *entry = loop->getBlock();
    Operation *last = nullptr;
    for (Operation *op : *inputs) {
      if (last)
        op->moveAfter(last);
      else
        op->moveBefore(entry, entry->begin());
      last = op;
    }
    OpBuilder top(ctx);
    if (last)
      top.setInsertionPointAfter(last);
    else
      top.setInsertionPointToStart(entry);
    auto slotsAttr = top.getI32IntegerAttr(int32_t(slots));
    tessera::tilegpu::TmaInitOp::create(top, loc, slotsAttr);
    tessera::tilegpu::SlotBarriersInitOp::create(top, loc, slotsAttr);
    auto producer = tessera::tilegpu::ProducerOp::create(top, loc);
    OpBuilder p = OpBuilder::atBlockBegin(&producer.getBody().emplaceBlock());
    // Iteration i fills slot i % slots once its readers have released it
    // (the empty barrier's phase starts at 1: the first round passes).
    SmallVector<Value> pinits;
    for (unsigned i : addressArgs)
      pinits.push_back(loop.getInitArgs()[i]);
    pinits.push_back(i32(p, 0));
    pinits.push_back(i32(p, 1));
    auto fill = sameIterations(p, pinits, /*consumer=*/false);
    OpBuilder f = OpBuilder::atBlockEnd(fill.getBody());
    auto fargs = fill.getRegionIterArgs();
    IRMapping at;
    for (auto [k, i] : llvm::enumerate(addressArgs))
      at.map(body->getArgument(1 + i), fargs[k]);
    Value slot = fargs[addressArgs.size()], phase = fargs[addressArgs.size() + 1];
    tessera::tilegpu::SlotWaitOp::create(f, loc, slot, phase, slotsAttr, f.getUnitAttr());
    (void)issue(at, fill.getInductionVar(), f, slot);
    IRMapping nextAt = advance(at, f);
    SmallVector<Value> fyields;
    for (unsigned i : addressArgs)
      fyields.push_back(nextAt.lookup(body->getArgument(1 + i)));
    auto [fslot, fphase] = nextSlotPhase(f, slot, phase);
    fyields.push_back(fslot);
    fyields.push_back(fphase);
    scf::YieldOp::create(f, loc, fyields);

    // The loop: the original iteration arguments, the slot read and its
    // mbarrier's phase.
    SmallVector<Value> inits(loop.getInitArgs());
    inits.push_back(i32(b, 0));
    inits.push_back(i32(b, 0));
    auto newLoop = sameIterations(b, inits);
    unsigned numOrig = loop.getNumRegionIterArgs();
    SmallVector<SmallVector<tile::DotOp>> readers;
    for (tile::DescriptorLoadOp load : tmaLoads)
      readers.push_back(dotsOf(load));
    Block *newBody = moveBody(newLoop);
    Value readSlot = newLoop.getRegionIterArgs()[numOrig],
          readPhase = newLoop.getRegionIterArgs()[numOrig + 1];
    OpBuilder inner = OpBuilder::atBlockBegin(newBody);
    auto wait = tessera::tilegpu::TmaWaitOp::create(inner, loc, readSlot, readPhase, slotsAttr);
    wait->setAttr(tessera::tilegpu::kSlotOrderedAttr, UnitAttr::get(ctx));
    for (auto [l, load] : llvm::enumerate(tmaLoads)) {
      auto view = tessera::tilegpu::SlotViewOp::create(
          inner, loc, sharedTypeOf(load.getResult().getType(), readers[l]), readSlot,
          inner.getI32IntegerAttr(int32_t(l)), slotsAttr);
      replaceLoad(load, view.getResult());
    }
    auto [nextRead, nextPhase] = nextSlotPhase(inner, readSlot, readPhase);
    auto oldYield = cast<scf::YieldOp>(newBody->getTerminator());
    SmallVector<Value> yields(oldYield.getOperands());
    yields.push_back(nextRead);
    yields.push_back(nextPhase);
    OpBuilder end(oldYield);
    tessera::tilegpu::SlotReleaseOp::create(end, loc, readSlot, slotsAttr);
    scf::YieldOp::create(end, loc, yields);
    oldYield->erase();
    // Every fill has been waited for: the mbarriers go.
    OpBuilder after(ctx);
    after.setInsertionPointAfter(newLoop);
    tessera::tilegpu::TmaDoneOp::create(after, loc, slotsAttr);
    tessera::tilegpu::SlotBarriersDoneOp::create(after, loc, slotsAttr);
    tessera::tilegpu::AsyncWaitOp::create(after, loc, 0)->setAttr(
        tessera::tilegpu::kPipelineDrainedAttr, after.getUnitAttr());
    for (unsigned i = 0; i < numOrig; ++i)
      loop.getResult(i).replaceAllUsesWith(newLoop.getResult(i));
    loop->erase();
    return true;
  }

  // Prologue: iterations 0 .. S-2 (after the TMA pipeline's mbarriers).
  if (!tmaLoads.empty())
    tessera::tilegpu::TmaInitOp::create(b, loc, b.getI32IntegerAttr(int32_t(slots)));
  if (slotBarriers || lagged)
    tessera::tilegpu::SlotBarriersInitOp::create(b, loc, b.getI32IntegerAttr(int32_t(slots)));
  IRMapping at;
  for (unsigned i : addressArgs)
    at.map(body->getArgument(1 + i), loop.getInitArgs()[i]);
  SmallVector<SmallVector<Value>> inFlight; // [stage][load]
  Value iv = lb;
  for (unsigned s = 0; s + 1 < stages; ++s) {
    inFlight.push_back(issue(at, iv, b, asyncCopy ? i32(b, s) : Value()));
    IRMapping next = advance(at, b);
    at = next;
    iv = arith::AddIOp::create(b, loc, iv, step);
  }
  // `at` now maps the address args of iteration S-1; `iv` is iv_{S-1}.

  // The new loop: original iter args, the tiles in flight, the address
  // args S-1 iterations ahead.
  SmallVector<Value> inits(loop.getInitArgs());
  for (auto &stage : inFlight)
    inits.append(stage.begin(), stage.end());
  for (unsigned i : addressArgs)
    inits.push_back(at.lookup(body->getArgument(1 + i)));
  if (asyncCopy) // the slot of iteration i + S - 1
    inits.push_back(i32(b, stages - 1));
  if (!tmaLoads.empty()) { // the slot of iteration i and its mbarrier's phase
    inits.push_back(i32(b, 0));
    inits.push_back(i32(b, 0));
  }
  // Slot barriers: the slot of iteration i and its full barrier's phase,
  // the phase of the empty barrier of the slot copied into (1 at first:
  // the phase before a fresh barrier's first counts as complete).
  if (slotBarriers || lagged) {
    inits.push_back(i32(b, 0));
    inits.push_back(i32(b, 0));
    inits.push_back(i32(b, 1));
  }
  auto newLoop = sameIterations(b, inits);
  unsigned numOrig = loop.getNumRegionIterArgs(), numLoads = loads.size() + tmaLoads.size();
  Block *newBody = moveBody(newLoop);
  auto args = newLoop.getRegionIterArgs();
  auto tileArg = [&](unsigned stage, unsigned l) {
    return args[numOrig + stage * numLoads + l];
  };
  unsigned aheadBase = numOrig + (stages - 1) * numLoads;

  // The loads of iteration i + S - 1, at the top of the body.
  body = newBody;
  yield = cast<scf::YieldOp>(newBody->getTerminator());
  OpBuilder inner = OpBuilder::atBlockBegin(newBody);
  IRMapping ahead;
  for (auto [k, i] : llvm::enumerate(addressArgs))
    ahead.map(newBody->getArgument(1 + i), args[aheadBase + k]);
  Value ivAhead = arith::AddIOp::create(
      inner, loc, newLoop.getInductionVar(),
      arith::MulIOp::create(inner, loc, step,
                            arith::ConstantOp::create(inner, loc, ivType,
                                                      IntegerAttr::get(ivType, stages - 1))));
  // With async copies: wait for iteration i's tiles (and for every thread
  // to be done reading the slot the next copies overwrite).
  // With TMA: wait for the phase of iteration i's slot.
  unsigned slotIndex = aheadBase + addressArgs.size();
  Value slotArg, nextSlot, nextReadSlot, nextPhase;
  unsigned slotBarrierIndex = slotIndex + 1 + (tmaLoads.empty() ? 0 : 2);
  Value readSlot, nextReadSlotB, nextReadPhaseB, nextWritePhase, laggedWritePhase;
  if (asyncCopy) {
    slotArg = args[slotIndex];
    Value plusOne = arith::AddIOp::create(inner, loc, slotArg, i32(inner, 1));
    nextSlot = arith::RemUIOp::create(inner, loc, plusOne, i32(inner, slots));
    // The empty barrier's phase the next copies wait for: it flips when
    // their slot wraps to 0.
    auto writePhaseAfter = [&](Value writePhase) -> Value {
      Value wraps =
          arith::CmpIOp::create(inner, loc, arith::CmpIPredicate::eq, nextSlot, i32(inner, 0));
      return arith::SelectOp::create(
          inner, loc, wraps, arith::XOrIOp::create(inner, loc, writePhase, i32(inner, 1)),
          writePhase);
    };
    if (slotBarriers) {
      // Iteration i's tiles have landed (every thread's copies); the slot
      // the copies below overwrite has been released by every thread.
      readSlot = args[slotBarrierIndex];
      Value readPhase = args[slotBarrierIndex + 1], writePhase = args[slotBarrierIndex + 2];
      auto slotsAttr = inner.getI32IntegerAttr(int32_t(slots));
      // With TMA copies only, the TMA wait below says the slot is full (no
      // thread's arrivals, no wait for the other warpgroup's issue).
      if (!loads.empty())
        tessera::tilegpu::SlotWaitOp::create(inner, loc, readSlot, readPhase, slotsAttr,
                                             UnitAttr());
      tessera::tilegpu::SlotWaitOp::create(inner, loc, slotArg, writePhase, slotsAttr,
                                           inner.getUnitAttr());
      std::tie(nextReadSlotB, nextReadPhaseB) = nextSlotPhase(inner, readSlot, readPhase);
      nextWritePhase = writePhaseAfter(writePhase);
    } else if (lagged) {
      // The empty barrier's wait comes with the copies, after the scores.
      readSlot = args[slotBarrierIndex];
      Value readPhase = args[slotBarrierIndex + 1];
      laggedWritePhase = args[slotBarrierIndex + 2];
      std::tie(nextReadSlotB, nextReadPhaseB) = nextSlotPhase(inner, readSlot, readPhase);
      nextWritePhase = writePhaseAfter(laggedWritePhase);
    } else if (!loads.empty()) {
      tessera::tilegpu::AsyncWaitOp::create(inner, loc, int32_t(stages - 2));
    }
  }
  if (!tmaLoads.empty()) {
    Value readSlot = args[slotIndex + 1], phase = args[slotIndex + 2];
    auto wait = tessera::tilegpu::TmaWaitOp::create(inner, loc, readSlot, phase,
                                                    inner.getI32IntegerAttr(int32_t(slots)));
    if (slotBarriers || lagged) // slot reuse is ordered by the empty barriers
      wait->setAttr(tessera::tilegpu::kSlotOrderedAttr, UnitAttr::get(ctx));
    std::tie(nextReadSlot, nextPhase) = nextSlotPhase(inner, readSlot, phase);
  }
  // Lagged: the copies after the scores, into the slot the previous
  // iteration read (slots = stages), once every thread has released it:
  // here, after its dots were waited for (none before the first
  // iteration).
  OpBuilder copies = inner;
  if (lagged) {
    copies.setInsertionPointAfter(lastPartialDot(*newBody));
    auto slotsAttr = copies.getI32IntegerAttr(int32_t(slots));
    Value notFirst = arith::CmpIOp::create(copies, loc, arith::CmpIPredicate::ne,
                                           newLoop.getInductionVar(), lb);
    auto release = scf::IfOp::create(copies, loc, TypeRange{}, notFirst, false);
    {
      OpBuilder then = OpBuilder::atBlockTerminator(release.thenBlock());
      tessera::tilegpu::SlotReleaseOp::create(then, loc, slotArg, slotsAttr);
    }
    tessera::tilegpu::SlotWaitOp::create(copies, loc, slotArg, laggedWritePhase, slotsAttr,
                                         copies.getUnitAttr());
  }
  // Clone with the original address args mapped to the ahead ones: the
  // slice ops read body values, which `ahead` redirects.
  SmallVector<Value> next = issue(ahead, ivAhead, copies, slotArg);
  IRMapping aheadNext = advance(ahead, copies);

  // The dots use the tiles of this iteration.
  SmallVector<Operation *> pipelined(loads.begin(), loads.end());
  pipelined.append(tmaLoads.begin(), tmaLoads.end());
  for (auto [l, load] : llvm::enumerate(pipelined))
    replaceLoad(load, tileArg(0, l));
  // Yield: the original values, the tiles shifted by one stage, the new
  // tiles, the ahead address args advanced.
  SmallVector<Value> yields(yield.getOperands());
  for (unsigned s = 1; s + 1 < stages; ++s)
    for (unsigned l = 0; l < numLoads; ++l)
      yields.push_back(tileArg(s, l));
  yields.append(next.begin(), next.end());
  for (unsigned i : addressArgs)
    yields.push_back(aheadNext.lookup(newBody->getArgument(1 + i)));
  if (asyncCopy)
    yields.push_back(nextSlot);
  if (!tmaLoads.empty()) {
    yields.push_back(nextReadSlot);
    yields.push_back(nextPhase);
  }
  if (slotBarriers || lagged) {
    yields.push_back(nextReadSlotB);
    yields.push_back(nextReadPhaseB);
    yields.push_back(nextWritePhase);
  }
  OpBuilder end(yield);
  if (slotBarriers) // every dot of the iteration is done with its slot
    tessera::tilegpu::SlotReleaseOp::create(end, loc, readSlot,
                                            end.getI32IntegerAttr(int32_t(slots)));
  scf::YieldOp::create(end, loc, yields);
  yield->erase();
  if (asyncCopy) { // nothing in flight after the loop
    OpBuilder after(newLoop->getContext());
    after.setInsertionPointAfter(newLoop);
    if (!tmaLoads.empty())
      tessera::tilegpu::TmaDoneOp::create(after, loc, after.getI32IntegerAttr(int32_t(slots)));
    if (lagged)
      tessera::tilegpu::SlotBarriersDoneOp::create(after, loc,
                                                   after.getI32IntegerAttr(int32_t(slots)));
    if (slotBarriers) {
      // The S - 1 fills issued past the end complete on their full
      // barriers too: wait for them before the barriers go (TMA copies:
      // tma_done waits for them).
      Value r = newLoop.getResult(slotBarrierIndex),
            p = newLoop.getResult(slotBarrierIndex + 1);
      for (unsigned t = 0; !loads.empty() && t + 1 < stages; ++t) {
        Value w = arith::AddIOp::create(after, loc, r, i32(after, t));
        Value wraps = arith::CmpIOp::create(after, loc, arith::CmpIPredicate::uge, w,
                                            i32(after, slots));
        Value slot = arith::SelectOp::create(
            after, loc, wraps, arith::SubIOp::create(after, loc, w, i32(after, slots)), w);
        Value phase = arith::SelectOp::create(
            after, loc, wraps, arith::XOrIOp::create(after, loc, p, i32(after, 1)), p);
        tessera::tilegpu::SlotWaitOp::create(after, loc, slot, phase,
                                             after.getI32IntegerAttr(int32_t(slots)), UnitAttr());
      }
      tessera::tilegpu::SlotBarriersDoneOp::create(after, loc,
                                                   after.getI32IntegerAttr(int32_t(slots)));
    }
    // Marked: after it no copy is in flight and no slot is read again (the
    // expansion lets the scratch area share the slots' bytes from here).
    tessera::tilegpu::AsyncWaitOp::create(after, loc, 0)->setAttr(
        tessera::tilegpu::kPipelineDrainedAttr, after.getUnitAttr());
  }

  for (unsigned i = 0; i < numOrig; ++i)
    loop.getResult(i).replaceAllUsesWith(newLoop.getResult(i));
  loop->erase();
  return true;
}

struct TileGPUPipelineLoadsPass
    : tessera::impl::TileGPUPipelineLoadsBase<TileGPUPipelineLoadsPass> {
  using TileGPUPipelineLoadsBase::TileGPUPipelineLoadsBase;

  void runOnOperation() override {
    if (numStages < 2)
      return;
    SmallVector<scf::ForOp> loops;
    getOperation()->walk([&](scf::ForOp loop) {
      bool hasDot = false, writes = false;
      for (Operation &op : *loop.getBody())
        hasDot |= isa<tile::DotOp>(op);
      // A loop that writes memory could write what a later iteration's load
      // reads: loading that early would read the old value. Left alone.
      bool nested = false;
      loop.getBody()->walk([&](Operation *op) {
        writes |= isa<tile::StoreOp, tile::AtomicRMWOp, tile::AtomicCASOp>(op);
        nested |= isa<scf::ForOp>(op); // one pipeline at a time: its buffers and groups
      });
      if (hasDot && !writes && !nested)
        loops.push_back(loop);
    });
    // A producer warp runs beside everything its kernel does after the
    // split: only a kernel's one pipelined loop may have it (another
    // pipeline would share its slots and mbarriers).
    llvm::DenseMap<Operation *, int> perKernel;
    for (scf::ForOp loop : loops)
      ++perKernel[loop->getParentOfType<FunctionOpInterface>()];
    for (scf::ForOp loop : loops)
      LoopPipeliner(loop, numStages, asyncCopy, pingPong,
                    producerWarp && perKernel[loop->getParentOfType<FunctionOpInterface>()] == 1,
                    lag)
          .run();
  }
};

} // namespace
