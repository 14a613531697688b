// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=4 compute-capability=90 wgmma=1" --tilegpu-pipeline-loads="num-stages=2 async-copy=1" --convert-tilegpu-to-nvvm | FileCheck %s

// Register tiles from outside a loop that a wgmma dot in it reads (A = q,
// B = tl.trans(k), as attention's backward reads k and v) are written to
// shared memory once, before the loop, each to a buffer of its own; the
// loop body stores nothing to shared memory.
// CHECK-LABEL: llvm.func @invariant_operands
// CHECK: llvm.store {{.*}} !llvm.ptr<3>
// CHECK: scf.for
// CHECK-NOT: llvm.store {{.*}} !llvm.ptr<3>
// CHECK: nvvm.wgmma.mma_async
// CHECK-NOT: llvm.store {{.*}} !llvm.ptr<3>
// CHECK: scf.yield
func.func @invariant_operands(%qp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                              %kp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                              %op: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %n: i32) {
  %r = tile.make_range 0 to 64 : tensor<64xi32>
  %c64 = arith.constant dense<64> : tensor<64x1xi32>
  %rows = tile.expand_dims %r, axis = 1 : tensor<64xi32> -> tensor<64x1xi32>
  %rowoff = arith.muli %rows, %c64 : tensor<64x1xi32>
  %colr = tile.expand_dims %r, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %ra = tile.broadcast %rowoff : tensor<64x1xi32> -> tensor<64x64xi32>
  %ca = tile.broadcast %colr : tensor<1x64xi32> -> tensor<64x64xi32>
  %off = arith.addi %ra, %ca : tensor<64x64xi32>
  %qs = tile.splat %qp : !tile.ptr<f16> -> tensor<64x64x!tile.ptr<f16>>
  %qa = tile.addptr %qs, %off : tensor<64x64x!tile.ptr<f16>>, tensor<64x64xi32>
  %q = tile.load %qa : tensor<64x64x!tile.ptr<f16>>
  %ks = tile.splat %kp : !tile.ptr<f16> -> tensor<64x64x!tile.ptr<f16>>
  %ka = tile.addptr %ks, %off : tensor<64x64x!tile.ptr<f16>>, tensor<64x64xi32>
  %k = tile.load %ka : tensor<64x64x!tile.ptr<f16>>
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %acc = scf.for %i = %c0 to %n step %c1 iter_args(%a = %zero) -> (tensor<64x64xf32>) : i32 {
    %kt = tile.trans %k, order = [1, 0] : tensor<64x64xf16> -> tensor<64x64xf16>
    %d = tile.dot %q, %kt, %a : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
    scf.yield %d : tensor<64x64xf32>
  }
  %os = tile.splat %op : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  %oa = tile.addptr %os, %off : tensor<64x64x!tile.ptr<f32>>, tensor<64x64xi32>
  tile.store %oa, %acc : tensor<64x64x!tile.ptr<f32>>
  return
}
