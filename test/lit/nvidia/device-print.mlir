// tl.device_print on NVIDIA GPUs: each thread prints the elements it owns
// through vprintf, with the program ids and the element's index; a scalar
// prints once a program (the first thread), without an index.
// RUN: tessera-opt %s --convert-tile-to-tilegpu="num-warps=1" --convert-tilegpu-to-nvvm | FileCheck %s

// CHECK-DAG: llvm.func @vprintf(!llvm.ptr, !llvm.ptr) -> i32
// CHECK-DAG: llvm.func @__assertfail(!llvm.ptr, !llvm.ptr, i32, !llvm.ptr, i64)
// CHECK-DAG: llvm.mlir.global internal constant @tessera_assert_msg_0("i must be small\00")
// CHECK-DAG: llvm.mlir.global internal constant @tessera_assert_file_0("k.py\00")
// CHECK-DAG: llvm.mlir.global internal constant @tessera_print_0("pid (%d, %d, %d) idx (%d) i = %d\0A\00")
// CHECK-DAG: llvm.mlir.global internal constant @tessera_print_1("pid (%d, %d, %d) x = %f\0A\00")
// CHECK-LABEL: llvm.func @print(
// CHECK: %[[BUF:.*]] = llvm.alloca %{{.*}} x !llvm.struct<(i32, i32, i32, i32, i32)>
// CHECK: nvvm.read.ptx.sreg.ctaid.x
// CHECK: llvm.store
// CHECK: llvm.call @vprintf(%{{.*}}, %[[BUF]])
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %{{.*}}, %c0_i32
// CHECK: scf.if %[[FIRST]] {
// CHECK-NEXT: arith.extf %{{.*}} : f32 to f64
// CHECK: llvm.call @vprintf
func.func @print(%x: f32) {
  %i = tile.make_range 0 to 32 : tensor<32xi32>
  tile.print "i = " %i : tensor<32xi32>
  tile.print "x = " %x : f32
  return
}

// tl.device_assert: __assertfail (message, file, line, kernel, 1) in each
// thread whose element is false.
// CHECK-LABEL: llvm.func @check(
// CHECK: %[[LINE:.*]] = arith.constant 7 : i32
// CHECK: %[[BAD:.*]] = arith.xori %{{.*}}, %true
// CHECK: scf.if %[[BAD]] {
// CHECK: llvm.call @__assertfail(%{{.*}}, %{{.*}}, %[[LINE]], %{{.*}}, %{{.*}})
func.func @check(%n: i32) {
  %i = tile.make_range 0 to 32 : tensor<32xi32>
  %s = tile.splat %n : i32 -> tensor<32xi32>
  %ok = arith.cmpi slt, %i, %s : tensor<32xi32>
  tile.assert %ok, "i must be small" : tensor<32xi1> loc("k.py":7:5)
  return
}
