"""Too few values per statistic is an error; an empty batch, where none is taken, is not.

A mean and variance over one value give x_hat = 0 whatever x is, and over none they are
undefined: every norm raises there, as BN and IN did already. PyTorch raises for BN and IN
in the same words; for GN only where the whole batch holds one value per group.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import bn

C3 = np.ones(3)

CASES = [
    (
        lambda: bn.groupnorm_forward(np.ones((1, 3)), C3, C3, 3),
        ValueError,
        (
            r"groupnorm_forward: expected more than 1 value per group, got x of shape \(1, 3\) "
            r"and num_groups=3"
        ),
    ),
    (
        lambda: bn.groupnorm_forward(np.ones((1, 3, 1)), C3, C3, 3),
        ValueError,
        r"expected more than 1 value per group, got x of shape \(1, 3, 1\)",
    ),
    (
        lambda: bn.groupnorm_forward(np.ones((5, 3)), C3, C3, 3),
        ValueError,
        r"expected more than 1 value per group, got x of shape \(5, 3\)",
    ),
    (
        lambda: bn.GroupNorm(3, 3).forward(np.ones((2, 3, 1), np.float32)),
        ValueError,
        r"expected more than 1 value per group",
    ),
    # no values per statistic
    (
        lambda: bn.layernorm_forward(np.ones((4, 0)), np.ones(0), np.ones(0)),
        ValueError,
        (
            r"layernorm_forward: expected more than 1 value per sample \(the normalized_shape "
            r"axes\), got x of shape \(4, 0\)"
        ),
    ),
    (
        lambda: bn.layernorm_forward(np.ones((4, 1)), np.ones(1), np.ones(1)),
        ValueError,
        r"layernorm_forward: expected more than 1 value per sample",
    ),
    (
        lambda: bn.groupnorm_forward(np.ones((2, 0, 3)), np.ones(0), np.ones(0), 1),
        ValueError,
        r"groupnorm_forward: expected more than 1 value per group, got x of shape \(2, 0, 3\)",
    ),
    (
        lambda: bn.groupnorm_forward(np.ones((2, 3, 0)), C3, C3, 1),
        ValueError,
        r"expected more than 1 value per group, got x of shape \(2, 3, 0\)",
    ),
    (
        lambda: bn.instancenorm_forward(np.ones((2, 3, 0)), C3, C3),
        ValueError,
        r"expected more than 1 value per instance \(spatial size\) when training",
    ),
    (
        lambda: bn.LayerNorm((1, 1)),
        ValueError,
        (
            r"LayerNorm: expected more than 1 value per sample \(the normalized_shape axes\), "
            r"got normalized_shape=\(1, 1\)"
        ),
    ),
]


@pytest.mark.parametrize("call, error, match", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_too_few_values_per_statistic_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    "forward, param_shape",
    [
        (lambda x, g, b: bn.layernorm_forward(x, g, b), (4, 3)),
        (lambda x, g, b: bn.instancenorm_forward(x, g, b), (4,)),
        (lambda x, g, b: bn.groupnorm_forward(x, g, b, 2), (4,)),
    ],
    ids=["layernorm", "instancenorm", "groupnorm"],
)
def test_an_empty_batch_gives_an_empty_output(forward, param_shape):
    """N = 0 takes no statistic, as in PyTorch: LN, IN and GN return an empty array (and
    zero gradients for gamma and beta); BN in training mode has no batch to average."""
    x, gamma, beta = np.ones((0, 4, 3)), np.ones(param_shape), np.zeros(param_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Mean of empty slice"
        out, cache = forward(x, gamma, beta)
        dx, dgamma, dbeta = bn.norms.layernorm_backward(np.ones_like(out), cache)  # one core
    assert out.shape == dx.shape == (0, 4, 3)
    assert (dgamma == 0).all() and (dbeta == 0).all() and dgamma.shape == gamma.shape


@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 2), (2, 3, 0)])
def test_eval_mode_batch_norm_of_no_values_is_empty(shape):
    x = np.ones(shape, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer = bn.BatchNorm(3).eval()
        out = layer.forward(x)
        dx = layer.backward(np.ones_like(out))
        assert bn.batchnorm_inference(x, *(np.ones(3, np.float32),) * 4).shape == shape
    assert out.shape == dx.shape == shape and (layer.grads["beta"] == 0).all()
    with pytest.raises(ValueError, match=r"expected more than 1 value per channel when training"):
        layer.train().forward(x)
