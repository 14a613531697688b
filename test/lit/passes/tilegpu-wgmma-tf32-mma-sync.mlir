// fp32 dots with TF32 precision whose B is row-major (wgmma reads tf32
// only K-major), and tf32x3 dots, stay on mma.sync on sm_90a.
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=4 compute-capability=90 wgmma=1" | FileCheck %s


// CHECK: #[[V2:.*]] = #tilegpu.mma<version = 2, warpsPerCTA = [2, 2]>
// CHECK-LABEL: func.func @tf32_row_major_b
// CHECK: tile.dot {{.*}} -> tensor<64x64xf32, #[[V2]]>
// CHECK: tile.dot {{.*}} -> tensor<64x64xf32, #[[V2]]>
func.func @tf32_row_major_b(%a: tensor<64x32xf32>, %b: tensor<32x64xf32>, %bt: tensor<64x32xf32>)
    -> (tensor<64x64xf32>, tensor<64x64xf32>) {
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %d = tile.dot %a, %b, %zero, precision = tf32 : tensor<64x32xf32> * tensor<32x64xf32> -> tensor<64x64xf32>
  %t = tile.trans %bt, order = [1, 0] : tensor<64x32xf32> -> tensor<32x64xf32>
  %e = tile.dot %a, %t, %zero, precision = tf32x3 : tensor<64x32xf32> * tensor<32x64xf32> -> tensor<64x64xf32>
  return %d, %e : tensor<64x64xf32>, tensor<64x64xf32>
}
