// fp32 dots with TF32 precision run on wgmma (m64nNk8, tf32 operands) on
// sm_90a when B is the transpose of a row-major tile (wgmma reads tf32
// only K-major); with B row-major, or with tf32x3, they stay on mma.sync.
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=4 compute-capability=90 wgmma=1" | FileCheck %s
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=4 compute-capability=90 wgmma=1" --convert-tilegpu-to-nvvm | FileCheck %s --check-prefix=NVVM

// CHECK: #[[V3:.*]] = #tilegpu.mma<version = 3, warpsPerCTA = [4, 1]>
// CHECK-LABEL: func.func @tf32_bt
// CHECK: tile.dot {{.*}} -> tensor<64x64xf32, #[[V3]]>
// NVVM-LABEL: llvm.func @tf32_bt
// NVVM: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 64, k = 8>, D[<f32>, <one>], A[<tf32>, <one>, <row>], B[<tf32>, <one>, <col>]
func.func @tf32_bt(%a: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %bt: !tile.ptr<f32> {tile.divisibility = 16 : i32},
                   %c: !tile.ptr<f32> {tile.divisibility = 16 : i32}) {
  %r = tile.make_range 0 to 64 : tensor<64xi32>
  %k = tile.make_range 0 to 32 : tensor<32xi32>
  %c32 = arith.constant dense<32> : tensor<64x1xi32>
  %rows = tile.expand_dims %r, axis = 1 : tensor<64xi32> -> tensor<64x1xi32>
  %rowoff = arith.muli %rows, %c32 : tensor<64x1xi32>
  %cols = tile.expand_dims %k, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %ra = tile.broadcast %rowoff : tensor<64x1xi32> -> tensor<64x32xi32>
  %ca = tile.broadcast %cols : tensor<1x32xi32> -> tensor<64x32xi32>
  %off = arith.addi %ra, %ca : tensor<64x32xi32>
  %as = tile.splat %a : !tile.ptr<f32> -> tensor<64x32x!tile.ptr<f32>>
  %ap = tile.addptr %as, %off : tensor<64x32x!tile.ptr<f32>>, tensor<64x32xi32>
  %av = tile.load %ap : tensor<64x32x!tile.ptr<f32>>
  %bs = tile.splat %bt : !tile.ptr<f32> -> tensor<64x32x!tile.ptr<f32>>
  %bp = tile.addptr %bs, %off : tensor<64x32x!tile.ptr<f32>>, tensor<64x32xi32>
  %bv = tile.load %bp : tensor<64x32x!tile.ptr<f32>>
  %b = tile.trans %bv, order = [1, 0] : tensor<64x32xf32> -> tensor<32x64xf32>
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %d = tile.dot %av, %b, %zero, precision = tf32 : tensor<64x32xf32> * tensor<32x64xf32> -> tensor<64x64xf32>
  %c64 = arith.constant dense<64> : tensor<64x1xi32>
  %orow = arith.muli %rows, %c64 : tensor<64x1xi32>
  %ocol = tile.expand_dims %r, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %o1 = tile.broadcast %orow : tensor<64x1xi32> -> tensor<64x64xi32>
  %o2 = tile.broadcast %ocol : tensor<1x64xi32> -> tensor<64x64xi32>
  %ooff = arith.addi %o1, %o2 : tensor<64x64xi32>
  %cs = tile.splat %c : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  %cp = tile.addptr %cs, %ooff : tensor<64x64x!tile.ptr<f32>>, tensor<64x64xi32>
  tile.store %cp, %d : tensor<64x64x!tile.ptr<f32>>
  return
}
