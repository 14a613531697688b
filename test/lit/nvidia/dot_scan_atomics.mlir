// dot (tensor cores), scan, transposes and atomics through shared memory and LLVM atomics.
// RUN: tessera-translate --arch=sm_90a %s | FileCheck %s

// CHECK: .visible .entry mixed(
// CHECK-DAG: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-DAG: atom.global.add.f32
// CHECK-DAG: atom.acq_rel.sys.global.cas.b32
// CHECK-DAG: bar.sync 0;
func.func @mixed(%a: !tile.ptr<f16>, %out: !tile.ptr<f32>, %lock: !tile.ptr<i32>) {
  %r = tile.make_range 0 to 16 : tensor<16xi32>
  %row = tile.expand_dims %r, axis = 1 : tensor<16xi32> -> tensor<16x1xi32>
  %col = tile.expand_dims %r, axis = 0 : tensor<16xi32> -> tensor<1x16xi32>
  %c16 = arith.constant dense<16> : tensor<16x1xi32>
  %rs = arith.muli %row, %c16 : tensor<16x1xi32>
  %rb = tile.broadcast %rs : tensor<16x1xi32> -> tensor<16x16xi32>
  %cb = tile.broadcast %col : tensor<1x16xi32> -> tensor<16x16xi32>
  %idx = arith.addi %rb, %cb : tensor<16x16xi32>
  %as = tile.splat %a : !tile.ptr<f16> -> tensor<16x16x!tile.ptr<f16>>
  %ap = tile.addptr %as, %idx : tensor<16x16x!tile.ptr<f16>>, tensor<16x16xi32>
  %av = tile.load %ap : tensor<16x16x!tile.ptr<f16>>
  %at = tile.trans %av, order = [1, 0] : tensor<16x16xf16> -> tensor<16x16xf16>
  %z = arith.constant dense<0.0> : tensor<16x16xf32>
  %d = tile.dot %av, %at, %z : tensor<16x16xf16> * tensor<16x16xf16> -> tensor<16x16xf32>
  %c = tile.scan(%d) axis = 1 : (tensor<16x16xf32>) -> tensor<16x16xf32> {
  ^bb0(%x: f32, %y: f32):
    %s = arith.addf %x, %y : f32
    tile.reduce.return %s : f32
  }
  %os = tile.splat %out : !tile.ptr<f32> -> tensor<16x16x!tile.ptr<f32>>
  %op = tile.addptr %os, %idx : tensor<16x16x!tile.ptr<f32>>, tensor<16x16xi32>
  %old = tile.atomic_rmw fadd, acq_rel, gpu, %op, %c : tensor<16x16x!tile.ptr<f32>>
  %zero = arith.constant 0 : i32
  %one = arith.constant 1 : i32
  %prev = tile.atomic_cas acq_rel, gpu, %lock, %zero, %one : !tile.ptr<i32>
  return
}
