// RUN: tessera-opt %s --split-input-file --convert-tilegpu-to-nvvm | FileCheck %s

// tt.loop_unroll_factor (tl.range(..., loop_unroll_factor=2)) repeats the
// expanded loop's body: the first loop runs pairs of iterations (step 2),
// each copy with values of its own; a loop after it runs what is left
// (0 or 1 iteration). The attribute goes with it.
// CHECK-LABEL: llvm.func @unrolled
// CHECK: %[[UB:.*]] = arith.maxsi %arg1, %[[LB:.*]] : i32
// CHECK: %[[TWO:.*]] = arith.constant 2 : i32
// CHECK: %[[PAIRS:.*]] = arith.remsi %{{.*}}, %[[TWO]] : i32
// CHECK: %[[END:.*]] = arith.addi %[[LB]], %{{.*}} : i32
// CHECK: %[[STEP:.*]] = arith.muli %{{.*}}, %[[TWO]] : i32
// CHECK: %[[R:.*]]:2 = scf.for %{{.*}} = %[[LB]] to %[[END]] step %[[STEP]] iter_args(%[[A:.*]] = %{{.*}}, %[[B:.*]] = %{{.*}}) -> (f32, f32)
// CHECK-NEXT: %[[A1:.*]] = arith.addf %[[A]], %{{.*}} : f32
// CHECK-NEXT: %[[B1:.*]] = arith.addf %[[B]], %{{.*}} : f32
// CHECK-NEXT: %[[A2:.*]] = arith.addf %[[A1]], %{{.*}} : f32
// CHECK-NEXT: %[[B2:.*]] = arith.addf %[[B1]], %{{.*}} : f32
// CHECK-NEXT: scf.yield %[[A2]], %[[B2]] : f32, f32
// CHECK-NEXT: }
// CHECK-NEXT: scf.for %{{.*}} = %[[END]] to %[[UB]] step %{{.*}} iter_args(%{{.*}} = %[[R]]#0, %{{.*}} = %[[R]]#1)
// CHECK-NEXT: arith.addf
// CHECK-NEXT: arith.addf
// CHECK-NEXT: scf.yield
// CHECK-NOT: loop_unroll_factor
#blocked = #tilegpu.blocked<sizePerThread = [2], threadsPerWarp = [32], warpsPerCTA = [1], order = [0]>
module attributes {tilegpu.compute_capability = 90 : i32, tilegpu.num_warps = 1 : i32} {
  func.func @unrolled(%arg0: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %n: i32) {
    %0 = tile.make_range 0 to 64 : tensor<64xi32, #blocked>
    %1 = tile.splat %arg0 : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>, #blocked>
    %2 = tile.addptr %1, %0 : tensor<64x!tile.ptr<f32>, #blocked>, tensor<64xi32, #blocked>
    %x = tile.load %2 : tensor<64x!tile.ptr<f32>, #blocked>
    %c0 = arith.constant 0 : i32
    %c1 = arith.constant 1 : i32
    %acc = scf.for %i = %c0 to %n step %c1 iter_args(%a = %x) -> (tensor<64xf32, #blocked>) : i32 {
      %s = arith.addf %a, %x : tensor<64xf32, #blocked>
      scf.yield %s : tensor<64xf32, #blocked>
    } {tt.loop_unroll_factor = 2 : i32}
    tile.store %2, %acc : tensor<64x!tile.ptr<f32>, #blocked>
    return
  }
}

// -----

// A run-time step: a step that is not positive runs nothing (scf.for's
// steps must be positive) instead of dividing by zero in the trip count.
// CHECK-LABEL: llvm.func @runtime_step
// CHECK: %[[UB:.*]] = arith.maxsi %arg1, %[[LB:.*]] : i32
// CHECK: %[[POS:.*]] = arith.cmpi sgt, %arg2, %{{.*}} : i32
// CHECK: %[[UB2:.*]] = arith.select %[[POS]], %[[UB]], %[[LB]] : i32
// CHECK: %[[STEP:.*]] = arith.maxsi %arg2, %{{.*}} : i32
// CHECK: scf.for %{{.*}} = %[[LB]] to %{{.*}} step %{{.*}} iter_args(
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[UB2]] step %[[STEP]] iter_args(
#blocked = #tilegpu.blocked<sizePerThread = [2], threadsPerWarp = [32], warpsPerCTA = [1], order = [0]>
module attributes {tilegpu.compute_capability = 90 : i32, tilegpu.num_warps = 1 : i32} {
  func.func @runtime_step(%arg0: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %n: i32, %s: i32) {
    %0 = tile.make_range 0 to 64 : tensor<64xi32, #blocked>
    %1 = tile.splat %arg0 : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>, #blocked>
    %2 = tile.addptr %1, %0 : tensor<64x!tile.ptr<f32>, #blocked>, tensor<64xi32, #blocked>
    %x = tile.load %2 : tensor<64x!tile.ptr<f32>, #blocked>
    %c0 = arith.constant 0 : i32
    %acc = scf.for %i = %c0 to %n step %s iter_args(%a = %x) -> (tensor<64xf32, #blocked>) : i32 {
      %s2 = arith.addf %a, %x : tensor<64xf32, #blocked>
      scf.yield %s2 : tensor<64xf32, #blocked>
    } {tt.loop_unroll_factor = 2 : i32}
    tile.store %2, %acc : tensor<64x!tile.ptr<f32>, #blocked>
    return
  }
}
