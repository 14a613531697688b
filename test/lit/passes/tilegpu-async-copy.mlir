// With async-copy, the loads feeding tensor-core dots become cp.async copies
// into num-stages shared slots; the dot reads its operands there (B, loaded
// before the loop, still goes through registers and the scratch area).
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=4 compute-capability=80" --tilegpu-pipeline-loads="num-stages=3 async-copy=1" | FileCheck %s
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=4 compute-capability=80" --tilegpu-pipeline-loads="num-stages=3 async-copy=1" --convert-tilegpu-to-nvvm | FileCheck %s --check-prefix=NVVM

// CHECK-LABEL: func.func @gemm
// CHECK: %[[S0:.*]] = tilegpu.async_load %{{.*}}[%{{.*}}], %{{.*}} {buffer = 0 : i32, slots = 3 : i32} : tensor<32x16x!tile.ptr<f16>, #{{.*}}>, tensor<32x16xi1, #{{.*}}> -> tensor<32x16xf16, #[[SH:shared]]>
// CHECK-NEXT: tilegpu.async_commit
// CHECK: tilegpu.async_load
// CHECK-NEXT: tilegpu.async_commit
// CHECK: scf.for {{.*}} iter_args(%[[ACC:[^ ]*]] = %{{.*}}, %{{[^ ]*}} = %{{.*}}, %[[T0:[^ ]*]] = %[[S0]], %{{.*}}, %[[SLOT:[^ ]*]] = %c2_i32)
// CHECK: tilegpu.async_wait {pending = 1 : i32}
// CHECK: tilegpu.async_load %{{.*}}[%[[SLOT]]]
// CHECK: tilegpu.async_commit
// CHECK: tile.dot %[[T0]], %{{.*}}, %[[ACC]] : tensor<32x16xf16, #[[SH]]>
// CHECK: tilegpu.async_wait {pending = 0 : i32, tilegpu.pipeline_drained}
// 32 x 16 halves over 128 threads: one 8-byte copy each.
// NVVM: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 8, cache = ca
// NVVM: nvvm.cp.async.commit.group
// NVVM: nvvm.cp.async.wait.group 1
// NVVM: nvvm.ldmatrix
// NVVM: nvvm.mma.sync
// NVVM: nvvm.cp.async.wait.group 0
func.func @gemm(%a: !tile.ptr<f16> {tile.divisibility = 16 : i32}, %b: !tile.ptr<f16>, %n: i32) {
  %zero = arith.constant dense<0.0> : tensor<32x32xf32>
  %bs = tile.splat %b : !tile.ptr<f16> -> tensor<16x32x!tile.ptr<f16>>
  %bt = tile.load %bs : tensor<16x32x!tile.ptr<f16>>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %r = tile.make_range 0 to 16 : tensor<16xi32>
  %row = tile.expand_dims %r, axis = 0 : tensor<16xi32> -> tensor<1x16xi32>
  %idx = tile.broadcast %row : tensor<1x16xi32> -> tensor<32x16xi32>
  %as = tile.splat %a : !tile.ptr<f16> -> tensor<32x16x!tile.ptr<f16>>
  %p0 = tile.addptr %as, %idx : tensor<32x16x!tile.ptr<f16>>, tensor<32x16xi32>
  %step = arith.constant dense<16> : tensor<32x16xi32>
  %res:2 = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero, %p = %p0) -> (tensor<32x32xf32>, tensor<32x16x!tile.ptr<f16>>) : i32 {
    %av = tile.load %p : tensor<32x16x!tile.ptr<f16>>
    %d = tile.dot %av, %bt, %acc : tensor<32x16xf16> * tensor<16x32xf16> -> tensor<32x32xf32>
    %pn = tile.addptr %p, %step : tensor<32x16x!tile.ptr<f16>>, tensor<32x16xi32>
    scf.yield %d, %pn : tensor<32x32xf32>, tensor<32x16x!tile.ptr<f16>>
  }
  %out = tile.splat %a : !tile.ptr<f16> -> tensor<32x32x!tile.ptr<f16>>
  %h = arith.truncf %res#0 : tensor<32x32xf32> to tensor<32x32xf16>
  tile.store %out, %h : tensor<32x32x!tile.ptr<f16>>
  return
}
