// Round trip of every tile op: custom form, generic form, and MLIR's own
// round-trip verifier (print, parse again, compare).
// RUN: tessera-opt %s | tessera-opt | FileCheck %s
// RUN: tessera-opt %s --mlir-print-op-generic | tessera-opt | FileCheck %s
// RUN: tessera-opt %s --verify-roundtrip > /dev/null

// CHECK-LABEL: func.func @grid
func.func @grid() -> (i32, i32, i32) {
  // CHECK: tile.program_id x : i32
  %0 = tile.program_id x : i32
  // CHECK: tile.program_id z : i32
  %1 = tile.program_id z : i32
  // CHECK: tile.num_programs y : i32
  %2 = tile.num_programs y : i32
  return %0, %1, %2 : i32, i32, i32
}

// CHECK-LABEL: func.func @shapes
func.func @shapes(%x: f32, %t: tensor<16x8xf32>) {
  // CHECK: tile.make_range 0 to 128 : tensor<128xi32>
  %r = tile.make_range 0 to 128 : tensor<128xi32>
  // CHECK: tile.make_range 64 to 128 : tensor<64xi32>
  %r2 = tile.make_range 64 to 128 : tensor<64xi32>
  // CHECK: tile.splat %{{.*}} : f32 -> tensor<1x128xf32>
  %s = tile.splat %x : f32 -> tensor<1x128xf32>
  // CHECK: tile.broadcast %{{.*}} : tensor<1x128xf32> -> tensor<64x128xf32>
  %b = tile.broadcast %s : tensor<1x128xf32> -> tensor<64x128xf32>
  // CHECK: tile.expand_dims %{{.*}}, axis = 1 : tensor<128xi32> -> tensor<128x1xi32>
  %e = tile.expand_dims %r, axis = 1 : tensor<128xi32> -> tensor<128x1xi32>
  // CHECK: tile.expand_dims %{{.*}}, axis = 0 : tensor<128xi32> -> tensor<1x128xi32>
  %e0 = tile.expand_dims %r, axis = 0 : tensor<128xi32> -> tensor<1x128xi32>
  // CHECK: tile.reshape %{{.*}} : tensor<16x8xf32> -> tensor<128xf32>
  %rs = tile.reshape %t : tensor<16x8xf32> -> tensor<128xf32>
  // CHECK: tile.reshape %{{.*}} allow_reorder : tensor<16x8xf32> -> tensor<8x16xf32>
  %ro = tile.reshape %t allow_reorder : tensor<16x8xf32> -> tensor<8x16xf32>
  // CHECK: tile.trans %{{.*}}, order = [1, 0] : tensor<16x8xf32> -> tensor<8x16xf32>
  %tr = tile.trans %t, order = [1, 0] : tensor<16x8xf32> -> tensor<8x16xf32>
  return
}

// CHECK-LABEL: func.func @memory
func.func @memory(%base: !tile.ptr<f32>, %q: !tile.ptr<i32, 3>, %i: i64) {
  %r = tile.make_range 0 to 128 : tensor<128xi32>
  %c = arith.constant dense<100> : tensor<128xi32>
  %m = arith.cmpi slt, %r, %c : tensor<128xi32>
  %zero = arith.constant dense<0.0> : tensor<128xf32>
  %bp = tile.splat %base : !tile.ptr<f32> -> tensor<128x!tile.ptr<f32>>
  // CHECK: %[[P:.*]] = tile.addptr %{{.*}}, %{{.*}} : tensor<128x!tile.ptr<f32>>, tensor<128xi32>
  %p = tile.addptr %bp, %r : tensor<128x!tile.ptr<f32>>, tensor<128xi32>
  // CHECK: tile.addptr %{{.*}}, %{{.*}} : !tile.ptr<f32>, i64
  %s = tile.addptr %base, %i : !tile.ptr<f32>, i64
  // CHECK: tile.load %[[P]] : tensor<128x!tile.ptr<f32>>
  %v0 = tile.load %p : tensor<128x!tile.ptr<f32>>
  // CHECK: tile.load %[[P]], %[[M:.*]], %{{.*}} cache = cg evict = evict_first : tensor<128x!tile.ptr<f32>>
  %v1 = tile.load %p, %m, %zero cache = cg evict = evict_first : tensor<128x!tile.ptr<f32>>
  // CHECK: tile.load %{{.*}} volatile : !tile.ptr<i32, 3>
  %v2 = tile.load %q volatile : !tile.ptr<i32, 3>
  // CHECK: tile.store %[[P]], %{{.*}}, %{{.*}} : tensor<128x!tile.ptr<f32>>
  tile.store %p, %v1, %m : tensor<128x!tile.ptr<f32>>
  // CHECK: tile.store %{{.*}}, %{{.*}} cache = wt evict = evict_last : !tile.ptr<i32, 3>
  tile.store %q, %v2 cache = wt evict = evict_last : !tile.ptr<i32, 3>
  return
}

// CHECK-LABEL: func.func @dots
func.func @dots(%a: tensor<64x32xf16>, %b: tensor<32x128xf16>, %c: tensor<64x128xf32>,
                %x: tensor<16x16xf32>, %i: tensor<32x64xi8>, %j: tensor<64x16xi8>,
                %ic: tensor<32x16xi32>, %ba: tensor<2x16x32xbf16>,
                %bb: tensor<2x32x16xbf16>, %bc: tensor<2x16x16xf32>,
                %f8a: tensor<16x32xf8E4M3FN>, %f8b: tensor<32x16xf8E5M2>) {
  // CHECK: tile.dot %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x32xf16> * tensor<32x128xf16> -> tensor<64x128xf32>
  %0 = tile.dot %a, %b, %c : tensor<64x32xf16> * tensor<32x128xf16> -> tensor<64x128xf32>
  // CHECK: tile.dot %{{.*}}, %{{.*}}, %{{.*}}, precision = tf32 : tensor<16x16xf32>
  %1 = tile.dot %x, %x, %x, precision = tf32 : tensor<16x16xf32> * tensor<16x16xf32> -> tensor<16x16xf32>
  // CHECK: tile.dot %{{.*}}, %{{.*}}, %{{.*}} : tensor<32x64xi8> * tensor<64x16xi8> -> tensor<32x16xi32>
  %2 = tile.dot %i, %j, %ic : tensor<32x64xi8> * tensor<64x16xi8> -> tensor<32x16xi32>
  // CHECK: tile.dot %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x16x32xbf16> * tensor<2x32x16xbf16> -> tensor<2x16x16xf32>
  %3 = tile.dot %ba, %bb, %bc : tensor<2x16x32xbf16> * tensor<2x32x16xbf16> -> tensor<2x16x16xf32>
  // CHECK: tile.dot %{{.*}}, %{{.*}}, %{{.*}} {maxNumImpreciseAcc = 32 : i32} : tensor<16x32xf8E4M3FN> * tensor<32x16xf8E5M2>
  %4 = tile.dot %f8a, %f8b, %x {maxNumImpreciseAcc = 32 : i32} : tensor<16x32xf8E4M3FN> * tensor<32x16xf8E5M2> -> tensor<16x16xf32>
  return
}

// CHECK-LABEL: func.func @reductions
func.func @reductions(%x: tensor<64x128xf32>, %i: tensor<64x128xi32>, %v: tensor<128xi32>) -> (tensor<64xf32>, f32, tensor<64xf32>, tensor<64xi32>, tensor<128xi32>) {
  // CHECK: tile.reduce(%{{.*}}) axis = 1 : (tensor<64x128xf32>) -> tensor<64xf32> {
  // CHECK: ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32):
  // CHECK:   %[[S:.*]] = arith.addf %[[A]], %[[B]] : f32
  // CHECK:   tile.reduce.return %[[S]] : f32
  %s = tile.reduce(%x) axis = 1 : (tensor<64x128xf32>) -> tensor<64xf32> {
  ^bb0(%a: f32, %b: f32):
    %t = arith.addf %a, %b : f32
    tile.reduce.return %t : f32
  }
  // CHECK: tile.reduce(%{{.*}}) axis = 0 : (tensor<64xf32>) -> f32
  %all = tile.reduce(%s) axis = 0 : (tensor<64xf32>) -> f32 {
  ^bb0(%a: f32, %b: f32):
    %t = arith.maximumf %a, %b : f32
    tile.reduce.return %t : f32
  }
  // argmax: a value and its index reduced together.
  // CHECK: tile.reduce(%{{.*}}, %{{.*}}) axis = 1 : (tensor<64x128xf32>, tensor<64x128xi32>) -> (tensor<64xf32>, tensor<64xi32>)
  // CHECK: tile.reduce.return %{{.*}}, %{{.*}} : f32, i32
  %m:2 = tile.reduce(%x, %i) axis = 1 : (tensor<64x128xf32>, tensor<64x128xi32>) -> (tensor<64xf32>, tensor<64xi32>) {
  ^bb0(%av: f32, %ai: i32, %bv: f32, %bi: i32):
    %gt = arith.cmpf ogt, %bv, %av : f32
    %mv = arith.select %gt, %bv, %av : f32
    %mi = arith.select %gt, %bi, %ai : i32
    tile.reduce.return %mv, %mi : f32, i32
  }
  // CHECK: tile.scan(%{{.*}}) axis = 0 reverse : (tensor<128xi32>) -> tensor<128xi32>
  %c = tile.scan(%v) axis = 0 reverse : (tensor<128xi32>) -> tensor<128xi32> {
  ^bb0(%a: i32, %b: i32):
    %t = arith.addi %a, %b : i32
    tile.reduce.return %t : i32
  }
  return %s, %all, %m#0, %m#1, %c : tensor<64xf32>, f32, tensor<64xf32>, tensor<64xi32>, tensor<128xi32>
}

// CHECK-LABEL: func.func @atomics
func.func @atomics(%p: tensor<128x!tile.ptr<f32>>, %v: tensor<128xf32>, %m: tensor<128xi1>,
                   %counter: !tile.ptr<i32>, %one: i32, %zero: i32, %h: !tile.ptr<f16>, %hv: f16) {
  // CHECK: tile.atomic_rmw fadd, acq_rel, gpu, %{{.*}}, %{{.*}}, %{{.*}} : tensor<128x!tile.ptr<f32>>
  %0 = tile.atomic_rmw fadd, acq_rel, gpu, %p, %v, %m : tensor<128x!tile.ptr<f32>>
  // CHECK: tile.atomic_rmw add, relaxed, cta, %{{.*}}, %{{.*}} : !tile.ptr<i32>
  %1 = tile.atomic_rmw add, relaxed, cta, %counter, %one : !tile.ptr<i32>
  // CHECK: tile.atomic_rmw max, acquire, sys, %{{.*}}, %{{.*}} : tensor<128x!tile.ptr<f32>>
  %2 = tile.atomic_rmw max, acquire, sys, %p, %v : tensor<128x!tile.ptr<f32>>
  // CHECK: tile.atomic_rmw xchg, release, gpu, %{{.*}}, %{{.*}} : !tile.ptr<i32>
  %3 = tile.atomic_rmw xchg, release, gpu, %counter, %one : !tile.ptr<i32>
  // CHECK: tile.atomic_cas acq_rel, gpu, %{{.*}}, %{{.*}}, %{{.*}} : !tile.ptr<i32>
  %4 = tile.atomic_cas acq_rel, gpu, %counter, %zero, %one : !tile.ptr<i32>
  // CHECK: tile.atomic_cas relaxed, gpu, %{{.*}}, %{{.*}}, %{{.*}} : !tile.ptr<f16>
  %5 = tile.atomic_cas relaxed, gpu, %h, %hv, %hv : !tile.ptr<f16>
  return
}

// CHECK-LABEL: func.func @debug
func.func @debug(%x: tensor<128xf32>, %pid: i32, %ok: tensor<128xi1>, %b: i1) {
  // CHECK: tile.print "x = " %{{.*}} : tensor<128xf32>
  tile.print "x = " %x : tensor<128xf32>
  // CHECK: tile.print "pid " hex %{{.*}} : i32
  tile.print "pid " hex %pid : i32
  // CHECK: tile.print "two: " %{{.*}}, %{{.*}} : tensor<128xf32>, i32
  tile.print "two: " %x, %pid : tensor<128xf32>, i32
  // CHECK: tile.print "here"{{$}}
  tile.print "here"
  // CHECK: tile.assert %{{.*}}, "index out of range" : tensor<128xi1>
  tile.assert %ok, "index out of range" : tensor<128xi1>
  // CHECK: tile.assert %{{.*}}, "scalar" : i1
  tile.assert %b, "scalar" : i1
  return
}

// CHECK-LABEL: func.func @descriptors
// CHECK: %[[T:.*]] = tile.descriptor_load %arg0[%arg3, %arg4] shape [%arg1, %arg2] strides [%arg5, %c1_i64] : !tile.ptr<f16> -> tensor<64x32xf16>
// CHECK: tile.descriptor_store %arg0[%arg3, %arg4], %[[T]] shape [%arg1, %arg2] strides [%arg5, %c1_i64] : !tile.ptr<f16>, tensor<64x32xf16>
// CHECK: tile.descriptor_atomic_add %arg0[%arg3, %arg4], %[[T]] shape [%arg1, %arg2] strides [%arg5, %c1_i64] : !tile.ptr<f16>, tensor<64x32xf16>
func.func @descriptors(%p: !tile.ptr<f16>, %m: i32, %k: i32, %x: i32, %y: i32, %s: i64) {
  %c1 = arith.constant 1 : i64
  %t = tile.descriptor_load %p[%x, %y] shape [%m, %k] strides [%s, %c1] : !tile.ptr<f16> -> tensor<64x32xf16>
  tile.descriptor_store %p[%x, %y], %t shape [%m, %k] strides [%s, %c1] : !tile.ptr<f16>, tensor<64x32xf16>
  tile.descriptor_atomic_add %p[%x, %y], %t shape [%m, %k] strides [%s, %c1] : !tile.ptr<f16>, tensor<64x32xf16>
  return
}
