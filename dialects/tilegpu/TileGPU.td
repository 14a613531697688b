//===- TileGPU.td - What tile tensors mean on a GPU --------*- tablegen -*-===//
//
// Layout encodings for tile tensors (which thread of the program's block
// holds which elements) and the ops that move data between layouts.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_DIALECTS_TILEGPU_TILEGPU_TD
#define TESSERA_DIALECTS_TILEGPU_TILEGPU_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def TileGPU_Dialect : Dialect {
  let name = "tilegpu";
  let cppNamespace = "::tessera::tilegpu";
  let summary = "GPU layouts of tile tensors";
  let description = [{
    A program instance of a tile kernel runs as one block of
    `32 * num_warps` threads (the module's `tilegpu.num_warps`). A tensor's
    encoding says which thread holds which elements; the lowering to NVVM
    gives each thread its elements as SSA values.
  }];
  let useDefaultAttributePrinterParser = 1;
}

class TileGPU_Attr<string name, string attrMnemonic> : AttrDef<TileGPU_Dialect, name> {
  let mnemonic = attrMnemonic;
}

def TileGPU_BlockedEncoding : TileGPU_Attr<"BlockedEncoding", "blocked"> {
  let summary = "a tensor split into per-thread blocks of contiguous elements";
  let description = [{
    Along dimension `d` each thread holds `sizePerThread[d]` contiguous
    elements, the 32 lanes of a warp cover `threadsPerWarp[d]` such blocks
    and the warps `warpsPerCTA[d]` of those; the pattern repeats (each
    thread holding more elements) when the tensor is larger, and elements
    are held by several threads when it is smaller. `order` lists the
    dimensions from fastest varying; lanes and warps are numbered along it.

    ```mlir
    // 1024 floats, 4 warps: each thread holds 2 x 4 elements, as 16-byte vectors.
    tensor<1024xf32, #tilegpu.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>>
    ```
  }];
  let parameters = (ins
    ArrayRefParameter<"unsigned">:$sizePerThread,
    ArrayRefParameter<"unsigned">:$threadsPerWarp,
    ArrayRefParameter<"unsigned">:$warpsPerCTA,
    ArrayRefParameter<"unsigned">:$order);
  let assemblyFormat = [{
    `<` `sizePerThread` `=` `[` $sizePerThread `]` `,` `threadsPerWarp` `=` `[` $threadsPerWarp `]`
    `,` `warpsPerCTA` `=` `[` $warpsPerCTA `]` `,` `order` `=` `[` $order `]` `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    unsigned getRank() const { return getOrder().size(); }
    unsigned getNumWarps() const;
    /// Elements per thread along each dimension for a tensor of `shape`.
    ::llvm::SmallVector<int64_t> getElemsPerThread(::llvm::ArrayRef<int64_t> shape) const;
    /// Total elements each thread holds for a tensor of `shape`.
    int64_t getTotalElemsPerThread(::llvm::ArrayRef<int64_t> shape) const;
    /// The number of elements one block covers along each dimension.
    ::llvm::SmallVector<int64_t> getShapePerCTA() const;
    /// The default layout of a tensor of `shape` with `numWarps` warps: the
    /// last dimension fastest, up to 4 elements per thread along it, lanes
    /// then warps spread from the fastest dimension.
    static BlockedEncodingAttr getDefault(::mlir::MLIRContext *context,
                                          ::llvm::ArrayRef<int64_t> shape,
                                          unsigned numWarps);
  }];
}

class TileGPU_Op<string mnemonic, list<Trait> traits = []>
    : Op<TileGPU_Dialect, mnemonic, traits>;

def TileGPU_ConvertLayoutOp : TileGPU_Op<"convert_layout", [Pure]> {
  let summary = "the same tensor in another layout";
  let description = [{
    Moves the elements of a tensor between threads (through shared memory)
    so that they are held as `result`'s layout says.

    ```mlir
    %b = tilegpu.convert_layout %a : tensor<64x64xf32, #l1> -> tensor<64x64xf32, #l2>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$src);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$src attr-dict `:` type($src) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

#endif // TESSERA_DIALECTS_TILEGPU_TILEGPU_TD
