// RUN: tessera-opt %s | tessera-opt | FileCheck %s
// RUN: tessera-opt %s --verify-roundtrip > /dev/null

// CHECK-LABEL: func.func @scores
// CHECK: tgraph.contract "bsq,hdq,btk,hdk->bhst" %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {weights = array<i1: false, true, false, true>} : tensor<?x?x1536xbf16>, tensor<128x128x1536xbf16>, tensor<?x?x512xbf16>, tensor<128x128x512xbf16> -> tensor<?x128x?x?xbf16>
func.func @scores(%cq: tensor<?x?x1536xbf16>, %wuq: tensor<128x128x1536xbf16>, %ckv: tensor<?x?x512xbf16>, %wuk: tensor<128x128x512xbf16>) -> tensor<?x128x?x?xbf16> {
  %r = tgraph.contract "bsq,hdq,btk,hdk->bhst" %cq, %wuq, %ckv, %wuk {weights = array<i1: false, true, false, true>} : tensor<?x?x1536xbf16>, tensor<128x128x1536xbf16>, tensor<?x?x512xbf16>, tensor<128x128x512xbf16> -> tensor<?x128x?x?xbf16>
  return %r : tensor<?x128x?x?xbf16>
}

// CHECK-LABEL: func.func @matmul
// CHECK: tgraph.contract "mn,np->mp" %{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
func.func @matmul(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) -> tensor<4x2xf32> {
  %r = tgraph.contract "mn,np->mp" %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return %r : tensor<4x2xf32>
}
