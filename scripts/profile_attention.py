"""One dense attention forward (Wan2.1 shape) after a warm-up, for ncu:
  ncu -k regex:attention_fwd -c 1 --section SourceCounters --section WarpStateStats \\
      --page source --print-source sass --csv python3 scripts/profile_attention.py [--no-pingpong]
      [--no-producer] [--overlap]
--overlap runs the overlap loop (FlashAttention-3's intra-warpgroup
pipelining, ops.attention(..., overlap=True)).
"""
import sys

import torch

import tessera.ops as ops

if "--no-pingpong" in sys.argv:
    from tessera.backends.nvidia import NVIDIABackend
    NVIDIABackend.default_options["pingpong"] = False
if "--no-producer" in sys.argv:
    from tessera.backends.nvidia import NVIDIABackend
    NVIDIABackend.default_options["producer"] = False
q, k, v = (torch.randn(1, 12, 23296, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
for _ in range(2):
    ops.attention(q, k, v, block_m=128, block_n=128, num_warps=8, num_stages=2,
                  overlap="--overlap" in sys.argv)
torch.cuda.synchronize()
