"""Bad input gets a clear error that names the argument, the expectation and the value.

More in tests/test_errors_caches.py (backward passes), test_errors_statistics.py (too few
values per statistic, empty batches) and test_errors_state.py (load_state_dict).
"""

from __future__ import annotations

import decimal
import fractions

import numpy as np
import pytest

import bn

X = np.ones((4, 3))
X4 = np.ones((2, 3, 4, 4))
C3 = np.ones(3)


def _cases():
    return [
        # wrong rank
        (
            lambda: bn.batchnorm_forward(np.ones(5), C3, C3),
            ValueError,
            r"batchnorm_forward: expected x of shape \(N, C\) or \(N, C, \*\), got 1-D x of shape \(5,\)",
        ),
        (
            lambda: bn.batchnorm_inference(np.ones(3), C3, C3, C3, C3),
            ValueError,
            r"batchnorm_inference: expected x of shape .*got 1-D",
        ),
        (
            lambda: bn.instancenorm_forward(X, C3, C3),
            ValueError,
            (
                r"instancenorm_forward: expected x of shape \(N, C, \*\) with at least one spatial axis, "
                r"got 2-D x of shape \(4, 3\)"
            ),
        ),
        (
            lambda: bn.groupnorm_forward(np.ones(6), np.ones(6), np.ones(6), 2),
            ValueError,
            r"groupnorm_forward: expected x of shape .*got 1-D",
        ),
        (
            lambda: bn.layernorm_forward(np.ones(4), np.ones((2, 4)), np.ones((2, 4))),
            ValueError,
            r"layernorm_forward: expected x of shape .*got 1-D",
        ),
        (
            lambda: bn.BatchNorm(3).forward(np.ones(3)),
            ValueError,
            r"BatchNorm: expected x of shape",
        ),
        # parameters that do not match the channels
        (
            lambda: bn.batchnorm_forward(X, np.ones(4), C3),
            ValueError,
            r"batchnorm_forward: expected gamma of shape \(C,\) = \(3,\), got \(4,\)",
        ),
        (
            lambda: bn.batchnorm_forward(X, C3, np.ones((3, 1))),
            ValueError,
            r"expected beta of shape \(C,\) = \(3,\), got \(3, 1\)",
        ),
        (
            lambda: bn.batchnorm_inference(X, C3, C3, np.ones(2), C3),
            ValueError,
            r"expected running_mean of shape \(C,\) = \(3,\), got \(2,\)",
        ),
        (
            lambda: bn.batchnorm_inference(X, C3, C3, C3, np.ones(4)),
            ValueError,
            r"expected running_var of shape \(C,\) = \(3,\), got \(4,\)",
        ),
        (
            lambda: bn.layernorm_forward(X4, np.ones((4, 3)), np.ones((4, 3))),
            ValueError,
            (
                r"layernorm_forward: expected gamma of shape x.shape\[-gamma.ndim:\] = \(4, 4\), "
                r"got \(4, 3\)"
            ),
        ),
        (
            lambda: bn.layernorm_forward(X4, np.ones(4), np.ones(3)),
            ValueError,
            r"expected beta of shape .* = \(4,\), got \(3,\)",
        ),
        (
            lambda: bn.groupnorm_forward(X4, np.ones(6), np.ones(6), 3),
            ValueError,
            r"groupnorm_forward: expected gamma of shape \(C,\) = \(3,\), got \(6,\)",
        ),
        (
            lambda: bn.instancenorm_forward(X4, np.ones(2), C3),
            ValueError,
            r"instancenorm_forward: expected gamma of shape \(C,\) = \(3,\), got \(2,\)",
        ),
        # non-floating dtypes and non-arrays
        (
            lambda: bn.batchnorm_forward(np.ones((4, 3), int), C3, C3),
            TypeError,
            r"batchnorm_forward: expected x with a floating dtype .*, got int64",
        ),
        (
            lambda: bn.batchnorm_forward(X, np.ones(3, bool), C3),
            TypeError,
            r"expected gamma with a floating dtype .*, got bool",
        ),
        (
            lambda: bn.layernorm_forward([[1.0, 2.0]], np.ones(2), np.ones(2)),
            TypeError,
            r"layernorm_forward: expected x to be a NumPy or CuPy array, got list",
        ),
        (
            lambda: bn.BatchNorm(3, dtype=np.int32),
            TypeError,
            r"BatchNorm: expected a floating dtype \(float16, float32 or float64\), got int32",
        ),
        # eps
        (
            lambda: bn.batchnorm_forward(X, C3, C3, eps=0.0),
            ValueError,
            r"batchnorm_forward: expected eps > 0, got eps=0.0",
        ),
        (
            lambda: bn.layernorm_forward(X, C3, C3, eps=-1e-5),
            ValueError,
            r"layernorm_forward: expected eps > 0, got eps=-1e-05",
        ),
        (lambda: bn.batchnorm_inference(X, C3, C3, C3, C3, eps=-1.0), ValueError, r"eps > 0"),
        (lambda: bn.GroupNorm(1, 3, eps=0), ValueError, r"GroupNorm: expected eps > 0, got eps=0"),
        (
            lambda: bn.BatchNorm(3, eps="1e-5"),
            TypeError,
            r"BatchNorm: expected eps to be a positive float, got str",
        ),
        # momentum
        (
            lambda: bn.BatchNorm(3, momentum=-0.1),
            ValueError,
            r"BatchNorm: expected momentum in \[0, 1\] or None, got momentum=-0.1",
        ),
        (lambda: bn.BatchNorm(3, momentum=1.5), ValueError, r"got momentum=1.5"),
        (
            lambda: bn.BatchNorm(3, momentum="0.1"),
            TypeError,
            r"BatchNorm: expected momentum to be a float in \[0, 1\] or None, got str",
        ),
        # groups
        (
            lambda: bn.GroupNorm(4, 6),
            ValueError,
            r"GroupNorm: expected num_channels \(6\) to be divisible by num_groups \(4\)",
        ),
        (
            lambda: bn.groupnorm_forward(np.ones((2, 6, 3)), np.ones(6), np.ones(6), 4),
            ValueError,
            r"groupnorm_forward: expected num_channels \(6\) to be divisible by num_groups \(4\)",
        ),
        (lambda: bn.GroupNorm(0, 6), ValueError, r"expected num_groups > 0, got num_groups=0"),
        (lambda: bn.GroupNorm(2.0, 6), TypeError, r"expected num_groups to be a positive int"),
        # one value per channel in training mode
        (
            lambda: bn.batchnorm_forward(np.ones((1, 3)), C3, C3),
            ValueError,
            (
                r"batchnorm_forward: expected more than 1 value per channel when training, "
                r"got x of shape \(1, 3\)"
            ),
        ),
        (
            lambda: bn.batchnorm_forward(np.ones((1, 3, 1, 1)), C3, C3),
            ValueError,
            r"expected more than 1 value per channel when training",
        ),
        (
            lambda: bn.BatchNorm(3).forward(np.ones((1, 3), np.float32)),
            ValueError,
            r"expected more than 1 value per channel when training",
        ),
        (
            lambda: bn.instancenorm_forward(np.ones((2, 3, 1, 1)), C3, C3),
            ValueError,
            r"expected more than 1 value per instance \(spatial size\) when training",
        ),
        # a layer given another channel count than it was built for
        (
            lambda: bn.BatchNorm(3).forward(np.ones((2, 4))),
            ValueError,
            (
                r"BatchNorm: expected x with 3 channels on axis 1 \(the layer was built for 3\), "
                r"got shape \(2, 4\)"
            ),
        ),
        (
            lambda: bn.GroupNorm(2, 4).forward(np.ones((2, 6, 3))),
            ValueError,
            r"GroupNorm: expected x with 4 channels on axis 1",
        ),
        (
            lambda: bn.InstanceNorm(4).forward(np.ones((2, 3, 5))),
            ValueError,
            r"InstanceNorm: expected x with 4 channels on axis 1",
        ),
        (
            lambda: bn.LayerNorm(4).forward(np.ones((2, 5))),
            ValueError,
            r"LayerNorm: expected x ending in normalized_shape \(4,\), got shape \(2, 5\)",
        ),
        # constructor arguments
        (lambda: bn.BatchNorm(0), ValueError, r"expected num_features > 0, got num_features=0"),
        (
            lambda: bn.BatchNorm(2.5),
            TypeError,
            r"expected num_features to be a positive int, got float",
        ),
        (lambda: bn.LayerNorm((3, -1)), ValueError, r"expected normalized_shape > 0"),
        (
            lambda: bn.InstanceNorm(3, affine="yes"),
            TypeError,
            r"expected affine to be True or False",
        ),
        # the gradient does not match the forward pass
        (
            lambda: bn.batchnorm_backward(np.ones((4, 2)), bn.batchnorm_forward(X, C3, C3)[1]),
            ValueError,
            r"batchnorm_backward: expected dout of shape x.shape = \(4, 3\), got \(4, 2\)",
        ),
        (
            lambda: bn.to_device(X, "cuda:0"),
            ValueError,
            r"expected device 'cpu' or 'gpu', got 'cuda:0'",
        ),
        *_more_cases(),
    ]


def _more_cases():
    """Dtypes, constructor arguments and hyperparameters (issue 15, section 3)."""
    longdouble = np.ones((4, 3), np.longdouble)
    return [
        # long double: not computed anywhere (its precision depends on the machine)
        (
            lambda: bn.batchnorm_forward(longdouble, C3, C3),
            TypeError,
            (
                r"batchnorm_forward: expected x with a floating dtype \(float16, float32 or float64\), "
                r"got (float128|float96|longdouble)"
            ),
        ),
        (
            lambda: bn.norms.batchnorm_forward(X, C3.astype(np.longdouble), C3),
            TypeError,
            r"expected gamma with a floating dtype \(float16, float32 or float64\)",
        ),
        (
            lambda: bn.batchnorm_inference(longdouble, C3, C3, C3, C3),
            TypeError,
            r"batchnorm_inference: expected x with a floating dtype",
        ),
        (
            lambda: bn.layernorm_forward(longdouble, C3, C3),
            TypeError,
            r"layernorm_forward: expected x with a floating dtype",
        ),
        (
            lambda: bn.relu_forward(longdouble),
            TypeError,
            r"relu_forward: expected x with a floating dtype",
        ),
        (
            lambda: bn.BatchNorm(3, dtype=np.longdouble),
            TypeError,
            r"BatchNorm: expected a floating dtype \(float16, float32 or float64\)",
        ),
        (
            lambda: bn.Linear(3, 2, dtype=np.longdouble),
            TypeError,
            r"Linear: expected a floating dtype \(float16, float32 or float64\)",
        ),
        (
            lambda: bn.LayerNorm(3, dtype="no such dtype"),
            TypeError,
            (
                r"LayerNorm: expected a floating dtype \(float16, float32 or float64\), "
                r"got 'no such dtype'"
            ),
        ),
        # constructor arguments
        (
            lambda: bn.BatchNorm(3, track_running_stats="no"),
            TypeError,
            r"BatchNorm: expected track_running_stats to be True or False, got 'no'",
        ),
        (
            lambda: bn.LayerNorm(2.0),
            TypeError,
            r"LayerNorm: expected normalized_shape to be an int or a tuple of ints, got float",
        ),
        (lambda: bn.LayerNorm(None), TypeError, r"normalized_shape .*, got NoneType"),
        (lambda: bn.LayerNorm("3"), TypeError, r"normalized_shape .*, got str"),
        (lambda: bn.LayerNorm(np.array(3)), TypeError, r"normalized_shape .*, got ndarray"),
        (lambda: bn.LayerNorm((2, 2.0)), TypeError, r"normalized_shape to be a positive int"),
        # eps and momentum: numbers that are not floats, and infinity
        (
            lambda: bn.batchnorm_forward(X, C3, C3, eps=fractions.Fraction(1, 100000)),
            TypeError,
            r"batchnorm_forward: expected eps to be a positive float, got Fraction",
        ),
        (
            lambda: bn.norms.layernorm_forward(X, C3, C3, eps=decimal.Decimal("1e-5")),
            TypeError,
            r"layernorm_forward: expected eps to be a positive float, got Decimal",
        ),
        (
            lambda: bn.batchnorm_inference(X, C3, C3, C3, C3, eps=fractions.Fraction(1, 10)),
            TypeError,
            r"batchnorm_inference: expected eps to be a positive float, got Fraction",
        ),
        (
            lambda: bn.GroupNorm(1, 3, eps=fractions.Fraction(1, 10)),
            TypeError,
            r"GroupNorm: expected eps to be a positive float, got Fraction",
        ),
        (
            lambda: bn.BatchNorm(3, momentum=fractions.Fraction(1, 10)),
            TypeError,
            r"BatchNorm: expected momentum to be a float in \[0, 1\] or None, got Fraction",
        ),
        (
            lambda: bn.BatchNorm(3, momentum=decimal.Decimal("0.1")),
            TypeError,
            r"got Decimal",
        ),
        (
            lambda: bn.instancenorm_forward(X4, C3, C3, eps=float("inf")),
            ValueError,
            r"instancenorm_forward: expected a finite eps > 0, got eps=inf",
        ),
        (lambda: bn.BatchNorm(3, eps=np.True_), TypeError, r"expected eps to be a positive float"),
    ]


CASES = _cases()


@pytest.mark.parametrize("call, error, match", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_bad_input_raises_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_eps_of_another_float_type_does_not_change_the_compute_dtype():
    """eps is converted to a Python float once: a NumPy float64 eps would promote float32."""
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    ones, zeros = np.ones(3, np.float32), np.zeros(3, np.float32)
    for eps in (np.float64(1e-5), np.float16(1e-3), 1):
        _, cache = bn.norms.batchnorm_forward(x, ones, zeros, eps=eps)
        assert cache.x_hat.dtype == cache.inv_std.dtype == np.float32
    assert bn.BatchNorm(3, eps=np.float32(1e-5), momentum=np.float64(0.1)).momentum == 0.1
