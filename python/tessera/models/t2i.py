"""A text-to-image UNet/DiT transformer block (the SDXL/SD2 design that "On
the Scalability of Diffusion-based Text-to-Image Generation" scales):

    block = tessera.models.SpatialTransformer(channels=640, heads=10,
                                              context_dim=2048, depth=2)
    y = block(x, context)   # x (B, C, H, W) feature map, context (B, 77, context_dim)

GroupNorm (32 groups) and a linear projection in, then `depth` transformer
blocks (LayerNorm, self-attention over the H*W positions; LayerNorm,
cross-attention to the text tokens; LayerNorm, GEGLU feed-forward, each
residual), a projection out and the input added back. `attention`:
"tessera" runs both attentions on `tessera.torch.attention`, "torch" in
plain torch (the reference).
"""

import torch

from .. import torch as tt
from .wan import torch_attention


class Attention(torch.nn.Module):
    def __init__(self, dim, heads, context_dim=None):
        super().__init__()
        self.heads = heads
        self.q = torch.nn.Linear(dim, dim, bias=False)
        self.k = torch.nn.Linear(context_dim or dim, dim, bias=False)
        self.v = torch.nn.Linear(context_dim or dim, dim, bias=False)
        self.o = torch.nn.Linear(dim, dim)

    def forward(self, x, context, use_tessera):
        B, N, C = x.shape
        L = context.shape[1]
        n, d = self.heads, C // self.heads
        q = self.q(x).view(B, N, n, d).transpose(1, 2)
        k = self.k(context).view(B, L, n, d).transpose(1, 2)
        v = self.v(context).view(B, L, n, d).transpose(1, 2)
        out = tt.attention(q, k, v) if use_tessera else torch_attention(q, k, v)
        return self.o(out.transpose(1, 2).reshape(B, N, C))


class GEGLU(torch.nn.Module):
    """Linear to 2 x inner, a * gelu(gate), linear back."""

    def __init__(self, dim, mult=4):
        super().__init__()
        self.proj = torch.nn.Linear(dim, 2 * mult * dim)
        self.out = torch.nn.Linear(mult * dim, dim)

    def forward(self, x):
        a, gate = self.proj(x).chunk(2, -1)
        return self.out(a * torch.nn.functional.gelu(gate))


class TransformerBlock(torch.nn.Module):
    def __init__(self, dim, heads, context_dim):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = (torch.nn.LayerNorm(dim) for _ in range(3))
        self.attn1 = Attention(dim, heads)
        self.attn2 = Attention(dim, heads, context_dim)
        self.ff = GEGLU(dim)

    def forward(self, x, context, use_tessera):
        h = self.norm1(x)
        x = x + self.attn1(h, h, use_tessera)
        x = x + self.attn2(self.norm2(x), context, use_tessera)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(torch.nn.Module):
    def __init__(self, channels=640, heads=10, context_dim=2048, depth=1, attention="tessera",
                 groups=32):
        super().__init__()
        if attention not in ("tessera", "torch"):
            raise ValueError(f"SpatialTransformer: attention is 'tessera' or 'torch', got "
                             f"{attention!r}")
        self.attention = attention
        self.norm = torch.nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = torch.nn.Linear(channels, channels)
        self.blocks = torch.nn.ModuleList(TransformerBlock(channels, heads, context_dim)
                                          for _ in range(depth))
        self.proj_out = torch.nn.Linear(channels, channels)

    def forward(self, x, context):
        B, C, H, W = x.shape
        h = self.proj_in(self.norm(x).reshape(B, C, H * W).transpose(1, 2))
        for block in self.blocks:
            h = block(h, context, self.attention == "tessera")
        return x + self.proj_out(h).transpose(1, 2).reshape(B, C, H, W)
