# Loops, ifs, calls and early returns in the tile IR of the front end.
# RUN: %python %s | FileCheck %s

import tessera
import tessera.language as tl
from tessera.compiler import ASTSource


@tessera.jit
def square(x):
    return x * x


@tessera.jit
def loops(x_ptr, out_ptr, n, flag, MODE: tl.constexpr):
    acc = tl.zeros([16], dtype=tl.float32)
    for i in range(0, n, 16):
        acc += square(tl.load(x_ptr + i + tl.arange(0, 16)))
    total = tl.sum(acc, 0)
    if flag > 0:
        total = total * 2.0
    else:
        total = total - 1.0
    if MODE == "clamp":
        total = tl.minimum(total, 100.0)
    k = 0
    while k < n:
        k += 3
    tl.store(out_ptr, total + k)


# A helper @jit function is a private function, called and inlined later.
# CHECK-LABEL: func.func private @square__0(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<16xf32>) -> (tensor<16xf32>)
# CHECK: %[[R:.*]] = arith.mulf %[[X]], %[[X]] : tensor<16xf32>
# CHECK: func.return %[[R]] : tensor<16xf32>

# CHECK-LABEL: func.func @loops(
# The accumulator is carried by the loop.
# CHECK: %[[ACC:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[A:.*]] = %{{.*}}) -> (tensor<16xf32>) : i32 {
# CHECK:   %[[SQ:.*]] = func.call @square__0(%{{.*}}) : (tensor<16xf32>) -> (tensor<16xf32>)
# CHECK:   %[[NEW:.*]] = arith.addf %[[A]], %[[SQ]] : tensor<16xf32>
# CHECK:   scf.yield %[[NEW]] : tensor<16xf32>
# A run-time if merges the values of its branches.
# CHECK: %[[T:.*]] = scf.if %{{.*}} -> (f32) {
# CHECK:   arith.mulf
# CHECK:   scf.yield %{{.*}} : f32
# CHECK: } else {
# CHECK:   arith.subf
# CHECK:   scf.yield %{{.*}} : f32
# A compile-time if (MODE == "clamp") is resolved while generating.
# CHECK: arith.minnumf %[[T]], %{{.*}} : f32
# CHECK: %[[K:.*]] = scf.while (%[[KB:.*]] = %{{.*}}) : (i32) -> (i32) {
# CHECK:   %[[C:.*]] = arith.cmpi slt, %[[KB]], %{{.*}} : i32
# CHECK:   scf.condition(%[[C]]) %[[KB]] : i32
# CHECK: } do {
# CHECK: ^bb0(%[[KA:.*]]: i32):
# CHECK:   arith.addi %[[KA]], %{{.*}} : i32
# CHECK:   scf.yield
# CHECK: arith.sitofp %[[K]] : i32 to f32
print(ASTSource(loops, {"x_ptr": "*fp32", "out_ptr": "*fp32", "n": "i32", "flag": "i32"},
                {"MODE": "clamp"}).make_ir())


@tessera.jit
def early_exit(x_ptr, n):
    pid = tl.program_id(0)
    if pid >= n:
        return
    tl.store(x_ptr + pid, 1.0)


# The code after `if ...: return` becomes the else branch.
# CHECK-LABEL: func.func @early_exit(
# CHECK: %[[OUT:.*]] = arith.cmpi sge, %{{.*}}, %{{.*}} : i32
# CHECK: scf.if %[[OUT]] {
# CHECK-NEXT: scf.yield
# CHECK-NEXT: } else {
# CHECK: tile.store
# CHECK: scf.yield
# CHECK: }
# CHECK-NEXT: func.return
print(ASTSource(early_exit, {"x_ptr": "*fp32", "n": "i32"}).make_ir())
