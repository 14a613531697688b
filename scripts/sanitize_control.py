"""The sanitizer lane's negative control: a tessera kernel that stores
far outside its array (no mask, 2^28 elements past a 4 KB tensor). Under
compute-sanitizer memcheck this must be reported as an invalid global
write; it shows the tool sees tessera's launches (cuLaunchKernel through
the dlopen'd driver), so a clean lane means something."""

import torch

import tessera
import tessera.language as tl


@tessera.jit
def store_far(x_ptr, far, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + far + offs, offs.to(tl.float32))


x = torch.zeros(1024, device="cuda")
store_far[(1,)](x, 2**28, BLOCK=128)
torch.cuda.synchronize()
