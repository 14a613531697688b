// RUN: tessera-opt %s --split-input-file --convert-tile-to-tilegpu="num-warps=1" --convert-tilegpu-to-nvvm | FileCheck %s

// 64 elements over 32 lanes: each thread holds elements 2*lane and 2*lane+1.
// CHECK: llvm.mlir.global external @tessera_shared() {addr_space = 3 : i32, alignment = 1024 : i64} : !llvm.array<0 x i8>
// CHECK-LABEL: llvm.func @copy(
// CHECK-SAME: %[[SRC:[a-z0-9]+]]: !llvm.ptr<1>, %[[DST:[a-z0-9]+]]: !llvm.ptr<1>, %[[N:[a-z0-9]+]]: i32)
// CHECK-SAME: nvvm.kernel, nvvm.reqntid = array<i32: 32, 1, 1>, tilegpu.shared_bytes = 0 : i64
// CHECK: %[[TID:.*]] = nvvm.read.ptx.sreg.tid.x : i32
// Two masked loads and two masked stores, one per element.
// CHECK-COUNT-2: scf.if %{{.*}} -> (f32) {
// CHECK: llvm.getelementptr %[[DST]]
// CHECK-COUNT-2: llvm.store %{{.*}}, %{{.*}} : f32, !llvm.ptr<1>
// CHECK: llvm.return
func.func @copy(%src: !tile.ptr<f32>, %dst: !tile.ptr<f32>, %n: i32) {
  %r = tile.make_range 0 to 64 : tensor<64xi32>
  %ns = tile.splat %n : i32 -> tensor<64xi32>
  %m = arith.cmpi slt, %r, %ns : tensor<64xi32>
  %ss = tile.splat %src : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %sp = tile.addptr %ss, %r : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  %v = tile.load %sp, %m : tensor<64x!tile.ptr<f32>>
  %ds = tile.splat %dst : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %dp = tile.addptr %ds, %r : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  tile.store %dp, %v, %m : tensor<64x!tile.ptr<f32>>
  return
}

// -----

// A scalar store is made by thread 0 only.
// CHECK-LABEL: llvm.func @scalar_store(
// CHECK: %[[TID:.*]] = nvvm.read.ptx.sreg.tid.x : i32
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[TID]], %{{.*}} : i32
// CHECK: scf.if %[[FIRST]] {
// CHECK:   llvm.store
func.func @scalar_store(%p: !tile.ptr<i32>, %v: i32) {
  tile.store %p, %v : !tile.ptr<i32>
  return
}
