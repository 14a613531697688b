// An atomic add of a wgmma result whose old values nobody reads (a
// backward's dq added up across programs): done in the dot's mma layout
// (no tile through shared memory), as `red` with no value back, two
// adjacent columns per instruction on sm_90a; scalar `red` on sm_80.
// RUN: tessera-translate --arch=sm_90a --num-warps=4 %s | FileCheck %s
// RUN: tessera-translate --arch=sm_80 --num-warps=4 %s | FileCheck %s --check-prefix=SM80

// CHECK: .visible .entry dq_add(
// CHECK: wgmma.mma_async
// CHECK-NOT: atom.global
// CHECK: red.relaxed.gpu.global.add.v2.f32
// CHECK-NOT: atom.global
// SM80: .visible .entry dq_add(
// SM80-NOT: atom.global
// SM80: red.relaxed.gpu.global.add.f32
func.func @dq_add(%a: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                  %out: !tile.ptr<f32> {tile.divisibility = 16 : i32}) {
  %r = tile.make_range 0 to 64 : tensor<64xi32>
  %row = tile.expand_dims %r, axis = 1 : tensor<64xi32> -> tensor<64x1xi32>
  %col = tile.expand_dims %r, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %c64 = arith.constant dense<64> : tensor<64x1xi32>
  %ro = arith.muli %row, %c64 : tensor<64x1xi32>
  %rb = tile.broadcast %ro : tensor<64x1xi32> -> tensor<64x64xi32>
  %cb = tile.broadcast %col : tensor<1x64xi32> -> tensor<64x64xi32>
  %idx = arith.addi %rb, %cb : tensor<64x64xi32>
  %as = tile.splat %a : !tile.ptr<f16> -> tensor<64x64x!tile.ptr<f16>>
  %ap = tile.addptr %as, %idx : tensor<64x64x!tile.ptr<f16>>, tensor<64x64xi32>
  %av = tile.load %ap : tensor<64x64x!tile.ptr<f16>>
  %at = tile.trans %av, order = [1, 0] : tensor<64x64xf16> -> tensor<64x64xf16>
  %z = arith.constant dense<0.0> : tensor<64x64xf32>
  %d = tile.dot %av, %at, %z : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
  %os = tile.splat %out : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  %op = tile.addptr %os, %idx : tensor<64x64x!tile.ptr<f32>>, tensor<64x64xi32>
  %old = tile.atomic_rmw fadd, relaxed, gpu, %op, %d : tensor<64x64x!tile.ptr<f32>>
  return
}
