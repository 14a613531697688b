// With producer-warp, a ping-pong loop whose copies are all TMA copies gets
// a producer warp: the scalar ops its copies' addresses and bounds need
// move to the kernel's start (block-sparse attention's key-block count and
// index loads too), then the mbarriers' set-up and a tilegpu.producer
// region that fills each slot once its readers released it. The loop waits
// for its slot's copies, reads them in place and releases the slot.
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=8 compute-capability=90 wgmma=1" --tilegpu-pipeline-loads="num-stages=2 async-copy=1 ping-pong=1 producer-warp=1" --split-input-file | FileCheck %s
// Expanded: warp 8 runs the region, the others the rest, whose CTA
// barriers count their 256 threads; the block has 288.
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=8 compute-capability=90 wgmma=1" --tilegpu-pipeline-loads="num-stages=2 async-copy=1 ping-pong=1 producer-warp=1" --convert-tilegpu-to-nvvm="ping-pong=1" --split-input-file | FileCheck %s --check-prefix=NVVM
// With producer-registers: a producer warpgroup (warps 8 to 11) keeps 24
// registers a thread and its first warp runs the region; the consumers
// take 240 (a quarter of the register file: 24 + 2 x 240 <= 512); 384
// threads.
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=8 compute-capability=90 wgmma=1" --tilegpu-pipeline-loads="num-stages=2 async-copy=1 ping-pong=1 producer-warp=1" --convert-tilegpu-to-nvvm="ping-pong=1 producer-registers=24" --split-input-file | FileCheck %s --check-prefix=WG

// CHECK-LABEL: func.func @sparse_loop
// CHECK: %[[PID:.*]] = tile.program_id x
// CHECK-NEXT: %[[CP:.*]] = tile.addptr %{{.*}}, %[[PID]]
// CHECK-NEXT: %[[N:.*]] = tile.load %[[CP]] : !tile.ptr<i32>
// CHECK-NEXT: %[[BASE:.*]] = arith.muli %[[PID]]
// CHECK-NEXT: tilegpu.tma_init {slots = 3 : i32}
// CHECK-NEXT: tilegpu.slot_barriers_init {slots = 3 : i32}
// CHECK-NEXT: tilegpu.producer {
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %[[N]] step %{{.*}} iter_args(%[[S:.*]] = %{{.*}}, %[[PH:.*]] = %{{.*}}) -> (i32, i32)
// CHECK-NEXT: tilegpu.slot_wait %[[S]], %[[PH]] {empty, slots = 3 : i32}
// CHECK: tilegpu.tma_expect %[[S]], {{.*}}bytes = 16384
// CHECK: arith.addi %[[BASE]], %[[I]]
// CHECK: tile.load
// CHECK: tilegpu.tma_load {{.*}}slot %[[S]], {{.*}}buffer = 0 : i32
// CHECK: tilegpu.tma_load {{.*}}slot %[[S]], {{.*}}buffer = 1 : i32
// CHECK: scf.yield
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: tile.make_range
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[N]] step %{{.*}} iter_args(%{{.*}} = %{{.*}}, %[[R:.*]] = %{{.*}}, %[[RP:.*]] = %{{.*}})
// CHECK-NEXT: tilegpu.tma_wait %[[R]], %[[RP]] {slots = 3 : i32, tilegpu.slot_ordered}
// CHECK-NEXT: %[[K:.*]] = tilegpu.slot_view %[[R]] {buffer = 0 : i32, slots = 3 : i32}
// CHECK-NEXT: %[[V:.*]] = tilegpu.slot_view %[[R]] {buffer = 1 : i32, slots = 3 : i32}
// CHECK-NOT: tilegpu.tma_load
// CHECK-NOT: tilegpu.slot_wait
// CHECK: tile.trans %[[K]]
// CHECK: tile.dot
// CHECK: tile.dot %{{.*}}, %[[V]]
// CHECK-NEXT: tilegpu.slot_release %[[R]] {slots = 3 : i32}
// CHECK-NEXT: scf.yield
// CHECK-NEXT: }
// CHECK-NEXT: tilegpu.tma_done
// CHECK-NEXT: tilegpu.slot_barriers_done
// CHECK-NEXT: tilegpu.async_wait {pending = 0 : i32, tilegpu.pipeline_drained}

// WG-LABEL: llvm.func @sparse_loop
// WG-SAME: nvvm.reqntid = array<i32: 384, 1, 1>
// WG: %[[TID:.*]] = nvvm.read.ptx.sreg.tid.x
// WG: %[[WARP:.*]] = arith.divui %[[TID]]
// WG: %[[PRODUCERS:.*]] = arith.cmpi uge, %[[WARP]], %c8_i32{{.*}} : i32
// WG-NEXT: scf.if %[[PRODUCERS]] {
// WG-NEXT: nvvm.setmaxregister decrease 24
// WG: %[[FIRST:.*]] = arith.cmpi eq, %[[WARP]], %c8_i32{{.*}} : i32
// WG-NEXT: scf.if %[[FIRST]] {
// WG: nvvm.cp.async.bulk.tensor.shared.cluster.global
// WG: } else {
// WG-NEXT: nvvm.setmaxregister increase 240
// WG-NOT: nvvm.cp.async.bulk.tensor
// WG: nvvm.barrier id = %{{.*}} number_of_threads = %c256_i32
// WG: wgmma.mma_async

// NVVM-LABEL: llvm.func @sparse_loop
// NVVM-SAME: nvvm.reqntid = array<i32: 288, 1, 1>
// NVVM: %[[TID:.*]] = nvvm.read.ptx.sreg.tid.x
// NVVM: %[[LANE:.*]] = arith.remui %[[TID]]
// NVVM: %[[WARP:.*]] = arith.divui %[[TID]]
// NVVM: nvvm.mbarrier.init
// NVVM: nvvm.barrier0
// NVVM: %[[PRODUCER:.*]] = arith.cmpi eq, %[[WARP]], %c8_i32
// NVVM-NEXT: scf.if %[[PRODUCER]] {
// NVVM: scf.for
// NVVM: nvvm.mbarrier.try_wait.parity
// NVVM: arith.cmpi eq, %[[LANE]]
// NVVM: nvvm.mbarrier.arrive.expect_tx
// NVVM: nvvm.cp.async.bulk.tensor.shared.cluster.global
// NVVM: nvvm.cp.async.bulk.tensor.shared.cluster.global
// NVVM: } else {
// NVVM-NOT: nvvm.barrier0
// NVVM-NOT: nvvm.cp.async.bulk.tensor
// NVVM: nvvm.barrier id = %{{.*}} number_of_threads = %c256_i32
// NVVM-NOT: nvvm.barrier0
// NVVM-NOT: nvvm.cp.async.bulk.tensor
// NVVM: wgmma.mma_async
// NVVM-NOT: nvvm.barrier0
// NVVM: llvm.store
// NVVM: {{^ *}}}
// NVVM-NEXT: llvm.return
// NVVM-NEXT: {{^ *}}}

// CHECK-LABEL: func.func @store_first
// CHECK-NOT: tilegpu.producer
// CHECK: scf.for
// CHECK: tilegpu.tma_load
// NVVM-LABEL: llvm.func @store_first
// NVVM-SAME: nvvm.reqntid = array<i32: 256, 1, 1>

func.func @sparse_loop(%q: !tile.ptr<f16>, %k: !tile.ptr<f16>, %v: !tile.ptr<f16>,
                       %o: !tile.ptr<f32>, %count: !tile.ptr<i32>, %index: !tile.ptr<i32>,
                       %rows: i32, %stride: i64) {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c64 = arith.constant 64 : i32
  %c1_64 = arith.constant 1 : i64
  %d = arith.constant 64 : i32
  %pid = tile.program_id x : i32
  %r = tile.make_range 0 to 128 : tensor<128xi32>
  %c = tile.make_range 0 to 64 : tensor<64xi32>
  %rr = tile.expand_dims %r, axis = 1 : tensor<128xi32> -> tensor<128x1xi32>
  %cc = tile.expand_dims %c, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %s64 = tile.splat %c64 : i32 -> tensor<128x1xi32>
  %rowoff = arith.muli %rr, %s64 : tensor<128x1xi32>
  %rb = tile.broadcast %rowoff : tensor<128x1xi32> -> tensor<128x64xi32>
  %cb = tile.broadcast %cc : tensor<1x64xi32> -> tensor<128x64xi32>
  %offs = arith.addi %rb, %cb : tensor<128x64xi32>
  %qs = tile.splat %q : !tile.ptr<f16> -> tensor<128x64x!tile.ptr<f16>>
  %qp = tile.addptr %qs, %offs : tensor<128x64x!tile.ptr<f16>>, tensor<128x64xi32>
  %qt = tile.load %qp : tensor<128x64x!tile.ptr<f16>>
  %zero = arith.constant dense<0.0> : tensor<128x64xf32>
  %countp = tile.addptr %count, %pid : !tile.ptr<i32>, i32
  %n = tile.load %countp : !tile.ptr<i32>
  %base = arith.muli %pid, %c64 : i32
  %acc = scf.for %i = %c0 to %n step %c1 iter_args(%a = %zero) -> (tensor<128x64xf32>) : i32 {
    %slot = arith.addi %base, %i : i32
    %ip = tile.addptr %index, %slot : !tile.ptr<i32>, i32
    %blk = tile.load %ip : !tile.ptr<i32>
    %row = arith.muli %blk, %c64 : i32
    %kt = tile.descriptor_load %k[%row, %c0] shape [%rows, %d] strides [%stride, %c1_64] : !tile.ptr<f16> -> tensor<64x64xf16>
    %ktt = tile.trans %kt, order = [1, 0] : tensor<64x64xf16> -> tensor<64x64xf16>
    %s = tile.dot %qt, %ktt, %zero : tensor<128x64xf16> * tensor<64x64xf16> -> tensor<128x64xf32>
    %p = arith.truncf %s : tensor<128x64xf32> to tensor<128x64xf16>
    %vt = tile.descriptor_load %v[%row, %c0] shape [%rows, %d] strides [%stride, %c1_64] : !tile.ptr<f16> -> tensor<64x64xf16>
    %a2 = tile.dot %p, %vt, %a : tensor<128x64xf16> * tensor<64x64xf16> -> tensor<128x64xf32>
    scf.yield %a2 : tensor<128x64xf32>
  }
  %os = tile.splat %o : !tile.ptr<f32> -> tensor<128x64x!tile.ptr<f32>>
  %op = tile.addptr %os, %offs : tensor<128x64x!tile.ptr<f32>>, tensor<128x64xi32>
  tile.store %op, %acc : tensor<128x64x!tile.ptr<f32>>
  return
}

// -----

// A store before the loop may write what the index loads read: no producer
// warp, the loop issues its own copies.
func.func @store_first(%q: !tile.ptr<f16>, %k: !tile.ptr<f16>, %v: !tile.ptr<f16>,
                       %o: !tile.ptr<f32>, %count: !tile.ptr<i32>, %index: !tile.ptr<i32>,
                       %rows: i32, %stride: i64) {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c64 = arith.constant 64 : i32
  %c1_64 = arith.constant 1 : i64
  %d = arith.constant 64 : i32
  %pid = tile.program_id x : i32
  %r = tile.make_range 0 to 128 : tensor<128xi32>
  %c = tile.make_range 0 to 64 : tensor<64xi32>
  %rr = tile.expand_dims %r, axis = 1 : tensor<128xi32> -> tensor<128x1xi32>
  %cc = tile.expand_dims %c, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %s64 = tile.splat %c64 : i32 -> tensor<128x1xi32>
  %rowoff = arith.muli %rr, %s64 : tensor<128x1xi32>
  %rb = tile.broadcast %rowoff : tensor<128x1xi32> -> tensor<128x64xi32>
  %cb = tile.broadcast %cc : tensor<1x64xi32> -> tensor<128x64xi32>
  %offs = arith.addi %rb, %cb : tensor<128x64xi32>
  %qs = tile.splat %q : !tile.ptr<f16> -> tensor<128x64x!tile.ptr<f16>>
  %qp = tile.addptr %qs, %offs : tensor<128x64x!tile.ptr<f16>>, tensor<128x64xi32>
  %qt = tile.load %qp : tensor<128x64x!tile.ptr<f16>>
  %zero = arith.constant dense<0.0> : tensor<128x64xf32>
  %ip0 = tile.addptr %index, %pid : !tile.ptr<i32>, i32
  tile.store %ip0, %c0 : !tile.ptr<i32>
  %countp = tile.addptr %count, %pid : !tile.ptr<i32>, i32
  %n = tile.load %countp : !tile.ptr<i32>
  %acc = scf.for %i = %c0 to %n step %c1 iter_args(%a = %zero) -> (tensor<128x64xf32>) : i32 {
    %ip = tile.addptr %index, %i : !tile.ptr<i32>, i32
    %blk = tile.load %ip : !tile.ptr<i32>
    %row = arith.muli %blk, %c64 : i32
    %kt = tile.descriptor_load %k[%row, %c0] shape [%rows, %d] strides [%stride, %c1_64] : !tile.ptr<f16> -> tensor<64x64xf16>
    %ktt = tile.trans %kt, order = [1, 0] : tensor<64x64xf16> -> tensor<64x64xf16>
    %s = tile.dot %qt, %ktt, %zero : tensor<128x64xf16> * tensor<64x64xf16> -> tensor<128x64xf32>
    %p = arith.truncf %s : tensor<128x64xf32> to tensor<128x64xf16>
    %vt = tile.descriptor_load %v[%row, %c0] shape [%rows, %d] strides [%stride, %c1_64] : !tile.ptr<f16> -> tensor<64x64xf16>
    %a2 = tile.dot %p, %vt, %a : tensor<128x64xf16> * tensor<64x64xf16> -> tensor<128x64xf32>
    scf.yield %a2 : tensor<128x64xf32>
  }
  %os = tile.splat %o : !tile.ptr<f32> -> tensor<128x64x!tile.ptr<f32>>
  %op = tile.addptr %os, %offs : tensor<128x64x!tile.ptr<f32>>, tensor<128x64xi32>
  tile.store %op, %acc : tensor<128x64x!tile.ptr<f32>>
  return
}

// -----

// Two pipelined loops in one kernel would share slots and mbarriers with a
// producer running beside both: neither gets one.
// CHECK-LABEL: func.func @two_loops
// CHECK-NOT: tilegpu.producer
// CHECK: scf.for
// CHECK: tilegpu.tma_load
// CHECK: scf.for
// CHECK: tilegpu.tma_load
// NVVM-LABEL: llvm.func @two_loops
// NVVM-SAME: nvvm.reqntid = array<i32: 256, 1, 1>
func.func @two_loops(%q: !tile.ptr<f16>, %k: !tile.ptr<f16>, %v: !tile.ptr<f16>,
                     %o: !tile.ptr<f32>, %rows: i32, %stride: i64, %n: i32) {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c64 = arith.constant 64 : i32
  %c1_64 = arith.constant 1 : i64
  %d = arith.constant 64 : i32
  %r = tile.make_range 0 to 128 : tensor<128xi32>
  %c = tile.make_range 0 to 64 : tensor<64xi32>
  %rr = tile.expand_dims %r, axis = 1 : tensor<128xi32> -> tensor<128x1xi32>
  %cc = tile.expand_dims %c, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %s64 = tile.splat %c64 : i32 -> tensor<128x1xi32>
  %rowoff = arith.muli %rr, %s64 : tensor<128x1xi32>
  %rb = tile.broadcast %rowoff : tensor<128x1xi32> -> tensor<128x64xi32>
  %cb = tile.broadcast %cc : tensor<1x64xi32> -> tensor<128x64xi32>
  %offs = arith.addi %rb, %cb : tensor<128x64xi32>
  %qs = tile.splat %q : !tile.ptr<f16> -> tensor<128x64x!tile.ptr<f16>>
  %qp = tile.addptr %qs, %offs : tensor<128x64x!tile.ptr<f16>>, tensor<128x64xi32>
  %qt = tile.load %qp : tensor<128x64x!tile.ptr<f16>>
  %zero = arith.constant dense<0.0> : tensor<128x64xf32>
  %acc = scf.for %i = %c0 to %n step %c1 iter_args(%a = %zero) -> (tensor<128x64xf32>) : i32 {
    %row = arith.muli %i, %c64 : i32
    %kt = tile.descriptor_load %k[%row, %c0] shape [%rows, %d] strides [%stride, %c1_64] : !tile.ptr<f16> -> tensor<64x64xf16>
    %ktt = tile.trans %kt, order = [1, 0] : tensor<64x64xf16> -> tensor<64x64xf16>
    %s = tile.dot %qt, %ktt, %zero : tensor<128x64xf16> * tensor<64x64xf16> -> tensor<128x64xf32>
    %p = arith.truncf %s : tensor<128x64xf32> to tensor<128x64xf16>
    %vt = tile.descriptor_load %v[%row, %c0] shape [%rows, %d] strides [%stride, %c1_64] : !tile.ptr<f16> -> tensor<64x64xf16>
    %a2 = tile.dot %p, %vt, %a : tensor<128x64xf16> * tensor<64x64xf16> -> tensor<128x64xf32>
    scf.yield %a2 : tensor<128x64xf32>
  }
  %acc2 = scf.for %i = %c0 to %n step %c1 iter_args(%a = %acc) -> (tensor<128x64xf32>) : i32 {
    %row = arith.muli %i, %c64 : i32
    %kt = tile.descriptor_load %k[%row, %c0] shape [%rows, %d] strides [%stride, %c1_64] : !tile.ptr<f16> -> tensor<64x64xf16>
    %ktt = tile.trans %kt, order = [1, 0] : tensor<64x64xf16> -> tensor<64x64xf16>
    %s = tile.dot %qt, %ktt, %zero : tensor<128x64xf16> * tensor<64x64xf16> -> tensor<128x64xf32>
    %p = arith.truncf %s : tensor<128x64xf32> to tensor<128x64xf16>
    %vt = tile.descriptor_load %v[%row, %c0] shape [%rows, %d] strides [%stride, %c1_64] : !tile.ptr<f16> -> tensor<64x64xf16>
    %a2 = tile.dot %p, %vt, %a : tensor<128x64xf16> * tensor<64x64xf16> -> tensor<128x64xf32>
    scf.yield %a2 : tensor<128x64xf32>
  }
  %os = tile.splat %o : !tile.ptr<f32> -> tensor<128x64x!tile.ptr<f32>>
  %op = tile.addptr %os, %offs : tensor<128x64x!tile.ptr<f32>>, tensor<128x64xi32>
  tile.store %op, %acc2 : tensor<128x64x!tile.ptr<f32>>
  return
}
