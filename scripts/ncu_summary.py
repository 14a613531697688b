"""Summarizes ncu's SASS source page (CSV) for a kernel, as used in the
attention and selection analyses of docs/performance.md:
  ncu -k regex:NAME -c 1 --section SourceCounters --section WarpStateStats \\
      --page source --print-source sass --csv python3 SCRIPT > k.csv
  python3 scripts/ncu_summary.py k.csv            # hot and marker instructions
  python3 scripts/ncu_summary.py k.csv LO HI      # opcodes of instructions LO..HI
The first form lists each instruction with at least 0.5% of the warp-state
samples, and each executed barrier, wgmma, mbarrier, TMA, exit or branch
instruction: its index, share of samples, executions and top two stall
reasons. The second counts the opcodes of a range of instructions (a loop
region) with their share of the samples."""
import collections
import csv
import sys

MARKERS = ("HGMMA", "BAR", "SYNCS", "WARPGROUP", "BRA", "EXIT", "UTMALDG", "UBLKCP")


def rows_of(path):
    header, rows = None, []
    with open(path) as f:
        for row in csv.reader(line for line in f if line.startswith('"')):
            if row[0] == "Address":
                header = row
            elif header and len(row) >= len(header) - 1:
                rows.append(dict(zip(header, row)))
    if header is None:
        sys.exit(f"{path}: no SASS source table (run ncu with --page source --csv)")
    return header, rows


def number(text):
    return int((text or "0").replace(",", "") or 0)


def main():
    header, rows = rows_of(sys.argv[1])
    samples = "Warp Stall Sampling (All Samples)"
    total = sum(number(d[samples]) for d in rows) or 1
    if len(sys.argv) == 4:
        lo, hi = int(sys.argv[2]), int(sys.argv[3])
        count, share = collections.Counter(), collections.Counter()
        for d in rows[lo:hi]:
            op = next(t for t in d["Source"].split() if not t.startswith("@"))
            count[op] += 1
            share[op] += number(d[samples])
        for op, n in count.most_common():
            print(f"{op:28s} {n:5d} {100 * share[op] / total:5.1f}%")
        print(f"region: {100 * sum(share.values()) / total:.1f}% of the samples")
        return
    stalls = [h for h in header if h.startswith("stall_") and "Not Issued" not in h]
    print(f"{len(rows)} instructions, {total} samples")
    for i, d in enumerate(rows):
        s, ex, src = number(d[samples]), number(d["Instructions Executed"]), d["Source"]
        if s * 200 >= total or (ex and any(m in src for m in MARKERS)):
            top = sorted(((number(d[h]), h[6:]) for h in stalls), reverse=True)[:2]
            print(f"{i:5d} {100 * s / total:5.1f}% ex={ex:>10} {src[:60]:60s} "
                  + ", ".join(f"{name} {n}" for n, name in top))


if __name__ == "__main__":
    main()
