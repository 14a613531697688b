//===- TileBase.td - The tile dialect, its types and enums --*- tablegen -*-===//
//
// The tile dialect is Tessera's kernel language: one program instance at a
// time, values are scalars or statically shaped tensors of scalars or pointers.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_DIALECTS_TILE_TILEBASE_TD
#define TESSERA_DIALECTS_TILE_TILEBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Tile_Dialect : Dialect {
  let name = "tile";
  let cppNamespace = "::tessera::tile";
  let summary = "Tile-level kernel language (one program instance over tensors)";
  let description = [{
    The `tile` dialect describes what one program instance of a grid computes.
    Values are scalars (integers, floats, `!tile.ptr`) or ranked tensors of
    them with static power-of-two dimensions. Elementwise math uses `arith`
    and `math`, control flow `scf`, functions `func`; this dialect adds what
    those lack: the grid (`program_id`, `num_programs`), tensor construction
    and shape changes, pointer arithmetic, masked memory access, `dot`,
    reductions and scans with a combining region, atomics, `print`, `assert`.

    ```mlir
    func.func @add(%x: !tile.ptr<f32>, %y: !tile.ptr<f32>, %n: i32) {
      %pid = tile.program_id x : i32
      %c = arith.constant 128 : i32
      %base = arith.muli %pid, %c : i32
      %r = tile.make_range 0 to 128 : tensor<128xi32>
      %b = tile.splat %base : i32 -> tensor<128xi32>
      %off = arith.addi %b, %r : tensor<128xi32>
      %nn = tile.splat %n : i32 -> tensor<128xi32>
      %m = arith.cmpi slt, %off, %nn : tensor<128xi32>
      %px = tile.splat %x : !tile.ptr<f32> -> tensor<128x!tile.ptr<f32>>
      %p = tile.addptr %px, %off : tensor<128x!tile.ptr<f32>>, tensor<128xi32>
      %v = tile.load %p, %m : tensor<128x!tile.ptr<f32>>
      ...
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::func::FuncDialect"
  ];
  let useDefaultTypePrinterParser = 1;
  let hasConstantMaterializer = 1;
}

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

class Tile_TypeDef<string name, string typeMnemonic, list<Trait> traits = []>
    : TypeDef<Tile_Dialect, name, traits> {
  let mnemonic = typeMnemonic;
}

def Tile_PtrType : Tile_TypeDef<"Pointer", "ptr"> {
  let summary = "pointer to a scalar in an address space";
  let description = [{
    A pointer to one element of type `pointeeType` in address space
    `addressSpace` (1, global memory, by default). Pointers are values like
    any other scalar: they can be splatted into tensors, offset with
    `tile.addptr` and dereferenced with `tile.load` / `tile.store`.

    ```mlir
    !tile.ptr<f16>          // global memory
    !tile.ptr<i32, 3>       // address space 3 (GPU shared memory)
    !tile.ptr<!tile.ptr<f32>>
    ```
  }];
  let parameters = (ins "::mlir::Type":$pointeeType,
                        DefaultValuedParameter<"int", "1">:$addressSpace);
  let assemblyFormat = "`<` $pointeeType (`,` $addressSpace^)? `>`";
  let builders = [
    TypeBuilderWithInferredContext<(ins "::mlir::Type":$pointeeType,
                                        CArg<"int", "1">:$addressSpace), [{
      return $_get(pointeeType.getContext(), pointeeType, addressSpace);
    }]>
  ];
  let genVerifyDecl = 1;
  let skipDefaultBuilders = 1;
}

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Tile_Float : AnyTypeOf<[F8E4M3FN, F8E5M2, F16, BF16, F32, F64], "floating-point">;
def Tile_Int : AnyTypeOf<[I1, I8, I16, I32, I64], "integer">;
def Tile_Ptr : Type<CPred<"::llvm::isa<::tessera::tile::PointerType>($_self)">,
                    "tile pointer", "::tessera::tile::PointerType">;
def Tile_Scalar : AnyTypeOf<[Tile_Float, Tile_Int, Tile_Ptr], "scalar">;

def Tile_FloatTensor : RankedTensorOf<[Tile_Float]>;
def Tile_IntTensor : RankedTensorOf<[Tile_Int]>;
def Tile_PtrTensor : RankedTensorOf<[Tile_Ptr]>;
def Tile_BoolTensor : RankedTensorOf<[I1]>;
def Tile_Tensor : RankedTensorOf<[Tile_Float, Tile_Int, Tile_Ptr]>;

def Tile_FloatLike : AnyTypeOf<[Tile_Float, Tile_FloatTensor]>;
def Tile_IntLike : AnyTypeOf<[Tile_Int, Tile_IntTensor]>;
def Tile_PtrLike : AnyTypeOf<[Tile_Ptr, Tile_PtrTensor]>;
def Tile_BoolLike : AnyTypeOf<[I1, Tile_BoolTensor]>;
def Tile_Type : AnyTypeOf<[Tile_Scalar, Tile_Tensor], "tile value">;

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Tile_ProgramAxisAttr : I32EnumAttr<"ProgramAxis", "axis of the launch grid", [
    I32EnumAttrCase<"X", 0, "x">,
    I32EnumAttrCase<"Y", 1, "y">,
    I32EnumAttrCase<"Z", 2, "z">]> {
  let cppNamespace = "::tessera::tile";
}

def Tile_CacheModifierAttr : I32EnumAttr<"CacheModifier", "cache operator of a memory access", [
    I32EnumAttrCase<"CA", 1, "ca">,   // cache at all levels
    I32EnumAttrCase<"CG", 2, "cg">,   // cache in L2 only
    I32EnumAttrCase<"CS", 3, "cs">,   // streaming, likely accessed once
    I32EnumAttrCase<"CV", 4, "cv">,   // do not cache, fetch again
    I32EnumAttrCase<"WB", 5, "wb">,   // write back
    I32EnumAttrCase<"WT", 6, "wt">]> {  // write through
  let cppNamespace = "::tessera::tile";
}

def Tile_EvictionPolicyAttr : I32EnumAttr<"EvictionPolicy", "cache eviction priority", [
    I32EnumAttrCase<"Normal", 1, "evict_normal">,
    I32EnumAttrCase<"EvictFirst", 2, "evict_first">,
    I32EnumAttrCase<"EvictLast", 3, "evict_last">]> {
  let cppNamespace = "::tessera::tile";
}

def Tile_RMWKindAttr : I32EnumAttr<"RMWKind", "atomic read-modify-write operation", [
    I32EnumAttrCase<"Add", 1, "add">,
    I32EnumAttrCase<"FAdd", 2, "fadd">,
    I32EnumAttrCase<"Max", 3, "max">,
    I32EnumAttrCase<"Min", 4, "min">,
    I32EnumAttrCase<"UMax", 5, "umax">,
    I32EnumAttrCase<"UMin", 6, "umin">,
    I32EnumAttrCase<"And", 7, "and">,
    I32EnumAttrCase<"Or", 8, "or">,
    I32EnumAttrCase<"Xor", 9, "xor">,
    I32EnumAttrCase<"Xchg", 10, "xchg">]> {
  let cppNamespace = "::tessera::tile";
}

def Tile_MemSemanticAttr : I32EnumAttr<"MemSemantic", "memory ordering of an atomic", [
    I32EnumAttrCase<"Relaxed", 1, "relaxed">,
    I32EnumAttrCase<"Acquire", 2, "acquire">,
    I32EnumAttrCase<"Release", 3, "release">,
    I32EnumAttrCase<"AcqRel", 4, "acq_rel">]> {
  let cppNamespace = "::tessera::tile";
}

def Tile_MemScopeAttr : I32EnumAttr<"MemScope", "scope of an atomic", [
    I32EnumAttrCase<"CTA", 1, "cta">,
    I32EnumAttrCase<"GPU", 2, "gpu">,
    I32EnumAttrCase<"System", 3, "sys">]> {
  let cppNamespace = "::tessera::tile";
}

def Tile_InputPrecisionAttr : I32EnumAttr<"InputPrecision", "precision of fp32 dot inputs", [
    I32EnumAttrCase<"IEEE", 0, "ieee">,
    I32EnumAttrCase<"TF32", 1, "tf32">,
    I32EnumAttrCase<"TF32x3", 2, "tf32x3">]> {
  let cppNamespace = "::tessera::tile";
}

//===----------------------------------------------------------------------===//
// Base op
//===----------------------------------------------------------------------===//

// Every tile op checks that the tensors it touches have static power-of-two
// dimensions and at most 2^20 elements, the shapes the GPU layouts support.
def Tile_TensorShapeTrait : NativeOpTrait<"TensorShapeTrait"> {
  let cppNamespace = "::tessera::tile::OpTrait";
}

class Tile_Op<string mnemonic, list<Trait> traits = []>
    : Op<Tile_Dialect, mnemonic, !listconcat(traits, [Tile_TensorShapeTrait])>;

#endif // TESSERA_DIALECTS_TILE_TILEBASE_TD
