"""Linear, activations and the loss: gradients, reference values, stability, errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, assert_on_backend, random_arrays, to_numpy

import bn


@pytest.mark.parametrize("bias", [True, False])
def test_linear_backward_matches_finite_differences(xp, bias):
    x, weight, b, dout = random_arrays(xp, (4, 3), (5, 3), (5,), (4, 5), seed=1)
    b = b if bias else None
    out, cache = bn.linear_forward(x, weight, b)
    dx, dweight, dbias = bn.linear_backward(dout, cache)
    assert_on_backend(xp, out, dx, dweight)
    assert_close(dx, bn.numerical_gradient(lambda v: bn.linear_forward(v, weight, b)[0], x, dout))
    expected = bn.numerical_gradient(lambda v: bn.linear_forward(x, v, b)[0], weight, dout)
    assert_close(dweight, expected)
    if bias:
        assert_close(
            dbias, bn.numerical_gradient(lambda v: bn.linear_forward(x, weight, v)[0], b, dout)
        )
    else:
        assert dbias is None


def test_linear_is_x_times_weight_transposed_plus_bias(xp):
    x, weight, b = random_arrays(xp, (4, 3), (5, 3), (5,), seed=2)
    out, _ = bn.linear_forward(x, weight, b)
    expected = to_numpy(x) @ to_numpy(weight).T + to_numpy(b)
    assert_close(out, expected, rtol=1e-12)


ACTIVATIONS = {
    "relu": (bn.relu_forward, bn.relu_backward, lambda x: np.maximum(x, 0)),
    "sigmoid": (bn.sigmoid_forward, bn.sigmoid_backward, lambda x: 1 / (1 + np.exp(-x))),
    "tanh": (bn.tanh_forward, bn.tanh_backward, np.tanh),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_values_and_gradients(xp, name):
    forward, backward, formula = ACTIVATIONS[name]
    x, dout = random_arrays(xp, (3, 4, 2), (3, 4, 2), seed=3)
    x_before = x.copy()
    out, cache = forward(x)
    assert_on_backend(xp, out)
    assert_close(out, formula(to_numpy(x)), rtol=1e-12)
    dx = backward(dout, cache)
    assert_close(dx, bn.numerical_gradient(lambda v: forward(v)[0], x, dout), rtol=1e-6)
    assert (x == x_before).all()


def test_sigmoid_is_stable_and_keeps_float32(xp):
    # An overflow in exp would be a RuntimeWarning, which pyproject.toml turns into an error.
    x = xp.asarray([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32)
    out, _ = bn.sigmoid_forward(x)
    assert out.dtype == np.float32
    assert_close(out, [0.0, 1.9287498e-22, 0.5, 1.0, 1.0], rtol=1e-6, atol=0)


def test_relu_gradient_at_zero_is_zero_as_in_pytorch():
    _, cache = bn.relu_forward(np.array([-1.0, 0.0, 2.0]))
    assert (bn.relu_backward(np.ones(3), cache) == [0.0, 0.0, 1.0]).all()


def _reference_cross_entropy(logits, y):
    logits = to_numpy(logits)
    y = to_numpy(y)
    log_probs = [row[label] - np.log(np.sum(np.exp(row))) for row, label in zip(logits, y)]
    return -np.mean(log_probs)


def test_softmax_cross_entropy_value_and_gradient(xp):
    (logits,) = random_arrays(xp, (5, 4), seed=4)
    y = xp.asarray([0, 3, 1, 1, 2])
    loss, dlogits = bn.softmax_cross_entropy(logits, y)
    assert loss.shape == () and bn.get_array_module(loss) is xp
    assert_close(loss, _reference_cross_entropy(logits, y), rtol=1e-12)
    expected = bn.numerical_gradient(
        lambda v: bn.softmax_cross_entropy(v, y)[0], logits, xp.ones(())
    )
    assert_close(dlogits, expected, rtol=1e-6, atol=1e-10)
    assert_close(dlogits.sum(axis=1), np.zeros(5), atol=1e-12)  # each row of softmax sums to 1


def test_softmax_cross_entropy_is_stable_for_huge_logits(xp):
    logits = xp.asarray([[1000.0, 0.0], [0.0, -1000.0]], dtype=np.float32)
    loss, dlogits = bn.softmax_cross_entropy(logits, xp.asarray([1, 0]))
    assert loss.dtype == np.float32 and dlogits.dtype == np.float32
    assert_close(loss, 500.0, rtol=1e-6)  # (1000 + 0) / 2
    assert_close(dlogits, [[0.5, -0.5], [0.0, 0.0]], atol=1e-6)


def test_softmax_cross_entropy_does_not_modify_logits(xp):
    (logits,) = random_arrays(xp, (3, 4), seed=5)
    before = logits.copy()
    bn.softmax_cross_entropy(logits, xp.asarray([0, 1, 2]))
    assert (logits == before).all()


def test_softmax_cross_entropy_matches_torch(xp):
    torch = pytest.importorskip("torch")
    (logits,) = random_arrays(xp, (6, 5), seed=6)
    y = np.array([4, 0, 2, 2, 1, 3])
    t = torch.tensor(to_numpy(logits), requires_grad=True)
    expected = torch.nn.functional.cross_entropy(t, torch.tensor(y))
    expected.backward()
    loss, dlogits = bn.softmax_cross_entropy(logits, xp.asarray(y))
    assert_close(loss, expected.item(), rtol=1e-12)
    assert_close(dlogits, t.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: bn.linear_forward(np.ones((2, 3, 1)), np.ones((4, 3))),
            ValueError,
            r"linear_forward: expected x of shape \(N, D_in\), got shape \(2, 3, 1\)",
        ),
        (
            lambda: bn.linear_forward(np.ones((2, 3)), np.ones((4, 2))),
            ValueError,
            r"expected weight of shape \(D_out, D_in\) with D_in = 3, got \(4, 2\)",
        ),
        (
            lambda: bn.linear_forward(np.ones((2, 3)), np.ones((4, 3)), np.ones(3)),
            ValueError,
            r"expected bias of shape \(D_out,\) = \(4,\), got \(3,\)",
        ),
        (
            lambda: bn.linear_forward(np.ones((2, 3), int), np.ones((4, 3))),
            TypeError,
            r"expected x with a floating dtype",
        ),
        (
            lambda: bn.linear_backward(
                np.ones((2, 5)), bn.linear_forward(np.ones((2, 3)), np.ones((4, 3)))[1]
            ),
            ValueError,
            r"linear_backward: expected dout of shape \(N, D_out\) = \(2, 4\), got \(2, 5\)",
        ),
        (
            lambda: bn.relu_backward(np.ones(3), bn.relu_forward(np.ones(4))[1]),
            ValueError,
            r"relu_backward: expected dout of shape x.shape = \(4,\), got \(3,\)",
        ),
        (
            lambda: bn.softmax_cross_entropy(np.ones((3, 4)), np.array([0.0, 1.0, 2.0])),
            TypeError,
            r"softmax_cross_entropy: expected integer class labels y, got float64",
        ),
        (
            lambda: bn.softmax_cross_entropy(np.ones((3, 4)), np.array([0, 1])),
            ValueError,
            r"expected labels y of shape \(N,\) = \(3,\), got \(2,\)",
        ),
        (
            lambda: bn.softmax_cross_entropy(np.ones(4), np.array([0])),
            ValueError,
            r"expected logits of shape \(N, K\), got shape \(4,\)",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()
