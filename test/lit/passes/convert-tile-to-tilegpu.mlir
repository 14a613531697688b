// RUN: tessera-opt %s --split-input-file --convert-tile-to-tilegpu="num-warps=4" | FileCheck %s
// RUN: tessera-opt %s --split-input-file --convert-tile-to-tilegpu="num-warps=8" | FileCheck %s --check-prefix=W8
// RUN: not tessera-opt %s --convert-tile-to-tilegpu="num-warps=3" 2>&1 | FileCheck %s --check-prefix=BAD
// AMD wavefronts: 64 lanes a warp (the same 4 contiguous elements a thread).
// RUN: tessera-opt %s --split-input-file --convert-tile-to-tilegpu="num-warps=4 threads-per-warp=64" | FileCheck %s --check-prefix=W64
// W64: #tilegpu.blocked<sizePerThread = [4], threadsPerWarp = [64], warpsPerCTA = [4], order = [0]>
// W64: tilegpu.threads_per_warp = 64

// BAD: num-warps must be a power of two from 1 to 32, got 3

// 1-D: 4 contiguous elements per thread, 32 lanes, 4 warps (512 per
// repetition; each thread holds 2 x 4 of 1024).
// CHECK-DAG: #[[L1024:.*]] = #tilegpu.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>
// CHECK: module attributes {tilegpu.compute_capability = 0 : i32, tilegpu.num_warps = 4 : i32, tilegpu.threads_per_warp = 32 : i32}
// CHECK-LABEL: func.func @vector
// CHECK: tile.make_range 0 to 1024 : tensor<1024xi32, #[[L1024]]>
// CHECK: arith.constant dense<7> : tensor<1024xi32, #[[L1024]]>
// CHECK: scf.for {{.*}} -> (tensor<1024xf32, #[[L1024]]>)
// CHECK: ^bb0(%{{.*}}: f32, %{{.*}}: f32):
// W8: #tilegpu.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [8], order = [0]>
// W8: module attributes {tilegpu.compute_capability = 0 : i32, tilegpu.num_warps = 8 : i32, tilegpu.threads_per_warp = 32 : i32}
func.func @vector(%x: !tile.ptr<f32>, %n: i32) -> f32 {
  %r = tile.make_range 0 to 1024 : tensor<1024xi32>
  %c = arith.constant dense<7> : tensor<1024xi32>
  %o = arith.addi %r, %c : tensor<1024xi32>
  %xs = tile.splat %x : !tile.ptr<f32> -> tensor<1024x!tile.ptr<f32>>
  %p = tile.addptr %xs, %o : tensor<1024x!tile.ptr<f32>>, tensor<1024xi32>
  %z = arith.constant dense<0.0> : tensor<1024xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %acc = scf.for %i = %c0 to %n step %c1 iter_args(%a = %z) -> (tensor<1024xf32>) : i32 {
    %v = tile.load %p : tensor<1024x!tile.ptr<f32>>
    %s = arith.addf %a, %v : tensor<1024xf32>
    scf.yield %s : tensor<1024xf32>
  }
  %t = tile.reduce(%acc) axis = 0 : (tensor<1024xf32>) -> f32 {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    tile.reduce.return %s : f32
  }
  return %t : f32
}

// -----

// 2-D: the last dimension fastest, up to 8 contiguous elements per thread
// (16 bytes of fp16) with 4 lanes per row; lanes then go down the rows.
// CHECK-DAG: #[[L64:.*]] = #tilegpu.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
// CHECK-DAG: #[[L16:.*]] = #tilegpu.blocked<sizePerThread = [1, 4], threadsPerWarp = [8, 4], warpsPerCTA = [4, 1], order = [1, 0]>
// CHECK-LABEL: func.func @matrix
// CHECK: tensor<64x64xf32, #[[L64]]>
// CHECK: tensor<16x16xf16, #[[L16]]>
func.func @matrix(%a: f32, %h: f16) -> (tensor<64x64xf32>, tensor<16x16xf16>) {
  %0 = tile.splat %a : f32 -> tensor<64x64xf32>
  %1 = tile.splat %h : f16 -> tensor<16x16xf16>
  return %0, %1 : tensor<64x64xf32>, tensor<16x16xf16>
}
