"""The functional forward and backward passes of the four norms."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np
import pytest
import reference
from conftest import assert_close, assert_on_backend, random_arrays, to_numpy

import bn


class Case(NamedTuple):
    forward: Callable  # (x, gamma, beta) -> (out, cache), from bn
    backward: Callable  # (dout, cache) -> (dx, dgamma, dbeta), from bn
    reference: Callable  # (x, gamma, beta) -> out, float64, independent of bn
    x_shape: tuple[int, ...]
    param_shape: tuple[int, ...]


def _cases():
    cases = {}
    for shape in [(5, 3), (4, 3, 6), (2, 3, 4, 5), (2, 3, 2, 3, 2)]:
        cases[f"batch{shape}"] = Case(
            bn.batchnorm_forward, bn.batchnorm_backward, reference.batchnorm, shape, shape[1:2]
        )
        # bn.batchnorm_* take the fast path for NumPy arrays; this is the book's code.
        cases[f"batch_readable{shape}"] = Case(
            bn.norms.batchnorm_forward,
            bn.norms.batchnorm_backward,
            reference.batchnorm,
            shape,
            shape[1:2],
        )
    for shape, params in [((5, 4), (4,)), ((2, 3, 4), (4,)), ((2, 3, 4, 5), (3, 4, 5))]:
        cases[f"layer{shape}"] = Case(
            bn.layernorm_forward, bn.layernorm_backward, reference.layernorm, shape, params
        )
    for shape in [(2, 3, 5), (2, 3, 4, 5), (2, 3, 2, 2, 3)]:
        cases[f"instance{shape}"] = Case(
            bn.instancenorm_forward,
            bn.instancenorm_backward,
            reference.instancenorm,
            shape,
            shape[1:2],
        )
    for shape, groups in [((3, 6), 3), ((2, 6, 5), 2), ((2, 6, 3, 4), 3), ((2, 4, 2, 2, 3), 2)]:
        cases[f"group{groups}{shape}"] = Case(
            lambda x, g, b, G=groups: bn.groupnorm_forward(x, g, b, G),
            bn.groupnorm_backward,
            partial(reference.groupnorm, num_groups=groups),
            shape,
            shape[1:2],
        )
    return cases


CASES = _cases()
# The smallest case of each norm: finite differences cost two forward passes per entry.
SMALL = [
    "batch(5, 3)",
    "batch(2, 3, 4, 5)",
    "layer(2, 3, 4)",
    "instance(2, 3, 5)",
    "group3(3, 6)",
    "group2(2, 6, 5)",
]


def make_inputs(xp, case, dtype=np.float64, seed=0):
    x, gamma, beta, dout = random_arrays(
        xp, case.x_shape, case.param_shape, case.param_shape, case.x_shape, seed=seed, dtype=dtype
    )
    return x, gamma, beta, dout


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_reference_float64(xp, name):
    case = CASES[name]
    x, gamma, beta, _ = make_inputs(xp, case)
    x = x * 3.0 + 2.0  # a mean and scale of their own, so the statistics matter
    out, _ = case.forward(x, gamma, beta)
    expected = case.reference(to_numpy(x), to_numpy(gamma), to_numpy(beta))
    assert_on_backend(xp, out)
    assert out.dtype == np.float64
    assert_close(out, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_reference_float32(xp, name):
    case = CASES[name]
    x, gamma, beta, _ = make_inputs(xp, case, dtype=np.float32)
    out, _ = case.forward(x, gamma, beta)
    expected = case.reference(to_numpy(x), to_numpy(gamma), to_numpy(beta))
    assert out.dtype == np.float32
    assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", SMALL)
def test_backward_matches_finite_differences(xp, name):
    case = CASES[name]
    x, gamma, beta, dout = make_inputs(xp, case, seed=1)
    _, cache = case.forward(x, gamma, beta)
    dx, dgamma, dbeta = case.backward(dout, cache)

    def out(x_, gamma_, beta_):
        return case.forward(x_, gamma_, beta_)[0]

    assert_on_backend(xp, dx, dgamma, dbeta)
    assert_close(dx, bn.numerical_gradient(lambda v: out(v, gamma, beta), x, dout), 1e-6, 1e-8)
    assert_close(dgamma, bn.numerical_gradient(lambda v: out(x, v, beta), gamma, dout), 1e-6, 1e-8)
    assert_close(dbeta, bn.numerical_gradient(lambda v: out(x, gamma, v), beta, dout), 1e-6, 1e-8)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_output_type_and_dtype_follow_input(xp, name, dtype):
    case = CASES[name]
    x, gamma, beta, dout = make_inputs(xp, case, dtype=dtype)
    out, cache = case.forward(x, gamma, beta)
    dx, dgamma, dbeta = case.backward(dout, cache)
    assert_on_backend(xp, out, dx, dgamma, dbeta)
    assert (out.dtype, dx.dtype, dgamma.dtype, dbeta.dtype) == (dtype,) * 4
    assert out.shape == dx.shape == x.shape
    assert dgamma.shape == dbeta.shape == gamma.shape


@pytest.mark.parametrize("name", CASES)
def test_inputs_are_not_modified(xp, name):
    case = CASES[name]
    arrays = make_inputs(xp, case)
    copies = [a.copy() for a in arrays]
    x, gamma, beta, dout = arrays
    _, cache = case.forward(x, gamma, beta)
    case.backward(dout, cache)
    for before, after in zip(copies, arrays):
        assert (to_numpy(before) == to_numpy(after)).all()


@pytest.mark.parametrize("name", CASES)
def test_float32_with_large_mean_is_stable(xp, name):
    """Mean 1e4, unit variance: float32 must not cancel away the data."""
    case = CASES[name]
    x, gamma, beta, _ = make_inputs(xp, case, dtype=np.float32)
    x = x + np.float32(1e4)
    out, _ = case.forward(x, gamma, beta)
    # The float64 answer for the very same float32 numbers.
    expected = case.reference(to_numpy(x).astype(np.float64), to_numpy(gamma), to_numpy(beta))
    assert np.abs(to_numpy(out) - expected).max() < 5e-3


@pytest.mark.parametrize("shape", [(65536, 4), (4096, 4, 4, 4)])
@pytest.mark.parametrize("forward", [bn.batchnorm_forward, bn.norms.batchnorm_forward])
def test_float32_large_mean_on_a_big_batch_is_stable(xp, shape, forward):
    """Long reductions (m = 65536) are where float32 sums of raw data lose the most:
    a plain two-pass float32 mean over axis 0 of (65536, 4) is off by about 4 here."""
    rng = np.random.default_rng(3)
    x = xp.asarray((rng.standard_normal(shape) + 1e4).astype(np.float32))
    ones, zeros = xp.ones(4, np.float32), xp.zeros(4, np.float32)
    out, cache = forward(x, ones, zeros)
    x32_as_64 = to_numpy(x).astype(np.float64)
    axes = (0, *range(2, len(shape)))
    mean = x32_as_64.mean(axis=axes, keepdims=True)
    var = x32_as_64.var(axis=axes, keepdims=True)
    expected = (x32_as_64 - mean) / np.sqrt(var + 1e-5)
    assert np.abs(to_numpy(out) - expected).max() < 5e-3
    assert np.abs(to_numpy(cache.mean).ravel() - mean.ravel()).max() < 1e-3
    assert np.abs(to_numpy(cache.var).ravel() - var.ravel()).max() < 1e-3


@pytest.mark.parametrize("name", ["batch(2, 3, 4, 5)", "layer(2, 3, 4, 5)", "group3(2, 6, 3, 4)"])
def test_float16_accumulates_in_float32(xp, name):
    case = CASES[name]
    x, gamma, beta, _ = make_inputs(xp, case, dtype=np.float16)
    x = x * np.float16(4) + np.float16(100)  # a sum of these in float16 would overflow precision
    out, cache = case.forward(x, gamma, beta)
    assert cache.x_hat.dtype == np.float32
    expected = case.reference(to_numpy(x).astype(np.float64), to_numpy(gamma), to_numpy(beta))
    # float16 keeps 11 significant bits: the output is right to its own rounding.
    assert_close(out.astype(np.float64), expected, rtol=2e-3, atol=4e-3)


@pytest.mark.parametrize("shape", [(16, 4), (8, 3, 5, 5), (4, 2, 3, 3, 3)])
def test_batchnorm_output_is_standardized_per_channel(xp, shape):
    (x,) = random_arrays(xp, shape, seed=4)
    x = x * 5.0 - 3.0
    c = shape[1]
    out, _ = bn.batchnorm_forward(x, xp.ones(c), xp.zeros(c))
    axes = (0, *range(2, len(shape)))
    out = to_numpy(out)
    assert_close(out.mean(axis=axes), np.zeros(c), atol=1e-12)
    assert_close(out.var(axis=axes), np.ones(c), rtol=1e-4)  # 1 - eps / (var + eps)


def test_batchnorm_on_images_is_batchnorm_on_pixels_as_samples(xp):
    """Per-channel statistics: (N, C, H, W) behaves like N*H*W samples of C features."""
    x, gamma, beta = random_arrays(xp, (3, 4, 5, 2), (4,), (4,))
    out, _ = bn.batchnorm_forward(x, gamma, beta)
    as_rows = x.transpose(0, 2, 3, 1).reshape(-1, 4)  # (N * H * W, C)
    out_rows, _ = bn.batchnorm_forward(as_rows, gamma, beta)
    assert_close(out.transpose(0, 2, 3, 1).reshape(-1, 4), out_rows, rtol=1e-12, atol=1e-12)


def test_layernorm_over_chw_equals_groupnorm_with_one_group(xp):
    x, dout = random_arrays(xp, (3, 4, 5, 6), (3, 4, 5, 6))
    out_ln, cache_ln = bn.layernorm_forward(x, xp.ones((4, 5, 6)), xp.zeros((4, 5, 6)))
    out_gn, cache_gn = bn.groupnorm_forward(x, xp.ones(4), xp.zeros(4), num_groups=1)
    assert_close(out_ln, out_gn, rtol=1e-12, atol=1e-12)
    assert_close(
        bn.layernorm_backward(dout, cache_ln)[0],
        bn.groupnorm_backward(dout, cache_gn)[0],
        rtol=1e-10,
        atol=1e-12,
    )


def test_instancenorm_equals_groupnorm_with_one_channel_per_group(xp):
    x, gamma, beta, dout = random_arrays(xp, (3, 4, 5, 6), (4,), (4,), (3, 4, 5, 6))
    out_in, cache_in = bn.instancenorm_forward(x, gamma, beta)
    out_gn, cache_gn = bn.groupnorm_forward(x, gamma, beta, num_groups=4)
    assert_close(out_in, out_gn, rtol=1e-12, atol=1e-12)
    for a, b in zip(
        bn.instancenorm_backward(dout, cache_in), bn.groupnorm_backward(dout, cache_gn)
    ):
        assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_batchnorm_backward_matches_the_staged_graph(xp):
    x, gamma, beta, dout = random_arrays(xp, (7, 5), (5,), (5,), (7, 5), seed=5)
    _, cache = bn.batchnorm_forward(x, gamma, beta)
    expected = reference.batchnorm_backward_staged(*map(to_numpy, (dout, x, gamma)))
    for actual, want in zip(bn.batchnorm_backward(dout, cache), expected):
        assert_close(actual, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2, 5)])
def test_batchnorm_dx_sums_to_zero_and_is_orthogonal_to_x_hat(xp, shape):
    """sum(dx) = 0 holds for any eps; sum(dx * x_hat) = 0 only as eps -> 0, since then
    sum(x_hat^2) = m exactly: the deviation is about eps / var."""
    x, gamma, beta, dout = random_arrays(xp, shape, shape[1:2], shape[1:2], shape, seed=6)
    axes = (0, *range(2, len(shape)))
    for eps, tol in [(1e-5, 1e-12), (1e-14, 1e-12)]:
        _, cache = bn.batchnorm_forward(x, gamma, beta, eps=eps)
        dx = to_numpy(bn.batchnorm_backward(dout, cache)[0])
        assert np.abs(dx.sum(axis=axes)).max() < tol
    assert np.abs((dx * to_numpy(cache.x_hat)).sum(axis=axes)).max() < 1e-9
    _, cache = bn.batchnorm_forward(x, gamma, beta, eps=1e-2)  # large eps: visibly not orthogonal
    dx = to_numpy(bn.batchnorm_backward(dout, cache)[0])
    assert np.abs((dx * to_numpy(cache.x_hat)).sum(axis=axes)).max() > 1e-5


@pytest.mark.parametrize("shape", [(1, 3), (6, 3), (1, 3, 4, 4), (2, 3, 2, 2, 2)])
def test_batchnorm_inference_is_the_affine_map_of_running_stats(xp, shape):
    x, gamma, beta, running_mean, running_var = random_arrays(
        xp, shape, (3,), (3,), (3,), (3,), seed=7
    )
    running_var = running_var**2 + 0.5
    out = bn.batchnorm_inference(x, gamma, beta, running_mean, running_var)
    channel = (1, 3) + (1,) * (len(shape) - 2)
    g, b, m, v = (to_numpy(a).reshape(channel) for a in (gamma, beta, running_mean, running_var))
    assert_on_backend(xp, out)
    assert_close(out, g * (to_numpy(x) - m) / np.sqrt(v + 1e-5) + b, rtol=1e-12, atol=1e-12)


def test_batchnorm_inference_with_batch_statistics_equals_training_forward(xp):
    x, gamma, beta = random_arrays(xp, (8, 3, 4), (3,), (3,), seed=8)
    out_train, cache = bn.batchnorm_forward(x, gamma, beta)
    mean, var = cache.mean.reshape(-1), cache.var.reshape(-1)
    out_eval = bn.batchnorm_inference(x, gamma, beta, mean, var)
    assert_close(out_eval, out_train, rtol=1e-12, atol=1e-12)


def test_eps_is_added_to_the_variance(xp):
    x = xp.asarray([[1.0], [2.0], [3.0], [4.0], [5.0]])
    for eps in (1e-5, 1e-3, 2.0):
        out, cache = bn.batchnorm_forward(x, xp.ones(1), xp.zeros(1), eps=eps)
        assert float(cache.mean.item()) == pytest.approx(3.0)
        assert float(cache.var.item()) == pytest.approx(2.0)
        assert_close(out.ravel(), (np.arange(1.0, 6.0) - 3.0) / np.sqrt(2.0 + eps), rtol=1e-12)
