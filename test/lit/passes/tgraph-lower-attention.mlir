// RUN: tessera-opt %s --split-input-file --tgraph-lower-attention | FileCheck %s

// Block-sparse, causal: one program per query block (100 / 32 -> 4) and
// head (1 x 2); the kernel reads the count of its row of the lists, loops
// over the listed key blocks (q k^T, the online softmax, P V), and stores
// acc / l.
// CHECK-LABEL: func.func @f(
// CHECK: %[[O:.*]] = tgraph.launch @f_attention_0 grid [4, 2, 1](%arg0, %arg1, %arg2, %arg3, %arg4)
// CHECK: return %[[O]]
// CHECK-LABEL: func.func @f_attention_0(
// CHECK-SAME: !tile.ptr<bf16> {{.*}} !tile.ptr<bf16> {{.*}} !tile.ptr<bf16> {{.*}} !tile.ptr<i32> {{.*}} !tile.ptr<i32> {{.*}} !tile.ptr<bf16>
// CHECK: tile.program_id x
// CHECK: tile.program_id y
// The count, clamped to [0, L]; each listed block clamped to [0, KB).
// CHECK: %[[CNT:.*]] = tile.load %{{.*}} : !tile.ptr<i32>
// CHECK: %[[MIN:.*]] = arith.minsi %[[CNT]], %c3_i32
// CHECK: %[[TRIP:.*]] = arith.maxsi %[[MIN]], %c0_i32
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[TRIP]]
// CHECK: %[[KB:.*]] = tile.load %{{.*}} : !tile.ptr<i32>
// CHECK: arith.minsi %[[KB]], %c3_i32
// CHECK: tile.trans
// CHECK: tile.dot {{.*}} : tensor<32x64xbf16> * tensor<64x32xbf16> -> tensor<32x32xf32>
// CHECK: arith.cmpi sge
// CHECK: tile.reduce
// CHECK: math.exp
// CHECK: arith.truncf {{.*}} to tensor<32x32xbf16>
// CHECK: tile.dot {{.*}} : tensor<32x32xbf16> * tensor<32x64xbf16> -> tensor<32x64xf32>
// CHECK: scf.yield
// CHECK: arith.divf
// CHECK: tile.store
func.func @f(%q: tensor<1x2x100x64xbf16>, %k: tensor<1x2x100x64xbf16>, %v: tensor<1x2x100x64xbf16>,
             %i: tensor<1x2x4x3xi32>, %c: tensor<1x2x4xi32>) -> tensor<1x2x100x64xbf16> {
  %o = tgraph.attention %q, %k, %v kv(%i, %c) {block_m = 32, block_n = 32, causal}
      : (tensor<1x2x100x64xbf16>, tensor<1x2x100x64xbf16>, tensor<1x2x100x64xbf16>,
        tensor<1x2x4x3xi32>, tensor<1x2x4xi32>) -> tensor<1x2x100x64xbf16>
  return %o : tensor<1x2x100x64xbf16>
}

// -----

// Dense: every key block (70 / 16 -> 5), the scale given.
// CHECK-LABEL: func.func @dense(
// CHECK: tgraph.launch @dense_attention_0 grid [3, 1, 1](%arg0, %arg1, %arg1)
// CHECK-LABEL: func.func @dense_attention_0(
// The scale times log2(e): the scores feed exp2.
// CHECK: arith.constant 0.360673755 : f32
// CHECK: %[[ALL:.*]] = arith.constant 5 : i32
// CHECK-NOT: arith.cmpi sge
// CHECK: tile.store
func.func @dense(%q: tensor<1x1x40x16xf32>, %k: tensor<1x1x70x16xf32>) -> tensor<1x1x40x16xf32> {
  %o = tgraph.attention %q, %k, %k {block_m = 16, block_n = 16, scale = 0.25 : f32}
      : (tensor<1x1x40x16xf32>, tensor<1x1x70x16xf32>, tensor<1x1x70x16xf32>) -> tensor<1x1x40x16xf32>
  return %o : tensor<1x1x40x16xf32>
}

// -----

// Keys a multiple of the block and no causal mask: the loop reads K and V
// through tensor descriptors over all Z*H*N_KV = 256 rows (row zh*128 +
// the block's first key; TMA copies on sm_90a, pointers elsewhere) and
// selects nothing; s * scale log2(e) - m feeds exp2.
// CHECK-LABEL: func.func @even_attention_0(
// CHECK-DAG: %[[ROWS:.*]] = arith.constant 256 : i32
// CHECK-DAG: %[[D64:.*]] = arith.constant 32 : i64
// CHECK: scf.for
// CHECK: %[[R0:.*]] = arith.muli %{{.*}}, %c128_i32 : i32
// CHECK: %[[R:.*]] = arith.addi %[[R0]], %{{.*}} : i32
// CHECK: tile.descriptor_load %arg1[%[[R]], %c0_i32] shape [%[[ROWS]], %{{.*}}] strides [%[[D64]], %{{.*}}] : !tile.ptr<f16> -> tensor<32x32xf16>
// CHECK-NOT: arith.select
// CHECK: tile.dot
// CHECK-NOT: arith.select
// CHECK: tile.reduce
// CHECK-NOT: arith.select
// CHECK: arith.mulf
// CHECK: arith.maxnumf
// CHECK: arith.select
// CHECK-NOT: arith.select
// CHECK: math.exp2
// CHECK: math.exp2
// CHECK-NOT: arith.select
// CHECK: tile.descriptor_load %arg2[%[[R]], %c0_i32] shape [%[[ROWS]], %{{.*}}]
// CHECK: scf.yield
func.func @even(%q: tensor<1x2x64x32xf16>, %k: tensor<1x2x128x32xf16>, %i: tensor<1x2x2x3xi32>,
                %c: tensor<1x2x2xi32>) -> tensor<1x2x64x32xf16> {
  %o = tgraph.attention %q, %k, %k kv(%i, %c) {block_m = 32, block_n = 32}
      : (tensor<1x2x64x32xf16>, tensor<1x2x128x32xf16>, tensor<1x2x128x32xf16>,
         tensor<1x2x2x3xi32>, tensor<1x2x2xi32>) -> tensor<1x2x64x32xf16>
  return %o : tensor<1x2x64x32xf16>
}

// -----

// The gradients over key-block lists: lse and delta, dq, the transposed
// lists (which query blocks list each key block, how many times, and how
// many), dk and dv.
// CHECK-LABEL: func.func @grad(
// CHECK: %[[S:.*]]:2 = tgraph.launch @grad_attention_lse_0 grid [4, 2, 1](%arg0, %arg1, %arg4, %arg5, %arg2, %arg3) : (tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x4x2xi32>, tensor<1x2x4xi32>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>) -> (tensor<1x2x64xf32>, tensor<1x2x64xf32>)
// CHECK: %[[DQ:.*]] = tgraph.launch @grad_attention_dq_1 grid [4, 2, 1](%arg0, %arg1, %arg1, %arg4, %arg5, %arg3, %[[S]]#0, %[[S]]#1)
// CHECK: %[[T:.*]]:3 = tgraph.launch @grad_attention_qlists_2 grid [4, 2, 1](%arg4, %arg5) : (tensor<1x2x4x2xi32>, tensor<1x2x4xi32>) -> (tensor<1x2x4x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2x4xi32>)
// CHECK: %[[KV:.*]]:2 = tgraph.launch @grad_attention_dkdv_3 grid [4, 2, 1](%arg0, %arg1, %arg1, %[[T]]#0, %[[T]]#1, %[[T]]#2, %arg3, %[[S]]#0, %[[S]]#1)
// CHECK: return %[[DQ]], %[[KV]]#0, %[[KV]]#1
// CHECK-LABEL: func.func @grad_attention_lse_0(
// CHECK: math.log2
// CHECK-LABEL: func.func @grad_attention_dq_1(
// CHECK: scf.for
// CHECK: tile.dot
// CHECK: math.exp2
// CHECK-COUNT-2: tile.dot
// CHECK-LABEL: func.func @grad_attention_qlists_2(
// CHECK: tile.scan
// CHECK-LABEL: func.func @grad_attention_dkdv_3(
// CHECK: scf.for
// CHECK-COUNT-4: tile.dot
func.func @grad(%q: tensor<1x2x64x16xf16>, %k: tensor<1x2x64x16xf16>, %o: tensor<1x2x64x16xf16>,
                %do: tensor<1x2x64x16xf16>, %i: tensor<1x2x4x2xi32>, %c: tensor<1x2x4xi32>)
    -> (tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>) {
  %dq, %dk, %dv = tgraph.attention_grad %q, %k, %k, %o, %do kv(%i, %c) {block_m = 16, block_n = 16}
      : (tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>,
         tensor<1x2x64x16xf16>, tensor<1x2x4x2xi32>, tensor<1x2x4xi32>)
      -> (tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>)
  return %dq, %dk, %dv : tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>
}

// -----

// The forward returning its log-sum-exp (stored by the same kernel, natural
// log), and the gradients reading it: a delta kernel (no scores) in place
// of the lse pass.
// CHECK-LABEL: func.func @fused(
// CHECK: %[[F:.*]]:2 = tgraph.launch @fused_attention_0 grid [4, 2, 1](%arg0, %arg1, %arg1) : (tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>) -> (tensor<1x2x64x16xf16>, tensor<1x2x64xf32>)
// CHECK: %[[S:.*]]:2 = tgraph.launch @fused_attention_delta_1 grid [4, 2, 1](%[[F]]#0, %arg2, %[[F]]#1)
// CHECK: tgraph.launch @fused_attention_dq_2 grid [4, 2, 1](%arg0, %arg1, %arg1, %arg2, %[[S]]#0, %[[S]]#1)
// CHECK: tgraph.launch @fused_attention_dkdv_3 grid [4, 2, 1](%arg0, %arg1, %arg1, %arg2, %[[S]]#0, %[[S]]#1)
// CHECK-LABEL: func.func @fused_attention_0(
// CHECK: math.log2
// CHECK: arith.constant dense<0.693147182>
// CHECK-LABEL: func.func @fused_attention_delta_1(
// CHECK-NOT: tile.dot
// CHECK: arith.constant dense<1.44269502>
// CHECK-LABEL: func.func @fused_attention_dq_2(
func.func @fused(%q: tensor<1x2x64x16xf16>, %k: tensor<1x2x64x16xf16>, %do: tensor<1x2x64x16xf16>)
    -> (tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>) {
  %o, %lse = tgraph.attention %q, %k, %k {block_m = 16, block_n = 16}
      : (tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>)
      -> (tensor<1x2x64x16xf16>, tensor<1x2x64xf32>)
  %dq, %dk, %dv = tgraph.attention_grad %q, %k, %k, %o, %do lse(%lse) {block_m = 16, block_n = 16}
      : (tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>,
         tensor<1x2x64x16xf16>, tensor<1x2x64xf32>)
      -> (tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>)
  return %dq, %dk, %dv : tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16>
}

// -----

// BSA's other ops: the cube reordering (one program per 32 tokens and 32
// channels of a batch entry) and the query selection (one program per
// block of a head, two results: the lists and their counts).
// CHECK-LABEL: func.func @bsa(
// CHECK: tgraph.launch @bsa_cube_reorder_0 grid [2, 2, 1](%arg0) : (tensor<2x48x20xf16>) -> tensor<2x48x20xf16>
// CHECK: tgraph.launch @bsa_token_select_1 grid [5, 2, 1](%arg1) : (tensor<1x2x70x16xf32>) -> (tensor<1x2x5x8xi32>, tensor<1x2x5xi32>)
// CHECK-LABEL: func.func @bsa_cube_reorder_0(
// CHECK: arith.divsi
// CHECK: tile.load
// CHECK: tile.store
// CHECK-LABEL: func.func @bsa_token_select_1(
// CHECK-SAME: %{{.*}}: !tile.ptr<f32> {{.*}}, %{{.*}}: !tile.ptr<i32> {{.*}}, %{{.*}}: !tile.ptr<i32>
// CHECK: math.sqrt
// CHECK: math.ceil
// CHECK: tile.store %{{.*}} : tensor<8x!tile.ptr<i32>>
// CHECK: tile.store %{{.*}} : !tile.ptr<i32>
func.func @bsa(%x: tensor<2x48x20xf16>, %q: tensor<1x2x70x16xf32>) -> (tensor<2x48x20xf16>, tensor<1x2x5x8xi32>, tensor<1x2x5xi32>) {
  %y = tgraph.cube_reorder %x {video = array<i64: 2, 4, 6>, cube = array<i64: 1, 2, 2>} : tensor<2x48x20xf16> -> tensor<2x48x20xf16>
  %i, %c = tgraph.token_select %q {block = 16, keep_ratio = 0.5 : f32} : tensor<1x2x70x16xf32> -> tensor<1x2x5x8xi32>, tensor<1x2x5xi32>
  return %y, %i, %c : tensor<2x48x20xf16>, tensor<1x2x5x8xi32>, tensor<1x2x5xi32>
}

// -----

// BSA's block selection: two pooling launches (f32 means of q's and k's
// blocks), the pooled scores (64 x 64 tiles, tf32x3 products), then the
// selection: with at most 32 kept blocks (5 here), rounds of one max
// reduction (value and lowest index) while the mass is short of p, then a
// scan for the positions.
// CHECK-LABEL: func.func @select(
// CHECK: %[[PQ:.*]] = tgraph.launch @select_block_pool_0 grid [4, 2, 1](%arg0) : (tensor<1x2x100x16xf16>) -> tensor<1x2x4x16xf32>
// CHECK: %[[PK:.*]] = tgraph.launch @select_block_pool_1 grid [7, 2, 1](%arg1) : (tensor<1x2x100x16xf16>) -> tensor<1x2x7x16xf32>
// CHECK: %[[S:.*]] = tgraph.launch @select_block_scores_2 grid [1, 1, 2](%[[PQ]], %[[PK]]) : (tensor<1x2x4x16xf32>, tensor<1x2x7x16xf32>) -> tensor<1x2x4x7xf32>
// CHECK: tgraph.launch @select_block_select_3 grid [4, 2, 1](%[[S]]) : (tensor<1x2x4x7xf32>) -> (tensor<1x2x4x5xi32>, tensor<1x2x4xi32>)
// CHECK-LABEL: func.func @select_block_scores_2(
// CHECK: tile.dot {{.*}} precision = tf32x3
// CHECK-LABEL: func.func @select_block_select_3(
// CHECK: math.exp
// CHECK-NOT: scf.for
// CHECK: scf.while
// CHECK: arith.cmpf olt
// CHECK: tile.reduce({{.*}}) axis = 0 : (tensor<16xf32>, tensor<16xi32>) -> (f32, i32)
// CHECK-NOT: scf.for
// CHECK: tile.scan
// CHECK: tile.store
func.func @select(%q: tensor<1x2x100x16xf16>, %k: tensor<1x2x100x16xf16>) -> (tensor<1x2x4x5xi32>, tensor<1x2x4xi32>) {
  %i, %c = tgraph.block_select %q, %k {block_m = 32, block_n = 16, mass = 0.9 : f32, min_blocks = 1} : tensor<1x2x100x16xf16>, tensor<1x2x100x16xf16> -> tensor<1x2x4x5xi32>, tensor<1x2x4xi32>
  return %i, %c : tensor<1x2x4x5xi32>, tensor<1x2x4xi32>
}

// -----

// More than 32 kept blocks (40 of 50): the two bisections of 31 steps over
// the probabilities' bits (the top-p count, then the n highest), scans for
// ties and positions.
// CHECK-LABEL: func.func @select_many(
// CHECK-LABEL: func.func @select_many_block_select_3(
// CHECK: arith.bitcast {{.*}} : tensor<64xf32> to tensor<64xi32>
// CHECK: scf.for
// CHECK: arith.cmpf oge
// CHECK: tile.scan
// CHECK: scf.for
// CHECK: tile.scan
// CHECK-NOT: scf.while
// CHECK: tile.store
func.func @select_many(%q: tensor<1x1x64x16xf32>, %k: tensor<1x1x800x16xf32>) -> (tensor<1x1x2x40xi32>, tensor<1x1x2xi32>) {
  %i, %c = tgraph.block_select %q, %k {block_m = 32, block_n = 16, mass = 0.9 : f32, min_blocks = 1} : tensor<1x1x64x16xf32>, tensor<1x1x800x16xf32> -> tensor<1x1x2x40xi32>, tensor<1x1x2xi32>
  return %i, %c : tensor<1x1x2x40xi32>, tensor<1x1x2xi32>
}
