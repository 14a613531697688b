//===- Passes.td - Tessera's passes ------------------------*- tablegen -*-===//

#ifndef TESSERA_PASSES_PASSES_TD
#define TESSERA_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def TileCombine : Pass<"tile-combine"> {
  let summary = "Combine tile ops into cheaper equivalents";
  let description = [{
    Peephole rewrites on tile IR, applied with the ops' folders until
    nothing changes:

    - `dot(a, b, 0) + d` becomes `dot(a, b, d)`: the addition rides on the
      accumulator (float and integer).
    - `addptr(addptr(p, x), y)` becomes `addptr(p, x + y)` when the offsets
      have one type, so a loop-carried pointer needs one addition.
    - `broadcast`, `expand_dims`, `reshape` and `trans` of a `splat` become
      one `splat` of the result type.

    Before:
    ```mlir
    %z = arith.constant dense<0.0> : tensor<16x16xf32>
    %p = tile.dot %a, %b, %z : tensor<16x16xf16> * tensor<16x16xf16> -> tensor<16x16xf32>
    %r = arith.addf %p, %acc : tensor<16x16xf32>
    ```
    After:
    ```mlir
    %r = tile.dot %a, %b, %acc : tensor<16x16xf16> * tensor<16x16xf16> -> tensor<16x16xf32>
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::tessera::tile::TileDialect"];
}

#endif // TESSERA_PASSES_PASSES_TD
