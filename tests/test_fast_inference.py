"""The fast eval-mode paths compute what bn.norms.batchnorm_inference does, and backpropagate.

Tests that take the ``inference_path`` fixture (tests/conftest.py) run once for
:mod:`bn.kernels.cpu_numpy_inference` and once for :mod:`bn.kernels.cpu_numba_inference`
where Numba is installed.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import random_arrays
from test_fast import assert_same

import bn
from bn import kernels, norms
from bn.kernels import cpu_numpy, cpu_numpy_inference
from bn.kernels.cpu_numpy_inference import InferenceCache

SHAPES = [
    (5, 3),
    (1, 3),
    (256, 16),
    (4, 3, 6),
    (2, 3, 4, 5),
    (3, 2, 40),
    (2, 3, 2, 3, 2),
    (8, 5, 3, 4, 2),
    (1025, 2, 3),
    (0, 3),
    (0, 3, 4),
    (2, 3, 0),
]
TOLERANCES = [(np.float64, 1e-12), (np.float32, 1e-6), (np.float16, 2e-3)]


def make(shape, dtype, mean=0.0, seed=0):
    """x and dout of ``shape``; gamma, beta, running_mean, running_var of (C,), with
    |running_mean - mean| < running std."""
    c = shape[1]
    x, dout, gamma, beta, running_mean = random_arrays(
        np, shape, shape, (c,), (c,), (c,), seed=seed
    )
    running_var = np.random.default_rng(seed).uniform(0.5, 4.0, c)
    x = x * 3.0 + mean
    params = [gamma, beta, running_mean * 0.5 + mean, running_var * 9.0]
    return x.astype(dtype), dout.astype(dtype), *(p.astype(dtype) for p in params)


def both_paths(impl, x, dout, *params):
    """(readable, fast) results: out, dx, dgamma, dbeta."""
    results = []
    for forward in (norms._batchnorm_inference, impl.batchnorm_inference_forward):
        out, cache = forward(x, *params, 1e-5)
        results.append([out, *kernels.normalize_backward("test", dout, cache)])
    return results


def assert_paths_agree(readable, fast, tol, m):
    # dgamma sums m products: compare it on the scale of its terms.
    for i, (actual, expected) in enumerate(zip(fast, readable)):
        assert_same(actual, expected, tol * (np.sqrt(max(m, 1)) if i == 2 else 1.0))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype, tol", TOLERANCES)
@pytest.mark.parametrize("mean", [0.0, 1e3])  # cpu_numpy: two ufuncs; |mean| >> std: three
def test_fast_inference_equals_readable(shape, dtype, tol, mean, inference_path):
    x, dout, *params = make(shape, dtype, mean=mean)
    readable, fast = both_paths(inference_path, x, dout, *params)
    assert_paths_agree(readable, fast, tol, x.size // shape[1])


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 4, 5), (2, 3, 2, 2, 3)])
@pytest.mark.parametrize("dtype, tol", TOLERANCES)
def test_non_contiguous_inputs(shape, dtype, tol, inference_path):
    x, dout, *params = make(shape, dtype)
    wide = np.concatenate([x, x], axis=1)
    for view in (np.asfortranarray(x), wide[:, ::2], x[::-1], x[..., ::-1]):
        assert not view.flags.c_contiguous
        readable, fast = both_paths(inference_path, view, dout[::-1], *params)
        assert_paths_agree(readable, fast, tol, x.size // shape[1])


def test_parameters_of_other_dtypes_than_x(inference_path):
    x, dout, gamma, beta, running_mean, running_var = make((6, 4, 3), np.float32)
    params = [p.astype(np.float64) for p in (gamma, beta)] + [
        p.astype(np.float16) for p in (running_mean, running_var)
    ]
    readable, fast = both_paths(inference_path, x, dout, *params)
    assert_paths_agree(readable, fast, 1e-6, 6 * 3)
    assert fast[0].dtype == fast[1].dtype == np.float32  # out and dx follow x
    assert fast[2].dtype == fast[3].dtype == np.float64  # dgamma, dbeta follow gamma


def test_the_cache_keeps_x_by_reference_and_constants_per_channel(inference_path):
    x, dout, *params = make((8, 4, 5, 5), np.float32)
    copies = [a.copy() for a in (x, dout, *params)]
    _, cache = inference_path.batchnorm_inference_forward(x, *params)
    assert type(cache) is InferenceCache and cache.x is x
    assert cache.mean.shape == cache.inv_std.shape == cache.gamma.shape == (4,)
    readable = norms._batchnorm_inference(x, *params, 1e-5)[1]
    assert_same(cache.x_hat, readable.x_hat, 1e-6)
    cpu_numpy_inference.batchnorm_inference_backward(dout, cache)
    for before, after in zip(copies, (x, dout, *params)):
        assert (before == after).all()  # nothing was modified in place


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 2, 2)])
def test_eval_mode_layer_takes_the_fast_path_and_backpropagates(shape):
    """A frozen BN being fine-tuned through: dx = dout * gamma * inv_std,
    dgamma = sum(dout * x_hat), dbeta = sum(dout)."""
    x, dout, gamma, beta, running_mean, running_var = make(shape, np.float64)
    layer = bn.BatchNorm(3, dtype=np.float64)
    layer.params = {"gamma": gamma, "beta": beta}
    layer.running_mean, layer.running_var = running_mean, running_var
    out = layer.eval().forward(x)
    assert type(layer._cache) is InferenceCache
    dx = layer.backward(dout)
    channel = (1, 3) + (1,) * (len(shape) - 2)
    inv_std = 1 / np.sqrt(running_var + 1e-5)
    x_hat = (x - running_mean.reshape(channel)) * inv_std.reshape(channel)
    axes = (0, *range(2, len(shape)))
    for actual, expected in [
        (out, gamma.reshape(channel) * x_hat + beta.reshape(channel)),
        (dx, dout * (gamma * inv_std).reshape(channel)),
        (layer.grads["gamma"], (dout * x_hat).sum(axis=axes)),
        (layer.grads["beta"], dout.sum(axis=axes)),
    ]:
        assert_same(actual, expected, 1e-12)
    with pytest.raises(ValueError, match=r"BatchNorm.backward: expected dout of shape x.shape"):
        layer.backward(dout[:1])


def test_public_batchnorm_inference_takes_the_fast_path_for_numpy_only(xp, monkeypatch):
    calls = []
    fast = kernels.inference_kernels()
    original = fast.batchnorm_inference_forward
    monkeypatch.setattr(
        fast, "batchnorm_inference_forward", lambda *a: calls.append(1) or original(*a)
    )
    x, _, *params = make((4, 3, 2), np.float64)
    arrays = [xp.asarray(a) for a in (x, *params)]
    out = bn.batchnorm_inference(*arrays)
    assert len(calls) == (1 if xp is np else 0)  # CuPy arrays keep the readable path
    assert type(out) is type(arrays[0])
    assert_same(out, norms.batchnorm_inference(*arrays), 1e-12)


def test_array_subclasses_take_the_readable_path():
    class Tagged(np.ndarray):
        pass

    x, _, *params = make((6, 3), np.float64)
    _, cache = kernels.batchnorm_inference_forward(x.view(Tagged), *params)
    assert type(cache) is norms.NormCache


def test_without_numba_eval_mode_takes_cpu_numpy_inference(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # makes `import numba` raise ImportError
    monkeypatch.delitem(sys.modules, "bn.kernels.cpu_numba", raising=False)
    monkeypatch.delattr(kernels, "cpu_numba", raising=False)
    kernels.cpu_kernels.cache_clear()
    try:
        assert kernels.cpu_kernels() is cpu_numpy
        assert kernels.inference_kernels() is cpu_numpy_inference
        x, _, *params = make((6, 3, 2), np.float32)
        assert_same(bn.batchnorm_inference(x, *params), norms.batchnorm_inference(x, *params), 1e-6)
    finally:
        kernels.cpu_kernels.cache_clear()


def _bad_calls(impl):
    x, c3 = np.ones((4, 3)), np.ones(3)
    return [
        lambda: impl(np.ones(3), c3, c3, c3, c3),
        lambda: impl([[1.0] * 3] * 4, c3, c3, c3, c3),
        lambda: impl(np.ones((4, 3), int), c3, c3, c3, c3),
        lambda: impl(np.ones((4, 3), np.longdouble), c3, c3, c3, c3),
        lambda: impl(x, np.ones(4), c3, c3, c3),
        lambda: impl(x, c3, c3, np.ones(2), c3),
        lambda: impl(x, c3, c3, c3, np.ones(4)),
        lambda: impl(x, c3, c3, c3, np.ones(3, bool)),
        lambda: impl(x, c3, c3, c3, c3, eps=0.0),
        lambda: impl(x, c3, c3, c3, c3, eps=float("inf")),
        lambda: impl(x, c3, c3, c3, c3, eps="1e-5"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_calls(norms.batchnorm_inference))))
def test_errors_are_those_of_the_readable_path(case, inference_path):
    errors = []
    for impl in (norms.batchnorm_inference, inference_path.batchnorm_inference):
        with pytest.raises((TypeError, ValueError)) as info:
            _bad_calls(impl)[case]()
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]


def test_backward_refuses_a_cache_of_another_kind():
    x, dout, *params = make((4, 3), np.float64)
    _, training_cache = cpu_numpy.batchnorm_forward(x, *params[:2])
    for cache in (None, training_cache, tuple(training_cache)):
        with pytest.raises(
            TypeError,
            match=r"batchnorm_inference_backward: expected cache to be the cache a forward "
            r"pass returned \(InferenceCache\), got (NoneType|FastCache|tuple)",
        ):
            cpu_numpy_inference.batchnorm_inference_backward(dout, cache)
