// A reduction to a scalar in a one-warp program (BSA's selection, one warp
// a query block): the butterfly shuffles leave the whole result in every
// lane, so no shared memory and no barrier follow them. With 4 warps the
// warps' partials still meet in shared memory.
// RUN: tessera-translate --arch=sm_90a --num-warps=1 %s | FileCheck %s
// RUN: tessera-translate --arch=sm_90a --num-warps=4 %s | FileCheck %s --check-prefix=WARPS

// CHECK: .visible .entry warp_sum(
// CHECK: shfl.sync.bfly.b32 {{.*}}, 1, 31, -1;
// CHECK: shfl.sync.bfly.b32 {{.*}}, 16, 31, -1;
// CHECK-NOT: bar.sync
// CHECK-NOT: st.shared
// CHECK: st.global
// WARPS: bar.sync 0;
// WARPS: st.shared
func.func @warp_sum(%x: !tile.ptr<f32>, %out: !tile.ptr<f32>) {
  %r = tile.make_range 0 to 256 : tensor<256xi32>
  %xs = tile.splat %x : !tile.ptr<f32> -> tensor<256x!tile.ptr<f32>>
  %p = tile.addptr %xs, %r : tensor<256x!tile.ptr<f32>>, tensor<256xi32>
  %v = tile.load %p : tensor<256x!tile.ptr<f32>>
  %s = tile.reduce(%v) axis = 0 : (tensor<256xf32>) -> f32 {
  ^bb0(%a: f32, %q: f32):
    %t = arith.addf %a, %q : f32
    tile.reduce.return %t : f32
  }
  tile.store %out, %s : !tile.ptr<f32>
  return
}
