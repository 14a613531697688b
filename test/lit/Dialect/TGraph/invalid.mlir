// One case for every verifier rule of tgraph.contract.
// RUN: tessera-opt %s --split-input-file --verify-diagnostics

func.func @no_arrow(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) {
  // expected-error @+1 {{spec "mn,np" has no '->' before the result's indices}}
  %r = tgraph.contract "mn,np" %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @bad_letter(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) {
  // expected-error @+1 {{operand 'mN' has 'N': indices are lowercase letters}}
  %r = tgraph.contract "mN,Np->mp" %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @repeated(%a: tensor<4x4xf32>, %b: tensor<4x2xf32>) {
  // expected-error @+1 {{operand 'mm' repeats 'm'}}
  %r = tgraph.contract "mm,mp->mp" %a, %b : tensor<4x4xf32>, tensor<4x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @result_index_nowhere(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) {
  // expected-error @+1 {{result index 'z' is in no operand}}
  %r = tgraph.contract "mn,np->mz" %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @count(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) {
  // expected-error @+1 {{spec names 3 operands, the op has 2}}
  %r = tgraph.contract "mn,np,pq->mq" %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @one_operand(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{contracts at least two operands}}
  %r = tgraph.contract "mn->m" %a : tensor<4x8xf32> -> tensor<4xf32>
  return
}

// -----

func.func @weights_count(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) {
  // expected-error @+1 {{weights has 1 entries for 2 operands}}
  %r = tgraph.contract "mn,np->mp" %a, %b {weights = array<i1: true>} : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @rank(%a: tensor<4x8x1xf32>, %b: tensor<8x2xf32>) {
  // expected-error @+1 {{operand #0 has rank 3 but "mn" names 2 dimensions}}
  %r = tgraph.contract "mn,np->mp" %a, %b : tensor<4x8x1xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @sizes(%a: tensor<4x8xf32>, %b: tensor<9x2xf32>) {
  // expected-error @+1 {{index 'n' has size 8 and 9}}
  %r = tgraph.contract "mn,np->mp" %a, %b : tensor<4x8xf32>, tensor<9x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @elements(%a: tensor<4x8xf32>, %b: tensor<8x2xf16>) {
  // expected-error @+1 {{operands and result must share one element type, got 'f32' and 'f16'}}
  %r = tgraph.contract "mn,np->mp" %a, %b : tensor<4x8xf32>, tensor<8x2xf16> -> tensor<4x2xf32>
  return
}

// -----

func.func @ints(%a: tensor<4x8xi32>, %b: tensor<8x2xi32>) {
  // expected-error @+1 {{contracts floating-point tensors, got 'i32'}}
  %r = tgraph.contract "mn,np->mp" %a, %b : tensor<4x8xi32>, tensor<8x2xi32> -> tensor<4x2xi32>
  return
}

// -----

func.func @attn_rank(%q: tensor<2x256x64xf16>, %k: tensor<1x2x256x64xf16>) {
  // expected-error @+1 {{q must be (batch, heads, tokens, head_dim), got 'tensor<2x256x64xf16>'}}
  %o = tgraph.attention %q, %k, %k {block_m = 64, block_n = 64} : (tensor<2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>) -> tensor<2x256x64xf16>
  return
}

// -----

func.func @attn_kv_shape(%q: tensor<1x2x256x64xf16>, %k: tensor<1x2x256x32xf16>) {
  // expected-error @+1 {{k and v must both be (1, 2, kv tokens, 64) like q}}
  %o = tgraph.attention %q, %k, %k {block_m = 64, block_n = 64} : (tensor<1x2x256x64xf16>, tensor<1x2x256x32xf16>, tensor<1x2x256x32xf16>) -> tensor<1x2x256x64xf16>
  return
}

// -----

func.func @attn_head_dim(%q: tensor<1x2x256x24xf16>) {
  // expected-error @+1 {{head dim 24 is not supported (16 to 256, a power of two)}}
  %o = tgraph.attention %q, %q, %q {block_m = 64, block_n = 64} : (tensor<1x2x256x24xf16>, tensor<1x2x256x24xf16>, tensor<1x2x256x24xf16>) -> tensor<1x2x256x24xf16>
  return
}

// -----

func.func @attn_block(%q: tensor<1x2x256x64xf16>) {
  // expected-error @+1 {{block sizes are powers of two from 16 to 256, got 48 and 64}}
  %o = tgraph.attention %q, %q, %q {block_m = 48, block_n = 64} : (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>) -> tensor<1x2x256x64xf16>
  return
}

// -----

func.func @attn_scale(%q: tensor<1x2x256x64xf16>) {
  // expected-error @+1 {{scale must be positive}}
  %o = tgraph.attention %q, %q, %q {block_m = 64, block_n = 64, scale = -1.0 : f32} : (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>) -> tensor<1x2x256x64xf16>
  return
}

// -----

func.func @attn_lists(%q: tensor<1x2x256x64xf16>, %i: tensor<1x2x3x8xi32>, %c: tensor<1x2x4xi32>) {
  // expected-error @+1 {{kv lists must be (1, 2, 4, L), got 'tensor<1x2x3x8xi32>'}}
  %o = tgraph.attention %q, %q, %q kv(%i, %c) {block_m = 64, block_n = 64} : (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x3x8xi32>, tensor<1x2x4xi32>) -> tensor<1x2x256x64xf16>
  return
}

// -----

func.func @attn_counts(%q: tensor<1x2x256x64xf16>, %i: tensor<1x2x4x8xi32>, %c: tensor<1x2x4xi64>) {
  // expected-error @+1 {{kv lists and counts are i32}}
  %o = tgraph.attention %q, %q, %q kv(%i, %c) {block_m = 64, block_n = 64} : (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x4x8xi32>, tensor<1x2x4xi64>) -> tensor<1x2x256x64xf16>
  return
}

// -----

func.func @select_both(%q: tensor<1x2x256x64xf16>) {
  // expected-error @+1 {{takes exactly one of mass (top-p) and threshold (mean + k std)}}
  %i, %c = tgraph.block_select %q, %q {block_m = 64, block_n = 64, mass = 0.9 : f32, threshold = 1.0 : f32} : tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16> -> tensor<1x2x4x4xi32>, tensor<1x2x4xi32>
  return
}

// -----

func.func @select_mass(%q: tensor<1x2x256x64xf16>) {
  // expected-error @+1 {{mass must be in (0, 1], got 1.5}}
  %i, %c = tgraph.block_select %q, %q {block_m = 64, block_n = 64, mass = 1.5 : f32} : tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16> -> tensor<1x2x4x4xi32>, tensor<1x2x4xi32>
  return
}

// -----

func.func @select_min(%q: tensor<1x2x256x64xf16>) {
  // expected-error @+1 {{min_blocks must be from 1 to the lists' length 4, got 5}}
  %i, %c = tgraph.block_select %q, %q {block_m = 64, block_n = 64, mass = 0.5 : f32, min_blocks = 5} : tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16> -> tensor<1x2x4x4xi32>, tensor<1x2x4xi32>
  return
}

// -----

func.func @select_too_long(%q: tensor<1x2x256x64xf16>) {
  // expected-error @+1 {{lists of 8 blocks, but k has only 4}}
  %i, %c = tgraph.block_select %q, %q {block_m = 64, block_n = 64, mass = 0.5 : f32} : tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16> -> tensor<1x2x4x8xi32>, tensor<1x2x4xi32>
  return
}

// -----

func.func @token_ratio(%q: tensor<1x2x256x64xf16>) {
  // expected-error @+1 {{keep_ratio must be in (0, 1], got 0}}
  %i, %c = tgraph.token_select %q {block = 64, keep_ratio = 0.0 : f32} : tensor<1x2x256x64xf16> -> tensor<1x2x4x32xi32>, tensor<1x2x4xi32>
  return
}

// -----

func.func @token_count(%q: tensor<1x2x256x64xf16>) {
  // expected-error @+1 {{keeps ceil(keep_ratio x 64) = 32 queries per block, the lists hold 16}}
  %i, %c = tgraph.token_select %q {block = 64, keep_ratio = 0.5 : f32} : tensor<1x2x256x64xf16> -> tensor<1x2x4x16xi32>, tensor<1x2x4xi32>
  return
}

// -----

func.func @cube_multiple(%x: tensor<1x48x16xf32>) {
  // expected-error @+1 {{video dimension 1 (4) is not a multiple of the cube's (3)}}
  %y = tgraph.cube_reorder %x {video = array<i64: 2, 4, 6>, cube = array<i64: 1, 3, 2>} : tensor<1x48x16xf32> -> tensor<1x48x16xf32>
  return
}

// -----

func.func @cube_tokens(%x: tensor<1x50x16xf32>) {
  // expected-error @+1 {{x has 50 tokens, the video 2x4x6 has 48}}
  %y = tgraph.cube_reorder %x {video = array<i64: 2, 4, 6>, cube = array<i64: 1, 2, 2>} : tensor<1x50x16xf32> -> tensor<1x50x16xf32>
  return
}

// -----

func.func @launch_no_kernel(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{kernel @missing is not a function of the module}}
  %o = tgraph.launch @missing grid [1, 1, 1] (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %o : tensor<4xf32>
}

// -----

func.func @k1(%a: !tile.ptr<f32>) { return }
func.func @launch_count(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{kernel @k1 takes 1 pointers, the launch passes 2 tensors (the arguments and the results)}}
  %o = tgraph.launch @k1 grid [1, 1, 1] (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %o : tensor<4xf32>
}

// -----

func.func @k2(%a: !tile.ptr<f16>, %b: !tile.ptr<f32>) { return }
func.func @launch_types(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{kernel parameter 0 is '!tile.ptr<f16>', the launch passes the elements of 'tensor<4xf32>'}}
  %o = tgraph.launch @k2 grid [1, 1, 1] (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %o : tensor<4xf32>
}

// -----

func.func @k3(%a: !tile.ptr<f32>, %b: !tile.ptr<f32>) { return }
func.func @launch_grid(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{grid must be three positive sizes (x, y, z)}}
  %o = tgraph.launch @k3 grid [1, 0, 1] (%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %o : tensor<4xf32>
}

// -----

func.func @grad_do_type(%q: tensor<1x2x64x32xf16>, %do: tensor<1x2x64x32xf32>) {
  // expected-error @+1 {{o and do must have q's type 'tensor<1x2x64x32xf16>'}}
  %dq, %dk, %dv = tgraph.attention_grad %q, %q, %q, %q, %do {block_m = 16, block_n = 16} : (tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf32>) -> (tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>)
  return
}

// -----

func.func @grad_results(%q: tensor<1x2x64x32xf16>, %k: tensor<1x2x32x32xf16>) {
  // expected-error @+1 {{the results dq, dk, dv must have the types of q, k and v}}
  %dq, %dk, %dv = tgraph.attention_grad %q, %k, %k, %q, %q {block_m = 16, block_n = 16} : (tensor<1x2x64x32xf16>, tensor<1x2x32x32xf16>, tensor<1x2x32x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>) -> (tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x32x32xf16>)
  return
}

// -----

func.func @grad_lists(%q: tensor<1x2x64x32xf16>, %i: tensor<1x2x3x2xi32>, %c: tensor<1x2x3xi32>) {
  // expected-error @+1 {{kv}}
  %dq, %dk, %dv = tgraph.attention_grad %q, %q, %q, %q, %q kv(%i, %c) {block_m = 16, block_n = 16} : (tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x3x2xi32>, tensor<1x2x3xi32>) -> (tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>)
  return
}

// -----

func.func @lse_type(%q: tensor<1x2x64x32xf16>) {
  // expected-error @+1 {{lse must be f32 (Z, H, Nq) like q's rows 'tensor<1x2x64x32xf16>', one value per query row; got 'tensor<1x2x32xf32>'}}
  %o, %lse = tgraph.attention %q, %q, %q {block_m = 16, block_n = 16} : (tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>) -> (tensor<1x2x64x32xf16>, tensor<1x2x32xf32>)
  return
}

// -----

func.func @lse_with_query_lists(%q: tensor<1x2x64x32xf16>, %i: tensor<1x2x4x8xi32>, %c: tensor<1x2x4xi32>) {
  // expected-error @+1 {{returns no lse with query lists (pruned rows have none)}}
  %o, %lse = tgraph.attention %q, %q, %q queries(%i, %c) {block_m = 16, block_n = 16} : (tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x4x8xi32>, tensor<1x2x4xi32>) -> (tensor<1x2x64x32xf16>, tensor<1x2x64xf32>)
  return
}

// -----

func.func @grad_lse_type(%q: tensor<1x2x64x32xf16>, %lse: tensor<1x2x64xf16>) {
  // expected-error @+1 {{lse must be f32 (Z, H, Nq)}}
  %dq, %dk, %dv = tgraph.attention_grad %q, %q, %q, %q, %q lse(%lse) {block_m = 16, block_n = 16} : (tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64xf16>) -> (tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>, tensor<1x2x64x32xf16>)
  return
}

// -----

func.func @k4(%a: !tile.ptr<f32>, %b: !tile.ptr<f32>) { return }
func.func @launch_zeroed(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{zeroed names results by index, each once (0 to 0), got 1}}
  %o = tgraph.launch @k4 grid [1, 1, 1] (%x) {zeroed = array<i64: 1>} : (tensor<4xf32>) -> tensor<4xf32>
  return %o : tensor<4xf32>
}
