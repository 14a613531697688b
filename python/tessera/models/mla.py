"""DeepSeek-V2/V3 multi-head latent attention (MLA) as a torch module whose
two phases are evaluated in the orders Tessera's cost model picks.

    mla = tessera.models.MLA(dim=7168, heads=128)          # DeepSeek-V3 sizes
    out, cache = mla.prefill(x)                              # x (B, S, dim)
    out, cache = mla.decode(x_t, cache)                      # x_t (B, 1, dim)

Names follow the MLA note: c_Q = x W_DQ (q_lora), c_KV = x W_DKV
(kv_lora), per head q = W_UQ c_Q (d_nope), k = W_UK c_KV, v = W_UV c_KV,
plus the decoupled rope parts q_pe = rope(W_QR c_Q) per head and k_pe =
rope(x W_KR) shared by the heads; out = W_O [softmax((q.k + q_pe.k_pe) *
scale) v].

- Prefill: the scores `bshq,hdq,btk,hdk->bhst` (c_Q, W_UQ, c_KV, W_UK) and
  the output `bhst,btk,hvk->bshv` go through `tessera.ops.contract`, which
  orders each chain by FLOPs and bytes (for prefill: order 1, project then
  multiply).
- Prefill: `tessera.ops.mla_attention` (the chains through
  `tessera.ops.contract`).
- Decode: the order the cost model picks for the decode sizes
  (`tessera.ops.mla_scores_absorbed`). At DeepSeek's sizes that is the
  absorbed order (the MLA note's order 2: q_nope W_UK per head, attention
  over the latent cache, W_UV after), with the attention on
  `tessera.ops.mla_decode` over a paged cache of c_KV and k_pe (576 values
  per token); otherwise `tessera.ops.mla_attention` over the cache's
  latents.

The layer norms of c_Q and c_KV, and YaRN scaling, are left out: they do not
change the contraction orders or the kernels.
"""

import math

import torch

from .. import ops
from ..runtime import capture


def _rope(x, positions, base=10000.0):
    """Rotary embedding on the last dim (pairs (2i, 2i+1)) of x (B, S, d) or
    (B, S, H, d) at `positions` (S,) or (B, S)."""
    d = x.shape[-1]
    freqs = base ** (-torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d)
    angles = positions.to(torch.float64)[..., None] * freqs  # (S | B S, d/2)
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    if x.dim() == 4:  # per head: the same angle for every head
        cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * cos - x2 * sin
    out[..., 1::2] = x1 * sin + x2 * cos
    return out


class MLACache:
    """The latent KV of each sequence, in pages: `pages` (num_pages,
    page_size, kv_lora + d_rope), `block_table` (B, max_pages) int32 and
    `seqlens` (B,) int32, as `tessera.ops.mla_decode` takes them."""

    def __init__(self, pages, block_table, seqlens):
        self.pages, self.block_table, self.seqlens = pages, block_table, seqlens


class MLA(torch.nn.Module):
    def __init__(self, dim=7168, heads=128, q_lora=1536, kv_lora=512, d_nope=128, d_rope=64,
                 d_v=128, page_size=64, max_pages=64, dtype=torch.float32, device=None):
        super().__init__()
        self.heads, self.q_lora, self.kv_lora = heads, q_lora, kv_lora
        self.d_nope, self.d_rope, self.d_v = d_nope, d_rope, d_v
        self.page_size, self.max_pages = page_size, max_pages
        self.scale = 1.0 / math.sqrt(d_nope + d_rope)

        def weight(*shape, fan_in):
            return torch.nn.Parameter(torch.randn(*shape, dtype=dtype, device=device) /
                                      math.sqrt(fan_in))
        self.w_dq = weight(dim, q_lora, fan_in=dim)
        self.w_uq = weight(heads, d_nope, q_lora, fan_in=q_lora)
        self.w_qr = weight(heads, d_rope, q_lora, fan_in=q_lora)
        self.w_dkv = weight(dim, kv_lora, fan_in=dim)
        self.w_kr = weight(dim, d_rope, fan_in=dim)
        self.w_uk = weight(heads, d_nope, kv_lora, fan_in=kv_lora)
        self.w_uv = weight(heads, d_v, kv_lora, fan_in=kv_lora)
        self.w_o = weight(heads, d_v, dim, fan_in=heads * d_v)

    def naive(self, x):
        """Causal MLA over all of x (B, S, dim) in plain torch, in the naive
        order (keys and values per head materialized, no absorption): the
        reference the prefill and decode paths are checked against."""
        B, S, _ = x.shape
        pos = torch.arange(S, device=x.device)
        c_q = x @ self.w_dq
        q = torch.einsum("bsq,hdq->bshd", c_q, self.w_uq)
        q_pe = _rope(torch.einsum("bsq,hrq->bshr", c_q, self.w_qr), pos)
        c_kv = x @ self.w_dkv
        k = torch.einsum("btk,hdk->bthd", c_kv, self.w_uk)
        v = torch.einsum("btk,hvk->bthv", c_kv, self.w_uv)
        k_pe = _rope(x @ self.w_kr, pos)
        s = torch.einsum("bshd,bthd->bhst", q, k) + torch.einsum("bshr,btr->bhst", q_pe, k_pe)
        s = (s * self.scale).masked_fill(
            ~torch.ones(S, S, dtype=torch.bool, device=x.device).tril(), float("-inf"))
        o = torch.einsum("bhst,bthv->bshv", torch.softmax(s, -1), v)
        return torch.einsum("bshv,hve->bse", o, self.w_o)

    def _latents(self, x, positions):
        c_q = x @ self.w_dq
        q_pe = _rope(torch.einsum("bsq,hrq->bshr", c_q, self.w_qr), positions)
        c_kv = x @ self.w_dkv
        k_pe = _rope(x @ self.w_kr, positions)
        return c_q, q_pe, c_kv, k_pe

    def prefill(self, x):
        """Causal attention over x (B, S, dim); returns (out (B, S, dim),
        the MLACache of the S tokens)."""
        if x.dim() != 3 or x.shape[1] == 0:
            raise ValueError(f"MLA.prefill: x must be (B, S >= 1, dim); got {tuple(x.shape)}")
        B, S, _ = x.shape
        positions = torch.arange(S, device=x.device)
        c_q, q_pe, c_kv, k_pe = self._latents(x, positions)
        o = ops.mla_attention(c_q, q_pe, c_kv, k_pe, self.w_uq, self.w_uk, self.w_uv,
                              sm_scale=self.scale, causal=True)
        out = torch.einsum("bshv,hve->bse", o, self.w_o)
        return out, self._cache(torch.cat([c_kv, k_pe], -1))

    def _cache(self, latent):
        """Pages of `latent` (B, S, kv_lora + d_rope): entry b's pages are
        b * max_pages, b * max_pages + 1, ... (a simple allocator)."""
        B, S, W = latent.shape
        if S > self.page_size * self.max_pages:
            raise ValueError(f"MLA: {S} tokens exceed the cache ({self.max_pages} pages of "
                             f"{self.page_size})")
        pages = latent.new_zeros(B * self.max_pages, self.page_size, W)
        view = pages.view(B, self.max_pages * self.page_size, W)
        view[:, :S] = latent
        table = torch.arange(B * self.max_pages, dtype=torch.int32,
                             device=latent.device).view(B, self.max_pages)
        seqlens = torch.full((B,), S, dtype=torch.int32, device=latent.device)
        return MLACache(pages, table, seqlens)

    def decode(self, x, cache, absorbed=None):
        """One new token per sequence: x (B, 1, dim) at position seqlens[b];
        appends its latent KV to `cache` and attends over all of it, in the
        order the cost model picks for these sizes
        (`tessera.ops.mla_scores_absorbed`; `absorbed` True/False forces
        one): absorbed (the query taken into the latent space, attention on
        `tessera.ops.mla_decode` over the paged cache, W_UV after; what it
        picks at DeepSeek's sizes) or not (`tessera.ops.mla_attention` over
        the cache's latents, keys and values projected per head). Returns
        (out (B, 1, dim), cache). With `absorbed` given, a step makes no host
        synchronization, and can be captured in a CUDA graph (after one
        step run outside the capture)."""
        B = x.shape[0]
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"MLA.decode: one new token per sequence, x (B, 1, dim); got "
                             f"{tuple(x.shape)}")
        if cache.seqlens.shape[0] != B:
            raise ValueError(f"MLA.decode: the cache holds {cache.seqlens.shape[0]} sequences, "
                             f"x {B}")
        positions = cache.seqlens.long()[:, None]  # (B, 1)
        c_q, q_pe, c_kv, k_pe = self._latents(x, positions)
        slot = cache.seqlens.long()
        # (A host check: skipped while a CUDA graph is captured, where the
        # caller sizes the cache.)
        if not capture.capturing() and (slot >= self.max_pages * self.page_size).any():
            raise ValueError("MLA: the cache is full")
        page = cache.block_table.long()[torch.arange(B, device=x.device), slot // self.page_size]
        cache.pages[page, slot % self.page_size] = torch.cat([c_kv, k_pe], -1)[:, 0]
        cache.seqlens += 1  # in place: a captured step advances it on every replay
        if absorbed is None:
            absorbed = ops.mla_scores_absorbed(
                B, 1, int(cache.seqlens.max()), self.heads, self.q_lora, self.kv_lora,
                self.d_nope, element_bytes=x.element_size())
        if not absorbed:
            T = int(cache.seqlens.max())
            latent = cache.pages[cache.block_table.long()].reshape(B, -1, cache.pages.shape[-1])
            o = ops.mla_attention(c_q, q_pe, latent[:, :T, :self.kv_lora],
                                  latent[:, :T, self.kv_lora:], self.w_uq, self.w_uk, self.w_uv,
                                  sm_scale=self.scale, causal=False, kv_lengths=cache.seqlens)
            return torch.einsum("bshv,hve->bse", o, self.w_o), cache
        # Absorbed queries: c_Q W_UQ^T W_UK per head, in the latent space
        # (the two products in the cost model's order).
        q_lat = ops.contract("bsq,hdq,hdk->bhk", c_q[:, :1], self.w_uq, self.w_uk,
                             weights=[False, True, True])
        q = torch.cat([q_lat, q_pe[:, 0]], -1).contiguous()
        o_lat, _ = ops.mla_decode(q, cache.pages, cache.block_table, cache.seqlens,
                                  head_dim_v=self.kv_lora, sm_scale=self.scale)
        o = torch.einsum("bhk,hvk->bhv", o_lat.to(x.dtype), self.w_uv)
        out = torch.einsum("bhv,hve->be", o, self.w_o)[:, None]
        return out, cache


class TensorParallelMLA(torch.nn.Module):
    """MLA with its heads split over the ranks of a torch.distributed group
    (tensor parallel, as DeepSeek serves it: TP 8 gives 16 of 128 heads a
    GPU). Each rank holds the shared down-projections and latent cache and
    the per-head weights of its heads; each phase's output is the sum of
    the ranks' partial outputs (one all-reduce). The kernels are the same
    as for one device.

        tp = TensorParallelMLA(full_model, group=None)   # after init_process_group
        out, cache = tp.prefill(x); out, cache = tp.decode(x_t, cache)
    """

    PER_HEAD = ("w_uq", "w_qr", "w_uk", "w_uv", "w_o")  # the others are shared

    def __init__(self, full, group=None):
        super().__init__()
        import torch.distributed as dist
        self.group = group
        world, rank = dist.get_world_size(group), dist.get_rank(group)
        if full.heads % world:
            raise ValueError(f"TensorParallelMLA: {full.heads} heads do not split over {world} "
                             "ranks")
        n = full.heads // world
        heads = slice(rank * n, (rank + 1) * n)
        local = MLA(dim=full.w_dq.shape[0], heads=n, q_lora=full.q_lora, kv_lora=full.kv_lora,
                    d_nope=full.d_nope, d_rope=full.d_rope, d_v=full.d_v,
                    page_size=full.page_size, max_pages=full.max_pages, dtype=full.w_dq.dtype,
                    device=full.w_dq.device)
        with torch.no_grad():
            for name, p in local.named_parameters():
                w = getattr(full, name)
                p.copy_(w[heads] if name in self.PER_HEAD else w)
        local.scale = full.scale  # 1/sqrt(d_nope + d_rope), unchanged
        self.local = local

    def _reduce(self, out):
        import torch.distributed as dist
        dist.all_reduce(out, group=self.group)
        return out

    def prefill(self, x):
        out, cache = self.local.prefill(x)
        return self._reduce(out), cache

    def decode(self, x, cache, absorbed=None):
        out, cache = self.local.decode(x, cache, absorbed)
        return self._reduce(out), cache
