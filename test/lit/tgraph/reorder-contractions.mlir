// tgraph-reorder-contractions on DeepSeek-V3's MLA (h = 128, d = 128,
// q = 1536, k = 512, v = 128, e = 7168): scores and output, in prefill
// (s = t = 2048) order 1, in decode (s = 1, t = 4096, b = 32) order 2, never
// order 3 (which multiplies the weights together first); with dynamic b, s
// and t both orders are emitted behind a guard on the sizes. A plain matrix
// chain is reordered too.
// RUN: tessera-opt %s --split-input-file --tgraph-reorder-contractions | FileCheck %s
// RUN: tessera-opt %s --split-input-file --tgraph-reorder-contractions=print-costs=1 2>&1 >/dev/null | FileCheck %s --check-prefix=COSTS

// CHECK-LABEL: func.func @scores_prefill
// CHECK: %[[Q:.*]] = tgraph.contract "bsq,hdq->bshd" %arg0, %arg1 {weights = array<i1: false, true>} : tensor<1x2048x1536xbf16>, tensor<128x128x1536xbf16> -> tensor<1x2048x128x128xbf16>
// CHECK: %[[K:.*]] = tgraph.contract "btk,hdk->bthd" %arg2, %arg3 {weights = array<i1: false, true>} : tensor<1x2048x512xbf16>, tensor<128x128x512xbf16> -> tensor<1x2048x128x128xbf16>
// CHECK: tgraph.contract "bshd,bthd->bhst" %[[Q]], %[[K]]
// CHECK-NOT: "hdq,hdk->hqk"
// COSTS: remark: orders by estimated time (chosen: ((bsq hdq) (btk hdk)))
// COSTS-NEXT: ((bsq hdq) (btk hdk)): 2.749e+11 FLOPs, 1.418e+09 bytes, 390.626 us
// COSTS-NEXT: (btk (hdk (bsq hdq))): 6.872e+11 FLOPs
// COSTS-NEXT: (btk (bsq (hdq hdk))): 9.878e+11 FLOPs
func.func @scores_prefill(%cq: tensor<1x2048x1536xbf16>, %wuq: tensor<128x128x1536xbf16>, %ckv: tensor<1x2048x512xbf16>, %wuk: tensor<128x128x512xbf16>) -> tensor<1x128x2048x2048xbf16> {
  %r = tgraph.contract "bsq,hdq,btk,hdk->bhst" %cq, %wuq, %ckv, %wuk {weights = array<i1: false, true, false, true>} : tensor<1x2048x1536xbf16>, tensor<128x128x1536xbf16>, tensor<1x2048x512xbf16>, tensor<128x128x512xbf16> -> tensor<1x128x2048x2048xbf16>
  return %r : tensor<1x128x2048x2048xbf16>
}

// -----

// CHECK-LABEL: func.func @scores_decode
// CHECK: %[[Q:.*]] = tgraph.contract "bsq,hdq->bshd" %arg0, %arg1
// CHECK: %[[QK:.*]] = tgraph.contract "hdk,bshd->hkbs" %arg3, %[[Q]] {weights = array<i1: true, false>} : tensor<128x128x512xbf16>, tensor<32x1x128x128xbf16> -> tensor<128x512x32x1xbf16>
// CHECK: tgraph.contract "btk,hkbs->bhst" %arg2, %[[QK]]
// COSTS: remark: orders by estimated time (chosen: (btk (hdk (bsq hdq))))
func.func @scores_decode(%cq: tensor<32x1x1536xbf16>, %wuq: tensor<128x128x1536xbf16>, %ckv: tensor<32x4096x512xbf16>, %wuk: tensor<128x128x512xbf16>) -> tensor<32x128x1x4096xbf16> {
  %r = tgraph.contract "bsq,hdq,btk,hdk->bhst" %cq, %wuq, %ckv, %wuk {weights = array<i1: false, true, false, true>} : tensor<32x1x1536xbf16>, tensor<128x128x1536xbf16>, tensor<32x4096x512xbf16>, tensor<128x128x512xbf16> -> tensor<32x128x1x4096xbf16>
  return %r : tensor<32x128x1x4096xbf16>
}

// -----

// CHECK-LABEL: func.func @output_prefill
// CHECK: %[[V:.*]] = tgraph.contract "btk,hvk->bthv" %arg1, %arg2
// CHECK: %[[P:.*]] = tgraph.contract "bhst,bthv->bhsv" %arg0, %[[V]]
// CHECK: tgraph.contract "ehv,bhsv->bse" %arg3, %[[P]]
func.func @output_prefill(%p: tensor<1x128x2048x2048xbf16>, %ckv: tensor<1x2048x512xbf16>, %wuv: tensor<128x128x512xbf16>, %wo: tensor<7168x128x128xbf16>) -> tensor<1x2048x7168xbf16> {
  %r = tgraph.contract "bhst,btk,hvk,ehv->bse" %p, %ckv, %wuv, %wo {weights = array<i1: false, false, true, true>} : tensor<1x128x2048x2048xbf16>, tensor<1x2048x512xbf16>, tensor<128x128x512xbf16>, tensor<7168x128x128xbf16> -> tensor<1x2048x7168xbf16>
  return %r : tensor<1x2048x7168xbf16>
}

// -----

// CHECK-LABEL: func.func @output_decode
// CHECK: %[[A:.*]] = tgraph.contract "bhst,btk->bhsk" %arg0, %arg1
// CHECK: %[[V:.*]] = tgraph.contract "hvk,bhsk->hvbs" %arg2, %[[A]]
// CHECK: tgraph.contract "ehv,hvbs->bse" %arg3, %[[V]]
func.func @output_decode(%p: tensor<32x128x1x4096xbf16>, %ckv: tensor<32x4096x512xbf16>, %wuv: tensor<128x128x512xbf16>, %wo: tensor<7168x128x128xbf16>) -> tensor<32x1x7168xbf16> {
  %r = tgraph.contract "bhst,btk,hvk,ehv->bse" %p, %ckv, %wuv, %wo {weights = array<i1: false, false, true, true>} : tensor<32x128x1x4096xbf16>, tensor<32x4096x512xbf16>, tensor<128x128x512xbf16>, tensor<7168x128x128xbf16> -> tensor<32x1x7168xbf16>
  return %r : tensor<32x1x7168xbf16>
}

// -----

// Dynamic b, s, t: order 1, order 2 and its mirror (absorbing W_UQ into the
// keys: t tiny, s larger) each win somewhere, order 3 never; the guard
// computes their times from the sizes and switches.
// CHECK-LABEL: func.func @scores_symbolic
// CHECK: tensor.dim
// CHECK: arith.maximumf
// CHECK: arith.select
// CHECK: %[[I:.*]] = arith.select {{.*}} : index
// CHECK: scf.index_switch %[[I]] -> tensor<?x128x?x?xbf16>
// CHECK: case 1 {
// CHECK: tgraph.contract "btk,hdk->bthd"
// CHECK: tgraph.contract "hdq,bthd->hqbt"
// CHECK: case 2 {
// CHECK: tgraph.contract "bsq,hdq->bshd"
// CHECK: tgraph.contract "hdk,bshd->hkbs"
// CHECK: default {
// CHECK: tgraph.contract "bsq,hdq->bshd"
// CHECK: tgraph.contract "btk,hdk->bthd"
// CHECK-NOT: "hdq,hdk->hqk"
// COSTS: remark: 3 orders are best for some sizes:
// COSTS-NEXT: ((bsq hdq) (btk hdk)) (e.g. at [b=1 s=1 t=1]
// COSTS-NEXT: (bsq (hdq (btk hdk))) (e.g. at [b=256 s=4 t=1]
// COSTS-NEXT: (btk (hdk (bsq hdq))) (e.g. at [b=1 s=1 t=4]
func.func @scores_symbolic(%cq: tensor<?x?x1536xbf16>, %wuq: tensor<128x128x1536xbf16>, %ckv: tensor<?x?x512xbf16>, %wuk: tensor<128x128x512xbf16>) -> tensor<?x128x?x?xbf16> {
  %r = tgraph.contract "bsq,hdq,btk,hdk->bhst" %cq, %wuq, %ckv, %wuk {weights = array<i1: false, true, false, true>} : tensor<?x?x1536xbf16>, tensor<128x128x1536xbf16>, tensor<?x?x512xbf16>, tensor<128x128x512xbf16> -> tensor<?x128x?x?xbf16>
  return %r : tensor<?x128x?x?xbf16>
}

// -----

// A (m,n) B (n,p) C (p,q) with a narrow middle: A (B C) wins.
// CHECK-LABEL: func.func @chain
// CHECK: %[[BC:.*]] = tgraph.contract "np,pq->nq" %arg1, %arg2 {weights = array<i1: false, false>} : tensor<10x1000xf32>, tensor<1000x10xf32> -> tensor<10x10xf32>
// CHECK: tgraph.contract "mn,nq->mq" %arg0, %[[BC]]
func.func @chain(%a: tensor<1000x10xf32>, %b: tensor<10x1000xf32>, %c: tensor<1000x10xf32>) -> tensor<1000x10xf32> {
  %r = tgraph.contract "mn,np,pq->mq" %a, %b, %c : tensor<1000x10xf32>, tensor<10x1000xf32>, tensor<1000x10xf32> -> tensor<1000x10xf32>
  return %r : tensor<1000x10xf32>
}

// -----

// A chain written left to right, ((A B) C) D, each contract the only user of
// the one before: merged, then ordered as a whole (A (B (C D))) when the
// sizes shrink to the right.
// CHECK-LABEL: func.func @chain_of_contracts
// CHECK: %[[CD:.*]] = tgraph.contract "{{.*}}" %arg2, %arg3
// CHECK: %[[BCD:.*]] = tgraph.contract "{{.*}}" %arg1, %[[CD]]
// CHECK: tgraph.contract "{{.*}}" %arg0, %[[BCD]]
// CHECK-NOT: tgraph.contract
func.func @chain_of_contracts(%a: tensor<10x1000xf32>, %b: tensor<1000x1000xf32>, %c: tensor<1000x1000xf32>, %d: tensor<1000x2xf32>) -> tensor<10x2xf32> {
  %ab = tgraph.contract "ij,jk->ik" %a, %b : tensor<10x1000xf32>, tensor<1000x1000xf32> -> tensor<10x1000xf32>
  %abc = tgraph.contract "mn,np->mp" %ab, %c : tensor<10x1000xf32>, tensor<1000x1000xf32> -> tensor<10x1000xf32>
  %abcd = tgraph.contract "xy,yz->xz" %abc, %d : tensor<10x1000xf32>, tensor<1000x2xf32> -> tensor<10x2xf32>
  return %abcd : tensor<10x2xf32>
}
