"""Summarize ncu's per-instruction source page (SASS): the share of warp
stall samples by opcode and the top instructions. On the GPU machine:

  ncu --kernel-name regex:NAME --launch-skip 2 --launch-count 1 \
      --section SourceCounters --section WarpStateStats --page source \
      --print-source sass --csv python3 script.py > src.csv
  python3 scripts/ncu_summary.py src.csv
"""
import csv, sys, io, re
rows = list(csv.reader(open(sys.argv[1])))
# find header row containing "Source"
hi = next(i for i, r in enumerate(rows) if any("Source" == c.strip('"') for c in r))
hdr = rows[hi]; data = rows[hi + 1:]
print("columns:", [h for h in hdr][:40])
def col(name):
    for i, h in enumerate(hdr):
        if h.strip() == name:
            return i
    return None
src = col("Source"); samp = col("Warp Stall Sampling (All Samples)") or col("Sampling Data (All)")
print("src", src, "samp", samp)
if samp is None:
    sys.exit()
tot = sum(float(r[samp] or 0) for r in data if len(r) > samp)
print("total samples", tot)
lines = [(float(r[samp] or 0), i, r[src]) for i, r in enumerate(data) if len(r) > samp]
# aggregate by opcode
agg = {}
for s, i, t in lines:
    op = t.split()[0] if t.split() else ""
    if op.startswith("@"):
        op = t.split()[1]
    op = op.split(".")[0]
    agg[op] = agg.get(op, 0) + s
for op, s in sorted(agg.items(), key=lambda x: -x[1])[:25]:
    print(f"{op:12s} {s / tot * 100:5.1f}%")
print("--- top instructions")
for s, i, t in sorted(lines, reverse=True)[:40]:
    print(f"{s / tot * 100:5.1f}% {i:5d} {t[:90]}")
