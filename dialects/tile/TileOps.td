//===- TileOps.td - Operations of the tile dialect ---------*- tablegen -*-===//
//
// Ops in the spirit of Triton's `tt` dialect. Every op states its shape and
// type rules in a verifier; the invalid cases live in
// test/lit/Dialect/Tile/invalid.mlir.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_DIALECTS_TILE_TILEOPS_TD
#define TESSERA_DIALECTS_TILE_TILEOPS_TD

include "dialects/tile/TileBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/IR/OpAsmInterface.td"

//===----------------------------------------------------------------------===//
// The grid
//===----------------------------------------------------------------------===//

def Tile_ProgramIdOp : Tile_Op<"program_id", [Pure]> {
  let summary = "index of this program instance along a grid axis";
  let description = [{
    Returns the index, along grid axis `x`, `y` or `z`, of the program
    instance that executes the kernel (`tl.program_id(axis)`).

    ```mlir
    %pid = tile.program_id x : i32
    ```
  }];
  let arguments = (ins Tile_ProgramAxisAttr:$axis);
  let results = (outs I32:$result);
  let assemblyFormat = "$axis attr-dict `:` type($result)";
}

def Tile_NumProgramsOp : Tile_Op<"num_programs", [Pure]> {
  let summary = "number of program instances along a grid axis";
  let description = [{
    Returns the size of the launch grid along axis `x`, `y` or `z`
    (`tl.num_programs(axis)`).

    ```mlir
    %n = tile.num_programs y : i32
    ```
  }];
  let arguments = (ins Tile_ProgramAxisAttr:$axis);
  let results = (outs I32:$result);
  let assemblyFormat = "$axis attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Building and reshaping tensors
//===----------------------------------------------------------------------===//

def Tile_MakeRangeOp : Tile_Op<"make_range", [Pure]> {
  let summary = "the integers [start, end) as a 1-D tensor";
  let description = [{
    Produces `tensor<(end - start)xi32>` holding `start, start + 1, ...,
    end - 1` (`tl.arange(start, end)`). `end - start` must be a power of two
    like every tensor dimension; `0 <= start < end`.

    ```mlir
    %r = tile.make_range 0 to 128 : tensor<128xi32>
    ```
  }];
  let arguments = (ins I32Attr:$start, I32Attr:$end);
  let results = (outs TensorOf<[I32]>:$result);
  let assemblyFormat = "$start `to` $end attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Tile_SplatOp : Tile_Op<"splat", [Pure]> {
  let summary = "a tensor with every element equal to a scalar";
  let description = [{
    Fills a tensor with one scalar. The tensor's element type is the
    scalar's type.

    ```mlir
    %t = tile.splat %x : f32 -> tensor<64x64xf32>
    %p = tile.splat %base : !tile.ptr<f16> -> tensor<128x!tile.ptr<f16>>
    ```
  }];
  let arguments = (ins Tile_Scalar:$src);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = "$src attr-dict `:` type($src) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Tile_BroadcastOp : Tile_Op<"broadcast", [Pure, SameOperandsAndResultElementType]> {
  let summary = "repeat a tensor along its size-1 dimensions";
  let description = [{
    Broadcasts a tensor to a shape of the same rank; each dimension of the
    source must be 1 or equal to the result's.

    ```mlir
    %b = tile.broadcast %a : tensor<1x128xf32> -> tensor<64x128xf32>
    ```
  }];
  let arguments = (ins Tile_Tensor:$src);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = "$src attr-dict `:` type($src) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Tile_ExpandDimsOp : Tile_Op<"expand_dims", [Pure, SameOperandsAndResultElementType]> {
  let summary = "insert a size-1 dimension";
  let description = [{
    Inserts a dimension of size 1 at position `axis` (`x[:, None]` in the
    language), `0 <= axis <= rank`.

    ```mlir
    %e = tile.expand_dims %r, axis = 1 : tensor<128xi32> -> tensor<128x1xi32>
    ```
  }];
  let arguments = (ins Tile_Tensor:$src, I32Attr:$axis);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = "$src `,` `axis` `=` $axis attr-dict `:` type($src) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Tile_ReshapeOp : Tile_Op<"reshape", [Pure, SameOperandsAndResultElementType]> {
  let summary = "view a tensor with another shape of the same size";
  let description = [{
    Reinterprets a tensor in row-major order with another shape holding the
    same number of elements. With `allow_reorder`, the compiler may also
    permute the elements (useful when only a reduction follows).

    ```mlir
    %r = tile.reshape %a : tensor<16x8xf32> -> tensor<128xf32>
    %s = tile.reshape %a allow_reorder : tensor<16x8xf32> -> tensor<8x16xf32>
    ```
  }];
  let arguments = (ins Tile_Tensor:$src, UnitAttr:$allowReorder);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = [{
    $src (`allow_reorder` $allowReorder^)? attr-dict `:` type($src) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Tile_TransOp : Tile_Op<"trans", [Pure, SameOperandsAndResultElementType]> {
  let summary = "permute the dimensions of a tensor";
  let description = [{
    Result dimension `i` is source dimension `order[i]`; `order` is a
    permutation of `[0, rank)`.

    ```mlir
    %t = tile.trans %a, order = [1, 0] : tensor<16x32xf16> -> tensor<32x16xf16>
    ```
  }];
  let arguments = (ins Tile_Tensor:$src, DenseI32ArrayAttr:$order);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = "$src `,` `order` `=` $order attr-dict `:` type($src) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Pointers and memory
//===----------------------------------------------------------------------===//

def Tile_AddPtrOp : Tile_Op<"addptr", [Pure, AllTypesMatch<["ptr", "result"]>]> {
  let summary = "offset pointers by a number of elements";
  let description = [{
    `ptr + offset`, counted in elements of the pointee type. The pointer
    and the offset are both scalars or both tensors of the same shape.

    ```mlir
    %q = tile.addptr %p, %off : tensor<128x!tile.ptr<f32>>, tensor<128xi32>
    %s = tile.addptr %base, %i : !tile.ptr<f16>, i64
    ```
  }];
  let arguments = (ins Tile_PtrLike:$ptr, Tile_IntLike:$offset);
  let results = (outs Tile_PtrLike:$result);
  let assemblyFormat = "$ptr `,` $offset attr-dict `:` type($ptr) `,` type($offset)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Tile_LoadOp : Tile_Op<"load", [
    AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
    TypesMatchWith<"result type is the pointee type of ptr", "ptr", "result",
                   "::tessera::tile::getPointeeType($_self)">,
    TypesMatchWith<"mask is i1 with the shape of ptr", "ptr", "mask",
                   "::tessera::tile::getI1SameShape($_self)",
                   "!::llvm::cast<::tessera::tile::LoadOp>($_op).getMask() || std::equal_to<>()">,
    TypesMatchWith<"other has the result type", "ptr", "other",
                   "::tessera::tile::getPointeeType($_self)",
                   "!::llvm::cast<::tessera::tile::LoadOp>($_op).getOther() || std::equal_to<>()">]> {
  let summary = "load through a pointer or a tensor of pointers";
  let description = [{
    Loads the element behind each pointer. Where `mask` is false nothing is
    read and the result is `other` (undefined without `other`). `other`
    requires `mask`. Optional hints: `cache = ca|cg|cs|cv`, `evict =
    evict_normal|evict_first|evict_last`, and `volatile` (never merged or
    removed).

    ```mlir
    %v = tile.load %p : tensor<128x!tile.ptr<f32>>
    %w = tile.load %p, %m, %zero cache = cg : tensor<128x!tile.ptr<f32>>
    %s = tile.load %q : !tile.ptr<i32>
    ```
  }];
  let arguments = (ins
    Tile_PtrLike:$ptr,
    Optional<Tile_BoolLike>:$mask,
    Optional<Tile_Type>:$other,
    OptionalAttr<Tile_CacheModifierAttr>:$cache,
    OptionalAttr<Tile_EvictionPolicyAttr>:$evict,
    UnitAttr:$isVolatile);
  let results = (outs Tile_Type:$result);
  let assemblyFormat = [{
    $ptr (`,` $mask^)? (`,` $other^)?
    (`cache` `=` $cache^)? (`evict` `=` $evict^)? (`volatile` $isVolatile^)?
    attr-dict `:` type($ptr)
  }];
  let builders = [
    OpBuilder<(ins "::mlir::Value":$ptr, CArg<"::mlir::Value", "{}">:$mask,
                   CArg<"::mlir::Value", "{}">:$other)>
  ];
  let hasVerifier = 1;
}

def Tile_StoreOp : Tile_Op<"store", [
    MemoryEffects<[MemWrite]>,
    TypesMatchWith<"value type is the pointee type of ptr", "ptr", "value",
                   "::tessera::tile::getPointeeType($_self)">,
    TypesMatchWith<"mask is i1 with the shape of ptr", "ptr", "mask",
                   "::tessera::tile::getI1SameShape($_self)",
                   "!::llvm::cast<::tessera::tile::StoreOp>($_op).getMask() || std::equal_to<>()">]> {
  let summary = "store through a pointer or a tensor of pointers";
  let description = [{
    Stores each element of `value` where its pointer points, skipping the
    elements whose `mask` is false.

    ```mlir
    tile.store %p, %v, %m : tensor<128x!tile.ptr<f32>>
    tile.store %q, %s cache = wt : !tile.ptr<i32>
    ```
  }];
  let arguments = (ins
    Tile_PtrLike:$ptr,
    Tile_Type:$value,
    Optional<Tile_BoolLike>:$mask,
    OptionalAttr<Tile_CacheModifierAttr>:$cache,
    OptionalAttr<Tile_EvictionPolicyAttr>:$evict);
  let assemblyFormat = [{
    $ptr `,` $value (`,` $mask^)?
    (`cache` `=` $cache^)? (`evict` `=` $evict^)?
    attr-dict `:` type($ptr)
  }];
  let hasVerifier = 1;
}

def Tile_DescriptorLoadOp : Tile_Op<"descriptor_load", [
    AttrSizedOperandSegments, MemoryEffects<[MemRead]>]> {
  let summary = "load a block of a strided N-D array (a tensor descriptor)";
  let description = [{
    The block of the result's shape at `offsets` of the array of `shape`
    (i32) and element `strides` (i64; the last one is 1) whose first
    element is at `base`. Elements outside the array read as zero. This is
    `tl.make_tensor_descriptor(base, shape, strides, block).load(offsets)`:
    on sm_90a, loads of loops feeding tensor-core dots become TMA copies
    (the array's description is then a kernel parameter the launcher
    encodes); elsewhere they are element pointers with bounds masks.

    ```mlir
    %t = tile.descriptor_load %a[%m, %k] shape [%M, %K] strides [%sa, %c1]
        : !tile.ptr<f16> -> tensor<128x64xf16>
    ```
  }];
  let arguments = (ins Tile_Ptr:$base, Variadic<I32>:$shape, Variadic<I64>:$strides,
                   Variadic<I32>:$offsets);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = [{
    $base `[` $offsets `]` `shape` ` ` `[` $shape `]` `strides` ` ` `[` $strides `]`
    attr-dict `:` qualified(type($base)) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Tile_DescriptorStoreOp : Tile_Op<"descriptor_store", [
    AttrSizedOperandSegments, MemoryEffects<[MemWrite]>]> {
  let summary = "store a block into a strided N-D array (a tensor descriptor)";
  let description = [{
    Stores `value` as the block at `offsets` of the array described as for
    `tile.descriptor_load`; elements outside the array are not written.

    ```mlir
    tile.descriptor_store %c[%m, %n], %v shape [%M, %N] strides [%sc, %c1]
        : !tile.ptr<f16>, tensor<128x128xf16>
    ```
  }];
  let arguments = (ins Tile_Ptr:$base, Variadic<I32>:$shape, Variadic<I64>:$strides,
                   Variadic<I32>:$offsets, Tile_Tensor:$value);
  let assemblyFormat = [{
    $base `[` $offsets `]` `,` $value `shape` ` ` `[` $shape `]` `strides` ` ` `[` $strides `]`
    attr-dict `:` qualified(type($base)) `,` type($value)
  }];
  let hasVerifier = 1;
}

def Tile_DescriptorAtomicAddOp : Tile_Op<"descriptor_atomic_add", [
    AttrSizedOperandSegments, MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "add a block into a strided N-D array, atomically (a tensor descriptor)";
  let description = [{
    Adds `value` element by element, atomically (relaxed, device scope),
    into the block at `offsets` of the array described as for
    `tile.descriptor_load`; elements outside the array are left alone.
    Integers of 32 or 64 bits and floats (not fp8). This is
    `tl.make_tensor_descriptor(...).atomic_add(offsets, value)` (a backward
    pass's partial dq added up across programs). On sm_90a a 2-D f32 or
    i32 block (rows of whole 16-byte units, at most 256 x 256, the array
    described by kernel arguments and constants) is one TMA bulk reduction;
    elsewhere `tile-lower-descriptors` makes it `tile.atomic_rmw` on element
    pointers.

    ```mlir
    tile.descriptor_atomic_add %dq[%m, %c0], %v shape [%M, %D] strides [%sd, %c1]
        : !tile.ptr<f32>, tensor<64x128xf32>
    ```
  }];
  let arguments = (ins Tile_Ptr:$base, Variadic<I32>:$shape, Variadic<I64>:$strides,
                   Variadic<I32>:$offsets, Tile_Tensor:$value);
  let assemblyFormat = [{
    $base `[` $offsets `]` `,` $value `shape` ` ` `[` $shape `]` `strides` ` ` `[` $strides `]`
    attr-dict `:` qualified(type($base)) `,` type($value)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Matrix multiply
//===----------------------------------------------------------------------===//

def Tile_DotOp : Tile_Op<"dot", [Pure, AllTypesMatch<["c", "d"]>]> {
  let summary = "matrix product with accumulation: d = a * b + c";
  let description = [{
    `a` is `[M, K]`, `b` is `[K, N]`, `c` and the result `[M, N]`, with an
    optional leading batch dimension shared by all four. Inputs are both
    floats of one type (two fp8 formats may mix) or both `i8`; the
    accumulator is `f32` (or `f16` for f16 inputs, `f64` for f64 inputs),
    `i32` for `i8`. `precision` chooses how fp32 inputs use tensor cores:
    `ieee` (default), `tf32`, or `tf32x3`.

    ```mlir
    %d = tile.dot %a, %b, %c : tensor<64x32xf16> * tensor<32x128xf16> -> tensor<64x128xf32>
    %e = tile.dot %x, %y, %acc, precision = tf32 : tensor<16x16xf32> * tensor<16x16xf32> -> tensor<16x16xf32>
    ```
  }];
  let arguments = (ins
    Tile_Tensor:$a,
    Tile_Tensor:$b,
    Tile_Tensor:$c,
    DefaultValuedAttr<Tile_InputPrecisionAttr, "::tessera::tile::InputPrecision::IEEE">:$inputPrecision,
    DefaultValuedAttr<I32Attr, "0">:$maxNumImpreciseAcc);
  let results = (outs Tile_Tensor:$d);
  let assemblyFormat = [{
    $a `,` $b `,` $c (`,` `precision` `=` $inputPrecision^)? attr-dict
    `:` type($a) `*` type($b) `->` type($d)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Reductions and scans
//===----------------------------------------------------------------------===//

def Tile_ReduceOp : Tile_Op<"reduce", [RecursiveMemoryEffects]> {
  let summary = "reduce tensors along an axis with a combining region";
  let description = [{
    Reduces N tensors of one shape along `axis` together (N = 2 carries an
    index beside a value for argmax). The region takes 2N scalars, the N
    accumulated values then the N new ones, and yields N combined values
    with `tile.reduce.return`. Each result has the source shape without
    `axis`, or is a scalar when the source is 1-D.

    ```mlir
    %s = tile.reduce(%x) axis = 1 : (tensor<64x128xf32>) -> tensor<64xf32> {
    ^bb0(%acc: f32, %v: f32):
      %sum = arith.addf %acc, %v : f32
      tile.reduce.return %sum : f32
    }
    ```
  }];
  let arguments = (ins Variadic<Tile_Tensor>:$srcs, I32Attr:$axis);
  let results = (outs Variadic<Tile_Type>:$result);
  let regions = (region SizedRegion<1>:$combineOp);
  let assemblyFormat = [{
    `(` $srcs `)` `axis` `=` $axis attr-dict `:` functional-type($srcs, $result) $combineOp
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

def Tile_ScanOp : Tile_Op<"scan", [RecursiveMemoryEffects]> {
  let summary = "inclusive scan of tensors along an axis with a combining region";
  let description = [{
    Inclusive prefix combination along `axis` (`tl.cumsum`,
    `tl.associative_scan`), from the end when `reverse` is set. The region
    is as for `tile.reduce`: 2N scalars in, N out. Results have the types of
    the sources.

    ```mlir
    %c = tile.scan(%x) axis = 0 : (tensor<128xi32>) -> tensor<128xi32> {
    ^bb0(%acc: i32, %v: i32):
      %s = arith.addi %acc, %v : i32
      tile.reduce.return %s : i32
    }
    ```
  }];
  let arguments = (ins Variadic<Tile_Tensor>:$srcs, I32Attr:$axis, UnitAttr:$reverse);
  let results = (outs Variadic<Tile_Tensor>:$result);
  let regions = (region SizedRegion<1>:$combineOp);
  let assemblyFormat = [{
    `(` $srcs `)` `axis` `=` $axis (`reverse` $reverse^)? attr-dict `:`
    functional-type($srcs, $result) $combineOp
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

def Tile_ReduceReturnOp : Tile_Op<"reduce.return", [
    Pure, Terminator, ReturnLike, ParentOneOf<["ReduceOp", "ScanOp"]>]> {
  let summary = "yield the combined values of a reduce or scan region";
  let description = [{
    Terminates the combining region of `tile.reduce` and `tile.scan`.

    ```mlir
    tile.reduce.return %sum, %idx : f32, i32
    ```
  }];
  let arguments = (ins Variadic<Tile_Scalar>:$result);
  let assemblyFormat = "attr-dict ($result^ `:` type($result))?";
}

//===----------------------------------------------------------------------===//
// Atomics
//===----------------------------------------------------------------------===//

def Tile_AtomicRMWOp : Tile_Op<"atomic_rmw", [
    MemoryEffects<[MemRead, MemWrite]>,
    TypesMatchWith<"val type is the pointee type of ptr", "ptr", "val",
                   "::tessera::tile::getPointeeType($_self)">,
    TypesMatchWith<"result type is the pointee type of ptr", "ptr", "result",
                   "::tessera::tile::getPointeeType($_self)">,
    TypesMatchWith<"mask is i1 with the shape of ptr", "ptr", "mask",
                   "::tessera::tile::getI1SameShape($_self)",
                   "!::llvm::cast<::tessera::tile::AtomicRMWOp>($_op).getMask() || std::equal_to<>()">]> {
  let summary = "atomic read-modify-write";
  let description = [{
    Atomically applies `kind` to the element behind each pointer and `val`,
    returning the old values. `add` is for integers, `fadd` for floats,
    `and|or|xor|umax|umin` for integers, `max|min|xchg` for both. Elements
    whose `mask` is false are left alone.

    ```mlir
    %old = tile.atomic_rmw fadd, acq_rel, gpu, %p, %v, %m : tensor<128x!tile.ptr<f32>>
    %c = tile.atomic_rmw add, relaxed, gpu, %counter, %one : !tile.ptr<i32>
    ```
  }];
  let arguments = (ins
    Tile_RMWKindAttr:$kind,
    Tile_MemSemanticAttr:$sem,
    Tile_MemScopeAttr:$scope,
    Tile_PtrLike:$ptr,
    Tile_Type:$val,
    Optional<Tile_BoolLike>:$mask);
  let results = (outs Tile_Type:$result);
  let assemblyFormat = [{
    $kind `,` $sem `,` $scope `,` $ptr `,` $val (`,` $mask^)? attr-dict `:` type($ptr)
  }];
  let hasVerifier = 1;
}

def Tile_AtomicCASOp : Tile_Op<"atomic_cas", [
    MemoryEffects<[MemRead, MemWrite]>,
    TypesMatchWith<"cmp type is the pointee type of ptr", "ptr", "cmp",
                   "::tessera::tile::getPointeeType($_self)">,
    TypesMatchWith<"val type is the pointee type of ptr", "ptr", "val",
                   "::tessera::tile::getPointeeType($_self)">,
    TypesMatchWith<"result type is the pointee type of ptr", "ptr", "result",
                   "::tessera::tile::getPointeeType($_self)">]> {
  let summary = "atomic compare-and-swap";
  let description = [{
    Atomically stores `val` where the element behind the pointer equals
    `cmp`; returns the old value. Elements are 16-, 32- or 64-bit.

    ```mlir
    %old = tile.atomic_cas acq_rel, gpu, %lock, %zero, %one : !tile.ptr<i32>
    ```
  }];
  let arguments = (ins
    Tile_MemSemanticAttr:$sem,
    Tile_MemScopeAttr:$scope,
    Tile_PtrLike:$ptr,
    Tile_Type:$cmp,
    Tile_Type:$val);
  let results = (outs Tile_Type:$result);
  let assemblyFormat = [{
    $sem `,` $scope `,` $ptr `,` $cmp `,` $val attr-dict `:` type($ptr)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Debugging
//===----------------------------------------------------------------------===//

def Tile_PrintOp : Tile_Op<"print", [MemoryEffects<[MemWrite]>]> {
  let summary = "print values from every program instance";
  let description = [{
    Prints `prefix` followed by the operands (`tl.device_print`), in
    hexadecimal with `hex` (integers only).

    ```mlir
    tile.print "x = " %x : tensor<128xf32>
    tile.print "pid " hex %pid : i32
    ```
  }];
  let arguments = (ins StrAttr:$prefix, UnitAttr:$hex, Variadic<Tile_Type>:$args);
  let assemblyFormat = [{
    $prefix (`hex` $hex^)? attr-dict ($args^ `:` type($args))?
  }];
  let hasVerifier = 1;
}

def Tile_AssertOp : Tile_Op<"assert", [MemoryEffects<[MemWrite]>]> {
  let summary = "abort the kernel where a condition is false";
  let description = [{
    Reports `message` and stops the kernel if any element of `condition`
    is false (`tl.device_assert`).

    ```mlir
    tile.assert %ok, "index out of range" : tensor<128xi1>
    ```
  }];
  let arguments = (ins Tile_BoolLike:$condition, StrAttr:$message);
  let assemblyFormat = "$condition `,` $message attr-dict `:` type($condition)";
  let hasVerifier = 1;
}

#endif // TESSERA_DIALECTS_TILE_TILEOPS_TD
