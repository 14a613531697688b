// Loads feeding dots are issued num-stages - 1 iterations ahead; their tiles
// ride in the loop's iteration arguments.
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=4 compute-capability=80" --tilegpu-pipeline-loads="num-stages=3" | FileCheck %s
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=4 compute-capability=80" --tilegpu-pipeline-loads="num-stages=1" | FileCheck %s --check-prefix=OFF

// CHECK-LABEL: func.func @gemm
// Prologue: iterations 0 and 1, each masked by `iv < ub`.
// CHECK: %[[P0:.*]] = arith.cmpi slt, %[[LB:.*]], %[[UB:.*]] : i32
// CHECK: %[[A0:.*]] = tile.load %{{.*}}, %{{.*}} : tensor<32x16x!tile.ptr<f16>
// CHECK: %[[IV1:.*]] = arith.addi %[[LB]], %{{.*}} : i32
// CHECK: arith.cmpi slt, %[[IV1]], %[[UB]] : i32
// CHECK: %[[A1:.*]] = tile.load
// CHECK: scf.for %[[IV:.*]] = %[[LB]] to %[[UB]] step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}, %{{.*}} = %{{.*}}, %[[T0:.*]] = %[[A0]], %[[T1:.*]] = %[[A1]], %[[AHEAD:.*]] = %{{.*}})
// The load of iteration i + 2 comes first ...
// CHECK: %[[NEXT:.*]] = tile.load %[[AHEAD]]
// ... the dot uses the tile loaded two iterations ago.
// CHECK: %[[D:.*]] = tile.dot %[[T0]], %{{.*}}, %[[ACC]]
// CHECK: scf.yield %[[D]], %{{.*}}, %[[T1]], %[[NEXT]], %{{.*}}
// OFF: scf.for
// OFF: tile.load
// OFF: tile.dot
func.func @gemm(%a: !tile.ptr<f16>, %bt: tensor<16x32xf16>, %n: i32) -> tensor<32x32xf32> {
  %zero = arith.constant dense<0.0> : tensor<32x32xf32>
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
  return %res#0 : tensor<32x32xf32>
}

// A loop that stores may write what a later iteration loads: not pipelined.
// CHECK-LABEL: func.func @stores
// CHECK: scf.for
// CHECK-NEXT: tile.load
// CHECK: tile.dot
// CHECK: tile.store
func.func @stores(%a: !tile.ptr<f16>, %bt: tensor<16x32xf16>, %n: i32) -> tensor<32x32xf32> {
  %zero = arith.constant dense<0.0> : tensor<32x32xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %as = tile.splat %a : !tile.ptr<f16> -> tensor<32x16x!tile.ptr<f16>>
  %step = arith.constant dense<16> : tensor<32x16xi32>
  %res:2 = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero, %p = %as) -> (tensor<32x32xf32>, tensor<32x16x!tile.ptr<f16>>) : i32 {
    %av = tile.load %p : tensor<32x16x!tile.ptr<f16>>
    %d = tile.dot %av, %bt, %acc : tensor<32x16xf16> * tensor<16x32xf16> -> tensor<32x32xf32>
    %pn = tile.addptr %p, %step : tensor<32x16x!tile.ptr<f16>>, tensor<32x16xi32>
    tile.store %pn, %av : tensor<32x16x!tile.ptr<f16>>
    scf.yield %d, %pn : tensor<32x32xf32>, tensor<32x16x!tile.ptr<f16>>
  }
  return %res#0 : tensor<32x32xf32>
}
