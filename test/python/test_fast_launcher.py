"""The C++ launch path's binding and keys, without a GPU: every launch here
misses (no kernel is registered), so the fallback sees the key the C++ side
computed, or None when it declines to key the launch."""

import inspect

import pytest

import tessera
from tessera import _C


class FakeTensor:
    """Stands for torch.Tensor: the launcher reads is_cuda, data_ptr() and dtype."""

    def __init__(self, address, dtype="f16", cuda=True):
        self.address, self._dtype, self._cuda = address, dtype, cuda

    is_cuda = property(lambda self: self._cuda)
    dtype = property(lambda self: self._dtype)

    def data_ptr(self):
        return self.address


class Kernel(_C.Launchable):
    def _subscript(self, grid):
        raise AssertionError("the fast launcher is set")


def make(names, constexprs, defaults=None):
    calls = []

    def fallback(key, grid, args, kwargs):
        calls.append((key, grid, args, kwargs))

    empty = inspect.Parameter.empty
    fast = _C.cuda.FastLauncher(names, constexprs, [True] * len(names),
                                tuple(defaults or [empty] * len(names)), empty, fallback,
                                FakeTensor, None, None, {"num_warps": 4, "num_stages": 3},
                                tessera.constexpr)
    kernel = Kernel()
    kernel._set_fast_launcher(fast)
    return kernel, calls


def test_keys_tell_bool_int_and_float_constexprs_apart():
    kernel, calls = make(["x", "FLAG"], [False, True])
    for flag in (True, 1, 1.0, True):
        kernel[(1,)](FakeTensor(256), FLAG=flag)
    keys = [c[0] for c in calls]
    assert keys[0] == keys[3]
    assert len({keys[0], keys[1], keys[2]}) == 3


def test_keys_follow_specialization():
    kernel, calls = make(["x", "n"], [False, False])
    kernel[(1,)](FakeTensor(256), 1)      # n == 1
    kernel[(1,)](FakeTensor(256), 32)     # n % 16 == 0
    kernel[(1,)](FakeTensor(256), 33)
    kernel[(1,)](FakeTensor(258), 33)     # pointer off 16-byte alignment
    kernel[(1,)](FakeTensor(256, "f32"), 33)
    keys = [c[0] for c in calls]
    assert len(set(keys)) == 5
    kernel[(1,)](FakeTensor(512), 48)     # same specialization as (256, 32)
    assert calls[-1][0] == keys[1]


def test_launches_the_fast_path_declines():
    kernel, calls = make(["x", "B"], [False, True])
    kernel[(1,)](FakeTensor(256), B=[1, 2])            # unhashable constexpr
    kernel[(1,)](FakeTensor(256), B=tessera.constexpr(4))  # constexpr object
    kernel[(1,)](FakeTensor(256, cuda=False), B=4)     # a CPU tensor: the Python path raises
    kernel[(1,)](FakeTensor(256), B=4, unknown=1)      # an unknown keyword
    kernel[(1,)](FakeTensor(256))                      # a missing argument
    assert [c[0] for c in calls] == [None] * 5
    # The fallback gets the launch as it was made.
    assert calls[3][3] == {"B": 4, "unknown": 1}
    assert calls[0][1] == (1,)


def test_options_join_the_key():
    kernel, calls = make(["x"], [False])
    kernel[(1,)](FakeTensor(256))
    kernel[(1,)](FakeTensor(256), num_warps=8)
    kernel[(1,)](FakeTensor(256), num_warps=8, num_stages=2)
    assert len({c[0] for c in calls}) == 3


def test_callable_grid_is_passed_through_on_a_miss():
    kernel, calls = make(["x", "B"], [False, True])

    def grid(meta):
        return (1,)

    kernel[grid](FakeTensor(256), B=64)
    assert calls[0][1] is grid and calls[0][0] is not None


def test_bound_launches_are_not_made_from_python():
    with pytest.raises(TypeError):
        _C.BoundLaunch()
