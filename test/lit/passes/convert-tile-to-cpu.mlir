// RUN: tessera-opt %s --split-input-file --convert-tile-to-cpu | FileCheck %s
// RUN: tessera-opt %s --split-input-file --pass-pipeline="builtin.module(convert-tile-to-cpu,convert-elementwise-to-linalg,one-shot-bufferize{allow-return-allocs-from-loops},buffer-deallocation-pipeline,lower-tile-cpu-atomics)" > /dev/null

// A kernel gains the grid arguments; program_id reads them; an entry
// function unpacks 8-byte argument slots and calls it.
// CHECK-LABEL: func.func private @masked_copy
// CHECK-SAME: (%[[X:[a-z0-9]+]]: i64, %[[N:[a-z0-9]+]]: i32, %[[PX:[a-z0-9]+]]: i32, %[[PY:[a-z0-9]+]]: i32, %{{[a-z0-9]+}}: i32, %{{[a-z0-9]+}}: i32, %{{[a-z0-9]+}}: i32, %{{[a-z0-9]+}}: i32)
// Pointer arithmetic is in bytes: offset * 4 for f32.
// CHECK: tensor.generate
// CHECK:   arith.extsi %{{.*}} : i32 to i64
// CHECK:   arith.constant 4 : i64
// Masked loads read memory only where the mask holds.
// CHECK: tensor.generate
// CHECK:   scf.if %{{.*}} -> (f32)
// CHECK:     llvm.inttoptr %{{.*}} : i64 to !llvm.ptr
// CHECK:     llvm.load %{{.*}} : !llvm.ptr -> f32
// CHECK:   } else {
// CHECK:     arith.constant 0.000000e+00 : f32
// program_id y is the second grid argument.
// CHECK: arith.muli %[[PY]]
// Stores are loops with a masked llvm.store.
// CHECK: scf.for
// CHECK:   scf.if
// CHECK:     llvm.store %{{.*}}, %{{.*}} : f32, !llvm.ptr
// CHECK-LABEL: func.func @masked_copy__entry
// CHECK-SAME: (%[[SLOTS:[a-z0-9]+]]: !llvm.ptr, %[[A1:[a-z0-9]+]]: i32, %[[A2:[a-z0-9]+]]: i32, %[[A3:[a-z0-9]+]]: i32, %[[A4:[a-z0-9]+]]: i32, %[[A5:[a-z0-9]+]]: i32, %[[A6:[a-z0-9]+]]: i32)
// CHECK: %[[S0:.*]] = llvm.getelementptr %[[SLOTS]][0] : (!llvm.ptr) -> !llvm.ptr, i64
// CHECK: %[[V0:.*]] = llvm.load %[[S0]] : !llvm.ptr -> i64
// CHECK: %[[S1:.*]] = llvm.getelementptr %[[SLOTS]][1]
// CHECK: %[[V1:.*]] = llvm.load %[[S1]] : !llvm.ptr -> i32
// CHECK: call @masked_copy(%[[V0]], %[[V1]], %[[A1]], %[[A2]], %[[A3]], %[[A4]], %[[A5]], %[[A6]])
func.func @masked_copy(%x: !tile.ptr<f32>, %n: i32) {
  %r = tile.make_range 0 to 16 : tensor<16xi32>
  %ns = tile.splat %n : i32 -> tensor<16xi32>
  %m = arith.cmpi slt, %r, %ns : tensor<16xi32>
  %xs = tile.splat %x : !tile.ptr<f32> -> tensor<16x!tile.ptr<f32>>
  %p = tile.addptr %xs, %r : tensor<16x!tile.ptr<f32>>, tensor<16xi32>
  %v = tile.load %p, %m : tensor<16x!tile.ptr<f32>>
  %pid = tile.program_id y : i32
  %c16 = arith.constant 16 : i32
  %off = arith.muli %pid, %c16 : i32
  %offs = tile.splat %off : i32 -> tensor<16xi32>
  %q = tile.addptr %p, %offs : tensor<16x!tile.ptr<f32>>, tensor<16xi32>
  tile.store %q, %v, %m : tensor<16x!tile.ptr<f32>>
  return
}

// -----

// dot is linalg.matmul accumulating into c; reduce is a linalg.generic over
// all but the first slice, which initializes the accumulator.
// CHECK-LABEL: func.func private @dot_and_reduce
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<16x32xf16>, tensor<32x16xf16>) outs(%{{.*}} : tensor<16x16xf32>)
// CHECK: tensor.extract_slice %{{.*}}[0, 1] [16, 15] [1, 1] : tensor<16x16xf32> to tensor<16x15xf32>
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "reduction"]
// CHECK: arith.maximumf
// CHECK: linalg.yield
func.func private @dot_and_reduce(%a: tensor<16x32xf16>, %b: tensor<32x16xf16>, %c: tensor<16x16xf32>) -> tensor<16xf32> {
  %d = tile.dot %a, %b, %c : tensor<16x32xf16> * tensor<32x16xf16> -> tensor<16x16xf32>
  %m = tile.reduce(%d) axis = 1 : (tensor<16x16xf32>) -> tensor<16xf32> {
  ^bb0(%x: f32, %y: f32):
    %r = arith.maximumf %x, %y : f32
    tile.reduce.return %r : f32
  }
  return %m : tensor<16xf32>
}

// -----

// Atomics stay scalar tile ops on a cast address until after bufferization.
// CHECK-LABEL: func.func private @atomics
// CHECK: scf.for
// CHECK:   scf.if
// CHECK:     %[[P:.*]] = builtin.unrealized_conversion_cast %{{.*}} : i64 to !tile.ptr<f32>
// CHECK:     tile.atomic_rmw fadd, acq_rel, gpu, %[[P]], %{{.*}} : !tile.ptr<f32>
// CHECK: tensor.insert
func.func private @atomics(%p: tensor<16x!tile.ptr<f32>>, %v: tensor<16xf32>, %m: tensor<16xi1>) -> tensor<16xf32> {
  %old = tile.atomic_rmw fadd, acq_rel, gpu, %p, %v, %m : tensor<16x!tile.ptr<f32>>
  return %old : tensor<16xf32>
}

// -----

// Shape ops: expand_dims and reshape are tensor reshapes, trans a
// linalg.transpose, broadcast reads index 0 of the size-1 dimension.
// CHECK-LABEL: func.func private @shapes
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0, 1]] output_shape [16, 1] : tensor<16xf32> into tensor<16x1xf32>
// CHECK: tensor.generate
// CHECK:   %[[ZERO:.*]] = arith.constant 0 : index
// CHECK:   tensor.extract %{{.*}}[%{{.*}}, %[[ZERO]]] : tensor<16x1xf32>
// CHECK: linalg.transpose ins(%{{.*}} : tensor<16x8xf32>) outs(%{{.*}} : tensor<8x16xf32>) permutation = [1, 0]
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1]] : tensor<8x16xf32> into tensor<128xf32>
func.func private @shapes(%x: tensor<16xf32>) -> tensor<128xf32> {
  %e = tile.expand_dims %x, axis = 1 : tensor<16xf32> -> tensor<16x1xf32>
  %b = tile.broadcast %e : tensor<16x1xf32> -> tensor<16x8xf32>
  %t = tile.trans %b, order = [1, 0] : tensor<16x8xf32> -> tensor<8x16xf32>
  %r = tile.reshape %t : tensor<8x16xf32> -> tensor<128xf32>
  return %r : tensor<128xf32>
}
