// RUN: tessera-opt %s --split-input-file --lower-tile-cpu-atomics | FileCheck %s

// CHECK-LABEL: func.func @rmw
// CHECK-SAME: (%[[A:.*]]: i64, %[[V:.*]]: f32, %[[I:.*]]: i32)
// CHECK: %[[P:.*]] = llvm.inttoptr %[[A]] : i64 to !llvm.ptr
// CHECK: llvm.atomicrmw fadd %[[P]], %[[V]] acq_rel : !llvm.ptr, f32
// CHECK: llvm.atomicrmw fmax %{{.*}}, %[[V]] monotonic : !llvm.ptr, f32
// CHECK: llvm.atomicrmw umin %{{.*}}, %[[I]] acquire : !llvm.ptr, i32
// CHECK-NOT: unrealized_conversion_cast
func.func @rmw(%a: i64, %v: f32, %i: i32) -> (f32, f32, i32) {
  %p = builtin.unrealized_conversion_cast %a : i64 to !tile.ptr<f32>
  %0 = tile.atomic_rmw fadd, acq_rel, gpu, %p, %v : !tile.ptr<f32>
  %1 = tile.atomic_rmw max, relaxed, gpu, %p, %v : !tile.ptr<f32>
  %q = builtin.unrealized_conversion_cast %a : i64 to !tile.ptr<i32>
  %2 = tile.atomic_rmw umin, acquire, gpu, %q, %i : !tile.ptr<i32>
  return %0, %1, %2 : f32, f32, i32
}

// -----

// Floats are compared by their bits; a release exchange fails as monotonic.
// CHECK-LABEL: func.func @cas
// CHECK: %[[C:.*]] = arith.bitcast %{{.*}} : f32 to i32
// CHECK: %[[V:.*]] = arith.bitcast %{{.*}} : f32 to i32
// CHECK: %[[PAIR:.*]] = llvm.cmpxchg %{{.*}}, %[[C]], %[[V]] release monotonic : !llvm.ptr, i32
// CHECK: %[[OLD:.*]] = llvm.extractvalue %[[PAIR]][0]
// CHECK: arith.bitcast %[[OLD]] : i32 to f32
func.func @cas(%a: i64, %c: f32, %v: f32) -> f32 {
  %p = builtin.unrealized_conversion_cast %a : i64 to !tile.ptr<f32>
  %0 = tile.atomic_cas release, gpu, %p, %c, %v : !tile.ptr<f32>
  return %0 : f32
}
