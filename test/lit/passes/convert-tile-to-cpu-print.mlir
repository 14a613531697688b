// tl.device_print on the CPU backend: printf of a line per element (the
// program ids, the element's index, the prefix and the value), then fflush.
// RUN: tessera-opt %s --convert-tile-to-cpu | FileCheck %s

// CHECK-DAG: llvm.func @printf(!llvm.ptr, ...) -> i32
// CHECK-DAG: llvm.func @tessera_cpu_assert_fail(!llvm.ptr, i32, i32, i32, i32, i32, i32, i32, i32)
// CHECK-DAG: llvm.mlir.global internal constant @tessera_assert_0("k.py:7: i must be small\00")
// CHECK-DAG: llvm.func @fflush(!llvm.ptr) -> i32
// CHECK-DAG: llvm.mlir.global internal constant @tessera_print_0("pid (%d, %d, %d) idx (%d) i = %d\0A\00")
// CHECK-DAG: llvm.mlir.global internal constant @tessera_print_1("pid (%d, %d, %d) x = %f\0A\00")
// CHECK-DAG: llvm.mlir.global internal constant @tessera_print_2("pid (%d, %d, %d) n = 0x%x\0A\00")
// CHECK-LABEL: func.func private @print(
// CHECK-SAME: %[[X:[^:]*]]: f32, %[[N:[^:]*]]: i16, %[[P0:[^:]*]]: i32, %[[P1:[^:]*]]: i32, %[[P2:[^:]*]]: i32
// CHECK: scf.for %[[I:.*]] =
// CHECK: %[[E:.*]] = tensor.extract %{{.*}}[%[[I]]]
// CHECK: %[[II:.*]] = arith.index_cast %[[I]] : index to i32
// CHECK: llvm.call @printf(%{{.*}}, %[[P0]], %[[P1]], %[[P2]], %[[II]], %[[E]]) vararg
// CHECK: %[[D:.*]] = arith.extf %[[X]] : f32 to f64
// CHECK: llvm.call @printf(%{{.*}}, %[[P0]], %[[P1]], %[[P2]], %[[D]]) vararg
// CHECK: %[[W:.*]] = arith.extui %[[N]] : i16 to i32
// CHECK: llvm.call @printf(%{{.*}}, %[[P0]], %[[P1]], %[[P2]], %[[W]]) vararg
// CHECK: llvm.call @fflush
func.func @print(%x: f32, %n: i16) {
  %i = tile.make_range 0 to 4 : tensor<4xi32>
  tile.print "i = " %i : tensor<4xi32>
  tile.print "x = " %x : f32
  tile.print "n = " hex %n : i16
  return
}

// tl.device_assert: the false elements call the runtime's hook with the
// message (after the Python line), the program ids and the index.
// CHECK-LABEL: func.func private @check(
// CHECK: scf.for %[[I:.*]] =
// CHECK: %[[E:.*]] = tensor.extract
// CHECK: %[[F:.*]] = arith.xori %[[E]], %true
// CHECK: scf.if %[[F]] {
// CHECK: %[[R:.*]] = arith.constant 1 : i32
// CHECK: %[[II:.*]] = arith.index_cast %[[I]] : index to i32
// CHECK: llvm.call @tessera_cpu_assert_fail(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[R]], %[[II]],
func.func @check(%n: i32) {
  %i = tile.make_range 0 to 4 : tensor<4xi32>
  %s = tile.splat %n : i32 -> tensor<4xi32>
  %ok = arith.cmpi slt, %i, %s : tensor<4xi32>
  tile.assert %ok, "i must be small" : tensor<4xi1> loc("k.py":7:5)
  return
}
