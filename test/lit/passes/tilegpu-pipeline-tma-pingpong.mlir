// A loop of two wgmma dots over two warpgroups (attention's q k^T and p v)
// whose tiles are tensor-descriptor loads: with ping-pong the TMA copies
// get the slot barriers (three slots for two stages) and the TMA wait is
// marked slot-ordered (no CTA barrier after it); without ping-pong neither.
// With TMA copies only, the TMA mbarrier alone says a slot is full: no
// thread arrives at the slot's full barrier or waits on it (which would
// also make a warpgroup wait for the other's issue), only the empty
// barriers order the slots' reuse.
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=8 compute-capability=90 wgmma=1" --tilegpu-pipeline-loads="num-stages=2 async-copy=1 ping-pong=1" | FileCheck %s
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=8 compute-capability=90 wgmma=1" --tilegpu-pipeline-loads="num-stages=2 async-copy=1 ping-pong=0" | FileCheck %s --check-prefix=OFF

// CHECK-LABEL: func.func @attention_loop
// CHECK: tilegpu.tma_init
// CHECK: tilegpu.slot_barriers_init
// CHECK-NOT: tilegpu.async_arrive
// CHECK: tilegpu.tma_load
// CHECK: scf.for
// CHECK-NOT: tilegpu.slot_wait %{{[^{]*}}{slots
// CHECK: tilegpu.slot_wait {{.*}}empty
// CHECK-NOT: tilegpu.async_arrive
// CHECK: tilegpu.tma_wait {{.*}}tilegpu.slot_ordered
// CHECK: tilegpu.tma_load
// CHECK: tile.dot
// CHECK: tile.dot
// CHECK: tilegpu.slot_release
// CHECK: scf.yield
// CHECK-NEXT: }
// CHECK-NEXT: tilegpu.tma_done
// CHECK-NEXT: tilegpu.slot_barriers_done

// OFF-LABEL: func.func @attention_loop
// OFF-NOT: slot_barriers_init
// OFF: scf.for
// OFF-NOT: slot_ordered
// OFF: tilegpu.tma_wait
// OFF-NOT: slot_release
// OFF: scf.yield
func.func @attention_loop(%q: !tile.ptr<f16>, %k: !tile.ptr<f16>, %v: !tile.ptr<f16>,
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
  %os = tile.splat %o : !tile.ptr<f32> -> tensor<128x64x!tile.ptr<f32>>
  %op = tile.addptr %os, %offs : tensor<128x64x!tile.ptr<f32>>, tensor<128x64xi32>
  tile.store %op, %acc : tensor<128x64x!tile.ptr<f32>>
  return
}
