// RUN: tessera-opt %s --tile-combine --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @dot_add_float
// CHECK-SAME: (%[[A:.*]]: tensor<16x32xf16>, %[[B:.*]]: tensor<32x16xf16>, %[[ACC:.*]]: tensor<16x16xf32>)
// CHECK-NEXT: %[[D:.*]] = tile.dot %[[A]], %[[B]], %[[ACC]] : tensor<16x32xf16> * tensor<32x16xf16> -> tensor<16x16xf32>
// CHECK-NEXT: return %[[D]]
func.func @dot_add_float(%a: tensor<16x32xf16>, %b: tensor<32x16xf16>, %acc: tensor<16x16xf32>) -> tensor<16x16xf32> {
  %z = arith.constant dense<0.0> : tensor<16x16xf32>
  %p = tile.dot %a, %b, %z : tensor<16x32xf16> * tensor<32x16xf16> -> tensor<16x16xf32>
  %r = arith.addf %p, %acc : tensor<16x16xf32>
  return %r : tensor<16x16xf32>
}

// -----

// The addition may come first, and the precision is kept.
// CHECK-LABEL: func.func @add_dot_tf32
// CHECK-SAME: (%[[X:.*]]: tensor<16x16xf32>, %[[ACC:.*]]: tensor<16x16xf32>)
// CHECK-NEXT: tile.dot %[[X]], %[[X]], %[[ACC]], precision = tf32
// CHECK-NOT: arith.addf
func.func @add_dot_tf32(%x: tensor<16x16xf32>, %acc: tensor<16x16xf32>) -> tensor<16x16xf32> {
  %z = arith.constant dense<0.0> : tensor<16x16xf32>
  %p = tile.dot %x, %x, %z, precision = tf32 : tensor<16x16xf32> * tensor<16x16xf32> -> tensor<16x16xf32>
  %r = arith.addf %acc, %p : tensor<16x16xf32>
  return %r : tensor<16x16xf32>
}

// -----

// CHECK-LABEL: func.func @dot_add_int
// CHECK-SAME: (%[[A:.*]]: tensor<16x16xi8>, %[[ACC:.*]]: tensor<16x16xi32>)
// CHECK-NEXT: tile.dot %[[A]], %[[A]], %[[ACC]] : tensor<16x16xi8> * tensor<16x16xi8> -> tensor<16x16xi32>
// CHECK-NOT: arith.addi
func.func @dot_add_int(%a: tensor<16x16xi8>, %acc: tensor<16x16xi32>) -> tensor<16x16xi32> {
  %z = arith.constant dense<0> : tensor<16x16xi32>
  %p = tile.dot %a, %a, %z : tensor<16x16xi8> * tensor<16x16xi8> -> tensor<16x16xi32>
  %r = arith.addi %p, %acc : tensor<16x16xi32>
  return %r : tensor<16x16xi32>
}

// -----

// A non-zero accumulator already carries a sum: leave it.
// CHECK-LABEL: func.func @dot_nonzero_acc
// CHECK: tile.dot
// CHECK: arith.addf
func.func @dot_nonzero_acc(%a: tensor<16x16xf16>, %c: tensor<16x16xf32>, %acc: tensor<16x16xf32>) -> tensor<16x16xf32> {
  %p = tile.dot %a, %a, %c : tensor<16x16xf16> * tensor<16x16xf16> -> tensor<16x16xf32>
  %r = arith.addf %p, %acc : tensor<16x16xf32>
  return %r : tensor<16x16xf32>
}

// -----

// The product has another user, so it must stay.
// CHECK-LABEL: func.func @dot_two_uses
// CHECK: %[[P:.*]] = tile.dot
// CHECK: arith.addf %[[P]]
// CHECK: return %{{.*}}, %[[P]]
func.func @dot_two_uses(%a: tensor<16x16xf16>, %acc: tensor<16x16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>) {
  %z = arith.constant dense<0.0> : tensor<16x16xf32>
  %p = tile.dot %a, %a, %z : tensor<16x16xf16> * tensor<16x16xf16> -> tensor<16x16xf32>
  %r = arith.addf %p, %acc : tensor<16x16xf32>
  return %r, %p : tensor<16x16xf32>, tensor<16x16xf32>
}

// -----

// CHECK-LABEL: func.func @addptr_chain
// CHECK-SAME: (%[[P:.*]]: tensor<64x!tile.ptr<f32>>, %[[X:.*]]: tensor<64xi32>, %[[Y:.*]]: tensor<64xi32>)
// CHECK-NEXT: %[[S:.*]] = arith.addi %[[X]], %[[Y]] : tensor<64xi32>
// CHECK-NEXT: %[[Q:.*]] = tile.addptr %[[P]], %[[S]] : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
// CHECK-NEXT: return %[[Q]]
func.func @addptr_chain(%p: tensor<64x!tile.ptr<f32>>, %x: tensor<64xi32>, %y: tensor<64xi32>) -> tensor<64x!tile.ptr<f32>> {
  %a = tile.addptr %p, %x : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  %b = tile.addptr %a, %y : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  return %b : tensor<64x!tile.ptr<f32>>
}

// -----

// Offsets of different widths are not added together.
// CHECK-LABEL: func.func @addptr_chain_mixed_width
// CHECK: tile.addptr %{{.*}}, %{{.*}} : !tile.ptr<f32>, i32
// CHECK: tile.addptr %{{.*}}, %{{.*}} : !tile.ptr<f32>, i64
func.func @addptr_chain_mixed_width(%p: !tile.ptr<f32>, %x: i32, %y: i64) -> !tile.ptr<f32> {
  %a = tile.addptr %p, %x : !tile.ptr<f32>, i32
  %b = tile.addptr %a, %y : !tile.ptr<f32>, i64
  return %b : !tile.ptr<f32>
}

// -----

// CHECK-LABEL: func.func @splat_through_shapes
// CHECK-SAME: (%[[X:.*]]: f32)
// CHECK-DAG: tile.splat %[[X]] : f32 -> tensor<8x16xf32>
// CHECK-DAG: tile.splat %[[X]] : f32 -> tensor<16x1xf32>
// CHECK-DAG: tile.splat %[[X]] : f32 -> tensor<128xf32>
// CHECK-DAG: tile.splat %[[X]] : f32 -> tensor<1x16xf32>
// CHECK-NOT: tile.broadcast
// CHECK-NOT: tile.expand_dims
// CHECK-NOT: tile.reshape
// CHECK-NOT: tile.trans
func.func @splat_through_shapes(%x: f32) -> (tensor<8x16xf32>, tensor<16x1xf32>, tensor<128xf32>, tensor<1x16xf32>) {
  %s = tile.splat %x : f32 -> tensor<1x16xf32>
  %b = tile.broadcast %s : tensor<1x16xf32> -> tensor<8x16xf32>
  %v = tile.splat %x : f32 -> tensor<16xf32>
  %e = tile.expand_dims %v, axis = 1 : tensor<16xf32> -> tensor<16x1xf32>
  %r = tile.reshape %b : tensor<8x16xf32> -> tensor<128xf32>
  %t = tile.trans %e, order = [1, 0] : tensor<16x1xf32> -> tensor<1x16xf32>
  return %b, %e, %r, %t : tensor<8x16xf32>, tensor<16x1xf32>, tensor<128xf32>, tensor<1x16xf32>
}

// -----

// In a loop, a broadcast of a loop-varying compare with a loop-invariant
// tensor moves onto the invariant operand (which LICM then hoists).
// CHECK-LABEL: func.func @sink_broadcast
// CHECK: scf.for
// CHECK-DAG: %[[B:.*]] = tile.broadcast %arg0 : tensor<32x1xi32> -> tensor<32x64xi32>
// CHECK-DAG: %[[S:.*]] = tile.splat %{{.*}} : i32 -> tensor<32x64xi32>
// CHECK: arith.cmpi slt, %[[B]], %[[S]] : tensor<32x64xi32>
// CHECK-NOT: tile.broadcast
func.func @sink_broadcast(%x: tensor<32x1xi32>, %n: i32, %p: tensor<32x64x!tile.ptr<f32>>) {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  scf.for %i = %c0 to %n step %c1 : i32 {
    %s = tile.splat %i : i32 -> tensor<32x1xi32>
    %m = arith.cmpi slt, %x, %s : tensor<32x1xi32>
    %mb = tile.broadcast %m : tensor<32x1xi1> -> tensor<32x64xi1>
    %v = tile.load %p, %mb : tensor<32x64x!tile.ptr<f32>>
    tile.store %p, %v : tensor<32x64x!tile.ptr<f32>>
  }
  return
}
