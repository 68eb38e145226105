"""A backward pass given no cache, or the cache of another op, says what it expected."""

from __future__ import annotations

import numpy as np
import pytest

import bn

X = np.ones((4, 3))
X4 = np.ones((2, 3, 4, 4))
C3 = np.ones(3)
NO_CACHE = r"expected cache to be the cache a forward pass returned"
ANY_CACHE = r"\(NormCache or FastCache or InferenceCache\)"


def _cases():
    x_cache = bn.batchnorm_forward(X, C3, C3)[1]
    linear_cache = bn.linear_forward(X, np.ones((2, 3)))[1]
    return [
        # a backward pass given no cache, or the cache of another op
        (
            lambda: bn.batchnorm_backward(X, None),
            TypeError,
            rf"batchnorm_backward: {NO_CACHE} {ANY_CACHE}, got NoneType",
        ),
        (lambda: bn.batchnorm_backward(X, tuple(x_cache)), TypeError, rf"{NO_CACHE}.*got tuple"),
        (lambda: bn.batchnorm_backward(X, linear_cache), TypeError, r"got LinearCache"),
        (
            lambda: bn.norms.batchnorm_backward(X, None),
            TypeError,
            rf"batchnorm_backward: {NO_CACHE} \(NormCache\), got NoneType",
        ),
        (
            lambda: bn.norms.batchnorm_backward(X, x_cache),  # a fast path's cache
            TypeError,
            rf"{NO_CACHE} \(NormCache\), got (FastCache|FusedCache)",
        ),
        (lambda: bn.layernorm_backward(X, None), TypeError, rf"layernorm_backward: {NO_CACHE}"),
        (lambda: bn.groupnorm_backward(X, None), TypeError, rf"groupnorm_backward: {NO_CACHE}"),
        (
            lambda: bn.instancenorm_backward(X4, None),
            TypeError,
            rf"instancenorm_backward: {NO_CACHE}",
        ),
        (
            lambda: bn.kernels.normalize_backward("GroupNorm.backward", X, ()),
            TypeError,
            rf"GroupNorm.backward: {NO_CACHE} {ANY_CACHE}, got tuple",
        ),
        (lambda: bn.linear_backward(X, None), TypeError, rf"linear_backward: {NO_CACHE}"),
        (lambda: bn.relu_backward(X, x_cache), TypeError, rf"relu_backward: {NO_CACHE}"),
        (lambda: bn.tanh_backward(X, None), TypeError, r"\(ActivationCache\), got NoneType"),
        (lambda: bn.conv2d_backward(X4, linear_cache), TypeError, r"\(Conv2dCache\), got Linear"),
        (
            lambda: bn.numerical_gradient(lambda v: v, np.arange(3), np.ones(3)),
            TypeError,
            r"numerical_gradient: expected x with a floating dtype .*, got int64",
        ),
        (
            lambda: bn.numerical_gradient(np.ones(3), np.ones(3), np.ones(3)),
            TypeError,
            r"numerical_gradient: expected f to be a function, got ndarray",
        ),
        (
            lambda: bn.Adam(bn.Linear(2, 2), betas=0.9),
            TypeError,
            r"Adam: expected betas = \(beta1, beta2\), got 0.9",
        ),
    ]


CASES = _cases()


@pytest.mark.parametrize("call, error, match", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_a_backward_pass_without_its_cache_names_cache(call, error, match):
    with pytest.raises(error, match=match):
        call()
