"""Which part of the overlap attention loop makes ptxas wait for P V before
the softmax? (docs/performance.md, sessions 18-19.)

Compiles the intra-warpgroup overlap loop (block_sparse_attention_fwd,
OVERLAP, TMA, 128 x 128, a producer warpgroup) to PTX, then writes variants
of the loop's PTX with one part of what follows the wait for P V removed or
changed, assembles each with ptxas and, where cuobjdump exists (a CUDA
toolkit with a driver: the GPU machine), counts the exponentials
(MUFU.EX2) ptxas scheduled between the wait for S (`WARPGROUP.DEPBAR.LE
gsb0, 0x1`) and the wait for P V (`0x0`) in the first loop body: 0 means
the product does not overlap the softmax; 64 means it does.

The variants are experiments on ptxas's schedule, never run: removing the
rescale of O or the slot release makes a wrong kernel.

    PYTHONPATH=build/python python3 scripts/ptxas_wait_experiments.py [--keep DIR]
"""

import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

WAIT0 = "wgmma.wait_group.sync.aligned 0;"
WAIT1 = "wgmma.wait_group.sync.aligned 1;"


def overlap_ptx(producer_registers=24):
    from tessera import _C
    from tessera.compiler.frontend import ASTSource
    from tessera.kernels import attention as A
    f = A.block_sparse_attention_fwd
    ptrs = {"Q": "*bf16:16", "K": "*bf16:16", "V": "*bf16:16", "Out": "*bf16:16",
            "LSE": "*fp32:16", "KV_INDEX": "*i32:16", "KV_COUNT": "*i32:16",
            "Q_INDEX": "*i32:16", "Q_COUNT": "*i32:16"}
    consts = dict(HEAD_DIM=128, BLOCK_M=128, BLOCK_N=128, CAUSAL=False, Q_SPARSE=False,
                  Q_BLOCK=128, EVEN_N=True, TMA=True, OVERLAP=True, stride_qk=1, stride_kk=1,
                  stride_vk=1, stride_ok=1, stride_iq=1)
    divisible = [n for n in f.arg_names if n.startswith("stride") and n.endswith(("m", "n", "z", "h"))]
    divisible += ["N_KV", "KV_ROWS"]
    sig = {n: ptrs.get(n, "fp32" if n == "sm_scale" else "i32:16" if n in divisible else "i32")
           for n in f.arg_names if n not in f.constexpr_names and n not in consts}
    ok, ptx, *rest = _C.nvidia.compile(ASTSource(f, sig, consts).make_ir(), f.__name__, "sm_90a",
                                       8, cubin=False, num_stages=2, producer_warp=True,
                                       producer_registers=producer_registers)
    if not ok:
        raise RuntimeError(rest[2])
    return ptx


def _body(lines):
    """(first line of the loop's softmax: the wait for S, the wait for P V,
    the loop's branch) in the first loop body."""
    w1 = next(i for i, l in enumerate(lines) if WAIT1 in l)
    w0 = next(i for i in range(w1, len(lines)) if WAIT0 in lines[i])
    br = next(i for i in range(w0, len(lines)) if re.search(r"\bbra\b", lines[i]))
    return w1, w0, br


def variants(ptx):
    """{name: ptx} of the experiments (each changes only the first loop
    body's part after the wait for P V, or the wait itself)."""
    lines = ptx.splitlines()
    w1, w0, br = _body(lines)

    # The registers of the new row sums: the fma.rn.f32s right before the
    # wait for P V (l_i = l_i alpha + sum).
    sums = [m.group(1) for l in lines[w0 - 4:w0]
            if (m := re.match(r"\s*fma\.rn\.f32\s+(%r\d+),", l))]

    def edit(drop_rescale=False, drop_release=False, drop_wait=False, fresh_packs=False,
             pin_wait=None):
        out = list(lines)
        moves = []
        if pin_wait and sums:
            # The wait made to depend on the row sums (never negative): a
            # predicate, or a branch to a trap, that ptxas cannot hoist it
            # above.
            test = ["\t.reg .pred %pw<2>;",
                    f"\tsetp.lt.f32 %pw0, {sums[0]}, 0f00000000;",
                    f"\tsetp.lt.or.f32 %pw1, {sums[-1]}, 0f00000000, %pw0;"]
            if pin_wait == "bits":
                # Any values: their bits with the sign set are never a lane
                # id (always true, if ptxas does not fold it).
                test = ["\t.reg .pred %pw<2>;", "\t.reg .b32 %pwt<3>;",
                        f"\tor.b32 %pwt0, {sums[0]}, -2147483648;",
                        f"\tor.b32 %pwt1, {sums[-1]}, -2147483648;",
                        "\tand.b32 %pwt0, %pwt0, %pwt1;",
                        "\tmov.u32 %pwt2, %laneid;",
                        "\tsetp.eq.b32 %pw1, %pwt0, %pwt2;"]
                out[w0] = "\n".join(["\t{"] + test + ["\t@!%pw1 " + WAIT0, "\t}"])
            elif pin_wait == "predicate":
                out[w0] = "\n".join(["\t{"] + test + ["\t@!%pw1 " + WAIT0, "\t}"])
            else:
                out[w0] = "\n".join(["\t{"] + test + ["\t@%pw1 bra $L_never_negative;", "\t}",
                                      "\t" + WAIT0])
                end = max(i for i, l in enumerate(out) if l.strip() == "ret;")
                out[end] = "\tret;\n$L_never_negative:\n\ttrap;"
        for i in range(w0, br):
            line = out[i]
            m = re.match(r"\s*mul\.f32\s+(%r\d+),\s*(%r\d+),\s*(%r\d+);", line)
            if drop_rescale and m and m.group(1) in (m.group(2), m.group(3)):
                out[i] = "\t// (rescale dropped)"  # O keeps its value: in place
            elif drop_release and "mbarrier.arrive" in line:
                out[i] = "\t// (release dropped)"
            elif drop_wait and WAIT0 in line:
                out[i] = "\t// (wait dropped)"
            elif fresh_packs:
                m = re.match(r"(\s*cvt\.rn\.bf16x2\.f32\s+)(%r\d+)(,.*)", line)
                if m:
                    fresh = f"%xp{len(moves)}"
                    moves.append(f"\tmov.b32 \t{m.group(2)}, {fresh};")
                    out[i] = m.group(1) + fresh + m.group(3)
        if moves:
            out[br:br] = moves  # the loop-carried P written last, from fresh registers
            decl = next(i for i, l in enumerate(out) if re.match(r"\s*\.reg \.b32\s+%r<", l))
            out.insert(decl + 1, f"\t.reg .b32 \t%xp<{len(moves)}>;")
        return "\n".join(out) + "\n"

    return {
        "as compiled": ptx,
        "no rescale of O after the wait": edit(drop_rescale=True),
        "no slot release after the wait": edit(drop_release=True),
        "no rescale, no release": edit(drop_rescale=True, drop_release=True),
        "packs into fresh registers, moved at the end": edit(fresh_packs=True),
        "no wait for P V (ptxas's own)": edit(drop_wait=True),
        "no wait, no rescale, no release": edit(drop_rescale=True, drop_release=True,
                                                drop_wait=True),
        "wait predicated on the row sums": edit(pin_wait="predicate"),
        "wait after a branch on the row sums": edit(pin_wait="branch"),
        "wait predicated on the row sums' bits": edit(pin_wait="bits"),
    }


def ptxas_path():
    for p in (shutil.which("ptxas"), "/usr/local/cuda/bin/ptxas"):
        if p and pathlib.Path(p).exists():
            return p
    return None


def assemble(ptx, workdir, name):
    """(cubin path, ptxas's register count, its messages)."""
    src, cubin = workdir / f"{name}.ptx", workdir / f"{name}.cubin"
    src.write_text(ptx)
    r = subprocess.run([ptxas_path(), "-v", "-arch=sm_90a", str(src), "-o", str(cubin)],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{name}: ptxas failed:\n{r.stderr}")
    regs = re.findall(r"Used (\d+) registers", r.stderr)
    return cubin, int(regs[0]) if regs else None, r.stderr


def exponentials_between_waits(sass):
    """MUFU.EX2 between the first `DEPBAR.LE gsb0, 0x1` and the next
    `DEPBAR.LE gsb0, 0x0` of the SASS text."""
    seen, count = False, 0
    for line in sass.splitlines():
        if "WARPGROUP.DEPBAR.LE gsb0, 0x1" in line:
            seen, count = True, 0
        elif seen and "WARPGROUP.DEPBAR.LE gsb0, 0x0" in line:
            return count
        elif seen and "MUFU.EX2" in line:
            count += 1
    return None


def first_body_order(sass):
    """The order of waits, exponentials, slot arrivals and named barriers
    from the first `DEPBAR.LE gsb0, 0x1` to the next HGMMA, runs of one
    kind compressed."""
    runs, seen = [], False
    kinds = [("DEPBAR0x1", "DEPBAR.LE gsb0, 0x1"), ("DEPBAR0x0", "DEPBAR.LE gsb0, 0x0"),
             ("EX2", "MUFU.EX2"), ("ARRIVE", "SYNCS.ARRIVE"), ("BAR", "BAR."),
             ("F2FP", "F2FP"), ("FMUL", "FMUL ")]
    for line in sass.splitlines():
        if "DEPBAR.LE gsb0, 0x1" in line:
            seen = True
        if not seen:
            continue
        if "HGMMA" in line:
            break
        for name, text in kinds:
            if text in line:
                if runs and runs[-1][0] == name:
                    runs[-1][1] += 1
                else:
                    runs.append([name, 1])
                break
    return " ".join(n if c == 1 else f"{n}x{c}" for n, c in runs)


def main():
    keep = next((sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--keep"), None)
    workdir = pathlib.Path(keep or tempfile.mkdtemp(prefix="ptxas-wait-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cuobjdump = shutil.which("cuobjdump") or (
        "/usr/local/cuda/bin/cuobjdump" if pathlib.Path("/usr/local/cuda/bin/cuobjdump").exists()
        else None)
    print("| variant | registers | MUFU.EX2 between the waits (64: the softmax overlaps P V) |")
    print("|---|---|---|")
    for i, (name, ptx) in enumerate(variants(overlap_ptx()).items()):
        cubin, regs, messages = assemble(ptx, workdir, f"v{i}")
        between = "no cuobjdump here"
        if cuobjdump:
            sass = subprocess.run([cuobjdump, "-sass", str(cubin)], capture_output=True,
                                  text=True).stdout
            (workdir / f"v{i}.sass").write_text(sass)
            between = f"{exponentials_between_waits(sass)}: {first_body_order(sass)}"
        warned = "; ptxas: " + " ".join(re.findall(r"warning : ([^\n]*)", messages)) \
            if "warning" in messages else ""
        print(f"| {name} | {regs} | {between}{warned} |", flush=True)
    print(f"\nfiles in {workdir}")


if __name__ == "__main__":
    main()
