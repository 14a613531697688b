// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=8 compute-capability=90 wgmma=1" --convert-tilegpu-to-nvvm | FileCheck %s

// CTA barriers before scratch writes only where bytes are reused: the
// rows of a 64 x 64 mma tile on 8 warps (2 x 4) are reduced across warps
// through shared memory, twice (a max, then a sum of exponentials). The
// max's partials need a barrier first (the dot read its operands from
// the scratch area); the sum's go to the next free bytes (1024, after the
// max's 64 x 4 floats, read since the last barrier) with no barrier first;
// the store's layout conversion takes bytes from 0 again, free since the
// barrier after the sum's writes. The kernel's shared memory is the dot's
// operands (64 x 72 halves each), as without the placement.
// CHECK-LABEL: llvm.func @rows
// CHECK-SAME: tilegpu.shared_bytes = 18432
// CHECK: nvvm.mma.sync
// CHECK: arith.maximumf
// CHECK: nvvm.barrier0
// CHECK-NEXT: arith.constant
// CHECK-NOT: nvvm.barrier0
// CHECK: llvm.store %{{.*}}, %{{.*}} : f32, !llvm.ptr<3>
// CHECK: nvvm.barrier0
// CHECK: llvm.load %{{.*}} : !llvm.ptr<3> -> f32
// CHECK-NOT: nvvm.barrier0
// CHECK: llvm.getelementptr %{{.*}}[1024] : (!llvm.ptr<3>) -> !llvm.ptr<3>, i8
// CHECK-NOT: nvvm.barrier0
// CHECK: llvm.store %{{.*}}, %{{.*}} : f32, !llvm.ptr<3>
// CHECK: nvvm.barrier0
// CHECK: llvm.load %{{.*}} : !llvm.ptr<3> -> f32
// CHECK-NOT: nvvm.barrier0
// CHECK: llvm.store %{{.*}}, %{{.*}} : f32, !llvm.ptr<3>
// CHECK-NOT: getelementptr %{{.*}}[1024]
// CHECK: nvvm.barrier0
// CHECK: llvm.store %{{.*}}, %{{.*}} : vector<2xf32>, !llvm.ptr<1>
func.func @rows(%qp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                %kp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
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
  %ks = tile.splat %kp : !tile.ptr<f16> -> tensor<64x64x!tile.ptr<f16>>
  %ka = tile.addptr %ks, %off : tensor<64x64x!tile.ptr<f16>>, tensor<64x64xi32>
  %k = tile.load %ka : tensor<64x64x!tile.ptr<f16>>
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %s = tile.dot %q, %k, %zero : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
  %m = tile.reduce(%s) axis = 1 : (tensor<64x64xf32>) -> tensor<64xf32> {
  ^bb0(%a: f32, %b: f32):
    %x = arith.maximumf %a, %b : f32
    tile.reduce.return %x : f32
  }
  %me = tile.expand_dims %m, axis = 1 : tensor<64xf32> -> tensor<64x1xf32>
  %mb = tile.broadcast %me : tensor<64x1xf32> -> tensor<64x64xf32>
  %d = arith.subf %s, %mb : tensor<64x64xf32>
  %p = math.exp2 %d : tensor<64x64xf32>
  %l = tile.reduce(%p) axis = 1 : (tensor<64x64xf32>) -> tensor<64xf32> {
  ^bb0(%a: f32, %b: f32):
    %x = arith.addf %a, %b : f32
    tile.reduce.return %x : f32
  }
  %os = tile.splat %op : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %oa = tile.addptr %os, %r : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  tile.store %oa, %l : tensor<64x!tile.ptr<f32>>
  return
}

// In a loop nothing is known at the body's start (the previous
// iteration's reads): the row sum's exchange in the body takes a barrier
// first and bytes from 0, and so does the store's conversion after the
// loop.
// CHECK-LABEL: llvm.func @in_loop
// CHECK: arith.maximumf
// CHECK: nvvm.barrier0
// CHECK: llvm.store %{{.*}}, %{{.*}} : f32, !llvm.ptr<3>
// CHECK: nvvm.barrier0
// CHECK: scf.for
// CHECK-NOT: llvm.store {{.*}}!llvm.ptr<3>
// CHECK: nvvm.barrier0
// CHECK-NOT: getelementptr %{{.*}}[1024]
// CHECK: llvm.store %{{.*}}, %{{.*}} : f32, !llvm.ptr<3>
// CHECK: scf.yield
// CHECK-NOT: llvm.store {{.*}}!llvm.ptr<3>
// CHECK: nvvm.barrier0
// CHECK: llvm.store %{{.*}}, %{{.*}} : f32, !llvm.ptr<3>
func.func @in_loop(%qp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
                   %kp: !tile.ptr<f16> {tile.divisibility = 16 : i32},
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
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %s = tile.dot %q, %k, %zero : tensor<64x64xf16> * tensor<64x64xf16> -> tensor<64x64xf32>
  %m = tile.reduce(%s) axis = 1 : (tensor<64x64xf32>) -> tensor<64xf32> {
  ^bb0(%a: f32, %b: f32):
    %x = arith.maximumf %a, %b : f32
    tile.reduce.return %x : f32
  }
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %acc = scf.for %i = %c0 to %n step %c1 iter_args(%t = %m) -> (tensor<64xf32>) : i32 {
    %l = tile.reduce(%s) axis = 1 : (tensor<64x64xf32>) -> tensor<64xf32> {
    ^bb0(%a: f32, %b: f32):
      %x = arith.addf %a, %b : f32
      tile.reduce.return %x : f32
    }
    %u = arith.addf %t, %l : tensor<64xf32>
    scf.yield %u : tensor<64xf32>
  }
  %os = tile.splat %op : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %oa = tile.addptr %os, %r : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  tile.store %oa, %acc : tensor<64x!tile.ptr<f32>>
  return
}
