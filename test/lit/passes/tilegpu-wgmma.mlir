// On sm_90a (wgmma=1) a fp16 dot over whole warpgroups gets the version 3
// mma layout; the pipeliner copies its operands into swizzled shared tiles
// (rows of 32 halves: 64-byte swizzle) with a spare slot (4 for 3 stages),
// marks the dot to stay in flight, and turns the transpose of the copied B
// tile into a transposed view. The NVVM lowering reads A K-major
// (layoutA row) and the view K-major (layoutB col), waits for one group in
// the loop and for all after it, with the accumulators through the wait.
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=4 compute-capability=90 wgmma=1" --tilegpu-pipeline-loads="num-stages=3 async-copy=1" | FileCheck %s
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=4 compute-capability=90 wgmma=1" --tilegpu-pipeline-loads="num-stages=3 async-copy=1" --convert-tilegpu-to-nvvm | FileCheck %s --check-prefix=NVVM
// Without wgmma (sm_80) the same dot stays on mma.sync (version 2).
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=4 compute-capability=80" | FileCheck %s --check-prefix=SM80

// CHECK-DAG: #[[MMA:.*]] = #tilegpu.mma<version = 3, warpsPerCTA = [4, 1]>
// CHECK-DAG: #[[SW:.*]] = #tilegpu.shared<swizzle = 64>
// CHECK-DAG: #[[SWT:.*]] = #tilegpu.shared<swizzle = 64, transposed>
// CHECK-DAG: #[[MMA2:.*]] = #tilegpu.mma<version = 2, warpsPerCTA = [1, 4]>
// CHECK-LABEL: func.func @gemm_bt
// CHECK: tilegpu.async_load {{.*}} {buffer = 0 : i32, slots = 4 : i32} {{.*}} -> tensor<64x32xf16, #[[SW]]>
// CHECK: tilegpu.async_load {{.*}} {buffer = 1 : i32, slots = 4 : i32} {{.*}} -> tensor<64x32xf16, #[[SW]]>
// CHECK: scf.for
// CHECK: %[[T:.*]] = tile.trans %{{.*}}, order = [1, 0] : tensor<64x32xf16, #[[SW]]> -> tensor<32x64xf16, #[[SWT]]>
// CHECK: tile.dot %{{.*}}, %[[T]], %{{.*}} {tilegpu.wgmma_in_flight} : tensor<64x32xf16, #[[SW]]> * tensor<32x64xf16, #[[SWT]]> -> tensor<64x64xf32, #[[MMA]]>
// NVVM: nvvm.cp.async.wait.group 1
// NVVM-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// NVVM-NEXT: nvvm.barrier0
// NVVM: nvvm.wgmma.fence.aligned
// NVVM-COUNT-2: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 64, k = 16>, D[<f32>, <one>], A[<f16>, <one>, <row>], B[<f16>, <one>, <col>]
// NVVM: nvvm.wgmma.commit.group.sync.aligned
// NVVM-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// NVVM: llvm.inline_asm has_side_effects {{.*}}"wgmma.wait_group.sync.aligned 0;"
// NVVM: nvvm.cp.async.wait.group 0
// SM80: #tilegpu.mma<version = 2
func.func @gemm_bt(%a: !tile.ptr<f16> {tile.divisibility = 16 : i32}, %bt: !tile.ptr<f16> {tile.divisibility = 16 : i32}, %c: !tile.ptr<f32>, %n: i32) {
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %r = tile.make_range 0 to 32 : tensor<32xi32>
  %row = tile.expand_dims %r, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %idx = tile.broadcast %row : tensor<1x32xi32> -> tensor<64x32xi32>
  %as = tile.splat %a : !tile.ptr<f16> -> tensor<64x32x!tile.ptr<f16>>
  %pa0 = tile.addptr %as, %idx : tensor<64x32x!tile.ptr<f16>>, tensor<64x32xi32>
  %bs = tile.splat %bt : !tile.ptr<f16> -> tensor<64x32x!tile.ptr<f16>>
  %pb0 = tile.addptr %bs, %idx : tensor<64x32x!tile.ptr<f16>>, tensor<64x32xi32>
  %step = arith.constant dense<32> : tensor<64x32xi32>
  %res:3 = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero, %pa = %pa0, %pb = %pb0) -> (tensor<64x64xf32>, tensor<64x32x!tile.ptr<f16>>, tensor<64x32x!tile.ptr<f16>>) : i32 {
    %av = tile.load %pa : tensor<64x32x!tile.ptr<f16>>
    %bv = tile.load %pb : tensor<64x32x!tile.ptr<f16>>
    %bT = tile.trans %bv, order = [1, 0] : tensor<64x32xf16> -> tensor<32x64xf16>
    %d = tile.dot %av, %bT, %acc : tensor<64x32xf16> * tensor<32x64xf16> -> tensor<64x64xf32>
    %pan = tile.addptr %pa, %step : tensor<64x32x!tile.ptr<f16>>, tensor<64x32xi32>
    %pbn = tile.addptr %pb, %step : tensor<64x32x!tile.ptr<f16>>, tensor<64x32xi32>
    scf.yield %d, %pan, %pbn : tensor<64x64xf32>, tensor<64x32x!tile.ptr<f16>>, tensor<64x32x!tile.ptr<f16>>
  }
  %out = tile.splat %c : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  tile.store %out, %res#0 : tensor<64x64x!tile.ptr<f32>>
  return
}

// A dot whose result is read in the loop (scaled before it is added) must
// not stay in flight: no spare slot (3 slots for 3 stages), no mark, and
// the lowering waits for the dot before the first use of its result, its
// accumulators through the wait.
// CHECK-LABEL: func.func @scaled_dot
// CHECK: tilegpu.async_load {{.*}} {buffer = 0 : i32, slots = 3 : i32}
// CHECK: scf.for
// CHECK-NOT: tilegpu.wgmma_in_flight
// CHECK: arith.mulf
// CHECK-LABEL: func.func @shared_b
// NVVM-LABEL: llvm.func @scaled_dot
// NVVM: nvvm.wgmma.commit.group.sync.aligned
// NVVM-NOT: arith.mulf
// NVVM: llvm.inline_asm has_side_effects {{.*}}"wgmma.wait_group.sync.aligned 0;"
// NVVM-NOT: nvvm.wgmma.wait.group.sync.aligned 1
// NVVM: arith.mulf
// NVVM-LABEL: llvm.func @shared_b
func.func @scaled_dot(%a: !tile.ptr<f16> {tile.divisibility = 16 : i32}, %b: !tile.ptr<f16> {tile.divisibility = 16 : i32}, %c: !tile.ptr<f32>, %n: i32) {
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %scale = arith.constant dense<0.5> : tensor<64x64xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %r = tile.make_range 0 to 32 : tensor<32xi32>
  %row = tile.expand_dims %r, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %idx = tile.broadcast %row : tensor<1x32xi32> -> tensor<64x32xi32>
  %rb = tile.make_range 0 to 64 : tensor<64xi32>
  %rowb = tile.expand_dims %rb, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %idxb = tile.broadcast %rowb : tensor<1x64xi32> -> tensor<32x64xi32>
  %as = tile.splat %a : !tile.ptr<f16> -> tensor<64x32x!tile.ptr<f16>>
  %pa0 = tile.addptr %as, %idx : tensor<64x32x!tile.ptr<f16>>, tensor<64x32xi32>
  %bs = tile.splat %b : !tile.ptr<f16> -> tensor<32x64x!tile.ptr<f16>>
  %pb0 = tile.addptr %bs, %idxb : tensor<32x64x!tile.ptr<f16>>, tensor<32x64xi32>
  %step = arith.constant dense<32> : tensor<64x32xi32>
  %stepb = arith.constant dense<2048> : tensor<32x64xi32>
  %res:3 = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero, %pa = %pa0, %pb = %pb0) -> (tensor<64x64xf32>, tensor<64x32x!tile.ptr<f16>>, tensor<32x64x!tile.ptr<f16>>) : i32 {
    %av = tile.load %pa : tensor<64x32x!tile.ptr<f16>>
    %bv = tile.load %pb : tensor<32x64x!tile.ptr<f16>>
    %d = tile.dot %av, %bv, %zero : tensor<64x32xf16> * tensor<32x64xf16> -> tensor<64x64xf32>
    %s = arith.mulf %d, %scale : tensor<64x64xf32>
    %sum = arith.addf %acc, %s : tensor<64x64xf32>
    %pan = tile.addptr %pa, %step : tensor<64x32x!tile.ptr<f16>>, tensor<64x32xi32>
    %pbn = tile.addptr %pb, %stepb : tensor<32x64x!tile.ptr<f16>>, tensor<32x64xi32>
    scf.yield %sum, %pan, %pbn : tensor<64x64xf32>, tensor<64x32x!tile.ptr<f16>>, tensor<32x64x!tile.ptr<f16>>
  }
  %out = tile.splat %c : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  tile.store %out, %res#0 : tensor<64x64x!tile.ptr<f32>>
  return
}

// A B tile read by a wgmma dot (64 rows) and by an mma.sync dot (16 rows)
// would need a swizzled and a padded copy: the loop keeps its tiles in
// registers (no async loads) and each dot writes its own shared operands.
// CHECK-NOT: tilegpu.async_load
// CHECK: scf.for
// CHECK: tile.load
// CHECK: tile.load
// CHECK: tile.load
// CHECK: tile.dot {{.*}} -> tensor<64x64xf32, #[[MMA]]>
// CHECK-NOT: tilegpu.async_load
// CHECK: tile.dot {{.*}} -> tensor<16x64xf32, #[[MMA2]]>
// NVVM: nvvm.wgmma.mma_async
// NVVM: nvvm.mma.sync
func.func @shared_b(%a: !tile.ptr<f16> {tile.divisibility = 16 : i32}, %a2: !tile.ptr<f16> {tile.divisibility = 16 : i32}, %b: !tile.ptr<f16> {tile.divisibility = 16 : i32}, %c: !tile.ptr<f32>, %c2: !tile.ptr<f32>, %n: i32) {
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %zero2 = arith.constant dense<0.0> : tensor<16x64xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %r = tile.make_range 0 to 32 : tensor<32xi32>
  %row = tile.expand_dims %r, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %idx = tile.broadcast %row : tensor<1x32xi32> -> tensor<64x32xi32>
  %idx2 = tile.broadcast %row : tensor<1x32xi32> -> tensor<16x32xi32>
  %rb = tile.make_range 0 to 64 : tensor<64xi32>
  %rowb = tile.expand_dims %rb, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %idxb = tile.broadcast %rowb : tensor<1x64xi32> -> tensor<32x64xi32>
  %as = tile.splat %a : !tile.ptr<f16> -> tensor<64x32x!tile.ptr<f16>>
  %pa0 = tile.addptr %as, %idx : tensor<64x32x!tile.ptr<f16>>, tensor<64x32xi32>
  %as2 = tile.splat %a2 : !tile.ptr<f16> -> tensor<16x32x!tile.ptr<f16>>
  %pa20 = tile.addptr %as2, %idx2 : tensor<16x32x!tile.ptr<f16>>, tensor<16x32xi32>
  %bs = tile.splat %b : !tile.ptr<f16> -> tensor<32x64x!tile.ptr<f16>>
  %pb0 = tile.addptr %bs, %idxb : tensor<32x64x!tile.ptr<f16>>, tensor<32x64xi32>
  %step = arith.constant dense<32> : tensor<64x32xi32>
  %step2 = arith.constant dense<32> : tensor<16x32xi32>
  %stepb = arith.constant dense<2048> : tensor<32x64xi32>
  %res:5 = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero, %acc2 = %zero2, %pa = %pa0, %pa2 = %pa20, %pb = %pb0) -> (tensor<64x64xf32>, tensor<16x64xf32>, tensor<64x32x!tile.ptr<f16>>, tensor<16x32x!tile.ptr<f16>>, tensor<32x64x!tile.ptr<f16>>) : i32 {
    %av = tile.load %pa : tensor<64x32x!tile.ptr<f16>>
    %av2 = tile.load %pa2 : tensor<16x32x!tile.ptr<f16>>
    %bv = tile.load %pb : tensor<32x64x!tile.ptr<f16>>
    %d = tile.dot %av, %bv, %acc : tensor<64x32xf16> * tensor<32x64xf16> -> tensor<64x64xf32>
    %d2 = tile.dot %av2, %bv, %acc2 : tensor<16x32xf16> * tensor<32x64xf16> -> tensor<16x64xf32>
    %pan = tile.addptr %pa, %step : tensor<64x32x!tile.ptr<f16>>, tensor<64x32xi32>
    %pa2n = tile.addptr %pa2, %step2 : tensor<16x32x!tile.ptr<f16>>, tensor<16x32xi32>
    %pbn = tile.addptr %pb, %stepb : tensor<32x64x!tile.ptr<f16>>, tensor<32x64xi32>
    scf.yield %d, %d2, %pan, %pa2n, %pbn : tensor<64x64xf32>, tensor<16x64xf32>, tensor<64x32x!tile.ptr<f16>>, tensor<16x32x!tile.ptr<f16>>, tensor<32x64x!tile.ptr<f16>>
  }
  %out = tile.splat %c : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  tile.store %out, %res#0 : tensor<64x64x!tile.ptr<f32>>
  %out2 = tile.splat %c2 : !tile.ptr<f32> -> tensor<16x64x!tile.ptr<f32>>
  tile.store %out2, %res#1 : tensor<16x64x!tile.ptr<f32>>
  return
}
