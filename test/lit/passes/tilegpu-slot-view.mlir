// tilegpu.slot_view reads a TMA slot's tile in place (the producer warp's
// copies are issued elsewhere): slot s of buffer b is at the buffer's base
// plus s x the slot's bytes (64 x 64 halves: 8192), the buffers after one
// another (buffer 1 of two slots at 16384), and wgmma reads it there; the
// view issues no copy and waits for nothing.
// RUN: tessera-opt %s --convert-tilegpu-to-nvvm | FileCheck %s

// CHECK-LABEL: llvm.func @consumer
// CHECK-SAME: tilegpu.shared_bytes = 32768
// CHECK-NOT: cp.async.bulk
// CHECK-NOT: mbarrier
// CHECK: %[[B1:.*]] = arith.constant 16384 : i32
// CHECK: %[[S0:.*]] = arith.constant 8192 : i32
// CHECK: %[[O0:.*]] = arith.muli %arg0, %[[S0]] : i32
// CHECK: arith.addi %{{.*}}, %[[O0]] : i32
// CHECK: %[[S1:.*]] = arith.constant 8192 : i32
// CHECK: %[[O1:.*]] = arith.muli %arg0, %[[S1]] : i32
// CHECK: arith.addi %[[B1]], %[[O1]] : i32
// CHECK-COUNT-4: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 64, k = 16>
// CHECK-NOT: cp.async.bulk
// CHECK-NOT: mbarrier
#sw = #tilegpu.shared<swizzle = 128>
#mma = #tilegpu.mma<version = 3, warpsPerCTA = [4, 1]>
module attributes {tilegpu.compute_capability = 90 : i32, tilegpu.num_warps = 4 : i32, tilegpu.threads_per_warp = 32 : i32} {
  func.func @consumer(%slot: i32, %out: !tile.ptr<f32>) {
    %zero = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
    %a = tilegpu.slot_view %slot {buffer = 0 : i32, slots = 2 : i32} : tensor<64x64xf16, #sw>
    %b = tilegpu.slot_view %slot {buffer = 1 : i32, slots = 2 : i32} : tensor<64x64xf16, #sw>
    %d = tile.dot %a, %b, %zero : tensor<64x64xf16, #sw> * tensor<64x64xf16, #sw> -> tensor<64x64xf32, #mma>
    %p = tile.splat %out : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>, #mma>
    tile.store %p, %d : tensor<64x64x!tile.ptr<f32>, #mma>
    return
  }
}
