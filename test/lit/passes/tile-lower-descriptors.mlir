// Tensor-descriptor accesses become element pointers with bounds masks:
// rows' offsets in 64 bits times the row stride, the contiguous last
// dimension's in 32 bits; loads read zero outside the array.
// RUN: tessera-opt %s --tile-lower-descriptors | FileCheck %s
// With keep-tma (sm_90a) the loop's loads read by a dot and described by
// arguments stay for the pipeliner; the others are lowered as before.
// RUN: tessera-opt %s --tile-lower-descriptors=keep-tma=1 | FileCheck %s --check-prefix=TMA

// CHECK-LABEL: func.func @copy
// CHECK-NOT: tile.descriptor
// CHECK: %[[R0:.*]] = tile.make_range 0 to 64 : tensor<64xi32>
// CHECK: %[[I0:.*]] = arith.addi %{{.*}}, %[[R0]] : tensor<64xi32>
// CHECK: arith.cmpi sge, %[[I0]]
// CHECK: arith.cmpi slt, %[[I0]]
// CHECK: tile.expand_dims %{{.*}}, axis = 1 : tensor<64xi1> -> tensor<64x1xi1>
// CHECK: %[[W:.*]] = arith.extsi %[[I0]] : tensor<64xi32> to tensor<64xi64>
// CHECK: arith.muli %[[W]], %{{.*}} : tensor<64xi64>
// CHECK: tile.addptr %{{.*}}, %{{.*}} : tensor<64x32x!tile.ptr<f16>>, tensor<64x32xi64>
// CHECK: tile.make_range 0 to 32 : tensor<32xi32>
// CHECK: tile.expand_dims %{{.*}}, axis = 0 : tensor<32xi1> -> tensor<1x32xi1>
// CHECK-NOT: arith.muli
// CHECK: tile.addptr %{{.*}}, %{{.*}} : tensor<64x32x!tile.ptr<f16>>, tensor<64x32xi32>
// CHECK: %[[V:.*]] = tile.load %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x32x!tile.ptr<f16>>
// CHECK: tile.store %{{.*}}, %[[V]], %{{.*}} : tensor<64x32x!tile.ptr<f16>>
// TMA-LABEL: func.func @copy
// TMA-NOT: tile.descriptor
func.func @copy(%src: !tile.ptr<f16>, %dst: !tile.ptr<f16>, %m: i32, %n: i32, %x: i32, %y: i32, %s: i64) {
  %c1 = arith.constant 1 : i64
  %t = tile.descriptor_load %src[%x, %y] shape [%m, %n] strides [%s, %c1] : !tile.ptr<f16> -> tensor<64x32xf16>
  tile.descriptor_store %dst[%x, %y], %t shape [%m, %n] strides [%s, %c1] : !tile.ptr<f16>, tensor<64x32xf16>
  return
}

// TMA-LABEL: func.func @gemm
// TMA: scf.for
// TMA: tile.descriptor_load %arg0
// TMA: tile.descriptor_load %arg1
// TMA-NOT: tile.descriptor_load
// TMA: tile.dot
// TMA: tile.load
// TMA: tile.dot
func.func @gemm(%a: !tile.ptr<f16>, %b: !tile.ptr<f16>, %m: i32, %k: i32, %x: i32, %sa: i64, %sb: i64) -> (tensor<64x64xf32>, tensor<64x64xf32>) {
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %c1 = arith.constant 1 : i64
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %r:2 = scf.for %i = %c0 to %k step %c32 iter_args(%acc = %zero, %acc2 = %zero) -> (tensor<64x64xf32>, tensor<64x64xf32>) : i32 {
    %ta = tile.descriptor_load %a[%x, %i] shape [%m, %k] strides [%sa, %c1] : !tile.ptr<f16> -> tensor<64x32xf16>
    %tb = tile.descriptor_load %b[%i, %x] shape [%k, %m] strides [%sb, %c1] : !tile.ptr<f16> -> tensor<32x64xf16>
    %d = tile.dot %ta, %tb, %acc : tensor<64x32xf16> * tensor<32x64xf16> -> tensor<64x64xf32>
    // An offset base: not a function argument, so no TMA.
    %a2 = tile.addptr %a, %c32 : !tile.ptr<f16>, i32
    %tc = tile.descriptor_load %a2[%x, %i] shape [%m, %k] strides [%sa, %c1] : !tile.ptr<f16> -> tensor<64x32xf16>
    %d2 = tile.dot %tc, %tb, %acc2 : tensor<64x32xf16> * tensor<32x64xf16> -> tensor<64x64xf32>
    scf.yield %d, %d2 : tensor<64x64xf32>, tensor<64x64xf32>
  }
  return %r#0, %r#1 : tensor<64x64xf32>, tensor<64x64xf32>
}

// -----

// A last stride that is an argument (not the constant 1): never TMA.
// TMA-LABEL: func.func @strided_last
// TMA-NOT: tile.descriptor_load
func.func @strided_last(%a: !tile.ptr<f16>, %m: i32, %k: i32, %x: i32, %sa: i64, %s1: i64) -> tensor<64x64xf32> {
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %b = arith.constant dense<1.0> : tensor<32x64xf16>
  %r = scf.for %i = %c0 to %k step %c32 iter_args(%acc = %zero) -> (tensor<64x64xf32>) : i32 {
    %ta = tile.descriptor_load %a[%x, %i] shape [%m, %k] strides [%sa, %s1] : !tile.ptr<f16> -> tensor<64x32xf16>
    %d = tile.dot %ta, %b, %acc : tensor<64x32xf16> * tensor<32x64xf16> -> tensor<64x64xf32>
    scf.yield %d : tensor<64x64xf32>
  }
  return %r : tensor<64x64xf32>
}

// -----

// An atomic add of a block: relaxed device-scope atomic adds on the
// element pointers, masked to the array (floats fadd, integers add). With
// keep-tma a 2-D f32/i32 block of whole 16-byte rows, at most 256 x 256,
// described by arguments and constants, its base 16-byte aligned and its
// row stride a multiple of 16 bytes (`tile.divisibility`, constants),
// stays for TMA's bulk reduction.
// CHECK-LABEL: func.func @accumulate
// CHECK-NOT: tile.descriptor
// CHECK: tile.atomic_rmw fadd, relaxed, gpu, %{{.*}}, %arg1, %{{.*}} : tensor<64x128x!tile.ptr<f32>>
// CHECK: tile.atomic_rmw add, relaxed, gpu, %{{.*}}, %arg3, %{{.*}} : tensor<16x!tile.ptr<i32>>
// TMA-LABEL: func.func @accumulate
// TMA: tile.descriptor_atomic_add %arg0
// TMA-NOT: tile.descriptor
// TMA: tile.atomic_rmw add, relaxed, gpu
func.func @accumulate(%dq: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %v: tensor<64x128xf32>, %n: !tile.ptr<i32>, %w: tensor<16xi32>, %m: i32, %x: i32, %s: i64 {tile.divisibility = 16 : i32}) {
  %c1 = arith.constant 1 : i64
  %c128 = arith.constant 128 : i32
  tile.descriptor_atomic_add %dq[%x, %x], %v shape [%m, %c128] strides [%s, %c1] : !tile.ptr<f32>, tensor<64x128xf32>
  tile.descriptor_atomic_add %n[%x], %w shape [%m] strides [%c1] : !tile.ptr<i32>, tensor<16xi32>
  return
}

// -----

// The same block where the launch does not know the base to be 16-byte
// aligned, or the row stride (70 floats) to be whole 16-byte units: a
// tensor map could not describe the array, so element atomics.
// TMA-LABEL: func.func @accumulate_unaligned
// TMA-NOT: tile.descriptor
// TMA-COUNT-3: tile.atomic_rmw fadd, relaxed, gpu
// TMA-NOT: tile.descriptor
func.func @accumulate_unaligned(%dq: !tile.ptr<f32>, %aligned: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %v: tensor<64x128xf32>, %m: i32, %x: i32, %s: i64 {tile.divisibility = 16 : i32}, %t: i64) {
  %c1 = arith.constant 1 : i64
  %c70 = arith.constant 70 : i64
  %c128 = arith.constant 128 : i32
  tile.descriptor_atomic_add %dq[%x, %x], %v shape [%m, %c128] strides [%s, %c1] : !tile.ptr<f32>, tensor<64x128xf32>
  tile.descriptor_atomic_add %aligned[%x, %x], %v shape [%m, %c128] strides [%t, %c1] : !tile.ptr<f32>, tensor<64x128xf32>
  tile.descriptor_atomic_add %aligned[%x, %x], %v shape [%m, %c128] strides [%c70, %c1] : !tile.ptr<f32>, tensor<64x128xf32>
  return
}
