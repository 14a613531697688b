// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=8 compute-capability=90 wgmma=1" | FileCheck %s --check-prefix=LAYOUT
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=8 compute-capability=90 wgmma=1" --tilegpu-pipeline-loads="num-stages=2 async-copy=1" --convert-tilegpu-to-nvvm | FileCheck %s

// FlashMLA's split on 8 warps: a 64 x 64 score tile whose softmax is the
// next product's A would give each warpgroup an m64n32 slab (each reading
// all of A for a quarter of the work); warpgroup 0 computes it alone
// (#mma<3, [4, 1]>) while P V keeps both ([4, 2], 256 columns each).
// LAYOUT-DAG: #[[ONE:mma[0-9]*]] = #tilegpu.mma<version = 3, warpsPerCTA = [4, 1]>
// LAYOUT-DAG: #[[TWO:mma[0-9]*]] = #tilegpu.mma<version = 3, warpsPerCTA = [4, 2]>
// LAYOUT: tile.dot {{.*}} -> tensor<64x64xf32, #[[ONE]]>
// LAYOUT: tile.dot {{.*}} : tensor<64x64xf16, #[[ONE]]> * {{.*}} -> tensor<64x512xf32, #[[TWO]]>

// The expander runs the scores, their row max (within quads: no shared
// memory) and the exponentials under `if (warp < 4)`; the values leaving
// that run are poison for warps 4-7. P goes to shared memory for the
// second dot, written by warpgroup 0's lanes only (their owner predicate
// includes warp < 4), then a CTA barrier; both warpgroups issue m64n256.
// CHECK-LABEL: llvm.func @scores_on_warpgroup_0
// CHECK: %[[OWN:.*]] = arith.cmpi ult, %[[WARP:[0-9]+]], %c4_i32{{.*}} : i32
// CHECK: scf.for
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[WARP]], %c4_i32{{.*}} : i32
// CHECK: scf.if %[[IN]] -> (
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 64, k = 16>
// CHECK: nvvm.shfl.sync bfly
// CHECK: llvm.nvvm.ex2.approx
// CHECK: scf.yield
// CHECK: } else {
// CHECK: llvm.mlir.poison : f16
// CHECK: scf.yield
// CHECK: scf.if %[[OWN]] {
// CHECK: llvm.store {{.*}} !llvm.ptr<3>
// CHECK: nvvm.barrier0
// CHECK-NOT: nvvm.wgmma.mma_async
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 256, k = 16>
func.func @scores_on_warpgroup_0(%qp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                                 %kp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                                 %vp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                                 %op: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %n: i32) {
  %r = tile.make_range 0 to 64 : tensor<64xi32>
  %c64 = arith.constant dense<64> : tensor<64x1xi32>
  %rows = tile.expand_dims %r, axis = 1 : tensor<64xi32> -> tensor<64x1xi32>
  %rowoff = arith.muli %rows, %c64 : tensor<64x1xi32>
  %colr = tile.expand_dims %r, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %ra = tile.broadcast %rowoff : tensor<64x1xi32> -> tensor<64x64xi32>
  %ca = tile.broadcast %colr : tensor<1x64xi32> -> tensor<64x64xi32>
  %off = arith.addi %ra, %ca : tensor<64x64xi32>
  %qs = tile.splat %qp : !tile.ptr<f16> -> tensor<64x64x!tile.ptr<f16>>
  %qa = tile.addptr %qs, %off : tensor<64x64x!tile.ptr<f16>>, tensor<64x64xi32>
  %q = tile.load %qa : tensor<64x64x!tile.ptr<f16>>
  %ks = tile.splat %kp : !tile.ptr<f16> -> tensor<64x64x!tile.ptr<f16>>
  %ka = tile.addptr %ks, %off : tensor<64x64x!tile.ptr<f16>>, tensor<64x64xi32>
  %k = tile.load %ka : tensor<64x64x!tile.ptr<f16>>
  %r512 = tile.make_range 0 to 512 : tensor<512xi32>
  %c512 = arith.constant dense<512> : tensor<64x1xi32>
  %vrow = arith.muli %rows, %c512 : tensor<64x1xi32>
  %vcol = tile.expand_dims %r512, axis = 0 : tensor<512xi32> -> tensor<1x512xi32>
  %vra = tile.broadcast %vrow : tensor<64x1xi32> -> tensor<64x512xi32>
  %vca = tile.broadcast %vcol : tensor<1x512xi32> -> tensor<64x512xi32>
  %voff = arith.addi %vra, %vca : tensor<64x512xi32>
  %vs = tile.splat %vp : !tile.ptr<f16> -> tensor<64x512x!tile.ptr<f16>>
  %va = tile.addptr %vs, %voff : tensor<64x512x!tile.ptr<f16>>, tensor<64x512xi32>
  %v = tile.load %va : tensor<64x512x!tile.ptr<f16>>
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %ozero = arith.constant dense<0.0> : tensor<64x512xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %acc = scf.for %i = %c0 to %n step %c1 iter_args(%o = %ozero) -> (tensor<64x512xf32>) : i32 {
    %kt = tile.trans %k, order = [1, 0] : tensor<64x64xf16> -> tensor<64x64xf16>
    %s = tile.dot %q, %kt, %zero : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
    %m = tile.reduce(%s) axis = 1 : (tensor<64x64xf32>) -> tensor<64xf32> {
    ^bb0(%x: f32, %y: f32):
      %mx = arith.maxnumf %x, %y : f32
      tile.reduce.return %mx : f32
    }
    %me = tile.expand_dims %m, axis = 1 : tensor<64xf32> -> tensor<64x1xf32>
    %mb = tile.broadcast %me : tensor<64x1xf32> -> tensor<64x64xf32>
    %d = arith.subf %s, %mb : tensor<64x64xf32>
    %e = math.exp2 %d : tensor<64x64xf32>
    %p = arith.truncf %e : tensor<64x64xf32> to tensor<64x64xf16>
    %o2 = tile.dot %p, %v, %o : tensor<64x64xf16> * tensor<64x512xf16> -> tensor<64x512xf32>
    scf.yield %o2 : tensor<64x512xf32>
  }
  %os = tile.splat %op : !tile.ptr<f32> -> tensor<64x512x!tile.ptr<f32>>
  %oa = tile.addptr %os, %voff : tensor<64x512x!tile.ptr<f32>>, tensor<64x512xi32>
  tile.store %oa, %acc : tensor<64x512x!tile.ptr<f32>>
  return
}

// Scores the kernel also reduces down their columns keep both warpgroups
// (m64n32 each): every op on a layout over warpgroup 0 alone must be one
// its warps can run without the others.
// LAYOUT-LABEL: func.func @column_sums_of_scores
// LAYOUT: tile.dot {{.*}} -> tensor<64x64xf32, #[[TWO]]>
func.func @column_sums_of_scores(%qp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                              %kp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                              %vp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                              %sp: !tile.ptr<f32> {tile.divisibility = 16 : i32}) {
  %r = tile.make_range 0 to 64 : tensor<64xi32>
  %c64 = arith.constant dense<64> : tensor<64x1xi32>
  %rows = tile.expand_dims %r, axis = 1 : tensor<64xi32> -> tensor<64x1xi32>
  %rowoff = arith.muli %rows, %c64 : tensor<64x1xi32>
  %colr = tile.expand_dims %r, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %ra = tile.broadcast %rowoff : tensor<64x1xi32> -> tensor<64x64xi32>
  %ca = tile.broadcast %colr : tensor<1x64xi32> -> tensor<64x64xi32>
  %off = arith.addi %ra, %ca : tensor<64x64xi32>
  %qs = tile.splat %qp : !tile.ptr<f16> -> tensor<64x64x!tile.ptr<f16>>
  %qa = tile.addptr %qs, %off : tensor<64x64x!tile.ptr<f16>>, tensor<64x64xi32>
  %q = tile.load %qa : tensor<64x64x!tile.ptr<f16>>
  %ks = tile.splat %kp : !tile.ptr<f16> -> tensor<64x64x!tile.ptr<f16>>
  %ka = tile.addptr %ks, %off : tensor<64x64x!tile.ptr<f16>>, tensor<64x64xi32>
  %k = tile.load %ka : tensor<64x64x!tile.ptr<f16>>
  %r512 = tile.make_range 0 to 512 : tensor<512xi32>
  %c512 = arith.constant dense<512> : tensor<64x1xi32>
  %vrow = arith.muli %rows, %c512 : tensor<64x1xi32>
  %vcol = tile.expand_dims %r512, axis = 0 : tensor<512xi32> -> tensor<1x512xi32>
  %vra = tile.broadcast %vrow : tensor<64x1xi32> -> tensor<64x512xi32>
  %vca = tile.broadcast %vcol : tensor<1x512xi32> -> tensor<64x512xi32>
  %voff = arith.addi %vra, %vca : tensor<64x512xi32>
  %vs = tile.splat %vp : !tile.ptr<f16> -> tensor<64x512x!tile.ptr<f16>>
  %va = tile.addptr %vs, %voff : tensor<64x512x!tile.ptr<f16>>, tensor<64x512xi32>
  %v = tile.load %va : tensor<64x512x!tile.ptr<f16>>
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %ozero = arith.constant dense<0.0> : tensor<64x512xf32>
  %kt = tile.trans %k, order = [1, 0] : tensor<64x64xf16> -> tensor<64x64xf16>
  %s = tile.dot %q, %kt, %zero : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
  %cs = tile.reduce(%s) axis = 0 : (tensor<64x64xf32>) -> tensor<64xf32> {
  ^bb0(%x: f32, %y: f32):
    %sum = arith.addf %x, %y : f32
    tile.reduce.return %sum : f32
  }
  %ss = tile.splat %sp : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %sa = tile.addptr %ss, %r : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  tile.store %sa, %cs : tensor<64x!tile.ptr<f32>>
  %p = arith.truncf %s : tensor<64x64xf32> to tensor<64x64xf16>
  %o = tile.dot %p, %v, %ozero : tensor<64x64xf16> * tensor<64x512xf16> -> tensor<64x512xf32>
  %os = tile.splat %sp : !tile.ptr<f32> -> tensor<64x512x!tile.ptr<f32>>
  %oa = tile.addptr %os, %voff : tensor<64x512x!tile.ptr<f32>>, tensor<64x512xi32>
  tile.store %oa, %o : tensor<64x512x!tile.ptr<f32>>
  return
}
