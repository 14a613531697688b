// With the front end's hints (pointers aligned to 16, n divisible by 16) the
// axis analysis proves 4-element groups contiguous, aligned and under one
// mask value: 16-byte vector loads and stores.
// RUN: tessera-translate --arch=sm_90a %s | FileCheck %s
// CHECK: .visible .entry add_aligned(
// CHECK-COUNT-4: ld.global.v4.b32
// CHECK-NOT: ld.global.b32
// CHECK-COUNT-2: st.global.v4.b32
// CHECK-NOT: st.global.b32
func.func @add_aligned(%x: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %y: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %n: i32 {tile.divisibility = 16 : i32}) {
  %pid = tile.program_id x : i32
  %c = arith.constant 1024 : i32
  %base = arith.muli %pid, %c : i32
  %r = tile.make_range 0 to 1024 : tensor<1024xi32>
  %b = tile.splat %base : i32 -> tensor<1024xi32>
  %offs = arith.addi %b, %r : tensor<1024xi32>
  %ns = tile.splat %n : i32 -> tensor<1024xi32>
  %m = arith.cmpi slt, %offs, %ns : tensor<1024xi32>
  %xs = tile.splat %x : !tile.ptr<f32> -> tensor<1024x!tile.ptr<f32>>
  %xp = tile.addptr %xs, %offs : tensor<1024x!tile.ptr<f32>>, tensor<1024xi32>
  %ys = tile.splat %y : !tile.ptr<f32> -> tensor<1024x!tile.ptr<f32>>
  %yp = tile.addptr %ys, %offs : tensor<1024x!tile.ptr<f32>>, tensor<1024xi32>
  %a = tile.load %xp, %m : tensor<1024x!tile.ptr<f32>>
  %v = tile.load %yp, %m : tensor<1024x!tile.ptr<f32>>
  %s = arith.addf %a, %v : tensor<1024xf32>
  tile.store %yp, %s, %m : tensor<1024x!tile.ptr<f32>>
  return
}
