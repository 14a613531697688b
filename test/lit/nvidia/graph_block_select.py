# tgraph.block_select lowered by the compiler (tessera.graph) at BSA's
# S = 23296 shape (182 key blocks of 128, at most 13 kept): the selection
# kernel takes the kept blocks one max reduction at a time (value and
# lowest index by butterfly shuffles, lane 0's broadcast: on one warp, the
# kernel's `tgraph.num_warps`, as tessera.ops launches its selection, no
# shared memory); with 40 kept at most it bisects. ptxas accepts both for
# sm_90a.
# RUN: %python %s 13 > %t.ptx
# RUN: FileCheck %s < %t.ptx
# RUN: %python %s 40 | FileCheck %s --check-prefix=BISECT
# REQUIRES: ptxas
# RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin
# CHECK: .visible .entry {{.*}}block_select
# CHECK: shfl.sync.bfly.b32
# CHECK: shfl.sync.idx.b32
# BISECT: .visible .entry {{.*}}block_select

import sys

import tessera.graph
from tessera import ir
from tessera.backends.nvidia import NVIDIABackend

L = int(sys.argv[1])
tq = "tensor<1x12x23296x128xbf16>"
ti, tc = f"tensor<1x12x182x{L}xi32>", "tensor<1x12x182xi32>"
g = tessera.graph.Graph(
    f"func.func @g(%q: {tq}, %k: {tq}) -> ({ti}, {tc}) {{\n"
    f"  %i, %c = tgraph.block_select %q, %k {{block_m = 128, block_n = 128, mass = 0.9 : f32,"
    f" min_blocks = 1}} : {tq}, {tq} -> {ti}, {tc}\n"
    f"  return %i, %c : {ti}, {tc}\n}}")
name = g.steps[-1][0]
warps = ir.kernel_warps(g.module, name)  # the lowering's choice, as tessera.graph takes it
assert warps == 1, warps
backend = NVIDIABackend(arch="sm_90a")
binary = backend.compile(ir.function(g.module, name), name, False,
                         dict(backend.default_options, num_warps=warps))
print(binary.partition(b"\n")[2].decode())
