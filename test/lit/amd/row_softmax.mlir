// Reductions on wave64: butterfly exchanges within a wavefront are
// ds_bpermute (lane ^ 1, 2, 4, 8, 16, 32: six steps, where NVIDIA's warps
// take five), wavefronts meet in LDS between s_barriers (workgroup-scope
// fences around them); exp is v_exp_f32 on x * log2(e).
// RUN: tessera-translate --arch=gfx942 --num-warps=2 %s | FileCheck %s
// RUN: tessera-translate --arch=gfx942 --num-warps=2 --dump %s | FileCheck %s --check-prefix=IR
// With 4 wavefronts the 512 elements are fewer than the workgroup's 1024
// slots: the layout repeats and the reduction goes through LDS alone.
// RUN: tessera-translate --arch=gfx90a --num-warps=4 %s | FileCheck %s --check-prefix=LDS

// IR-LABEL: after stage 'tilegpu'
// IR: threadsPerWarp = [64], warpsPerCTA = [2]
// IR: tilegpu.threads_per_warp = 64
// IR-LABEL: after stage 'rocdl'
// IR: llvm.mlir.global internal @tessera_shared() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<{{[0-9]+}} x i8>
// IR: llvm.func @row_softmax
// IR-SAME: rocdl.flat_work_group_size = "128,128"
// IR-SAME: rocdl.kernel
// IR-SAME: rocdl.reqd_work_group_size = array<i32: 128, 1, 1>
// IR: rocdl.workitem.id.x
// IR: rocdl.ds_bpermute
// IR: rocdl.barrier

// CHECK-LABEL: row_softmax:
// CHECK-COUNT-6: ds_bpermute_b32
// CHECK: s_barrier
// CHECK: v_exp_f32
// CHECK-COUNT-6: ds_bpermute_b32
// CHECK: s_barrier
// CHECK: global_store_dwordx4
// CHECK: .amdhsa_group_segment_fixed_size {{[1-9][0-9]*}}
// CHECK: .wavefront_size: 64

// LDS-LABEL: row_softmax:
// LDS-NOT: ds_bpermute
// LDS: ds_write
// LDS: s_barrier
// LDS: ds_read
// LDS: v_exp_f32
// LDS: .amdhsa_group_segment_fixed_size 2048
func.func @row_softmax(%x: !tile.ptr<f32>) {
  %row = tile.program_id x : i32
  %c = arith.constant 512 : i32
  %base = arith.muli %row, %c : i32
  %r = tile.make_range 0 to 512 : tensor<512xi32>
  %b = tile.splat %base : i32 -> tensor<512xi32>
  %offs = arith.addi %b, %r : tensor<512xi32>
  %xs = tile.splat %x : !tile.ptr<f32> -> tensor<512x!tile.ptr<f32>>
  %p = tile.addptr %xs, %offs : tensor<512x!tile.ptr<f32>>, tensor<512xi32>
  %v = tile.load %p : tensor<512x!tile.ptr<f32>>
  %m = tile.reduce(%v) axis = 0 : (tensor<512xf32>) -> f32 {
  ^bb0(%a: f32, %q: f32):
    %t = arith.maxnumf %a, %q : f32
    tile.reduce.return %t : f32
  }
  %ms = tile.splat %m : f32 -> tensor<512xf32>
  %d = arith.subf %v, %ms : tensor<512xf32>
  %e = math.exp %d : tensor<512xf32>
  %s = tile.reduce(%e) axis = 0 : (tensor<512xf32>) -> f32 {
  ^bb0(%a: f32, %q: f32):
    %t = arith.addf %a, %q : f32
    tile.reduce.return %t : f32
  }
  %ss = tile.splat %s : f32 -> tensor<512xf32>
  %o = arith.divf %e, %ss : tensor<512xf32>
  tile.store %p, %o : tensor<512x!tile.ptr<f32>>
  return
}
