"""The IR entry points of the Python package: parse, verify, run passes."""

import pathlib
import random
import re

import pytest

import tessera
from tessera.ir import IRError

ROOT = pathlib.Path(__file__).resolve().parents[2]

VECTOR_ADD = (ROOT / "examples" / "ir" / "vector_add.mlir").read_text()


def test_version_matches_cmake():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    version = re.search(r"project\(tessera .*VERSION ([0-9.]+)\)", cmake).group(1)
    assert tessera.__version__ == version


def test_example_round_trips():
    printed = tessera.ir.parse(VECTOR_ADD, "vector_add.mlir")
    assert "tile.load" in printed and "tile.store" in printed
    # Printing is a fixed point, in custom and in generic form.
    assert tessera.ir.parse(printed) == printed
    generic = tessera.ir.parse(VECTOR_ADD, generic=True)
    assert '"tile.addptr"' in generic
    assert tessera.ir.parse(generic) == printed


def test_verifier_error_names_file_line_and_column():
    text = "func.func @f(%x: f32) {\n  %t = tile.splat %x : f32 -> tensor<12xf32>\n  return\n}\n"
    with pytest.raises(IRError) as info:
        tessera.ir.parse(text, "kernel.mlir")
    assert "kernel.mlir:2:8: error: 'tile.splat' op result dimensions must be powers of two" in str(
        info.value
    )


def test_parse_error_is_an_exception_not_a_crash():
    with pytest.raises(IRError) as info:
        tessera.ir.parse("func.func @f( {", "broken.mlir")
    assert info.value.diagnostics.startswith("broken.mlir:1:")


@pytest.mark.parametrize("seed", range(3))
def test_make_range_sizes(seed):
    """Random ranges: power-of-two lengths verify, the others are rejected."""
    rng = random.Random(seed)
    for _ in range(20):
        start = rng.randrange(0, 4096)
        length = rng.randrange(1, 4096)
        text = (
            f"func.func @r() -> tensor<{length}xi32> {{\n"
            f"  %r = tile.make_range {start} to {start + length} : tensor<{length}xi32>\n"
            f"  return %r : tensor<{length}xi32>\n}}"
        )
        if length & (length - 1) == 0:
            assert f"tile.make_range {start} to {start + length}" in tessera.ir.parse(text)
        else:
            with pytest.raises(IRError, match="powers of two"):
                tessera.ir.parse(text)


@pytest.mark.parametrize("seed", range(3))
def test_splat_constant_folds_to_its_value(seed):
    rng = random.Random(seed)
    value = rng.uniform(-1e3, 1e3)
    shape = [2 ** rng.randrange(0, 5) for _ in range(rng.randrange(1, 4))]
    ty = "tensor<" + "x".join(map(str, shape)) + "xf64>"
    text = (
        f"func.func @c() -> {ty} {{\n"
        f"  %c = arith.constant {value!r} : f64\n"
        f"  %s = tile.splat %c : f64 -> {ty}\n"
        f"  return %s : {ty}\n}}"
    )
    out = tessera.ir.run_pipeline(text, "builtin.module(canonicalize)")
    assert "tile.splat" not in out
    folded = re.search(r"dense<([^>]+)> : " + re.escape(ty), out).group(1)
    assert float(folded) == value


def test_tile_combine_from_python():
    text = """
func.func @f(%a: tensor<32x16xbf16>, %b: tensor<16x32xbf16>, %acc: tensor<32x32xf32>) -> tensor<32x32xf32> {
  %z = arith.constant dense<0.0> : tensor<32x32xf32>
  %p = tile.dot %a, %b, %z : tensor<32x16xbf16> * tensor<16x32xbf16> -> tensor<32x32xf32>
  %r = arith.addf %p, %acc : tensor<32x32xf32>
  return %r : tensor<32x32xf32>
}"""
    out = tessera.ir.run_pipeline(text, "builtin.module(tile-combine,canonicalize)")
    assert "tile.dot %arg0, %arg1, %arg2" in out
    assert "arith.addf" not in out


def test_bad_pipeline_raises():
    with pytest.raises(IRError, match="no-such-pass"):
        tessera.ir.run_pipeline("module {}", "builtin.module(no-such-pass)")
