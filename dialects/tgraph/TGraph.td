//===- TGraph.td - The tgraph dialect ----------------------*- tablegen -*-===//
//
// Graph-level ops bigger than one kernel: contractions the compiler may
// reorder by cost, attention with block-sparse structure.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_DIALECTS_TGRAPH_TGRAPH_TD
#define TESSERA_DIALECTS_TGRAPH_TGRAPH_TD

include "mlir/IR/OpBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/SymbolInterfaces.td"

def TGraph_Dialect : Dialect {
  let name = "tgraph";
  let cppNamespace = "::tessera::tgraph";
  let summary = "Graph-level tensor ops: contractions and attention";
  let description = [{
    Ops over whole tensors that the compiler turns into one or more tile
    kernels, choosing how: the order of a chain of contractions
    (`tgraph-reorder-contractions`), the blocks attention visits.
  }];
}

class TGraph_Op<string mnemonic, list<Trait> traits = []>
    : Op<TGraph_Dialect, mnemonic, traits>;

def TGraph_ContractOp : TGraph_Op<"contract", [Pure]> {
  let summary = "an einsum over named indices";
  let description = [{
    `spec` names each operand's dimensions and the result's with one
    lowercase letter per dimension ("bsq,hdq->bshd"): letters shared by
    operands are summed over unless the result keeps them. An operand may
    not repeat a letter. `weights` marks the operands that are weights
    (the same across calls: products of weights alone may be computed once);
    the others are activations. Sizes are static or dynamic (`?`); a dynamic
    size is named by its letter, the same letter meaning the same size
    everywhere.

    With more than two operands the op is an n-ary contraction whose
    evaluation order is open: `tgraph-reorder-contractions` picks it by
    cost and leaves binary contractions (a chain of contracts, each the only
    user of the previous one, is merged into one first).

    ```mlir
    %scores = tgraph.contract "bsq,hdq,btk,hdk->bhst" %cq, %wuq, %ckv, %wuk
        {weights = array<i1: false, true, false, true>}
        : tensor<1x2048x1536xbf16>, tensor<128x128x1536xbf16>,
          tensor<1x2048x512xbf16>, tensor<128x128x512xbf16> -> tensor<1x128x2048x2048xbf16>
    ```
  }];
  let arguments = (ins StrAttr:$spec, Variadic<AnyRankedTensor>:$operands,
                       OptionalAttr<DenseBoolArrayAttr>:$weights);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $spec $operands attr-dict `:` type($operands) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The operands' index strings and the result's, from `spec`.
    ::llvm::SmallVector<std::string> getInputIndices();
    std::string getOutputIndices();
    /// Whether operand `i` is a weight.
    bool isWeight(unsigned i);
  }];
}

def TGraph_AttentionOp : TGraph_Op<"attention", [Pure, AttrSizedOperandSegments]> {
  let summary = "attention, dense or over listed key/value blocks";
  let description = [{
    `softmax(q k^T * scale) v` per batch and head: q is (Z, H, Nq, D), k and
    v are (Z, H, Nkv, D), the result has q's shape. Queries and keys are
    cut into blocks of `block_m` and `block_n` tokens. Without `kv_index`
    every query attends to every key (`causal`: to keys at or before its
    position); with it, query block qb attends only to the key blocks
    `kv_index[z, h, qb, :kv_count[z, h, qb]]` (BSA's KV sparsity). With
    `q_index`, only the queries `q_index[z, h, qb, :q_count[z, h, qb]]`
    (positions inside the block) are computed; each pruned query takes the
    output of the kept query listed last in its block (token_select lists
    them from least to most similar to the block's centre) (BSA's query
    sparsity). `scale` defaults to 1 / sqrt(D). The optional second result
    `lse` (f32, (Z, H, Nq)) is each query row's log-sum-exp of its scaled
    scores, natural log, +inf for a row that saw no key: the backward
    (tgraph.attention_grad's `lse(...)`) then need not compute it again
    (not with query lists). A list names each key block
    at most once; its count is at most L. The lowered kernels read at most L
    entries and clamp an entry outside [0, Nkv / block_n) into that range
    (tessera.ops checks lists and refuses bad ones; a graph's lists, which
    block_select makes, are not checked).

    ```mlir
    %o = tgraph.attention %q, %k, %v kv(%idx, %cnt) {block_m = 128, block_n = 128}
        : (tensor<1x12x23296x128xbf16>, tensor<1x12x23296x128xbf16>,
           tensor<1x12x23296x128xbf16>, tensor<1x12x182x16xi32>, tensor<1x12x182xi32>)
          -> tensor<1x12x23296x128xbf16>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$k, AnyRankedTensor:$v,
                       Optional<AnyRankedTensor>:$kv_index, Optional<AnyRankedTensor>:$kv_count,
                       Optional<AnyRankedTensor>:$q_index, Optional<AnyRankedTensor>:$q_count,
                       I64Attr:$block_m, I64Attr:$block_n, UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$scale);
  let results = (outs AnyRankedTensor:$result, Optional<AnyRankedTensor>:$lse);
  let assemblyFormat = [{
    $q `,` $k `,` $v (`kv` `(` $kv_index^ `,` $kv_count `)`)?
    (`queries` `(` $q_index^ `,` $q_count `)`)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def TGraph_AttentionGradOp : TGraph_Op<"attention_grad", [Pure, AttrSizedOperandSegments]> {
  let summary = "the gradients of tgraph.attention";
  let description = [{
    For `o = tgraph.attention q, k, v` (dense, `causal`, or over the key
    blocks `kv_index[z, h, qb, :kv_count[z, h, qb]]`, with the same blocks
    and scale) and the gradient `do` of a loss with respect to o: the
    gradients dq (q's type), dk and dv (k's and v's type). Query lists are
    not taken (BSA's query sparsity prunes the forward only). The lists
    follow tgraph.attention's rules; a key block listed twice in one list
    (which they exclude) weighs twice, in the forward and in every
    gradient alike. `lse(%lse)`: the forward's log-sum-exp (its second
    result), which the lowering then reads instead of computing it again.

    ```mlir
    %dq, %dk, %dv = tgraph.attention_grad %q, %k, %v, %o, %do kv(%idx, %cnt)
        {block_m = 128, block_n = 128}
        : (tensor<1x12x23296x128xbf16>, tensor<1x12x23296x128xbf16>,
           tensor<1x12x23296x128xbf16>, tensor<1x12x23296x128xbf16>,
           tensor<1x12x23296x128xbf16>, tensor<1x12x182x16xi32>, tensor<1x12x182xi32>)
          -> (tensor<1x12x23296x128xbf16>, tensor<1x12x23296x128xbf16>,
              tensor<1x12x23296x128xbf16>)
    ```
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$k, AnyRankedTensor:$v,
                       AnyRankedTensor:$o, AnyRankedTensor:$d_o, Optional<AnyRankedTensor>:$lse,
                       Optional<AnyRankedTensor>:$kv_index, Optional<AnyRankedTensor>:$kv_count,
                       I64Attr:$block_m, I64Attr:$block_n, UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$scale);
  let results = (outs AnyRankedTensor:$dq, AnyRankedTensor:$dk, AnyRankedTensor:$dv);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $o `,` $d_o (`lse` `(` $lse^ `)`)? (`kv` `(` $kv_index^ `,` $kv_count `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def TGraph_BlockSelectOp : TGraph_Op<"block_select", [Pure]> {
  let summary = "BSA's key/value block selection";
  let description = [{
    Mean-pools q and k over blocks of `block_m` / `block_n` tokens, scores
    the blocks (softmax over key blocks of the pooled q k^T / sqrt(D)), and
    keeps for each query block either the fewest key blocks whose score
    mass reaches `mass` (top-p, 0 < p <= 1) or those scoring above
    mean + `threshold` x std; at least `min_blocks` and at most L (the
    index result's last dimension). Results: the kept blocks' indices
    (Z, H, Nq/block_m, L) and their count (Z, H, Nq/block_m).

    ```mlir
    %idx, %cnt = tgraph.block_select %q, %k {block_m = 128, block_n = 128, mass = 0.9 : f32, min_blocks = 1}
        : tensor<1x12x23296x128xbf16>, tensor<1x12x23296x128xbf16>
          -> tensor<1x12x182x32xi32>, tensor<1x12x182xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$k, I64Attr:$block_m,
                       I64Attr:$block_n, OptionalAttr<F32Attr>:$mass,
                       OptionalAttr<F32Attr>:$threshold, DefaultValuedAttr<I64Attr, "1">:$min_blocks);
  let results = (outs AnyRankedTensor:$index, AnyRankedTensor:$count);
  let assemblyFormat = [{
    $q `,` $k attr-dict `:` type($q) `,` type($k) `->` type($index) `,` type($count)
  }];
  let hasVerifier = 1;
}

def TGraph_TokenSelectOp : TGraph_Op<"token_select", [Pure]> {
  let summary = "BSA's query selection inside blocks";
  let description = [{
    Inside each block of `block` tokens, ranks the queries by cosine
    similarity to the block's centre token and keeps the ceil(`keep_ratio` x
    block) least similar (the least redundant). Results: the kept positions
    in their block (Z, H, N/block, K) and their count (Z, H, N/block).

    ```mlir
    %kept, %n = tgraph.token_select %q {block = 128, keep_ratio = 0.5 : f32}
        : tensor<1x12x23296x128xbf16> -> tensor<1x12x182x64xi32>, tensor<1x12x182xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$q, I64Attr:$block, F32Attr:$keep_ratio);
  let results = (outs AnyRankedTensor:$index, AnyRankedTensor:$count);
  let assemblyFormat = "$q attr-dict `:` type($q) `->` type($index) `,` type($count)";
  let hasVerifier = 1;
}

def TGraph_CubeReorderOp : TGraph_Op<"cube_reorder", [Pure]> {
  let summary = "reorder a video's tokens so each cube is contiguous (or back)";
  let description = [{
    x is (Z, S, C) with S = T x Hv x Wv tokens of a latent video in (t, h, w)
    order. The tokens are reordered cube by cube (cubes of `cube` = [ct, ch,
    cw] tokens, in (t, h, w) order of cubes, each cube's tokens in (t, h, w)
    order), so a cube is a contiguous block of the sequence; `inverse` puts
    them back. Each video dimension must be a multiple of the cube's.

    ```mlir
    %y = tgraph.cube_reorder %x {video = array<i64: 61, 56, 104>, cube = array<i64: 1, 8, 8>}
        : tensor<1x355264x1536xbf16> -> tensor<1x355264x1536xbf16>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$x, DenseI64ArrayAttr:$video, DenseI64ArrayAttr:$cube,
                       UnitAttr:$inverse);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
  let hasVerifier = 1;
}

def TGraph_LaunchOp : TGraph_Op<"launch", [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "a tile kernel run over a grid, on whole tensors";
  let description = [{
    Runs the tile kernel `kernel` (a `func.func` of the module) over `grid`
    program instances (x, y, z). The kernel's parameters are pointers to
    the elements of `args`, in order, then to the results', each tensor
    held row-major and contiguous; the kernel writes every element of the
    results (`zeroed`: results that start as zeros, which the kernel adds
    into, with atomics; their elements need not all be written). What the
    lowering of a graph op (`tgraph-lower-attention`) leaves in its place.

    ```mlir
    %o = tgraph.launch @attention_kernel grid [2, 12, 1] (%q, %k, %v)
        : (tensor<1x12x100x64xf16>, tensor<1x12x100x64xf16>, tensor<1x12x100x64xf16>)
          -> tensor<1x12x100x64xf16>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$kernel, DenseI64ArrayAttr:$grid,
                       Variadic<AnyRankedTensor>:$args,
                       OptionalAttr<DenseI64ArrayAttr>:$zeroed);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let builders = [
    OpBuilder<(ins "::mlir::TypeRange":$resultTypes, "::mlir::FlatSymbolRefAttr":$kernel,
                   "::mlir::DenseI64ArrayAttr":$grid, "::mlir::ValueRange":$args), [{
      build($_builder, $_state, resultTypes, kernel, grid, args, ::mlir::DenseI64ArrayAttr());
    }]>
  ];
  let assemblyFormat = [{
    $kernel `grid` $grid `(` $args `)` attr-dict `:` functional-type($args, $results)
  }];
  let hasVerifier = 1;
}

#endif // TESSERA_DIALECTS_TGRAPH_TGRAPH_TD
