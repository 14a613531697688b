"""VideoMaker's personalised injection as a torch module: spatial
self-attention where a clip of F frames is preceded by a reference frame.

    layer = tessera.models.ReferenceInjection(dim=320, heads=5, frame_tokens=1024)
    y = layer(x)    # x (B, (F + 1) * frame_tokens, dim), the reference frame first

Each frame's queries attend to [reference frame; own frame]; the reference
frame's output is the average over the frames of what its queries get from
[reference; frame f]. With attention "tessera" the frames run as one
block-sparse attention (`tessera.torch.block_sparse_attention`: frame f's
query blocks list the reference's key blocks and frame f's) and the
reference as one batched `tessera.torch.attention` over the F key sets;
"torch" computes the same in plain torch (the reference).
"""

import torch

from .. import torch as tt
from .wan import torch_attention


class ReferenceInjection(torch.nn.Module):
    def __init__(self, dim, heads, frame_tokens, attention="tessera"):
        super().__init__()
        if attention not in ("tessera", "torch"):
            raise ValueError(f"ReferenceInjection: attention is 'tessera' or 'torch', got "
                             f"{attention!r}")
        self.heads, self.frame_tokens, self.attention = heads, frame_tokens, attention
        self.block = next(b for b in (64, 32, 16) if frame_tokens % b == 0) \
            if frame_tokens % 16 == 0 else None
        if self.block is None:
            raise ValueError(f"ReferenceInjection: frame_tokens ({frame_tokens}) must be a "
                             "multiple of 16")
        self.q, self.k, self.v, self.o = (torch.nn.Linear(dim, dim) for _ in range(4))

    def _lists(self, B, frames, device):
        """Frame f's query blocks: the reference's key blocks, then frame f's."""
        per = self.frame_tokens // self.block
        QB = (frames + 1) * per
        rows = []
        for qb in range(QB):
            f = max(qb // per, 1)  # the reference's own rows: unused (overwritten)
            rows.append(list(range(per)) + list(range(f * per, (f + 1) * per)))
        index = torch.tensor(rows, dtype=torch.int32, device=device)
        index = index.expand(B, self.heads, QB, 2 * per).contiguous()
        count = torch.full((B, self.heads, QB), 2 * per, dtype=torch.int32, device=device)
        return index, count

    def forward(self, x):
        B, S, C = x.shape
        N, n, d = self.frame_tokens, self.heads, C // self.heads
        frames = S // N - 1
        q, k, v = (proj(x).view(B, S, n, d).transpose(1, 2) for proj in (self.q, self.k, self.v))
        # The reference frame's queries against [reference; frame f], each f
        # a batch entry; averaged over f.
        qr = q[:, :, :N, None].expand(B, n, N, frames, d).permute(0, 3, 1, 2, 4)
        kr, vr = (torch.cat((t[:, :, None, :N].expand(B, n, frames, N, d),
                             t[:, :, N:].reshape(B, n, frames, N, d)), 3)
                  .permute(0, 2, 1, 3, 4) for t in (k, v))
        flat = [t.reshape(B * frames, n, -1, d) for t in (qr, kr, vr)]
        if self.attention == "tessera":
            ref = tt.attention(*flat)
            out = tt.block_sparse_attention(q, k, v, *self._lists(B, frames, x.device),
                                            block_m=self.block, block_n=self.block)
        else:
            ref = torch_attention(*flat)
            pos = torch.arange(S, device=x.device) // N
            mask = (pos[None, :] == 0) | (pos[None, :] == pos[:, None])
            out = torch_attention(q, k, v, mask)
        ref = ref.reshape(B, frames, n, N, d).mean(1)
        out = torch.cat((ref, out[:, :, N:]), 2)
        return self.o(out.transpose(1, 2).reshape(B, S, C))
