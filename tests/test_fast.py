"""The fast CPU paths compute what the readable one (bn.norms) does.

Tests that take the ``fast_path`` fixture (tests/conftest.py) run once for
:mod:`bn.kernels.cpu_numpy` (NumPy only) and once for :mod:`bn.kernels.cpu_numba` (fused
loops) where Numba is installed; the others test what is particular to
:mod:`bn.kernels.cpu_numpy`. Accuracy against float64 is in tests/test_fast_accuracy.py,
eval mode in tests/test_fast_inference.py.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import random_arrays, to_numpy

import bn
from bn import kernels, norms
from bn.kernels import cpu_numpy

SHAPES = [
    (5, 3),  # the shapes of tests/test_norms.py
    (4, 3, 6),
    (2, 3, 4, 5),
    (2, 3, 2, 3, 2),
    (2, 7),  # N = 2
    (9, 1),  # C = 1
    (2, 1, 3, 3),
    (1, 3, 4, 4),  # one sample, several values per channel
    (3, 4, 1, 1),  # spatial size 1 in a 4-D array
    (8, 5, 3, 4, 2),  # (N, C, D, H, W)
    (3, 2, 40),  # spatial runs long enough to sum with BLAS dots (cpu_numpy._MIN_RUN)
    (4, 3, 8, 8),
    (256, 16),  # several samples per matrix row (cpu_numpy._Layout.group)
    (2049, 3),  # more rows than one block of cpu_numpy._ROWS
    (1025, 2, 3),
]


def assert_same(actual, expected, tol, scale=0.0):
    """Equal up to ``tol`` relative to the largest value: max|a - e| <= tol * max|e|.

    ``scale`` raises the yardstick where the values are a difference of larger terms."""
    actual, expected = to_numpy(actual), to_numpy(expected)
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    scale = max(np.abs(expected.astype(np.float64)).max(initial=0.0), scale)
    assert np.abs(actual.astype(np.float64) - expected).max(initial=0.0) <= tol * scale


def both_paths(x, gamma, beta, dout, fast=cpu_numpy):
    """(readable, fast) results: out, mean, var, inv_std, x_hat, dx, dgamma, dbeta."""
    results = []
    for impl in (norms, fast):
        out, cache = impl.batchnorm_forward(x, gamma, beta)
        grads = impl.batchnorm_backward(dout, cache)
        results.append([out, cache.mean, cache.var, cache.inv_std, cache.x_hat, *grads])
    return results


def assert_paths_agree(readable, fast, tol, gamma, dout):
    # dx is dout * gamma * inv_std minus the gradient through the statistics: with two
    # values per channel those nearly cancel, so dx is compared on the scale of the terms.
    terms = np.abs(to_numpy(gamma)).max() * np.abs(to_numpy(dout)).max() * readable[3].max()
    for i, (actual, expected) in enumerate(zip(fast, readable)):
        assert_same(actual, expected, tol, scale=terms if i == 5 else 0.0)


def make(shape, dtype, seed=0, scale=3.0, mean=2.0):
    x, gamma, beta, dout = random_arrays(np, shape, shape[1:2], shape[1:2], shape, seed=seed)
    return (
        (x * scale + mean).astype(dtype),
        gamma.astype(dtype),
        beta.astype(dtype),
        dout.astype(dtype),
    )


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_fast_equals_readable(shape, dtype, tol, fast_path):
    x, gamma, beta, dout = make(shape, dtype)
    readable, fast = both_paths(x, gamma, beta, dout, fast_path)
    assert_paths_agree(readable, fast, tol, gamma, dout)


@pytest.mark.parametrize("shape", SHAPES)
def test_fast_equals_readable_when_the_mean_dwarfs_the_spread(shape, fast_path):
    """|mean| / std = 1e4 takes the shifted path (the one-pass variance would cancel)."""
    x, gamma, beta, dout = make(shape, np.float64, seed=1, scale=1.0, mean=1e4)
    _, cache = fast_path.batchnorm_forward(x, gamma, beta)
    if fast_path is cpu_numpy:  # shifted by the mean its first sums estimated
        assert np.abs(cache.shift - cache.mean.ravel()).max() < 1e-6 * 1e4
    else:  # cpu_numba: by the first value of each channel, as norms.py
        first_values = x.reshape(shape[0], shape[1], -1)[0, :, 0]
        np.testing.assert_array_equal(cache.shift, first_values)
    readable, fast = both_paths(x, gamma, beta, dout, fast_path)
    assert_paths_agree(readable, fast, 1e-10, gamma, dout)


def test_well_conditioned_data_take_the_one_pass_path():
    x, gamma, beta, _ = make((8, 3, 4), np.float32, scale=1.0, mean=0.5)  # |mean| < std
    assert cpu_numpy.batchnorm_forward(x, gamma, beta)[1].shift is None
    x, gamma, beta, _ = make((8, 3, 4), np.float32, scale=1.0, mean=2.0)  # beyond 1 std
    assert cpu_numpy.batchnorm_forward(x, gamma, beta)[1].shift is not None


def _views(shape, dtype, seed):
    """Non-contiguous arrays of ``shape``: a transposed view and a strided slice."""
    rng = np.random.default_rng(seed)
    transposed = rng.standard_normal(shape[::-1]).astype(dtype).T  # Fortran order
    wide = rng.standard_normal((shape[0], 2 * shape[1], *shape[2:])).astype(dtype)
    return transposed, wide[:, ::2]  # every other channel


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 4, 5), (2, 3, 2, 2, 3)])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_non_contiguous_inputs(shape, dtype, tol, fast_path):
    gamma, beta = np.linspace(0.5, 2.0, shape[1], dtype=dtype), np.ones(shape[1], dtype)
    xs, douts = _views(shape, dtype, seed=2), _views(shape, dtype, seed=3)
    for x, dout in zip(xs, douts[::-1]):
        assert not x.flags.c_contiguous and not dout.flags.c_contiguous
        readable, fast = both_paths(x, gamma, beta, dout, fast_path)
        for actual, expected in zip(fast, readable):
            assert_same(actual, expected, tol)


@pytest.mark.parametrize("shape", [(5, 3), (2049, 3), (2, 3, 4, 5), (2, 3, 2, 3, 2)])
def test_float16_accumulates_in_float32_and_returns_float16(shape, fast_path):
    """Sums of 2049 squares of about 100 would overflow float16 (max 65504)."""
    x, gamma, beta, dout = make(shape, np.float16, scale=4.0, mean=100.0)
    readable, fast = both_paths(x, gamma, beta, dout, fast_path)
    out, mean, var, inv_std, x_hat, dx, dgamma, dbeta = fast
    assert (out.dtype, dx.dtype, dgamma.dtype, dbeta.dtype) == (np.float16,) * 4
    assert mean.dtype == var.dtype == inv_std.dtype == x_hat.dtype == np.float32
    for actual, expected in zip(fast, readable):
        assert_same(actual, expected, 2e-3)  # a float16 rounding of the same float32 numbers


def test_parameters_of_another_dtype_than_x(fast_path):
    x, _, _, dout = make((6, 4, 3), np.float32)
    gamma, beta = np.linspace(0.5, 2.0, 4), np.linspace(-1.0, 1.0, 4)  # float64
    readable, fast = both_paths(x, gamma, beta, dout, fast_path)
    for actual, expected in zip(fast, readable):
        assert_same(actual, expected, 1e-5)
    assert fast[6].dtype == fast[7].dtype == np.float64  # dgamma, dbeta follow gamma


def test_a_constant_channel_gives_zero_variance_and_beta(fast_path):
    x, gamma, beta, dout = make((6, 3, 2), np.float32)
    x[:, 1] = np.float32(0.1)  # not a power of two: sums of it round
    readable, fast = both_paths(x, gamma, beta, dout, fast_path)
    out, _, var, _, x_hat, *_ = fast
    assert var.ravel()[1] == 0.0 and (x_hat[:, 1] == 0).all()
    assert (out[:, 1] == beta[1]).all()
    for actual, expected in zip(fast, readable):
        assert_same(actual, expected, 1e-5)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("mean", [0.0, 1e4])  # the one-pass and the shifted path
def test_inputs_and_cache_are_not_modified(dtype, mean, fast_path):
    x, gamma, beta, dout = make((4, 3, 5), dtype, mean=mean)
    _, cache = fast_path.batchnorm_forward(x, gamma, beta)
    arrays = [x, gamma, beta, dout, *(a for a in cache if isinstance(a, np.ndarray))]
    copies = [a.copy() for a in arrays]
    fast_path.batchnorm_backward(dout, cache)
    fast_path.batchnorm_backward(dout.T.T[:, :, ::-1], cache)  # a non-contiguous dout
    _ = cache.x_hat
    for before, after in zip(copies, arrays):
        assert (before == after).all()


def _bad_calls(impl):
    x, c3 = np.ones((4, 3)), np.ones(3)
    cache = impl.batchnorm_forward(x, c3, c3)[1]
    return [
        lambda: impl.batchnorm_forward(np.ones(5), c3, c3),
        lambda: impl.batchnorm_forward([[1.0, 2.0]], c3, c3),
        lambda: impl.batchnorm_forward(x, np.ones(4), c3),
        lambda: impl.batchnorm_forward(x, c3, np.ones((3, 1))),
        lambda: impl.batchnorm_forward(np.ones((4, 3), int), c3, c3),
        lambda: impl.batchnorm_forward(x, np.ones(3, bool), c3),
        lambda: impl.batchnorm_forward(x, c3, c3, eps=0.0),
        lambda: impl.batchnorm_forward(x, c3, c3, eps="1e-5"),
        lambda: impl.batchnorm_forward(np.ones((1, 3)), c3, c3),
        lambda: impl.batchnorm_forward(np.ones((1, 3, 1, 1)), c3, c3),
        lambda: impl.batchnorm_forward(np.ones((0, 3, 2)), c3, c3),
        lambda: impl.batchnorm_forward(np.ones((4, 3), np.longdouble), c3, c3),
        lambda: impl.batchnorm_forward(x, c3, c3, eps=float("inf")),
        lambda: impl.batchnorm_forward(x.astype(complex), c3, c3),
        lambda: impl.batchnorm_backward(np.ones((4, 2)), cache),
        lambda: impl.batchnorm_backward(np.ones((4, 3), int), cache),
        lambda: impl.batchnorm_backward([[1.0] * 3] * 4, cache),
    ]


@pytest.mark.parametrize("case", range(len(_bad_calls(norms))))
def test_errors_are_those_of_the_readable_path(case, fast_path):
    errors = []
    for impl in (norms, fast_path):
        with pytest.raises((TypeError, ValueError)) as info:
            _bad_calls(impl)[case]()
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]


def test_backward_refuses_what_no_forward_pass_of_its_own_returned(fast_path):
    x, c3 = np.ones((4, 3)), np.ones(3)
    kind = "FusedCache" if fast_path.__name__.endswith("numba") else "FastCache"
    readable_cache = norms.batchnorm_forward(x, c3, c3)[1]
    for cache in (None, tuple(fast_path.batchnorm_forward(x, c3, c3)[1]), readable_cache):
        with pytest.raises(
            TypeError,
            match=rf"batchnorm_backward: expected cache to be the cache a forward pass "
            rf"returned \({kind}\), got (NoneType|tuple|NormCache)",
        ):
            fast_path.batchnorm_backward(x, cache)


def test_public_functions_choose_the_fast_path_for_numpy_only(xp):
    x, gamma, beta, dout = random_arrays(xp, (4, 3, 2), (3,), (3,), (4, 3, 2))
    _, cache = bn.batchnorm_forward(x, gamma, beta)
    if xp is np:  # bn.kernels.cpu_numba where Numba is installed, else bn.kernels.cpu_numpy
        fast = kernels.cpu_kernels()
        expected = fast.FusedCache if fast.__name__ == "bn.kernels.cpu_numba" else fast.FastCache
    else:
        expected = norms.NormCache
    assert type(cache) is expected
    _, readable_cache = bn.norms.batchnorm_forward(x, gamma, beta)
    assert type(readable_cache) is norms.NormCache
    for a, b in zip(
        bn.batchnorm_backward(dout, cache), bn.batchnorm_backward(dout, readable_cache)
    ):
        assert_same(a, b, 1e-10)  # the backward pass follows the cache


def test_array_subclasses_take_the_readable_path():
    class Tagged(np.ndarray):
        pass

    x, gamma, beta, _ = make((6, 3), np.float64)
    out, cache = bn.batchnorm_forward(x.view(Tagged), gamma, beta)
    assert type(cache) is norms.NormCache
    assert_same(np.asarray(out), norms.batchnorm_forward(x, gamma, beta)[0], 1e-12)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 2, 2)])
def test_batchnorm_layer_takes_the_fast_path(shape):
    x, gamma, beta, dout = make(shape, np.float32, scale=2.0, mean=1.0)
    layer = bn.BatchNorm(3)
    layer.params = {"gamma": gamma, "beta": beta}
    out = layer.forward(x)
    assert isinstance(layer._cache, cpu_numpy.FastCache)
    dx = layer.backward(dout)
    expected_out, cache = norms.batchnorm_forward(x, gamma, beta)
    expected_dx, dgamma, dbeta = norms.batchnorm_backward(dout, cache)
    m = x.size // 3
    running_var = 0.9 + 0.1 * cache.var.ravel() * m / (m - 1)
    for actual, expected in [
        (out, expected_out),
        (dx, expected_dx),
        (layer.grads["gamma"], dgamma),
        (layer.grads["beta"], dbeta),
        (layer.running_mean, (0.1 * cache.mean.ravel()).astype(np.float32)),
        (layer.running_var, running_var.astype(np.float32)),
    ]:
        assert_same(actual, expected, 1e-5)
    with pytest.raises(ValueError, match=r"BatchNorm.backward: expected dout of shape x.shape"):
        layer.backward(dout[:1])


def test_without_numba_numpy_arrays_take_cpu_numpy(monkeypatch):
    """Numba is optional: if it cannot be imported, bn.kernels.cpu_numpy serves NumPy arrays."""
    monkeypatch.setitem(sys.modules, "numba", None)  # makes `import numba` raise ImportError
    monkeypatch.delitem(sys.modules, "bn.kernels.cpu_numba", raising=False)
    monkeypatch.delattr(kernels, "cpu_numba", raising=False)
    kernels.cpu_kernels.cache_clear()
    try:
        assert kernels.cpu_kernels() is cpu_numpy
        x, gamma, beta, dout = make((6, 3, 2), np.float32)
        out, cache = bn.batchnorm_forward(x, gamma, beta)
        assert type(cache) is cpu_numpy.FastCache
        readable, _ = both_paths(x, gamma, beta, dout)
        assert_same(out, readable[0], 1e-5)
        assert_same(bn.batchnorm_backward(dout, cache)[0], readable[5], 1e-5)
    finally:
        kernels.cpu_kernels.cache_clear()


def test_a_cache_goes_back_to_the_module_that_built_it(fast_path):
    x, gamma, beta, dout = make((6, 3, 2), np.float64)
    _, cache = fast_path.batchnorm_forward(x, gamma, beta)
    expected = fast_path.batchnorm_backward(dout, cache)
    for a, b in zip(bn.batchnorm_backward(dout, cache), expected):
        np.testing.assert_array_equal(a, b)
