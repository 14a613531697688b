// RUN: tessera-opt %s --tgraph-lower-attention="dq-atomics=true" | FileCheck %s

// dq-atomics: no dq kernel; the dk/dv kernel adds each block pair's
// ds k * scale into a float32 buffer that starts zeroed (its third result,
// `zeroed`), and a last launch casts it to dq. With whole query blocks in
// every head (64 rows, blocks of 16) each is one block of the (z h nq, d)
// buffer (`tile.descriptor_atomic_add`: TMA's bulk reduction on sm_90a).
// CHECK-LABEL: func.func @grad(
// CHECK: %[[S:.*]]:2 = tgraph.launch @grad_attention_lse_0
// CHECK-NOT: attention_dq_
// CHECK: %[[T:.*]]:3 = tgraph.launch @grad_attention_qlists_1
// CHECK: %[[KV:.*]]:3 = tgraph.launch @grad_attention_dkdv_2 grid [4, 2, 1](%arg0, %arg1, %arg1, %[[T]]#0, %[[T]]#1, %[[T]]#2, %arg3, %[[S]]#0, %[[S]]#1) {zeroed = array<i64: 2>} : ({{.*}}) -> (tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf32>)
// CHECK: %[[DQ:.*]] = tgraph.launch @grad_attention_dq_convert_3 grid [4, 2, 1](%[[KV]]#2) : (tensor<1x2x64x16xf32>) -> tensor<1x2x64x16xf16>
// CHECK: return %[[DQ]], %[[KV]]#0, %[[KV]]#1
// CHECK-LABEL: func.func @grad_attention_dkdv_2(
// CHECK: scf.for
// CHECK-COUNT-5: tile.dot
// CHECK: tile.descriptor_atomic_add %arg{{[0-9]+}}[%{{.*}}, %c0{{.*}}], %{{.*}} shape [%{{.*}}, %{{.*}}] strides [%{{.*}}, %{{.*}}] : !tile.ptr<f32>, tensor<16x16xf32>
// CHECK-NOT: tile.atomic_rmw
// CHECK-LABEL: func.func @grad_attention_dq_convert_3(
// CHECK: arith.truncf
func.func @grad(%q: tensor<1x2x64x16xf16>, %k: tensor<1x2x64x16xf16>, %o: tensor<1x2x64x16xf16>,
                %do: tensor<1x2x64x16xf16>, %i: tensor<1x2x4x2xi32>, %c: tensor<1x2x4xi32>)
    -> (tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>) {
  %dq, %dk, %dv = tgraph.attention_grad %q, %k, %k, %o, %do kv(%i, %c) {block_m = 16, block_n = 16}
      : (tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>,
         tensor<1x2x64x16xf16>, tensor<1x2x4x2xi32>, tensor<1x2x4xi32>)
      -> (tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>)
  return %dq, %dk, %dv : tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>
}
