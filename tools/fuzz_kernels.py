#!/usr/bin/env python3
"""Runs random well-typed kernels (tessera.testing.fuzz) on the active
backend (the CPU one without a GPU) against float64 numpy references.

    PYTHONPATH=build/python /usr/bin/python3 tools/fuzz_kernels.py [--seeds A:B] [--stop] [--ptx]

--ptx also compiles each kernel for sm_90a and sm_80 (PTX and, with ptxas,
a cubin) without running it.

Prints each failing seed with its kernel and a summary line; exit status 1
when any failed. A failing seed goes into test/fuzz/seeds.txt once fixed,
so the CI run replays it."""

import sys
import tempfile
import time
import traceback

from tessera.testing import fuzz


def main():
    first, last = 0, 200
    if "--seeds" in sys.argv:
        a, b = sys.argv[sys.argv.index("--seeds") + 1].split(":")
        first, last = int(a), int(b)
    folder = tempfile.mkdtemp(prefix="tessera-fuzz-")
    failed, start = [], time.time()
    for seed in range(first, last):
        try:
            fuzz.check(seed, folder)
            if "--ptx" in sys.argv:
                for arch in ("sm_90a", "sm_80"):
                    fuzz.compile_ptx(seed, arch, folder)
        except Exception:  # noqa: BLE001 - every failure is reported
            failed.append(seed)
            print(f"--- seed {seed}\n{traceback.format_exc()}", flush=True)
            if "--stop" in sys.argv:
                break
    print(f"{last - first} kernels, {len(failed)} failed {failed[:20]}, "
          f"{time.time() - start:.0f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
