"""A RAR-style autoregressive image transformer (randomized autoregressive
visual generation): class-conditioned, over the 256 tokens of a 1024-entry
codebook, with causal attention, QK-LayerNorm and adaptive LayerNorm.

    model = tessera.models.RAR(vocab=1024, tokens=256, dim=768, heads=12, depth=24)
    logits = model(tokens, labels, order)      # training, tokens in a permuted order
    tokens = model.generate(labels)            # raster order, with a KV cache

Training (RAR): the sequence is the class token followed by the image's
tokens in `order` (a permutation of the positions, one per image); element
j carries the position embedding of the token it holds and the embedding
of the position it predicts next (target-aware), and causal attention over
the sequence predicts token order[j] at element j. Generation runs in
raster order, one token a step: each step's query attends to the keys and
values cached from the earlier steps. `attention` "tessera" runs both on
`tessera.torch.attention` (causal for training, one query over the cache
for a step), "torch" in plain torch (the reference).
"""

import torch
import torch.nn.functional as F

from .. import torch as tt
from .wan import torch_attention


class Block(torch.nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.o = torch.nn.Linear(dim, dim)
        d = dim // heads
        self.q_norm, self.k_norm = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.norm1 = torch.nn.LayerNorm(dim, elementwise_affine=False)
        self.norm2 = torch.nn.LayerNorm(dim, elementwise_affine=False)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(dim, 4 * dim), torch.nn.GELU(),
                                       torch.nn.Linear(4 * dim, dim))
        self.ada = torch.nn.Linear(dim, 6 * dim)  # from the class embedding

    def forward(self, x, cond, use_tessera, cache=None):
        """x (B, N, dim); cond (B, dim); cache: a list [k, v] of the earlier
        steps' keys and values (B, heads, t, d), extended in place (then the
        N new elements come after them and attend to all of them)."""
        B, N, C = x.shape
        n, d = self.heads, C // self.heads
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = self.ada(F.silu(cond))[:, None].chunk(
            6, -1)
        h = self.norm1(x) * (1 + scale_a) + shift_a
        q, k, v = self.qkv(h).view(B, N, 3, n, d).permute(2, 0, 3, 1, 4)
        q, k = self.q_norm(q), self.k_norm(k)
        if cache is not None:
            if cache:
                k, v = torch.cat((cache[0], k), 2), torch.cat((cache[1], v), 2)
            cache[:] = [k, v]
        causal = cache is None or N > 1
        if causal and k.shape[2] != N:
            raise ValueError("RAR: several new elements after cached ones (only a prefill of an "
                             "empty cache, or one element a step)")
        if use_tessera:
            out = tt.attention(q, k, v, causal=causal)
        else:
            mask = None
            if causal:
                t = k.shape[2]
                mask = torch.ones(N, t, dtype=torch.bool, device=x.device).tril(t - N)
            out = torch_attention(q, k, v, mask)
        x = x + gate_a * self.o(out.transpose(1, 2).reshape(B, N, C))
        return x + gate_m * self.mlp(self.norm2(x) * (1 + scale_m) + shift_m)


class RAR(torch.nn.Module):
    def __init__(self, vocab=1024, tokens=256, dim=768, heads=12, depth=24, classes=1000,
                 attention="tessera"):
        super().__init__()
        if attention not in ("tessera", "torch"):
            raise ValueError(f"RAR: attention is 'tessera' or 'torch', got {attention!r}")
        self.attention, self.tokens = attention, tokens
        self.token_emb = torch.nn.Embedding(vocab, dim)
        self.class_emb = torch.nn.Embedding(classes, dim)
        self.pos_emb = torch.nn.Parameter(torch.randn(tokens + 1, dim) * 0.02)
        self.target_emb = torch.nn.Parameter(torch.randn(tokens, dim) * 0.02)
        self.blocks = torch.nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = torch.nn.LayerNorm(dim)
        self.head = torch.nn.Linear(dim, vocab)

    def _run(self, x, cond, caches=None):
        use = self.attention == "tessera"
        for i, block in enumerate(self.blocks):
            x = block(x, cond, use, None if caches is None else caches[i])
        return self.head(self.norm(x))

    def forward(self, tokens, labels, order=None):
        """Logits (B, N, vocab) for tokens (B, N) of the image at the
        positions of `order` (B, N) (default: raster): element j predicts
        tokens[order[j]] from the class and tokens[order[:j]]."""
        B, N = tokens.shape
        if order is None:
            order = torch.arange(N, device=tokens.device).expand(B, N)
        cond = self.class_emb(labels)
        # Element 0: the class; element j > 0: the token at position
        # order[j - 1]; each also carries the position it predicts, order[j].
        held = self.token_emb(torch.gather(tokens, 1, order[:, :-1])) + \
            self.pos_emb[1:][order[:, :-1]]
        x = torch.cat((cond[:, None] + self.pos_emb[0], held), 1) + self.target_emb[order]
        return self._run(x, cond)

    @torch.no_grad()
    def generate(self, labels, steps=None, return_logits=False):
        """Greedy raster-order generation of `steps` tokens (default: all)
        with a KV cache per block: one query a step."""
        steps = steps or self.tokens
        cond = self.class_emb(labels)
        caches = [[] for _ in self.blocks]
        x = (cond + self.pos_emb[0] + self.target_emb[0])[:, None]
        out, logits = [], []
        for i in range(steps):
            step_logits = self._run(x, cond, caches)[:, -1]
            token = step_logits.argmax(-1)
            out.append(token)
            logits.append(step_logits)
            if i + 1 < steps:
                x = (self.token_emb(token) + self.pos_emb[1 + i] + self.target_emb[i + 1])[:, None]
        tokens = torch.stack(out, 1)
        return (tokens, torch.stack(logits, 1)) if return_logits else tokens
