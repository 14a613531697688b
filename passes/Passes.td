//===- Passes.td - Tessera's passes ------------------------*- tablegen -*-===//

#ifndef TESSERA_PASSES_PASSES_TD
#define TESSERA_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def TileCombine : Pass<"tile-combine"> {
  let summary = "Combine tile ops into cheaper equivalents";
  let description = [{
    Peephole rewrites on tile IR, applied with the ops' folders until
    nothing changes:

    - `dot(a, b, 0) + d` becomes `dot(a, b, d)`: the addition rides on the
      accumulator (float and integer).
    - `addptr(addptr(p, x), y)` becomes `addptr(p, x + y)` when the offsets
      have one type, so a loop-carried pointer needs one addition.
    - `broadcast`, `expand_dims`, `reshape` and `trans` of a `splat` become
      one `splat` of the result type.

    Before:
    ```mlir
    %z = arith.constant dense<0.0> : tensor<16x16xf32>
    %p = tile.dot %a, %b, %z : tensor<16x16xf16> * tensor<16x16xf16> -> tensor<16x16xf32>
    %r = arith.addf %p, %acc : tensor<16x16xf32>
    ```
    After:
    ```mlir
    %r = tile.dot %a, %b, %acc : tensor<16x16xf16> * tensor<16x16xf16> -> tensor<16x16xf32>
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::tessera::tile::TileDialect"];
}

def TileWidenOffsets : Pass<"tile-widen-offsets"> {
  let summary = "Compute the pointer offsets of large arrays in 64 bits";
  let description = [{
    Every `tile.addptr` whose pointer derives from a function argument
    marked `tile.large` (an array of 2^31 elements or more, as the launcher
    marks it) gets its offset recomputed in 64 bits: `arith.addi`, `subi`
    and `muli` are rebuilt on 64-bit operands, constants and splats are
    made 64-bit, and other values (ranges, program ids, divisions, loads,
    arguments) are sign-extended where they meet that arithmetic. A
    `row * stride` past 2^31 then addresses the right element instead of
    wrapping. Pointers are followed through splats, broadcasts, shape ops,
    selects, `tile.addptr` and loop-carried values.

    Before:
    ```mlir
    func.func @f(%p: !tile.ptr<i8> {tile.large}, %row: i32, %stride: i32) {
      %o = arith.muli %row, %stride : i32
      %q = tile.addptr %p, %o : !tile.ptr<i8>, i32
    ```
    After:
    ```mlir
      %r = arith.extsi %row : i32 to i64
      %s = arith.extsi %stride : i32 to i64
      %o = arith.muli %r, %s : i64
      %q = tile.addptr %p, %o : !tile.ptr<i8>, i64
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::tessera::tile::TileDialect"];
}

def TileLowerDescriptors : Pass<"tile-lower-descriptors"> {
  let summary = "Lower tensor-descriptor loads and stores to element pointers";
  let description = [{
    `tile.descriptor_load` and `tile.descriptor_store` become a tensor of
    element pointers (base + sum over d of (offsets[d] + i_d) * strides[d])
    and a mask of the elements inside the array's shape; loads read zero
    outside; `tile.descriptor_atomic_add` becomes relaxed element atomics.
    With `keep-tma`, loads that may become TMA copies stay (2-D, in a loop,
    read only by dots, described by function arguments and constants), and
    so do 2-D f32/i32 atomic adds of at most 256 x 256 with rows of whole
    16-byte units (TMA bulk reductions); the sm_90a backend lowers them.
  }];
  let options = [
    Option<"keepTma", "keep-tma", "bool", "false",
           "keep descriptor loads the sm_90a pipeliner may turn into TMA copies">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::tessera::tile::TileDialect"];
}

def TGraphLowerAttention : Pass<"tgraph-lower-attention", "mlir::ModuleOp"> {
  let summary = "Lower tgraph.attention to a flash-attention tile kernel and its launch";
  let description = [{
    Each `tgraph.attention` with static shapes (f16, bf16 or f32; dense,
    causal, or over listed key blocks) becomes a tile kernel specialized for
    its sizes, block sizes, scale and element type, added to the module, and
    a `tgraph.launch` of it over (query blocks, Z x H, 1) in the op's place.
    One program computes one query block of one head: it loads the block,
    visits the key blocks (all of them; those up to the diagonal with
    `causal`; `kv_index[z, h, qb, :kv_count[z, h, qb]]` with lists) with an
    online softmax (columns past the keys, and above the diagonal with
    `causal`, at -inf), and stores acc / l (zero for a row that saw no key).
    With query lists (BSA's query sparsity) it computes only the listed
    positions of its block and gives every other row of the block the
    output of the last listed one (zeros when none is listed). Tensors are
    row-major and contiguous (the launch's contract).

    BSA's `tgraph.cube_reorder` (one program per 32 tokens and up to 128
    channels of a batch entry) and `tgraph.token_select` (one program per
    block of a head: cosine similarity to the centre token, ranks by
    pairwise comparison, the list's unused entries 0) are lowered the same
    way; `tgraph.launch` takes several results.

    `tgraph.block_select` becomes four launches: the mean pooling of q's
    and of k's blocks (f32), the pooled scores, then the selection (one
    program per query block of a head: softmax over the key blocks, the
    count kept and the blocks from bisections over the probabilities'
    bits; top-p or mean + k std, at least min_blocks, at most L; listed in
    increasing order, unused entries -1).

    `tgraph.attention_grad` becomes the lse (or, with the forward's lse,
    delta) kernel, the dq kernel, with lists their transposition, and the
    dk/dv kernel; with `dq-atomics` the dk/dv kernel also adds each block
    pair's dq into a float32 buffer that starts zeroed (the launch's
    `zeroed`), and a last kernel converts it: five products per block pair
    instead of seven.

    Not lowered yet, with a diagnostic: dynamic shapes, tensors of 2^31
    elements or more, more than 8192 key blocks in a selection.

    ```mlir
    %o = tgraph.attention %q, %k, %v {block_m = 32, block_n = 32, causal} : ...
    ```
    becomes
    ```mlir
    %o = tgraph.launch @f_attention_0 grid [4, 6, 1] (%q, %k, %v) : (...) -> ...
    func.func @f_attention_0(%q: !tile.ptr<f16>, ..., %o: !tile.ptr<f16>) { ... }
    ```
  }];
  let options = [
    Option<"dqAtomics", "dq-atomics", "bool", "false",
           "attention_grad: dq added by the dk/dv kernel with atomics (no dq kernel)">
  ];
  let dependentDialects = ["::tessera::tile::TileDialect", "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect", "::mlir::scf::SCFDialect",
                           "::mlir::func::FuncDialect"];
}

def TGraphReorderContractions : Pass<"tgraph-reorder-contractions"> {
  let summary = "Evaluate n-ary contractions in the order of least cost";
  let description = [{
    Each `tgraph.contract` of three or more operands becomes a tree of
    binary contractions in the order of least estimated time, found exactly
    by dynamic programming over subsets of its operands (opt_einsum's
    optimal/dp). A pairwise product of operands with indices I and J costs
    FLOPs = 2 x the product of the sizes of I and J together (2 M N K for a
    matrix product) and bytes = its operands and result; its time is
    max(FLOPs / peak FLOP/s, bytes / peak bandwidth), so memory-bound
    products (decode) are judged by their bytes. Products of weights alone
    are computed once ahead of time and charged the time to read their
    result.

    With dynamic sizes the best order may depend on them: the pass finds the
    orders that are best for some sizes (over a grid of powers of two for
    each dynamic index), emits each in a region of an `scf.index_switch`,
    and a guard that evaluates every candidate's cost on the actual sizes
    and takes the cheapest (MLA's prefill/decode switch).

    `print-costs` reports, as remarks, the cost of every order (up to six
    operands) or the candidates and where each wins.

    Before (MLA's scores, prefill):
    ```mlir
    %s = tgraph.contract "bsq,hdq,btk,hdk->bhst" %cq, %wuq, %ckv, %wuk ...
    ```
    After:
    ```mlir
    %q = tgraph.contract "bsq,hdq->bshd" %cq, %wuq ...
    %k = tgraph.contract "btk,hdk->bthd" %ckv, %wuk ...
    %s = tgraph.contract "bshd,bthd->bhst" %q, %k ...
    ```
  }];
  let options = [
    Option<"peakTflops", "peak-tflops", "double", "989.0",
           "peak tensor FLOP/s of the target, in TFLOP/s">,
    Option<"peakTbps", "peak-tbps", "double", "4.8",
           "peak memory bandwidth of the target, in TB/s">,
    Option<"precomputeWeights", "precompute-weights", "bool", "true",
           "compute products of weights alone once (charged by their size)">,
    Option<"printCosts", "print-costs", "bool", "false",
           "report the cost table as remarks">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect",
                           "::tessera::tgraph::TGraphDialect"];
}

def ConvertTileToCPU : Pass<"convert-tile-to-cpu", "mlir::ModuleOp"> {
  let summary = "Lower tile IR to tensor, linalg and scf ops for the CPU backend";
  let description = [{
    The first step of the CPU backend. Pointers become `i64` addresses and
    memory accesses `llvm.load`/`llvm.store`/atomics through
    `llvm.inttoptr`; tile tensors become builtin tensors produced by
    `tensor.generate`, `linalg` ops and `tensor` reshapes, which
    one-shot bufferization then turns into loops over buffers.

    Each public function is a kernel: it gains six trailing `i32` arguments
    (program id x, y, z, then the grid size x, y, z) that replace
    `tile.program_id` and `tile.num_programs`, and an entry function
    `<name>__entry(%args: !llvm.ptr, %pid_x, %pid_y, %pid_z, %n_x, %n_y, %n_z)`
    whose first argument points at one 8-byte slot per kernel argument
    (pointers and integers zero/sign-extended, floats in the low bytes).

    Before:
    ```mlir
    %v = tile.load %p, %m : tensor<16x!tile.ptr<f32>>
    ```
    After:
    ```mlir
    %v = tensor.generate {
    ^bb0(%i: index):
      %a = tensor.extract %p[%i] : tensor<16xi64>
      %k = tensor.extract %m[%i] : tensor<16xi1>
      %x = scf.if %k -> (f32) {
        %q = llvm.inttoptr %a : i64 to !llvm.ptr
        %l = llvm.load %q : !llvm.ptr -> f32
        scf.yield %l : f32
      } else { ... }
      tensor.yield %x : f32
    } : tensor<16xf32>
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

def LowerTileCPUAtomics : Pass<"lower-tile-cpu-atomics"> {
  let summary = "Lower the CPU backend's scalar tile atomics to LLVM atomics";
  let description = [{
    `convert-tile-to-cpu` leaves atomics as scalar `tile.atomic_rmw` /
    `tile.atomic_cas` on an address cast back to `!tile.ptr`, because buffer
    deallocation rejects ops that do not declare their memory effects (as
    `llvm.atomicrmw` does not). After bufferization this pass rewrites them:

    ```mlir
    %p = builtin.unrealized_conversion_cast %addr : i64 to !tile.ptr<f32>
    %old = tile.atomic_rmw fadd, acq_rel, gpu, %p, %v : !tile.ptr<f32>
    ```
    becomes
    ```mlir
    %q = llvm.inttoptr %addr : i64 to !llvm.ptr
    %old = llvm.atomicrmw fadd %q, %v acq_rel : !llvm.ptr, f32
    ```
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::arith::ArithDialect"];
}

def ConvertTileToTileGPU : Pass<"convert-tile-to-tilegpu", "mlir::ModuleOp"> {
  let summary = "Give every tile tensor a GPU layout";
  let description = [{
    The first GPU step: every ranked tensor in the module gets the default
    blocked layout for its shape and the module's warp count (the last
    dimension fastest, up to 4 contiguous elements per thread along it), and
    the module records `tilegpu.num_warps`. Tensors of one shape share one
    layout, so elementwise ops need no conversions; shape-changing ops are
    lowered through shared memory by convert-tilegpu-to-simt.

    With `compute-capability` 80 or more, a `tile.dot` of fp16 or bf16
    operands into fp32 with M % 16 == 0, N % 8 == 0 and K % 16 == 0 gets
    the `#tilegpu.mma` accumulator layout: its accumulator operand and its
    uses go through `tilegpu.convert_layout`, and the conversions that cancel
    are removed: converts of converts, converts of splat constants, and
    loop-carried accumulators (an `scf.for` argument used only through a
    convert to mma and yielded from a convert out of mma is carried in the
    mma layout, converted once before and once after the loop).

    ```mlir
    %r = tile.make_range 0 to 1024 : tensor<1024xi32>
    ```
    becomes, with num-warps=4,
    ```mlir
    %r = tile.make_range 0 to 1024 : tensor<1024xi32, #tilegpu.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>>
    ```
  }];
  let options = [
    Option<"numWarps", "num-warps", "unsigned", /*default=*/"4",
           "warps per program instance (a power of two from 1 to 32)">,
    Option<"computeCapability", "compute-capability", "unsigned", /*default=*/"0",
           "the target's compute capability (80 for sm_80); from 80 on, "
           "fp16/bf16 dots get the tensor-core mma layout">,
    Option<"wgmma", "wgmma", "bool", /*default=*/"false",
           "the target has wgmma (sm_90a): fp16/bf16 dots whose shapes fit "
           "whole warpgroups get the version 3 (wgmma) layout">,
    Option<"threadsPerWarp", "threads-per-warp", "unsigned", /*default=*/"32",
           "lanes a warp: 32 (NVIDIA), 64 (AMD CDNA wavefronts)">,
    Option<"mfma", "mfma", "bool", /*default=*/"false",
           "the target has AMD's MFMA (gfx90a, gfx942; threads-per-warp=64): "
           "fp16/bf16 and fp32 dots of 16 x 16 tiles get the "
           "#tilegpu.mma<mfma> layout">
  ];
  let dependentDialects = ["::tessera::tilegpu::TileGPUDialect",
                           "::mlir::scf::SCFDialect"];
}

def ConvertTileGPUToNVVM : Pass<"convert-tilegpu-to-nvvm", "mlir::ModuleOp"> {
  let summary = "Lower laid-out tile kernels to per-thread code with NVVM ops";
  let description = [{
    Rebuilds each kernel as the code one thread of the program's block runs.
    A tensor becomes the scalars the thread holds under its blocked layout;
    elementwise ops apply per element; `tile.load`/`store`/atomics become
    `llvm.load`/`store`/`atomicrmw`/`cmpxchg` on `!llvm.ptr<1>` under `scf.if`
    masks (replicated elements are stored by their owner only, scalar
    stores and atomics by thread 0); shape changes, reductions, scans and
    `tile.dot` exchange elements through the dynamic shared buffer
    `@tessera_shared` between `nvvm.barrier0`s. The kernel gets `nvvm.kernel`,
    `nvvm.reqntid` and `tilegpu.shared_bytes` (the shared memory it needs).

    ```mlir
    %v = tile.load %p, %m : tensor<256x!tile.ptr<f32>, #blocked>
    ```
    becomes, per element `i` the thread holds,
    ```mlir
    %vi = scf.if %mi -> (f32) {
      %l = llvm.load %pi : !llvm.ptr<1> -> f32
      scf.yield %l : f32
    } else { ... }
    ```
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
  let options = [
    Option<"pingPong", "ping-pong", "bool", /*default=*/"false",
           "With 8 warps, the two warpgroups take turns issuing the wgmma "
           "dots of a loop body with two or more (named barriers 1 and 2)">,
    Option<"producerRegisters", "producer-registers", "unsigned", /*default=*/"0",
           "A tilegpu.producer region runs on a warpgroup of its own (one warp "
           "issues, three idle) that keeps this many registers a thread "
           "(setmaxnreg.dec, 24 to 256, a multiple of 8); the consumer "
           "warpgroups take what it gives back (setmaxnreg.inc). 0: one "
           "producer warp, no register reallocation">,
  ];
}

def ConvertTileGPUToROCDL : Pass<"convert-tilegpu-to-rocdl", "mlir::ModuleOp"> {
  let summary = "Lower laid-out tile kernels to per-thread code with ROCDL ops (AMD GPUs)";
  let description = [{
    convert-tilegpu-to-nvvm's expansion for AMD CDNA GPUs (wave64: the
    layouts must come from convert-tile-to-tilegpu with threads-per-warp=64
    and no compute capability). Thread and workgroup ids are ROCDL ops, the
    number of workgroups is read from the HSA dispatch packet, barriers are
    `rocdl.barrier` (s_barrier between workgroup-scope fences), butterfly
    shuffles are `rocdl.ds_bpermute`, f32 transcendentals are LLVM
    intrinsics the AMDGPU back end lowers itself, and the dynamic shared
    buffer `@tessera_shared` is LDS (address space 3). The kernel gets
    `rocdl.kernel`, `rocdl.flat_work_group_size` and
    `rocdl.reqd_work_group_size`. Dots in the `#tilegpu.mma<mfma>` layout
    run on MFMA (`rocdl.mfma.f32.16x16x16f16`, `.16x16x16bf16.1k`,
    `.16x16x4f32`), their operands read from LDS; other dots take the FMA
    path. Async copies and mbarriers (NVIDIA's) are rejected.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::ROCDL::ROCDLDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def TileGPUPipelineLoads : Pass<"tilegpu-pipeline-loads", "mlir::ModuleOp"> {
  let summary = "Issue the loads that feed dots num-stages - 1 iterations ahead";
  let description = [{
    Software pipelining for loops with tensor-core dots: a `tile.load`
    whose result feeds only dot operands, and whose address and mask are
    pure functions of the induction variable, loop-invariant values and
    iteration arguments that are themselves such functions ("address
    arguments": pointers advanced each iteration), is issued for iteration
    i + S - 1 at the top of iteration i; its tile is carried by the loop
    until its iteration's dot. The prologue issues iterations 0 .. S - 2.
    Loads of iterations past the end are masked off. Loops that store or do
    atomics are left alone (a store could feed a later iteration's load).
    With `num-stages` < 2 the pass does nothing.

    With `async-copy` (sm_80+), loads of rank-2 tiles feeding tensor-core
    dots whose masked-off elements are zero become `tilegpu.async_load`s
    into S shared-memory slots per load (slot = iteration % S), one
    `tilegpu.async_commit` group per iteration; each iteration starts with
    `tilegpu.async_wait {pending = S - 2}` (its tiles have landed, and the
    slot about to be overwritten has been read), and the dot reads its
    operands from shared memory directly.

    With `ping-pong`, a loop whose body holds two or more wgmma dots of a
    two-warpgroup layout (the loops convert-tilegpu-to-nvvm schedules
    ping-pong) keeps no barrier of all threads per iteration: each thread's
    copies into a slot complete on the slot's `full` mbarrier
    (`tilegpu.async_arrive`), readers wait on it (`tilegpu.slot_wait`) and
    release the slot on its `empty` mbarrier at the end of the iteration
    (`tilegpu.slot_release`), and copies into a slot wait for its release.
    Such loops get S + 1 slots, so that the release awaited is an
    iteration older than the one the slowest warpgroup may still be in.

    With `producer-warp`, such a loop whose copies are all TMA copies, in
    the kernel's entry block, whose addresses and bounds are scalar work
    on values from before it (index loads included), gets a producer
    warp: the scalar ops those need move to the kernel's start, followed by
    the mbarriers' set-up and a `tilegpu.producer` region that loops over
    the same iterations waiting for each slot's release, arming its
    mbarrier and issuing its copies. The loop itself only waits for its
    slot's copies, reads them in place (`tilegpu.slot_view`) and releases
    the slot.
  }];
  let options = [
    Option<"numStages", "num-stages", "unsigned", /*default=*/"3",
           "loop iterations in flight (1 or 2 to 8; 1 turns pipelining off)">,
    Option<"pingPong", "ping-pong", "bool", /*default=*/"false",
           "per-slot mbarriers instead of a thread barrier per iteration in "
           "loops with two or more two-warpgroup wgmma dots">,
    Option<"producerWarp", "producer-warp", "bool", /*default=*/"false",
           "in ping-pong loops whose copies are all TMA copies, issue them "
           "from a warp of their own (tilegpu.producer)">,
    Option<"lag", "lag", "bool", /*default=*/"false",
           "in loops whose copies are all TMA copies and whose scores are "
           "computed by the first warpgroups only (a wgmma layout over fewer "
           "warps), issue the copies after those dots into the slot the "
           "previous iteration read, once every thread released it (empty "
           "mbarriers): the other dots may stay in flight past the "
           "iteration (MLA's P V beside the next scores)">,
    Option<"asyncCopy", "async-copy", "bool", /*default=*/"false",
           "copy tiles for tensor-core dots with tilegpu.async_load into "
           "num-stages shared-memory slots (cp.async, sm_80+) instead of "
           "carrying them in registers">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::arith::ArithDialect",
                           "::tessera::tilegpu::TileGPUDialect"];
}

#endif // TESSERA_PASSES_PASSES_TD
