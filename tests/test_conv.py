"""Convolution: a naive loop reference, PyTorch, finite differences, errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, assert_on_backend, random_arrays, to_numpy

import bn

GEOMETRIES = [  # x shape, weight shape, stride, padding
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 0),
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 1),
    ((1, 2, 7, 6), (3, 2, 3, 2), 2, 1),
    ((2, 1, 6, 6), (2, 1, 1, 1), 3, 0),
    ((1, 2, 4, 4), (2, 2, 4, 4), 1, 2),
    ((1, 1, 5, 5), (1, 1, 2, 2), 2, 0),  # the last row and column are never read
]


def naive_conv2d(x, weight, bias, stride, padding):
    """out[n, o, i, j] = bias[o] + sum(weight[o] * patch under (i, j)), one entry at a time."""
    x, weight = to_numpy(x), to_numpy(weight)
    n, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    x_pad = np.zeros((n, x.shape[1], h + 2 * padding, w + 2 * padding))
    x_pad[:, :, padding : padding + h, padding : padding + w] = x
    h_out = (h + 2 * padding - kh) // stride + 1
    w_out = (w + 2 * padding - kw) // stride + 1
    out = np.zeros((n, c_out, h_out, w_out))
    for b in range(n):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    patch = x_pad[b, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                    out[b, o, i, j] = np.sum(patch * weight[o]) + (
                        bias[o] if bias is not None else 0
                    )
    return out


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", GEOMETRIES)
def test_conv2d_forward_matches_the_naive_loops(xp, x_shape, w_shape, stride, padding):
    x, weight, bias = random_arrays(xp, x_shape, w_shape, w_shape[:1], seed=1)
    out, _ = bn.conv2d_forward(x, weight, bias, stride, padding)
    assert_on_backend(xp, out)
    assert_close(
        out, naive_conv2d(x, weight, to_numpy(bias), stride, padding), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", GEOMETRIES)
def test_conv2d_matches_torch(xp, x_shape, w_shape, stride, padding):
    torch = pytest.importorskip("torch")
    x, weight, bias, _ = random_arrays(xp, x_shape, w_shape, w_shape[:1], (1,), seed=2)
    out, cache = bn.conv2d_forward(x, weight, bias, stride, padding)
    (dout,) = random_arrays(xp, out.shape, seed=3)
    tx, tw, tb = (torch.tensor(to_numpy(a), requires_grad=True) for a in (x, weight, bias))
    expected = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding)
    expected.backward(torch.tensor(to_numpy(dout)))
    assert_close(out, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in zip(bn.conv2d_backward(dout, cache), (tx, tw, tb)):
        assert_close(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", [GEOMETRIES[2], GEOMETRIES[5]])
def test_conv2d_backward_matches_finite_differences(xp, x_shape, w_shape, stride, padding):
    x, weight, bias = random_arrays(xp, x_shape, w_shape, w_shape[:1], seed=4)
    out, cache = bn.conv2d_forward(x, weight, bias, stride, padding)
    (dout,) = random_arrays(xp, out.shape, seed=5)
    dx, dweight, dbias = bn.conv2d_backward(dout, cache)
    assert_on_backend(xp, dx, dweight, dbias)
    assert dx.shape == x.shape and dweight.shape == weight.shape

    def conv(x_, w_, b_):
        return bn.conv2d_forward(x_, w_, b_, stride, padding)[0]

    assert_close(dx, bn.numerical_gradient(lambda v: conv(v, weight, bias), x, dout), rtol=1e-6)
    assert_close(
        dweight, bn.numerical_gradient(lambda v: conv(x, v, bias), weight, dout), rtol=1e-6
    )
    assert_close(dbias, bn.numerical_gradient(lambda v: conv(x, weight, v), bias, dout), rtol=1e-6)


def test_conv2d_without_bias_returns_no_dbias_and_keeps_float32(xp):
    x, weight = random_arrays(xp, (2, 3, 4, 4), (2, 3, 3, 3), dtype=np.float32)
    out, cache = bn.conv2d_forward(x, weight, None, padding=1)
    assert out.dtype == np.float32 and out.shape == (2, 2, 4, 4)
    dx, dweight, dbias = bn.conv2d_backward(xp.ones_like(out), cache)
    assert dbias is None and dx.dtype == dweight.dtype == np.float32


def test_conv2d_does_not_modify_its_inputs(xp):
    x, weight, dout = random_arrays(xp, (1, 2, 4, 4), (3, 2, 3, 3), (1, 3, 2, 2))
    before = [a.copy() for a in (x, weight, dout)]
    _, cache = bn.conv2d_forward(x, weight, stride=1)
    bn.conv2d_backward(dout, cache)
    for a, b in zip((x, weight, dout), before):
        assert (a == b).all()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"x": np.ones((3, 5, 5))},
            ValueError,
            r"conv2d_forward: expected x of shape \(N, C_in, H, W\), got shape \(3, 5, 5\)",
        ),
        (
            {"weight": np.ones((4, 2, 3, 3))},
            ValueError,
            r"expected weight of shape \(C_out, C_in, kH, kW\) with C_in = 3, got \(4, 2, 3, 3\)",
        ),
        (
            {"bias": np.ones(3)},
            ValueError,
            r"expected bias of shape \(C_out,\) = \(4,\), got \(3,\)",
        ),
        ({"stride": 0}, ValueError, r"conv2d_forward: expected stride > 0, got stride=0"),
        ({"padding": -1}, ValueError, r"expected padding to be an int >= 0, got -1"),
        (
            {"x": np.ones((1, 3, 2, 2))},
            ValueError,
            r"expected the padded input size .* = \(2, 2\) to be at least the kernel size \(3, 3\)",
        ),
        ({"x": np.ones((1, 3, 5, 5), int)}, TypeError, r"expected x with a floating dtype"),
    ],
)
def test_conv2d_bad_input_gets_a_clear_error(kwargs, error, match):
    args = {"x": np.ones((1, 3, 5, 5)), "weight": np.ones((4, 3, 3, 3)), "bias": None} | kwargs
    with pytest.raises(error, match=match):
        bn.conv2d_forward(**args)


def test_conv2d_backward_checks_dout():
    _, cache = bn.conv2d_forward(np.ones((1, 3, 5, 5)), np.ones((4, 3, 3, 3)))
    with pytest.raises(
        ValueError, match=r"expected dout of shape .* = \(1, 4, 3, 3\), got \(1, 4, 5, 5\)"
    ):
        bn.conv2d_backward(np.ones((1, 4, 5, 5)), cache)
