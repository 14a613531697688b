"""Load the vector-add tile kernel, verify it, and run Tessera's passes on it
from Python. Run: PYTHONPATH=build/python /usr/bin/python3 examples/ir/verify_from_python.py
"""

import pathlib
import re

import tessera

kernel = (pathlib.Path(__file__).parent / "vector_add.mlir").read_text()
print(f"tessera {tessera.__version__}")
optimized = tessera.ir.run_pipeline(kernel, "builtin.module(tile-combine,canonicalize,cse)")
ops = re.findall(r"(?<![!\w])tile\.[a-z_.]+", optimized)
print(f"verified; {len(ops)} tile ops after tile-combine, canonicalize, cse")

# A range of 512 elements cannot produce a 1024-element tensor.
broken = kernel.replace("make_range 0 to 1024", "make_range 0 to 512")
try:
    tessera.ir.parse(broken, "vector_add_broken.mlir")
except tessera.ir.IRError as err:
    print("a broken copy is rejected with:", err.diagnostics.splitlines()[0])
