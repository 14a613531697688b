// RUN: tessera-opt %s | tessera-opt | FileCheck %s

// CHECK-LABEL: func.func @pointers
// CHECK-SAME: !tile.ptr<f16>
// CHECK-SAME: !tile.ptr<i32, 3>
// CHECK-SAME: !tile.ptr<!tile.ptr<f32>>
// CHECK-SAME: tensor<4x8x!tile.ptr<bf16>>
// The default address space (1) is not printed.
// CHECK-SAME: !tile.ptr<i8>)
func.func @pointers(%a: !tile.ptr<f16>, %b: !tile.ptr<i32, 3>,
                    %c: !tile.ptr<!tile.ptr<f32>>, %d: tensor<4x8x!tile.ptr<bf16>>,
                    %e: !tile.ptr<i8, 1>) {
  return
}
