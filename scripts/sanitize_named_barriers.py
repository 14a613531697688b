"""A probe of compute-sanitizer racecheck itself, for the sanitizer lane:
does it follow the ping-pong schedule's named barriers? Two small PTX
kernels of 256 threads (two warpgroups) end alike: each thread stores its
index to shared memory, all pass `bar.sync 0`, and each reads the word of
the thread 128 places on (the other warpgroup's). That is race-free. Before
it, `pingpong` takes turns as the attention kernels do (warpgroup 1 arrives
at named barrier 1 before the loop; in each of N turns warpgroup g syncs on
1 + g and arrives at 2 - g; warpgroup 0 syncs on 1 after the loop);
`plain` does not; `racy`, the negative control, leaves out `bar.sync 0`
(racecheck must report it). Each runs 16 times (0-15 turns). `pingpong`
and `plain` are checked for the right answer; under racecheck, a hazard
reported for `pingpong` and none for `plain` means the tool mispairs
`bar.sync 0` after named-barrier arrivals, not that the kernel races.
Run: compute-sanitizer --tool racecheck python3 sanitize_named_barriers.py
(kernel names in the report: probe_pingpong, probe_plain, probe_racy)."""

import ctypes
import sys

PTX = r"""
.version 8.0
.target sm_90a
.address_size 64
.shared .align 4 .b32 words[256];

.visible .entry probe_NAME(.param .u64 out, .param .u32 turns)
{
  .reg .pred %p<4>;
  .reg .b32 %r<16>;
  .reg .b64 %rd<4>;
  mov.u32 %r1, %tid.x;
  ld.param.u32 %r2, [turns];
  setp.ge.u32 %p1, %r1, 128;
  mov.u32 %r3, 0;
  TURNS
  shl.b32 %r4, %r1, 2;
  mov.u32 %r5, words;
  add.u32 %r6, %r5, %r4;
  st.shared.u32 [%r6], %r1;
  SYNC
  add.u32 %r7, %r1, 128;
  and.b32 %r7, %r7, 255;
  shl.b32 %r7, %r7, 2;
  add.u32 %r8, %r5, %r7;
  ld.shared.u32 %r9, [%r8];
  ld.param.u64 %rd1, [out];
  cvta.to.global.u64 %rd1, %rd1;
  mul.wide.u32 %rd2, %r1, 4;
  add.s64 %rd3, %rd1, %rd2;
  st.global.u32 [%rd3], %r9;
  ret;
}
"""

TURNS = r"""
  @!%p1 bra LOOP;
  bar.arrive 1, 256;
LOOP:
  setp.ge.u32 %p2, %r3, %r2;
  @%p2 bra DONE;
  @%p1 bra WG1;
  bar.sync 1, 256;
  bar.arrive 2, 256;
  bra NEXT;
WG1:
  bar.sync 2, 256;
  bar.arrive 1, 256;
NEXT:
  add.u32 %r3, %r3, 1;
  bra LOOP;
DONE:
  @%p1 bra EPILOGUE;
  bar.sync 1, 256;
EPILOGUE:
"""


def check(rc, what):
    if rc != 0:
        raise RuntimeError(f"{what} failed: CUresult {rc}")


def main() -> int:
    cuda = ctypes.CDLL("libcuda.so.1")
    check(cuda.cuInit(0), "cuInit")
    dev, ctx = ctypes.c_int(), ctypes.c_void_p()
    check(cuda.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
    check(cuda.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
    check(cuda.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    out = ctypes.c_uint64()
    check(cuda.cuMemAlloc_v2(ctypes.byref(out), 256 * 4), "cuMemAlloc")
    failures = 0
    for name, turns, sync in (("pingpong", TURNS, "bar.sync 0;"), ("plain", "", "bar.sync 0;"),
                              ("racy", "", "")):
        ptx = (PTX.replace("NAME", name).replace("TURNS", turns).replace("SYNC", sync).encode()
               + b"\0")
        module, fn = ctypes.c_void_p(), ctypes.c_void_p()
        check(cuda.cuModuleLoadData(ctypes.byref(module), ptx), f"loading probe_{name}")
        check(cuda.cuModuleGetFunction(ctypes.byref(fn), module, f"probe_{name}".encode()),
              "cuModuleGetFunction")
        wrong = 0
        for turns in range(16):
            n = ctypes.c_uint32(turns)
            params = (ctypes.c_void_p * 2)(ctypes.cast(ctypes.byref(out), ctypes.c_void_p),
                                           ctypes.cast(ctypes.byref(n), ctypes.c_void_p))
            check(cuda.cuLaunchKernel(fn, 1, 1, 1, 256, 1, 1, 0, None, params, None),
                  "cuLaunchKernel")
            check(cuda.cuCtxSynchronize(), "cuCtxSynchronize")
            host = (ctypes.c_uint32 * 256)()
            check(cuda.cuMemcpyDtoH_v2(host, out, 256 * 4), "cuMemcpyDtoH")
            wrong += sum(host[t] != (t + 128) % 256 for t in range(256))
        if name != "racy":
            print(f"probe_{name}: {'ok' if not wrong else f'{wrong} wrong words'}")
            failures += bool(wrong)
        cuda.cuModuleUnload(module)
    cuda.cuMemFree_v2(out)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
