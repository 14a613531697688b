// tensor-core layouts: with compute-capability >= 80, fp16/bf16 dots into fp32
// get the #tilegpu.mma accumulator layout, and a loop-carried accumulator stays
// in it (one convert before the loop, one after, none inside).
// RUN: tessera-opt %s --split-input-file --convert-tile-to-tilegpu="num-warps=4 compute-capability=80" | FileCheck %s
// RUN: tessera-opt %s --split-input-file --convert-tile-to-tilegpu="num-warps=4" | FileCheck %s --check-prefix=SIMT

// CHECK: #[[MMA:.*]] = #tilegpu.mma<version = 2, warpsPerCTA = [2, 2]>
// CHECK-LABEL: func.func @gemm_loop
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : tensor<64x64xf32, #[[MMA]]>
// CHECK: %[[LOOP:.*]] = scf.for {{.*}} iter_args(%[[ACC:.*]] = %[[ZERO]]) -> (tensor<64x64xf32, #[[MMA]]>)
// CHECK-NOT: tilegpu.convert_layout
// CHECK: %[[D:.*]] = tile.dot %{{.*}}, %{{.*}}, %[[ACC]] : {{.*}} -> tensor<64x64xf32, #[[MMA]]>
// CHECK-NEXT: scf.yield %[[D]]
// CHECK: tilegpu.convert_layout %[[LOOP]] : tensor<64x64xf32, #[[MMA]]> -> tensor<64x64xf32, #{{.*}}>
// SIMT-NOT: tilegpu.mma
func.func @gemm_loop(%a: tensor<64x32xf16>, %b: tensor<32x64xf16>, %n: i32) -> tensor<64x64xf32> {
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero) -> (tensor<64x64xf32>) : i32 {
    %d = tile.dot %a, %b, %acc : tensor<64x32xf16> * tensor<32x64xf16> -> tensor<64x64xf32>
    scf.yield %d : tensor<64x64xf32>
  }
  return %r : tensor<64x64xf32>
}

// -----

// A dot whose accumulator is combined in the loop with a tensor that is not
// a broadcast, a splat or an iteration argument keeps its converts; bf16
// qualifies, fp32 operands and shapes off the 16 x 8 x 16 grid do not.
// CHECK-LABEL: func.func @mixed
// CHECK: scf.for
// CHECK: tilegpu.convert_layout %{{.*}} : tensor<16x8xf32, #{{.*}}> -> tensor<16x8xf32, #[[M2:mma.*]]>
// CHECK: tile.dot {{.*}} -> tensor<16x8xf32, #[[M2]]>
// CHECK: tilegpu.convert_layout %{{.*}} : tensor<16x8xf32, #[[M2]]> -> tensor<16x8xf32, #blocked
// CHECK: tile.dot {{.*}} : tensor<16x16xf32, #{{blocked.*}}> * tensor<16x8xf32, #{{blocked.*}}> -> tensor<16x8xf32, #blocked
// CHECK: tile.dot {{.*}} : tensor<16x8xf16, #{{blocked.*}}> * tensor<8x8xf16, #{{blocked.*}}> -> tensor<16x8xf32, #blocked
func.func @mixed(%a: tensor<16x16xbf16>, %b: tensor<16x8xbf16>, %af: tensor<16x16xf32>, %bf: tensor<16x8xf32>,
                 %ah: tensor<16x8xf16>, %bh: tensor<8x8xf16>, %n: i32, %x: tensor<16x8xf32>) -> (tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) {
  %zero = arith.constant dense<0.0> : tensor<16x8xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero) -> (tensor<16x8xf32>) : i32 {
    %s = arith.addf %acc, %x : tensor<16x8xf32>
    %d = tile.dot %a, %b, %s : tensor<16x16xbf16> * tensor<16x8xbf16> -> tensor<16x8xf32>
    scf.yield %d : tensor<16x8xf32>
  }
  %f = tile.dot %af, %bf, %zero : tensor<16x16xf32> * tensor<16x8xf32> -> tensor<16x8xf32>
  %h = tile.dot %ah, %bh, %zero : tensor<16x8xf16> * tensor<8x8xf16> -> tensor<16x8xf32>
  return %r, %f, %h : tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>
}

// -----

// Flash attention's acc * alpha[:, None] before the dot: the product is
// done in the mma layout (only alpha changes layout, into the slice of the
// mma layout, then expands and broadcasts in registers) and the loop
// carries the accumulator in the mma layout: no 16 x 8 conversion inside
// the loop.
// CHECK-LABEL: func.func @rescaled_accumulator
// CHECK: scf.for {{.*}} -> (tensor<16x8xf32, #[[M3:mma.*]]>)
// CHECK-NOT: tilegpu.convert_layout %{{.*}} : tensor<16x8xf32
// CHECK: tilegpu.convert_layout %{{.*}} : tensor<16xf32, #{{.*}}> -> tensor<16xf32, #[[S:slice.*]]>
// CHECK-NEXT: tile.expand_dims %{{.*}}, axis = 1 : tensor<16xf32, #[[S]]> -> tensor<16x1xf32, #[[M3]]>
// CHECK-NEXT: tile.broadcast %{{.*}} : tensor<16x1xf32, #[[M3]]> -> tensor<16x8xf32, #[[M3]]>
// CHECK-NEXT: arith.mulf %{{.*}}, %{{.*}} : tensor<16x8xf32, #[[M3]]>
// CHECK-NOT: tilegpu.convert_layout %{{.*}} : tensor<16x8xf32
// CHECK: scf.yield
func.func @rescaled_accumulator(%a: tensor<16x16xf16>, %b: tensor<16x8xf16>, %alpha: tensor<16xf32>,
                                %n: i32) -> tensor<16x8xf32> {
  %zero = arith.constant dense<0.0> : tensor<16x8xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero) -> (tensor<16x8xf32>) : i32 {
    %col = tile.expand_dims %alpha, axis = 1 : tensor<16xf32> -> tensor<16x1xf32>
    %wide = tile.broadcast %col : tensor<16x1xf32> -> tensor<16x8xf32>
    %scaled = arith.mulf %acc, %wide : tensor<16x8xf32>
    %d = tile.dot %a, %b, %scaled : tensor<16x16xf16> * tensor<16x8xf16> -> tensor<16x8xf32>
    scf.yield %d : tensor<16x8xf32>
  }
  return %r : tensor<16x8xf32>
}

// -----

// A dot's result plus a narrowed splat: the sum runs in the mma layout and
// the rewrites settle (moving the conversion into the mma layout back
// through the truncf, and the narrowing rule moving it forward again,
// used to undo each other forever).
// CHECK-LABEL: func.func @narrowed_operand
// CHECK: %[[D:.*]] = tile.dot {{.*}} -> tensor<16x8xf32, #[[M4:mma.*]]>
// CHECK: arith.addf %[[D]], %{{.*}} : tensor<16x8xf32, #[[M4]]>
func.func @narrowed_operand(%a: tensor<16x16xf16>, %b: tensor<16x8xf16>, %x: f64) -> tensor<16x8xf32> {
  %zero = arith.constant dense<0.0> : tensor<16x8xf32>
  %d = tile.dot %a, %b, %zero : tensor<16x16xf16> * tensor<16x8xf16> -> tensor<16x8xf32>
  %s = tile.splat %x : f64 -> tensor<16x8xf64>
  %t = arith.truncf %s : tensor<16x8xf64> to tensor<16x8xf32>
  %r = arith.addf %d, %t : tensor<16x8xf32>
  return %r : tensor<16x8xf32>
}
