// One case for every verifier rule of the tile dialect.
// RUN: tessera-opt %s --split-input-file --verify-diagnostics --allow-unregistered-dialect

// expected-error @+1 {{pointee must be an integer, float or pointer type}}
func.func @ptr_to_tensor(%p: !tile.ptr<tensor<4xf32>>) { return }

// -----

// expected-error @+1 {{address space must be non-negative}}
func.func @ptr_negative_space(%p: !tile.ptr<f32, -1>) { return }

// -----

//===----------------------------------------------------------------------===//
// TensorShapeTrait: static, power-of-two, at most 2^20 elements
//===----------------------------------------------------------------------===//

func.func @dynamic_shape(%x: f32) {
  // expected-error @+1 {{result must have a static shape}}
  %0 = tile.splat %x : f32 -> tensor<?xf32>
  return
}

// -----

func.func @not_power_of_two(%x: f32) {
  // expected-error @+1 {{result dimensions must be powers of two}}
  %0 = tile.splat %x : f32 -> tensor<4x3xf32>
  return
}

// -----

func.func @operand_not_power_of_two(%x: tensor<1x6xf32>) {
  // expected-error @+1 {{operand dimensions must be powers of two}}
  %0 = tile.broadcast %x : tensor<1x6xf32> -> tensor<4x6xf32>
  return
}

// -----

func.func @too_many_elements(%x: f32) {
  // expected-error @+1 {{result has 2097152 elements, more than the limit of 1048576}}
  %0 = tile.splat %x : f32 -> tensor<2048x1024xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// program_id / num_programs
//===----------------------------------------------------------------------===//

func.func @program_id_axis() {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'axis' [x, y, z]}}
  %0 = tile.program_id w : i32
  return
}

// -----

func.func @program_id_i64() {
  // expected-error @+1 {{result #0 must be 32-bit signless integer}}
  %0 = tile.program_id x : i64
  return
}

// -----

func.func @num_programs_i64() {
  // expected-error @+1 {{result #0 must be 32-bit signless integer}}
  %0 = tile.num_programs x : i64
  return
}

// -----

//===----------------------------------------------------------------------===//
// make_range
//===----------------------------------------------------------------------===//

func.func @range_negative_start() {
  // expected-error @+1 {{start must be non-negative, got -4}}
  %0 = tile.make_range -4 to 4 : tensor<8xi32>
  return
}

// -----

func.func @range_empty() {
  // expected-error @+1 {{end (4) must be greater than start (4)}}
  %0 = tile.make_range 4 to 4 : tensor<1xi32>
  return
}

// -----

func.func @range_wrong_size() {
  // expected-error @+1 {{result must be a 1-D tensor of 128 elements, got 'tensor<64xi32>'}}
  %0 = tile.make_range 0 to 128 : tensor<64xi32>
  return
}

// -----

func.func @range_2d() {
  // expected-error @+1 {{result must be a 1-D tensor of 16 elements}}
  %0 = tile.make_range 0 to 16 : tensor<4x4xi32>
  return
}

// -----

func.func @range_i64() {
  // expected-error @+1 {{result #0 must be tensor of 32-bit signless integer values}}
  %0 = tile.make_range 0 to 16 : tensor<16xi64>
  return
}

// -----

//===----------------------------------------------------------------------===//
// splat / broadcast / expand_dims / reshape / trans
//===----------------------------------------------------------------------===//

func.func @splat_element_type(%x: f32) {
  // expected-error @+1 {{result element type 'f16' does not match the scalar's type 'f32'}}
  %0 = tile.splat %x : f32 -> tensor<16xf16>
  return
}

// -----

func.func @splat_of_tensor(%x: tensor<4xf32>) {
  // expected-error @+1 {{operand #0 must be scalar}}
  %0 = tile.splat %x : tensor<4xf32> -> tensor<16xf32>
  return
}

// -----

func.func @broadcast_rank(%x: tensor<16xf32>) {
  // expected-error @+1 {{source rank 1 differs from result rank 2}}
  %0 = tile.broadcast %x : tensor<16xf32> -> tensor<4x16xf32>
  return
}

// -----

func.func @broadcast_dim(%x: tensor<2x16xf32>) {
  // expected-error @+1 {{source dimension 0 is 2; it must be 1 or the result's 4}}
  %0 = tile.broadcast %x : tensor<2x16xf32> -> tensor<4x16xf32>
  return
}

// -----

func.func @broadcast_element_type(%x: tensor<1x16xf32>) {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %0 = tile.broadcast %x : tensor<1x16xf32> -> tensor<4x16xf16>
  return
}

// -----

func.func @expand_dims_axis(%x: tensor<16xf32>) {
  // expected-error @+1 {{axis 2 is out of range [0, 1]}}
  %0 = tile.expand_dims %x, axis = 2 : tensor<16xf32> -> tensor<16x1xf32>
  return
}

// -----

func.func @expand_dims_shape(%x: tensor<16xf32>) {
  // expected-error @+1 {{result shape must be [16, 1], got 'tensor<1x16xf32>'}}
  %0 = tile.expand_dims %x, axis = 1 : tensor<16xf32> -> tensor<1x16xf32>
  return
}

// -----

func.func @reshape_size(%x: tensor<16x8xf32>) {
  // expected-error @+1 {{source has 128 elements but the result has 64}}
  %0 = tile.reshape %x : tensor<16x8xf32> -> tensor<64xf32>
  return
}

// -----

func.func @trans_order_size(%x: tensor<16x8xf32>) {
  // expected-error @+1 {{order has 3 entries but the source has rank 2}}
  %0 = tile.trans %x, order = [1, 0, 2] : tensor<16x8xf32> -> tensor<8x16xf32>
  return
}

// -----

func.func @trans_not_permutation(%x: tensor<16x8xf32>) {
  // expected-error @+1 {{order must be a permutation of [0, 2)}}
  %0 = tile.trans %x, order = [1, 1] : tensor<16x8xf32> -> tensor<8x8xf32>
  return
}

// -----

func.func @trans_order_range(%x: tensor<16x8xf32>) {
  // expected-error @+1 {{order must be a permutation of [0, 2)}}
  %0 = tile.trans %x, order = [2, 0] : tensor<16x8xf32> -> tensor<8x16xf32>
  return
}

// -----

func.func @trans_shape(%x: tensor<16x8xf32>) {
  // expected-error @+1 {{result shape must be [8, 16], got 'tensor<16x8xf32>'}}
  %0 = tile.trans %x, order = [1, 0] : tensor<16x8xf32> -> tensor<16x8xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// addptr
//===----------------------------------------------------------------------===//

func.func @addptr_scalar_tensor(%p: !tile.ptr<f32>, %o: tensor<16xi32>) {
  // expected-error @+1 {{pointer and offset must both be scalars or both tensors}}
  %0 = tile.addptr %p, %o : !tile.ptr<f32>, tensor<16xi32>
  return
}

// -----

func.func @addptr_shape(%p: tensor<16x!tile.ptr<f32>>, %o: tensor<32xi32>) {
  // expected-error @+1 {{offset shape [32] differs from pointer shape [16]}}
  %0 = tile.addptr %p, %o : tensor<16x!tile.ptr<f32>>, tensor<32xi32>
  return
}

// -----

func.func @addptr_i1(%p: !tile.ptr<f32>, %o: i1) {
  // expected-error @+1 {{offset must not be i1}}
  %0 = tile.addptr %p, %o : !tile.ptr<f32>, i1
  return
}

// -----

func.func @addptr_float_offset(%p: !tile.ptr<f32>, %o: f32) {
  // expected-error @+1 {{operand #1 must be integer or ranked tensor of integer values}}
  %0 = tile.addptr %p, %o : !tile.ptr<f32>, f32
  return
}

// -----

func.func @addptr_result_type(%p: !tile.ptr<f32>, %o: i32) {
  // expected-error @+1 {{all of {ptr, result} have same type}}
  %0 = "tile.addptr"(%p, %o) : (!tile.ptr<f32>, i32) -> !tile.ptr<f16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// load / store
//===----------------------------------------------------------------------===//

func.func @load_other_without_mask(%p: tensor<16x!tile.ptr<f32>>, %o: tensor<16xf32>) {
  // expected-error @+1 {{'other' requires a 'mask'}}
  %0 = "tile.load"(%p, %o) <{operandSegmentSizes = array<i32: 1, 0, 1>}> : (tensor<16x!tile.ptr<f32>>, tensor<16xf32>) -> tensor<16xf32>
  return
}

// -----

func.func @load_result_type(%p: tensor<16x!tile.ptr<f32>>) {
  // expected-error @+1 {{failed to verify that result type is the pointee type of ptr}}
  %0 = "tile.load"(%p) <{operandSegmentSizes = array<i32: 1, 0, 0>}> : (tensor<16x!tile.ptr<f32>>) -> tensor<16xf16>
  return
}

// -----

func.func @load_mask_shape(%p: tensor<16x!tile.ptr<f32>>, %m: tensor<32xi1>) {
  // expected-error @+1 {{failed to verify that mask is i1 with the shape of ptr}}
  %0 = "tile.load"(%p, %m) <{operandSegmentSizes = array<i32: 1, 1, 0>}> : (tensor<16x!tile.ptr<f32>>, tensor<32xi1>) -> tensor<16xf32>
  return
}

// -----

func.func @load_other_type(%p: tensor<16x!tile.ptr<f32>>, %m: tensor<16xi1>, %o: tensor<16xf16>) {
  // expected-error @+1 {{failed to verify that other has the result type}}
  %0 = "tile.load"(%p, %m, %o) <{operandSegmentSizes = array<i32: 1, 1, 1>}> : (tensor<16x!tile.ptr<f32>>, tensor<16xi1>, tensor<16xf16>) -> tensor<16xf32>
  return
}

// -----

func.func @load_store_cache(%p: !tile.ptr<f32>) {
  // expected-error @+1 {{cache modifier 'wb' is for stores; loads take ca, cg, cs or cv}}
  %0 = tile.load %p cache = wb : !tile.ptr<f32>
  return
}

// -----

func.func @store_value_type(%p: tensor<16x!tile.ptr<f32>>, %v: tensor<16xf16>) {
  // expected-error @+1 {{failed to verify that value type is the pointee type of ptr}}
  "tile.store"(%p, %v) : (tensor<16x!tile.ptr<f32>>, tensor<16xf16>) -> ()
  return
}

// -----

func.func @store_mask_shape(%p: tensor<16x!tile.ptr<f32>>, %v: tensor<16xf32>, %m: i1) {
  // expected-error @+1 {{failed to verify that mask is i1 with the shape of ptr}}
  "tile.store"(%p, %v, %m) : (tensor<16x!tile.ptr<f32>>, tensor<16xf32>, i1) -> ()
  return
}

// -----

func.func @store_load_cache(%p: !tile.ptr<f32>, %v: f32) {
  // expected-error @+1 {{cache modifier 'ca' is for loads; stores take wb, wt, cg or cs}}
  tile.store %p, %v cache = ca : !tile.ptr<f32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// dot
//===----------------------------------------------------------------------===//

func.func @dot_rank(%a: tensor<16xf16>, %c: tensor<16xf32>) {
  // expected-error @+1 {{operands must be 2-D, or 3-D with a leading batch dimension; got rank 1}}
  %0 = tile.dot %a, %a, %c : tensor<16xf16> * tensor<16xf16> -> tensor<16xf32>
  return
}

// -----

func.func @dot_rank_mismatch(%a: tensor<16x16xf16>, %b: tensor<2x16x16xf16>, %c: tensor<16x16xf32>) {
  // expected-error @+1 {{a, b and c must have the same rank}}
  %0 = tile.dot %a, %b, %c : tensor<16x16xf16> * tensor<2x16x16xf16> -> tensor<16x16xf32>
  return
}

// -----

func.func @dot_batch(%a: tensor<2x16x16xf16>, %b: tensor<4x16x16xf16>, %c: tensor<2x16x16xf32>) {
  // expected-error @+1 {{batch dimensions differ: 2, 4, 2}}
  %0 = tile.dot %a, %b, %c : tensor<2x16x16xf16> * tensor<4x16x16xf16> -> tensor<2x16x16xf32>
  return
}

// -----

func.func @dot_k(%a: tensor<16x32xf16>, %b: tensor<16x16xf16>, %c: tensor<16x16xf32>) {
  // expected-error @+1 {{reduction dimension of a (32) differs from that of b (16)}}
  %0 = tile.dot %a, %b, %c : tensor<16x32xf16> * tensor<16x16xf16> -> tensor<16x16xf32>
  return
}

// -----

func.func @dot_acc_shape(%a: tensor<16x32xf16>, %b: tensor<32x64xf16>, %c: tensor<16x32xf32>) {
  // expected-error @+1 {{accumulator shape must be [16, 64], got 'tensor<16x32xf32>'}}
  %0 = tile.dot %a, %b, %c : tensor<16x32xf16> * tensor<32x64xf16> -> tensor<16x32xf32>
  return
}

// -----

func.func @dot_pointers(%a: tensor<16x16x!tile.ptr<f16>>, %c: tensor<16x16xf32>) {
  // expected-error @+1 {{operands must hold numbers, not pointers}}
  %0 = tile.dot %a, %a, %c : tensor<16x16x!tile.ptr<f16>> * tensor<16x16x!tile.ptr<f16>> -> tensor<16x16xf32>
  return
}

// -----

func.func @dot_int_inputs(%a: tensor<16x16xi32>, %c: tensor<16x16xi32>) {
  // expected-error @+1 {{integer dot takes i8 x i8, got 'i32' x 'i32'}}
  %0 = tile.dot %a, %a, %c : tensor<16x16xi32> * tensor<16x16xi32> -> tensor<16x16xi32>
  return
}

// -----

func.func @dot_int_acc(%a: tensor<16x16xi8>, %c: tensor<16x16xf32>) {
  // expected-error @+1 {{integer dot accumulates in i32, got 'f32'}}
  %0 = tile.dot %a, %a, %c : tensor<16x16xi8> * tensor<16x16xi8> -> tensor<16x16xf32>
  return
}

// -----

func.func @dot_mixed_inputs(%a: tensor<16x16xf16>, %b: tensor<16x16xbf16>, %c: tensor<16x16xf32>) {
  // expected-error @+1 {{a and b must have the same element type, got 'f16' and 'bf16'}}
  %0 = tile.dot %a, %b, %c : tensor<16x16xf16> * tensor<16x16xbf16> -> tensor<16x16xf32>
  return
}

// -----

func.func @dot_acc_type(%a: tensor<16x16xbf16>, %c: tensor<16x16xf16>) {
  // expected-error @+1 {{accumulator type 'f16' is not allowed for 'bf16' inputs}}
  %0 = tile.dot %a, %a, %c : tensor<16x16xbf16> * tensor<16x16xbf16> -> tensor<16x16xf16>
  return
}

// -----

func.func @dot_f64_acc(%a: tensor<16x16xf64>, %c: tensor<16x16xf32>) {
  // expected-error @+1 {{f64 inputs accumulate in f64}}
  %0 = tile.dot %a, %a, %c : tensor<16x16xf64> * tensor<16x16xf64> -> tensor<16x16xf32>
  return
}

// -----

func.func @dot_precision(%a: tensor<16x16xf16>, %c: tensor<16x16xf32>) {
  // expected-error @+1 {{precision 'tf32' applies to f32 inputs only}}
  %0 = tile.dot %a, %a, %c, precision = tf32 : tensor<16x16xf16> * tensor<16x16xf16> -> tensor<16x16xf32>
  return
}

// -----

func.func @dot_imprecise_acc(%a: tensor<16x16xf16>, %c: tensor<16x16xf32>) {
  // expected-error @+1 {{maxNumImpreciseAcc must be non-negative}}
  %0 = tile.dot %a, %a, %c {maxNumImpreciseAcc = -1 : i32} : tensor<16x16xf16> * tensor<16x16xf16> -> tensor<16x16xf32>
  return
}

// -----

func.func @dot_acc_result(%a: tensor<16x16xf16>, %c: tensor<16x16xf32>) {
  // expected-error @+1 {{all of {c, d} have same type}}
  %0 = "tile.dot"(%a, %a, %c) : (tensor<16x16xf16>, tensor<16x16xf16>, tensor<16x16xf32>) -> tensor<16x16xf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// reduce / scan / reduce.return
//===----------------------------------------------------------------------===//

func.func @reduce_no_sources() {
  // expected-error @+1 {{needs at least one source tensor}}
  tile.reduce() axis = 0 : () -> () {
  ^bb0:
    tile.reduce.return
  }
  return
}

// -----

func.func @reduce_shapes(%x: tensor<16xf32>, %y: tensor<32xi32>) {
  // expected-error @+1 {{all sources must have the same shape}}
  %0:2 = tile.reduce(%x, %y) axis = 0 : (tensor<16xf32>, tensor<32xi32>) -> (f32, i32) {
  ^bb0(%a: f32, %b: i32, %c: f32, %d: i32):
    tile.reduce.return %a, %b : f32, i32
  }
  return
}

// -----

func.func @reduce_axis(%x: tensor<16x8xf32>) {
  // expected-error @+1 {{axis 2 is out of range [0, 2)}}
  %0 = tile.reduce(%x) axis = 2 : (tensor<16x8xf32>) -> tensor<16xf32> {
  ^bb0(%a: f32, %b: f32):
    tile.reduce.return %a : f32
  }
  return
}

// -----

func.func @reduce_result_count(%x: tensor<16xf32>) {
  // expected-error @+1 {{has 1 sources but 2 results}}
  %0:2 = tile.reduce(%x) axis = 0 : (tensor<16xf32>) -> (f32, f32) {
  ^bb0(%a: f32, %b: f32):
    tile.reduce.return %a : f32
  }
  return
}

// -----

func.func @reduce_result_type(%x: tensor<16x8xf32>) {
  // expected-error @+1 {{result 0 must be 'tensor<8xf32>', got 'tensor<16xf32>'}}
  %0 = tile.reduce(%x) axis = 0 : (tensor<16x8xf32>) -> tensor<16xf32> {
  ^bb0(%a: f32, %b: f32):
    tile.reduce.return %a : f32
  }
  return
}

// -----

func.func @reduce_scalar_result(%x: tensor<16xf32>) {
  // expected-error @+1 {{result 0 must be 'f32', got 'f16'}}
  %0 = tile.reduce(%x) axis = 0 : (tensor<16xf32>) -> f16 {
  ^bb0(%a: f32, %b: f32):
    tile.reduce.return %a : f32
  }
  return
}

// -----

func.func @reduce_region_arity(%x: tensor<16xf32>) {
  // expected-error @+1 {{combining region must take 2 arguments, got 1}}
  %0 = tile.reduce(%x) axis = 0 : (tensor<16xf32>) -> f32 {
  ^bb0(%a: f32):
    tile.reduce.return %a : f32
  }
  return
}

// -----

func.func @reduce_region_type(%x: tensor<16xf32>) {
  // expected-error @+1 {{combining region argument 1 must be 'f32', got 'f16'}}
  %0 = tile.reduce(%x) axis = 0 : (tensor<16xf32>) -> f32 {
  ^bb0(%a: f32, %b: f16):
    tile.reduce.return %a : f32
  }
  return
}

// -----

func.func @reduce_return_count(%x: tensor<16xf32>) {
  %0 = tile.reduce(%x) axis = 0 : (tensor<16xf32>) -> f32 {
  ^bb0(%a: f32, %b: f32):
    // expected-error @+1 {{must return 1 values, got 2}}
    tile.reduce.return %a, %b : f32, f32
  }
  return
}

// -----

func.func @reduce_return_type(%x: tensor<16xf32>, %y: f16) {
  %0 = tile.reduce(%x) axis = 0 : (tensor<16xf32>) -> f32 {
  ^bb0(%a: f32, %b: f32):
    // expected-error @+1 {{value 0 must be 'f32', got 'f16'}}
    tile.reduce.return %y : f16
  }
  return
}

// -----

func.func @reduce_foreign_terminator(%x: tensor<16xf32>) {
  // expected-error @+1 {{combining region must end with tile.reduce.return}}
  %0 = tile.reduce(%x) axis = 0 : (tensor<16xf32>) -> f32 {
  ^bb0(%a: f32, %b: f32):
    "other.yield"(%a) : (f32) -> ()
  }
  return
}

// -----

func.func @reduce_return_outside(%x: f32) {
  // expected-error @+1 {{expects parent op to be one of 'tile.reduce, tile.scan'}}
  tile.reduce.return %x : f32
}

// -----

func.func @scan_result_type(%x: tensor<16xi32>) {
  // expected-error @+1 {{result 0 must have the source type 'tensor<16xi32>', got 'tensor<16xi64>'}}
  %0 = tile.scan(%x) axis = 0 : (tensor<16xi32>) -> tensor<16xi64> {
  ^bb0(%a: i32, %b: i32):
    tile.reduce.return %a : i32
  }
  return
}

// -----

func.func @scan_result_count(%x: tensor<16xi32>) {
  // expected-error @+1 {{has 1 sources but 2 results}}
  %0:2 = tile.scan(%x) axis = 0 : (tensor<16xi32>) -> (tensor<16xi32>, tensor<16xi32>) {
  ^bb0(%a: i32, %b: i32):
    tile.reduce.return %a : i32
  }
  return
}

// -----

func.func @scan_axis(%x: tensor<16xi32>) {
  // expected-error @+1 {{axis 1 is out of range [0, 1)}}
  %0 = tile.scan(%x) axis = 1 : (tensor<16xi32>) -> tensor<16xi32> {
  ^bb0(%a: i32, %b: i32):
    tile.reduce.return %a : i32
  }
  return
}

// -----

func.func @scan_region(%x: tensor<16xi32>) {
  // expected-error @+1 {{combining region argument 0 must be 'i32', got 'i64'}}
  %0 = tile.scan(%x) axis = 0 : (tensor<16xi32>) -> tensor<16xi32> {
  ^bb0(%a: i64, %b: i32):
    tile.reduce.return %b : i32
  }
  return
}

// -----

//===----------------------------------------------------------------------===//
// atomics
//===----------------------------------------------------------------------===//

func.func @rmw_fadd_int(%p: !tile.ptr<i32>, %v: i32) {
  // expected-error @+1 {{'fadd' does not apply to elements of type 'i32'}}
  %0 = tile.atomic_rmw fadd, relaxed, gpu, %p, %v : !tile.ptr<i32>
  return
}

// -----

func.func @rmw_add_float(%p: !tile.ptr<f32>, %v: f32) {
  // expected-error @+1 {{'add' does not apply to elements of type 'f32'}}
  %0 = tile.atomic_rmw add, relaxed, gpu, %p, %v : !tile.ptr<f32>
  return
}

// -----

func.func @rmw_and_i16(%p: !tile.ptr<i16>, %v: i16) {
  // expected-error @+1 {{'and' does not apply to elements of type 'i16'}}
  %0 = tile.atomic_rmw and, relaxed, gpu, %p, %v : !tile.ptr<i16>
  return
}

// -----

func.func @rmw_max_ptr(%p: !tile.ptr<!tile.ptr<f32>>, %v: !tile.ptr<f32>) {
  // expected-error @+1 {{'max' does not apply to elements of type '!tile.ptr<f32>'}}
  %0 = tile.atomic_rmw max, relaxed, gpu, %p, %v : !tile.ptr<!tile.ptr<f32>>
  return
}

// -----

func.func @rmw_xchg_f16(%p: !tile.ptr<f16>, %v: f16) {
  // expected-error @+1 {{'xchg' does not apply to elements of type 'f16'}}
  %0 = tile.atomic_rmw xchg, relaxed, gpu, %p, %v : !tile.ptr<f16>
  return
}

// -----

func.func @rmw_val_type(%p: !tile.ptr<f32>, %v: f16) {
  // expected-error @+1 {{failed to verify that val type is the pointee type of ptr}}
  %0 = "tile.atomic_rmw"(%p, %v) <{kind = 2 : i32, sem = 1 : i32, scope = 2 : i32}> : (!tile.ptr<f32>, f16) -> f32
  return
}

// -----

func.func @rmw_mask(%p: tensor<16x!tile.ptr<f32>>, %v: tensor<16xf32>, %m: tensor<16xi32>) {
  // expected-error @+1 {{operand #2 must be 1-bit signless integer or ranked tensor of 1-bit signless integer values}}
  %0 = "tile.atomic_rmw"(%p, %v, %m) <{kind = 2 : i32, sem = 1 : i32, scope = 2 : i32}> : (tensor<16x!tile.ptr<f32>>, tensor<16xf32>, tensor<16xi32>) -> tensor<16xf32>
  return
}

// -----

func.func @rmw_mask_shape(%p: tensor<16x!tile.ptr<f32>>, %v: tensor<16xf32>, %m: tensor<8xi1>) {
  // expected-error @+1 {{failed to verify that mask is i1 with the shape of ptr}}
  %0 = "tile.atomic_rmw"(%p, %v, %m) <{kind = 2 : i32, sem = 1 : i32, scope = 2 : i32}> : (tensor<16x!tile.ptr<f32>>, tensor<16xf32>, tensor<8xi1>) -> tensor<16xf32>
  return
}

// -----

func.func @cas_i8(%p: !tile.ptr<i8>, %v: i8) {
  // expected-error @+1 {{elements must be 16, 32 or 64 bits wide, got 'i8'}}
  %0 = tile.atomic_cas relaxed, gpu, %p, %v, %v : !tile.ptr<i8>
  return
}

// -----

func.func @cas_cmp_type(%p: !tile.ptr<i32>, %c: i64, %v: i32) {
  // expected-error @+1 {{failed to verify that cmp type is the pointee type of ptr}}
  %0 = "tile.atomic_cas"(%p, %c, %v) <{sem = 1 : i32, scope = 2 : i32}> : (!tile.ptr<i32>, i64, i32) -> i32
  return
}

// -----

//===----------------------------------------------------------------------===//
// print / assert
//===----------------------------------------------------------------------===//

func.func @print_hex_float(%x: f32) {
  // expected-error @+1 {{'hex' prints integers only, got 'f32'}}
  tile.print "x " hex %x : f32
  return
}

// -----

func.func @assert_empty_message(%c: i1) {
  // expected-error @+1 {{needs a message}}
  tile.assert %c, "" : i1
  return
}

// -----

func.func @assert_not_bool(%c: tensor<16xi32>) {
  // expected-error @+1 {{operand #0 must be 1-bit signless integer or ranked tensor of 1-bit signless integer values}}
  tile.assert %c, "bad" : tensor<16xi32>
  return
}

// -----

func.func @descriptor_rank(%p: !tile.ptr<f16>, %m: i32, %x: i32, %s: i64) {
  // expected-error @+1 {{needs one shape, stride and offset per block dimension (2), got 1, 1 and 1}}
  %t = tile.descriptor_load %p[%x] shape [%m] strides [%s] : !tile.ptr<f16> -> tensor<64x32xf16>
  return
}

// -----

func.func @descriptor_atomic_add_elem(%p: !tile.ptr<i16>, %m: i32, %x: i32, %s: i64, %v: tensor<64x32xi16>) {
  %c1 = arith.constant 1 : i64
  // expected-error @+1 {{atomic adds take 32- or 64-bit integers or floats (not fp8), got 'i16'}}
  tile.descriptor_atomic_add %p[%x, %x], %v shape [%m, %m] strides [%s, %c1] : !tile.ptr<i16>, tensor<64x32xi16>
  return
}

// -----

func.func @descriptor_elem(%p: !tile.ptr<f32>, %m: i32, %x: i32, %s: i64) {
  // expected-error @+1 {{block elements are 'f16' but the base points to 'f32'}}
  %t = tile.descriptor_load %p[%x, %x] shape [%m, %m] strides [%s, %s] : !tile.ptr<f32> -> tensor<64x32xf16>
  return
}

// -----

func.func @descriptor_last_stride(%p: !tile.ptr<f16>, %m: i32, %x: i32, %s: i64, %v: tensor<64x32xf16>) {
  %c2 = arith.constant 2 : i64
  // expected-error @+1 {{the last stride must be 1 (contiguous rows), got 2}}
  tile.descriptor_store %p[%x, %x], %v shape [%m, %m] strides [%s, %c2] : !tile.ptr<f16>, tensor<64x32xf16>
  return
}
