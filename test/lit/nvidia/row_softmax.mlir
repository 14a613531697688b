// Reductions: butterfly shuffles within warps, shared memory between them;
// exp as ex2.approx.ftz (results below 2^-126 flush to zero).
// RUN: tessera-translate --arch=sm_90a %s | FileCheck %s

// CHECK: .extern .shared .align 1024 .b8 tessera_shared[];
// CHECK: .visible .entry row_softmax(
// Each thread's 4 elements, then lanes 1, 2, 4, 8, 16 apart, then the warps.
// CHECK: max.f32
// CHECK: shfl.sync.bfly.b32 {{.*}}, 1, 31, -1;
// CHECK: shfl.sync.bfly.b32 {{.*}}, 16, 31, -1;
// CHECK: bar.sync 0;
// CHECK: st.shared.b32
// CHECK: bar.sync 0;
// CHECK: ld.shared.v4.b32
// CHECK: ex2.approx.ftz.f32
// CHECK: shfl.sync.bfly.b32
// CHECK: div.rn.f32
func.func @row_softmax(%x: !tile.ptr<f32>) {
  %row = tile.program_id x : i32
  %c = arith.constant 512 : i32
  %base = arith.muli %row, %c : i32
  %r = tile.make_range 0 to 512 : tensor<512xi32>
  %b = tile.splat %base : i32 -> tensor<512xi32>
  %offs = arith.addi %b, %r : tensor<512xi32>
  %xs = tile.splat %x : !tile.ptr<f32> -> tensor<512x!tile.ptr<f32>>
  %p = tile.addptr %xs, %offs : tensor<512x!tile.ptr<f32>>, tensor<512xi32>
  %v = tile.load %p : tensor<512x!tile.ptr<f32>>
  %m = tile.reduce(%v) axis = 0 : (tensor<512xf32>) -> f32 {
  ^bb0(%a: f32, %q: f32):
    %t = arith.maxnumf %a, %q : f32
    tile.reduce.return %t : f32
  }
  %ms = tile.splat %m : f32 -> tensor<512xf32>
  %d = arith.subf %v, %ms : tensor<512xf32>
  %e = math.exp %d : tensor<512xf32>
  %s = tile.reduce(%e) axis = 0 : (tensor<512xf32>) -> f32 {
  ^bb0(%a: f32, %q: f32):
    %t = arith.addf %a, %q : f32
    tile.reduce.return %t : f32
  }
  %ss = tile.splat %s : f32 -> tensor<512xf32>
  %o = arith.divf %e, %ss : tensor<512xf32>
  tile.store %p, %o : tensor<512x!tile.ptr<f32>>
  return
}
