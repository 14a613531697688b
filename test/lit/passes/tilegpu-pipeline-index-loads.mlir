// Block-sparse attention reads each iteration's block from a list
// (`tl.load(index + i)`): the pipeliner reads the index of iteration
// i + S - 1 ahead too, masked off past the loop's end (it may lie past the
// list), and copies the tile it addresses asynchronously.
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=4 compute-capability=80" --tilegpu-pipeline-loads="num-stages=3 async-copy=1" | FileCheck %s

// CHECK-LABEL: func.func @listed_blocks
// Prologue, iteration 0: the index load is masked by 0 < n, other 0.
// CHECK: %[[IN0:.*]] = arith.cmpi slt, %{{.*}}, %[[N:.*]] : i32
// CHECK: tile.load %{{.*}}, %[[IN0]], %{{.*}} : !tile.ptr<i32>
// CHECK: tilegpu.async_load
// CHECK: scf.for
// In the loop: the index of iteration i + 2, masked by i + 2 < n.
// CHECK: %[[IN:.*]] = arith.cmpi slt, %{{.*}}, %[[N]] : i32
// CHECK: tile.load %{{.*}}, %[[IN]], %{{.*}} : !tile.ptr<i32>
// CHECK: tilegpu.async_load
// CHECK: tile.dot
func.func @listed_blocks(%a: tensor<32x16xf16>, %b: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                         %index: !tile.ptr<i32> {tile.divisibility = 16 : i32}, %n: i32) -> tensor<32x32xf32> {
  %zero = arith.constant dense<0.0> : tensor<32x32xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c16 = arith.constant 16 : i32
  %rk = tile.make_range 0 to 16 : tensor<16xi32>
  %rn = tile.make_range 0 to 32 : tensor<32xi32>
  %rows = tile.expand_dims %rk, axis = 1 : tensor<16xi32> -> tensor<16x1xi32>
  %cols = tile.expand_dims %rn, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %c32 = arith.constant dense<32> : tensor<16x1xi32>
  %rowoff = arith.muli %rows, %c32 : tensor<16x1xi32>
  %r = tile.broadcast %rowoff : tensor<16x1xi32> -> tensor<16x32xi32>
  %c = tile.broadcast %cols : tensor<1x32xi32> -> tensor<16x32xi32>
  %off = arith.addi %r, %c : tensor<16x32xi32>
  %bs = tile.splat %b : !tile.ptr<f16> -> tensor<16x32x!tile.ptr<f16>>
  %res = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero) -> (tensor<32x32xf32>) : i32 {
    %ip = tile.addptr %index, %i : !tile.ptr<i32>, i32
    %blk = tile.load %ip : !tile.ptr<i32>
    %start = arith.muli %blk, %c16 : i32
    %rowstart = arith.muli %start, %c16 : i32
    %base = tile.addptr %b, %rowstart : !tile.ptr<f16>, i32
    %bb = tile.splat %base : !tile.ptr<f16> -> tensor<16x32x!tile.ptr<f16>>
    %ptrs = tile.addptr %bb, %off : tensor<16x32x!tile.ptr<f16>>, tensor<16x32xi32>
    %tile = tile.load %ptrs : tensor<16x32x!tile.ptr<f16>>
    %d = tile.dot %a, %tile, %acc : tensor<32x16xf16> * tensor<16x32xf16> -> tensor<32x32xf32>
    scf.yield %d : tensor<32x32xf32>
  }
  return %res : tensor<32x32xf32>
}
