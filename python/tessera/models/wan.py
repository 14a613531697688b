"""A Wan2.1-shaped diffusion transformer block with BSA self-attention.

    block = tessera.models.WanBlock(dim=1536, heads=12, ffn=8960,
                                    video=(16, 28, 52), attention="bsa")
    x = block(x, context, e)   # x (B, T*H*W, dim), context (B, L, dim), e (B, 6, dim)

Wan2.1-1.3B's block: adaptive LayerNorm (shift, scale, gate from the time
embedding `e` plus a learned table), self-attention with RMSNorm on q and k
and 3D rotary embeddings (the head dim split over frames, rows and
columns), cross-attention to the text tokens (LayerNorm with affine on x,
RMSNorm on q and k), and a tanh-GELU MLP. The text encoder's projection to
`dim` is outside the block (context arrives at `dim`).

`attention` picks the self-attention:
- "bsa": `tessera.torch.bsa_attention` (cubes of `cube` tokens, top-p `p`,
  at most `max_blocks` key blocks a query block); the lists it selected are
  kept in `last_lists` (over the blocks of the cube order);
- "dense": `tessera.torch.attention`;
- "torch": plain torch (softmax(q k^T * scale) v), and with `lists` given to
  forward, under the mask of those blocks: the reference a BSA block is
  checked against.
Cross-attention runs on `tessera.torch.attention` unless attention is
"torch".
"""

import math

import torch

from .. import torch as tt


def rope_3d(x, video):
    """Wan's 3D rotary embedding of x (B, S, heads, d) for tokens in (t, h, w)
    order: the pairs of the first d - 4 (d // 6) dims rotate with the frame,
    the next 2 (d // 6) with the row, the last 2 (d // 6) with the column."""
    B, S, H, d = x.shape
    T, HH, W = video
    part = [d - 4 * (d // 6), 2 * (d // 6), 2 * (d // 6)]
    grid = torch.stack(torch.meshgrid(torch.arange(T), torch.arange(HH), torch.arange(W),
                                      indexing="ij"), -1).reshape(S, 3).to(x.device)
    angles = []
    for axis, n in enumerate(part):
        freqs = 10000.0 ** (-torch.arange(0, n, 2, dtype=torch.float64, device=x.device) / n)
        angles.append(grid[:, axis, None].double() * freqs)
    angles = torch.cat(angles, -1)[None, :, None, :]  # (1, S, 1, d / 2)
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), -1).reshape(x.shape)


class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def torch_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d) masked) v in plain torch, (B, heads, S, d)
    (torch 2's scaled_dot_product_attention where there is one; `mask`
    True where a query sees a key)."""
    sdpa = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
    if sdpa is not None:
        return sdpa(q, k, v, attn_mask=mask)
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, -1) @ v


def cube_order(video, cube, device=None):
    """The token (t, h, w order) at each position of the cube order."""
    T, H, W = video
    t, h, w = cube
    ids = torch.arange(T * H * W, device=device).reshape(T // t, t, H // h, h, W // w, w)
    return ids.permute(0, 2, 4, 1, 3, 5).reshape(-1)


def block_mask(index, count, block, S):
    """(B, heads, S, S) bool: query block qb sees key blocks index[..., qb,
    :count] (positions in the cube order)."""
    B, H, QB, L = index.shape
    used = torch.arange(L, device=index.device) < count[..., None]
    blocks = torch.zeros(B, H, QB, QB + 1, dtype=torch.bool, device=index.device)
    blocks.scatter_(3, torch.where(used, index.long(), QB), True)
    blocks = blocks[..., :QB]
    return blocks.repeat_interleave(block, 2).repeat_interleave(block, 3)[:, :, :S, :S]


class SelfAttention(torch.nn.Module):
    def __init__(self, dim, heads, eps):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (torch.nn.Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = RMSNorm(dim, eps), RMSNorm(dim, eps)

    def forward(self, x, block, lists=None):
        B, S, C = x.shape
        n, d = self.heads, C // self.heads
        q = rope_3d(self.norm_q(self.q(x)).view(B, S, n, d), block.video).transpose(1, 2)
        k = rope_3d(self.norm_k(self.k(x)).view(B, S, n, d), block.video).transpose(1, 2)
        v = self.v(x).view(B, S, n, d).transpose(1, 2)
        if block.attention == "bsa":
            out, block.last_lists = tt.bsa_attention(
                q, k, v, block.video, block.cube, p=block.p, max_blocks=block.max_blocks,
                return_lists=True)
        elif block.attention == "dense":
            out = tt.attention(q, k, v)
        elif lists is not None:  # plain torch over the given blocks of the cube order
            order = cube_order(block.video, block.cube, x.device)
            mask = block_mask(*lists, math.prod(block.cube), S)
            out = torch.empty_like(q)
            out[:, :, order] = torch_attention(q[:, :, order], k[:, :, order],
                                               v[:, :, order], mask)
        else:
            out = torch_attention(q, k, v)
        return self.o(out.transpose(1, 2).reshape(B, S, C))


class CrossAttention(torch.nn.Module):
    def __init__(self, dim, heads, eps):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (torch.nn.Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = RMSNorm(dim, eps), RMSNorm(dim, eps)

    def forward(self, x, context, use_tessera):
        B, S, C = x.shape
        L = context.shape[1]
        n, d = self.heads, C // self.heads
        q = self.norm_q(self.q(x)).view(B, S, n, d).transpose(1, 2)
        k = self.norm_k(self.k(context)).view(B, L, n, d).transpose(1, 2)
        v = self.v(context).view(B, L, n, d).transpose(1, 2)
        out = tt.attention(q, k, v) if use_tessera else torch_attention(q, k, v)
        return self.o(out.transpose(1, 2).reshape(B, S, C))


class WanBlock(torch.nn.Module):
    def __init__(self, dim=1536, heads=12, ffn=8960, video=(16, 28, 52), attention="bsa",
                 cube=(8, 4, 4), p=0.9, max_blocks=None, eps=1e-6):
        super().__init__()
        if attention not in ("bsa", "dense", "torch"):
            raise ValueError(f"WanBlock: attention is 'bsa', 'dense' or 'torch', got "
                             f"{attention!r}")
        self.video, self.cube, self.p, self.max_blocks = tuple(video), tuple(cube), p, max_blocks
        self.attention = attention
        self.last_lists = None
        self.modulation = torch.nn.Parameter(torch.randn(1, 6, dim) / math.sqrt(dim))
        self.norm1 = torch.nn.LayerNorm(dim, eps, elementwise_affine=False)
        self.norm2 = torch.nn.LayerNorm(dim, eps, elementwise_affine=False)
        self.norm3 = torch.nn.LayerNorm(dim, eps)
        self.self_attn = SelfAttention(dim, heads, eps)
        self.cross_attn = CrossAttention(dim, heads, eps)
        self.ffn = torch.nn.Sequential(torch.nn.Linear(dim, ffn),
                                       torch.nn.GELU(approximate="tanh"),
                                       torch.nn.Linear(ffn, dim))

    def forward(self, x, context, e, lists=None):
        """x (B, S, dim) tokens in (t, h, w) order, context (B, L, dim), e (B,
        6, dim) the time embedding's modulation; `lists` (attention "torch"):
        the blocks a BSA block selected (its last_lists)."""
        shift_a, scale_a, gate_a, shift_f, scale_f, gate_f = (self.modulation + e).chunk(6, 1)
        y = self.self_attn(self.norm1(x) * (1 + scale_a) + shift_a, self, lists)
        x = x + y * gate_a
        x = x + self.cross_attn(self.norm3(x), context, self.attention != "torch")
        y = self.ffn(self.norm2(x) * (1 + scale_f) + shift_f)
        return x + y * gate_f
