"""Bad kernels raise CompilationError naming the file, line and column of the
offending Python, and showing that line. The line that must be blamed is
marked `# <- here` in each kernel."""

import inspect

import numpy as np
import pytest

import tessera
import tessera.language as tl

X = np.zeros(256, np.float32)
Y = np.zeros(256, np.float32)
I16 = np.zeros(16, np.int16)


def marked_line(kernel):
    lines, start = inspect.getsourcelines(kernel.fn)
    for i, line in enumerate(lines):
        if "# <- here" in line:
            return start + i, line
    raise AssertionError("no marked line")


def check(kernel, launch, message):
    with pytest.raises(tessera.CompilationError) as info:
        launch()
    err = info.value
    lineno, line = marked_line(kernel)
    assert err.filename == __file__
    assert err.lineno == lineno, str(err)
    assert message in err.message, str(err)
    # The message shows the source line and a caret under the column.
    text = str(err)
    assert line.split("# <- here")[0].strip() in text
    caret = text.splitlines()[-1]
    assert caret.strip() == "^" and len(caret) - 5 == err.col - 1


@tessera.jit
def undefined_name(x_ptr):
    tl.store(x_ptr, undefined_thing)  # <- here


def test_undefined_name():
    check(undefined_name, lambda: undefined_name[(1,)](X), "name 'undefined_thing' is not defined")


@tessera.jit
def arange_not_power_of_two(x_ptr):
    offs = tl.arange(0, 100)  # <- here
    tl.store(x_ptr + offs, 1.0)


def test_arange_not_power_of_two():
    check(arange_not_power_of_two, lambda: arange_not_power_of_two[(1,)](X),
          "arange's range must be a power of 2, got 100")


@tessera.jit
def arange_runtime_bound(x_ptr, n):
    offs = tl.arange(0, n)  # <- here
    tl.store(x_ptr + offs, 1.0)


def test_arange_runtime_bound():
    check(arange_runtime_bound, lambda: arange_runtime_bound[(1,)](X, 64),
          "arange's arguments must be compile-time integers")


@tessera.jit
def load_from_integer(x_ptr, n):
    v = tl.load(n)  # <- here
    tl.store(x_ptr, v)


def test_load_from_integer():
    check(load_from_integer, lambda: load_from_integer[(1,)](X, 7),
          "tl.load expects a pointer or a block of pointers, got tl.int32")


@tessera.jit
def dot_mismatch(x_ptr):
    a = tl.zeros([16, 32], dtype=tl.float16)
    b = tl.zeros([16, 32], dtype=tl.float16)
    c = tl.dot(a, b)  # <- here
    tl.store(x_ptr + tl.arange(0, 16), tl.sum(c, 1))


def test_dot_shape_mismatch():
    check(dot_mismatch, lambda: dot_mismatch[(1,)](X), "are not compatible for matmul")


@tessera.jit
def dot_too_small(x_ptr):
    a = tl.zeros([8, 16], dtype=tl.float16)
    c = tl.dot(a, tl.trans(a))  # <- here
    tl.store(x_ptr + tl.arange(0, 8), tl.sum(c, 1))


def test_dot_too_small():
    check(dot_too_small, lambda: dot_too_small[(1,)](X), "all dimensions must be >= 16")


@tessera.jit
def uses_break(x_ptr, n):
    for i in range(n):
        if i > 3:
            break  # <- here
        tl.store(x_ptr + i, 1.0)


def test_break():
    check(uses_break, lambda: uses_break[(1,)](X, 10), "break is not supported in kernels")


@tessera.jit
def carried_type_changes(x_ptr, n):
    acc = 0
    for i in range(n):  # <- here
        acc += tl.load(x_ptr + i)
    tl.store(x_ptr, acc)


def test_loop_carried_type_changes():
    check(carried_type_changes, lambda: carried_type_changes[(1,)](X, 4),
          "loop-carried variable 'acc' is tl.int32 before the loop but tl.float32")


@tessera.jit
def block_condition(x_ptr):
    v = tl.load(x_ptr + tl.arange(0, 16))
    if v > 0:  # <- here
        tl.store(x_ptr, 1.0)


def test_if_on_block():
    check(block_condition, lambda: block_condition[(1,)](X), "an if condition must be a scalar")


def plain_python_helper(x):
    return x * 2


@tessera.jit
def calls_plain_function(x_ptr):
    v = tl.load(x_ptr)
    tl.store(x_ptr, plain_python_helper(v))  # <- here


def test_calls_plain_python_function():
    check(calls_plain_function, lambda: calls_plain_function[(1,)](X),
          "'plain_python_helper' is not a @tessera.jit function")


@tessera.jit
def bad_broadcast(x_ptr):
    a = tl.zeros([16], dtype=tl.float32)
    b = tl.zeros([32], dtype=tl.float32)
    tl.store(x_ptr + tl.arange(0, 16), a + b)  # <- here


def test_incompatible_broadcast():
    check(bad_broadcast, lambda: bad_broadcast[(1,)](X), "incompatible shapes for broadcasting")


@tessera.jit
def uses_with(x_ptr):
    with open("f"):  # <- here
        tl.store(x_ptr, 1.0)


def test_unsupported_syntax():
    check(uses_with, lambda: uses_with[(1,)](X), "with is not supported in kernels")


@tessera.jit
def failing_static_assert(x_ptr, BLOCK: tl.constexpr):
    tl.static_assert(BLOCK % 32 == 0, "BLOCK must be a multiple of 32")  # <- here
    tl.store(x_ptr, 1.0)


def test_static_assert():
    check(failing_static_assert, lambda: failing_static_assert[(1,)](X, BLOCK=48),
          "static_assert failed: BLOCK must be a multiple of 32")


@tessera.jit
def returns_value(x_ptr):
    return tl.load(x_ptr)  # <- here


def test_kernel_returns_value():
    check(returns_value, lambda: returns_value[(1,)](X), "a kernel cannot return a value")


@tessera.jit
def atomic_on_int16(p_ptr):
    tl.atomic_add(p_ptr + tl.arange(0, 16), 1)  # <- here


def test_verifier_error_maps_to_python_line():
    # Not caught by the front end: the tile dialect's verifier rejects it in
    # C++, and the diagnostic still points at this line.
    check(atomic_on_int16, lambda: atomic_on_int16[(1,)](I16),
          "'add' does not apply to elements of type 'i16'")


@tessera.jit
def power_of_tensor(x_ptr):
    v = tl.load(x_ptr)
    tl.store(x_ptr, v ** 2)  # <- here


def test_power_of_tensor():
    check(power_of_tensor, lambda: power_of_tensor[(1,)](X), "** on tensors is not supported")


@tessera.jit
def bad_program_axis(x_ptr):
    pid = tl.program_id(3)  # <- here
    tl.store(x_ptr + pid, 1.0)


def test_program_id_axis():
    check(bad_program_axis, lambda: bad_program_axis[(1,)](X),
          "program_id axis must be 0, 1 or 2, got 3")


@tessera.jit
def return_not_last(x_ptr, n):
    for i in range(n):
        tl.store(x_ptr + i, 1.0)
        return  # <- here


def test_return_in_loop():
    check(return_not_last, lambda: return_not_last[(1,)](X, 3), "return inside a loop is not supported")


@tessera.jit
def unpack_scalar(x_ptr):
    a, b = tl.load(x_ptr)  # <- here
    tl.store(x_ptr, a + b)


def test_unpack_non_tuple():
    check(unpack_scalar, lambda: unpack_scalar[(1,)](X), "cannot unpack a non-tuple value")


@tessera.jit
def fp8_on_cpu(x_ptr, y_ptr):
    offs = tl.arange(0, 16)
    tl.store(y_ptr + offs, tl.load(x_ptr + offs).to(tl.float8e4nv))  # <- here


def test_fp8_on_the_cpu_backend():
    """fp8 compiles to tile IR, but the CPU backend cannot run it: the error
    names the line and what is needed."""
    with pytest.raises(tessera.CompilationError) as info:
        fp8_on_cpu.warmup("*fp32:16", "*fp8e4nv:16", grid=(1,))
    lineno, _ = marked_line(fp8_on_cpu)
    assert info.value.lineno == lineno, str(info.value)
    assert "needs the NVIDIA backend (sm_89 or newer)" in info.value.message


@tessera.jit
def fp8_arithmetic(x_ptr):
    offs = tl.arange(0, 16)
    x = tl.load(x_ptr + offs)
    tl.store(x_ptr + offs, x + x)  # <- here


def test_fp8_arithmetic_is_refused():
    with pytest.raises(tessera.CompilationError) as info:
        fp8_arithmetic.warmup("*fp8e5:16", grid=(1,))
    lineno, _ = marked_line(fp8_arithmetic)
    assert info.value.lineno == lineno, str(info.value)
    assert "arithmetic on tl.float8e5 values is not supported" in info.value.message


def test_kernel_without_source_file_says_why():
    namespace = {}
    exec("def made_in_a_string(x_ptr):\n    pass\n", namespace)
    with pytest.raises(OSError, match="compiles a function from its source.*made_in_a_string"):
        tessera.jit(namespace["made_in_a_string"])


@tessera.jit
def bad_unroll_factor(x_ptr, n):
    acc = 0.0
    for i in tl.range(0, n, loop_unroll_factor=0):  # <- here
        acc += tl.load(x_ptr + i)
    tl.store(x_ptr, acc)


def test_bad_loop_unroll_factor():
    check(bad_unroll_factor, lambda: bad_unroll_factor[(1,)](X, 4),
          "loop_unroll_factor must be a positive integer constant, got 0")
