# tgraph.attention lowered by the compiler (tessera.graph), with no ragged
# key block: the forward kernel reads K and V through tensor descriptors
# over all Z*H*N rows, which on sm_90a are TMA copies with the ping-pong
# schedule (named barriers, no CTA barrier in the loop), as the DSL kernel's,
# issued by a producer warp (the `producer` option, on by default).
# RUN: %python %s > %t.ptx
# RUN: FileCheck %s < %t.ptx
# RUN: FileCheck %s --check-prefix=PRODUCER < %t.ptx
# REQUIRES: ptxas
# RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin

import tessera.graph
from tessera import ir
from tessera.backends.nvidia import NVIDIABackend

t = "tensor<1x2x512x128xbf16>"
g = tessera.graph.Graph(
    f"func.func @g(%q: {t}, %k: {t}, %v: {t}) -> {t} {{\n"
    f"  %o = tgraph.attention %q, %k, %v {{block_m = 128, block_n = 128}} : ({t}, {t}, {t}) -> {t}\n"
    f"  return %o : {t}\n}}", num_warps=8, num_stages=2)
name = g.steps[0][0]
backend = NVIDIABackend(arch="sm_90a")
binary = backend.compile(ir.function(g.module, name), name, False,
                         dict(backend.default_options, num_warps=8, num_stages=2))
header, _, ptx = binary.partition(b"\n")
print("// " + header.decode())  # a PTX comment: the launch header (tensor maps)
print(ptx.decode())

# Two tensor maps (K and V), rows 1 x 2 x 512 = 1024, boxes of 64 columns;
# a block of 8 + 1 warps.
# CHECK: // tessera:9:{{[0-9]+}}:{{.*}},c1024,{{.*}}|{{.*}},c1024,
# CHECK-LABEL: .visible .entry g_attention_0(
# CHECK: .reqntid 288, 1, 1
# The consumers: turns over their 256 threads, no copy, no barrier of all
# threads in the loop.
# CHECK: bar.arrive 1, 256;
# CHECK: bar.sync [[MINE:%r[0-9]+]], 256;
# CHECK-NEXT: wgmma.fence.sync.aligned;
# CHECK-NOT: bar.sync 0;
# CHECK-NOT: cp.async.bulk.tensor
# CHECK: bar.sync 1, 256;
# The producer warp (its code placed after theirs; LLVM unrolls its four
# iterations): a slot's release awaited, the slot armed, its copies.
# PRODUCER: bar.sync 1, 256;
# PRODUCER: mbarrier.try_wait.parity
# PRODUCER: mbarrier.arrive.expect_tx
# PRODUCER: cp.async.bulk.tensor.2d
