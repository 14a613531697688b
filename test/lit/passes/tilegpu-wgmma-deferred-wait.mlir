// RUN: tessera-opt %s --convert-tilegpu-to-nvvm | FileCheck %s

// A wgmma dot's wait comes at the first use of its result: the second dot
// (both read tiles already in shared memory) is issued before the row max
// of the first, which waits for all but the newest group (wait_group 1), so
// the second runs beside the reduction; the store of the second waits for
// everything.
// CHECK-LABEL: llvm.func @deferred_waits
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NOT: wgmma.wait_group
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: llvm.inline_asm has_side_effects {{.*}}"wgmma.wait_group.sync.aligned 1;"
// CHECK: nvvm.shfl.sync bfly
// CHECK: llvm.inline_asm has_side_effects {{.*}}"wgmma.wait_group.sync.aligned 0;"
// CHECK: llvm.store
#blocked = #tilegpu.blocked<sizePerThread = [2], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>
#blocked1 = #tilegpu.blocked<sizePerThread = [1, 1], threadsPerWarp = [32, 1], warpsPerCTA = [4, 1], order = [1, 0]>
#blocked2 = #tilegpu.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tilegpu.mma<version = 3, warpsPerCTA = [4, 1]>
#slice = #tilegpu.slice<dim = 1, parent = #mma>
#shared = #tilegpu.shared<swizzle = 128>
module attributes {tilegpu.compute_capability = 90 : i32, tilegpu.num_warps = 4 : i32} {
  func.func @deferred_waits(%arg0: !tile.ptr<f16> {tile.divisibility = 16 : i32}, %arg1: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %arg2: !tile.ptr<f32> {tile.divisibility = 16 : i32}) {
    %0 = tile.make_range 0 to 64 : tensor<64xi32, #blocked>
    %cst = arith.constant dense<64> : tensor<64x1xi32, #blocked1>
    %1 = tile.expand_dims %0, axis = 1 : tensor<64xi32, #blocked> -> tensor<64x1xi32, #blocked1>
    %2 = arith.muli %1, %cst : tensor<64x1xi32, #blocked1>
    %3 = tile.expand_dims %0, axis = 0 : tensor<64xi32, #blocked> -> tensor<1x64xi32, #blocked2>
    %4 = tile.broadcast %2 : tensor<64x1xi32, #blocked1> -> tensor<64x64xi32, #blocked2>
    %5 = tile.broadcast %3 : tensor<1x64xi32, #blocked2> -> tensor<64x64xi32, #blocked2>
    %6 = arith.addi %4, %5 : tensor<64x64xi32, #blocked2>
    %7 = tile.splat %arg0 : !tile.ptr<f16> -> tensor<64x64x!tile.ptr<f16>, #blocked2>
    %8 = tile.addptr %7, %6 : tensor<64x64x!tile.ptr<f16>, #blocked2>, tensor<64x64xi32, #blocked2>
    %c0_s = arith.constant 0 : i32
    %all = arith.constant dense<true> : tensor<64x64xi1, #blocked2>
    %9 = tilegpu.async_load %8[%c0_s], %all {buffer = 0 : i32, slots = 1 : i32} : tensor<64x64x!tile.ptr<f16>, #blocked2>, tensor<64x64xi1, #blocked2> -> tensor<64x64xf16, #shared>
    tilegpu.async_commit
    tilegpu.async_wait {pending = 0 : i32}
    %cst_0 = arith.constant dense<0.000000e+00> : tensor<64x64xf32, #blocked2>
    %cst_1 = arith.constant dense<0.000000e+00> : tensor<64x64xf32, #mma>
    %10 = tile.dot %9, %9, %cst_1 : tensor<64x64xf16, #shared> * tensor<64x64xf16, #shared> -> tensor<64x64xf32, #mma>
    %cst_2 = arith.constant dense<0.000000e+00> : tensor<64x64xf32, #mma>
    %11 = tile.dot %9, %9, %cst_2 : tensor<64x64xf16, #shared> * tensor<64x64xf16, #shared> -> tensor<64x64xf32, #mma>
    %13 = tile.reduce(%10) axis = 1 : (tensor<64x64xf32, #mma>) -> tensor<64xf32, #slice> {
    ^bb0(%arg3: f32, %arg4: f32):
      %19 = arith.maxnumf %arg3, %arg4 : f32
      tile.reduce.return %19 : f32
    }
    %12 = tilegpu.convert_layout %11 : tensor<64x64xf32, #mma> -> tensor<64x64xf32, #blocked2>
    %14 = tilegpu.convert_layout %13 : tensor<64xf32, #slice> -> tensor<64xf32, #blocked>
    %15 = tile.splat %arg1 : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>, #blocked2>
    %16 = tile.addptr %15, %6 : tensor<64x64x!tile.ptr<f32>, #blocked2>, tensor<64x64xi32, #blocked2>
    tile.store %16, %12 : tensor<64x64x!tile.ptr<f32>, #blocked2>
    %17 = tile.splat %arg2 : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>, #blocked>
    %18 = tile.addptr %17, %0 : tensor<64x!tile.ptr<f32>, #blocked>, tensor<64xi32, #blocked>
    tile.store %18, %14 : tensor<64x!tile.ptr<f32>, #blocked>
    return
  }
}

