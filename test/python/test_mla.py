"""tessera.ops.mla_decode (absorbed MLA decoding over a paged latent KV
cache, split over the sequence and combined) on the CPU backend, against a
float64 numpy reference on fresh random data; and its input checks."""

import numpy as np
import pytest

import tessera

rng = np.random.default_rng()


def reference(q, kv, table, lens, d_lat, scale):
    """float64 softmax(q . k * scale) . c_kv per entry over its first lens[b]
    tokens (pages table[b, 0], table[b, 1], ...); lse in natural log."""
    B, H, _ = q.shape
    out = np.zeros((B, H, d_lat))
    lse = np.full((B, H), -np.inf)
    for b in range(B):
        if lens[b] == 0:
            continue
        toks = np.concatenate([kv[p] for p in table[b]])[:lens[b]].astype(np.float64)
        s = q[b].astype(np.float64) @ toks.T * scale
        m = s.max(1, keepdims=True)
        p = np.exp(s - m)
        total = p.sum(1, keepdims=True)
        out[b] = p / total @ toks[:, :d_lat]
        lse[b] = np.log(total[:, 0]) + m[:, 0]
    return out, lse


def random_cache(B, H, d_lat, d_rope, page, lens, pages, dtype=np.float32):
    max_pages = max(1, max(-(-n // page) for n in lens))
    table = np.stack([rng.permutation(pages)[:max_pages] for _ in range(B)])
    q = rng.standard_normal((B, H, d_lat + d_rope)).astype(dtype)
    kv = rng.standard_normal((pages, page, d_lat + d_rope)).astype(dtype)
    return q, kv, table, np.array(lens)


@pytest.mark.parametrize("B,H,d_lat,d_rope,page,lens,splits,block_h", [
    (2, 16, 64, 16, 16, [40, 16], 1, 16),       # one split, a partial last page
    (3, 20, 64, 16, 16, [37, 0, 100], 3, 16),   # an empty entry, heads past a block
    (2, 8, 32, 16, 32, [5, 200], 8, 16),        # more splits than one entry's pages
    (1, 40, 128, 32, 16, [129], None, 32),      # default splits, 2 head blocks of 32
    (2, 16, 64, 16, 64, [64, 63], 2, 16),       # a page of 64
])
def test_mla_decode(B, H, d_lat, d_rope, page, lens, splits, block_h):
    pages = 3 * max(1, max(-(-n // page) for n in lens)) + 2
    q, kv, table, lens = random_cache(B, H, d_lat, d_rope, page, lens, pages)
    scale = 1 / np.sqrt(d_lat + d_rope)
    out, lse = tessera.ops.mla_decode(q, kv, table, lens, head_dim_v=d_lat, num_splits=splits,
                                      block_h=block_h)
    want, want_lse = reference(q, kv, table, lens, d_lat, scale)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lse, want_lse, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("d_lat,page,block_n,out_block,splits", [
    (128, 64, 16, 32, 2),   # four output parts, four steps per page
    (64, 32, 32, 16, 3),
    (512, 64, 32, 256, 2),  # DeepSeek's latent: two parts of 256
    (64, 64, 64, 64, 2),    # the whole latent, a page a step
])
def test_mla_decode_output_parts_and_steps(d_lat, page, block_n, out_block, splits):
    """Programs over parts of the output dims (the scores recomputed by each)
    and several token steps per page give the same result."""
    lens = [3 * page + 5, page, 1]
    q, kv, table, lens = random_cache(3, 20, d_lat, 16, page, lens, 12)
    out, lse = tessera.ops.mla_decode(q, kv, table, lens, head_dim_v=d_lat, num_splits=splits,
                                      block_n=block_n, out_block=out_block)
    want, want_lse = reference(q, kv, table, lens, d_lat, 1 / np.sqrt(d_lat + 16))
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lse, want_lse, rtol=1e-5, atol=1e-5)


def test_mla_decode_kv_head_axis_and_scale():
    """kv_cache with FlashMLA's KV-head axis of 1, and an explicit scale."""
    q, kv, table, lens = random_cache(2, 16, 64, 16, 16, [30, 50], 10)
    out, lse = tessera.ops.mla_decode(q, kv[:, :, None, :], table, lens, head_dim_v=64,
                                      sm_scale=0.05, num_splits=2)
    want, want_lse = reference(q, kv, table, lens, 64, 0.05)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lse, want_lse, rtol=1e-5, atol=1e-5)


def test_mla_decode_errors():
    q, kv, table, lens = random_cache(2, 16, 64, 16, 16, [30, 50], 10)
    with pytest.raises(ValueError, match="share a dtype"):
        tessera.ops.mla_decode(q, kv.astype(np.float16), table, lens, head_dim_v=64)
    with pytest.raises(ValueError, match="powers of two"):
        tessera.ops.mla_decode(q, kv, table, lens, head_dim_v=48)
    with pytest.raises(ValueError, match="cache_seqlens must be in"):
        tessera.ops.mla_decode(q, kv, table, np.array([30, 1000]), head_dim_v=64)
    bad = table.copy()
    bad[1, 0] = 99
    with pytest.raises(ValueError, match="block_table entries in use"):
        tessera.ops.mla_decode(q, kv, bad, lens, head_dim_v=64)
    with pytest.raises(ValueError, match="one latent KV head"):
        tessera.ops.mla_decode(q, np.stack([kv, kv], 2), table, lens, head_dim_v=64)
    with pytest.raises(ValueError, match="num_splits"):
        tessera.ops.mla_decode(q, kv, table, lens, head_dim_v=64, num_splits=0)
    with pytest.raises(ValueError, match="block_n"):
        tessera.ops.mla_decode(q, kv, table, lens, head_dim_v=64, block_n=32)
    with pytest.raises(ValueError, match="out_block"):
        tessera.ops.mla_decode(q, kv, table, lens, head_dim_v=64, out_block=48)
    # More entries than the grid's y extent (a broadcast view: no memory).
    many = np.broadcast_to(q[:1], (65536,) + q.shape[1:])
    with pytest.raises(ValueError, match="at most 65535 batch entries"):
        tessera.ops.mla_decode(many, kv, table, lens, head_dim_v=64)


def test_mla_decode_checks_changed_lists_again():
    """int32 torch tensors for the table and lengths are checked once and
    used as they are while they do not change; a length changed in place
    (a new torch version) is checked again, and splits cover the table's
    every page (a length grown within it is computed in full)."""
    torch = pytest.importorskip("torch")
    q, kv, table, lens = random_cache(2, 16, 64, 16, 16, [30, 50], 10)
    table = np.concatenate([table, np.stack([rng.permutation(10)[:2]] * 2)], 1)  # 6 pages
    table_t, lens_t = torch.from_numpy(table.astype(np.int32)), torch.from_numpy(
        lens.astype(np.int32))
    qt, kvt = torch.from_numpy(q), torch.from_numpy(kv)
    for n in ([30, 50], [90, 1]):
        lens_t.copy_(torch.tensor(n, dtype=torch.int32))
        want, want_lse = reference(q, kv, table, np.array(n), 64, 1 / np.sqrt(80))
        for _ in range(2):  # checked, then as checked before
            out, lse = tessera.ops.mla_decode(qt, kvt, table_t, lens_t, head_dim_v=64,
                                              num_splits=3)
            np.testing.assert_allclose(out.numpy(), want, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(lse.numpy(), want_lse, rtol=1e-4, atol=1e-4)
    lens_t[1] = 97  # past the table's 6 pages of 16
    with pytest.raises(ValueError, match="cache_seqlens must be in"):
        tessera.ops.mla_decode(qt, kvt, table_t, lens_t, head_dim_v=64)


def test_mla_decode_repeated_steps_reuse_their_checks():
    """A decode step repeated with the same shapes, options, table and
    lengths (torch int32) reuses its checked launch choices (one plan),
    with new query values and a kv_cache with its KV-head axis; a new
    option or a table changed in place makes a new plan."""
    torch = pytest.importorskip("torch")
    q, kv, table, lens = random_cache(2, 16, 64, 16, 16, [30, 50], 10)
    table_t, lens_t = (torch.from_numpy(a.astype(np.int32)) for a in (table, lens))
    kv4 = torch.from_numpy(kv)[:, :, None, :]  # (pages, page, 1, D)
    plans = tessera.ops._MLA_PLANS
    plans.clear()
    for step in range(3):
        qs = q * (step + 1)
        out, lse = tessera.ops.mla_decode(torch.from_numpy(qs), kv4, table_t, lens_t,
                                          head_dim_v=64, num_splits=2)
        want, want_lse = reference(qs, kv, table, lens, 64, 1 / np.sqrt(80))
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(lse.numpy(), want_lse, rtol=1e-4, atol=1e-4)
        assert len(plans) == 1
    tessera.ops.mla_decode(torch.from_numpy(q), kv4, table_t, lens_t, head_dim_v=64,
                           num_splits=3)
    assert len(plans) == 2
    table_t[1, 0] = table_t[0, 0]  # a new version: checked again (its plan replaced)
    out, _ = tessera.ops.mla_decode(torch.from_numpy(q), kv4, table_t, lens_t, head_dim_v=64,
                                    num_splits=2)
    want, _ = reference(q, kv, table_t.numpy(), lens, 64, 1 / np.sqrt(80))
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-4, atol=1e-4)
    assert len(plans) == 2
    assert (table_t._version, lens_t._version) in [p[2] for p in plans.values()]


def test_mla_decode_lengths_grown_during_capture(monkeypatch):
    """Inside a CUDA graph capture (simulated) lengths changed in place are
    not checked again (that would copy them to the host): the step reuses
    its plan and the kernels read the new lengths."""
    torch = pytest.importorskip("torch")
    from tessera.runtime import capture
    q, kv, table, lens = random_cache(2, 16, 64, 16, 16, [30, 50], 10)
    table_t, lens_t = (torch.from_numpy(a.astype(np.int32)) for a in (table, lens))
    kv_t = torch.from_numpy(kv)
    tessera.ops.mla_decode(torch.from_numpy(q), kv_t, table_t, lens_t, head_dim_v=64)
    plans = dict(tessera.ops._MLA_PLANS)
    monkeypatch.setattr(capture, "capturing", lambda: True)
    lens_t += 3  # still within the table's pages
    out, _ = tessera.ops.mla_decode(torch.from_numpy(q), kv_t, table_t, lens_t, head_dim_v=64)
    assert tessera.ops._MLA_PLANS == plans  # no new check
    want, _ = reference(q, kv, table, lens + 3, 64, 1 / np.sqrt(80))
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-4, atol=1e-4)


def test_mla_decode_fits_sm90a():
    """At DeepSeek's shapes (512 + 64, pages of 64) and 64 heads per program,
    the sm_90a kernel (compiled to PTX here, no GPU needed) runs every dot
    on wgmma, copies its tiles ahead with cp.async and fits in an H100/H200's
    227 KB of shared memory: the epilogue's scratch shares the dead slots'
    bytes."""
    from tessera.backends.nvidia import NVIDIABackend
    from tessera.compiler.frontend import ASTSource
    from tessera.kernels.mla import mla_decode_split as f
    sig = {n: "i32" for n in f.arg_names}
    sig.update({"Q": "*bf16:16", "KV": "*bf16:16", "BLOCK_TABLE": "*i32:16",
                "SEQLENS": "*i32:16", "O_PART": "*fp32:16", "LSE_PART": "*fp32:16",
                "sm_scale": "fp32"})
    consts = dict(D_LAT=512, D_ROPE=64, PAGE=64, BLOCK_H=64, BLOCK_N=32, D_OUT=256, TMA=False)
    for c in consts:
        sig.pop(c)
    for n in ("stride_qb", "stride_qh", "stride_kvp", "stride_kvt", "stride_btb"):
        sig[n] = "i32:16"
    binary = NVIDIABackend(arch="sm_90a").compile(ASTSource(f, sig, consts).make_ir(),
                                                  "mla_decode_split", False,
                                                  {"num_warps": 4, "num_stages": 2})
    header, _, ptx = binary.partition(b"\n")
    assert int(header.split(b":")[2]) <= 232448, header
    ptx = ptx.decode()
    assert "wgmma.mma_async" in ptx and "mma.sync" not in ptx
    assert "cp.async.cg" in ptx


@pytest.mark.parametrize("B,H,lens,splits,block_h,page,dtype", [
    (3, 16, [200, 1, 64], 2, 16, 64, np.float32),    # ragged, one token, two splits
    (2, 20, [130, 0], None, 16, 64, np.float32),     # an empty entry, a partial head block
    (1, 32, [100], 1, 32, 64, np.float32),
    (2, 16, [300, 129], 2, None, 128, np.float32),   # two 64-token steps a page
    (2, 8, [90, 200], 1, None, 64, np.float16),      # fp16, fewer heads than a block
])
def test_mla_decode_heads_on_n(B, H, lens, splits, block_h, page, dtype):
    """The transposed kernel (scores as tokens x heads, the output as latent
    x heads, the denominators summed after the loop) against float64."""
    q, kv, table, lens = random_cache(B, H, 64, 16, page, lens, 8, dtype=dtype)
    out, lse = tessera.ops.mla_decode(q, kv, table, lens, head_dim_v=64, num_splits=splits,
                                      heads_on_n=True, block_h=block_h)
    want, want_lse = reference(q, kv, table, lens, 64, 1 / np.sqrt(80))
    tol = 1e-4 if dtype == np.float32 else 2e-2
    np.testing.assert_allclose(np.asarray(out, np.float64), want, rtol=tol,
                               atol=tol * np.abs(want).max())
    np.testing.assert_allclose(lse, want_lse, rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="heads_on_n takes 64 tokens"):
        tessera.ops.mla_decode(q, kv, table, lens, head_dim_v=64, heads_on_n=True, block_n=32)
