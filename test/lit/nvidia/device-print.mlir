// tl.device_print on NVIDIA GPUs: each thread prints the elements it owns
// through vprintf, with the program ids and the element's index; a scalar
// prints once per thread, without an index.
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=1" --convert-tilegpu-to-nvvm | FileCheck %s

// CHECK-DAG: llvm.func @vprintf(!llvm.ptr, !llvm.ptr) -> i32
// CHECK-DAG: llvm.mlir.global internal constant @tessera_print_0("pid (%d, %d, %d) idx (%d) i = %d\0A\00")
// CHECK-DAG: llvm.mlir.global internal constant @tessera_print_1("pid (%d, %d, %d) x = %f\0A\00")
// CHECK-LABEL: llvm.func @print(
// CHECK: %[[BUF:.*]] = llvm.alloca %{{.*}} x !llvm.struct<(i32, i32, i32, i32, i32)>
// CHECK: nvvm.read.ptx.sreg.ctaid.x
// CHECK: llvm.store
// CHECK: llvm.call @vprintf(%{{.*}}, %[[BUF]])
// CHECK: arith.extf %{{.*}} : f32 to f64
// CHECK: llvm.call @vprintf
func.func @print(%x: f32) {
  %i = tile.make_range 0 to 32 : tensor<32xi32>
  tile.print "i = " %i : tensor<32xi32>
  tile.print "x = " %x : f32
  return
}
