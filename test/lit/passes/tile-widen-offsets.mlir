// RUN: tessera-opt %s --split-input-file --tile-widen-offsets | FileCheck %s

// An offset of a large array: the multiplication that can pass 2^31 is
// done in 64 bits, its 32-bit operands sign-extended.
// CHECK-LABEL: func.func @row_times_stride
// CHECK-DAG: %[[R:.*]] = arith.extsi %arg1 : i32 to i64
// CHECK-DAG: %[[S:.*]] = arith.extsi %arg2 : i32 to i64
// CHECK: %[[O:.*]] = arith.muli %[[R]], %[[S]] : i64
// CHECK: tile.addptr %arg0, %[[O]] : !tile.ptr<i8>, i64
func.func @row_times_stride(%p: !tile.ptr<i8> {tile.large}, %row: i32, %stride: i32) -> i8 {
  %o = arith.muli %row, %stride : i32
  %q = tile.addptr %p, %o : !tile.ptr<i8>, i32
  %v = tile.load %q : !tile.ptr<i8>
  return %v : i8
}

// -----

// Tensors of pointers: the splat base, a range (extended: it fits) plus a
// splatted 32-bit product (rebuilt), through a loop-carried pointer whose
// step is widened too. Arrays not marked large are left alone.
// CHECK-LABEL: func.func @tile_rows
// CHECK: %[[RANGE:.*]] = tile.make_range 0 to 64 : tensor<64xi32>
// CHECK: arith.extsi %[[RANGE]] : tensor<64xi32> to tensor<64xi64>
// CHECK: arith.muli %{{.*}}, %{{.*}} : i64
// CHECK: tile.splat %{{.*}} : i64 -> tensor<64xi64>
// CHECK: arith.addi %{{.*}}, %{{.*}} : tensor<64xi64>
// CHECK: tile.addptr %{{.*}}, %{{.*}} : tensor<64x!tile.ptr<f32>>, tensor<64xi64>
// CHECK: scf.for
// CHECK: tile.addptr %{{.*}}, %{{.*}} : tensor<64x!tile.ptr<f32>>, tensor<64xi64>
// CHECK: tile.addptr %{{.*}}, %{{.*}} : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
func.func @tile_rows(%x: !tile.ptr<f32> {tile.large}, %y: !tile.ptr<f32>, %row: i32,
                     %stride: i32, %n: i32) {
  %r = tile.make_range 0 to 64 : tensor<64xi32>
  %base = arith.muli %row, %stride : i32
  %bs = tile.splat %base : i32 -> tensor<64xi32>
  %offs = arith.addi %bs, %r : tensor<64xi32>
  %xs = tile.splat %x : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %xp = tile.addptr %xs, %offs : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  %step = tile.splat %stride : i32 -> tensor<64xi32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %zero = arith.constant dense<0.0> : tensor<64xf32>
  %res:2 = scf.for %i = %c0 to %n step %c1 iter_args(%p = %xp, %acc = %zero)
      -> (tensor<64x!tile.ptr<f32>>, tensor<64xf32>) : i32 {
    %v = tile.load %p : tensor<64x!tile.ptr<f32>>
    %a = arith.addf %acc, %v : tensor<64xf32>
    %next = tile.addptr %p, %step : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
    scf.yield %next, %a : tensor<64x!tile.ptr<f32>>, tensor<64xf32>
  }
  %ys = tile.splat %y : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %yp = tile.addptr %ys, %r : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  tile.store %yp, %res#1 : tensor<64x!tile.ptr<f32>>
  return
}
