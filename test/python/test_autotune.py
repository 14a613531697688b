"""@tessera.autotune and @tessera.heuristics: the choice, the per-key and
on-disk caches (one record per config), reset_to_zero, failing configs."""

import numpy as np
import pytest

import tessera
import tessera.language as tl
from tessera import CompilationError

rng = np.random.default_rng()


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(tmp_path))
    return tmp_path


def scale_fn(x_ptr, out_ptr, n, factor, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) * factor, mask=mask)


CONFIGS = [tessera.Config({"BLOCK": 64}), tessera.Config({"BLOCK": 128}, num_warps=8),
           tessera.Config({"BLOCK": 256})]


class FakeBench:
    """Times a config by its BLOCK (the test decides which one is fastest);
    it runs the launch once, and counts the configs it timed."""

    def __init__(self, ms_by_block):
        self.ms_by_block = ms_by_block
        self.timed = []

    def __call__(self, run):
        before = dict(tuner_launches)
        run()
        block = next(b for b in tuner_launches if tuner_launches[b] != before.get(b, 0))
        self.timed.append(block)
        return self.ms_by_block[block]


tuner_launches = {}


def make_tuner(bench, configs=CONFIGS, **options):
    def hook(named):
        tuner_launches[named["BLOCK"]] = tuner_launches.get(named["BLOCK"], 0) + 1
    configs = [tessera.Config(c.kwargs, c.num_warps, c.num_stages, pre_hook=hook)
               for c in configs]
    return tessera.autotune(configs, key=["n"], do_bench=bench, **options)(
        tessera.jit(scale_fn))


def launch(tuner, n):
    x = rng.standard_normal(n).astype(np.float32)
    out = np.zeros(n, np.float32)
    tuner[lambda meta: (tessera.cdiv(n, meta["BLOCK"]),)](x, out, n, 2.5)
    np.testing.assert_allclose(out, x.astype(np.float64) * 2.5, rtol=1e-6)


def test_picks_the_fastest_config_per_key(cache_dir):
    bench = FakeBench({64: 3.0, 128: 1.0, 256: 2.0})
    tuner = make_tuner(bench)
    launch(tuner, 1000)
    assert tuner.best_config.kwargs == {"BLOCK": 128} and tuner.best_config.num_warps == 8
    assert sorted(bench.timed) == [64, 128, 256]
    launch(tuner, 1000)  # same key: no timing
    assert len(bench.timed) == 3
    launch(tuner, 3000)  # a new key: its own timing (here from the same fake figures)
    assert len(bench.timed) == 6


def test_timings_persist_per_config(cache_dir):
    bench = FakeBench({64: 3.0, 128: 1.0, 256: 2.0, 512: 0.5})
    launch(make_tuner(bench), 4096)
    assert len(bench.timed) == 3
    # A new process would build a new tuner: all three come from disk.
    fresh = FakeBench({64: 9.0, 128: 9.0, 256: 9.0, 512: 0.5})
    tuner = make_tuner(fresh)
    launch(tuner, 4096)
    assert fresh.timed == [] and tuner.best_config.kwargs == {"BLOCK": 128}
    # A config added to the list is the only one timed; the others stay.
    grown = FakeBench({64: 9.0, 128: 9.0, 256: 9.0, 512: 0.5})
    tuner = make_tuner(grown, CONFIGS + [tessera.Config({"BLOCK": 512})])
    launch(tuner, 4096)
    assert grown.timed == [512] and tuner.best_config.kwargs == {"BLOCK": 512}
    # Dropping a config keeps the rest.
    fewer = FakeBench({64: 9.0, 128: 9.0, 256: 9.0, 512: 9.0})
    tuner = make_tuner(fewer, CONFIGS[:2])
    launch(tuner, 4096)
    assert fewer.timed == [] and tuner.best_config.kwargs == {"BLOCK": 128}


def test_cache_off_times_again(cache_dir, monkeypatch):
    launch(make_tuner(FakeBench({64: 1.0, 128: 2.0, 256: 3.0})), 2048)
    monkeypatch.setenv("TESSERA_CACHE", "0")
    bench = FakeBench({64: 1.0, 128: 2.0, 256: 3.0})
    launch(make_tuner(bench), 2048)
    assert len(bench.timed) == 3


def test_real_timing_and_dtype_in_the_key(cache_dir):
    tuner = tessera.autotune(CONFIGS, key=["n"])(tessera.jit(scale_fn))
    launch(tuner, 5000)
    assert tuner.best_config in CONFIGS
    (key, timings), = tuner.timings.items()
    assert all(t > 0 for t in timings.values())
    x = rng.standard_normal(5000)  # float64: another key
    out = np.zeros(5000)
    tuner[lambda meta: (tessera.cdiv(5000, meta["BLOCK"]),)](x, out, 5000, 2.0)
    np.testing.assert_allclose(out, x * 2.0)
    assert len(tuner.timings) == 2


@tessera.jit
def count_fn(total_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.atomic_add(total_ptr, tl.sum((offs < n).to(tl.int32), 0))


def test_reset_to_zero_keeps_the_result_exact(cache_dir):
    tuner = tessera.autotune([tessera.Config({"BLOCK": 32}), tessera.Config({"BLOCK": 64})],
                             key=["n"], reset_to_zero=["total_ptr"])(count_fn)
    total = np.zeros(1, np.int32)
    tuner[lambda meta: (tessera.cdiv(1000, meta["BLOCK"]),)](total, 1000)
    assert total[0] == 1000  # the timing runs' counts were reset


def test_configs_that_fail_drop_out(cache_dir):
    bad = tessera.Config({"BLOCK": 100})  # not a power of two: does not compile
    tuner = tessera.autotune([bad, tessera.Config({"BLOCK": 64})], key=["n"])(
        tessera.jit(scale_fn))
    launch(tuner, 300)
    assert tuner.best_config.kwargs == {"BLOCK": 64}
    assert tuner.timings[next(iter(tuner.timings))][bad] == float("inf")
    only_bad = tessera.autotune([bad, tessera.Config({"BLOCK": 48})], key=["n"])(
        tessera.jit(scale_fn))
    with pytest.raises(RuntimeError, match="no config ran .*BLOCK: 100.*CompilationError"):
        launch(only_bad, 300)
    # One config, one failure: its own error, with the kernel's line.
    with pytest.raises(CompilationError):
        launch(tessera.autotune([bad], key=["n"])(tessera.jit(scale_fn)), 300)


def test_bad_autotune_arguments():
    with pytest.raises(ValueError, match="'m' is not a parameter of scale_fn"):
        tessera.autotune(CONFIGS, key=["m"])(tessera.jit(scale_fn))
    with pytest.raises(ValueError, match="sets 'BLOCKS', which is not a parameter"):
        tessera.autotune([tessera.Config({"BLOCKS": 1})], key=["n"])(tessera.jit(scale_fn))
    with pytest.raises(ValueError, match="at least one Config"):
        tessera.autotune([], key=["n"])(tessera.jit(scale_fn))
    tuner = tessera.autotune(CONFIGS, key=["n"])(tessera.jit(scale_fn))
    x = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="'BLOCK' is set both by the launch and by the configs"):
        tuner[(1,)](x, x, 8, 1.0, BLOCK=64)


def test_heuristics_compute_constexprs():
    seen = []

    copy_fn = tessera.heuristics({"EVEN": lambda a: a["n"] % a["BLOCK"] == 0})(
        tessera.jit(copy_src))

    for n in (256, 300):
        x = rng.standard_normal(n).astype(np.float32)
        out = np.zeros(n, np.float32)
        kernel = copy_fn[(tessera.cdiv(n, 64),)](x, out, n, BLOCK=64)
        seen.append(kernel.constants["EVEN"])
        np.testing.assert_array_equal(out, x)
    assert seen == [True, False]


def test_heuristics_under_autotune(cache_dir):
    tuned = tessera.autotune([tessera.Config({"BLOCK": 32}), tessera.Config({"BLOCK": 128})],
                             key=["n"])(
        tessera.heuristics({"EVEN": lambda a: a["n"] % a["BLOCK"] == 0})(
            tessera.jit(copy_src)))
    n = 320
    x = rng.standard_normal(n).astype(np.float32)
    out = np.zeros(n, np.float32)
    tuned[lambda meta: (tessera.cdiv(n, meta["BLOCK"]),)](x, out, n)
    np.testing.assert_array_equal(out, x)


def copy_src(x_ptr, out_ptr, n, BLOCK: tl.constexpr, EVEN: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    if EVEN:
        tl.store(out_ptr + offs, tl.load(x_ptr + offs))
    else:
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)


def test_an_error_of_the_launch_is_raised_as_itself(cache_dir):
    """When every config fails the same way, the error is the launch's (here
    an argument of an unsupported type), not a list of config failures."""
    tuner = tessera.autotune(CONFIGS, key=["n"])(tessera.jit(scale_fn))
    with pytest.raises(TypeError, match="argument 'x_ptr' of scale_fn has unsupported type list"):
        tuner[(1,)]([1.0], np.zeros(4, np.float32), 4, 1.0)



def test_do_bench_interleaved_times_each_function():
    """do_bench_interleaved: one time per function, in order, each function
    run (its warm-up and its rounds); a slower function times slower."""
    import time
    from tessera.runtime.autotuner import do_bench_interleaved
    calls = [0, 0]

    def fast():
        calls[0] += 1

    def slow():
        calls[1] += 1
        time.sleep(0.002)

    times = do_bench_interleaved([fast, slow], warmup=1, rounds=4)
    assert len(times) == 2 and calls[0] >= 5 and calls[1] >= 5
    assert 0 <= times[0] < times[1] and times[1] >= 1.5
