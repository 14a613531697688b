# The tile IR the front end produces for straight-line kernels.
# RUN: %python %s | FileCheck %s

import tessera
import tessera.language as tl
from tessera.compiler import ASTSource


@tessera.jit
def add(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask, other=0.0)
    tl.store(out_ptr + offs, x + y, mask=mask)


# CHECK-LABEL: func.func @add(
# CHECK-SAME: %[[X:[a-z0-9]+]]: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %[[Y:[a-z0-9]+]]: !tile.ptr<f16>, %[[O:[a-z0-9]+]]: !tile.ptr<f32>, %[[N:[a-z0-9]+]]: i32 {tile.divisibility = 16 : i32})
# CHECK: %[[PID:.*]] = tile.program_id x : i32 loc("{{.*}}basic.py":11:11)
# BLOCK is a compile-time constant.
# CHECK: arith.constant 64 : i32
# CHECK: tile.make_range 0 to 64 : tensor<64xi32>
# CHECK: %[[MASK:.*]] = arith.cmpi slt, %{{.*}}, %{{.*}} : tensor<64xi32> loc("{{.*}}basic.py":13:12)
# CHECK: tile.splat %[[X]] : !tile.ptr<f32> -> tensor<64x!tile.ptr<f32>>
# CHECK: %[[XV:.*]] = tile.load %{{.*}}, %[[MASK]] : tensor<64x!tile.ptr<f32>> loc("{{.*}}basic.py":14:9)
# `other` is converted to the pointee type (f16 0.0 = 0x0000).
# CHECK: arith.constant 0x0000 : f16
# CHECK: %[[YV:.*]] = tile.load %{{.*}}, %[[MASK]], %{{.*}} : tensor<64x!tile.ptr<f16>>
# f32 + f16 promotes to f32.
# CHECK: %[[YW:.*]] = arith.extf %[[YV]] : tensor<64xf16> to tensor<64xf32>
# CHECK: %[[SUM:.*]] = arith.addf %[[XV]], %[[YW]] : tensor<64xf32>
# CHECK: tile.store %{{.*}}, %[[SUM]], %[[MASK]] : tensor<64x!tile.ptr<f32>> loc("{{.*}}basic.py":16:5)
# CHECK: func.return
print(ASTSource(add, {"x_ptr": "*fp32:16", "y_ptr": "*fp16", "out_ptr": "*fp32", "n": "i32:16"},
                {"BLOCK": 64}).make_ir())


@tessera.jit
def rows(x_ptr, out_ptr, stride, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    rm = tl.arange(0, BLOCK_M)
    rn = tl.arange(0, BLOCK_N)
    tile = tl.load(x_ptr + rm[:, None] * stride + rn[None, :])
    tl.store(out_ptr + rm, tl.max(tile, axis=1))


# CHECK-LABEL: func.func @rows(
# x[:, None] and x[None, :] insert unit dimensions; + broadcasts pointers and offsets.
# CHECK: tile.expand_dims %{{.*}}, axis = 1 : tensor<8xi32> -> tensor<8x1xi32>
# CHECK: tile.expand_dims %{{.*}}, axis = 0 : tensor<16xi32> -> tensor<1x16xi32>
# CHECK: tile.broadcast %{{.*}} : tensor<8x1x!tile.ptr<bf16>> -> tensor<8x16x!tile.ptr<bf16>>
# CHECK: tile.broadcast %{{.*}} : tensor<1x16xi32> -> tensor<8x16xi32>
# CHECK: %[[T:.*]] = tile.load %{{.*}} : tensor<8x16x!tile.ptr<bf16>>
# CHECK: tile.reduce(%[[T]]) axis = 1 : (tensor<8x16xbf16>) -> (tensor<8xbf16>) {
# CHECK: ^bb0(%[[A:.*]]: bf16, %[[B:.*]]: bf16):
# CHECK:   %[[M:.*]] = arith.maxnumf %[[A]], %[[B]] : bf16
# CHECK:   tile.reduce.return %[[M]] : bf16
print(ASTSource(rows, {"x_ptr": "*bf16", "out_ptr": "*bf16", "stride": "i32"},
                {"BLOCK_M": 8, "BLOCK_N": 16}).make_ir())
