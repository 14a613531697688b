// RUN: tessera-opt %s --split-input-file --convert-tile-to-tilegpu="num-warps=4 compute-capability=90 wgmma=1" | FileCheck %s
// RUN: tessera-opt %s --split-input-file --convert-tile-to-tilegpu="num-warps=4 compute-capability=90 wgmma=1" --convert-tilegpu-to-nvvm | FileCheck %s --check-prefix=NVVM

// Attention's softmax after a wgmma dot stays in the dot's mma layout: the
// scaling (a splat), the key mask (index arithmetic, recomputed in the mma
// layout), the row max and row sum (reductions of the mma layout), the
// exponent and the cast; the next wgmma dot takes P in that layout. The
// row maxima are a slice of the mma layout, expanded back to a column of it
// with no conversion.
// CHECK-LABEL: func.func @softmax_rows
// CHECK-NOT: tilegpu.convert_layout %{{.*}} : tensor<64x64xf32
// CHECK: tile.reduce(%{{.*}}) axis = 1 : (tensor<64x64xf32, #[[MMA:mma]]>) -> tensor<64xf32, #[[SLICE:slice]]>
// CHECK-NOT: tilegpu.convert_layout
// CHECK: tile.expand_dims %{{.*}}, axis = 1 : tensor<64xf32, #[[SLICE]]> -> tensor<64x1xf32, #[[MMA]]>
// CHECK-NOT: tilegpu.convert_layout
// CHECK: math.exp2 %{{.*}} : tensor<64x64xf32, #[[MMA]]>
// CHECK: tile.reduce(%{{.*}}) axis = 1 : (tensor<64x64xf32, #[[MMA]]>) -> tensor<64xf32, #[[SLICE]]>
// CHECK: arith.truncf %{{.*}} : tensor<64x64xf32, #[[MMA]]> to tensor<64x64xf16, #[[MMA]]>
// CHECK: tile.dot %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x64xf16, #[[MMA]]> *
// NVVM-LABEL: llvm.func @softmax_rows
// Row reductions: across the 4 lanes of a quad (lane offsets 1 and 2).
// NVVM: nvvm.shfl.sync bfly %{{.*}}, %{{.*}}, %c1_i32{{.*}}, %{{.*}} : i32 -> i32
// NVVM: nvvm.shfl.sync bfly %{{.*}}, %{{.*}}, %c2_i32{{.*}}, %{{.*}} : i32 -> i32
// The row max is read back by the exponent with no barrier in between.
// NVVM: nvvm.shfl.sync bfly %{{.*}}, %{{.*}}, %c2_i32{{.*}}, %{{.*}} : i32 -> i32
// NVVM-NOT: nvvm.barrier
// NVVM: arith.subf
// P (fp16, in the first dot's accumulator layout) is the second dot's A
// in registers: four 32-bit registers per 16-column step, no shared memory.
// NVVM: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}$31}, {$32, $33, $34, $35}, $36, p, 1, 1, 1;
func.func @softmax_rows(%qp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                        %kp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                        %vp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                        %op: !tile.ptr<f32> {tile.divisibility = 16 : i32},
                        %lp: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %scale: f32, %n: i32) {
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
  %vs = tile.splat %vp : !tile.ptr<f16> -> tensor<64x64x!tile.ptr<f16>>
  %va = tile.addptr %vs, %off : tensor<64x64x!tile.ptr<f16>>, tensor<64x64xi32>
  %v = tile.load %va : tensor<64x64x!tile.ptr<f16>>
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %ninf = arith.constant dense<0xFF800000> : tensor<64x64xf32>
  %s0 = tile.dot %q, %k, %zero : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
  %sc = tile.splat %scale : f32 -> tensor<64x64xf32>
  %s = arith.mulf %s0, %sc : tensor<64x64xf32>
  %row = tile.expand_dims %r, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %ns = tile.splat %n : i32 -> tensor<1x64xi32>
  %ok = arith.cmpi slt, %row, %ns : tensor<1x64xi32>
  %okb = tile.broadcast %ok : tensor<1x64xi1> -> tensor<64x64xi1>
  %masked = arith.select %okb, %s, %ninf : tensor<64x64xi1>, tensor<64x64xf32>
  %m = tile.reduce(%masked) axis = 1 : (tensor<64x64xf32>) -> tensor<64xf32> {
  ^bb0(%x: f32, %y: f32):
    %mx = arith.maxnumf %x, %y : f32
    tile.reduce.return %mx : f32
  }
  %mc = tile.expand_dims %m, axis = 1 : tensor<64xf32> -> tensor<64x1xf32>
  %mb = tile.broadcast %mc : tensor<64x1xf32> -> tensor<64x64xf32>
  %d = arith.subf %masked, %mb : tensor<64x64xf32>
  %p = math.exp2 %d : tensor<64x64xf32>
  %l = tile.reduce(%p) axis = 1 : (tensor<64x64xf32>) -> tensor<64xf32> {
  ^bb0(%x: f32, %y: f32):
    %sum = arith.addf %x, %y : f32
    tile.reduce.return %sum : f32
  }
  %ph = arith.truncf %p : tensor<64x64xf32> to tensor<64x64xf16>
  %o = tile.dot %ph, %v, %zero : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
  %os = tile.splat %op : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  %oa = tile.addptr %os, %off : tensor<64x64x!tile.ptr<f32>>, tensor<64x64xi32>
  tile.store %oa, %o : tensor<64x64x!tile.ptr<f32>>
  %ls = tile.splat %lp : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %la = tile.addptr %ls, %r : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  tile.store %la, %l : tensor<64x!tile.ptr<f32>>
  return
}

// -----

// Flash attention's online softmax: the running row max and row sum are
// carried by the loop in the slice of the accumulator's mma layout; the
// loop body converts nothing.
// CHECK-LABEL: func.func @online_softmax
// CHECK: scf.for {{.*}} -> (tensor<64xf32, #[[SLICE:slice]]>, tensor<64xf32, #[[SLICE]]>, tensor<64x64xf32, #[[MMA:mma]]>)
// CHECK-NOT: tilegpu.convert_layout
// CHECK: scf.yield
// NVVM-LABEL: llvm.func @online_softmax
func.func @online_softmax(%qp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                          %kp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                          %op: !tile.ptr<f32> {tile.divisibility = 16 : i32},
                          %lp: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %n: i32) {
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
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %m0 = arith.constant dense<0xFF800000> : tensor<64xf32>
  %l0 = arith.constant dense<0.0> : tensor<64xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %res:3 = scf.for %i = %c0 to %n step %c1 iter_args(%m = %m0, %l = %l0, %acc = %zero)
      -> (tensor<64xf32>, tensor<64xf32>, tensor<64x64xf32>) : i32 {
    %k = tile.load %ka : tensor<64x64x!tile.ptr<f16>>
    %s = tile.dot %q, %k, %zero : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
    %mx = tile.reduce(%s) axis = 1 : (tensor<64x64xf32>) -> tensor<64xf32> {
    ^bb0(%x: f32, %y: f32):
      %v = arith.maxnumf %x, %y : f32
      tile.reduce.return %v : f32
    }
    %mn = arith.maxnumf %m, %mx : tensor<64xf32>
    %mc = tile.expand_dims %mn, axis = 1 : tensor<64xf32> -> tensor<64x1xf32>
    %mb = tile.broadcast %mc : tensor<64x1xf32> -> tensor<64x64xf32>
    %d = arith.subf %s, %mb : tensor<64x64xf32>
    %p = math.exp2 %d : tensor<64x64xf32>
    %dm = arith.subf %m, %mn : tensor<64xf32>
    %alpha = math.exp2 %dm : tensor<64xf32>
    %sum = tile.reduce(%p) axis = 1 : (tensor<64x64xf32>) -> tensor<64xf32> {
    ^bb0(%x: f32, %y: f32):
      %v = arith.addf %x, %y : f32
      tile.reduce.return %v : f32
    }
    %ls = arith.mulf %l, %alpha : tensor<64xf32>
    %ln = arith.addf %ls, %sum : tensor<64xf32>
    %ac = tile.expand_dims %alpha, axis = 1 : tensor<64xf32> -> tensor<64x1xf32>
    %ab = tile.broadcast %ac : tensor<64x1xf32> -> tensor<64x64xf32>
    %scaled = arith.mulf %acc, %ab : tensor<64x64xf32>
    %ph = arith.truncf %p : tensor<64x64xf32> to tensor<64x64xf16>
    %o = tile.dot %ph, %k, %scaled : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
    scf.yield %mn, %ln, %o : tensor<64xf32>, tensor<64xf32>, tensor<64x64xf32>
  }
  %os = tile.splat %op : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  %oa = tile.addptr %os, %off : tensor<64x64x!tile.ptr<f32>>, tensor<64x64xi32>
  tile.store %oa, %res#2 : tensor<64x64x!tile.ptr<f32>>
  %lps = tile.splat %lp : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %la = tile.addptr %lps, %r : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  tile.store %la, %res#1 : tensor<64x!tile.ptr<f32>>
  return
}


// -----

// The row sum carried element-wise (l = p + alpha[:, None] * l, summed
// across the row once after the loop, as MLA's heads-on-N kernel does):
// the update runs in the mma layout and the loop carries l in it, with no
// conversion of P each step.
// CHECK-LABEL: func.func @elementwise_sum
// CHECK: scf.for {{.*}} -> (tensor<64xf32, #[[SLICE:slice]]>, tensor<64x64xf32, #[[MMA:mma]]>, tensor<64x64xf32, #[[MMA]]>)
// CHECK-NOT: tilegpu.convert_layout
// CHECK: scf.yield
// CHECK: tile.reduce(%{{.*}}) axis = 1 : (tensor<64x64xf32, #[[MMA]]>) -> tensor<64xf32, #[[SLICE]]>
func.func @elementwise_sum(%qp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                           %kp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                           %op: !tile.ptr<f32> {tile.divisibility = 16 : i32},
                           %lp: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %n: i32) {
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
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %m0 = arith.constant dense<0xFF800000> : tensor<64xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %res:3 = scf.for %i = %c0 to %n step %c1 iter_args(%m = %m0, %l = %zero, %acc = %zero)
      -> (tensor<64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) : i32 {
    %k = tile.load %ka : tensor<64x64x!tile.ptr<f16>>
    %s = tile.dot %q, %k, %zero : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
    %mx = tile.reduce(%s) axis = 1 : (tensor<64x64xf32>) -> tensor<64xf32> {
    ^bb0(%x: f32, %y: f32):
      %v = arith.maxnumf %x, %y : f32
      tile.reduce.return %v : f32
    }
    %mn = arith.maxnumf %m, %mx : tensor<64xf32>
    %mc = tile.expand_dims %mn, axis = 1 : tensor<64xf32> -> tensor<64x1xf32>
    %mb = tile.broadcast %mc : tensor<64x1xf32> -> tensor<64x64xf32>
    %d = arith.subf %s, %mb : tensor<64x64xf32>
    %p = math.exp2 %d : tensor<64x64xf32>
    %dm = arith.subf %m, %mn : tensor<64xf32>
    %alpha = math.exp2 %dm : tensor<64xf32>
    %ac = tile.expand_dims %alpha, axis = 1 : tensor<64xf32> -> tensor<64x1xf32>
    %ab = tile.broadcast %ac : tensor<64x1xf32> -> tensor<64x64xf32>
    %ls = arith.mulf %ab, %l : tensor<64x64xf32>
    %ln = arith.addf %p, %ls : tensor<64x64xf32>
    %ac2 = tile.expand_dims %alpha, axis = 1 : tensor<64xf32> -> tensor<64x1xf32>
    %ab2 = tile.broadcast %ac2 : tensor<64x1xf32> -> tensor<64x64xf32>
    %scaled = arith.mulf %acc, %ab2 : tensor<64x64xf32>
    %ph = arith.truncf %p : tensor<64x64xf32> to tensor<64x64xf16>
    %o = tile.dot %ph, %k, %scaled : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
    scf.yield %mn, %ln, %o : tensor<64xf32>, tensor<64x64xf32>, tensor<64x64xf32>
  }
  %sum = tile.reduce(%res#1) axis = 1 : (tensor<64x64xf32>) -> tensor<64xf32> {
  ^bb0(%x: f32, %y: f32):
    %v = arith.addf %x, %y : f32
    tile.reduce.return %v : f32
  }
  %os = tile.splat %op : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  %oa = tile.addptr %os, %off : tensor<64x64x!tile.ptr<f32>>, tensor<64x64xi32>
  tile.store %oa, %res#2 : tensor<64x64x!tile.ptr<f32>>
  %lps = tile.splat %lp : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %la = tile.addptr %lps, %r : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  tile.store %la, %sum : tensor<64x!tile.ptr<f32>>
  return
}

// -----

// The backward's dV += P^T dO: tl.trans of a tile in an mma layout, read
// only by a wgmma dot, stays in that layout (the dot writes it transposed
// to shared memory itself): no conversion of the 64 x 64 tile.
// CHECK-LABEL: func.func @transposed_p
// CHECK-NOT: tilegpu.convert_layout %{{.*}} : tensor<64x64xf16
// CHECK: tile.trans %{{.*}}, order = [1, 0] : tensor<64x64xf16, #[[MMA2:mma]]> -> tensor<64x64xf16, #[[MMA2]]>
// CHECK: tile.dot
// NVVM-LABEL: llvm.func @transposed_p
func.func @transposed_p(%qp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                        %op: !tile.ptr<f32> {tile.divisibility = 16 : i32}) {
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
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %s = tile.dot %q, %q, %zero : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
  %p = math.exp2 %s : tensor<64x64xf32>
  %ph = arith.truncf %p : tensor<64x64xf32> to tensor<64x64xf16>
  %pt = tile.trans %ph, order = [1, 0] : tensor<64x64xf16> -> tensor<64x64xf16>
  %dv = tile.dot %pt, %q, %zero : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
  %os = tile.splat %op : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  %oa = tile.addptr %os, %off : tensor<64x64x!tile.ptr<f32>>, tensor<64x64xi32>
  tile.store %oa, %dv : tensor<64x64x!tile.ptr<f32>>
  return
}

// -----

// The backward's dq loop: a row statistic (the log-sum-exp) loaded and
// broadcast once, before the loop, is subtracted from each iteration's
// scores. Its layout conversion moves to the broadcast's place, on the
// 64-value column: nothing is converted in the loop (before, the 64x64
// broadcast went through shared memory every iteration).
// CHECK-LABEL: func.func @invariant_rows
// CHECK: tilegpu.convert_layout %{{.*}} -> tensor<64x!tile.ptr<f32>, #[[SLICE:slice[0-9]*]]>
// CHECK: tile.load %{{.*}} : tensor<64x!tile.ptr<f32>, #[[SLICE]]>
// CHECK: tile.expand_dims %{{.*}}, axis = 1 : tensor<64xf32, #[[SLICE]]> -> tensor<64x1xf32, #[[MMA:mma]]>
// CHECK: tile.broadcast %{{.*}} : tensor<64x1xf32, #[[MMA]]> -> tensor<64x64xf32, #[[MMA]]>
// CHECK: scf.for
// CHECK-NOT: tilegpu.convert_layout
// CHECK: arith.subf %{{.*}} : tensor<64x64xf32, #[[MMA]]>
// CHECK: tile.dot
// CHECK: scf.yield
func.func @invariant_rows(%qp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                          %lp: !tile.ptr<f32> {tile.divisibility = 16 : i32},
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
  %ls = tile.splat %lp : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %la = tile.addptr %ls, %r : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  %lse = tile.load %la : tensor<64x!tile.ptr<f32>>
  %l1 = tile.expand_dims %lse, axis = 1 : tensor<64xf32> -> tensor<64x1xf32>
  %lb = tile.broadcast %l1 : tensor<64x1xf32> -> tensor<64x64xf32>
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %acc = scf.for %i = %c0 to %n step %c1 iter_args(%a = %zero) -> (tensor<64x64xf32>) : i32 {
    %qt = tile.trans %q, order = [1, 0] : tensor<64x64xf16> -> tensor<64x64xf16>
    %s = tile.dot %q, %qt, %zero : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
    %d = arith.subf %s, %lb : tensor<64x64xf32>
    %p = math.exp2 %d : tensor<64x64xf32>
    %ph = arith.truncf %p : tensor<64x64xf32> to tensor<64x64xf16>
    %an = tile.dot %ph, %q, %a : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
    scf.yield %an : tensor<64x64xf32>
  }
  %os = tile.splat %op : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  %oa = tile.addptr %os, %off : tensor<64x64x!tile.ptr<f32>>, tensor<64x64xi32>
  tile.store %oa, %acc : tensor<64x64x!tile.ptr<f32>>
  return
}

// -----

// A dot's result carried to the next iteration and used there by the
// softmax (attention with the next block's scores computed before this
// block's softmax): the loop carries it in the mma layout, and the
// softmax reads that layout; no conversion is left in the loop.
// CHECK-LABEL: func.func @carried_scores
// CHECK: scf.for {{.*}} -> (tensor<64x64xf32, #[[MMA:mma]]>, tensor<64x64xf32, #[[MMA]]>)
// CHECK-NOT: tilegpu.convert_layout
// CHECK: math.exp2 %{{.*}} : tensor<64x64xf32, #[[MMA]]>
// CHECK: scf.yield
func.func @carried_scores(%qp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
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
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %qt0 = tile.trans %q, order = [1, 0] : tensor<64x64xf16> -> tensor<64x64xf16>
  %s0 = tile.dot %q, %qt0, %zero : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %res:2 = scf.for %i = %c0 to %n step %c1 iter_args(%s = %s0, %a = %zero) -> (tensor<64x64xf32>, tensor<64x64xf32>) : i32 {
    %qt = tile.trans %q, order = [1, 0] : tensor<64x64xf16> -> tensor<64x64xf16>
    %snext = tile.dot %q, %qt, %zero : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
    %p = math.exp2 %s : tensor<64x64xf32>
    %ph = arith.truncf %p : tensor<64x64xf32> to tensor<64x64xf16>
    %an = tile.dot %ph, %q, %a : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
    scf.yield %snext, %an : tensor<64x64xf32>, tensor<64x64xf32>
  }
  %os = tile.splat %op : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  %oa = tile.addptr %os, %off : tensor<64x64x!tile.ptr<f32>>, tensor<64x64xi32>
  tile.store %oa, %res#1 : tensor<64x64x!tile.ptr<f32>>
  return
}
