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

// CHECK-LABEL: func.func @bsa
// CHECK: %[[IDX:.*]], %[[CNT:.*]] = tgraph.block_select %arg0, %arg1 {block_m = 64 : i64, block_n = 64 : i64, mass = 0.899999976 : f32, min_blocks = 2 : i64} : tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x2x4x3xi32>, tensor<1x2x4xi32>
// CHECK: %[[KEPT:.*]], %[[N:.*]] = tgraph.token_select %arg0 {block = 64 : i64, keep_ratio = 5.000000e-01 : f32} : tensor<1x2x256x64xbf16> -> tensor<1x2x4x32xi32>, tensor<1x2x4xi32>
// CHECK: tgraph.attention %arg0, %arg1, %arg2 kv(%[[IDX]], %[[CNT]]) queries(%[[KEPT]], %[[N]]) {block_m = 64 : i64, block_n = 64 : i64, causal, scale = 1.250000e-01 : f32} : (tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x4x3xi32>, tensor<1x2x4xi32>, tensor<1x2x4x32xi32>, tensor<1x2x4xi32>) -> tensor<1x2x256x64xbf16>
// CHECK: tgraph.attention %arg0, %arg1, %arg2 {block_m = 128 : i64, block_n = 64 : i64} : (tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>) -> tensor<1x2x256x64xbf16>
// CHECK: tgraph.cube_reorder %arg3 {cube = array<i64: 1, 2, 2>, inverse, video = array<i64: 2, 4, 6>} : tensor<1x48x16xf32> -> tensor<1x48x16xf32>
func.func @bsa(%q: tensor<1x2x256x64xbf16>, %k: tensor<1x2x256x64xbf16>, %v: tensor<1x2x256x64xbf16>, %x: tensor<1x48x16xf32>) {
  %idx, %cnt = tgraph.block_select %q, %k {block_m = 64, block_n = 64, mass = 0.9 : f32, min_blocks = 2} : tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x2x4x3xi32>, tensor<1x2x4xi32>
  %kept, %n = tgraph.token_select %q {block = 64, keep_ratio = 0.5 : f32} : tensor<1x2x256x64xbf16> -> tensor<1x2x4x32xi32>, tensor<1x2x4xi32>
  %o = tgraph.attention %q, %k, %v kv(%idx, %cnt) queries(%kept, %n) {block_m = 64, block_n = 64, causal, scale = 0.125 : f32} : (tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x4x3xi32>, tensor<1x2x4xi32>, tensor<1x2x4x32xi32>, tensor<1x2x4xi32>) -> tensor<1x2x256x64xbf16>
  %d = tgraph.attention %q, %k, %v {block_m = 128, block_n = 64} : (tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>) -> tensor<1x2x256x64xbf16>
  %y = tgraph.cube_reorder %x {video = array<i64: 2, 4, 6>, cube = array<i64: 1, 2, 2>, inverse} : tensor<1x48x16xf32> -> tensor<1x48x16xf32>
  return
}

// CHECK-LABEL: func.func @grad
// CHECK: %dq, %dk, %dv = tgraph.attention_grad %arg0, %arg1, %arg1, %arg2, %arg3 kv(%arg4, %arg5) {block_m = 64 : i64, block_n = 64 : i64, causal} : (tensor<1x2x256x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x4x2xi32>, tensor<1x2x4xi32>) -> (tensor<1x2x256x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>)
// CHECK: tgraph.attention_grad %arg0, %arg1, %arg1, %arg2, %arg3 {block_m = 64 : i64, block_n = 32 : i64, scale = 1.250000e-01 : f32}
func.func @grad(%q: tensor<1x2x256x64xbf16>, %k: tensor<1x2x128x64xbf16>, %o: tensor<1x2x256x64xbf16>, %do: tensor<1x2x256x64xbf16>, %i: tensor<1x2x4x2xi32>, %c: tensor<1x2x4xi32>) {
  %dq, %dk, %dv = tgraph.attention_grad %q, %k, %k, %o, %do kv(%i, %c) {block_m = 64, block_n = 64, causal} : (tensor<1x2x256x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x4x2xi32>, tensor<1x2x4xi32>) -> (tensor<1x2x256x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>)
  %a, %b, %e = tgraph.attention_grad %q, %k, %k, %o, %do {block_m = 64, block_n = 32, scale = 0.125 : f32} : (tensor<1x2x256x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>) -> (tensor<1x2x256x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>)
  return
}

// The forward's log-sum-exp, read by the gradients.
// CHECK-LABEL: func.func @lse
// CHECK: %[[O:.*]], %lse = tgraph.attention %arg0, %arg1, %arg1 {block_m = 64 : i64, block_n = 64 : i64} : (tensor<1x2x256x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>) -> (tensor<1x2x256x64xbf16>, tensor<1x2x256xf32>)
// CHECK: tgraph.attention_grad %arg0, %arg1, %arg1, %[[O]], %arg2 lse(%lse) kv(%arg3, %arg4) {block_m = 64 : i64, block_n = 64 : i64}
func.func @lse(%q: tensor<1x2x256x64xbf16>, %k: tensor<1x2x128x64xbf16>, %do: tensor<1x2x256x64xbf16>, %i: tensor<1x2x4x2xi32>, %c: tensor<1x2x4xi32>) {
  %o, %lse = tgraph.attention %q, %k, %k {block_m = 64, block_n = 64} : (tensor<1x2x256x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>) -> (tensor<1x2x256x64xbf16>, tensor<1x2x256xf32>)
  %dq, %dk, %dv = tgraph.attention_grad %q, %k, %k, %o, %do lse(%lse) kv(%i, %c) {block_m = 64, block_n = 64} : (tensor<1x2x256x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256xf32>, tensor<1x2x4x2xi32>, tensor<1x2x4xi32>) -> (tensor<1x2x256x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>)
  return
}
