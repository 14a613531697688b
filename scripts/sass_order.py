"""Prints the order of a kernel's tensor-core, wait, exponential and pack
instructions in its SASS, runs of one kind compressed ("MUFU.EX2 x64"), to
see where ptxas put the waits for in-flight wgmma.

    cuobjdump -sass k.cubin | python3 scripts/sass_order.py

(cuobjdump comes with a CUDA toolkit that has a driver; not on the CPU
machine.)"""
import re
import sys

KINDS = [("HGMMA", r"\bHGMMA\."), ("DEPBAR", r"WARPGROUP\.DEPBAR"), ("ARRIVE", r"WARPGROUP\.ARRIVE"),
         ("MUFU.EX2", r"MUFU\.EX2"), ("F2FP", r"\bF2FP\."), ("BAR", r"\bBAR\.|SYNCS\."),
         ("BRA", r"\bBRA\b")]


def order(lines):
    runs = []
    for line in lines:
        for name, pattern in KINDS:
            if re.search(pattern, line):
                text = name
                if name == "DEPBAR":
                    text = "DEPBAR" + line.split("DEPBAR")[1].split(";")[0].rstrip()
                if name == "BRA":
                    m = re.search(r"/\*([0-9a-f]+)\*/", line)
                    text = f"BRA @{m.group(1) if m else '?'}"
                if runs and runs[-1][0] == text:
                    runs[-1][1] += 1
                else:
                    runs.append([text, 1])
                break
    return runs


if __name__ == "__main__":
    for text, n in order(sys.stdin):
        print(text if n == 1 else f"{text} x{n}")
