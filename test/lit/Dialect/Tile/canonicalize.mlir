// The ops' folders, as the canonicalizer applies them.
// RUN: tessera-opt %s --canonicalize --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @splat_constant
// CHECK-NEXT: %[[C:.*]] = arith.constant dense<2.500000e+00> : tensor<4x16xf32>
// CHECK-NEXT: return %[[C]]
func.func @splat_constant() -> tensor<4x16xf32> {
  %c = arith.constant 2.5 : f32
  %s = tile.splat %c : f32 -> tensor<4x16xf32>
  return %s : tensor<4x16xf32>
}

// -----

// Shape changes of a splat constant are constants of the new shape.
// CHECK-LABEL: func.func @shape_of_constant
// CHECK-DAG: arith.constant dense<7> : tensor<16x1xi32>
// CHECK-DAG: arith.constant dense<7> : tensor<16x8xi32>
// CHECK-DAG: arith.constant dense<7> : tensor<128xi32>
// CHECK-DAG: arith.constant dense<7> : tensor<1x16xi32>
// CHECK-NOT: tile.
func.func @shape_of_constant() -> (tensor<16x1xi32>, tensor<16x8xi32>, tensor<128xi32>, tensor<1x16xi32>) {
  %c = arith.constant dense<7> : tensor<16xi32>
  %e = tile.expand_dims %c, axis = 1 : tensor<16xi32> -> tensor<16x1xi32>
  %b = tile.broadcast %e : tensor<16x1xi32> -> tensor<16x8xi32>
  %r = tile.reshape %b : tensor<16x8xi32> -> tensor<128xi32>
  %t = tile.trans %e, order = [1, 0] : tensor<16x1xi32> -> tensor<1x16xi32>
  return %e, %b, %r, %t : tensor<16x1xi32>, tensor<16x8xi32>, tensor<128xi32>, tensor<1x16xi32>
}

// -----

// Identities disappear.
// CHECK-LABEL: func.func @identities
// CHECK-SAME: (%[[X:.*]]: tensor<16x8xf32>, %[[P:.*]]: tensor<16x!tile.ptr<f16>>)
// CHECK-NEXT: return %[[X]], %[[X]], %[[X]], %[[P]]
func.func @identities(%x: tensor<16x8xf32>, %p: tensor<16x!tile.ptr<f16>>) -> (tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x!tile.ptr<f16>>) {
  %b = tile.broadcast %x : tensor<16x8xf32> -> tensor<16x8xf32>
  %r = tile.reshape %x : tensor<16x8xf32> -> tensor<16x8xf32>
  %t = tile.trans %x, order = [0, 1] : tensor<16x8xf32> -> tensor<16x8xf32>
  %z = arith.constant dense<0> : tensor<16xi32>
  %q = tile.addptr %p, %z : tensor<16x!tile.ptr<f16>>, tensor<16xi32>
  return %b, %r, %t, %q : tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x!tile.ptr<f16>>
}

// -----

// A real transpose of a non-constant stays; a load is not removed when its
// result is unused only if it is volatile.
// CHECK-LABEL: func.func @kept
// CHECK: tile.trans
// CHECK-NOT: tile.load %{{.*}} : !tile.ptr<f32>
// CHECK: tile.load %{{.*}} volatile : !tile.ptr<f32>
func.func @kept(%x: tensor<16x8xf32>, %p: !tile.ptr<f32>) -> tensor<8x16xf32> {
  %t = tile.trans %x, order = [1, 0] : tensor<16x8xf32> -> tensor<8x16xf32>
  %dead = tile.load %p : !tile.ptr<f32>
  %kept = tile.load %p volatile : !tile.ptr<f32>
  return %t : tensor<8x16xf32>
}
