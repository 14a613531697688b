// The NVIDIA backend down to PTX for sm_80 and sm_90a.
// RUN: tessera-translate --arch=sm_90a --num-warps=4 %s | FileCheck %s --check-prefixes=CHECK,SM90
// RUN: tessera-translate --arch=sm_80 --num-warps=8 %s | FileCheck %s --check-prefixes=CHECK,SM80

// SM90: .target sm_90a
// SM80: .target sm_80
// CHECK: .visible .entry add(
// CHECK-NEXT: .param .u64 .ptr .global .align 1 add_param_0
// SM90: .reqntid 128, 1, 1
// SM80: .reqntid 256, 1, 1
// CHECK: mov.u32 {{.*}}%tid.x
// CHECK: mov.u32 {{.*}}%ctaid.x
// CHECK: ld.global.b32
// CHECK: add{{(.rn)?}}.f32
// CHECK: st.global.b32
func.func @add(%x: !tile.ptr<f32>, %y: !tile.ptr<f32>, %n: i32) {
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
