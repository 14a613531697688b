// RUN: tessera-opt %s --split-input-file --convert-tile-to-tilegpu="num-warps=4" --convert-tilegpu-to-nvvm | FileCheck %s

// Index arithmetic moved to another layout (expand_dims and broadcast of
// ranges, splats and elementwise ops: a 2-D pointer grid built from 1-D
// offsets) is recomputed in the consumer's layout: no shared memory, no
// barrier.
// CHECK-LABEL: llvm.func @pointer_grid(
// CHECK-SAME: tilegpu.shared_bytes = 0 : i64
// CHECK-NOT: nvvm.barrier0
// CHECK-NOT: addr_space = 3
// CHECK: llvm.return
func.func @pointer_grid(%src: !tile.ptr<f32>, %dst: !tile.ptr<f32>, %stride: i32, %m: i32) {
  %rm = tile.make_range 0 to 64 : tensor<64xi32>
  %ms = tile.splat %m : i32 -> tensor<64xi32>
  %wrapped = arith.remsi %rm, %ms : tensor<64xi32>
  %rows = tile.expand_dims %wrapped, axis = 1 : tensor<64xi32> -> tensor<64x1xi32>
  %ss = tile.splat %stride : i32 -> tensor<64x1xi32>
  %rowoff = arith.muli %rows, %ss : tensor<64x1xi32>
  %rn = tile.make_range 0 to 32 : tensor<32xi32>
  %cols = tile.expand_dims %rn, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %a = tile.broadcast %rowoff : tensor<64x1xi32> -> tensor<64x32xi32>
  %b = tile.broadcast %cols : tensor<1x32xi32> -> tensor<64x32xi32>
  %off = arith.addi %a, %b : tensor<64x32xi32>
  %base = tile.splat %src : !tile.ptr<f32> -> tensor<64x32x!tile.ptr<f32>>
  %ptrs = tile.addptr %base, %off : tensor<64x32x!tile.ptr<f32>>, tensor<64x32xi32>
  %v = tile.load %ptrs : tensor<64x32x!tile.ptr<f32>>
  %dbase = tile.splat %dst : !tile.ptr<f32> -> tensor<64x32x!tile.ptr<f32>>
  %dptrs = tile.addptr %dbase, %off : tensor<64x32x!tile.ptr<f32>>, tensor<64x32xi32>
  tile.store %dptrs, %v : tensor<64x32x!tile.ptr<f32>>
  return
}

// -----

// Loaded values are not recomputed: their expand_dims and broadcast go
// through shared memory.
// CHECK-LABEL: llvm.func @loaded_rows(
// CHECK: nvvm.barrier0
// CHECK: llvm.return
func.func @loaded_rows(%src: !tile.ptr<f32>, %dst: !tile.ptr<f32>) {
  %r = tile.make_range 0 to 64 : tensor<64xi32>
  %base = tile.splat %src : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
  %ptrs = tile.addptr %base, %r : tensor<64x!tile.ptr<f32>>, tensor<64xi32>
  %v = tile.load %ptrs : tensor<64x!tile.ptr<f32>>
  %rows = tile.expand_dims %v, axis = 1 : tensor<64xf32> -> tensor<64x1xf32>
  %wide = tile.broadcast %rows : tensor<64x1xf32> -> tensor<64x32xf32>
  %rn = tile.make_range 0 to 32 : tensor<32xi32>
  %cols = tile.expand_dims %rn, axis = 0 : tensor<32xi32> -> tensor<1x32xi32>
  %c = tile.broadcast %cols : tensor<1x32xi32> -> tensor<64x32xi32>
  %dbase = tile.splat %dst : !tile.ptr<f32> -> tensor<64x32x!tile.ptr<f32>>
  %dptrs = tile.addptr %dbase, %c : tensor<64x32x!tile.ptr<f32>>, tensor<64x32xi32>
  tile.store %dptrs, %wide : tensor<64x32x!tile.ptr<f32>>
  return
}
