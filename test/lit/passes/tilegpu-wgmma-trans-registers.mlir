// A wgmma dot whose B is the transpose of a tile in registers (attention's
// q @ k^T without pipelining): the transpose is never made; the dot writes
// the source tile's rows, K-major, to the scratch area and reads B as
// K-major (layout col). No scalar shared-memory relayout remains.
// RUN: tessera-opt %s --split-input-file --convert-tile-to-tilegpu="num-warps=4 compute-capability=90 wgmma=1" --convert-tilegpu-to-nvvm | FileCheck %s
// CHECK-LABEL: llvm.func @qk_t(
// CHECK-NOT: llvm.load {{.*}} : !llvm.ptr<3> -> f16
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 64, k = 16>, D[<f32>, <one>], A[<f16>, <one>, <row>], B[<f16>, <one>, <col>]
// CHECK: llvm.return
func.func @qk_t(%q: !tile.ptr<f16> {tile.divisibility = 16 : i32}, %k: !tile.ptr<f16> {tile.divisibility = 16 : i32}, %o: !tile.ptr<f32> {tile.divisibility = 16 : i32}) {
  %r = tile.make_range 0 to 64 : tensor<64xi32>
  %c = tile.make_range 0 to 32 : tensor<32xi32>
  %c32 = arith.constant dense<32> : tensor<64x1xi32>
  %rows = tile.expand_dims %r, axis = 1 : tensor<64xi32> -> tensor<64x1xi32>
  %rowoff = arith.muli %rows, %c32 : tensor<64x1xi32>
  %cols = tile.expand_dims %c, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %a = tile.broadcast %rowoff : tensor<64x1xi32> -> tensor<64x32xi32>
  %b = tile.broadcast %cols : tensor<1x32xi32> -> tensor<64x32xi32>
  %off = arith.addi %a, %b : tensor<64x32xi32>
  %qs = tile.splat %q : !tile.ptr<f16> -> tensor<64x32x!tile.ptr<f16>>
  %qp = tile.addptr %qs, %off : tensor<64x32x!tile.ptr<f16>>, tensor<64x32xi32>
  %qv = tile.load %qp : tensor<64x32x!tile.ptr<f16>>
  %ks = tile.splat %k : !tile.ptr<f16> -> tensor<64x32x!tile.ptr<f16>>
  %kp = tile.addptr %ks, %off : tensor<64x32x!tile.ptr<f16>>, tensor<64x32xi32>
  %kv = tile.load %kp : tensor<64x32x!tile.ptr<f16>>
  %kt = tile.trans %kv, order = [1, 0] : tensor<64x32xf16> -> tensor<32x64xf16>
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %s = tile.dot %qv, %kt, %zero : tensor<64x32xf16> * tensor<32x64xf16> -> tensor<64x64xf32>
  %c64 = arith.constant dense<64> : tensor<64x1xi32>
  %orow = arith.muli %rows, %c64 : tensor<64x1xi32>
  %oc = tile.make_range 0 to 64 : tensor<64xi32>
  %ocol = tile.expand_dims %oc, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %ob1 = tile.broadcast %orow : tensor<64x1xi32> -> tensor<64x64xi32>
  %ob2 = tile.broadcast %ocol : tensor<1x64xi32> -> tensor<64x64xi32>
  %ooff = arith.addi %ob1, %ob2 : tensor<64x64xi32>
  %os = tile.splat %o : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  %op = tile.addptr %os, %ooff : tensor<64x64x!tile.ptr<f32>>, tensor<64x64xi32>
  tile.store %op, %s : tensor<64x64x!tile.ptr<f32>>
  return
}

// -----

// A = tl.trans(x) of a register tile (the backward's p^T @ dO): x is
// written as it is, and A read M-major (layout col).
// CHECK-LABEL: llvm.func @pt_v(
// CHECK-NOT: llvm.load {{.*}} : !llvm.ptr<3> -> f16
// CHECK: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 64, k = 16>, D[<f32>, <one>], A[<f16>, <one>, <col>], B[<f16>, <one>, <row>]
// CHECK: llvm.return
func.func @pt_v(%x: !tile.ptr<f16> {tile.divisibility = 16 : i32}, %v: !tile.ptr<f16> {tile.divisibility = 16 : i32}, %o: !tile.ptr<f32> {tile.divisibility = 16 : i32}) {
  %r32 = tile.make_range 0 to 32 : tensor<32xi32>
  %r64 = tile.make_range 0 to 64 : tensor<64xi32>
  %c64 = arith.constant dense<64> : tensor<32x1xi32>
  %rows = tile.expand_dims %r32, axis = 1 : tensor<32xi32> -> tensor<32x1xi32>
  %rowoff = arith.muli %rows, %c64 : tensor<32x1xi32>
  %cols = tile.expand_dims %r64, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %a1 = tile.broadcast %rowoff : tensor<32x1xi32> -> tensor<32x64xi32>
  %a2 = tile.broadcast %cols : tensor<1x64xi32> -> tensor<32x64xi32>
  %off = arith.addi %a1, %a2 : tensor<32x64xi32>
  %xs = tile.splat %x : !tile.ptr<f16> -> tensor<32x64x!tile.ptr<f16>>
  %xp = tile.addptr %xs, %off : tensor<32x64x!tile.ptr<f16>>, tensor<32x64xi32>
  %xv = tile.load %xp : tensor<32x64x!tile.ptr<f16>>
  %vs = tile.splat %v : !tile.ptr<f16> -> tensor<32x64x!tile.ptr<f16>>
  %vp = tile.addptr %vs, %off : tensor<32x64x!tile.ptr<f16>>, tensor<32x64xi32>
  %vv = tile.load %vp : tensor<32x64x!tile.ptr<f16>>
  %a = tile.trans %xv, order = [1, 0] : tensor<32x64xf16> -> tensor<64x32xf16>
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %d = tile.dot %a, %vv, %zero : tensor<64x32xf16> * tensor<32x64xf16> -> tensor<64x64xf32>
  %c64b = arith.constant dense<64> : tensor<64x1xi32>
  %orow0 = tile.expand_dims %r64, axis = 1 : tensor<64xi32> -> tensor<64x1xi32>
  %orow = arith.muli %orow0, %c64b : tensor<64x1xi32>
  %o1 = tile.broadcast %orow : tensor<64x1xi32> -> tensor<64x64xi32>
  %o2 = tile.broadcast %cols : tensor<1x64xi32> -> tensor<64x64xi32>
  %ooff = arith.addi %o1, %o2 : tensor<64x64xi32>
  %os = tile.splat %o : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  %op = tile.addptr %os, %ooff : tensor<64x64x!tile.ptr<f32>>, tensor<64x64xi32>
  tile.store %op, %d : tensor<64x64x!tile.ptr<f32>>
  return
}
