"""A short run of the kernel fuzzer (tessera.testing.fuzz): random
well-typed kernels (arithmetic, math, masks, reductions, scans, a loop, a
branch) on the active backend against float64 numpy references. The
seeds are test/fuzz/seeds.txt (a fixed sample and every seed that once
failed); tools/fuzz_kernels.py runs long sweeps."""

import pathlib

import pytest

from tessera.testing import fuzz

SEEDS_FILE = pathlib.Path(__file__).resolve().parents[1] / "fuzz" / "seeds.txt"


def seeds():
    out = []
    for line in SEEDS_FILE.read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        if "-" in line:
            a, b = (int(x) for x in line.split("-"))
            out.extend(range(a, b + 1))
        else:
            out.append(int(line))
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return str(tmp_path_factory.mktemp("fuzz"))


@pytest.mark.parametrize("seed", seeds())
def test_fuzz_seed(seed, folder):
    fuzz.check(seed, folder)


def test_generator_is_deterministic():
    assert fuzz.program(123).source == fuzz.program(123).source
    assert fuzz.program(123).source != fuzz.program(124).source


@pytest.mark.parametrize("seed", range(12))
def test_fuzz_kernels_compile_for_the_gpu(seed, folder):
    """The same kernels through the NVIDIA pipeline (and ptxas when there)."""
    for arch in ("sm_90a", "sm_80"):
        fuzz.compile_ptx(seed, arch, folder)
