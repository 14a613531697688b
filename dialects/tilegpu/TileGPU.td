//===- TileGPU.td - What tile tensors mean on a GPU --------*- tablegen -*-===//
//
// Layout encodings for tile tensors (which thread of the program's block
// holds which elements) and the ops that move data between layouts.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_DIALECTS_TILEGPU_TILEGPU_TD
#define TESSERA_DIALECTS_TILEGPU_TILEGPU_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/TensorEncoding.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def TileGPU_Dialect : Dialect {
  let name = "tilegpu";
  let cppNamespace = "::tessera::tilegpu";
  let summary = "GPU layouts of tile tensors";
  let description = [{
    A program instance of a tile kernel runs as one block of
    `32 * num_warps` threads (the module's `tilegpu.num_warps`). A tensor's
    encoding says which thread holds which elements; the lowering to NVVM
    gives each thread its elements as SSA values.
  }];
  let useDefaultAttributePrinterParser = 1;
}

class TileGPU_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<TileGPU_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def TileGPU_BlockedEncoding : TileGPU_Attr<"BlockedEncoding", "blocked"> {
  let summary = "a tensor split into per-thread blocks of contiguous elements";
  let description = [{
    Along dimension `d` each thread holds `sizePerThread[d]` contiguous
    elements, the 32 lanes of a warp cover `threadsPerWarp[d]` such blocks
    and the warps `warpsPerCTA[d]` of those; the pattern repeats (each
    thread holding more elements) when the tensor is larger, and elements
    are held by several threads when it is smaller. `order` lists the
    dimensions from fastest varying; lanes and warps are numbered along it.

    ```mlir
    // 1024 floats, 4 warps: each thread holds 2 x 4 elements, as 16-byte vectors.
    tensor<1024xf32, #tilegpu.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>>
    ```
  }];
  let parameters = (ins
    ArrayRefParameter<"unsigned">:$sizePerThread,
    ArrayRefParameter<"unsigned">:$threadsPerWarp,
    ArrayRefParameter<"unsigned">:$warpsPerCTA,
    ArrayRefParameter<"unsigned">:$order);
  let assemblyFormat = [{
    `<` `sizePerThread` `=` `[` $sizePerThread `]` `,` `threadsPerWarp` `=` `[` $threadsPerWarp `]`
    `,` `warpsPerCTA` `=` `[` $warpsPerCTA `]` `,` `order` `=` `[` $order `]` `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    unsigned getRank() const { return getOrder().size(); }
    unsigned getNumWarps() const;
    /// Elements per thread along each dimension for a tensor of `shape`.
    ::llvm::SmallVector<int64_t> getElemsPerThread(::llvm::ArrayRef<int64_t> shape) const;
    /// Total elements each thread holds for a tensor of `shape`.
    int64_t getTotalElemsPerThread(::llvm::ArrayRef<int64_t> shape) const;
    /// The number of elements one block covers along each dimension.
    ::llvm::SmallVector<int64_t> getShapePerCTA() const;
    /// The default layout of a tensor of `shape` with `numWarps` warps: the
    /// last dimension fastest, up to 4 elements per thread along it (1-D)
    /// or `tileRun` (tiles; 16 where the tiles hold bytes), lanes then
    /// warps spread from the fastest dimension. `warpSize` lanes a warp
    /// (64 on AMD's CDNA wavefronts).
    static BlockedEncodingAttr getDefault(::mlir::MLIRContext *context,
                                          ::llvm::ArrayRef<int64_t> shape,
                                          unsigned numWarps, unsigned tileRun = 8,
                                          unsigned warpSize = 32);
  }];
}

def TileGPU_MmaEncoding : TileGPU_Attr<"MmaEncoding", "mma"> {
  let summary = "the accumulator layout of tensor-core mma tiles";
  let description = [{
    A rank-2 tensor cut into the 16 x 8 accumulator tiles of the
    `mma.sync.m16n8k16` instruction (version 2: sm_80 and later). The warps
    form a `warpsPerCTA[0] x warpsPerCTA[1]` grid (warp w at row w / wn,
    column w % wn); each warp's tile repeats over the tensor with a stride
    of the whole grid. In a tile, lane l holds rows l / 4 and l / 4 + 8 at
    columns 2 * (l % 4) and 2 * (l % 4) + 1: four elements per tile.

    ```mlir
    // 128 x 128 fp32, 4 warps as 2 x 2: each thread holds 4 x 8 tiles of 4.
    tensor<128x128xf32, #tilegpu.mma<version = 2, warpsPerCTA = [2, 2]>>
    ```

    Version 3 is the layout of the warpgroup instruction `wgmma.mma_async`
    of sm_90a: `warpsPerCTA = [wm, wn]` with `wm` a multiple of 4, warps
    numbered along M first (warp w at row w % wm, column w / wm), so that a
    warpgroup's four warps hold rows 64g .. 64g + 63 of each 64 x N
    instruction tile, as the instruction's accumulator fragments do. Warp
    column j holds the contiguous columns j N / wn .. (j + 1) N / wn - 1
    (one slab, one B operand offset a warpgroup), in 16 x 8 tiles as
    above. With `wn > 1` the warpgroups split N: FlashMLA's 64 x 512
    accumulator is `[4, 2]`, each warpgroup 64 x 256.

    ```mlir
    // 64 x 512 fp32 on 8 warps: each thread holds 4 x 32 tiles' 4 = 128.
    tensor<64x512xf32, #tilegpu.mma<version = 3, warpsPerCTA = [4, 2]>>
    ```

    `#tilegpu.mma<mfma, warpsPerCTA = [wm, wn]>` is AMD CDNA's matrix core
    accumulator (`v_mfma_f32_16x16x16f16` and kin, gfx90a and gfx942, 64
    lanes a wavefront): tiles of 16 x 16, and in a tile lane l holds rows
    4 * (l / 16) .. 4 * (l / 16) + 3 of column l % 16, again four elements
    a tile. (Stored as version 0.)

    ```mlir
    tensor<64x64xf32, #tilegpu.mma<mfma, warpsPerCTA = [2, 2]>>
    ```
  }];
  let parameters = (ins "unsigned":$versionMajor,
                        ArrayRefParameter<"unsigned">:$warpsPerCTA);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// versionMajor of the AMD MFMA layout.
    static constexpr unsigned kMfma = 0;
    bool isMfma() const { return getVersionMajor() == kMfma; }
    /// One warp's accumulator tile: 16 x 8 (mma.sync, wgmma), 16 x 16 (MFMA).
    int64_t getTileRows() const { return 16; }
    int64_t getTileCols() const { return isMfma() ? 16 : 8; }
    unsigned getNumWarps() const { return getWarpsPerCTA()[0] * getWarpsPerCTA()[1]; }
    /// The rows and columns the warp grid covers with one tile each.
    ::llvm::SmallVector<int64_t> getShapePerCTA() const;
    /// Tiles per warp along each dimension for a tensor of `shape`.
    ::llvm::SmallVector<int64_t> getRepetitions(::llvm::ArrayRef<int64_t> shape) const;
    /// Total elements each thread holds for a tensor of `shape`.
    int64_t getTotalElemsPerThread(::llvm::ArrayRef<int64_t> shape) const;
    /// The warp grid for an M x N result with `numWarps` warps: warps along
    /// M first while each has 16 rows, then along N while each has a
    /// tile's columns; warps left over replicate along M. Version 2 or
    /// kMfma.
    static MmaEncodingAttr getForShape(::mlir::MLIRContext *context,
                                       ::llvm::ArrayRef<int64_t> shape,
                                       unsigned numWarps, unsigned version = 2);
  }];
}

def TileGPU_SliceEncoding : TileGPU_Attr<"SliceEncoding", "slice",
    [DeclareAttrInterfaceMethods<VerifiableTensorEncoding>]> {
  let summary = "a tensor of one rank less, held as one slice of a parent layout";
  let description = [{
    The layout a reduction along `dim` of a `parent`-layout tensor leaves
    its result in: each thread holds the elements of the rows (dim = 1) or
    columns (dim = 0) it held in the parent, once each; the threads that
    held other elements of the same row hold copies. `tile.expand_dims`
    along `dim` gives the parent layout back with no data movement, so
    flash attention's row statistics (max, sum, rescale factors) stay in
    registers next to the mma accumulator. The parent is an mma layout.

    ```mlir
    // The row maxima of a 128 x 128 wgmma accumulator: 2 per thread.
    tensor<128xf32, #tilegpu.slice<dim = 1, parent = #tilegpu.mma<version = 3, warpsPerCTA = [8, 1]>>>
    ```
  }];
  let parameters = (ins "unsigned":$dim, "MmaEncodingAttr":$parent);
  let assemblyFormat = [{
    `<` `dim` `=` $dim `,` `parent` `=` $parent `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The parent tensor's shape for a tensor of `shape` (1 along `dim`).
    ::llvm::SmallVector<int64_t> getParentShape(::llvm::ArrayRef<int64_t> shape) const;
  }];
}

def TileGPU_SharedEncoding : TileGPU_Attr<"SharedEncoding", "shared"> {
  let summary = "a rank-2 tile held in shared memory";
  let description = [{
    The tile is in the program's shared memory, row-major. With no swizzle
    (`#tilegpu.shared`) each row is padded by 16 bytes (rows stay 16-byte
    aligned for vector copies and ldmatrix; the 8 rows one ldmatrix reads
    fall in different banks). With `swizzle = W` (32, 64 or 128 bytes; the
    layouts wgmma reads through matrix descriptors) the tile is cut into
    column blocks W bytes wide, each block row-major with rows of W bytes,
    and the 16-byte chunk c of row r is stored at chunk
    `c xor ((r / (128 / W)) mod (W / 16))`; such a buffer starts on a
    1024-byte boundary. `transposed` marks the view `tile.trans` gives of
    such a tile: dimension 0 is then the contiguous one (the tile's
    transpose is stored as described). Such a tensor is produced by
    `tilegpu.async_load`
    and read by `tile.dot` as an operand; no thread holds its elements in
    registers.

    ```mlir
    %a = tilegpu.async_load %ptrs[%slot], %mask {buffer = 0 : i32, slots = 3 : i32}
        : tensor<128x32x!tile.ptr<f16>, #blocked>, tensor<128x32xi1, #blocked> -> tensor<128x32xf16, #tilegpu.shared>
    %b = tilegpu.async_load %ptrs[%slot], %mask {buffer = 1 : i32, slots = 3 : i32}
        : tensor<64x256x!tile.ptr<f16>, #blocked>, tensor<64x256xi1, #blocked> -> tensor<64x256xf16, #tilegpu.shared<swizzle = 128>>
    ```
  }];
  let parameters = (ins DefaultValuedParameter<"unsigned", "0">:$swizzle,
                        DefaultValuedParameter<"bool", "false">:$transposed);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

class TileGPU_Op<string mnemonic, list<Trait> traits = []>
    : Op<TileGPU_Dialect, mnemonic, traits>;

def TileGPU_ConvertLayoutOp : TileGPU_Op<"convert_layout", [Pure]> {
  let summary = "the same tensor in another layout";
  let description = [{
    Moves the elements of a tensor between threads (through shared memory)
    so that they are held as `result`'s layout says.

    ```mlir
    %b = tilegpu.convert_layout %a : tensor<64x64xf32, #l1> -> tensor<64x64xf32, #l2>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$src);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$src attr-dict `:` type($src) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def TileGPU_AsyncLoadOp : TileGPU_Op<"async_load"> {
  let summary = "start copying a tile from global to shared memory";
  let description = [{
    Starts asynchronous copies (`cp.async` on sm_80+) of the elements `ptr`
    points to into slot `slot` (0 <= slot < `slots`) of shared buffer
    `buffer`, padded row-major; elements whose `mask` is false are zero.
    The result names the tile in shared memory; it may be read once a
    `tilegpu.async_wait` has seen its group complete (groups end at
    `tilegpu.async_commit`).
  }];
  let arguments = (ins AnyRankedTensor:$ptr, I32:$slot, Optional<AnyRankedTensor>:$mask,
                       I32Attr:$buffer, I32Attr:$slots);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $ptr `[` $slot `]` (`,` $mask^)? attr-dict `:` type($ptr) (`,` type($mask)^)? `->` type($result)
  }];
  let hasVerifier = 1;
}

def TileGPU_AsyncCommitOp : TileGPU_Op<"async_commit"> {
  let summary = "close the group of the async loads started since the last one";
  let assemblyFormat = "attr-dict";
}

def TileGPU_AsyncWaitOp : TileGPU_Op<"async_wait"> {
  let summary = "wait until at most `pending` groups of async loads are in flight";
  let description = [{
    Then synchronizes the program's threads, so every thread sees the tiles
    of the completed groups and has finished reading the slots that later
    loads will overwrite.
  }];
  let arguments = (ins I32Attr:$pending);
  let assemblyFormat = "attr-dict";
  let hasVerifier = 1;
}

def TileGPU_TmaInitOp : TileGPU_Op<"tma_init"> {
  let summary = "set up the mbarriers of a TMA pipeline";
  let description = [{
    One mbarrier per slot (arrival count 1), initialized by the first
    thread and made visible to the async proxy before the program's threads
    go on. `tilegpu.tma_done` ends their use.
  }];
  let arguments = (ins I32Attr:$slots);
  let assemblyFormat = "attr-dict";
  let hasVerifier = 1;
}

def TileGPU_TmaExpectOp : TileGPU_Op<"tma_expect"> {
  let summary = "arm a slot's mbarrier for the bytes the next TMA copies bring";
  let description = [{
    When `pred` holds, the first thread arrives at the mbarrier of `slot`,
    expecting `bytes` bytes of TMA copies (the `tilegpu.tma_load`s into that
    slot that follow).
  }];
  let arguments = (ins I32:$slot, I1:$pred, I32Attr:$bytes, I32Attr:$slots);
  let assemblyFormat = "$slot `,` $pred attr-dict";
}

def TileGPU_TmaLoadOp : TileGPU_Op<"tma_load", [AttrSizedOperandSegments]> {
  let summary = "copy a block of a tensor descriptor into a shared slot with TMA";
  let description = [{
    When `pred` holds, the first thread starts TMA copies of the block at
    `offsets` of the array `base`/`shape`/`strides` (a tile.descriptor_load's
    operands, function arguments or constants: the launcher encodes the
    array's tensor map as a kernel parameter) into slot `slot` of shared
    buffer `buffer`, in the swizzled layout of the result, completing on the
    slot's mbarrier. Elements outside the array are zero. The tile may be
    read after a `tilegpu.tma_wait` on the slot.
  }];
  let arguments = (ins AnyType:$base, Variadic<I32>:$shape, Variadic<I64>:$strides,
                       Variadic<I32>:$offsets, I32:$slot, I1:$pred,
                       I32Attr:$buffer, I32Attr:$slots);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $base `[` $offsets `]` `shape` ` ` `[` $shape `]` `strides` ` ` `[` $strides `]`
    `slot` $slot `,` $pred attr-dict `:` type($base) `->` type($result)
  }];
  let hasVerifier = 1;
}

def TileGPU_SlotViewOp : TileGPU_Op<"slot_view"> {
  let summary = "the tile in a pipeline buffer's slot, read in place";
  let description = [{
    The swizzled shared tile that `tilegpu.tma_load`s into slot `slot` of
    buffer `buffer` (of `slots` slots) write, with no copy: for readers
    whose copies are issued elsewhere (a producer warp's). It orders
    nothing: the readers wait for the slot's copies themselves
    (`tilegpu.tma_wait`).
  }];
  let arguments = (ins I32:$slot, I32Attr:$buffer, I32Attr:$slots);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$slot attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def TileGPU_TmaWaitOp : TileGPU_Op<"tma_wait"> {
  let summary = "wait for a slot's TMA copies";
  let description = [{
    Every thread waits for the phase `phase` (0 or 1) of the slot's
    mbarrier to complete, then the program's threads synchronize (they are
    done reading the slots that later copies overwrite).
  }];
  let arguments = (ins I32:$slot, I32:$phase, I32Attr:$slots);
  let assemblyFormat = "$slot `,` $phase attr-dict";
}

def TileGPU_TmaDoneOp : TileGPU_Op<"tma_done"> {
  let summary = "end a TMA pipeline: its mbarriers are invalidated";
  let arguments = (ins I32Attr:$slots);
  let assemblyFormat = "attr-dict";
}

// Async copies completing on per-slot mbarriers (instead of a barrier of
// the program's threads at each iteration): `full` barriers for the copies
// into a slot, `empty` ones for the slot's readers being done with it.
def TileGPU_SlotBarriersInitOp : TileGPU_Op<"slot_barriers_init"> {
  let summary = "set up the full and empty mbarriers of an async-copy pipeline";
  let description = [{
    Two mbarriers per slot, each expecting an arrival of every thread of
    the program: `full` (the thread's `cp.async` copies into the slot are
    done, `tilegpu.async_arrive`) and `empty` (the thread is done reading
    the slot, `tilegpu.slot_release`). `tilegpu.slot_barriers_done` ends
    their use.
  }];
  let arguments = (ins I32Attr:$slots);
  let assemblyFormat = "attr-dict";
  let hasVerifier = 1;
}

def TileGPU_AsyncArriveOp : TileGPU_Op<"async_arrive"> {
  let summary = "the slot's full mbarrier gets this thread's arrival when its copies are done";
  let description = [{
    `cp.async.mbarrier.arrive` (the pending count goes up until every
    `tilegpu.async_load` copy this thread started so far has completed)
    and the thread's arrival (`mbarrier.arrive`, a release of its other
    shared stores): the phase completes when every thread's copies have.
  }];
  let arguments = (ins I32:$slot, I32Attr:$slots);
  let assemblyFormat = "$slot attr-dict";
}

def TileGPU_SlotWaitOp : TileGPU_Op<"slot_wait"> {
  let summary = "wait for a phase of a slot's full (or empty) mbarrier";
  let description = [{
    The thread waits for phase `phase` (0 or 1) of the slot's `full`
    mbarrier (its tiles are copied; they may then be read, by wgmma too)
    or, with `empty`, of its `empty` mbarrier (every thread is done reading
    it; it may be overwritten). Parity 1 of a fresh barrier is complete.
  }];
  let arguments = (ins I32:$slot, I32:$phase, I32Attr:$slots, UnitAttr:$empty);
  let assemblyFormat = "$slot `,` $phase attr-dict";
}

def TileGPU_SlotReleaseOp : TileGPU_Op<"slot_release"> {
  let summary = "this thread is done reading a slot: it arrives at the slot's empty mbarrier";
  let description = [{
    After every dot that reads the slot's tiles has completed (pending
    wgmma dots are waited for first).
  }];
  let arguments = (ins I32:$slot, I32Attr:$slots);
  let assemblyFormat = "$slot attr-dict";
}

def TileGPU_SlotBarriersDoneOp : TileGPU_Op<"slot_barriers_done"> {
  let summary = "end an async-copy pipeline's mbarriers: they are invalidated";
  let arguments = (ins I32Attr:$slots);
  let assemblyFormat = "attr-dict";
}

def TileGPU_ProducerOp : TileGPU_Op<"producer", [SingleBlock, NoTerminator]> {
  let summary = "a pipeline's copies, issued by a warp of their own";
  let description = [{
    The code of a producer warp: one warp more than the program's layouts
    name (warp `num_warps`) runs the region and leaves the kernel; the
    others skip it. It fills the slots of the pipeline buffers whose
    readers wait for them with `tilegpu.tma_wait` and free them with
    `tilegpu.slot_release` (a loop of `tilegpu.slot_wait {empty}`,
    `tilegpu.tma_expect` and `tilegpu.tma_load`). It sits in the kernel's
    entry block after the pipeline's mbarriers are set up and before any
    op that works on tiles; its region holds scalar work only (the copies'
    tiles are not read there). Barriers of all threads after it count the
    other warps only.

    ```mlir
    tilegpu.producer {
      scf.for %i = %c0 to %n step %c1 iter_args(...) { ... tilegpu.tma_load ... }
    }
    ```
  }];
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$body attr-dict";
  let hasVerifier = 1;
}

#endif // TESSERA_DIALECTS_TILEGPU_TILEGPU_TD
