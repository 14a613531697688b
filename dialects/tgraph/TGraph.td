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

#endif // TESSERA_DIALECTS_TGRAPH_TGRAPH_TD
