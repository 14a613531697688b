//===- ConvertTileGPUToNVVM.cpp - The convert-tilegpu-to-nvvm pass --------===//
//
// Lowers a tile kernel whose tensors carry blocked layouts to the code one
// thread runs: every tensor becomes the list of scalar SSA values the thread
// holds (its layout says which), elementwise ops are applied element by
// element, memory accesses become LLVM loads, stores and atomics on global
// pointers, and ops that move elements between threads (shape changes,
// reductions, scans, dot) go through shared memory.
//
// The kernel is rebuilt into a new function whose body holds scalar arith,
// math, scf, llvm and nvvm ops only; the standard conversions finish the
// job. The shared memory it needs is recorded as `tilegpu.shared_bytes`.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "passes/AtomicLowering.h"
#include "passes/AxisInfo.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/LLVMIR/ROCDLDialect.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/ScopeExit.h"

#include <map>

namespace tessera {
#define GEN_PASS_DEF_CONVERTTILEGPUTONVVM
#define GEN_PASS_DEF_CONVERTTILEGPUTOROCDL
#include "passes/Passes.h.inc"
} // namespace tessera

using namespace mlir;
namespace tile = tessera::tile;
using tessera::tilegpu::BlockedEncodingAttr;
using tessera::tilegpu::MmaEncodingAttr;
using tessera::tilegpu::SharedEncodingAttr;
using tessera::tilegpu::SliceEncodingAttr;

namespace {

constexpr unsigned kGlobal = 1, kShared = 3;
constexpr const char *kSharedSymbol = "tessera_shared";

/// The per-thread view of one (layout, shape): the logical coordinates of
/// each element the thread holds and whether the thread owns it (layouts
/// replicate elements when the tensor is smaller than the block's tile).
struct ThreadView {
  SmallVector<SmallVector<Value>> coords; // [element][dim], i32
  SmallVector<Value> owner;               // [element], i1; empty: owns all
  SmallVector<int64_t> shape;
};

class Expander {
public:
  Expander(func::FuncOp kernel, unsigned numWarps)
      : ctx(kernel.getContext()), kernel(kernel), numWarps(numWarps),
        b(kernel.getContext()), axis(kernel) {}

  LogicalResult run();
  int64_t sharedBytes() const { return smemBytes; }
  /// Scratch placement that skips CTA barriers (claimScratch), within
  /// the scratch bytes a first expansion without it measured.
  void elideScratchBarriersWithin(int64_t whileLive, int64_t any) {
    elideScratchBarriers = true;
    scratchCapWhileLive = whileLive;
    scratchCapAny = any;
  }
  int64_t scratchWhileLive() const { return smemWhileLive; }
  int64_t largestScratch() const { return largestOpScratch; }
  /// The block's warps: the layouts' and a producer warp's (a producer
  /// warpgroup's with producerRegisters).
  unsigned blockWarps() const {
    return numWarps + (producerSplit ? (producerRegisters ? 4 : 1) : 0);
  }
  /// A producer warpgroup keeps this many registers a thread and gives the
  /// rest to the consumers (setmaxnreg); 0: a single producer warp.
  unsigned producerRegisters = 0;
  /// The target's (0: unknown, nothing checked).
  unsigned computeCapability = 0;
  /// Ping-pong scheduling of loops with several wgmma dots (ringEligible).
  bool pingPong = false;
  /// AMD GPUs (ROCDL): thread and block ids, barriers, shuffles
  /// (ds_bpermute) and math take their ROCDL/LLVM forms; tensor-core
  /// layouts, async copies and mbarriers never reach this target.
  bool amd = false;
  /// Lanes a warp (64: an AMD CDNA wavefront).
  unsigned warpSize = 32;

private:
  //===--------------------------------------------------------------------===//
  // Types and values
  //===--------------------------------------------------------------------===//

  Type scalarType(Type t) {
    if (isa<tile::PointerType>(t))
      return LLVM::LLVMPointerType::get(ctx, kGlobal);
    if (isFp8(t)) // their bytes: LLVM has no fp8 types
      return b.getI8Type();
    return t;
  }
  static bool isFp8(Type t) {
    return isa<Float8E4M3FNType, Float8E5M2Type>(getElementTypeOrSelf(t));
  }
  LogicalResult expandFp8(Operation *op);
  Type i32() { return b.getI32Type(); }
  Value cst(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 32); }
  Value cstAt(OpBuilder &builder, int64_t v) {
    return arith::ConstantIntOp::create(builder, loc, v, 32);
  }

  static RankedTensorType tensorOf(Value v) {
    return dyn_cast<RankedTensorType>(v.getType());
  }
  static BlockedEncodingAttr layoutOf(RankedTensorType t) {
    return dyn_cast_or_null<BlockedEncodingAttr>(t.getEncoding());
  }

  Value scalar(Value old) { return map.lookupOrDefault(old); }
  SmallVector<Value> &elems(Value old) {
    auto it = tensors.find(old);
    assert(it != tensors.end() && "tensor not expanded yet");
    return it->second;
  }
  /// The flattened new values for an old value (a tensor's elements, or one
  /// scalar).
  SmallVector<Value> flat(Value old) {
    if (tensorOf(old))
      return elems(old);
    return {scalar(old)};
  }
  /// A tile in shared memory (#tilegpu.shared) is one i32 value: the byte
  /// offset of its slot.
  static bool isShared(RankedTensorType t) {
    return t && isa_and_nonnull<SharedEncodingAttr>(t.getEncoding());
  }
  size_t flatSize(Type type) {
    if (auto t = dyn_cast<RankedTensorType>(type))
      return isShared(t) ? 1 : view(t).coords.size();
    return 1;
  }
  /// Binds old values to slices of `values`, in order.
  void bind(ValueRange olds, ValueRange values) {
    size_t at = 0;
    for (Value old : olds) {
      size_t n = flatSize(old.getType());
      if (tensorOf(old))
        tensors[old] = SmallVector<Value>(values.slice(at, n));
      else
        map.map(old, values[at]);
      at += n;
    }
  }
  SmallVector<Type> flatTypes(TypeRange types) {
    SmallVector<Type> out;
    for (Type t : types) {
      if (auto tensor = dyn_cast<RankedTensorType>(t); isShared(tensor))
        out.push_back(i32());
      else if (tensor)
        out.append(view(tensor).coords.size(),
                   scalarType(tensor.getElementType()));
      else
        out.push_back(scalarType(t));
    }
    return out;
  }

  //===--------------------------------------------------------------------===//
  // Thread geometry
  //===--------------------------------------------------------------------===//

  /// The coordinates of the elements this thread holds; computed once per
  /// (layout, shape) in the kernel's entry block, where they dominate all
  /// uses.
  ThreadView &view(RankedTensorType type) {
    auto key = std::make_pair(type.getEncoding(), type.getShape().vec());
    for (auto &[k, v] : views)
      if (k == key)
        return v;
    if (auto mma = dyn_cast_or_null<MmaEncodingAttr>(type.getEncoding())) {
      views.emplace_back(key, mmaView(type, mma));
      return views.back().second;
    }
    if (auto slice = dyn_cast_or_null<SliceEncodingAttr>(type.getEncoding())) {
      views.emplace_back(key, sliceView(type, slice));
      return views.back().second;
    }
    auto layout = layoutOf(type);
    assert(layout && "tensor without a blocked layout");
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(prologueEnd);
    ArrayRef<int64_t> shape = type.getShape();
    unsigned rank = shape.size();
    ArrayRef<unsigned> spt = layout.getSizePerThread(),
                       tpw = layout.getThreadsPerWarp(),
                       wpc = layout.getWarpsPerCTA(),
                       order = layout.getOrder();
    SmallVector<int64_t> perCTA = layout.getShapePerCTA();
    SmallVector<int64_t> perThread = layout.getElemsPerThread(shape);
    // Lane and warp coordinates, numbered along `order`.
    SmallVector<Value> base(rank);
    unsigned laneStride = 1, warpStride = 1;
    for (unsigned d : order) {
      Value laneCoord = arith::RemUIOp::create(
          b, loc, arith::DivUIOp::create(b, loc, lane, cst(laneStride)),
          cst(tpw[d]));
      Value warpCoord = arith::RemUIOp::create(
          b, loc, arith::DivUIOp::create(b, loc, warp, cst(warpStride)),
          cst(wpc[d]));
      laneStride *= tpw[d];
      warpStride *= wpc[d];
      Value t = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, warpCoord, cst(tpw[d])),
          laneCoord);
      base[d] = arith::MulIOp::create(b, loc, t, cst(spt[d]));
    }
    // Elements, order[0] fastest.
    int64_t total = 1;
    for (int64_t e : perThread)
      total *= e;
    ThreadView v;
    v.shape = SmallVector<int64_t>(shape);
    bool replicated = false;
    for (unsigned d = 0; d < rank; ++d)
      replicated |= perCTA[d] > shape[d];
    for (int64_t e = 0; e < total; ++e) {
      SmallVector<Value> coords(rank);
      Value owner;
      int64_t rest = e;
      for (unsigned d : order) {
        int64_t l = rest % perThread[d];
        rest /= perThread[d];
        int64_t offset = (l / spt[d]) * perCTA[d] + l % spt[d];
        Value raw = arith::AddIOp::create(b, loc, base[d], cst(offset));
        if (perCTA[d] > shape[d]) {
          coords[d] = arith::RemUIOp::create(b, loc, raw, cst(shape[d]));
          Value in = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           raw, cst(shape[d]));
          owner = owner ? arith::AndIOp::create(b, loc, owner, in) : in;
        } else {
          coords[d] = raw;
        }
      }
      v.coords.push_back(coords);
      if (replicated)
        v.owner.push_back(owner ? owner
                                : arith::ConstantIntOp::create(b, loc, 1, 1));
    }
    views.emplace_back(key, std::move(v));
    return views.back().second;
  }

  //===--------------------------------------------------------------------===//
  // Layouts over the first warpgroups only
  //===--------------------------------------------------------------------===//
  //
  // A wgmma layout whose grid has fewer warps than the program
  // (`#tilegpu.mma<3, [4, 1]>` on 8 warps: MLA's scores, FlashMLA's split)
  // is held by warps 0 .. w - 1. Runs of consecutive ops on such tiles
  // (dots, elementwise ops, reductions within warps, stores) are expanded
  // under `if (warp < w)`; the other warps skip them and the values that
  // leave the run are poison for them. Those values are read outside a run
  // only by layout conversions and dots (which write them to shared memory,
  // each element by its owner, before a CTA barrier), loops and yields.
  // Nothing in a run touches the scratch area or waits at a CTA barrier.

  /// The warps of a layout over the first warpgroups only (0: all warps).
  unsigned partialWarps(RankedTensorType t) {
    if (!t)
      return 0;
    Attribute enc = t.getEncoding();
    if (auto slice = dyn_cast_or_null<SliceEncodingAttr>(enc))
      enc = slice.getParent();
    auto mma = dyn_cast_or_null<MmaEncodingAttr>(enc);
    if (!mma || mma.getVersionMajor() != 3)
      return 0;
    unsigned w = mma.getWarpsPerCTA()[0] * mma.getWarpsPerCTA()[1];
    return w < numWarps ? w : 0;
  }
  Value inPartialWarps(unsigned w) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, warp, cst(w));
  }
  /// Whether `op` belongs to a run on the first `w` warps (0: it does not).
  unsigned partialRunWarps(Operation *op);
  /// Expands `run` (consecutive ops of one block) under `if (warp < w)`.
  LogicalResult expandPartialRun(ArrayRef<Operation *> run, unsigned w);
  /// The warps of the run being expanded (0: none); a barrier or a
  /// scratch claim inside one is an error (`partialRunError`).
  unsigned partialRun = 0;
  bool partialRunError = false;
  /// Whether the kernel has layouts over the first warpgroups only.
  bool hasPartialLayouts = false;
  /// The results of the dots of the loop body being expanded that stay in
  /// flight across its back edge (its yield does not wait for them; the
  /// next iteration waits where it reads them): with layouts over the
  /// first warpgroups only, a dot of all the warps whose result goes
  /// straight to the yield (MLA's P V: its warpgroup 1 half runs while
  /// warpgroup 0 issues the next scores).
  llvm::DenseSet<Value> carriedDots;

  /// This warp's place (row, column) in an mma layout's wm x wn grid of
  /// warps: warp w is at (w / wn mod wm, w mod wn); version 3 (wgmma),
  /// numbered along M first so that warpgroups are whole: (w mod wm,
  /// w / wm mod wn).
  std::pair<Value, Value> warpCoords(MmaEncodingAttr mma) {
    unsigned wm = mma.getWarpsPerCTA()[0], wn = mma.getWarpsPerCTA()[1];
    if (mma.getVersionMajor() == 3)
      return {arith::RemUIOp::create(b, loc, warp, cst(wm)),
              arith::RemUIOp::create(b, loc, arith::DivUIOp::create(b, loc, warp, cst(wm)),
                                     cst(wn))};
    Value row = arith::RemUIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, warp, cst(wn)), cst(wm));
    return {row, arith::RemUIOp::create(b, loc, warp, cst(wn))};
  }

  /// Columns of an mma layout for a tensor `cols` wide: warp column j's
  /// repetition rn starts at j * warpStride + rn * repStride. Versions 2
  /// and mfma interleave the warps' tiles (warpStride one tile, repStride
  /// wn tiles); version 3 gives each warp column a contiguous slab.
  std::pair<int64_t, int64_t> columnStrides(MmaEncodingAttr mma, int64_t cols) {
    int64_t tile = mma.getTileCols(), wn = mma.getWarpsPerCTA()[1];
    if (mma.getVersionMajor() == 3)
      return {std::max<int64_t>(1, cols / (tile * wn)) * tile, tile};
    return {tile, tile * wn};
  }

  /// The mma accumulator layout: for each repetition (rm, rn) of the warp's
  /// 16 x 8 tile, the four elements of lane l at rows l/4 (+8) and columns
  /// 2*(l%4) (+1), in the order of the instruction's c0..c3 registers.
  /// MFMA (16 x 16 tiles, 64 lanes): lane l's four at rows 4*(l/16) + i of
  /// column l%16, in the order of the instruction's four result registers.
  ThreadView mmaView(RankedTensorType type, MmaEncodingAttr mma) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(prologueEnd);
    ArrayRef<int64_t> shape = type.getShape();
    SmallVector<int64_t> reps = mma.getRepetitions(shape);
    SmallVector<int64_t> perCTA = mma.getShapePerCTA();
    bool mfma = mma.isMfma();
    Value group = mfma ? arith::MulIOp::create(
                             b, loc, arith::DivUIOp::create(b, loc, lane, cst(16)), cst(4))
                             .getResult()
                       : arith::DivUIOp::create(b, loc, lane, cst(4)).getResult();
    Value pair = mfma ? arith::RemUIOp::create(b, loc, lane, cst(16)).getResult()
                      : arith::MulIOp::create(
                            b, loc, arith::RemUIOp::create(b, loc, lane, cst(4)), cst(2))
                            .getResult();
    Value warpM, warpN;
    std::tie(warpM, warpN) = warpCoords(mma);
    Value rowBase = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, warpM, cst(16)), group);
    auto [warpStride, repStride] = columnStrides(mma, shape[1]);
    Value colBase = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, warpN, cst(warpStride)), pair);
    bool replicated = perCTA[0] > shape[0] || perCTA[1] > shape[1];
    // A layout over the first warpgroups only: the others hold copies of
    // nothing (their ops are skipped) and own no element.
    Value onPartialWarps = partialWarps(type) ? inPartialWarps(partialWarps(type)) : Value();
    replicated |= bool(onPartialWarps);
    ThreadView v;
    v.shape = SmallVector<int64_t>(shape);
    for (int64_t rm = 0; rm < reps[0]; ++rm)
      for (int64_t rn = 0; rn < reps[1]; ++rn)
        for (int64_t i = 0; i < 4; ++i) {
          Value row = arith::AddIOp::create(
              b, loc, rowBase, cst(rm * perCTA[0] + (mfma ? i : 8 * (i / 2))));
          Value col = arith::AddIOp::create(b, loc, colBase,
                                            cst(rn * repStride + (mfma ? 0 : i % 2)));
          Value owner;
          auto wrap = [&](Value &c, int64_t extent, int64_t covered) {
            if (covered <= extent)
              return;
            Value in = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                             c, cst(extent));
            owner = owner ? arith::AndIOp::create(b, loc, owner, in) : in;
            c = arith::RemUIOp::create(b, loc, c, cst(extent));
          };
          wrap(row, shape[0], perCTA[0]);
          wrap(col, shape[1], perCTA[1]);
          if (onPartialWarps)
            owner = owner ? arith::AndIOp::create(b, loc, owner, onPartialWarps) : onPartialWarps;
          v.coords.push_back({row, col});
          if (replicated)
            v.owner.push_back(owner ? owner
                                    : arith::ConstantIntOp::create(b, loc, 1, 1));
        }
    return v;
  }

  /// A slice of the mma layout: the rows (dim = 1) or columns (dim = 0)
  /// the thread holds in the parent, each once, in the order of the
  /// parent's repetitions and then its two rows (l/4, +8) or columns
  /// (2 (l%4), +1). The first lane and warp holding an element own it.
  ThreadView sliceView(RankedTensorType type, SliceEncodingAttr slice) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(prologueEnd);
    MmaEncodingAttr mma = slice.getParent();
    unsigned keep = 1 - slice.getDim(); // the parent dimension kept
    int64_t n = type.getShape()[0];
    SmallVector<int64_t> perCTA = mma.getShapePerCTA();
    int64_t reps = std::max<int64_t>(1, n / perCTA[keep]);
    Value warpM, warpN;
    std::tie(warpM, warpN) = warpCoords(mma);
    Value base, step = cst(keep == 0 ? 8 : 1), owner;
    // Elements a repetition: rows l/4 and l/4 + 8, columns 2(l%4) and +1;
    // MFMA: rows 4(l/16) .. +3, column l%16.
    int64_t perRep = 2;
    if (mma.isMfma()) {
      step = cst(1);
      perRep = keep == 0 ? 4 : 1;
      Value quarter = arith::DivUIOp::create(b, loc, lane, cst(16));
      Value column = arith::RemUIOp::create(b, loc, lane, cst(16));
      if (keep == 0) {
        base = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, warpM, cst(16)),
                                     arith::MulIOp::create(b, loc, quarter, cst(4)));
        owner = arith::AndIOp::create(
            b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, column, cst(0)),
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, warpN, cst(0)));
      } else {
        base = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, warpN, cst(16)),
                                     column);
        owner = arith::AndIOp::create(
            b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, quarter, cst(0)),
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, warpM, cst(0)));
      }
    } else if (keep == 0) {
      base = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, warpM, cst(16)),
                                   arith::DivUIOp::create(b, loc, lane, cst(4)));
      owner = arith::AndIOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                arith::RemUIOp::create(b, loc, lane, cst(4)), cst(0)),
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, warpN, cst(0)));
    } else {
      base = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, warpN, cst(columnStrides(mma, n).first)),
          arith::MulIOp::create(b, loc, arith::RemUIOp::create(b, loc, lane, cst(4)), cst(2)));
      owner = arith::AndIOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, lane, cst(4)),
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, warpM, cst(0)));
    }
    if (unsigned w = partialWarps(type))
      owner = arith::AndIOp::create(b, loc, owner, inPartialWarps(w));
    ThreadView v;
    v.shape = SmallVector<int64_t>(type.getShape());
    for (int64_t r = 0; r < reps; ++r)
      for (int64_t h = 0; h < perRep; ++h) {
        int64_t repStride = keep == 1 ? columnStrides(mma, n).second : perCTA[keep];
        Value c = arith::AddIOp::create(
            b, loc, base,
            arith::AddIOp::create(b, loc, cst(r * repStride),
                                  arith::MulIOp::create(b, loc, step, cst(h))));
        Value own = owner;
        if (perCTA[keep] > n) {
          own = arith::AndIOp::create(
              b, loc, own, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, c, cst(n)));
          c = arith::RemUIOp::create(b, loc, c, cst(n));
        }
        v.coords.push_back({c});
        v.owner.push_back(own);
      }
    return v;
  }

  /// Row-major linear index of `coords` in `shape`.
  Value linear(ArrayRef<Value> coords, ArrayRef<int64_t> shape) {
    Value index = cst(0);
    int64_t stride = 1;
    for (int d = int(shape.size()) - 1; d >= 0; --d) {
      index = arith::AddIOp::create(
          b, loc, index, arith::MulIOp::create(b, loc, coords[d], cst(stride)));
      stride *= shape[d];
    }
    return index;
  }

  //===--------------------------------------------------------------------===//
  // Memory
  //===--------------------------------------------------------------------===//

  Type memoryType(Type t) {
    if (t.isInteger(1))
      return b.getI8Type();
    return scalarType(t);
  }
  int64_t byteSize(Type t) {
    if (isa<LLVM::LLVMPointerType, tile::PointerType>(t))
      return 8;
    return std::max<int64_t>(1, t.getIntOrFloatBitWidth() / 8);
  }
  Value toMemory(Value v) {
    if (v.getType().isInteger(1))
      return arith::ExtUIOp::create(b, loc, b.getI8Type(), v);
    return v;
  }
  Value fromMemory(Value v, Type type) {
    if (type.isInteger(1))
      return arith::TruncIOp::create(b, loc, type, v);
    return v;
  }

  /// Runs `body` only where `pred` holds (or always when `pred` is null).
  void predicated(Value pred, function_ref<void()> body) {
    if (!pred) {
      body();
      return;
    }
    auto ifOp = scf::IfOp::create(b, loc, pred, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    body();
  }
  Value andPred(Value a, Value c) {
    if (!a)
      return c;
    if (!c)
      return a;
    return arith::AndIOp::create(b, loc, a, c);
  }

  /// A pointer `index` elements of `type` into the shared buffer, starting
  /// at byte `offset`.
  Value smemAt(Value index, Type type, int64_t offset) {
    auto ptrTy = LLVM::LLVMPointerType::get(ctx, kShared);
    Value basePtr = LLVM::AddressOfOp::create(b, loc, ptrTy, kSharedSymbol);
    if (offset)
      basePtr = LLVM::GEPOp::create(b, loc, ptrTy, b.getI8Type(), basePtr,
                                    ArrayRef<LLVM::GEPArg>{int32_t(offset)});
    return LLVM::GEPOp::create(b, loc, ptrTy, memoryType(type), basePtr,
                               ValueRange{index});
  }
  /// A pointer `index` elements of `type` into the shared buffer, from the
  /// byte offset `offset` (a value).
  Value smemAtDynamic(Value index, Type type, Value offset) {
    auto ptrTy = LLVM::LLVMPointerType::get(ctx, kShared);
    Value basePtr = LLVM::AddressOfOp::create(b, loc, ptrTy, kSharedSymbol);
    basePtr = LLVM::GEPOp::create(b, loc, ptrTy, b.getI8Type(), basePtr, ValueRange{offset});
    return LLVM::GEPOp::create(b, loc, ptrTy, memoryType(type), basePtr, ValueRange{index});
  }
  void barrier() {
    if (partialRun)
      partialRunError = true; // the other warps would never arrive
    if (amd)
      ROCDL::BarrierOp::create(b, loc); // s_barrier between workgroup fences
    else if (producerSplit) // the producer warp has gone its own way
      NVVM::BarrierOp::create(b, loc, Type(), cst(0), cst(32 * numWarps), {}, Value());
    else
      NVVM::Barrier0Op::create(b, loc);
    scratchReads.clear(); // every read before it is done
    scratchUnknown = false;
  }

  //===--------------------------------------------------------------------===//
  // Scratch placement: CTA barriers only where bytes are reused
  //===--------------------------------------------------------------------===//
  //
  // An op that writes the scratch area needs a CTA barrier first only if a
  // thread may still read the bytes it writes: a read since the last
  // barrier. The expander tracks the byte ranges read since then
  // (`scratchReads`; a wgmma's reads of its operands until a wait for all
  // groups, `scratchReadsAsync`) and places each op's scratch at the
  // lowest offset none of them touches, within the scratch area the kernel
  // needs anyway (`scratchCapWhileLive` / `scratchCapAny`, measured by a
  // first expansion without this: no byte of shared memory more). A row
  // max exchanged through [0, 512) and then a row sum through [512, 1024)
  // need no barrier between the max's reads and the sum's writes. After
  // control flow (a loop's body starts with its previous iteration's
  // reads) nothing is known until the next barrier.

  /// Whether scratch uses may skip barriers (the second expansion).
  bool elideScratchBarriers = false;
  /// The scratch bytes the first expansion used while buffers were live,
  /// and by any op.
  int64_t scratchCapWhileLive = 0, scratchCapAny = 0;
  int64_t largestOpScratch = 0;
  SmallVector<std::pair<int64_t, int64_t>> scratchReads, scratchReadsAsync;
  bool scratchUnknown = true;
  /// Reads recorded (an op that claimed scratch but recorded no reads
  /// leaves the reads unknown: expandBlock).
  unsigned scratchNotes = 0;

  /// Records that the threads read scratch bytes [lo, hi) (async: by wgmma
  /// groups not yet waited for).
  void noteScratchReads(int64_t lo, int64_t hi, bool async = false) {
    ++scratchNotes;
    if (hi > lo)
      (async ? scratchReadsAsync : scratchReads).push_back({lo, hi});
  }
  static bool overlapsAny(ArrayRef<std::pair<int64_t, int64_t>> ranges, int64_t lo,
                          int64_t hi) {
    return llvm::any_of(ranges, [&](auto r) { return lo < r.second && r.first < hi; });
  }
  /// The offset (a multiple of `align`) of `bytes` of scratch an op is
  /// about to write; emits the barrier that the earlier readers of those
  /// bytes need, if any.
  int64_t claimScratch(int64_t bytes, int64_t align) {
    if (partialRun)
      partialRunError = true; // the other warps' reads are not ordered
    // Bytes of buffers no longer live may be scratch now, and their last
    // readers are not tracked: only while buffers live (the scratch area
    // is then apart from them) or before any exists.
    if (elideScratchBarriers && !scratchUnknown && (buffersLive || buffers.empty())) {
      int64_t cap = buffersLive ? scratchCapWhileLive : scratchCapAny;
      for (int64_t lo = 0; lo + bytes <= cap; lo += align)
        if (!overlapsAny(scratchReads, lo, lo + bytes) &&
            !overlapsAny(scratchReadsAsync, lo, lo + bytes))
          return lo;
    }
    // Dots carried across a back edge read bytes not tracked here.
    if (scratchUnknown && !carriedDots.empty() && !pendingWgmma.empty())
      waitPendingWgmma(int64_t(pendingWgmma.size()) - 1);
    if (overlapsAny(scratchReadsAsync, 0, bytes)) { // wgmma groups read these bytes
      if (!pendingWgmma.empty())
        waitPendingWgmma(int64_t(pendingWgmma.size()) - 1);
      else
        wgmmaWait({}, 0);
    }
    barrier(); // earlier readers of the scratch area are done
    return 0;
  }
  /// The bytes smemWrite writes for `old` (rounded up to 16).
  int64_t smemWriteBytes(Value old, int64_t rowPad = 0) {
    auto type = tensorOf(old);
    ThreadView &v = view(type);
    int64_t bytes = (type.getNumElements() + (rowPad ? v.shape[0] * rowPad : 0)) *
                    byteSize(type.getElementType());
    return (bytes + 15) / 16 * 16;
  }
  /// The thread that issues a pipeline's TMA copies: the first, or the
  /// producer warp's first lane in its region. With layouts over the first
  /// warpgroups only, the first thread of the warps they leave out: those
  /// warps wait while the others compute (MLA's scores), so the copies are
  /// not on the critical path.
  Value issuer() {
    if (inProducer)
      return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane, cst(0));
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid,
                                 cst(warpSize * partialIssuerWarp));
  }
  /// The warp whose first thread issues TMA copies outside a producer.
  unsigned partialIssuerWarp = 0;
  /// A producer warp (tilegpu.producer): the branch of its region, whose
  /// else block holds the rest of the kernel; while its region expands.
  scf::IfOp producerSplit;
  bool inProducer = false;

  /// The byte offset of async-load buffer `id` (of `bytes` bytes): buffers
  /// live after the scratch area the rest of the kernel uses, so their
  /// offsets are placeholders fixed when the kernel is expanded.
  Value bufferBase(int64_t id, int64_t bytes) {
    auto it = buffers.find(id);
    if (it == buffers.end()) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(prologueEnd);
      auto placeholder = arith::ConstantIntOp::create(b, loc, 0, 32);
      it = buffers.emplace(id, std::make_pair(placeholder.getOperation(), bytes)).first;
    }
    it->second.second = std::max(it->second.second, bytes);
    return it->second.first->getResult(0);
  }
  std::map<int64_t, std::pair<Operation *, int64_t>> buffers;
  // Whether async copies may be in flight or their tiles still read (from
  // the first async load to the wait for all after a pipelined loop). The
  // buffers start after the scratch bytes used while they were live
  // (`smemWhileLive`, the largest extent of an op's scratch use at such a
  // time): scratch used only when no buffer is live (a GEMM's epilogue
  // after its loop) shares their bytes. `separate`: when that bookkeeping
  // cannot tell (a loop body that ends with the buffers live differently
  // from how it began; a hoisted operand before a loop with no copies in
  // flight), the buffers go after all scratch.
  bool buffersLive = false, separate = false;
  int64_t smemWhileLive = 0;
  /// Whether the buffers were live when each expanded loop started.
  DenseMap<Operation *, bool> loopLiveAtStart;
  // Whether the kernel has wgmma dots: shared tiles written by threads or
  // cp.async are then fenced for the async proxy before a barrier, and
  // buffers start on 1024-byte boundaries (the swizzle's period).
  bool usesWgmma = false;

  /// Writes a tensor's elements (owners only) to shared memory at their
  /// row-major index from byte `offset`; returns the bytes used.
  /// How many consecutive elements of a thread's list sit at consecutive
  /// row-major indices (in runs starting at multiples of the run): blocked
  /// layouts' contiguous elements along the last dimension, the column
  /// pairs of the mma layout; capped at 16 bytes.
  int64_t rowMajorRun(RankedTensorType type) {
    Type elem = type.getElementType();
    if (elem.isInteger(1) || isa<tile::PointerType>(elem) || type.getRank() == 0)
      return 1;
    int64_t last = type.getShape().back(), run = 1;
    if (auto blocked = layoutOf(type)) {
      if (blocked.getOrder()[0] == type.getRank() - 1)
        run = blocked.getSizePerThread().back();
    } else if (auto mma = dyn_cast_or_null<MmaEncodingAttr>(type.getEncoding())) {
      run = mma.isMfma() ? 1 : 2; // MFMA: a lane's elements are in one column
    }
    run = std::min({run, last, 16 / byteSize(elem)});
    return std::max<int64_t>(run, 1);
  }

  /// `rowPad` extra elements after each row of a rank-2 tile (the row
  /// stride is then `shape[1] + rowPad`).
  int64_t smemWrite(Value old, int64_t offset, int64_t rowPad = 0) {
    auto type = tensorOf(old);
    ThreadView &v = view(type);
    Type elem = type.getElementType();
    auto &values = elems(old);
    int64_t run = rowMajorRun(type);
    for (size_t e = 0; e < values.size(); e += run) {
      Value index = paddedIndex(v.coords[e], v.shape, rowPad);
      predicated(v.owner.empty() ? Value() : v.owner[e], [&] {
        if (run == 1) {
          LLVM::StoreOp::create(b, loc, toMemory(values[e]), smemAt(index, elem, offset));
          return;
        }
        LLVM::StoreOp::create(b, loc, vectorOf(ArrayRef<Value>(values).slice(e, run)),
                              smemAt(index, elem, offset),
                              unsigned(run * byteSize(elem)));
      });
    }
    int64_t bytes = (type.getNumElements() + (rowPad ? v.shape[0] * rowPad : 0)) * byteSize(elem);
    smemBytes = std::max(smemBytes, offset + bytes);
    return (bytes + 15) / 16 * 16;
  }
  Value paddedIndex(ArrayRef<Value> coords, ArrayRef<int64_t> shape, int64_t rowPad) {
    if (!rowPad)
      return linear(coords, shape);
    return arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, coords[0], cst(shape[1] + rowPad)), coords[1]);
  }
  Value smemRead(Value index, Type elem, int64_t offset) {
    Value v = LLVM::LoadOp::create(b, loc, memoryType(elem),
                                   smemAt(index, elem, offset));
    return fromMemory(v, elem);
  }

  /// Writes several tensors to shared memory one after the other, between
  /// barriers; returns their byte offsets.
  /// (The caller notes its reads: noteScratchReads(offsets[0], end).)
  SmallVector<int64_t> smemWriteAll(ValueRange srcs, int64_t *end = nullptr) {
    int64_t total = 0;
    for (Value src : srcs)
      total += smemWriteBytes(src);
    SmallVector<int64_t> offsets;
    int64_t offset = claimScratch(total, 16);
    for (Value src : srcs) {
      offsets.push_back(offset);
      offset += smemWrite(src, offset);
    }
    barrier();
    if (end)
      *end = offset;
    return offsets;
  }

  /// Binds the results of a reduction: each element the thread holds of the
  /// results' layout gets `at(coordinates)` (one value per result); a rank-0
  /// result (a scalar) gets `at({})`.
  void bindReduced(ResultRange results, ArrayRef<int64_t> outShape,
                   function_ref<SmallVector<Value>(ArrayRef<Value>)> at) {
    if (outShape.empty()) {
      SmallVector<Value> r = at({});
      for (auto [result, value] : llvm::zip(results, r))
        map.map(result, value);
      return;
    }
    ThreadView &v = view(tensorOf(results[0]));
    SmallVector<SmallVector<Value>> outs(results.size());
    for (auto &coords : v.coords) {
      SmallVector<Value> r = at(coords);
      for (size_t i = 0; i < results.size(); ++i)
        outs[i].push_back(r[i]);
    }
    for (size_t i = 0; i < results.size(); ++i)
      tensors[results[i]] = outs[i];
  }

  /// Moves `src`'s elements to the layout and shape of `dstType`: element
  /// at coordinates c reads the source element at row-major index
  /// `sourceIndex(c)`.
  SmallVector<Value>
  relayout(Value src, RankedTensorType dstType,
           function_ref<Value(ArrayRef<Value>)> sourceIndex) {
    int64_t bytes = smemWriteBytes(src);
    int64_t base = claimScratch(bytes, 16);
    smemWrite(src, base);
    barrier();
    ThreadView &v = view(dstType);
    SmallVector<Value> out;
    for (auto &coords : v.coords)
      out.push_back(smemRead(sourceIndex(coords), dstType.getElementType(), base));
    noteScratchReads(base, base + bytes);
    return out;
  }

  /// Whether each element of `v` can be computed from its coordinates by
  /// any thread: index arithmetic (ranges, splats of scalars, splat
  /// constants, pure elementwise ops, expand_dims, broadcasts and pointer
  /// offsets of those) of at most `budget` ops. Moving such a tensor to
  /// another layout recomputes it there (as Triton's slice layouts let
  /// `offs[:, None]` live in its consumer's layout) instead of a round trip
  /// through shared memory with two barriers.
  /// Whether `trans` transposes a register tile read only as the B operand
  /// of wgmma dots, which then take its source as a K-major operand.
  static bool transposedForWgmmaOnly(tile::TransOp trans) {
    auto src = tensorOf(trans.getSrc());
    if (!src || isShared(src) || src.getRank() != 2 || trans.getResult().use_empty())
      return false;
    // As A (M-major: the source's rows run along M), only for 16-bit types:
    // fp8 and tf32 read A K-major only.
    bool kMajorOnly = isFp8(src.getElementType()) || src.getElementType().isF32();
    return llvm::all_of(trans.getResult().getUses(), [&](OpOperand &use) {
      auto dot = dyn_cast<tile::DotOp>(use.getOwner());
      if (!dot || use.getOperandNumber() > 1 || (use.getOperandNumber() == 0 && kMajorOnly))
        return false;
      auto mma = dyn_cast_or_null<MmaEncodingAttr>(tensorOf(dot.getD()).getEncoding());
      return mma && mma.getVersionMajor() == 3;
    });
  }

  bool recomputable(Value v, int &budget) {
    auto t = tensorOf(v);
    if (!t || isShared(t) || isFp8(t) || --budget < 0)
      return false;
    Operation *def = v.getDefiningOp();
    if (!def || def->getNumResults() != 1 || def->getNumRegions())
      return false;
    if (isa<tile::MakeRangeOp, tile::SplatOp>(def))
      return true;
    if (auto constant = dyn_cast<arith::ConstantOp>(def)) {
      auto dense = dyn_cast<DenseElementsAttr>(constant.getValue());
      return dense && dense.isSplat();
    }
    bool elementwise = isa<arith::ArithDialect>(def->getDialect()) &&
                       OpTrait::hasElementwiseMappableTraits(def) && isPure(def);
    if (!elementwise && !isa<tile::ExpandDimsOp, tile::BroadcastOp, tile::AddPtrOp>(def))
      return false;
    for (Value operand : def->getOperands())
      if (tensorOf(operand) && !recomputable(operand, budget))
        return false;
    return true;
  }
  bool recomputable(Value v) {
    int budget = 32;
    return recomputable(v, budget);
  }

  /// The element of a recomputable `v` at logical coordinates `c`,
  /// computed at the insertion point.
  Value elementAt(Value v, ArrayRef<Value> c) {
    Operation *def = v.getDefiningOp();
    if (auto range = dyn_cast<tile::MakeRangeOp>(def))
      return arith::AddIOp::create(b, loc, c[0], cst(range.getStartAttr().getInt()));
    if (auto splat = dyn_cast<tile::SplatOp>(def))
      return scalar(splat.getSrc());
    if (auto constant = dyn_cast<arith::ConstantOp>(def))
      return arith::ConstantOp::create(
          b, loc,
          cast<TypedAttr>(cast<DenseElementsAttr>(constant.getValue()).getSplatValue<Attribute>()));
    if (auto expand = dyn_cast<tile::ExpandDimsOp>(def)) {
      SmallVector<Value> s(c.begin(), c.end());
      s.erase(s.begin() + expand.getAxis());
      return elementAt(expand.getSrc(), s);
    }
    if (auto bcast = dyn_cast<tile::BroadcastOp>(def)) {
      ArrayRef<int64_t> srcShape = bcast.getSrc().getType().getShape();
      SmallVector<Value> s(c.begin(), c.end());
      for (size_t d = 0; d < s.size(); ++d)
        if (srcShape[d] == 1)
          s[d] = cst(0);
      return elementAt(bcast.getSrc(), s);
    }
    if (auto addptr = dyn_cast<tile::AddPtrOp>(def)) {
      Type pointee =
          cast<tile::PointerType>(getElementTypeOrSelf(addptr.getPtr().getType())).getPointeeType();
      Value p = tensorOf(addptr.getPtr()) ? elementAt(addptr.getPtr(), c) : scalar(addptr.getPtr());
      Value off =
          tensorOf(addptr.getOffset()) ? elementAt(addptr.getOffset(), c) : scalar(addptr.getOffset());
      return LLVM::GEPOp::create(b, loc, scalarType(getElementTypeOrSelf(addptr.getPtr().getType())),
                                 memoryType(pointee), p, ValueRange{off});
    }
    OperationState state(loc, def->getName());
    for (Value operand : def->getOperands())
      state.addOperands(tensorOf(operand) ? elementAt(operand, c) : scalar(operand));
    state.addTypes(scalarType(getElementTypeOrSelf(v.getType())));
    state.addAttributes(def->getAttrs());
    return b.create(state)->getResult(0);
  }

  /// `src` (recomputable) at each element of `dstType`'s layout, whose
  /// coordinates `sourceCoords` maps to the source's.
  SmallVector<Value>
  recompute(Value src, RankedTensorType dstType,
            function_ref<SmallVector<Value>(ArrayRef<Value>)> sourceCoords) {
    SmallVector<Value> out;
    for (auto &coords : view(dstType).coords)
      out.push_back(elementAt(src, sourceCoords(coords)));
    return out;
  }

  /// A layout conversion: the source's elements through shared memory in
  /// vectors of each side's row-major runs.
  SmallVector<Value> convertLayout(Value src, RankedTensorType dstType) {
    // From the mma layout (whose lanes write 8 rows at once) rows are
    // padded by 16 bytes, so those rows start in different banks.
    int64_t rowPad = 0;
    Type elem = scalarType(dstType.getElementType());
    if (isa_and_nonnull<MmaEncodingAttr>(tensorOf(src).getEncoding()) && !elem.isInteger(1))
      rowPad = 16 / byteSize(elem);
    int64_t bytes = smemWriteBytes(src, rowPad);
    int64_t base = claimScratch(bytes, 16);
    smemWrite(src, base, rowPad);
    barrier();
    ThreadView &v = view(dstType);
    int64_t run = rowMajorRun(dstType);
    SmallVector<Value> out;
    for (size_t e = 0; e < v.coords.size(); e += run) {
      Value index = paddedIndex(v.coords[e], v.shape, rowPad);
      if (run == 1) {
        out.push_back(smemRead(index, elem, base));
        continue;
      }
      auto vecType = VectorType::get({run}, elem);
      Value vec = LLVM::LoadOp::create(b, loc, vecType, smemAt(index, elem, base),
                                       unsigned(run * byteSize(elem)));
      for (int64_t i = 0; i < run; ++i)
        out.push_back(vectorGet(vec, i));
    }
    noteScratchReads(base, base + bytes);
    return out;
  }

  //===--------------------------------------------------------------------===//
  // Ops
  //===--------------------------------------------------------------------===//

  LogicalResult expandBlock(Block &block);
  /// One op of a block (with the waits for pending wgmma groups it needs).
  LogicalResult expandOne(Operation &op);
  LogicalResult expandOp(Operation *op);
  LogicalResult expandElementwise(Operation *op);
  LogicalResult expandMath(Operation *op);
  LogicalResult expandPrint(tile::PrintOp op);
  /// A new internal global holding `text`, named `prefix` and the first
  /// free number; its address at the insertion point.
  Value globalString(StringRef prefix, const std::string &text);
  LogicalResult expandAssert(tile::AssertOp op);
  FailureOr<Value> gpuMath(Operation *op, ValueRange operands);
  ModuleOp simtModule() { return kernel->getParentOfType<ModuleOp>(); }
  LogicalResult expandFor(scf::ForOp op);
  LogicalResult expandIf(scf::IfOp op);
  LogicalResult expandWhile(scf::WhileOp op);
  LogicalResult expandReduce(tile::ReduceOp op);
  LogicalResult expandReduceInRegisters(tile::ReduceOp op);
  LogicalResult expandMmaReduce(tile::ReduceOp op, MmaEncodingAttr mma);
  /// A thread's combined values of the elements that differ only along the
  /// reduction axis (`first`: one of them, for its coordinates).
  struct Partial {
    int64_t first;
    SmallVector<Value> acc;
  };
  /// The last step of a reduction in registers: the partials of the `warps`
  /// warps along the axis meet in shared memory (written by the lanes where
  /// `writer` holds, at their warp's slot `warpCoord`) and each result
  /// element reads and combines its slots.
  void reduceAcrossWarps(tile::ReduceOp op, ArrayRef<Partial> partials, ThreadView &v,
                         int64_t warps, Value warpCoord, Value writer);
  /// The thread's elements `members` (indices into each source's values)
  /// combined into one partial.
  /// Combined as a balanced tree of adjacent pairs (left the earlier
  /// elements, as in order): dependency chains of log2(n) instead of n - 1.
  Partial combineInThread(tile::ReduceOp op, ArrayRef<int64_t> members) {
    SmallVector<SmallVector<Value>> level;
    for (int64_t m : members) {
      SmallVector<Value> values;
      for (Value src : op.getSrcs())
        values.push_back(elems(src)[m]);
      level.push_back(values);
    }
    while (level.size() > 1) {
      SmallVector<SmallVector<Value>> next;
      for (size_t i = 0; i + 1 < level.size(); i += 2)
        next.push_back(combine(op.getCombineOp(), level[i], level[i + 1]));
      if (level.size() % 2)
        next.push_back(level.back());
      level = std::move(next);
    }
    return {members[0], level[0]};
  }
  /// Lane l reads `v` of lane l xor `offset` (`fromLane`: of lane `offset`).
  Value shuffleXor(Value v, int64_t offset, bool fromLane = false);

  /// AMD: the workgroup's id along `axis` (0-2).
  Value amdProgramId(unsigned axis) {
    if (axis == 0)
      return ROCDL::BlockIdXOp::create(b, loc, i32());
    if (axis == 1)
      return ROCDL::BlockIdYOp::create(b, loc, i32());
    return ROCDL::BlockIdZOp::create(b, loc, i32());
  }
  /// AMD: the number of workgroups along `axis`, from the HSA dispatch
  /// packet (grid_size_{x,y,z}: u32 at bytes 12, 16, 20, in work-items; the
  /// workgroup is warpSize * numWarps x 1 x 1), with no device library.
  Value amdNumPrograms(unsigned axis) {
    auto constant = LLVM::LLVMPointerType::get(ctx, 4);
    Value packet = LLVM::CallIntrinsicOp::create(b, loc, constant,
                                                 b.getStringAttr("llvm.amdgcn.dispatch.ptr"),
                                                 ValueRange{})
                       .getResult(0);
    Value field = LLVM::GEPOp::create(b, loc, constant, b.getI8Type(), packet,
                                      ArrayRef<LLVM::GEPArg>{int32_t(12 + 4 * axis)});
    Value items = LLVM::LoadOp::create(b, loc, i32(), field, /*alignment=*/4,
                                       /*isVolatile=*/false, /*isNonTemporal=*/false,
                                       /*isInvariant=*/true);
    if (axis != 0)
      return items;
    return arith::DivUIOp::create(b, loc, items, cst(warpSize * numWarps));
  }
  SmallVector<int64_t> localIndex(BlockedEncodingAttr layout,
                                  ArrayRef<int64_t> shape, int64_t e);
  LogicalResult expandScan(tile::ScanOp op);
  LogicalResult expandDot(tile::DotOp op);
  LogicalResult expandMmaDot(tile::DotOp op, MmaEncodingAttr mma);
  LogicalResult expandMfmaDot(tile::DotOp op, MmaEncodingAttr mma);
  LogicalResult expandWgmmaDot(tile::DotOp op, MmaEncodingAttr mma);
  /// The four 32-bit A registers of a register-A wgmma for rows of
  /// repetition `rm`, K step `kk` of `a` (in the dot's accumulator layout).
  SmallVector<Value> aRegisters(Value a, MmaEncodingAttr mma, int64_t rm, int64_t kk);
  /// One register-A wgmma (m64 x n x k16, fp32 accumulate) on `inout`.
  Value wgmmaRegisterA(Value inout, int64_t n, ArrayRef<Value> a, Value descB, StringRef type,
                       bool transB, bool scaleD = true);
  Value swizzledOffset(Value row, Value col, RankedTensorType type, unsigned swizzle);
  /// `transposed`: the rank-2 tile's transpose (element (r, c) at (c, r)).
  void writeSwizzled(Value old, Value base, unsigned swizzle, bool transposed = false);
  SmallVector<Value> wgmmaWait(ArrayRef<Value> values, int pending);
  LogicalResult expandAsyncLoad(tessera::tilegpu::AsyncLoadOp op);
  LogicalResult expandTmaLoad(tessera::tilegpu::TmaLoadOp op);
  Value tmaSlotBase(RankedTensorType type, int64_t buffer, int64_t slots, Value slot);
  LogicalResult expandDescriptorLoad(tile::DescriptorLoadOp op);
  /// The TMA pipeline's mbarriers (8 bytes per slot) and slot `slot`'s.
  Value tmaBarrier(Value slot, int64_t slots) {
    Value base = bufferBase(kTmaBarrierBuffer, 8 * slots);
    return smemAtDynamic(slot, b.getI64Type(), base);
  }
  static constexpr int64_t kTmaBarrierBuffer = 1 << 20;
  /// An async-copy pipeline's mbarriers: `full` of slot s at s, `empty` at
  /// slots + s.
  Value slotBarrier(Value slot, int64_t slots, bool empty) {
    Value base = bufferBase(kSlotBarrierBuffer, 16 * slots);
    if (empty)
      slot = arith::AddIOp::create(b, loc, slot, cst(slots));
    return smemAtDynamic(slot, b.getI64Type(), base);
  }
  static constexpr int64_t kSlotBarrierBuffer = (1 << 20) + 1;
  /// Buffers of loop-invariant wgmma operands written before their loop
  /// (ids from here), by operand; the expanded loop of each original loop.
  static constexpr int64_t kHoistedOperandBuffer = 1 << 21;
  /// (operand, loop, role: 0 A, 1 B, 2 B from tl.trans) -> its buffer:
  /// written before that loop (another loop reading the same operand writes
  /// its own, as the first write need not dominate it).
  std::map<std::tuple<void *, Operation *, int>, Value> hoistedOperands;
  DenseMap<Operation *, Operation *> expandedLoops;
  /// wgmma dots whose wait is deferred to the first use of their result
  /// (oldest first; each is one committed group), so that later dots and
  /// register work overlap them: flash attention's P V runs while the next
  /// softmax computes. Off in kernels with dots the pipeliner keeps in
  /// flight across iterations (their groups would be counted too).
  SmallVector<Value> pendingWgmma;
  /// Whether wgmma dot `dot` may continue on the registers of the pending
  /// dot result `c` (its C, read by it only): the same accumulator layout
  /// and instruction shape (operand types), as PTX orders in-flight
  /// wgmmas on one accumulator only for the same shape.
  bool chainsOnto(tile::DotOp dot, Value c) {
    auto first = c.getDefiningOp<tile::DotOp>();
    auto elem = [](Value v) { return cast<RankedTensorType>(v.getType()).getElementType(); };
    return first && c.hasOneUse() && dot.getC() == c && dot.getA() != c && dot.getB() != c &&
           tensorOf(c).getEncoding() == tensorOf(dot.getD()).getEncoding() &&
           elem(first.getA()) == elem(dot.getA()) && elem(first.getB()) == elem(dot.getB());
  }
  /// The last instruction's accumulator struct of each (row, column) chunk
  /// of a pending wgmma dot: a dot chained onto it starts from them.
  llvm::DenseMap<Value, SmallVector<Value>> wgmmaStructs;
  bool deferWgmmaWaits = false;
  /// Ping-pong (FlashAttention-3's warpgroup scheduling): with two
  /// warpgroups, the wgmma dots of a loop body with several take turns,
  /// warpgroup 0's first, then 1's, then 0's second...: a warpgroup waits
  /// on named barrier 1 + g before it issues a dot and, once it has,
  /// arrives at the other's (2 - g). One warpgroup's softmax then runs
  /// while the other's dots keep the tensor cores busy, instead of both
  /// computing it at once. Before the loop warpgroup 1 arrives at 1 (0
  /// goes first); after it warpgroup 0 takes 1's last arrival, so both
  /// barriers end empty.
  scf::ForOp ringLoop;
  Value ringGroup;
  bool ringEligible(scf::ForOp op);
  /// The yield operands of `op`'s body that are dots carried across its
  /// back edge (carriedDots).
  SmallVector<unsigned> carriedAcrossBackEdge(scf::ForOp op);
  /// Whether `op` may run while wgmma groups are pending: it neither uses
  /// their results nor touches shared memory or control flow.
  bool runsBesideWgmma(Operation *op);
  /// Waits for the pending groups up to index `upTo` (the others stay in
  /// flight), their results passing through the wait.
  void waitPendingWgmma(int64_t upTo);
  /// The tensor maps the kernel takes after its own parameters: one per
  /// distinct (array, box rows, swizzle), as `tilegpu.tma_load`s use them.
  struct TensorMap {
    /// The first op that uses it: its base, shape and strides describe
    /// the array.
    Operation *first;
    Value base;
    SmallVector<Value> shape, strides;
    Type elem;
    int64_t rows, cols; // the box
    unsigned swizzle;   // 0: none
  };
  SmallVector<TensorMap> tensorMaps;
  SmallVector<Value> tensorMapArgs;
  int tensorMapOf(tessera::tilegpu::TmaLoadOp op);
  int tensorMapOf(tile::DescriptorAtomicAddOp op);
  int tensorMapOf(TensorMap map);
  LogicalResult expandDescriptorAtomicAdd(tile::DescriptorAtomicAddOp op);
  // Bulk reductions expanded: the first thread waits for their adds
  // before the kernel returns.
  int64_t bulkReductions = 0;
  std::string tensorMapRecipe(TensorMap map);
  LogicalResult expandLoad(tile::LoadOp op);
  LogicalResult expandStore(tile::StoreOp op);
  LogicalResult expandAtomic(Operation *op);
  SmallVector<Value> combine(Region &region, ValueRange acc, ValueRange next);

  MLIRContext *ctx;
  func::FuncOp kernel;
  unsigned numWarps;
  OpBuilder b;
  Location loc = UnknownLoc::get(ctx);
  Value tid, lane, warp;
  Operation *prologueEnd = nullptr;
  IRMapping map;
  DenseMap<Value, SmallVector<Value>> tensors;
  SmallVector<std::pair<std::pair<Attribute, std::vector<int64_t>>, ThreadView>>
      views;
  int64_t smemBytes = 0;
  tessera::AxisAnalysis axis;

  /// How many consecutive elements of a load or store through `ptr` (with
  /// `mask`, `other`) one vector access may cover: within a thread's
  /// contiguous block, contiguous and aligned in memory, 16 bytes at most,
  /// and under one mask value.
  int64_t vectorWidth(Value ptr, Value mask, Value other);
  Value vectorGet(Value vec, int64_t i) {
    return LLVM::ExtractElementOp::create(b, loc, vec, cst(i));
  }
  Value vectorOf(ArrayRef<Value> values) {
    auto type = VectorType::get({int64_t(values.size())}, values[0].getType());
    Value vec = LLVM::UndefOp::create(b, loc, type);
    for (auto [i, v] : llvm::enumerate(values))
      vec = LLVM::InsertElementOp::create(b, loc, vec, v, cst(i));
    return vec;
  }
};

int64_t Expander::vectorWidth(Value ptr, Value mask, Value other) {
  auto type = tensorOf(ptr);
  auto layout = layoutOf(type);
  if (!layout)
    return 1;
  Type elem = tessera::tile::getPointeeType(type);
  elem = cast<RankedTensorType>(elem).getElementType();
  if (elem.isInteger(1) || isa<tile::PointerType>(elem))
    return 1;
  int64_t bytes = byteSize(elem);
  unsigned f = layout.getOrder()[0];
  tessera::AxisInfo p = axis.get(ptr);
  int64_t v = std::min<int64_t>({int64_t(layout.getSizePerThread()[f]),
                                 p.contiguity, 16 / bytes});
  while (v > 1 && p.divisibility % (v * bytes))
    v /= 2;
  if (mask)
    v = std::min(v, axis.get(mask).constancy);
  if (other)
    v = std::min(v, axis.get(other).constancy);
  return std::max<int64_t>(v, 1);
}

//===----------------------------------------------------------------------===//
// Driver
//===----------------------------------------------------------------------===//

LogicalResult Expander::run() {
  // The new kernel: pointers become global llvm pointers.
  SmallVector<Type> argTypes;
  for (Type t : kernel.getArgumentTypes()) {
    if (isa<RankedTensorType>(t))
      return kernel.emitOpError("is a kernel, so its arguments must be "
                                "scalars or pointers, got ")
             << t;
    argTypes.push_back(scalarType(t));
  }
  // TMA tensor maps: 128-byte parameters passed by value, read in place
  // (grid constants).
  kernel.walk([&](tessera::tilegpu::TmaLoadOp op) { (void)tensorMapOf(op); });
  kernel.walk([&](tile::DescriptorAtomicAddOp op) { (void)tensorMapOf(op); });
  deferWgmmaWaits = true;
  kernel.walk([&](tile::DotOp dot) {
    if (dot->hasAttr(tessera::tilegpu::kWgmmaInFlightAttr))
      deferWgmmaWaits = false;
  });
  size_t numArgs = argTypes.size();
  for (size_t i = 0; i < tensorMaps.size(); ++i)
    argTypes.push_back(LLVM::LLVMPointerType::get(ctx));
  b.setInsertionPoint(kernel);
  // An llvm.func from the start: nvvm.kernel belongs on one.
  auto simt = LLVM::LLVMFuncOp::create(
      b, kernel.getLoc(), kernel.getName(),
      LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), argTypes));
  Block *entry = simt.addEntryBlock(b);
  SmallVector<Attribute> recipes;
  for (size_t i = 0; i < tensorMaps.size(); ++i) {
    unsigned arg = unsigned(numArgs + i);
    simt.setArgAttr(arg, LLVM::LLVMDialect::getByValAttrName(),
                    TypeAttr::get(LLVM::LLVMArrayType::get(b.getI8Type(), 128)));
    simt.setArgAttr(arg, LLVM::LLVMDialect::getAlignAttrName(), b.getI64IntegerAttr(64));
    simt.setArgAttr(arg, NVVM::NVVMDialect::getGridConstantAttrName(), b.getUnitAttr());
    tensorMapArgs.push_back(entry->getArgument(arg));
    recipes.push_back(b.getStringAttr(tensorMapRecipe(tensorMaps[i])));
  }
  if (!recipes.empty())
    simt->setAttr("tilegpu.tma_maps", b.getArrayAttr(recipes));
  b.setInsertionPointToStart(entry);
  loc = kernel.getLoc();
  tid = amd ? Value(ROCDL::ThreadIdXOp::create(b, loc, i32()))
            : Value(NVVM::ThreadIdXOp::create(b, loc, i32()));
  lane = arith::RemUIOp::create(b, loc, tid, cst(warpSize));
  warp = arith::DivUIOp::create(b, loc, tid, cst(warpSize));
  // Index computations go before this marker, the body after it.
  prologueEnd = arith::ConstantIntOp::create(b, loc, 0, 32);
  for (auto [old, arg] : llvm::zip(kernel.getArguments(), entry->getArguments().take_front(numArgs)))
    map.map(old, arg);
  kernel.walk([&](tile::DotOp dot) {
    if (auto mma = dyn_cast_or_null<MmaEncodingAttr>(tensorOf(dot.getD()).getEncoding()))
      usesWgmma |= mma.getVersionMajor() == 3;
  });
  kernel.walk([&](Operation *op) {
    for (Type t : op->getResultTypes())
      partialIssuerWarp = std::max(partialIssuerWarp, partialWarps(dyn_cast<RankedTensorType>(t)));
  });
  hasPartialLayouts = partialIssuerWarp != 0;
  if (hasPartialLayouts && amd)
    return kernel.emitOpError("has a wgmma layout over fewer warps than the program on an AMD "
                              "target");
  if (failed(expandBlock(kernel.front())))
    return failure();
  // The buffers (copy slots, mbarriers, hoisted operands) start after the
  // scratch bytes used while any buffer was live; scratch used only when
  // none is (a GEMM's epilogue after its loop) shares their bytes.
  int64_t align = usesWgmma ? 1024 : 128;
  int64_t start = ((separate ? smemBytes : smemWhileLive) + align - 1) / align * align;
  int64_t end = start;
  for (auto &[id, entry] : buffers) {
    auto &[placeholder, bytes] = entry;
    placeholder->setAttr("value", b.getI32IntegerAttr(int32_t(end)));
    end += (bytes + align - 1) / align * align;
  }
  smemBytes = std::max(smemBytes, end);
  prologueEnd->erase();
  int32_t threads = int32_t(warpSize * blockWarps());
  if (amd) {
    simt->setAttr("rocdl.kernel", b.getUnitAttr());
    simt->setAttr("rocdl.flat_work_group_size",
                  b.getStringAttr(std::to_string(threads) + "," + std::to_string(threads)));
    simt->setAttr("rocdl.reqd_work_group_size", b.getDenseI32ArrayAttr({threads, 1, 1}));
  } else {
    simt->setAttr(NVVM::NVVMDialect::getKernelFuncAttrName(), b.getUnitAttr());
    simt->setAttr(NVVM::NVVMDialect::getReqntidAttrName(),
                  b.getDenseI32ArrayAttr({threads, 1, 1}));
  }
  simt->setAttr("tilegpu.shared_bytes", b.getI64IntegerAttr(smemBytes));
  kernel.erase();
  return success();
}

bool Expander::runsBesideWgmma(Operation *op) {
  if ((op->getNumRegions() && !isa<tile::ReduceOp>(op)) ||
      op->hasTrait<OpTrait::IsTerminator>())
    return false;
  if (isa<arith::ArithDialect, math::MathDialect>(op->getDialect()) ||
      isa<tile::SplatOp, tile::MakeRangeOp, tile::AddPtrOp, tile::LoadOp, tile::ProgramIdOp,
          tile::NumProgramsOp>(op))
    return true;
  // In a loop whose dots stay in flight across its back edge: the wait
  // for a slot's copies (an mbarrier, no CTA barrier: the empty barriers
  // order the slots' reuse) and views of shared tiles (no code).
  if (!carriedDots.empty()) {
    if (auto wait = dyn_cast<tessera::tilegpu::TmaWaitOp>(op))
      return wait->hasAttr(tessera::tilegpu::kSlotOrderedAttr);
    if (auto trans = dyn_cast<tile::TransOp>(op))
      return isShared(tensorOf(trans.getResult()));
  }
  // Dots on wgmma (one writing operands where pending dots read waits
  // first: claimScratch).
  if (auto dot = dyn_cast<tile::DotOp>(op)) {
    auto mma = dyn_cast_or_null<MmaEncodingAttr>(tensorOf(dot.getD()).getEncoding());
    return mma && mma.getVersionMajor() == 3;
  }
  // Reductions of an mma tile into its slice, in registers.
  if (auto reduce = dyn_cast<tile::ReduceOp>(op)) {
    auto mma = dyn_cast_or_null<MmaEncodingAttr>(tensorOf(reduce.getSrcs()[0]).getEncoding());
    auto slice = dyn_cast_or_null<SliceEncodingAttr>(tensorOf(op->getResult(0)).getEncoding());
    int64_t axis = reduce.getAxisAttr().getInt();
    return mma && slice && slice.getParent() == mma && int64_t(slice.getDim()) == axis &&
           mma.getWarpsPerCTA()[axis] == 1;
  }
  // Layout changes that move no data.
  if (auto convert = dyn_cast<tessera::tilegpu::ConvertLayoutOp>(op))
    return !isShared(tensorOf(convert.getResult())) && recomputable(convert.getSrc());
  if (auto expand = dyn_cast<tile::ExpandDimsOp>(op)) {
    auto slice = dyn_cast_or_null<SliceEncodingAttr>(tensorOf(expand.getSrc()).getEncoding());
    return recomputable(expand.getSrc()) ||
           (slice && slice.getParent() == tensorOf(expand.getResult()).getEncoding());
  }
  if (auto bcast = dyn_cast<tile::BroadcastOp>(op)) {
    Attribute dst = tensorOf(bcast.getResult()).getEncoding();
    return recomputable(bcast.getSrc()) ||
           (dst == bcast.getSrc().getType().getEncoding() &&
            isa_and_nonnull<MmaEncodingAttr, BlockedEncodingAttr>(dst));
  }
  return false;
}

void Expander::waitPendingWgmma(int64_t upTo) {
  SmallVector<Value> values;
  for (int64_t i = 0; i <= upTo; ++i)
    llvm::append_range(values, elems(pendingWgmma[i]));
  values = wgmmaWait(values, int(pendingWgmma.size()) - 1 - int(upTo));
  size_t next = 0;
  for (int64_t i = 0; i <= upTo; ++i)
    for (Value &e : elems(pendingWgmma[i]))
      e = values[next++];
  pendingWgmma.erase(pendingWgmma.begin(), pendingWgmma.begin() + upTo + 1);
}

unsigned Expander::partialRunWarps(Operation *op) {
  if (!hasPartialLayouts || (op->getNumRegions() && !isa<tile::ReduceOp>(op)) ||
      op->hasTrait<OpTrait::IsTerminator>() || isa<arith::ConstantOp>(op) ||
      (op->getNumResults() == 0 && !isa<tile::StoreOp>(op)))
    return 0;
  // Every result is a tile of such a layout (a scalar would be poison for
  // the other warps).
  unsigned w = 0;
  auto same = [&](Value v) {
    unsigned p = partialWarps(tensorOf(v));
    if (!p || (w && p != w))
      return false;
    w = p;
    return true;
  };
  for (Value r : op->getResults())
    if (!same(r))
      return 0;
  auto loop = op->getParentOfType<scf::ForOp>();
  // An operand the dot writes to shared memory once, before its loop
  // (expandWgmmaDot's `hoisted`), by all the warps.
  // (B = tl.trans(x) is written as x's rows, hoisted as x; A = tl.trans(x)
  // is not hoisted.)
  auto hoistable = [&](Value v, bool operandB) {
    if (auto trans = v.getDefiningOp<tile::TransOp>()) {
      if (!operandB || !transposedForWgmmaOnly(trans))
        return false;
      v = trans.getSrc(); // written as its source's rows
    }
    return loop && !loop->isAncestor(v.getParentBlock()->getParentOp()) &&
           expandedLoops.count(loop);
  };
  if (auto dot = dyn_cast<tile::DotOp>(op)) {
    auto d = tensorOf(dot.getD());
    auto mma = dyn_cast<MmaEncodingAttr>(d.getEncoding());
    if (mma.getVersionMajor() != 3 || !same(dot.getC()))
      return 0;
    auto a = tensorOf(dot.getA()), bT = tensorOf(dot.getB());
    bool aOk = isShared(a) || a.getEncoding() == mma || hoistable(dot.getA(), false);
    bool bOk = isShared(bT) || hoistable(dot.getB(), true);
    return aOk && bOk ? w : 0;
  }
  if (auto convert = dyn_cast<tessera::tilegpu::ConvertLayoutOp>(op))
    return !isShared(tensorOf(convert.getSrc())) && recomputable(convert.getSrc()) ? w : 0;
  if (auto reduce = dyn_cast<tile::ReduceOp>(op)) {
    // Within each warp: the mma tile into its slice along an axis of one warp.
    auto mma = dyn_cast_or_null<MmaEncodingAttr>(tensorOf(reduce.getSrcs()[0]).getEncoding());
    int64_t axis = reduce.getAxisAttr().getInt();
    if (!mma || mma.getWarpsPerCTA()[axis] != 1)
      return 0;
  }
  for (Value v : op->getOperands())
    if (tensorOf(v) && !same(v))
      return 0;
  return w;
}

LogicalResult Expander::expandPartialRun(ArrayRef<Operation *> run, unsigned w) {
  loc = run.front()->getLoc();
  // Dots in flight from before stay so (P V while the next scores are
  // issued): the run waits only for its own groups, counted apart (a wait
  // for a newer group waits for the older ones too, so the first warps
  // are done with those when the run ends; the other warps wait for them
  // outside, as the bookkeeping still has them). A run that reads one of
  // their results waits for them first, with every warp.
  SmallVector<Value> outer = std::move(pendingWgmma);
  pendingWgmma.clear();
  // Their scratch reads stay pending too: the run's wait for its own
  // groups says nothing of the other warps' (wgmmaWait(.., 0) would).
  auto outerAsyncReads = std::move(scratchReadsAsync);
  scratchReadsAsync.clear();
  llvm::SmallPtrSet<void *, 8> outerSet;
  for (Value v : outer)
    outerSet.insert(v.getAsOpaquePointer());
  bool readsOuter = false;
  for (Operation *op : run)
    op->walk([&](Operation *inner) {
      for (Value v : inner->getOperands())
        readsOuter |= outerSet.contains(v.getAsOpaquePointer());
    });
  if (readsOuter) {
    pendingWgmma = std::move(outer);
    scratchReadsAsync = std::move(outerAsyncReads);
    waitPendingWgmma(int64_t(pendingWgmma.size()) - 1);
    outer.clear();
    outerAsyncReads.clear();
    llvm::append_range(scratchReads, scratchReadsAsync);
    scratchReadsAsync.clear();
  }
  llvm::scope_exit restore([&] {
    pendingWgmma.insert(pendingWgmma.begin(), outer.begin(), outer.end());
    // (The run reads no scratch: its groups add no async reads.)
    llvm::append_range(scratchReadsAsync, outerAsyncReads);
  });
  Value cond = inPartialWarps(w);
  auto ifOp = scf::IfOp::create(b, loc, TypeRange{}, cond, /*withElseRegion=*/false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    partialRun = w;
    partialRunError = false;
    llvm::scope_exit done([&] { partialRun = 0; });
    for (Operation *op : run)
      if (failed(expandOne(*op)))
        return failure();
    if (!pendingWgmma.empty())
      waitPendingWgmma(int64_t(pendingWgmma.size()) - 1);
    if (partialRunError)
      return run.front()->emitOpError(
          "runs on the first ")
             << w << " warps only (a layout over part of the program) but needs shared memory "
                     "or a barrier of all the warps";
  }
  // The values read after the run: its results, poison for the others.
  llvm::SmallPtrSet<Operation *, 32> inRun(run.begin(), run.end());
  Block *block = run.front()->getBlock();
  SmallVector<Value> escaping, values;
  for (Operation *op : run)
    for (Value r : op->getResults())
      if (llvm::any_of(r.getUsers(), [&](Operation *user) {
            Operation *top = block->findAncestorOpInBlock(*user);
            return !top || !inRun.count(top);
          })) {
        escaping.push_back(r);
        llvm::append_range(values, flat(r));
      }
  if (values.empty())
    return success();
  SmallVector<Type> types;
  for (Value v : values)
    types.push_back(v.getType());
  b.setInsertionPoint(ifOp);
  auto withResults = scf::IfOp::create(b, loc, types, cond, /*withElseRegion=*/true);
  Block *then = withResults.thenBlock();
  then->getOperations().splice(then->end(), ifOp.thenBlock()->getOperations(),
                               ifOp.thenBlock()->begin(),
                               std::prev(ifOp.thenBlock()->end()));
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(then);
    scf::YieldOp::create(b, loc, values);
    b.setInsertionPointToEnd(withResults.elseBlock());
    SmallVector<Value> poison;
    for (Type t : types)
      poison.push_back(LLVM::PoisonOp::create(b, loc, t));
    scf::YieldOp::create(b, loc, poison);
  }
  ifOp.erase();
  b.setInsertionPointAfter(withResults);
  bind(escaping, withResults.getResults());
  return success();
}

LogicalResult Expander::expandBlock(Block &block) {
  for (auto it = block.begin(); it != block.end();) {
    if (unsigned w = partialRunWarps(&*it)) {
      SmallVector<Operation *> run;
      for (; it != block.end() && partialRunWarps(&*it) == w; ++it)
        run.push_back(&*it);
      if (failed(expandPartialRun(run, w)))
        return failure();
      continue;
    }
    Operation &op = *it++;
    if (hasPartialLayouts && !isa<tessera::tilegpu::ConvertLayoutOp, tile::DotOp, scf::YieldOp,
                                  scf::ForOp, scf::IfOp, scf::WhileOp, scf::ConditionOp>(op) &&
        llvm::any_of(op.getOperands(), [&](Value v) { return partialWarps(tensorOf(v)); }))
      return op.emitOpError("reads a tile held by the first warps only (a layout over part "
                            "of the program) outside their run of ops (internal error; please "
                            "report this kernel)");
    if (failed(expandOne(op)))
      return failure();
  }
  return success();
}

LogicalResult Expander::expandOne(Operation &op) {
  {
    if (!pendingWgmma.empty()) {
      loc = op.getLoc();
      int64_t upTo = -1;
      if (isa<scf::YieldOp>(op) && !carriedDots.empty()) {
        // The dots carried across the back edge stay in flight (the next
        // iteration waits for them where it reads them); the others, and
        // any older than the last of them, are waited for.
        for (int64_t i = 0; i < int64_t(pendingWgmma.size()); ++i)
          if (!carriedDots.contains(pendingWgmma[i]))
            upTo = i;
      } else if (!runsBesideWgmma(&op)) {
        upTo = int64_t(pendingWgmma.size()) - 1;
      } else {
        // A wgmma dot accumulating onto a pending one's result (the same
        // accumulator shape: s = q_lat k^T + q_rope k_rope^T) chains on the
        // registers in flight, as the instructions of one dot do.
        auto dot = dyn_cast<tile::DotOp>(op);
        for (OpOperand &use : op.getOpOperands())
          for (int64_t i = 0; i < int64_t(pendingWgmma.size()); ++i)
            if (pendingWgmma[i] == use.get() &&
                !(dot && use.getOperandNumber() == 2 && chainsOnto(dot, use.get())))
              upTo = std::max(upTo, i);
      }
      if (upTo >= 0)
        waitPendingWgmma(upTo);
    }
    // Each op's scratch extent, and whether buffers were live around it
    // (loops, ifs and whiles are accounted by the ops inside them).
    bool structural = isa<scf::ForOp, scf::IfOp, scf::WhileOp>(op);
    int64_t before = smemBytes;
    bool liveBefore = buffersLive;
    unsigned notes = scratchNotes;
    if (!structural)
      smemBytes = 0;
    else // a branch or a loop body starts with reads not tracked here
      scratchUnknown = true;
    if (failed(expandOp(&op)))
      return failure();
    if (!structural) {
      if (liveBefore || buffersLive)
        smemWhileLive = std::max(smemWhileLive, smemBytes);
      largestOpScratch = std::max(largestOpScratch, smemBytes);
      // Scratch used by an op that did not say where it read: unknown.
      if (smemBytes && notes == scratchNotes)
        scratchUnknown = true;
      smemBytes = std::max(before, smemBytes);
    } else {
      scratchUnknown = true; // the reads of whichever branch or iteration ran last
    }
  }
  return success();
}

LogicalResult Expander::expandOp(Operation *op) {
  loc = op->getLoc();
  auto anyTensor = [](TypeRange types) {
    return llvm::any_of(types, [](Type t) { return isa<RankedTensorType>(t); });
  };

  if (auto ret = dyn_cast<func::ReturnOp>(op)) {
    if (ret.getNumOperands())
      return op->emitOpError("kernels return nothing");
    if (bulkReductions) // the blocks in flight are read and added
      predicated(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, cst(0)), [&] {
        NVVM::CpAsyncBulkWaitGroupOp::create(b, loc, 0, UnitAttr());
      });
    if (producerSplit) // both branches end the kernel
      b.setInsertionPointAfter(producerSplit);
    LLVM::ReturnOp::create(b, loc, ValueRange{});
    return success();
  }
  if (auto yield = dyn_cast<scf::YieldOp>(op)) {
    SmallVector<Value> values;
    for (Value v : yield.getOperands())
      llvm::append_range(values, flat(v));
    scf::YieldOp::create(b, loc, values);
    return success();
  }
  if (auto cond = dyn_cast<scf::ConditionOp>(op)) {
    SmallVector<Value> values;
    for (Value v : cond.getArgs())
      llvm::append_range(values, flat(v));
    scf::ConditionOp::create(b, loc, scalar(cond.getCondition()), values);
    return success();
  }
  if (auto forOp = dyn_cast<scf::ForOp>(op))
    return expandFor(forOp);
  if (auto ifOp = dyn_cast<scf::IfOp>(op))
    return expandIf(ifOp);
  if (auto whileOp = dyn_cast<scf::WhileOp>(op))
    return expandWhile(whileOp);

  // The grid.
  if (isa<tile::ProgramIdOp, tile::NumProgramsOp>(op)) {
    bool count = isa<tile::NumProgramsOp>(op);
    auto axis = count ? cast<tile::NumProgramsOp>(op).getAxis()
                      : cast<tile::ProgramIdOp>(op).getAxis();
    Value v;
    if (amd) {
      map.map(op->getResult(0), count ? amdNumPrograms(unsigned(axis)) : amdProgramId(unsigned(axis)));
      return success();
    }
    switch (axis) {
    case tile::ProgramAxis::X:
      v = count ? Value(NVVM::GridDimXOp::create(b, loc, i32()))
                : Value(NVVM::BlockIdXOp::create(b, loc, i32()));
      break;
    case tile::ProgramAxis::Y:
      v = count ? Value(NVVM::GridDimYOp::create(b, loc, i32()))
                : Value(NVVM::BlockIdYOp::create(b, loc, i32()));
      break;
    case tile::ProgramAxis::Z:
      v = count ? Value(NVVM::GridDimZOp::create(b, loc, i32()))
                : Value(NVVM::BlockIdZOp::create(b, loc, i32()));
      break;
    }
    map.map(op->getResult(0), v);
    return success();
  }

  // Building tensors.
  if (auto range = dyn_cast<tile::MakeRangeOp>(op)) {
    ThreadView &v = view(tensorOf(range.getResult()));
    SmallVector<Value> out;
    for (auto &coords : v.coords)
      out.push_back(arith::AddIOp::create(b, loc, coords[0],
                                          cst(range.getStartAttr().getInt())));
    tensors[range.getResult()] = out;
    return success();
  }
  if (auto splat = dyn_cast<tile::SplatOp>(op)) {
    size_t n = view(tensorOf(splat.getResult())).coords.size();
    tensors[splat.getResult()] =
        SmallVector<Value>(n, scalar(splat.getSrc()));
    return success();
  }
  if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
    auto type = tensorOf(constant.getResult());
    if (!type) {
      if (auto f = dyn_cast<FloatAttr>(constant.getValue()); f && isFp8(f.getType())) {
        map.map(constant.getResult(),
                arith::ConstantOp::create(b, loc,
                                          b.getIntegerAttr(b.getI8Type(),
                                                           f.getValue().bitcastToAPInt().getZExtValue())));
        return success();
      }
      map.map(constant.getResult(), b.clone(*op)->getResult(0));
      return success();
    }
    auto dense = dyn_cast<DenseElementsAttr>(constant.getValue());
    if (!dense || !dense.isSplat())
      return op->emitOpError("only splat tensor constants are supported on "
                             "the GPU yet");
    Value s;
    if (auto f = dyn_cast<FloatAttr>(dense.getSplatValue<Attribute>()); f && isFp8(f.getType()))
      s = arith::ConstantOp::create(
          b, loc, b.getIntegerAttr(b.getI8Type(), f.getValue().bitcastToAPInt().getZExtValue()));
    else
      s = arith::ConstantOp::create(b, loc, cast<TypedAttr>(dense.getSplatValue<Attribute>()));
    tensors[constant.getResult()] =
        SmallVector<Value>(view(type).coords.size(), s);
    return success();
  }

  // Pointers and memory.
  if (auto addptr = dyn_cast<tile::AddPtrOp>(op)) {
    Type pointee = cast<tile::PointerType>(
                       getElementTypeOrSelf(addptr.getPtr().getType()))
                       .getPointeeType();
    auto gep = [&](Value p, Value off) -> Value {
      return LLVM::GEPOp::create(b, loc, scalarType(getElementTypeOrSelf(
                                             addptr.getPtr().getType())),
                                 memoryType(pointee), p, ValueRange{off});
    };
    if (!tensorOf(addptr.getResult())) {
      map.map(addptr.getResult(),
              gep(scalar(addptr.getPtr()), scalar(addptr.getOffset())));
      return success();
    }
    auto &ptrs = elems(addptr.getPtr());
    auto &offs = elems(addptr.getOffset());
    SmallVector<Value> out;
    for (size_t e = 0; e < ptrs.size(); ++e)
      out.push_back(gep(ptrs[e], offs[e]));
    tensors[addptr.getResult()] = out;
    return success();
  }
  if (auto load = dyn_cast<tile::LoadOp>(op))
    return expandLoad(load);
  if (auto store = dyn_cast<tile::StoreOp>(op))
    return expandStore(store);
  if (isa<tile::AtomicRMWOp, tile::AtomicCASOp>(op))
    return expandAtomic(op);

  // Asynchronous copies to shared memory.
  if (auto load = dyn_cast<tessera::tilegpu::AsyncLoadOp>(op))
    return expandAsyncLoad(load);
  if (auto load = dyn_cast<tile::DescriptorLoadOp>(op))
    return expandDescriptorLoad(load);
  if (auto add = dyn_cast<tile::DescriptorAtomicAddOp>(op))
    return expandDescriptorAtomicAdd(add);
  if (isa<tile::DescriptorStoreOp>(op))
    return op->emitOpError("must be lowered to element pointers first (tile-lower-descriptors)");
  // TMA: mbarriers per slot, armed by the first thread with the bytes its
  // copies bring, waited for by every thread.
  // A pipeline's mbarriers: the first thread initializes them (`init`) and
  // makes them visible to the async proxy before the threads go on.
  auto initBarriers = [&](function_ref<void()> init) {
    if (!buffersLive) {
      // The slots may share bytes with scratch the threads wrote: make those
      // writes visible to (ordered before) the async proxy's copies.
      NVVM::FenceProxyOp::create(b, loc, NVVM::ProxyKind::async_shared,
                                 NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
      barrier();
    }
    buffersLive = true;
    predicated(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, cst(0)), [&] {
      init();
      NVVM::FenceMbarrierInitOp::create(b, loc);
    });
    barrier();
  };
  if (auto init = dyn_cast<tessera::tilegpu::TmaInitOp>(op)) {
    int64_t slots = init.getSlots();
    initBarriers([&] {
      for (int64_t s = 0; s < slots; ++s)
        NVVM::MBarrierInitOp::create(b, loc, tmaBarrier(cst(s), slots), cst(1), Value());
    });
    return success();
  }
  if (auto producer = dyn_cast<tessera::tilegpu::ProducerOp>(op)) {
    // Warp numWarps runs the region, the others the rest of the kernel.
    if (amd || producerSplit)
      return op->emitOpError("needs an NVIDIA target and one producer region a kernel");
    // With producerRegisters: warps numWarps .. numWarps + 3 (a warpgroup,
    // as setmaxnreg needs) keep that many registers a thread and the first
    // of them runs the region; the consumer warpgroups take the registers
    // given back: a quadrant of the register file (16384, one warp of each
    // warpgroup) holds the producer's warp and numWarps / 4 consumers'.
    unsigned consumerRegs = 0;
    if (producerRegisters) {
      if (numWarps % 4 || producerRegisters < 24 || producerRegisters > 256 ||
          producerRegisters % 8)
        return op->emitOpError("a producer warpgroup needs consumer warpgroups (num_warps a "
                               "multiple of 4) and 24 to 256 registers a multiple of 8, got ")
               << numWarps << " warps and " << producerRegisters << " registers";
      consumerRegs = std::min(256u, (512 - producerRegisters) / (numWarps / 4) / 8 * 8);
    }
    Value isProducer =
        producerRegisters
            ? arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, warp, cst(numWarps))
            : arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, warp, cst(numWarps));
    auto split = scf::IfOp::create(b, loc, isProducer, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(split.thenBlock()->getTerminator());
      if (producerRegisters) {
        NVVM::SetMaxRegisterOp::create(b, loc, producerRegisters,
                                       NVVM::SetMaxRegisterAction::decrease);
        Value first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, warp, cst(numWarps));
        auto issuing = scf::IfOp::create(b, loc, first, /*withElseRegion=*/false);
        b.setInsertionPoint(issuing.thenBlock()->getTerminator());
      }
      inProducer = true;
      llvm::scope_exit done([&] { inProducer = false; });
      if (failed(expandBlock(producer.getBody().front())))
        return failure();
    }
    producerSplit = split;
    b.setInsertionPoint(split.elseBlock()->getTerminator());
    scratchUnknown = true; // the consumers' code: not the producer's reads
    if (producerRegisters)
      NVVM::SetMaxRegisterOp::create(b, loc, consumerRegs, NVVM::SetMaxRegisterAction::increase);
    return success();
  }
  if (auto expect = dyn_cast<tessera::tilegpu::TmaExpectOp>(op)) {
    Value leader = issuer();
    predicated(andPred(scalar(expect.getPred()), leader), [&] {
      NVVM::MBarrierArriveExpectTxOp::create(
          b, loc, Type(), tmaBarrier(scalar(expect.getSlot()), expect.getSlots()),
          cst(expect.getBytes()), NVVM::MemScopeKind::CTA, false, Value());
    });
    return success();
  }
  if (auto load = dyn_cast<tessera::tilegpu::TmaLoadOp>(op))
    return expandTmaLoad(load);
  if (auto view = dyn_cast<tessera::tilegpu::SlotViewOp>(op)) {
    buffersLive = true; // the copies into the slot are in flight or read
    tensors[view.getResult()] = {tmaSlotBase(cast<RankedTensorType>(view.getResult().getType()),
                                             view.getBuffer(), view.getSlots(), view.getSlot())};
    return success();
  }
  if (auto wait = dyn_cast<tessera::tilegpu::TmaWaitOp>(op)) {
    NVVM::MBarrierTryWaitParityOp::create(b, loc, tmaBarrier(scalar(wait.getSlot()), wait.getSlots()),
                                          scalar(wait.getPhase()), cst(0x989680));
    // Without slot barriers, the CTA barrier also says every thread is done
    // with the slot the next copies overwrite.
    if (!wait->hasAttr(tessera::tilegpu::kSlotOrderedAttr))
      barrier();
    return success();
  }
  // Async copies on per-slot mbarriers: every thread arrives at a slot's
  // full barrier when its copies into it are done, and at its empty
  // barrier when it has finished reading it.
  if (auto init = dyn_cast<tessera::tilegpu::SlotBarriersInitOp>(op)) {
    int64_t slots = init.getSlots();
    initBarriers([&] {
      for (int64_t s = 0; s < slots; ++s)
        for (bool empty : {false, true})
          NVVM::MBarrierInitOp::create(b, loc, slotBarrier(cst(s), slots, empty),
                                       cst((empty ? 1 : 2) * 32 * numWarps), Value());
    });
    return success();
  }
  if (auto arrive = dyn_cast<tessera::tilegpu::AsyncArriveOp>(op)) {
    // Two arrivals per thread (a full barrier counts twice the threads):
    // the asynchronous one when the thread's copies are done, and the
    // thread's own, which releases its ordinary shared stores too (copies
    // narrower than 4 bytes are ld.global + st.shared). The .noinc form
    // keeps every phase at a fixed number of arrive-ons; the counting form
    // (pending count raised by one per copy group) is as correct on the
    // hardware, but compute-sanitizer's synccheck counts its increment as
    // an arrival and reports every later one as "Missing wait".
    Value bar = slotBarrier(scalar(arrive.getSlot()), arrive.getSlots(), false);
    NVVM::CpAsyncMBarrierArriveOp::create(b, loc, bar, /*noinc=*/true);
    NVVM::MBarrierArriveOp::create(b, loc, Type(), bar, Value(),
                                   NVVM::MemScopeKindAttr::get(ctx, NVVM::MemScopeKind::CTA));
    return success();
  }
  if (auto wait = dyn_cast<tessera::tilegpu::SlotWaitOp>(op)) {
    NVVM::MBarrierTryWaitParityOp::create(
        b, loc, slotBarrier(scalar(wait.getSlot()), wait.getSlots(), wait.getEmpty()),
        scalar(wait.getPhase()), cst(0x989680));
    if (!wait.getEmpty() && usesWgmma) // the copied tiles, for wgmma's async-proxy reads
      NVVM::FenceProxyOp::create(b, loc, NVVM::ProxyKind::async_shared,
                                 NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
    return success();
  }
  if (auto release = dyn_cast<tessera::tilegpu::SlotReleaseOp>(op)) {
    NVVM::MBarrierArriveOp::create(
        b, loc, Type(), slotBarrier(scalar(release.getSlot()), release.getSlots(), true), Value(),
        NVVM::MemScopeKindAttr::get(ctx, NVVM::MemScopeKind::CTA));
    return success();
  }
  if (auto done = dyn_cast<tessera::tilegpu::SlotBarriersDoneOp>(op)) {
    barrier();
    predicated(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, cst(0)), [&] {
      for (int64_t s = 0; s < int64_t(done.getSlots()); ++s)
        for (bool empty : {false, true})
          NVVM::MBarrierInvalOp::create(b, loc, slotBarrier(cst(s), done.getSlots(), empty));
    });
    return success();
  }
  if (auto done = dyn_cast<tessera::tilegpu::TmaDoneOp>(op)) {
    barrier();
    predicated(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, cst(0)), [&] {
      for (int64_t s = 0; s < int64_t(done.getSlots()); ++s)
        NVVM::MBarrierInvalOp::create(b, loc, tmaBarrier(cst(s), done.getSlots()));
    });
    return success();
  }
  if (isa<tessera::tilegpu::AsyncCommitOp>(op)) {
    NVVM::CpAsyncCommitGroupOp::create(b, loc);
    return success();
  }
  if (auto wait = dyn_cast<tessera::tilegpu::AsyncWaitOp>(op)) {
    NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(wait.getPending()));
    if (usesWgmma) // the copied tiles, for wgmma's reads through the async proxy
      NVVM::FenceProxyOp::create(b, loc, NVVM::ProxyKind::async_shared,
                                 NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
    barrier();
    // After the wait for all that ends a pipelined loop no copy is in
    // flight and no tile is read again (until the next pipelined loop, in
    // a persistent kernel's next tile; expandFor checks that a loop body
    // ends as it began).
    if (wait.getPending() == 0 && wait->hasAttr(tessera::tilegpu::kPipelineDrainedAttr))
      buffersLive = false;
    return success();
  }

  // Moving elements between threads.
  if (auto convert = dyn_cast<tessera::tilegpu::ConvertLayoutOp>(op)) {
    auto dst = tensorOf(convert.getResult());
    if (!isShared(dst) && recomputable(convert.getSrc())) {
      tensors[convert.getResult()] = recompute(
          convert.getSrc(), dst, [](ArrayRef<Value> c) { return SmallVector<Value>(c); });
      return success();
    }
    tensors[convert.getResult()] = convertLayout(convert.getSrc(), dst);
    return success();
  }
  if (auto expand = dyn_cast<tile::ExpandDimsOp>(op); expand && recomputable(expand.getSrc())) {
    unsigned axis = expand.getAxis();
    tensors[expand.getResult()] =
        recompute(expand.getSrc(), tensorOf(expand.getResult()), [&](ArrayRef<Value> c) {
          SmallVector<Value> s(c);
          s.erase(s.begin() + axis);
          return s;
        });
    return success();
  }
  if (auto expand = dyn_cast<tile::ExpandDimsOp>(op)) {
    // From a slice of an mma layout to the parent (whole tiles): each
    // thread already holds its rows' (columns') values.
    auto slice = dyn_cast_or_null<SliceEncodingAttr>(tensorOf(expand.getSrc()).getEncoding());
    auto dst = tensorOf(expand.getResult());
    if (slice && slice.getParent() == dst.getEncoding() && slice.getDim() == expand.getAxis()) {
      unsigned keep = 1 - slice.getDim();
      MmaEncodingAttr mma = slice.getParent();
      if (dst.getShape()[keep] % mma.getShapePerCTA()[keep] == 0) {
        SmallVector<int64_t> reps = mma.getRepetitions(dst.getShape());
        auto &src = elems(expand.getSrc());
        SmallVector<Value> out;
        for (int64_t rm = 0; rm < reps[0]; ++rm)
          for (int64_t rn = 0; rn < reps[1]; ++rn)
            for (int64_t i = 0; i < 4; ++i)
              out.push_back(mma.isMfma()
                                ? (keep == 0 ? src[rm * 4 + i] : src[rn])
                                : (keep == 0 ? src[rm * 2 + i / 2] : src[rn * 2 + i % 2]));
        tensors[expand.getResult()] = out;
        return success();
      }
    }
  }
  if (isa<tile::ExpandDimsOp, tile::ReshapeOp>(op)) {
    // Both keep the row-major order of the elements.
    auto dst = tensorOf(op->getResult(0));
    ArrayRef<int64_t> shape = dst.getShape();
    tensors[op->getResult(0)] = relayout(
        op->getOperand(0), dst,
        [&](ArrayRef<Value> c) { return linear(c, shape); });
    return success();
  }
  if (auto bcast = dyn_cast<tile::BroadcastOp>(op)) {
    auto dst = tensorOf(bcast.getResult());
    ArrayRef<int64_t> srcShape = bcast.getSrc().getType().getShape();
    // Same blocked layout: the thread holding a result element also holds
    // its source (replicated along the broadcast dimensions): no movement.
    if (auto layout = layoutOf(dst); layout && layout == layoutOf(bcast.getSrc().getType())) {
      SmallVector<int64_t> srcPer = layout.getElemsPerThread(srcShape);
      auto &src = elems(bcast.getSrc());
      SmallVector<Value> out;
      for (int64_t e = 0, n = view(dst).coords.size(); e < n; ++e) {
        SmallVector<int64_t> l = localIndex(layout, dst.getShape(), e);
        int64_t index = 0, stride = 1;
        for (unsigned d : layout.getOrder()) {
          index += (srcShape[d] == 1 ? 0 : l[d]) * stride;
          stride *= srcPer[d];
        }
        out.push_back(src[index]);
      }
      tensors[bcast.getResult()] = out;
      return success();
    }
    // Same mma layout: each thread holds the source elements of its rows
    // (or columns), replicated across the broadcast dimension.
    if (auto mma = dyn_cast_or_null<MmaEncodingAttr>(dst.getEncoding());
        mma && mma == bcast.getSrc().getType().getEncoding()) {
      SmallVector<int64_t> dstReps = mma.getRepetitions(dst.getShape());
      SmallVector<int64_t> srcReps = mma.getRepetitions(srcShape);
      auto &src = elems(bcast.getSrc());
      SmallVector<Value> out;
      for (int64_t rm = 0; rm < dstReps[0]; ++rm)
        for (int64_t rn = 0; rn < dstReps[1]; ++rn)
          for (int64_t i = 0; i < 4; ++i) {
            int64_t sm = srcShape[0] == 1 ? 0 : rm, sn = srcShape[1] == 1 ? 0 : rn;
            out.push_back(src[(sm * srcReps[1] + sn) * 4 + i]);
          }
      tensors[bcast.getResult()] = out;
      return success();
    }
    if (recomputable(bcast.getSrc())) {
      tensors[bcast.getResult()] = recompute(bcast.getSrc(), dst, [&](ArrayRef<Value> c) {
        SmallVector<Value> s(c);
        for (size_t d = 0; d < s.size(); ++d)
          if (srcShape[d] == 1)
            s[d] = cst(0);
        return s;
      });
      return success();
    }
    tensors[bcast.getResult()] =
        relayout(bcast.getSrc(), dst, [&](ArrayRef<Value> c) {
          SmallVector<Value> s(c.begin(), c.end());
          for (size_t d = 0; d < s.size(); ++d)
            if (srcShape[d] == 1)
              s[d] = cst(0);
          return linear(s, srcShape);
        });
    return success();
  }
  if (auto trans = dyn_cast<tile::TransOp>(op)) {
    if (transposedForWgmmaOnly(trans))
      return success(); // the dots write the source K-major themselves
    auto dst = tensorOf(trans.getResult());
    if (isShared(dst)) { // a view of the same shared tile
      tensors[trans.getResult()] = {elems(trans.getSrc())[0]};
      return success();
    }
    ArrayRef<int64_t> srcShape = trans.getSrc().getType().getShape();
    ArrayRef<int32_t> order = trans.getOrder();
    tensors[trans.getResult()] =
        relayout(trans.getSrc(), dst, [&](ArrayRef<Value> c) {
          SmallVector<Value> s(c.size());
          for (size_t i = 0; i < c.size(); ++i)
            s[order[i]] = c[i];
          return linear(s, srcShape);
        });
    return success();
  }
  if (auto reduce = dyn_cast<tile::ReduceOp>(op))
    return expandReduce(reduce);
  if (auto scan = dyn_cast<tile::ScanOp>(op))
    return expandScan(scan);
  if (auto dot = dyn_cast<tile::DotOp>(op))
    return expandDot(dot);
  if (auto print = dyn_cast<tile::PrintOp>(op))
    return expandPrint(print);
  if (auto assertOp = dyn_cast<tile::AssertOp>(op))
    return expandAssert(assertOp);
  if (op->getDialect() && isa<tile::TileDialect>(op->getDialect()))
    return op->emitOpError("has no GPU lowering");
  if (isa<func::CallOp>(op))
    return op->emitOpError("calls must be inlined before the GPU lowering");

  if (isa<math::MathDialect>(op->getDialect()))
    return expandMath(op);

  // Everything else (arith on scalars or tensors) element by element.
  if (op->getNumRegions())
    return op->emitOpError("with regions has no GPU lowering");
  if (llvm::any_of(op->getOperandTypes(), isFp8) || llvm::any_of(op->getResultTypes(), isFp8))
    return expandFp8(op);
  if (!anyTensor(op->getOperandTypes()) && !anyTensor(op->getResultTypes())) {
    b.clone(*op, map);
    return success();
  }
  return expandElementwise(op);
}

LogicalResult Expander::expandElementwise(Operation *op) {
  if (!OpTrait::hasElementwiseMappableTraits(op))
    return op->emitOpError("on tensors has no GPU lowering");
  auto type = tensorOf(op->getResult(0));
  size_t n = view(type).coords.size();
  // f32 -> f16/bf16 two elements at a time (cvt.rn.f16x2.f32, sm_80+): half
  // the instructions, and ptxas does not take a scalar cvt.rn.f16.f32 read
  // of a wgmma accumulator for a read inside the wgmma pipeline (C7514,
  // which serializes every wgmma of the kernel).
  if (auto trunc = dyn_cast<arith::TruncFOp>(op);
      trunc && n >= 2 && computeCapability >= 80 &&
      getElementTypeOrSelf(trunc.getIn().getType()).isF32() &&
      (type.getElementType().isF16() || type.getElementType().isBF16()) &&
      !trunc.getRoundingmodeAttr()) {
    Type half = scalarType(type.getElementType());
    auto pair = VectorType::get({2}, half);
    StringRef name = half.isF16() ? "llvm.nvvm.ff2f16x2.rn" : "llvm.nvvm.ff2bf16x2.rn";
    auto &in = elems(trunc.getIn());
    SmallVector<Value> out;
    for (size_t e = 0; e < n; e += 2) {
      Value x = in[e], y = e + 1 < n ? in[e + 1] : in[e];
      // cvt.rn.f16x2.f32 d, a, b puts a in the high half: element 1.
      Value packed = LLVM::CallIntrinsicOp::create(b, loc, pair, b.getStringAttr(name),
                                                   ValueRange{y, x})
                         .getResult(0);
      out.push_back(LLVM::ExtractElementOp::create(b, loc, packed, cst(0)));
      if (e + 1 < n)
        out.push_back(LLVM::ExtractElementOp::create(b, loc, packed, cst(1)));
    }
    tensors[op->getResult(0)] = out;
    return success();
  }
  SmallVector<SmallVector<Value>> results(op->getNumResults());
  for (size_t e = 0; e < n; ++e) {
    OperationState state(loc, op->getName());
    for (Value v : op->getOperands())
      state.addOperands(tensorOf(v) ? elems(v)[e] : scalar(v));
    for (Type t : op->getResultTypes())
      state.addTypes(scalarType(getElementTypeOrSelf(t)));
    state.addAttributes(op->getAttrs());
    Operation *clone = b.create(state);
    for (unsigned r = 0; r < op->getNumResults(); ++r)
      results[r].push_back(clone->getResult(r));
  }
  for (unsigned r = 0; r < op->getNumResults(); ++r)
    tensors[op->getResult(r)] = results[r];
  return success();
}

/// fp8 values live as their bytes: conversions to and from f16/f32 are
/// the sm_89+ cvt instructions, two elements at a time; bitcasts and
/// selects move bytes; nothing else takes fp8 operands.
LogicalResult Expander::expandFp8(Operation *op) {
  if (computeCapability && computeCapability < 89 && isa<arith::ExtFOp, arith::TruncFOp>(op))
    return op->emitOpError("converts fp8 values: that needs sm_89 or newer, the target is sm_")
           << computeCapability;
  bool tensor = isa<RankedTensorType>(op->getResult(0).getType());
  auto valuesOf = [&](Value v) -> SmallVector<Value> {
    if (isa<RankedTensorType>(v.getType()))
      return elems(v);
    return {scalar(v)};
  };
  auto bind = [&](Value result, SmallVector<Value> values) {
    if (tensor)
      tensors[result] = std::move(values);
    else
      map.map(result, values[0]);
  };
  auto i8 = b.getI8Type();
  if (isa<arith::BitcastOp>(op)) {
    SmallVector<Value> in = valuesOf(op->getOperand(0)), out;
    Type to = scalarType(getElementTypeOrSelf(op->getResult(0).getType()));
    for (Value v : in)
      out.push_back(v.getType() == to ? v : Value(LLVM::BitcastOp::create(b, loc, to, v)));
    bind(op->getResult(0), out);
    return success();
  }
  if (isa<arith::SelectOp>(op)) {
    Value cond = op->getOperand(0);
    SmallVector<Value> c = valuesOf(cond), x = valuesOf(op->getOperand(1)),
                       y = valuesOf(op->getOperand(2)), out;
    for (size_t e = 0; e < x.size(); ++e)
      out.push_back(arith::SelectOp::create(b, loc, c[c.size() == 1 ? 0 : e], x[e], y[e]));
    bind(op->getResult(0), out);
    return success();
  }
  if (auto ext = dyn_cast<arith::ExtFOp>(op)) {
    Type from = getElementTypeOrSelf(ext.getIn().getType());
    Type to = getElementTypeOrSelf(ext.getType());
    if (!to.isF16() && !to.isF32())
      return op->emitOpError("converts fp8 only to f16 or f32");
    SmallVector<Value> in = valuesOf(ext.getIn()), out;
    auto pair = VectorType::get({2}, i8);
    auto halves = VectorType::get({2}, b.getF16Type());
    for (size_t e = 0; e < in.size(); e += 2) {
      Value v = LLVM::UndefOp::create(b, loc, pair);
      v = LLVM::InsertElementOp::create(b, loc, v, in[e], cst(0));
      v = LLVM::InsertElementOp::create(b, loc, v, e + 1 < in.size() ? in[e + 1] : in[e], cst(1));
      Value h = NVVM::ConvertF8x2ToF16x2Op::create(b, loc, halves, v, b.getBoolAttr(false),
                                                   TypeAttr::get(from));
      for (int64_t j = 0; j < 2 && e + j < in.size(); ++j) {
        Value x = LLVM::ExtractElementOp::create(b, loc, h, cst(j));
        out.push_back(to.isF32() ? Value(arith::ExtFOp::create(b, loc, to, x)) : x);
      }
    }
    bind(op->getResult(0), out);
    return success();
  }
  if (auto trunc = dyn_cast<arith::TruncFOp>(op)) {
    Type from = getElementTypeOrSelf(trunc.getIn().getType());
    Type to = getElementTypeOrSelf(trunc.getType());
    if (!from.isF16() && !from.isF32())
      return op->emitOpError("converts to fp8 only from f16 or f32");
    SmallVector<Value> in = valuesOf(trunc.getIn()), out;
    auto f32 = b.getF32Type();
    for (size_t e = 0; e < in.size(); e += 2) {
      Value x = in[e], y = e + 1 < in.size() ? in[e + 1] : in[e];
      if (from.isF16()) {
        x = arith::ExtFOp::create(b, loc, f32, x);
        y = arith::ExtFOp::create(b, loc, f32, y);
      }
      // The first operand lands in the high byte: put element e + 1 there.
      Value packed = NVVM::ConvertF32x2ToF8x2Op::create(
          b, loc, b.getI16Type(), y, x,
          NVVM::FPRoundingModeAttr::get(ctx, NVVM::FPRoundingMode::RN),
          NVVM::SaturationModeAttr::get(ctx, NVVM::SaturationMode::SATFINITE),
          b.getBoolAttr(false), TypeAttr::get(to));
      out.push_back(arith::TruncIOp::create(b, loc, i8, packed));
      if (e + 1 < in.size())
        out.push_back(arith::TruncIOp::create(
            b, loc, i8,
            arith::ShRUIOp::create(b, loc, packed,
                                   arith::ConstantIntOp::create(b, loc, 8, 16))));
    }
    bind(op->getResult(0), out);
    return success();
  }
  return op->emitOpError("on fp8 values is not supported; convert them to f16 or f32 first");
}

/// The NVPTX back end has no libcalls for exp/log and friends: f32
/// transcendentals become the hardware's approximations (ex2, lg2, sin, cos,
/// rsqrt), as Triton's do.
FailureOr<Value> Expander::gpuMath(Operation *op, ValueRange x) {
  Type type = x[0].getType();
  auto afn = arith::FastMathFlagsAttr::get(ctx, arith::FastMathFlags::afn);
  auto intrinsic = [&](StringRef name, Value v) -> Value {
    return LLVM::CallIntrinsicOp::create(b, loc, type, b.getStringAttr(name),
                                         ValueRange{v})
        .getResult(0);
  };
  auto scaled = [&](Value v, double factor) -> Value {
    Value c = arith::ConstantOp::create(b, loc, b.getFloatAttr(type, factor));
    return arith::MulFOp::create(b, loc, v, c);
  };
  bool f32 = type.isF32();
  if (amd && f32) {
    // LLVM's intrinsics, which the AMDGPU back end lowers to v_exp_f32,
    // v_log_f32, v_sin_f32 (no device library needed).
    if (isa<math::ExpOp>(op))
      return Value(math::Exp2Op::create(b, loc, scaled(x[0], 1.4426950408889634), afn));
    if (isa<math::Exp2Op>(op))
      return Value(math::Exp2Op::create(b, loc, x[0], afn));
    if (isa<math::Log2Op>(op))
      return Value(math::Log2Op::create(b, loc, x[0], afn));
    if (isa<math::LogOp>(op))
      return Value(math::LogOp::create(b, loc, x[0], afn));
    if (isa<math::SinOp>(op))
      return Value(math::SinOp::create(b, loc, x[0], afn));
    if (isa<math::CosOp>(op))
      return Value(math::CosOp::create(b, loc, x[0], afn));
    if (isa<math::RsqrtOp>(op))
      return intrinsic("llvm.amdgcn.rsq.f32", x[0]);
  }
  if (isa<math::SqrtOp, math::AbsFOp, math::AbsIOp, math::FloorOp,
          math::CeilOp, math::FmaOp>(op)) {
    OperationState state(loc, op->getName());
    state.addOperands(x);
    state.addTypes(type);
    state.addAttributes(op->getAttrs());
    return b.create(state)->getResult(0);
  }
  if (f32) {
    // ex2.approx.ftz: results below 2^-126 flush to zero. The plain form
    // is four instructions around the MUFU (scale the input, square the
    // result) that softmax pays per element.
    if (isa<math::ExpOp>(op))
      return intrinsic("llvm.nvvm.ex2.approx.ftz.f32", scaled(x[0], 1.4426950408889634));
    if (isa<math::Exp2Op>(op))
      return intrinsic("llvm.nvvm.ex2.approx.ftz.f32", x[0]);
    if (isa<math::SinOp>(op))
      return Value(math::SinOp::create(b, loc, x[0], afn));
    if (isa<math::CosOp>(op))
      return Value(math::CosOp::create(b, loc, x[0], afn));
    if (isa<math::Log2Op>(op))
      return intrinsic("llvm.nvvm.lg2.approx.f", x[0]);
    if (isa<math::LogOp>(op))
      return scaled(intrinsic("llvm.nvvm.lg2.approx.f", x[0]), 0.6931471805599453);
    if (isa<math::RsqrtOp>(op))
      return intrinsic("llvm.nvvm.rsqrt.approx.f", x[0]);
  }
  // The rest is the device library's: CUDA's libdevice (__nv_*) or ROCm's
  // ocml (__ocml_*), linked after translation to LLVM IR (only what is
  // called, then inlined).
  // (Both libraries name these functions alike: __nv_tanhf / __nv_tanh,
  // __ocml_tanh_f32 / __ocml_tanh_f64.)
  StringRef base = op->getName().stripDialect();
  if (isa<math::PowFOp>(op))
    base = "pow";
  else if (!isa<math::ErfOp, math::ErfcOp, math::ExpOp, math::Exp2Op, math::LogOp,
                math::Log2Op, math::Log10Op, math::SinOp, math::CosOp, math::TanOp,
                math::RsqrtOp, math::TanhOp, math::SinhOp, math::CoshOp, math::AsinOp,
                math::AcosOp, math::AtanOp, math::AsinhOp, math::AcoshOp, math::AtanhOp,
                math::Atan2Op, math::CbrtOp>(op))
    base = "";
  if (!base.empty() && (f32 || type.isF64())) {
    std::string name = amd ? ("__ocml_" + base + (f32 ? "_f32" : "_f64")).str()
                           : ("__nv_" + base + (f32 ? "f" : "")).str();
    auto module = simtModule();
    auto callee = module.lookupSymbol<LLVM::LLVMFuncOp>(name);
    if (!callee) {
      OpBuilder top(ctx);
      top.setInsertionPointToStart(module.getBody());
      SmallVector<Type> params(x.size(), type);
      callee = LLVM::LLVMFuncOp::create(top, module.getLoc(), name,
                                        LLVM::LLVMFunctionType::get(type, params));
    }
    return LLVM::CallOp::create(b, loc, callee, x).getResult();
  }
  return op->emitOpError("on ") << type << " is not supported by the "
                                << (amd ? "AMD" : "NVIDIA") << " backend yet";
}

Value Expander::globalString(StringRef prefix, const std::string &text) {
  ModuleOp module = simtModule();
  std::string name;
  unsigned n = 0;
  do
    name = (prefix + std::to_string(n++)).str();
  while (module.lookupSymbol(name));
  return LLVM::createGlobalString(loc, b, name, text + '\0', LLVM::Linkage::Internal);
}

/// tl.device_print: each thread prints the elements it owns, a line each
/// as Triton prints them ("pid (x, y, z) idx (i, j) <prefix><value>";
/// scalars without idx; "(operand k)" after the prefix when there are
/// several), through CUDA's vprintf (a format string and a buffer of the
/// arguments, each at its natural alignment).
LogicalResult Expander::expandPrint(tile::PrintOp op) {
  if (amd)
    return op->emitOpError("is not supported by the AMD backend yet");
  ModuleOp module = simtModule();
  Type ptrTy = LLVM::LLVMPointerType::get(ctx);
  auto vprintf = module.lookupSymbol<LLVM::LLVMFuncOp>("vprintf");
  if (!vprintf) {
    OpBuilder top(ctx);
    top.setInsertionPointToStart(module.getBody());
    vprintf = LLVM::LLVMFuncOp::create(top, module.getLoc(), "vprintf",
                                       LLVM::LLVMFunctionType::get(i32(), {ptrTy, ptrTy}));
  }
  Value pids[3] = {NVVM::BlockIdXOp::create(b, loc, i32()),
                   NVVM::BlockIdYOp::create(b, loc, i32()),
                   NVVM::BlockIdZOp::create(b, loc, i32())};
  std::string prefix;
  for (char c : op.getPrefix())
    prefix += c == '%' ? std::string("%%") : std::string(1, c);
  auto print = [&](const std::string &format, ArrayRef<Value> values) {
    Value fmt = globalString("tessera_print_", format);
    SmallVector<Type> fields{i32(), i32(), i32()};
    for (Value v : values)
      fields.push_back(v.getType());
    auto bufferType = LLVM::LLVMStructType::getLiteral(ctx, fields);
    Value buffer;
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(prologueEnd); // one buffer per print, outside any loop
      buffer = LLVM::AllocaOp::create(b, loc, ptrTy, bufferType, cst(1), 8);
    }
    SmallVector<Value> all(pids, pids + 3);
    all.append(values.begin(), values.end());
    for (auto [i, v] : llvm::enumerate(all)) {
      Value at = LLVM::GEPOp::create(b, loc, ptrTy, bufferType, buffer,
                                     ArrayRef<LLVM::GEPArg>{0, int32_t(i)});
      LLVM::StoreOp::create(b, loc, v, at);
    }
    LLVM::CallOp::create(b, loc, vprintf, ValueRange{fmt, buffer});
  };
  auto printable = [&](Value v, Type elem, std::string &spec) -> Value {
    if (isa<tile::PointerType>(elem)) {
      spec = "0x%llx";
      return LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), v);
    }
    Type t = v.getType();
    if (isa<FloatType>(t)) {
      spec = "%f";
      return t.isF64() ? v : arith::ExtFOp::create(b, loc, b.getF64Type(), v).getResult();
    }
    unsigned width = t.getIntOrFloatBitWidth();
    if (op.getHex())
      spec = width > 32 ? "0x%llx" : "0x%x";
    else
      spec = width > 32 ? "%lld" : "%d";
    if (width < 32)
      v = width == 1 || op.getHex() ? arith::ExtUIOp::create(b, loc, i32(), v).getResult()
                                    : arith::ExtSIOp::create(b, loc, i32(), v).getResult();
    return v;
  };
  auto args = op.getArgs();
  // A scalar (or the bare message) once a program, as on the CPU backend:
  // by the first thread.
  Value first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, cst(0));
  if (args.empty())
    predicated(first, [&] { print("pid (%d, %d, %d) " + prefix + "\n", {}); });
  for (auto [k, arg] : llvm::enumerate(args)) {
    std::string label =
        prefix + (args.size() > 1 ? "(operand " + std::to_string(k) + ") " : "");
    Type elem = getElementTypeOrSelf(arg.getType());
    auto type = tensorOf(arg);
    std::string spec;
    if (!type) {
      predicated(first, [&] {
        Value v = printable(scalar(arg), elem, spec);
        print("pid (%d, %d, %d) " + label + spec + "\n", {v});
      });
      continue;
    }
    if (isShared(type))
      return op.emitOpError("of a shared-memory tile is not supported");
    ThreadView &v = view(type);
    auto &values = elems(arg);
    for (size_t e = 0; e < values.size(); ++e) {
      auto body = [&] {
        SmallVector<Value> fields(v.coords[e].begin(), v.coords[e].end());
        fields.push_back(printable(values[e], elem, spec));
        std::string idx = "idx (";
        for (size_t d = 0; d < v.coords[e].size(); ++d)
          idx += d ? ", %d" : "%d";
        print("pid (%d, %d, %d) " + idx + ") " + label + spec + "\n", fields);
      };
      if (v.owner.empty())
        body();
      else
        predicated(v.owner[e], body);
    }
  }
  return success();
}

/// tl.device_assert: a thread whose element of the condition is false
/// calls CUDA's __assertfail (message, Python file and line), which
/// reports it and stops the kernel; the launch's next synchronization fails.
LogicalResult Expander::expandAssert(tile::AssertOp op) {
  if (amd)
    return op->emitOpError("is not supported by the AMD backend yet");
  ModuleOp module = simtModule();
  Type ptrTy = LLVM::LLVMPointerType::get(ctx);
  auto fail = module.lookupSymbol<LLVM::LLVMFuncOp>("__assertfail");
  if (!fail) {
    OpBuilder top(ctx);
    top.setInsertionPointToStart(module.getBody());
    fail = LLVM::LLVMFuncOp::create(
        top, module.getLoc(), "__assertfail",
        LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx),
                                    {ptrTy, ptrTy, i32(), ptrTy, b.getI64Type()}));
  }
  std::string file = "<unknown>";
  int64_t line = 0;
  if (auto at = dyn_cast<FileLineColLoc>(op.getLoc())) {
    file = at.getFilename().str();
    line = at.getLine();
  }
  Value args[] = {globalString("tessera_assert_msg_", op.getMessage().str()),
                  globalString("tessera_assert_file_", file), cst(line),
                  globalString("tessera_assert_func_", kernel.getName().str()),
                  arith::ConstantIntOp::create(b, loc, 1, 64)};
  auto report = [&](Value ok) {
    Value bad = arith::XOrIOp::create(b, loc, ok, arith::ConstantIntOp::create(b, loc, 1, 1));
    predicated(bad, [&] { LLVM::CallOp::create(b, loc, fail, args); });
  };
  Value cond = op.getCondition();
  auto type = tensorOf(cond);
  if (!type) {
    report(scalar(cond));
    return success();
  }
  if (isShared(type))
    return op.emitOpError("of a shared-memory tile is not supported");
  for (Value v : elems(cond))
    report(v);
  return success();
}

LogicalResult Expander::expandMath(Operation *op) {
  auto type = tensorOf(op->getResult(0));
  if (!type) {
    SmallVector<Value> operands;
    for (Value v : op->getOperands())
      operands.push_back(scalar(v));
    FailureOr<Value> r = gpuMath(op, operands);
    if (failed(r))
      return failure();
    map.map(op->getResult(0), *r);
    return success();
  }
  SmallVector<Value> out;
  for (size_t e = 0; e < view(type).coords.size(); ++e) {
    SmallVector<Value> operands;
    for (Value v : op->getOperands())
      operands.push_back(tensorOf(v) ? elems(v)[e] : scalar(v));
    FailureOr<Value> r = gpuMath(op, operands);
    if (failed(r))
      return failure();
    out.push_back(*r);
  }
  tensors[op->getResult(0)] = out;
  return success();
}

//===----------------------------------------------------------------------===//
// Control flow
//===----------------------------------------------------------------------===//

SmallVector<unsigned> Expander::carriedAcrossBackEdge(scf::ForOp op) {
  SmallVector<unsigned> carried;
  if (!hasPartialLayouts || !deferWgmmaWaits || amd)
    return carried;
  Block *body = op.getBody();
  // A loop the pipeliner lagged (`lag`): its copies wait for the slots'
  // release (empty mbarriers), not for a CTA barrier after the TMA wait.
  bool scores = llvm::any_of(*body, [&](Operation &o) { return partialRunWarps(&o) != 0; });
  bool lagged = llvm::any_of(*body, [](Operation &o) {
    auto wait = dyn_cast<tessera::tilegpu::SlotWaitOp>(o);
    return wait && wait.getEmpty();
  });
  if (!scores || !lagged)
    return carried;
  for (OpOperand &use : body->getTerminator()->getOpOperands()) {
    auto dot = use.get().getDefiningOp<tile::DotOp>();
    if (!dot || dot->getBlock() != body || !use.get().hasOneUse())
      continue;
    auto mma = dyn_cast_or_null<MmaEncodingAttr>(tensorOf(dot.getD()).getEncoding());
    if (mma && mma.getVersionMajor() == 3 && !partialWarps(tensorOf(dot.getD())))
      carried.push_back(use.getOperandNumber());
  }
  return carried;
}

/// A loop the pipeliner gave slot barriers (it does so only for loops whose
/// body holds two or more wgmma dots over two warpgroups, none left in
/// flight): without a barrier of all threads per iteration the turns pay;
/// with one, they cost more than they overlap.
bool Expander::ringEligible(scf::ForOp op) {
  if (!pingPong || numWarps != 8 || ringLoop || inProducer || hasPartialLayouts)
    return false;
  return llvm::any_of(*op.getBody(),
                      [](Operation &o) { return isa<tessera::tilegpu::SlotReleaseOp>(o); });
}

LogicalResult Expander::expandFor(scf::ForOp op) {
  bool ring = ringEligible(op);
  Value group;
  if (ring) { // warpgroup 1 lets 0 issue first
    group = arith::DivUIOp::create(b, loc, warp, cst(4));
    predicated(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, group, cst(1)), [&] {
      NVVM::BarrierArriveOp::create(b, loc, cst(1), cst(32 * numWarps));
    });
  }
  SmallVector<Value> inits;
  for (Value v : op.getInitArgs())
    llvm::append_range(inits, flat(v));
  auto forOp = scf::ForOp::create(b, loc, scalar(op.getLowerBound()),
                                  scalar(op.getUpperBound()),
                                  scalar(op.getStep()), inits);
  expandedLoops[op] = forOp;
  if (Attribute unroll = op->getAttr(tessera::tile::kLoopUnrollFactorAttr))
    forOp->setAttr(tessera::tile::kLoopUnrollFactorAttr, unroll);
  Block *body = forOp.getBody();
  if (!body->empty() && isa<scf::YieldOp>(body->back()))
    body->back().erase();
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(body);
    map.map(op.getInductionVar(), forOp.getInductionVar());
    bind(op.getRegionIterArgs(), forOp.getRegionIterArgs());
    bool liveBefore = buffersLive;
    loopLiveAtStart[op] = liveBefore;
    if (ring) {
      ringLoop = op;
      ringGroup = group;
    }
    llvm::scope_exit ringDone([&] {
      if (ring)
        ringLoop = scf::ForOp();
    });
    // Dots carried across the back edge: their iteration arguments start
    // the body pending (the first iteration's are not dots' results; the
    // wait for them is then for nothing).
    SmallVector<unsigned> carried = carriedAcrossBackEdge(op);
    auto outerCarried = std::move(carriedDots);
    carriedDots.clear();
    for (unsigned i : carried) {
      carriedDots.insert(op.getBody()->getTerminator()->getOperand(i));
      pendingWgmma.push_back(op.getRegionIterArgs()[i]);
    }
    llvm::scope_exit carriedDone([&] { carriedDots = std::move(outerCarried); });
    if (failed(expandBlock(*op.getBody())))
      return failure();
    pendingWgmma.clear(); // the carried dots (the body's values)
    // The next iteration starts with the buffers as this one ends: if that
    // differs from how the body was expanded (live at the end but not at
    // the start: scratch used early in the body may overlap copies in
    // flight; the other way round: no barrier before the next iteration's
    // first copies), the scratch area gets bytes of its own.
    if (buffersLive != liveBefore)
      separate = true;
  }
  bind(op.getResults(), forOp.getResults());
  for (unsigned i : carriedAcrossBackEdge(op)) // waited for where they are read
    pendingWgmma.push_back(op.getResult(i));
  if (ring) // warpgroup 0 takes 1's last arrival
    predicated(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, group, cst(0)), [&] {
      NVVM::BarrierOp::create(b, loc, Type(), cst(1), cst(32 * numWarps), {}, Value());
    });
  // wgmma dots left in flight by the loop: wait for them, the accumulators
  // passing through the wait so that nothing reads them earlier.
  bool inFlight = false;
  op.getBody()->walk([&](tile::DotOp dot) {
    inFlight |= dot->hasAttr(tessera::tilegpu::kWgmmaInFlightAttr);
  });
  if (inFlight) {
    // The in-flight accumulators: the results the marked dots yield (the
    // pipeliner marks only dots whose result goes straight to the yield).
    SmallVector<Value> results;
    for (OpOperand &use : op.getBody()->getTerminator()->getOpOperands())
      if (auto dot = use.get().getDefiningOp<tile::DotOp>();
          dot && dot->hasAttr(tessera::tilegpu::kWgmmaInFlightAttr))
        results.push_back(op.getResult(use.getOperandNumber()));
    SmallVector<Value> accs;
    for (Value r : results)
      llvm::append_range(accs, elems(r));
    accs = wgmmaWait(accs, 0);
    size_t next = 0;
    for (Value r : results)
      for (Value &e : elems(r))
        e = accs[next++];
  }
  return success();
}

/// `wgmma.wait_group.sync.aligned pending` as inline asm that takes
/// `values` (fp32 or i32 accumulators) and gives them back: their uses
/// depend on the wait, so neither LLVM nor ptxas reads them before it.
SmallVector<Value> Expander::wgmmaWait(ArrayRef<Value> values, int pending) {
  if (pending == 0) { // every group's reads are done (not yet ordered by a barrier)
    llvm::append_range(scratchReads, scratchReadsAsync);
    scratchReadsAsync.clear();
  }
  std::string constraints;
  SmallVector<Type> types;
  for (size_t i = 0; i < values.size(); ++i) {
    constraints += (i ? ",=" : "=");
    // wgmma accumulators: fp32 ("f") or s32 ("r") registers.
    assert((values[i].getType().isF32() || values[i].getType().isInteger(32)) &&
           "wgmma accumulators are 32-bit");
    constraints += values[i].getType().isF32() ? "f" : "r";
    types.push_back(values[i].getType());
  }
  for (size_t i = 0; i < values.size(); ++i)
    constraints += "," + std::to_string(i);
  std::string text = "wgmma.wait_group.sync.aligned " + std::to_string(pending) + ";";
  if (values.empty()) {
    NVVM::WgmmaWaitGroupSyncOp::create(b, loc, pending);
    return {};
  }
  // One output is returned as itself, several as a struct.
  Type resultType = values.size() == 1 ? types[0] : LLVM::LLVMStructType::getLiteral(ctx, types);
  auto asmOp = LLVM::InlineAsmOp::create(
      b, loc, resultType, ValueRange(values), b.getStringAttr(text),
      b.getStringAttr(constraints), /*has_side_effects=*/b.getUnitAttr(),
      /*is_align_stack=*/UnitAttr(), LLVM::TailCallKindAttr::get(ctx, LLVM::TailCallKind::None),
      LLVM::AsmDialectAttr::get(ctx, LLVM::AsmDialect::AD_ATT), ArrayAttr());
  if (values.size() == 1)
    return {asmOp.getRes()};
  SmallVector<Value> out;
  for (size_t i = 0; i < values.size(); ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, loc, asmOp.getRes(), ArrayRef<int64_t>{int64_t(i)}));
  return out;
}

LogicalResult Expander::expandIf(scf::IfOp op) {
  SmallVector<Type> types = flatTypes(op.getResultTypes());
  auto ifOp = scf::IfOp::create(b, loc, types, scalar(op.getCondition()),
                                /*withElseRegion=*/!op.getElseRegion().empty());
  // Each branch starts with the buffers as they are before the if; the
  // state after it is either branch's end (both the same, or keep all
  // scratch apart from the buffers).
  bool liveBefore = buffersLive;
  SmallVector<bool> ends;
  for (auto [oldRegion, newRegion] :
       {std::pair<Region *, Region *>{&op.getThenRegion(), &ifOp.getThenRegion()},
        {&op.getElseRegion(), &ifOp.getElseRegion()}}) {
    buffersLive = liveBefore;
    scratchUnknown = true; // (not the other branch's reads)
    if (!oldRegion->empty()) {
      Block *block = &newRegion->front();
      block->clear();
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToEnd(block);
      if (failed(expandBlock(oldRegion->front())))
        return failure();
    }
    ends.push_back(buffersLive);
  }
  if (ends[0] != ends[1])
    separate = true;
  buffersLive = ends[0] || ends[1];
  bind(op.getResults(), ifOp.getResults());
  return success();
}

LogicalResult Expander::expandWhile(scf::WhileOp op) {
  SmallVector<Value> inits;
  for (Value v : op.getInits())
    llvm::append_range(inits, flat(v));
  SmallVector<Type> resultTypes = flatTypes(op.getResultTypes());
  SmallVector<Type> beforeTypes = flatTypes(ValueRange(op.getBeforeArguments()).getTypes());
  auto whileOp = scf::WhileOp::create(b, loc, resultTypes, inits);
  SmallVector<Location> beforeLocs(beforeTypes.size(), loc),
      afterLocs(resultTypes.size(), loc);
  Block *before = b.createBlock(&whileOp.getBefore(), {}, beforeTypes, beforeLocs);
  Block *after = b.createBlock(&whileOp.getAfter(), {}, resultTypes, afterLocs);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(before);
    bind(op.getBeforeArguments(), before->getArguments());
    bool liveBefore = buffersLive;
    if (failed(expandBlock(op.getBefore().front())))
      return failure();
    bool liveAtCondition = buffersLive; // the loop exits from here
    b.setInsertionPointToEnd(after);
    bind(op.getAfterArguments(), after->getArguments());
    if (failed(expandBlock(op.getAfter().front())))
      return failure();
    if (buffersLive != liveBefore || liveAtCondition != liveBefore) // as in expandFor
      separate = true;
    buffersLive = liveAtCondition;
  }
  b.setInsertionPointAfter(whileOp);
  bind(op.getResults(), whileOp.getResults());
  return success();
}

//===----------------------------------------------------------------------===//
// Memory
//===----------------------------------------------------------------------===//

LogicalResult Expander::expandLoad(tile::LoadOp op) {
  Type elem = scalarType(getElementTypeOrSelf(op.getType()));
  bool isVolatile = op.getIsVolatile();
  auto loadOne = [&](Value ptr, Value mask, Value other) -> Value {
    auto doLoad = [&]() -> Value {
      Value v = LLVM::LoadOp::create(b, loc, memoryType(elem), ptr,
                                     /*alignment=*/0, isVolatile);
      return fromMemory(v, elem);
    };
    if (!mask)
      return doLoad();
    auto ifOp = scf::IfOp::create(b, loc, TypeRange{scalarType(elem)}, mask,
                                  /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      scf::YieldOp::create(b, loc, doLoad());
      b.setInsertionPointToStart(&ifOp.getElseRegion().front());
      Value alt = other ? other
                        : arith::ConstantOp::create(
                              b, loc, cast<TypedAttr>(b.getZeroAttr(elem)));
      scf::YieldOp::create(b, loc, alt);
    }
    return ifOp.getResult(0);
  };
  if (!tensorOf(op.getResult())) {
    map.map(op.getResult(),
            loadOne(scalar(op.getPtr()),
                    op.getMask() ? scalar(op.getMask()) : Value(),
                    op.getOther() ? scalar(op.getOther()) : Value()));
    return success();
  }
  auto &ptrs = elems(op.getPtr());
  SmallVector<Value> out;
  int64_t width = vectorWidth(op.getPtr(), op.getMask(), op.getOther());
  if (width > 1 && !isVolatile) {
    auto vecType = VectorType::get({width}, elem);
    unsigned align = width * byteSize(elem);
    for (size_t e = 0; e < ptrs.size(); e += width) {
      auto doLoad = [&]() -> Value {
        return LLVM::LoadOp::create(b, loc, vecType, ptrs[e], align);
      };
      Value vec;
      if (!op.getMask()) {
        vec = doLoad();
      } else {
        auto ifOp = scf::IfOp::create(b, loc, TypeRange{vecType},
                                      elems(op.getMask())[e], true);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(&ifOp.getThenRegion().front());
        scf::YieldOp::create(b, loc, doLoad());
        b.setInsertionPointToStart(&ifOp.getElseRegion().front());
        SmallVector<Value> alt;
        for (int64_t i = 0; i < width; ++i)
          alt.push_back(op.getOther()
                            ? elems(op.getOther())[e + i]
                            : arith::ConstantOp::create(
                                  b, loc, cast<TypedAttr>(b.getZeroAttr(elem))));
        scf::YieldOp::create(b, loc, vectorOf(alt));
        vec = ifOp.getResult(0);
      }
      for (int64_t i = 0; i < width; ++i)
        out.push_back(vectorGet(vec, i));
    }
    tensors[op.getResult()] = out;
    return success();
  }
  for (size_t e = 0; e < ptrs.size(); ++e)
    out.push_back(loadOne(ptrs[e], op.getMask() ? elems(op.getMask())[e] : Value(),
                          op.getOther() ? elems(op.getOther())[e] : Value()));
  tensors[op.getResult()] = out;
  return success();
}

LogicalResult Expander::expandStore(tile::StoreOp op) {
  auto storeOne = [&](Value ptr, Value value, Value pred) {
    predicated(pred, [&] {
      LLVM::StoreOp::create(b, loc, toMemory(value), ptr);
    });
  };
  if (!tensorOf(op.getPtr())) {
    // Every thread holds the scalar: thread 0 stores it.
    Value first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid,
                                        cst(0));
    storeOne(scalar(op.getPtr()), scalar(op.getValue()),
             andPred(first, op.getMask() ? scalar(op.getMask()) : Value()));
    return success();
  }
  ThreadView &v = view(tensorOf(op.getPtr()));
  auto &ptrs = elems(op.getPtr());
  auto &vals = elems(op.getValue());
  int64_t width = vectorWidth(op.getPtr(), op.getMask(), Value());
  if (width > 1) {
    Type elem = tensorOf(op.getValue()).getElementType();
    unsigned align = width * byteSize(elem);
    for (size_t e = 0; e < ptrs.size(); e += width) {
      Value pred = op.getMask() ? elems(op.getMask())[e] : Value();
      if (!v.owner.empty())
        pred = andPred(pred, v.owner[e]);
      Value vec = vectorOf(ArrayRef<Value>(vals).slice(e, width));
      predicated(pred, [&] {
        LLVM::StoreOp::create(b, loc, vec, ptrs[e], align);
      });
    }
    return success();
  }
  for (size_t e = 0; e < ptrs.size(); ++e) {
    Value pred = op.getMask() ? elems(op.getMask())[e] : Value();
    if (!v.owner.empty())
      pred = andPred(pred, v.owner[e]);
    storeOne(ptrs[e], vals[e], pred);
  }
  return success();
}

LogicalResult Expander::expandAtomic(Operation *op) {
  Value result = op->getResult(0);
  Type elem = getElementTypeOrSelf(result.getType());
  auto rmw = dyn_cast<tile::AtomicRMWOp>(op);
  auto cas = dyn_cast<tile::AtomicCASOp>(op);
  // A relaxed float add whose old values nobody reads (a backward's dq
  // added up across programs): `red`, with no value back, and on sm_90
  // adjacent elements in one instruction (red.v2 / red.v4.f32).
  if (rmw && result.use_empty() && tensorOf(result) && elem.isF32() &&
      rmw.getKind() == tile::RMWKind::FAdd && rmw.getSem() == tile::MemSemantic::Relaxed) {
    Value mask = rmw.getMask();
    ThreadView &vw = view(tensorOf(result));
    auto &ptrs = elems(rmw.getPtr());
    auto &vals = elems(rmw.getVal());
    int64_t width = 1;
    if (computeCapability >= 90) {
      width = std::min<int64_t>(4, vectorWidth(rmw.getPtr(), mask, Value()));
      // An mma accumulator's elements come in pairs of adjacent columns
      // (c0 c1, c2 c3 of each 8-column step): two at a time where the
      // addresses run on and are 8-byte aligned, and the mask holds.
      if (isa_and_nonnull<MmaEncodingAttr>(tensorOf(result).getEncoding()) &&
          tensorOf(result).getRank() == 2) {
        tessera::AxisInfo p = axis.get(rmw.getPtr());
        bool pairs = p.contiguity >= 2 && p.divisibility % 8 == 0 &&
                     (!mask || axis.get(mask).constancy >= 2);
        width = pairs ? 2 : 1;
      }
    }
    std::string scope = rmw.getScope() == tile::MemScope::CTA      ? "cta"
                        : rmw.getScope() == tile::MemScope::System ? "sys"
                                                                   : "gpu";
    std::string text = "red.relaxed." + scope + ".global.add" +
                       (width > 1 ? ".v" + std::to_string(width) : std::string()) + ".f32 [$0], ";
    std::string constraints = "l";
    for (int64_t i = 0; i < width; ++i) {
      text += (i ? ", $" : width > 1 ? "{$" : "$") + std::to_string(i + 1);
      constraints += ",f";
    }
    text += width > 1 ? "};" : ";";
    for (size_t e = 0; e < ptrs.size(); e += width) {
      Value pred = mask ? elems(mask)[e] : Value();
      if (!vw.owner.empty())
        pred = andPred(pred, vw.owner[e]);
      predicated(pred, [&] {
        SmallVector<Value> operands = {ptrs[e]};
        for (int64_t i = 0; i < width; ++i)
          operands.push_back(vals[e + i]);
        LLVM::InlineAsmOp::create(
            b, loc, Type(), operands, b.getStringAttr(text), b.getStringAttr(constraints),
            /*has_side_effects=*/b.getUnitAttr(), UnitAttr(),
            LLVM::TailCallKindAttr::get(ctx, LLVM::TailCallKind::None),
            LLVM::AsmDialectAttr::get(ctx, LLVM::AsmDialect::AD_ATT), ArrayAttr());
      });
    }
    Value zero = arith::ConstantOp::create(b, loc, cast<TypedAttr>(b.getZeroAttr(elem)));
    tensors[result] = SmallVector<Value>(ptrs.size(), zero); // never read
    return success();
  }
  auto one = [&](ValueRange v, Value pred) -> Value {
    auto ifOp = scf::IfOp::create(b, loc, TypeRange{elem}, pred, true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    Value old;
    if (rmw) {
      old = LLVM::AtomicRMWOp::create(
          b, loc, tessera::llvmBinOp(rmw.getKind(), isa<FloatType>(elem)), v[0],
          v[1], tessera::llvmOrdering(rmw.getSem()));
    } else {
      LLVM::AtomicOrdering success = tessera::llvmOrdering(cas.getSem());
      LLVM::AtomicOrdering failure = tessera::casFailureOrdering(success);
      Type intType = b.getIntegerType(elem.getIntOrFloatBitWidth());
      Value c = v[1], n = v[2];
      if (elem != intType) {
        c = arith::BitcastOp::create(b, loc, intType, c);
        n = arith::BitcastOp::create(b, loc, intType, n);
      }
      Value pair =
          LLVM::AtomicCmpXchgOp::create(b, loc, v[0], c, n, success, failure);
      old = LLVM::ExtractValueOp::create(b, loc, pair, 0);
      if (elem != intType)
        old = arith::BitcastOp::create(b, loc, elem, old);
    }
    scf::YieldOp::create(b, loc, old);
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    Value zero =
        arith::ConstantOp::create(b, loc, cast<TypedAttr>(b.getZeroAttr(elem)));
    scf::YieldOp::create(b, loc, zero);
    return ifOp.getResult(0);
  };
  SmallVector<Value> operands(op->getOperands());
  Value mask = rmw && rmw.getMask() ? rmw.getMask() : Value();
  if (mask)
    operands.pop_back();
  if (!tensorOf(result)) {
    // One thread performs a scalar atomic; the others get its result
    // through shared memory.
    SmallVector<Value> v;
    for (Value o : operands)
      v.push_back(scalar(o));
    Value pred = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid,
                                       cst(0));
    pred = andPred(pred, mask ? scalar(mask) : Value());
    Value old = one(v, pred);
    barrier();
    Value zero = cst(0);
    predicated(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, zero),
               [&] { LLVM::StoreOp::create(b, loc, toMemory(old),
                                           smemAt(zero, elem, 0)); });
    smemBytes = std::max(smemBytes, byteSize(elem));
    barrier();
    map.map(result, smemRead(zero, elem, 0));
    noteScratchReads(0, byteSize(elem));
    return success();
  }
  ThreadView &view_ = view(tensorOf(result));
  SmallVector<Value> out;
  for (size_t e = 0; e < view_.coords.size(); ++e) {
    SmallVector<Value> v;
    for (Value o : operands)
      v.push_back(elems(o)[e]);
    Value pred = mask ? elems(mask)[e] : Value();
    if (!view_.owner.empty())
      pred = andPred(pred, view_.owner[e]);
    if (!pred)
      pred = arith::ConstantIntOp::create(b, loc, 1, 1);
    out.push_back(one(v, pred));
  }
  tensors[result] = out;
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions, scans, dot
//===----------------------------------------------------------------------===//

SmallVector<Value> Expander::combine(Region &region, ValueRange acc,
                                     ValueRange next) {
  Block &block = region.front();
  IRMapping local;
  for (auto [i, v] : llvm::enumerate(acc))
    local.map(block.getArgument(i), v);
  for (auto [i, v] : llvm::enumerate(next))
    local.map(block.getArgument(acc.size() + i), v);
  for (Operation &op : block.without_terminator())
    b.clone(op, local);
  SmallVector<Value> out;
  for (Value v : block.getTerminator()->getOperands())
    out.push_back(local.lookupOrDefault(v));
  return out;
}

SmallVector<int64_t> Expander::localIndex(BlockedEncodingAttr layout,
                                          ArrayRef<int64_t> shape, int64_t e) {
  SmallVector<int64_t> perThread = layout.getElemsPerThread(shape);
  SmallVector<int64_t> l(shape.size());
  for (unsigned d : layout.getOrder()) {
    l[d] = e % perThread[d];
    e /= perThread[d];
  }
  return l;
}

/// A butterfly shuffle of any scalar of up to 64 bits.
Value Expander::shuffleXor(Value v, int64_t offset, bool fromLane) {
  Type type = v.getType();
  unsigned bits = type.getIntOrFloatBitWidth();
  Type i32t = b.getI32Type();
  auto shfl = [&](Value x) -> Value {
    if (amd) { // ds_bpermute reads lane (address / 4)'s x
      Value from = fromLane ? cst(offset) : arith::XOrIOp::create(b, loc, lane, cst(offset));
      return ROCDL::DsBpermuteOp::create(b, loc, i32t,
                                         arith::MulIOp::create(b, loc, from, cst(4)), x);
    }
    return NVVM::ShflOp::create(
        b, loc, i32t, cst(-1), x, cst(offset), cst(warpSize - 1),
        NVVM::ShflKindAttr::get(ctx, fromLane ? NVVM::ShflKind::idx : NVVM::ShflKind::bfly),
        UnitAttr());
  };
  Type intType = b.getIntegerType(bits);
  Value asInt = type == intType ? v : arith::BitcastOp::create(b, loc, intType, v);
  Value result;
  if (bits == 64) {
    Value lo = arith::TruncIOp::create(b, loc, i32t, asInt);
    Value hi = arith::TruncIOp::create(
        b, loc, i32t,
        arith::ShRUIOp::create(b, loc, asInt,
                               arith::ConstantIntOp::create(b, loc, 32, 64)));
    Value lo2 = arith::ExtUIOp::create(b, loc, intType, shfl(lo));
    Value hi2 = arith::ShLIOp::create(
        b, loc, arith::ExtUIOp::create(b, loc, intType, shfl(hi)),
        arith::ConstantIntOp::create(b, loc, 32, 64));
    result = arith::OrIOp::create(b, loc, lo2, hi2);
  } else if (bits == 32) {
    result = shfl(asInt);
  } else {
    result = arith::TruncIOp::create(
        b, loc, intType, shfl(arith::ExtUIOp::create(b, loc, i32t, asInt)));
  }
  return type == intType ? result : arith::BitcastOp::create(b, loc, type, result);
}

/// Reduce without a full trip through shared memory: each thread combines
/// its own elements along the axis, the lanes of a warp combine with
/// butterfly shuffles, and the warps meet in shared memory, where every
/// holder of an output element reads the warps' partials.
LogicalResult Expander::expandReduceInRegisters(tile::ReduceOp op) {
  auto srcType = tensorOf(op.getSrcs()[0]);
  auto layout = layoutOf(srcType);
  ArrayRef<int64_t> shape = srcType.getShape();
  int64_t axis = op.getAxisAttr().getInt();
  ArrayRef<unsigned> tpw = layout.getThreadsPerWarp(),
                     wpc = layout.getWarpsPerCTA();
  ThreadView &v = view(srcType);
  // 1. In the thread: group elements that differ only along the axis.
  std::map<SmallVector<int64_t>, SmallVector<int64_t>> groups;
  for (int64_t e = 0; e < int64_t(v.coords.size()); ++e) {
    SmallVector<int64_t> key = localIndex(layout, shape, e);
    key[axis] = 0;
    groups[key].push_back(e);
  }
  SmallVector<Partial> partials;
  for (auto &[key, members] : groups)
    partials.push_back(combineInThread(op, members));
  // 2. Across the lanes that hold other positions along the axis.
  unsigned laneStride = 1, warpStride = 1;
  for (unsigned d : layout.getOrder()) {
    if (int64_t(d) == axis)
      break;
    laneStride *= tpw[d];
    warpStride *= wpc[d];
  }
  for (unsigned k = laneStride; k < laneStride * tpw[axis]; k *= 2)
    for (Partial &p : partials) {
      SmallVector<Value> other;
      for (Value a : p.acc)
        other.push_back(shuffleXor(a, k));
      p.acc = combine(op.getCombineOp(), p.acc, other);
    }
  // To a scalar within one warp (a one-warp program's sum, max, argmax):
  // the butterfly left the whole result in every lane; no shared memory.
  // Lane 0's is taken by all, as through shared memory (a combine that is
  // not commutative, a NaN in a compare-and-select, may leave lanes apart).
  if (shape.size() == 1 && wpc[axis] == 1 && partials.size() == 1) {
    for (auto [result, value] : llvm::zip(op.getResults(), partials[0].acc))
      map.map(result, shuffleXor(value, 0, /*fromLane=*/true));
    return success();
  }
  Value laneCoord = arith::RemUIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, lane, cst(laneStride)), cst(tpw[axis]));
  Value warpCoord = arith::RemUIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, warp, cst(warpStride)), cst(wpc[axis]));
  Value writer = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, laneCoord, cst(0));
  reduceAcrossWarps(op, partials, v, wpc[axis], warpCoord, writer);
  return success();
}

/// A reduction of a tensor in an mma layout (attention's row max and sum
/// of q k^T): in the thread over its elements of each row (column), then
/// across the lanes of a quad (the 8 row groups) by shuffles, then across
/// the warps along the axis.
LogicalResult Expander::expandMmaReduce(tile::ReduceOp op, MmaEncodingAttr mma) {
  auto srcType = tensorOf(op.getSrcs()[0]);
  ArrayRef<int64_t> shape = srcType.getShape();
  int64_t axis = op.getAxisAttr().getInt();
  SmallVector<int64_t> reps = mma.getRepetitions(shape);
  ThreadView &v = view(srcType);
  // Element (rm, rn, i) is at row 16 rm' + l/4 + 8 (i/2), column 8 rn' + 2 (l%4) + i%2;
  // MFMA: row 16 rm' + 4 (l/16) + i, column 16 rn' + l%16.
  bool mfma = mma.isMfma();
  std::map<std::pair<int64_t, int64_t>, SmallVector<int64_t>> groups;
  for (int64_t rm = 0; rm < reps[0]; ++rm)
    for (int64_t rn = 0; rn < reps[1]; ++rn)
      for (int64_t i = 0; i < 4; ++i) {
        auto key = axis == 1 ? std::make_pair(rm, mfma ? i : i / 2)
                             : std::make_pair(rn, mfma ? int64_t(0) : i % 2);
        groups[key].push_back((rm * reps[1] + rn) * 4 + i);
      }
  SmallVector<Partial> partials;
  for (auto &[key, members] : groups)
    partials.push_back(combineInThread(op, members));
  // Lanes: columns by l % 4 (axis 1), rows by l / 4 (axis 0); MFMA: columns
  // by l % 16, rows by l / 16.
  int64_t split = mfma ? 16 : 4;
  int64_t from = axis == 1 ? 1 : split, to = axis == 1 ? split : int64_t(warpSize);
  for (int64_t k = from; k < to; k *= 2)
    for (Partial &p : partials) {
      SmallVector<Value> other;
      for (Value a : p.acc)
        other.push_back(shuffleXor(a, k));
      p.acc = combine(op.getCombineOp(), p.acc, other);
    }
  unsigned wm = mma.getWarpsPerCTA()[0], wn = mma.getWarpsPerCTA()[1];
  // Into the slice layout with one warp along the axis: each thread's
  // partials are its elements (rows or columns, in the same order).
  auto slice = dyn_cast_or_null<SliceEncodingAttr>(tensorOf(op->getResult(0)).getEncoding());
  if (slice && slice.getParent() == mma && int64_t(slice.getDim()) == axis &&
      (axis == 1 ? wn : wm) == 1) {
    for (size_t r = 0; r < op.getNumResults(); ++r) {
      SmallVector<Value> out;
      for (Partial &p : partials)
        out.push_back(p.acc[r]);
      tensors[op->getResult(r)] = out;
    }
    return success();
  }
  auto [warpM, warpN] = warpCoords(mma);
  Value warpCoord = axis == 1 ? warpN : warpM;
  Value laneCoord = axis == 1 ? arith::RemUIOp::create(b, loc, lane, cst(split)).getResult()
                              : arith::DivUIOp::create(b, loc, lane, cst(split)).getResult();
  Value writer = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, laneCoord, cst(0));
  reduceAcrossWarps(op, partials, v, axis == 1 ? wn : wm, warpCoord, writer);
  return success();
}

void Expander::reduceAcrossWarps(tile::ReduceOp op, ArrayRef<Partial> partials, ThreadView &v,
                                 int64_t warps, Value warpCoord, Value writer) {
  ArrayRef<int64_t> shape = tensorOf(op.getSrcs()[0]).getShape();
  int64_t axis = op.getAxisAttr().getInt();
  size_t num = op.getSrcs().size();
  // 3. Across warps, through shared memory: slot (output index, warp).
  SmallVector<int64_t> outShape(shape);
  outShape.erase(outShape.begin() + axis);
  int64_t outNumel = 1;
  for (int64_t d : outShape)
    outNumel *= d;
  SmallVector<int64_t> offsets;
  int64_t offset = 0;
  for (Value src : op.getSrcs()) {
    offsets.push_back(offset);
    int64_t bytes = outNumel * warps *
                    byteSize(tensorOf(src).getElementType());
    offset += (bytes + 15) / 16 * 16;
  }
  int64_t base = claimScratch(offset, 16);
  for (int64_t &o : offsets)
    o += base;
  smemBytes = std::max(smemBytes, base + offset);
  for (const Partial &p : partials) {
    SmallVector<Value> outCoords(v.coords[p.first]);
    outCoords.erase(outCoords.begin() + axis);
    Value slot = arith::AddIOp::create(
        b, loc,
        arith::MulIOp::create(b, loc, linear(outCoords, outShape), cst(warps)),
        warpCoord);
    predicated(writer, [&] {
      for (size_t i = 0; i < num; ++i)
        LLVM::StoreOp::create(
            b, loc, toMemory(p.acc[i]),
            smemAt(slot, tensorOf(op.getSrcs()[i]).getElementType(), offsets[i]));
    });
  }
  barrier();
  auto readOut = [&](Value outIndex) {
    SmallVector<Value> acc;
    for (int64_t w = 0; w < warps; ++w) {
      Value slot = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, outIndex, cst(warps)), cst(w));
      SmallVector<Value> next;
      for (size_t i = 0; i < num; ++i)
        next.push_back(smemRead(slot, tensorOf(op.getSrcs()[i]).getElementType(),
                                offsets[i]));
      acc = w == 0 ? next : combine(op.getCombineOp(), acc, next);
    }
    return acc;
  };
  bindReduced(op.getResult(), outShape, [&](ArrayRef<Value> coords) {
    return readOut(coords.empty() ? cst(0) : linear(coords, outShape));
  });
  noteScratchReads(base, base + offset);
}

LogicalResult Expander::expandReduce(tile::ReduceOp op) {
  auto srcType = tensorOf(op.getSrcs()[0]);
  ArrayRef<int64_t> shape = srcType.getShape();
  int64_t axis = op.getAxisAttr().getInt(), n = shape[axis];
  if (auto mma = dyn_cast_or_null<MmaEncodingAttr>(srcType.getEncoding())) {
    SmallVector<int64_t> perCTA = mma.getShapePerCTA();
    if (shape[0] % perCTA[0] || shape[1] % perCTA[1])
      return op.emitOpError("reduces a tensor smaller than its mma layout's tile");
    return expandMmaReduce(op, mma);
  }
  // Without replicated elements along the axis, the partials of different
  // threads are disjoint and can be combined in registers.
  if (layoutOf(srcType) && layoutOf(srcType).getShapePerCTA()[axis] <= n)
    return expandReduceInRegisters(op);
  size_t num = op.getSrcs().size();
  int64_t end = 0;
  SmallVector<int64_t> offsets = smemWriteAll(op.getSrcs(), &end);
  auto readAll = [&](ArrayRef<Value> coords, Value k) {
    SmallVector<Value> c(coords.begin(), coords.end());
    c.insert(c.begin() + axis, k);
    Value index = linear(c, shape);
    SmallVector<Value> out;
    for (size_t i = 0; i < num; ++i)
      out.push_back(smemRead(index,
                             tensorOf(op.getSrcs()[i]).getElementType(),
                             offsets[i]));
    return out;
  };
  auto reduceAt = [&](ArrayRef<Value> coords) {
    SmallVector<Value> init = readAll(coords, cst(0));
    if (n == 1)
      return init;
    auto loop = scf::ForOp::create(b, loc, cst(1), cst(n), cst(1), init);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    SmallVector<Value> next = readAll(coords, loop.getInductionVar());
    SmallVector<Value> acc(loop.getRegionIterArgs().begin(),
                           loop.getRegionIterArgs().end());
    scf::YieldOp::create(b, loc, combine(op.getCombineOp(), acc, next));
    return SmallVector<Value>(loop.getResults().begin(), loop.getResults().end());
  };
  SmallVector<int64_t> outShape(shape);
  outShape.erase(outShape.begin() + axis);
  bindReduced(op.getResult(), outShape, reduceAt);
  noteScratchReads(offsets[0], end);
  return success();
}

LogicalResult Expander::expandScan(tile::ScanOp op) {
  // Hillis-Steele through shared memory: in round d = 1, 2, 4, ... each
  // element combines with the one d before it (after it, reversed) along
  // the axis: log2(n) rounds of one read per element (a scan that reads
  // every element up to its own would be O(n) per element).
  auto type = tensorOf(op.getSrcs()[0]);
  ArrayRef<int64_t> shape = type.getShape();
  int64_t axis = op.getAxisAttr().getInt(), n = shape[axis];
  size_t num = op.getSrcs().size();
  bool reverse = op.getReverse();
  ThreadView &v = view(type);
  size_t count = v.coords.size();
  SmallVector<SmallVector<Value>> cur(num);
  SmallVector<Type> types;
  SmallVector<int64_t> offsets;
  int64_t offset = 0;
  for (size_t i = 0; i < num; ++i) {
    cur[i] = SmallVector<Value>(elems(op.getSrcs()[i]));
    types.push_back(tensorOf(op.getSrcs()[i]).getElementType());
    offsets.push_back(offset);
    offset += (type.getNumElements() * byteSize(types[i]) + 15) / 16 * 16;
  }
  auto writeAll = [&] {
    for (size_t e = 0; e < count; ++e) {
      Value index = linear(v.coords[e], shape);
      predicated(v.owner.empty() ? Value() : v.owner[e], [&] {
        for (size_t i = 0; i < num; ++i)
          LLVM::StoreOp::create(b, loc, toMemory(cur[i][e]), smemAt(index, types[i], offsets[i]));
      });
    }
  };
  if (n > 1) {
    smemBytes = std::max(smemBytes, offset);
    barrier(); // earlier readers of the scratch area are done
    writeAll();
  }
  for (int64_t d = 1; d < n; d *= 2) {
    barrier(); // this round's values are written
    SmallVector<SmallVector<Value>> next(num, SmallVector<Value>(count));
    for (size_t e = 0; e < count; ++e) {
      SmallVector<Value> c(v.coords[e].begin(), v.coords[e].end());
      Value at = c[axis];
      Value k = reverse ? arith::AddIOp::create(b, loc, at, cst(d)).getResult()
                        : arith::SubIOp::create(b, loc, at, cst(d)).getResult();
      Value valid = reverse
                        ? arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, k, cst(n))
                        : arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, k, cst(0));
      c[axis] = reverse ? arith::MinSIOp::create(b, loc, k, cst(n - 1)).getResult()
                        : arith::MaxSIOp::create(b, loc, k, cst(0)).getResult();
      Value index = linear(c, shape);
      SmallVector<Value> partner, mine;
      for (size_t i = 0; i < num; ++i) {
        partner.push_back(smemRead(index, types[i], offsets[i]));
        mine.push_back(cur[i][e]);
      }
      // The part before (forward) or after (reversed) comes first, as the
      // accumulator: the combine order of a sequential scan.
      SmallVector<Value> combined = combine(op.getCombineOp(), partner, mine);
      for (size_t i = 0; i < num; ++i)
        next[i][e] = arith::SelectOp::create(b, loc, valid, combined[i], cur[i][e]);
    }
    cur = std::move(next);
    if (d * 2 < n) {
      barrier(); // every read of this round is done
      writeAll();
    }
  }
  for (size_t i = 0; i < num; ++i)
    tensors[op.getResult()[i]] = cur[i];
  if (n > 1)
    noteScratchReads(0, offset); // the last round's reads
  return success();
}

/// The padded row stride, in elements, of a tile in shared memory (the
/// #tilegpu.shared layout): rows padded by 16 bytes.
static int64_t sharedRowStride(RankedTensorType type) {
  int64_t bytes = type.getElementType().getIntOrFloatBitWidth() / 8;
  return type.getDimSize(1) + 16 / bytes;
}
static unsigned swizzleOf(RankedTensorType type) {
  auto shared = dyn_cast_or_null<SharedEncodingAttr>(type.getEncoding());
  return shared ? shared.getSwizzle() : 0;
}
static int64_t sharedSlotBytes(RankedTensorType type) {
  int64_t bytes = type.getElementType().getIntOrFloatBitWidth() / 8;
  if (swizzleOf(type)) // whole 1024-byte swizzle periods
    return (type.getNumElements() * bytes + 1023) / 1024 * 1024;
  return (type.getDimSize(0) * sharedRowStride(type) * bytes + 127) / 128 * 128;
}

/// `cp.async` of each thread's runs of contiguous elements (4, 8 or 16
/// bytes, as the axis analysis allows) into the slot; masked-off runs copy
/// zero bytes (the destination is zero-filled). Runs narrower than 4 bytes
/// are copied with a load and a shared store.
LogicalResult Expander::expandAsyncLoad(tessera::tilegpu::AsyncLoadOp op) {
  auto ptrType = op.getPtr().getType();
  auto type = op.getResult().getType();
  Type elem = scalarType(type.getElementType());
  int64_t bytes = elem.getIntOrFloatBitWidth() / 8;
  int64_t slotBytes = sharedSlotBytes(type), stride = sharedRowStride(type);
  Value base = bufferBase(op.getBuffer(), slotBytes * op.getSlots());
  if (!buffersLive)
    barrier(); // the buffers may share bytes with earlier scratch reads
  Value slotBase = arith::AddIOp::create(
      b, loc, base, arith::MulIOp::create(b, loc, scalar(op.getSlot()), cst(slotBytes)));
  ThreadView &v = view(ptrType);
  auto &ptrs = elems(op.getPtr());
  SmallVector<Value> masks;
  if (op.getMask())
    masks = elems(op.getMask());
  int64_t width = vectorWidth(op.getPtr(), op.getMask(), Value());
  auto layout = layoutOf(ptrType);
  if (width * bytes < 4 || !layout || layout.getOrder()[0] != 1)
    width = 1; // runs must lie along rows, as the padded tile does
  unsigned swizzle = swizzleOf(type);
  width = std::min<int64_t>(width, 16 / bytes); // swizzled: within a 16-byte chunk
  for (size_t e = 0; e < ptrs.size(); e += width) {
    Value dst;
    if (swizzle) {
      dst = smemAtDynamic(swizzledOffset(v.coords[e][0], v.coords[e][1], type, swizzle),
                          b.getI8Type(), slotBase);
    } else {
      Value index = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, v.coords[e][0], cst(stride)), v.coords[e][1]);
      dst = smemAtDynamic(index, elem, slotBase);
    }
    predicated(v.owner.empty() ? Value() : v.owner[e], [&] {
      int64_t size = width * bytes;
      if (size >= 4) {
        Value cpSize;
        if (!masks.empty())
          cpSize = arith::SelectOp::create(b, loc, masks[e], cst(size), cst(0));
        NVVM::CpAsyncOp::create(b, loc, dst, ptrs[e], uint32_t(size),
                                size == 16 ? NVVM::LoadCacheModifierKind::CG
                                           : NVVM::LoadCacheModifierKind::CA,
                                cpSize);
        return;
      }
      // A single narrow element: load (zero when masked off) and store.
      Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elem));
      Value x;
      if (masks.empty()) {
        x = LLVM::LoadOp::create(b, loc, memoryType(elem), ptrs[e]);
      } else {
        auto ifOp = scf::IfOp::create(b, loc, TypeRange{elem}, masks[e], true);
        {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(&ifOp.getThenRegion().front());
          scf::YieldOp::create(b, loc,
                               Value(LLVM::LoadOp::create(b, loc, memoryType(elem), ptrs[e])));
          b.setInsertionPointToStart(&ifOp.getElseRegion().front());
          scf::YieldOp::create(b, loc, zero);
        }
        x = ifOp.getResult(0);
      }
      LLVM::StoreOp::create(b, loc, x, dst);
    });
  }
  tensors[op.getResult()] = {slotBase};
  buffersLive = true;
  return success();
}

/// The index of `op`'s tensor map, made on first use: one per array (base,
/// shape, strides), box rows and swizzle.
int Expander::tensorMapOf(TensorMap map) {
  for (auto [i, known] : llvm::enumerate(tensorMaps))
    if (known.base == map.base && known.shape == map.shape && known.strides == map.strides &&
        known.elem == map.elem && known.rows == map.rows && known.cols == map.cols &&
        known.swizzle == map.swizzle)
      return int(i);
  tensorMaps.push_back(map);
  return int(tensorMaps.size() - 1);
}

int Expander::tensorMapOf(tessera::tilegpu::TmaLoadOp op) {
  auto type = op.getResult().getType();
  unsigned swizzle = swizzleOf(type);
  int64_t bytes = type.getElementType().getIntOrFloatBitWidth() / 8;
  return tensorMapOf({op, op.getBase(), SmallVector<Value>(op.getShape()),
                      SmallVector<Value>(op.getStrides()), type.getElementType(),
                      type.getDimSize(0), int64_t(swizzle) / bytes, swizzle});
}

/// A block added by TMA's bulk reduction: the whole block one box, rows
/// unswizzled.
int Expander::tensorMapOf(tile::DescriptorAtomicAddOp op) {
  auto type = op.getValue().getType();
  return tensorMapOf({op, op.getBase(), SmallVector<Value>(op.getShape()),
                      SmallVector<Value>(op.getStrides()), type.getElementType(),
                      type.getDimSize(0), type.getDimSize(1), 0});
}

/// How the launcher encodes a tensor map (cuTensorMapEncodeTiled), as
/// "dtype,base,dim0,dim1,stride1,box0,box1,swizzle": dims innermost
/// first, the row stride in elements; a value is "a<parameter index>" or
/// "c<constant>"; dtype is CUtensorMapDataType's number.
std::string Expander::tensorMapRecipe(TensorMap map) {
  auto spec = [&](Value v) -> std::string {
    if (auto ext = v.getDefiningOp<arith::ExtSIOp>())
      v = ext.getIn();
    if (auto arg = dyn_cast<BlockArgument>(v))
      return "a" + std::to_string(arg.getArgNumber());
    APInt c;
    if (matchPattern(v, m_ConstantInt(&c)))
      return "c" + std::to_string(c.getSExtValue());
    return "?";
  };
  Type elem = map.elem;
  int64_t bytes = elem.getIntOrFloatBitWidth() / 8;
  int dtype = elem.isF16() ? 6 : elem.isBF16() ? 9 : elem.isF32() ? 7 : bytes == 4 ? 3 : bytes == 2 ? 1 : 0;
  std::string out = std::to_string(dtype) + "," + spec(map.base) + "," + spec(map.shape[1]) +
                    "," + spec(map.shape[0]) + "," + spec(map.strides[0]) + "," +
                    std::to_string(map.cols) + "," + std::to_string(map.rows) + "," +
                    std::to_string(map.swizzle);
  return out;
}

/// Whether a TMA op's array is described by the kernel's arguments and
/// constants (what the launcher can encode into a tensor map).
static LogicalResult describedAtLaunch(Operation *op, Value base, ValueRange shape,
                                       ValueRange strides) {
  for (Value v : llvm::concat<Value>(shape, strides)) {
    if (auto ext = v.getDefiningOp<arith::ExtSIOp>())
      v = ext.getIn();
    if (!isa<BlockArgument>(v) && !matchPattern(v, m_Constant()))
      return op->emitOpError("the array must be described by kernel arguments or constants");
  }
  if (!isa<BlockArgument>(base))
    return op->emitOpError("the base must be a kernel argument");
  return success();
}

/// The byte offset of a TMA slot's tile: slot `slot` of buffer `buffer`
/// (of `slots` slots of `type`'s tiles).
Value Expander::tmaSlotBase(RankedTensorType type, int64_t buffer, int64_t slots, Value slot) {
  int64_t slotBytes = sharedSlotBytes(type);
  Value base = bufferBase(buffer, slotBytes * slots);
  return arith::AddIOp::create(b, loc, base,
                               arith::MulIOp::create(b, loc, scalar(slot), cst(slotBytes)));
}

/// TMA copies of a block into a swizzled slot, one per column block of W
/// bytes (the box's width) at `rows * W` bytes apart, issued by the first
/// thread and completing on the slot's mbarrier.
LogicalResult Expander::expandTmaLoad(tessera::tilegpu::TmaLoadOp op) {
  auto type = op.getResult().getType();
  int64_t bytes = type.getElementType().getIntOrFloatBitWidth() / 8;
  int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
  unsigned w = swizzleOf(type);
  if (!buffersLive) {
    // Scratch the threads wrote may share these bytes: order those writes
    // before the async proxy's copies (as tma_init does).
    NVVM::FenceProxyOp::create(b, loc, NVVM::ProxyKind::async_shared,
                               NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
    barrier();
  }
  buffersLive = true;
  Value slotBase = tmaSlotBase(type, op.getBuffer(), op.getSlots(), op.getSlot());
  if (failed(describedAtLaunch(op, op.getBase(), op.getShape(), op.getStrides())))
    return failure();
  Value tensorMap = tensorMapArgs[tensorMapOf(op)];
  Value leader = issuer();
  Value bar = tmaBarrier(scalar(op.getSlot()), op.getSlots());
  predicated(andPred(scalar(op.getPred()), leader), [&] {
    int64_t boxCols = w / bytes;
    for (int64_t j = 0; j < cols / boxCols; ++j) {
      // A CTA's shared address is its address in the cluster's window.
      Value dst = LLVM::AddrSpaceCastOp::create(
          b, loc, LLVM::LLVMPointerType::get(ctx, 7),
          smemAtDynamic(cst(j * rows * w), b.getI8Type(), slotBase));
      Value col = arith::AddIOp::create(b, loc, scalar(op.getOffsets()[1]), cst(j * boxCols));
      NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
          b, loc, dst, tensorMap, ValueRange{col, scalar(op.getOffsets()[0])}, bar, ValueRange{},
          Value(), Value(), NVVM::TMALoadMode::TILE, false, NVVM::CTAGroupKindAttr(), Value());
    }
  });
  tensors[op.getResult()] = {slotBase};
  return success();
}

/// A block added into global memory by TMA's bulk reduction (sm_90a): the
/// threads write it to the scratch area row-major, and the first thread
/// has the TMA unit add it (elements outside the array are skipped) and
/// waits until the unit has read it, before the scratch is reused; the
/// adds are waited for before the kernel returns. (A buffer of its own,
/// waited for only before its next write, measured no faster in session
/// 13 and kept its bytes apart from every other buffer's.)
LogicalResult Expander::expandDescriptorAtomicAdd(tile::DescriptorAtomicAddOp op) {
  if (failed(describedAtLaunch(op, op.getBase(), op.getShape(), op.getStrides())))
    return failure();
  Value tensorMap = tensorMapArgs[tensorMapOf(op)];
  ++bulkReductions;
  barrier(); // earlier readers of the scratch area are done
  smemWrite(op.getValue(), 0);
  NVVM::FenceProxyOp::create(b, loc, NVVM::ProxyKind::async_shared,
                             NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
  barrier();
  Value leader = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, cst(0));
  predicated(leader, [&] {
    Value src = smemAt(cst(0), b.getI8Type(), 0);
    NVVM::CpAsyncBulkTensorReduceOp::create(
        b, loc, tensorMap, src, NVVM::TMAReduxKind::ADD, NVVM::TMAStoreMode::TILE,
        ValueRange{scalar(op.getOffsets()[1]), scalar(op.getOffsets()[0])}, Value());
    NVVM::CpAsyncBulkCommitGroupOp::create(b, loc);
    NVVM::CpAsyncBulkWaitGroupOp::create(b, loc, 0, b.getUnitAttr());
  });
  barrier(); // the block is read: the scratch area may be written again
  return success();
}

/// A descriptor load left in registers (not copied by TMA): each element
/// read on its own where it lies inside the array, zero elsewhere.
LogicalResult Expander::expandDescriptorLoad(tile::DescriptorLoadOp op) {
  auto type = op.getResult().getType();
  ThreadView &v = view(type);
  Type elem = scalarType(type.getElementType());
  auto i64 = b.getI64Type();
  Value base = scalar(op.getBase());
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elem));
  SmallVector<Value> out;
  for (size_t e = 0; e < v.coords.size(); ++e) {
    Value inside, index = arith::ConstantIntOp::create(b, loc, 0, 64);
    for (size_t d = 0; d < v.coords[e].size(); ++d) {
      Value i = arith::AddIOp::create(b, loc, scalar(op.getOffsets()[d]), v.coords[e][d]);
      Value ok = arith::AndIOp::create(
          b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, i, cst(0)),
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, i, scalar(op.getShape()[d])));
      inside = andPred(inside, ok);
      Value term = arith::MulIOp::create(b, loc, arith::ExtSIOp::create(b, loc, i64, i),
                                         scalar(op.getStrides()[d]));
      index = arith::AddIOp::create(b, loc, index, term);
    }
    auto ifOp = scf::IfOp::create(b, loc, TypeRange{elem}, inside, true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      Value ptr = LLVM::GEPOp::create(b, loc, base.getType(), memoryType(elem), base,
                                      ValueRange{index});
      scf::YieldOp::create(b, loc, Value(LLVM::LoadOp::create(b, loc, memoryType(elem), ptr)));
      b.setInsertionPointToStart(&ifOp.getElseRegion().front());
      scf::YieldOp::create(b, loc, zero);
    }
    out.push_back(ifOp.getResult(0));
  }
  tensors[op.getResult()] = out;
  return success();
}

/// A dot whose result has the mma layout, on mma.sync.m16n8k16: A and B go
/// to shared memory row-major in 16-byte vector stores, rows padded by 8
/// elements; per 16-wide k step each warp loads the A fragments of its
/// tile rows with ldmatrix.x4 and the B fragments of its tile columns with
/// ldmatrix.x2.trans, and issues one mma per 16 x 8 tile, the accumulators
/// staying in the registers of the layout.
LogicalResult Expander::expandMmaDot(tile::DotOp op, MmaEncodingAttr mma) {
  auto aType = op.getA().getType(), bType = op.getB().getType();
  auto dType = tensorOf(op.getD());
  int64_t m = aType.getDimSize(0), k = aType.getDimSize(1),
          n = bType.getDimSize(1);
  Type elem = aType.getElementType();
  int64_t bytes = elem.getIntOrFloatBitWidth() / 8;
  for (RankedTensorType t : {aType, bType})
    if (auto shared = dyn_cast_or_null<SharedEncodingAttr>(t.getEncoding()))
      if (shared.getSwizzle() || shared.getTransposed())
        return op.emitOpError("mma.sync operands must be padded row-major shared tiles, not ")
               << t;
  // The instruction: m16n8k16 for 16-bit types, m16n8k8 for tf32, m16n8k32
  // for int8; each k step is 32 bytes of a row.
  enum class Kind { F16, BF16, TF32, TF32x3, I8 } kind =
      elem.isF16()   ? Kind::F16
      : elem.isBF16() ? Kind::BF16
      : elem.isF32()  ? (op.getInputPrecision() == tile::InputPrecision::TF32x3 ? Kind::TF32x3
                                                                               : Kind::TF32)
                      : Kind::I8; // also fp8: the same m16n8k32 fragments of bytes
  auto fp8Type = [](Type t) -> std::optional<NVVM::MMATypes> {
    if (isa<Float8E4M3FNType>(t))
      return NVVM::MMATypes::e4m3;
    if (isa<Float8E5M2Type>(t))
      return NVVM::MMATypes::e5m2;
    return std::nullopt;
  };
  std::optional<NVVM::MMATypes> fp8A = fp8Type(elem), fp8B = fp8Type(bType.getElementType());
  int64_t kStep = 32 / bytes;
  int64_t pad = 16 / bytes; // 16 bytes per row
  // Operand tiles go to shared memory row-major with rows padded by 16
  // bytes: rows stay 16-byte aligned for vector stores and ldmatrix, and
  // the 8 rows one ldmatrix reads fall in different banks.
  auto writePadded = [&](Value old, int64_t offset, int64_t rowStride) {
    auto type = tensorOf(old);
    ThreadView &v = view(type);
    auto &values = elems(old);
    // Runs of elements contiguous along the row go as one vector store.
    int64_t run = 1;
    if (auto blocked = layoutOf(type))
      if (blocked.getOrder()[0] == 1)
        run = std::min<int64_t>(blocked.getSizePerThread()[1], 16 / bytes);
    for (size_t e = 0; e < values.size(); e += run) {
      Value index = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, v.coords[e][0], cst(rowStride)),
          v.coords[e][1]);
      predicated(v.owner.empty() ? Value() : v.owner[e], [&] {
        Value ptr = smemAt(index, elem, offset);
        if (run == 1) {
          LLVM::StoreOp::create(b, loc, values[e], ptr);
          return;
        }
        Value vec = vectorOf(ArrayRef<Value>(values).slice(e, run));
        LLVM::StoreOp::create(b, loc, vec, ptr, /*alignment=*/unsigned(bytes * run));
      });
    }
  };
  int64_t aStride = k + pad, bStride = n + pad;
  // Operands already in shared memory (async loads, #tilegpu.shared) are
  // read where they are; the others go to the scratch area first.
  bool aShared = isShared(aType), bShared = isShared(bType);
  int64_t aBytes = aShared ? 0 : (m * aStride * bytes + 15) / 16 * 16;
  Value aBase = aShared ? elems(op.getA())[0] : cst(0);
  Value bBase = bShared ? elems(op.getB())[0] : cst(aBytes);
  if (!aShared || !bShared) {
    barrier();
    if (!aShared)
      writePadded(op.getA(), 0, aStride);
    if (!bShared)
      writePadded(op.getB(), aBytes, bStride);
    smemBytes = std::max(smemBytes, aBytes + (bShared ? 0 : k * bStride * bytes));
    barrier();
    noteScratchReads(0, aBytes + (bShared ? 0 : k * bStride * bytes)); // read below
  }

  unsigned wm = mma.getWarpsPerCTA()[0], wn = mma.getWarpsPerCTA()[1];
  SmallVector<int64_t> reps = mma.getRepetitions(dType.getShape());
  Value warpM, warpN;
  std::tie(warpM, warpN) = warpCoords(mma);
  Value group = arith::DivUIOp::create(b, loc, lane, cst(4));
  Value quad = arith::RemUIOp::create(b, loc, lane, cst(4));
  // A fragments come from ldmatrix: lane l gives the address of row l % 8
  // of 8 x 8 (16-bit) matrix l / 8, and receives 32 bits of each matrix,
  // in the order mma.sync's fragment registers want them.
  Value laneRow = arith::AddIOp::create(
      b, loc, arith::RemUIOp::create(b, loc, lane, cst(8)),
      arith::MulIOp::create(
          b, loc,
          arith::RemUIOp::create(b, loc, arith::DivUIOp::create(b, loc, lane, cst(8)),
                                 cst(2)),
          cst(8)));
  Value laneCol = arith::MulIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, lane, cst(16)), cst(16 / bytes));
  auto i32 = b.getI32Type();
  auto f16x2 = VectorType::get({2}, b.getF16Type());
  auto asOperand = [&](Value r) -> Value { // an i32 fragment register
    return kind == Kind::F16 ? LLVM::BitcastOp::create(b, loc, f16x2, r).getResult() : r;
  };
  auto ldmatrix = [&](Value row, Value col, int64_t rowStride, Value offset,
                      unsigned num, bool transpose) {
    Value index = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, row, cst(rowStride)), col);
    SmallVector<Type> regs(num, i32);
    Type result = num == 1 ? Type(i32) : Type(LLVM::LLVMStructType::getLiteral(ctx, regs));
    Value loaded = NVVM::LdMatrixOp::create(
        b, loc, result, smemAtDynamic(index, elem, offset), num,
        transpose ? NVVM::MMALayout::col : NVVM::MMALayout::row,
        NVVM::LdStMatrixShapeAttr::get(ctx, 8, 8), NVVM::LdStMatrixEltType::B16);
    SmallVector<Value> out;
    for (unsigned i = 0; i < num; ++i)
      out.push_back(LLVM::ExtractValueOp::create(b, loc, loaded, ArrayRef<int64_t>{i}));
    return out;
  };
  // B as scalar shared-memory loads, packed into 32-bit registers: fp32
  // (one element, k = t and t + 4) and int8 (4 consecutive k).
  auto bScalar = [&](Value kRow, Value col) -> Value {
    Value index = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, kRow, cst(bStride)), col);
    return fromMemory(LLVM::LoadOp::create(b, loc, memoryType(elem),
                                           smemAtDynamic(index, elem, bBase)),
                      elem);
  };
  // Tile origins, wrapped into the tensor when warps replicate it.
  auto tileRow = [&](int64_t rm) {
    Value r = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, warpM, cst(16)),
        cst(rm * 16 * wm));
    return arith::RemUIOp::create(b, loc, r, cst(m));
  };
  auto tileCol = [&](int64_t rn) {
    Value c = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, warpN, cst(8)),
        cst(rn * 8 * wn));
    return arith::RemUIOp::create(b, loc, c, cst(n));
  };
  auto toTF32 = [&](Value f) -> Value { // round to nearest, as cvt.rna.tf32.f32
    return NVVM::ConvertFloatToTF32Op::create(b, loc, i32, f, NVVM::FPRoundingMode::RNA,
                                          NVVM::SaturationMode::NONE, false);
  };
  SmallVector<Value> acc(elems(op.getC()));
  Type accElem = dType.getElementType();
  auto resultType = LLVM::LLVMStructType::getLiteral(ctx, {accElem, accElem, accElem, accElem});
  NVVM::MMATypes ptxType = kind == Kind::F16    ? NVVM::MMATypes::f16
                           : kind == Kind::BF16 ? NVVM::MMATypes::bf16
                           : kind == Kind::I8   ? NVVM::MMATypes::s8
                                                : NVVM::MMATypes::tf32;
  int64_t instrK = kind == Kind::I8 ? 32 : (kind == Kind::TF32 || kind == Kind::TF32x3) ? 8 : 16;
  auto mmaInto = [&](ArrayRef<Value> a, ArrayRef<Value> bv, size_t base) {
    if (fp8A) {
      // fp8: NVVM's mma op does not take e4m3/e5m2, so the instruction is
      // inline PTX with the accumulators tied to the results.
      auto name = [](NVVM::MMATypes t) { return t == NVVM::MMATypes::e4m3 ? "e4m3" : "e5m2"; };
      std::string text = std::string("mma.sync.aligned.m16n8k32.row.col.f32.") + name(*fp8A) +
                         "." + name(*fp8B) +
                         ".f32 {$0,$1,$2,$3}, {$4,$5,$6,$7}, {$8,$9}, {$10,$11,$12,$13};";
      SmallVector<Value> operands(a.begin(), a.end());
      operands.append(bv.begin(), bv.end());
      for (int64_t i = 0; i < 4; ++i)
        operands.push_back(acc[base + i]);
      auto asmOp = LLVM::InlineAsmOp::create(
          b, loc, resultType, operands, b.getStringAttr(text),
          b.getStringAttr("=f,=f,=f,=f,r,r,r,r,r,r,0,1,2,3"), UnitAttr(), UnitAttr(),
          LLVM::TailCallKindAttr::get(ctx, LLVM::TailCallKind::None),
          LLVM::AsmDialectAttr::get(ctx, LLVM::AsmDialect::AD_ATT), ArrayAttr());
      for (int64_t i = 0; i < 4; ++i)
        acc[base + i] = LLVM::ExtractValueOp::create(b, loc, asmOp.getRes(),
                                                     ArrayRef<int64_t>{i});
      return;
    }
    std::optional<NVVM::MMAIntOverflow> overflow;
    if (kind == Kind::I8 && !fp8A)
      overflow = NVVM::MMAIntOverflow::wrapped;
    auto mmaOp = NVVM::MmaOp::create(
        b, loc, resultType, ValueRange(a), ValueRange(bv),
        ValueRange(ArrayRef<Value>(acc).slice(base, 4)),
        ArrayRef<int64_t>{16, 8, instrK}, std::nullopt, overflow,
        std::array<NVVM::MMATypes, 2>{fp8A.value_or(ptxType), fp8B.value_or(ptxType)},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row, NVVM::MMALayout::col});
    for (int64_t i = 0; i < 4; ++i)
      acc[base + i] = LLVM::ExtractValueOp::create(b, loc, mmaOp.getResult(),
                                                   ArrayRef<int64_t>{i});
  };
  for (int64_t kk = 0; kk < k; kk += kStep) {
    SmallVector<SmallVector<Value>> aFrag;
    for (int64_t rm = 0; rm < reps[0]; ++rm) {
      // x4: 16 rows x 32 bytes at k -> a0..a3.
      Value row = arith::AddIOp::create(b, loc, tileRow(rm), laneRow);
      Value col = arith::AddIOp::create(b, loc, laneCol, cst(kk));
      SmallVector<Value> r = ldmatrix(row, col, aStride, aBase, 4, false);
      for (Value &x : r)
        x = asOperand(x);
      aFrag.push_back(r);
    }
    SmallVector<SmallVector<Value>> bFrag;
    for (int64_t rn = 0; rn < reps[1]; ++rn) {
      Value col = arith::AddIOp::create(b, loc, tileCol(rn), group);
      if (kind == Kind::F16 || kind == Kind::BF16) {
        // x2, transposed: B rows k..k+15 at the tile's 8 columns -> b0, b1.
        Value row = arith::AddIOp::create(b, loc, laneRow, cst(kk));
        SmallVector<Value> r = ldmatrix(row, tileCol(rn), bStride, bBase, 2, true);
        bFrag.push_back({asOperand(r[0]), asOperand(r[1])});
      } else if (kind == Kind::I8) {
        // b0: k = 4t..4t+3, b1: k = 4t+16..4t+19, at column g.
        SmallVector<Value> regs;
        for (int64_t half : {0, 16}) {
          SmallVector<Value> bytesOf;
          for (int64_t j = 0; j < 4; ++j) {
            Value kRow = arith::AddIOp::create(
                b, loc, arith::MulIOp::create(b, loc, quad, cst(4)), cst(kk + half + j));
            bytesOf.push_back(bScalar(kRow, col));
          }
          regs.push_back(LLVM::BitcastOp::create(b, loc, i32, vectorOf(bytesOf)));
        }
        bFrag.push_back(regs);
      } else {
        // tf32: b0 at k = t, b1 at k = t + 4, column g (raw fp32 bits).
        SmallVector<Value> regs;
        for (int64_t half : {0, 4}) {
          Value kRow = arith::AddIOp::create(b, loc, quad, cst(kk + half));
          regs.push_back(bScalar(kRow, col));
        }
        bFrag.push_back(regs);
      }
    }
    // tf32x3: each fragment split once into big + small tf32 parts (not
    // once for every tile it meets).
    SmallVector<SmallVector<Value>> aBig, aSmall, bBig, bSmall;
    if (kind == Kind::TF32x3) {
      auto split = [&](Value bits, Value &big, Value &small) {
        Value f = LLVM::BitcastOp::create(b, loc, b.getF32Type(), bits);
        big = toTF32(f);
        Value rest = arith::SubFOp::create(
            b, loc, f, LLVM::BitcastOp::create(b, loc, b.getF32Type(), big));
        small = toTF32(rest);
      };
      for (auto &frag : aFrag) {
        aBig.emplace_back(frag.size());
        aSmall.emplace_back(frag.size());
        for (size_t i = 0; i < frag.size(); ++i)
          split(frag[i], aBig.back()[i], aSmall.back()[i]);
      }
      for (auto &frag : bFrag) {
        bBig.emplace_back(frag.size());
        bSmall.emplace_back(frag.size());
        for (size_t i = 0; i < frag.size(); ++i)
          split(LLVM::BitcastOp::create(b, loc, i32, frag[i]), bBig.back()[i],
                bSmall.back()[i]);
      }
    }
    for (int64_t rm = 0; rm < reps[0]; ++rm)
      for (int64_t rn = 0; rn < reps[1]; ++rn) {
        size_t base = size_t(rm * reps[1] + rn) * 4;
        if (kind == Kind::I8) {
          mmaInto(aFrag[rm], bFrag[rn], base);
        } else if (kind == Kind::TF32) {
          SmallVector<Value> bi;
          for (Value f : bFrag[rn])
            bi.push_back(LLVM::BitcastOp::create(b, loc, i32, f));
          mmaInto(aFrag[rm], bi, base);
        } else if (kind == Kind::TF32x3) {
          // x = big + small with both tf32: a*b ~ ab*bb + ab*bs + as*bb.
          mmaInto(aSmall[rm], bBig[rn], base);
          mmaInto(aBig[rm], bSmall[rn], base);
          mmaInto(aBig[rm], bBig[rn], base);
        } else {
          mmaInto(aFrag[rm], bFrag[rn], base);
        }
      }
  }
  tensors[op.getD()] = acc;
  return success();
}

/// A dot on AMD's MFMA: the operands go to LDS row-major (rows padded by
/// 16 bytes), then each wavefront runs, for each of its 16 x 16 output
/// tiles and each K step, one v_mfma_f32_16x16x16f16 / _16x16x16bf16_1k
/// (K steps of 16) or v_mfma_f32_16x16x4f32 (K steps of 4). Lane l gives
/// A's row l % 16 at k = 4 (l / 16) .. +3 (one k for fp32) and B's column
/// l % 16 at the same k, and holds rows 4 (l / 16) .. +3 of column l % 16
/// of the result: the #tilegpu.mma<mfma> placement.
LogicalResult Expander::expandMfmaDot(tile::DotOp op, MmaEncodingAttr mma) {
  auto aType = op.getA().getType(), bType = op.getB().getType();
  auto dType = tensorOf(op.getD());
  int64_t m = aType.getDimSize(0), k = aType.getDimSize(1), n = bType.getDimSize(1);
  Type elem = aType.getElementType();
  if (elem != bType.getElementType() || !dType.getElementType().isF32() ||
      !(elem.isF16() || elem.isBF16() || elem.isF32()))
    return op.emitOpError("on MFMA takes fp16, bf16 or fp32 operands (both alike) into fp32");
  if (isShared(aType) || isShared(bType))
    return op.emitOpError("on MFMA reads operands held in registers, not shared tiles");
  int64_t bytes = elem.getIntOrFloatBitWidth() / 8;
  int64_t kStep = elem.isF32() ? 4 : 16, perLane = elem.isF32() ? 1 : 4;
  if (m % 16 || n % 16 || k % kStep)
    return op.emitOpError("on MFMA needs M and N multiples of 16 and K of ") << kStep;
  int64_t pad = 16 / bytes;
  // B is kept N-major in LDS ([N][K + pad], as A is M-major): a lane's
  // four K values of a column are then adjacent, one 8-byte read. B =
  // tl.trans(x) (attention's k^T) is x's rows as they are; a row-major B
  // is written element by element, transposed (each B element is written
  // once and read by every wavefront along M).
  int64_t aStride = k + pad, bStride = k + pad;
  int64_t aBytes = (m * aStride * bytes + 15) / 16 * 16;
  barrier(); // earlier readers of the scratch area are done
  smemWrite(op.getA(), 0, pad);
  auto trans = op.getB().getDefiningOp<tile::TransOp>();
  if (trans && tensorOf(trans.getSrc()) && tensors.count(trans.getSrc())) {
    smemWrite(trans.getSrc(), aBytes, pad);
  } else {
    auto bT = tensorOf(op.getB());
    ThreadView &v = view(bT);
    auto &values = elems(op.getB());
    for (size_t e = 0; e < values.size(); ++e) {
      Value index = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, v.coords[e][1], cst(bStride)), v.coords[e][0]);
      predicated(v.owner.empty() ? Value() : v.owner[e], [&] {
        LLVM::StoreOp::create(b, loc, toMemory(values[e]), smemAt(index, elem, aBytes));
      });
    }
  }
  smemBytes = std::max(smemBytes, aBytes + n * bStride * bytes);
  barrier();
  noteScratchReads(0, aBytes + n * bStride * bytes); // read below

  unsigned wm = mma.getWarpsPerCTA()[0], wn = mma.getWarpsPerCTA()[1];
  SmallVector<int64_t> reps = mma.getRepetitions(dType.getShape());
  Value warpM, warpN;
  std::tie(warpM, warpN) = warpCoords(mma);
  Value inTile = arith::RemUIOp::create(b, loc, lane, cst(16));  // A's row, B's column
  Value kGroup = arith::MulIOp::create(b, loc, arith::DivUIOp::create(b, loc, lane, cst(16)),
                                       cst(perLane));              // first k of the lane
  // Tile origins, wrapped into the tensor when warps replicate it.
  auto tileRow = [&](int64_t rm) {
    Value r = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, warpM, cst(16)),
                                    cst(rm * 16 * wm));
    return arith::RemUIOp::create(b, loc, r, cst(m));
  };
  auto tileCol = [&](int64_t rn) {
    Value c = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, warpN, cst(16)),
                                    cst(rn * 16 * wn));
    return arith::RemUIOp::create(b, loc, c, cst(n));
  };
  // 16-bit operands go to the instruction as <4 x half> or, for bf16,
  // <4 x i16> (the _1k variant's operand type).
  Type opElem = elem.isBF16() ? Type(b.getI16Type()) : elem;
  Type opType = perLane == 1 ? opElem : Type(VectorType::get({perLane}, opElem));
  auto operand = [&](Value row, Value col, int64_t stride, int64_t offset, bool alongRow) {
    SmallVector<Value> values;
    for (int64_t j = 0; j < perLane; ++j) {
      Value r = alongRow ? row : arith::AddIOp::create(b, loc, row, cst(j)).getResult();
      Value c = alongRow ? arith::AddIOp::create(b, loc, col, cst(j)).getResult() : col;
      Value index = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, r, cst(stride)), c);
      Value x = fromMemory(LLVM::LoadOp::create(b, loc, memoryType(elem),
                                                smemAt(index, elem, offset)),
                           elem);
      if (elem.isBF16())
        x = LLVM::BitcastOp::create(b, loc, b.getI16Type(), x);
      values.push_back(x);
    }
    if (perLane == 1)
      return values[0];
    Value vec = LLVM::UndefOp::create(b, loc, opType);
    for (int64_t j = 0; j < perLane; ++j)
      vec = LLVM::InsertElementOp::create(b, loc, vec, values[j], cst(j));
    return vec;
  };
  auto f32 = b.getF32Type();
  auto accType = VectorType::get({4}, f32);
  SmallVector<Value> acc(elems(op.getC()));
  SmallVector<Value> tiles; // one <4 x float> accumulator per (rm, rn)
  for (int64_t t = 0; t < reps[0] * reps[1]; ++t) {
    Value vec = LLVM::UndefOp::create(b, loc, accType);
    for (int64_t i = 0; i < 4; ++i)
      vec = LLVM::InsertElementOp::create(b, loc, vec, acc[t * 4 + i], cst(i));
    tiles.push_back(vec);
  }
  auto imm = [&](int32_t v) {
    return LLVM::ConstantOp::create(b, loc, b.getI32Type(), b.getI32IntegerAttr(v));
  };
  for (int64_t kk = 0; kk < k; kk += kStep) {
    Value kCol = arith::AddIOp::create(b, loc, kGroup, cst(kk));
    SmallVector<Value> aFrag, bFrag;
    for (int64_t rm = 0; rm < reps[0]; ++rm)
      aFrag.push_back(operand(arith::AddIOp::create(b, loc, tileRow(rm), inTile), kCol,
                              aStride, 0, /*alongRow=*/true));
    for (int64_t rn = 0; rn < reps[1]; ++rn)
      bFrag.push_back(operand(arith::AddIOp::create(b, loc, tileCol(rn), inTile), kCol,
                              bStride, aBytes, /*alongRow=*/true));
    for (int64_t rm = 0; rm < reps[0]; ++rm)
      for (int64_t rn = 0; rn < reps[1]; ++rn) {
        Value &c = tiles[rm * reps[1] + rn];
        SmallVector<Value> args{aFrag[rm], bFrag[rn], c, imm(0), imm(0), imm(0)};
        if (elem.isF16())
          c = ROCDL::mfma_f32_16x16x16f16::create(b, loc, accType, args);
        else if (elem.isBF16())
          c = ROCDL::mfma_f32_16x16x16bf16_1k::create(b, loc, accType, args);
        else
          c = ROCDL::mfma_f32_16x16x4f32::create(b, loc, accType, args);
      }
  }
  for (int64_t t = 0; t < reps[0] * reps[1]; ++t)
    for (int64_t i = 0; i < 4; ++i)
      acc[t * 4 + i] = LLVM::ExtractElementOp::create(b, loc, tiles[t], cst(i));
  tensors[op.getD()] = acc;
  return success();
}

/// The byte offset of element (row, col) in a swizzled shared tile: column
/// block `col * bytes / W` (each `rows x W` bytes), row `row` of W bytes in
/// it, its 16-byte chunk xor-ed with the row's phase.
Value Expander::swizzledOffset(Value row, Value col, RankedTensorType type, unsigned swizzle) {
  int64_t bytes = type.getElementType().getIntOrFloatBitWidth() / 8, w = swizzle;
  Value x = arith::MulIOp::create(b, loc, col, cst(bytes));
  Value block = arith::DivUIOp::create(b, loc, x, cst(w));
  Value within = arith::RemUIOp::create(b, loc, x, cst(w));
  Value chunk = arith::DivUIOp::create(b, loc, within, cst(16));
  Value phase = arith::RemUIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, row, cst(128 / w)), cst(w / 16));
  Value swizzled = arith::XOrIOp::create(b, loc, chunk, phase);
  Value offset = arith::MulIOp::create(b, loc, block, cst(type.getDimSize(0) * w));
  offset = arith::AddIOp::create(b, loc, offset, arith::MulIOp::create(b, loc, row, cst(w)));
  offset = arith::AddIOp::create(b, loc, offset,
                                 arith::MulIOp::create(b, loc, swizzled, cst(16)));
  return arith::AddIOp::create(b, loc, offset, arith::RemUIOp::create(b, loc, within, cst(16)));
}

/// Writes a register tile to shared memory at byte `base` in the swizzled
/// layout, runs of a row's contiguous elements as one vector store (never
/// across a 16-byte chunk).
void Expander::writeSwizzled(Value old, Value base, unsigned swizzle, bool transposed) {
  auto type = tensorOf(old);
  ThreadView &v = view(type);
  auto &values = elems(old);
  Type elem = type.getElementType();
  int64_t bytes = byteSize(elem), run = transposed ? 1 : rowMajorRun(type);
  auto stored = transposed ? RankedTensorType::get({type.getDimSize(1), type.getDimSize(0)}, elem)
                           : type;
  for (size_t e = 0; e < values.size(); e += run) {
    predicated(v.owner.empty() ? Value() : v.owner[e], [&] {
      Value row = v.coords[e][transposed ? 1 : 0], col = v.coords[e][transposed ? 0 : 1];
      Value ptr = smemAtDynamic(swizzledOffset(row, col, stored, swizzle), b.getI8Type(), base);
      if (run == 1) {
        LLVM::StoreOp::create(b, loc, values[e], ptr);
        return;
      }
      LLVM::StoreOp::create(b, loc, vectorOf(ArrayRef<Value>(values).slice(e, run)), ptr,
                            /*alignment=*/unsigned(bytes * run));
    });
  }
}

/// A dot whose result has the version 3 (wgmma) layout: both operands in
/// swizzled shared memory (A K-major, B N-major, as row-major tiles are),
/// read by `wgmma.mma_async.m64nNk16` through matrix descriptors. Warpgroup
/// g issues, for each of its 64-row tiles and each 16-wide k step, one
/// instruction over up to 256 columns; the accumulators are the layout's
/// registers. The dot waits for its instructions before it ends.
LogicalResult Expander::expandWgmmaDot(tile::DotOp op, MmaEncodingAttr mma) {
  auto aType = op.getA().getType(), bType = op.getB().getType();
  auto dType = tensorOf(op.getD());
  int64_t m = aType.getDimSize(0), k = aType.getDimSize(1), n = bType.getDimSize(1);
  Type elem = aType.getElementType();
  int64_t bytes = elem.getIntOrFloatBitWidth() / 8;
  // fp8 (k32 instructions) and tf32 (k8) read both operands K-major: B in
  // registers is written transposed; in shared memory it must be a
  // transposed view.
  bool kMajor = isFp8(elem) || elem.isF32();
  auto widest = [&](int64_t rowBytes) -> unsigned {
    for (unsigned w : {128u, 64u, 32u})
      if (rowBytes % w == 0)
        return w;
    return 0;
  };
  // Operands in registers go to the scratch area, swizzled; async-loaded
  // ones are read where they are.
  bool aShared = isShared(aType), bShared = isShared(bType);
  // B = tl.trans(x) of a register tile: x's rows are B's columns, K-major
  // for the instruction, written as they are (the transpose is never made).
  Value bSource = op.getB();
  bool bFromTrans = false;
  if (auto trans = op.getB().getDefiningOp<tile::TransOp>(); trans && transposedForWgmmaOnly(trans)) {
    bSource = trans.getSrc();
    bFromTrans = true;
  }
  // Likewise A = tl.trans(x) (the backward's p^T): x's rows are A's
  // columns, M-major, written as they are.
  Value aSource = op.getA();
  bool aFromTrans = false;
  if (auto trans = op.getA().getDefiningOp<tile::TransOp>(); trans && transposedForWgmmaOnly(trans)) {
    aSource = trans.getSrc();
    aFromTrans = true;
  }
  // A in registers (the instruction's register form): a 16-bit tile in
  // this dot's accumulator layout (flash attention's P, the previous dot's
  // result) is already in A's fragment layout: rows l/4 (+8), columns
  // 2 (l%4) (+1, +8, +9) of each 16-column step.
  bool aRegs = false;
  if (auto aMma = dyn_cast_or_null<MmaEncodingAttr>(aType.getEncoding());
      aMma && aMma == mma && !aFromTrans && (elem.isF16() || elem.isBF16()) &&
      m % (16 * mma.getWarpsPerCTA()[0]) == 0 && k % 16 == 0 && mma.getWarpsPerCTA()[1] == 1)
    aRegs = true;
  unsigned swA = aShared ? swizzleOf(aType) : aRegs ? 128 : widest((aFromTrans ? m : k) * bytes);
  unsigned swB = bShared ? swizzleOf(bType) : widest((kMajor || bFromTrans ? k : n) * bytes);
  if (!swA || !swB)
    return op.emitOpError("wgmma operands need swizzled shared tiles (rows a multiple of 32 bytes)");
  if (kMajor && ((aShared && cast<SharedEncodingAttr>(aType.getEncoding()).getTransposed()) ||
              (bShared && !cast<SharedEncodingAttr>(bType.getEncoding()).getTransposed())))
    return op.emitOpError("fp8 and tf32 wgmma read both operands K-major: A row-major, B a "
                          "transposed view (tl.dot(a, tl.trans(bt)))");
  // A register operand from outside the loop the dot is in (attention's q
  // as A; the backward's k and v as B, read through tl.trans) is written
  // once, before the loop, to a buffer of its own that lives through the
  // loop, as it would be written every iteration; not rewritten each time,
  // nor kept in registers. `role` tells apart the ways one value may be
  // written (0: A, 1: B, 2: B from a tl.trans view). Null: not hoisted.
  auto hoisted = [&](Value source, int role, int64_t size,
                     function_ref<void(Value)> write) -> Value {
    auto loop = op->getParentOfType<scf::ForOp>();
    if (!loop || loop->isAncestor(source.getParentBlock()->getParentOp()) ||
        !expandedLoops.count(loop))
      return Value();
    auto [it, fresh] = hoistedOperands.try_emplace(
        std::make_tuple(source.getAsOpaquePointer(), loop.getOperation(), role), Value());
    if (fresh) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(expandedLoops[loop]);
      // Barriers before the loop order nothing here: the scratch reads
      // tracked at this point stay as they are.
      auto reads = scratchReads;
      bool unknown = scratchUnknown;
      // All the warps write it, before the loop (also for a dot of a run
      // on the first warpgroups).
      unsigned run = partialRun;
      partialRun = 0;
      llvm::scope_exit restore([&] { partialRun = run; });
      int64_t id = kHoistedOperandBuffer + int64_t(hoistedOperands.size());
      Value base = bufferBase(id, (size + 1023) / 1024 * 1024);
      barrier(); // earlier readers of these bytes (scratch) are done
      write(base);
      NVVM::FenceProxyOp::create(b, loc, NVVM::ProxyKind::async_shared,
                                 NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
      barrier();
      scratchReads = reads;
      scratchUnknown = unknown;
      it->second = base;
    }
    // It is live across the loop. In a loop whose copies are in flight
    // from its start, every scratch use in the loop is counted as used
    // while buffers live; otherwise keep all scratch apart.
    if (!loopLiveAtStart.lookup(loop))
      separate = true;
    return it->second;
  };
  // Register operands into shared memory (B = tl.trans(x) as x's rows;
  // K-major B for fp8/tf32).
  auto writeA = [&](Value base) { writeSwizzled(aSource, base, swA); };
  auto writeB = [&](Value base) {
    if (bFromTrans)
      writeSwizzled(bSource, base, swB);
    else
      writeSwizzled(op.getB(), base, swB, /*transposed=*/kMajor);
  };
  Value aBase, bBase;
  if (!aShared && !aRegs)
    aBase = hoisted(op.getA(), 0, m * k * bytes, writeA);
  if (!bShared)
    bBase = hoisted(bSource, bFromTrans ? 2 : 1, k * n * bytes, writeB);
  bool aHoisted = bool(aBase), bHoisted = bool(bBase);
  bool aWritten = !aShared && !aHoisted && !aRegs;
  bool bWritten = !bShared && !bHoisted;
  int64_t aBytes = aWritten ? (m * k * bytes + 1023) / 1024 * 1024 : 0;
  int64_t written = aBytes + (bWritten ? k * n * bytes : 0);
  // The written operands' place in the scratch area (on the swizzle's
  // 1024-byte period); pending dots that read those bytes are waited for.
  int64_t scratchBase = 0;
  if (aWritten || bWritten) {
    // The pipeliner leaves in flight only dots of copied tiles: a written
    // operand would be read past its iteration, while the next one writes.
    if (op->hasAttr(tessera::tilegpu::kWgmmaInFlightAttr))
      return op.emitOpError("is left in flight past its iteration but has operands written "
                            "to shared memory by the threads");
    scratchBase = claimScratch(written, 1024);
  }
  if (!aHoisted)
    aBase = aShared ? elems(op.getA())[0] : cst(scratchBase);
  if (!bHoisted)
    bBase = bShared ? elems(op.getB())[0] : cst(scratchBase + aBytes);
  if (aWritten || bWritten) {
    if (aWritten)
      writeA(aBase);
    if (bWritten)
      writeB(bBase);
    smemBytes = std::max(smemBytes, scratchBase + written);
    NVVM::FenceProxyOp::create(b, loc, NVVM::ProxyKind::async_shared,
                               NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
    barrier();
    noteScratchReads(scratchBase, scratchBase + written, /*async=*/true); // by the wgmma
  }

  // Matrix descriptors: start address, leading and stride byte offsets (all
  // >> 4), swizzle mode in bits 62-63 (1: 128 B, 2: 64 B, 3: 32 B).
  auto i64 = b.getI64Type();
  auto sharedAddress = [&](Value byteOffset) -> Value {
    Value ptr = smemAtDynamic(cst(0), b.getI8Type(), byteOffset);
    return LLVM::PtrToIntOp::create(b, loc, i64, ptr);
  };
  auto descriptor = [&](Value address, int64_t lbo, int64_t sbo, unsigned swizzle) -> Value {
    int64_t mode = swizzle == 128 ? 1 : swizzle == 64 ? 2 : 3;
    int64_t fixed = ((lbo >> 4) & 0x3FFF) << 16 | ((sbo >> 4) & 0x3FFF) << 32 | mode << 62;
    Value start = arith::AndIOp::create(
        b, loc, arith::ShRUIOp::create(b, loc, address, arith::ConstantIntOp::create(b, loc, 4, 64)),
        arith::ConstantIntOp::create(b, loc, 0x3FFF, 64));
    return arith::OrIOp::create(b, loc, start, arith::ConstantIntOp::create(b, loc, fixed, 64));
  };
  auto plus = [&](Value desc, int64_t byteOffset) -> Value {
    if (!byteOffset)
      return desc;
    return arith::AddIOp::create(b, loc, desc,
                                 arith::ConstantIntOp::create(b, loc, byteOffset >> 4, 64));
  };
  // Row-major tiles make A K-major and B N-major; transposed views (the
  // transpose of a row-major tile) the other way round.
  auto sharedOf = [](RankedTensorType t) {
    return dyn_cast_or_null<SharedEncodingAttr>(t.getEncoding());
  };
  bool aT = (aShared && sharedOf(aType).getTransposed()) || aFromTrans;
  bool bT = (bShared && sharedOf(bType).getTransposed()) || (!bShared && (kMajor || bFromTrans));
  // Leading byte offsets are 14-bit fields of 16-byte units.
  if ((aT && k * swA >= (int64_t(1) << 18)) || (!bT && k * swB >= (int64_t(1) << 18)))
    return op.emitOpError("operand tile too large for a wgmma matrix descriptor (K = ") << k << ")";
  // A: this warpgroup's rows start at 64 g (g its place along M). K-major:
  // 8-row groups 8 W apart. M-major: column blocks of W bytes along M,
  // K * W apart.
  unsigned wm = mma.getWarpsPerCTA()[0], wn = mma.getWarpsPerCTA()[1];
  Value group = arith::RemUIOp::create(b, loc, arith::DivUIOp::create(b, loc, warp, cst(4)),
                                       cst(wm / 4));
  // B: with warpgroups side by side along N, this one's slab of `slab`
  // columns starts at (w / wm) slab: whole 8-row groups (K-major), whole
  // swizzle column blocks (N-major; the layout pass makes sure).
  int64_t slab = n / wn;
  if (wn > 1) {
    Value column = arith::RemUIOp::create(b, loc, arith::DivUIOp::create(b, loc, warp, cst(wm)),
                                          cst(wn));
    int64_t stride = bT ? slab * swB : (slab * bytes / swB) * k * swB;
    if (!bT && (slab * bytes) % swB)
      return op.emitOpError("a warpgroup's columns of B (") << slab
             << ") are not whole swizzle blocks";
    bBase = arith::AddIOp::create(b, loc, bBase, arith::MulIOp::create(b, loc, column, cst(stride)));
  }
  Value aStart = arith::AddIOp::create(
      b, loc, aBase,
      arith::MulIOp::create(b, loc, group, cst(aT ? (64 * bytes / swA) * k * swA : 64 * swA)));
  Value descA = aT ? descriptor(sharedAddress(aStart), k * swA, 8 * swA, swA)
                   : descriptor(sharedAddress(aStart), 16, 8 * swA, swA);
  // B: N-major, column blocks of W bytes along N, K * W apart, 8-row
  // groups 8 W apart; K-major (a transposed view): rows of W bytes along K.
  Value descB = bT ? descriptor(sharedAddress(bBase), 16, 8 * swB, swB)
                   : descriptor(sharedAddress(bBase), k * swB, 8 * swB, swB);

  SmallVector<int64_t> reps = mma.getRepetitions(dType.getShape());
  int64_t chunkN = std::min<int64_t>(slab, 256); // the layout pass keeps slabs <= 256
  // Chained onto a pending dot (its result read by this dot only, as C):
  // the instructions continue on its accumulator structs, with no wait
  // and no copies (a copy of registers in flight makes ptxas wait).
  SmallVector<Value> chainedStructs;
  if (auto *pending = llvm::find(pendingWgmma, op.getC()); pending != pendingWgmma.end()) {
    auto it = wgmmaStructs.find(op.getC());
    if (chainsOnto(op, op.getC()) && it != wgmmaStructs.end() &&
        int64_t(it->second.size()) == reps[0] * (slab / chunkN)) {
      chainedStructs = it->second;
      pendingWgmma.erase(pending);
    } else {
      waitPendingWgmma(pending - pendingWgmma.begin());
    }
  }
  SmallVector<Value> structs;
  SmallVector<Value> acc(elems(op.getC()));
  // C = 0 (scores, a fresh product): the first instruction of each chunk
  // ignores the accumulator (scale-d 0); no registers are zeroed first.
  Value c = op.getC();
  while (auto convert = c.getDefiningOp<tessera::tilegpu::ConvertLayoutOp>())
    c = convert.getSrc();
  bool zeroC = chainedStructs.empty() && matchPattern(c, m_AnyZeroFloat());
  auto f32 = b.getF32Type();
  auto structType = LLVM::LLVMStructType::getLiteral(ctx, SmallVector<Type>(chunkN / 2, f32));
  auto wgTypeOf = [](Type t) {
    return t.isF16()                      ? NVVM::WGMMATypes::f16
           : t.isBF16()                   ? NVVM::WGMMATypes::bf16
           : t.isF32()                    ? NVVM::WGMMATypes::tf32
           : isa<Float8E4M3FNType>(t)     ? NVVM::WGMMATypes::e4m3
                                          : NVVM::WGMMATypes::e5m2;
  };
  auto wgType = wgTypeOf(elem), wgTypeB = wgTypeOf(bType.getElementType());
  int64_t kStep = 32 / bytes; // 32 bytes of K per instruction
  // Ping-pong: this warpgroup's turn (after anything above that may wait
  // at a CTA barrier, which the other warpgroup must be able to reach).
  bool ring = ringLoop && op->getParentOp() == ringLoop.getOperation();
  if (ring)
    NVVM::BarrierOp::create(b, loc, Type(), arith::AddIOp::create(b, loc, ringGroup, cst(1)),
                            cst(32 * numWarps), {}, Value());
  NVVM::WgmmaFenceAlignedOp::create(b, loc);
  for (int64_t rm = 0; rm < reps[0]; ++rm) {
    int64_t row0 = rm * 16 * wm; // + 64 g, in descA
    for (int64_t n0 = 0; n0 < slab; n0 += chunkN) {
      size_t base = size_t(rm * reps[1] + n0 / 8) * 4;
      Value inout;
      if (!chainedStructs.empty()) {
        inout = chainedStructs[structs.size()];
      } else {
        inout = LLVM::UndefOp::create(b, loc, structType);
        for (int64_t i = 0; !zeroC && i < chunkN / 2; ++i)
          inout = LLVM::InsertValueOp::create(b, loc, inout, acc[base + i], ArrayRef<int64_t>{i});
      }
      for (int64_t kk = 0; kk < k; kk += kStep) {
        bool scaleD = !(zeroC && kk == 0);
        int64_t kb = kk * bytes;
        Value bd = bT ? plus(descB, (kb / swB) * n * swB + n0 * swB + kb % swB)
                      : plus(descB, (n0 * bytes / swB) * k * swB + kk * swB);
        if (aRegs) {
          inout = wgmmaRegisterA(inout, chunkN, aRegisters(op.getA(), mma, rm, kk), bd,
                                 elem.isBF16() ? "bf16" : "f16", /*transB=*/!bT, scaleD);
          continue;
        }
        Value a = aT ? plus(descA, (row0 * bytes / swA) * k * swA + kk * swA)
                     : plus(descA, (kb / swA) * m * swA + row0 * swA + kb % swA);
        // layoutA col = A transposed (M-major); layoutB row = B transposed
        // (N-major), as PTX's imm-trans-a / imm-trans-b.
        inout = NVVM::WgmmaMmaAsyncOp::create(
            b, loc, structType, inout, a, bd, NVVM::MMAShapeAttr::get(ctx, 64, chunkN, kStep),
            wgType, wgTypeB, NVVM::WGMMATypes::f32,
            scaleD ? NVVM::WGMMAScaleOut::one : NVVM::WGMMAScaleOut::zero,
            NVVM::WGMMAScaleIn::one, NVVM::WGMMAScaleIn::one,
            aT ? NVVM::MMALayout::col : NVVM::MMALayout::row,
            bT ? NVVM::MMALayout::col : NVVM::MMALayout::row, NVVM::MMAIntOverflowAttr());
      }
      for (int64_t i = 0; i < chunkN / 2; ++i)
        acc[base + i] = LLVM::ExtractValueOp::create(b, loc, inout, ArrayRef<int64_t>{i});
      structs.push_back(inout);
    }
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
  if (ring) // the other warpgroup's turn
    NVVM::BarrierArriveOp::create(b, loc, arith::SubIOp::create(b, loc, cst(2), ringGroup),
                                  cst(32 * numWarps));
  // A dot the pipeliner let stay in flight waits only for the previous
  // iteration's (whose slots the next loads overwrite, after a barrier);
  // the wait for all comes with the async wait after the loop.
  if (op->hasAttr(tessera::tilegpu::kWgmmaInFlightAttr)) {
    NVVM::WgmmaWaitGroupSyncOp::create(b, loc, 1);
  } else if (deferWgmmaWaits) {
    tensors[op.getD()] = acc;
    pendingWgmma.push_back(op.getD());
    wgmmaStructs[op.getD()] = structs;
    return success();
  } else {
    acc = wgmmaWait(acc, 0);
  }
  tensors[op.getD()] = acc;
  return success();
}

SmallVector<Value> Expander::aRegisters(Value a, MmaEncodingAttr mma, int64_t rm, int64_t kk) {
  auto type = tensorOf(a);
  SmallVector<int64_t> reps = mma.getRepetitions(type.getShape());
  auto &values = elems(a);
  Type pair = VectorType::get({2}, type.getElementType());
  SmallVector<Value> regs;
  // a0: rows l/4, columns 2 (l%4) +0/+1 of the step's first 8 columns (the
  // tile's c0, c1); a1: rows +8 (c2, c3); a2, a3: the same of the next 8.
  for (int64_t half = 0; half < 2; ++half)
    for (int64_t rows = 0; rows < 2; ++rows) {
      size_t e = size_t((rm * reps[1] + kk / 8 + half) * 4 + 2 * rows);
      Value vec = LLVM::UndefOp::create(b, loc, pair);
      for (int64_t i = 0; i < 2; ++i)
        vec = LLVM::InsertElementOp::create(b, loc, vec, values[e + i],
                                            arith::ConstantIntOp::create(b, loc, i, 32));
      regs.push_back(LLVM::BitcastOp::create(b, loc, i32(), vec));
    }
  return regs;
}

Value Expander::wgmmaRegisterA(Value inout, int64_t n, ArrayRef<Value> a, Value descB,
                               StringRef type, bool transB, bool scaleD) {
  // wgmma.mma_async with A from registers: d, {a0..a3}, b-desc, scale-d,
  // imm-scale-a, imm-scale-b, imm-trans-b (no imm-trans-a in this form).
  int64_t outs = n / 2;
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "{\n.reg .pred p;\nsetp.ne.b32 p, " << (scaleD ? 1 : 0) << ", 0;\n"
     << "wgmma.mma_async.sync.aligned.m64n" << n << "k16.f32." << type << "." << type << " {";
  for (int64_t i = 0; i < outs; ++i)
    os << (i ? ", " : "") << "$" << i;
  os << "}, {$" << outs << ", $" << outs + 1 << ", $" << outs + 2 << ", $" << outs + 3
     << "}, $" << outs + 4 << ", p, 1, 1, " << (transB ? 1 : 0) << ";\n}";
  std::string constraints;
  for (int64_t i = 0; i < outs; ++i)
    constraints += "=f,";
  constraints += "r,r,r,r,l";
  for (int64_t i = 0; i < outs; ++i)
    constraints += "," + std::to_string(i);
  SmallVector<Value> operands(a.begin(), a.end());
  operands.push_back(descB);
  for (int64_t i = 0; i < outs; ++i)
    operands.push_back(LLVM::ExtractValueOp::create(b, loc, inout, ArrayRef<int64_t>{i}));
  auto asmOp = LLVM::InlineAsmOp::create(
      b, loc, inout.getType(), operands, b.getStringAttr(text), b.getStringAttr(constraints),
      /*has_side_effects=*/b.getUnitAttr(), UnitAttr(),
      LLVM::TailCallKindAttr::get(ctx, LLVM::TailCallKind::None),
      LLVM::AsmDialectAttr::get(ctx, LLVM::AsmDialect::AD_ATT), ArrayAttr());
  return asmOp.getRes();
}

LogicalResult Expander::expandDot(tile::DotOp op) {
  if (auto mma = dyn_cast_or_null<MmaEncodingAttr>(tensorOf(op.getD()).getEncoding())) {
    if (mma.isMfma())
      return expandMfmaDot(op, mma);
    return mma.getVersionMajor() == 3 ? expandWgmmaDot(op, mma) : expandMmaDot(op, mma);
  }
  if (isFp8(op.getA().getType()) || isFp8(op.getB().getType()))
    return op.emitOpError("on fp8 needs tensor cores: sm_89 or newer, M a multiple of 16, "
                          "K of 32 and N of 8, an fp32 accumulator");
  auto aType = op.getA().getType(), bType = op.getB().getType();
  auto cType = tensorOf(op.getD());
  bool batched = aType.getRank() == 3;
  int64_t m = aType.getDimSize(batched), k = aType.getDimSize(batched + 1),
          n = bType.getDimSize(batched + 1);
  Type accType = cType.getElementType();
  barrier();
  int64_t bOffset = smemWrite(op.getA(), 0);
  int64_t end = bOffset + smemWrite(op.getB(), bOffset);
  barrier();
  noteScratchReads(0, end); // read below
  auto widen = [&](Value v) -> Value {
    if (v.getType() == accType)
      return v;
    if (isa<FloatType>(accType))
      return arith::ExtFOp::create(b, loc, accType, v);
    return arith::ExtSIOp::create(b, loc, accType, v);
  };
  ThreadView &v = view(cType);
  auto &accs = elems(op.getC());
  SmallVector<Value> out;
  for (size_t e = 0; e < v.coords.size(); ++e) {
    auto &c = v.coords[e];
    Value batchA = cst(0), batchB = cst(0);
    if (batched) {
      batchA = arith::MulIOp::create(b, loc, c[0], cst(m * k));
      batchB = arith::MulIOp::create(b, loc, c[0], cst(k * n));
    }
    Value row = arith::AddIOp::create(
        b, loc, batchA, arith::MulIOp::create(b, loc, c[batched], cst(k)));
    Value col = arith::AddIOp::create(b, loc, batchB, c[batched + 1]);
    auto loop = scf::ForOp::create(b, loc, cst(0), cst(k), cst(1),
                                   ValueRange{accs[e]});
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      Value kk = loop.getInductionVar();
      Value av = widen(smemRead(arith::AddIOp::create(b, loc, row, kk),
                                aType.getElementType(), 0));
      Value bv = widen(smemRead(
          arith::AddIOp::create(b, loc, col,
                                arith::MulIOp::create(b, loc, kk, cst(n))),
          bType.getElementType(), bOffset));
      Value acc = loop.getRegionIterArgs()[0];
      Value sum;
      if (isa<FloatType>(accType))
        sum = math::FmaOp::create(b, loc, av, bv, acc);
      else
        sum = arith::AddIOp::create(b, loc, acc,
                                    arith::MulIOp::create(b, loc, av, bv));
      scf::YieldOp::create(b, loc, sum);
    }
    out.push_back(loop.getResult(0));
  }
  tensors[op.getD()] = out;
  return success();
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

/// Repeats the bodies of the expanded loops that ask for it
/// (tt.loop_unroll_factor); iterations past the last multiple of the
/// factor run in a loop of their own after it.
static LogicalResult unrollRequested(ModuleOp module) {
  SmallVector<std::pair<scf::ForOp, int64_t>> loops;
  module.walk([&](scf::ForOp loop) {
    if (auto factor = loop->getAttrOfType<IntegerAttr>(tessera::tile::kLoopUnrollFactorAttr)) {
      loop->removeAttr(tessera::tile::kLoopUnrollFactorAttr);
      if (factor.getInt() > 1)
        loops.push_back({loop, factor.getInt()});
    }
  });
  for (auto [loop, factor] : loops) {
    // The unroller computes the trip count unsigned, dividing by the step:
    // an upper bound below the lower one (no iteration) is raised to it
    // first, and a run-time step that is not positive (scf.for's steps
    // must be) runs nothing rather than divide by zero.
    OpBuilder b(loop);
    Location l = loop.getLoc();
    Value lb = loop.getLowerBound(), ub = loop.getUpperBound(), step = loop.getStep();
    Value raised = loop.getUnsignedCmp() ? Value(arith::MaxUIOp::create(b, l, ub, lb))
                                         : Value(arith::MaxSIOp::create(b, l, ub, lb));
    if (!matchPattern(step, m_Constant())) {
      Value one = arith::ConstantOp::create(b, l, b.getIntegerAttr(step.getType(), 1));
      Value zero = arith::ConstantOp::create(b, l, b.getIntegerAttr(step.getType(), 0));
      Value positive = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, step, zero);
      raised = arith::SelectOp::create(b, l, positive, raised, lb);
      loop.setStep(arith::MaxSIOp::create(b, l, step, one));
    }
    loop.setUpperBound(raised);
    if (failed(mlir::loopUnrollByFactor(loop, uint64_t(factor))))
      return loop.emitOpError("could not be unrolled by ") << factor;
  }
  return success();
}

/// Expands every kernel of `module` for NVIDIA (NVVM) or AMD (ROCDL).
LogicalResult expandModule(ModuleOp module, bool amd, bool pingPong,
                           unsigned producerRegisters = 0) {
  auto numWarpsAttr = module->getAttrOfType<IntegerAttr>(tessera::tilegpu::kNumWarpsAttr);
  if (!numWarpsAttr)
    return module.emitError("run convert-tile-to-tilegpu first: the module has no "
                            "tilegpu.num_warps");
  unsigned warpSize = 32;
  if (auto attr = module->getAttrOfType<IntegerAttr>(tessera::tilegpu::kThreadsPerWarpAttr))
    warpSize = unsigned(attr.getInt());
  if (!amd && warpSize != 32)
    return module.emitError("NVIDIA warps have 32 threads; the layouts were made for ")
           << warpSize << " (convert-tile-to-tilegpu's threads-per-warp)";
  if (amd && warpSize != 64)
    return module.emitError("the AMD lowering targets wave64 (CDNA: gfx90a, gfx942); the "
                            "layouts were made for ")
           << warpSize << " threads a warp (convert-tile-to-tilegpu threads-per-warp=64)";
  // Accumulator layouts are for one vendor's instructions.
  WalkResult wrongVendor = module.walk([&](Operation *op) {
    for (Type t : op->getResultTypes()) {
      auto tensor = dyn_cast<RankedTensorType>(t);
      Attribute enc = tensor ? tensor.getEncoding() : Attribute();
      if (auto slice = dyn_cast_or_null<SliceEncodingAttr>(enc))
        enc = slice.getParent();
      auto mma = dyn_cast_or_null<MmaEncodingAttr>(enc);
      if (mma && mma.isMfma() != amd) {
        op->emitOpError() << (amd ? "has an NVIDIA tensor-core layout (mma.sync or wgmma); "
                                    "the AMD lowering takes #tilegpu.mma<mfma>"
                                  : "has an AMD MFMA layout; the NVIDIA lowering takes "
                                    "#tilegpu.mma versions 2 and 3");
        return WalkResult::interrupt();
      }
    }
    return WalkResult::advance();
  });
  if (wrongVendor.wasInterrupted())
    return failure();
  SmallVector<func::FuncOp> kernels;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal())
      continue;
    if (func.isPrivate())
      return func.emitOpError("calls must be inlined before the GPU lowering");
    kernels.push_back(func);
  }
  auto configure = [&](Expander &expander) {
    expander.pingPong = pingPong;
    expander.producerRegisters = producerRegisters;
    expander.amd = amd;
    expander.warpSize = warpSize;
    if (auto cc = module->getAttrOfType<IntegerAttr>(tessera::tilegpu::kComputeCapabilityAttr))
      expander.computeCapability = unsigned(cc.getInt());
  };
  // A first expansion, of a copy, measures each kernel's scratch area; the
  // second places scratch uses within it so that CTA barriers are needed
  // only where bytes are reused (Expander::claimScratch): no shared memory
  // is added.
  std::map<std::string, std::pair<int64_t, int64_t>> scratchCaps;
  {
    OwningOpRef<ModuleOp> copy = module.clone();
    SmallVector<func::FuncOp> copies;
    for (auto func : copy->getOps<func::FuncOp>())
      if (!func.isExternal())
        copies.push_back(func);
    for (func::FuncOp kernel : copies) {
      std::string name = kernel.getName().str();
      Expander expander(kernel, numWarpsAttr.getInt());
      configure(expander);
      if (failed(expander.run()))
        return failure();
      int64_t whileLive = expander.scratchWhileLive(), any = expander.largestScratch();
      // A kernel that holds an SM alone anyway (more than half its shared
      // memory a block) may take scratch bytes up to the block's limit:
      // room to place a claim beside bytes still being read, instead of a
      // barrier (MLA's P beside its rows' scales).
      unsigned cc = expander.computeCapability;
      int64_t limit = amd ? 0 : cc == 90 ? 232448 : cc == 80 || cc == 87 ? 166912 : 0;
      int64_t total = expander.sharedBytes();
      if (limit && 2 * (total + 1024) > limit + 1024) {
        int64_t spare = (limit - total) / 1024 * 1024;
        if (spare > 0) {
          whileLive += spare;
          any += spare;
        }
      }
      scratchCaps[name] = {whileLive, any};
    }
  }
  int64_t shared = 0;
  unsigned blockWarps = numWarpsAttr.getInt();
  for (func::FuncOp kernel : kernels) {
    // (Rounded up to the claims' 16 bytes: buffers start on 128-byte
    // boundaries, and the shared-memory limits are multiples of 16.)
    auto [whileLive, any] = scratchCaps[kernel.getName().str()];
    Expander expander(kernel, numWarpsAttr.getInt());
    configure(expander);
    expander.elideScratchBarriersWithin((whileLive + 15) / 16 * 16, (any + 15) / 16 * 16);
    if (failed(expander.run()))
      return failure();
    shared = std::max(shared, expander.sharedBytes());
    blockWarps = std::max(blockWarps, expander.blockWarps());
  }
  if (failed(unrollRequested(module)))
    return failure();
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToStart(module.getBody());
  if (amd) {
    // LDS of a fixed size (the kernel descriptor's group segment: nothing
    // to pass at launch), uninitialized as LDS must be.
    auto type = LLVM::LLVMArrayType::get(b.getI8Type(), std::max<int64_t>(shared, 4));
    auto global = LLVM::GlobalOp::create(b, module.getLoc(), type, /*isConstant=*/false,
                                         LLVM::Linkage::Internal, kSharedSymbol, Attribute(),
                                         /*alignment=*/16, kShared);
    Block *init = b.createBlock(&global.getInitializerRegion());
    b.setInsertionPointToStart(init);
    LLVM::ReturnOp::create(b, module.getLoc(),
                           LLVM::PoisonOp::create(b, module.getLoc(), type).getResult());
  } else {
    // The dynamic shared memory every kernel of the module addresses.
    LLVM::GlobalOp::create(b, module.getLoc(), LLVM::LLVMArrayType::get(b.getI8Type(), 0),
                           /*isConstant=*/false, LLVM::Linkage::External, kSharedSymbol,
                           Attribute(), /*alignment=*/1024, kShared); // the swizzles' period
  }
  module->setAttr("tilegpu.shared_bytes", b.getI64IntegerAttr(shared));
  // The launch's block: 32 (64) threads a warp, with a producer warp's.
  module->setAttr("tilegpu.block_warps", b.getI64IntegerAttr(blockWarps));
  return success();
}

struct ConvertTileGPUToNVVMPass
    : tessera::impl::ConvertTileGPUToNVVMBase<ConvertTileGPUToNVVMPass> {
  using ConvertTileGPUToNVVMBase::ConvertTileGPUToNVVMBase;
  void runOnOperation() override {
    if (failed(expandModule(getOperation(), /*amd=*/false, pingPong, producerRegisters)))
      signalPassFailure();
  }
};

struct ConvertTileGPUToROCDLPass
    : tessera::impl::ConvertTileGPUToROCDLBase<ConvertTileGPUToROCDLPass> {
  using ConvertTileGPUToROCDLBase::ConvertTileGPUToROCDLBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // What only NVIDIA targets have never reaches here (the AMD pipeline
    // sets no compute capability and runs no pipeliner); say so if it does.
    WalkResult r = module.walk([](Operation *op) -> WalkResult {
      if (isa_and_nonnull<tessera::tilegpu::TileGPUDialect>(op->getDialect()) &&
          !isa<tessera::tilegpu::ConvertLayoutOp>(op))
        return op->emitOpError("has no AMD lowering yet (NVIDIA async copies and barriers)"),
               WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (r.wasInterrupted() || failed(expandModule(module, /*amd=*/true, false)))
      signalPassFailure();
  }
};

} // namespace
