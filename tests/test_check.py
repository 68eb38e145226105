"""The exercise checkers: right code passes, wrong code is named, crashes are reported."""

from __future__ import annotations

import numpy as np
import pytest

import bn


def _axes(x):
    return tuple(a for a in range(x.ndim) if a != 1)


def _channel(x, a):
    return a.reshape((1, -1) + (1,) * (x.ndim - 2))


def student_forward(x, gamma, beta, eps):
    """A reader's batch norm, written independently of bn: returns (out, cache)."""
    axes = _axes(x)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    x_hat = (x - mean) / np.sqrt(var + eps)
    return _channel(x, gamma) * x_hat + _channel(x, beta), (x_hat, var, gamma, eps)


def student_backward(dout, cache):
    x_hat, var, gamma, eps = cache
    axes = _axes(dout)
    dx_hat = dout * _channel(dout, gamma)
    dx = (
        dx_hat
        - dx_hat.mean(axis=axes, keepdims=True)
        - x_hat * (dx_hat * x_hat).mean(axis=axes, keepdims=True)
    ) / np.sqrt(var + eps)
    return dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)


def test_a_correct_forward_and_backward_pass(capsys):
    result = bn.check_batchnorm_forward(student_forward)
    assert result and result.passed and result.output is None
    assert capsys.readouterr().out.startswith(
        "All good: student_forward matches bn for x of shapes (4, 3), (10, 5), (2, 3, 4, 5)"
    )
    assert bn.check_batchnorm_backward(student_backward, student_forward)
    assert bn.check_batchnorm_forward(bn.batchnorm_forward, verbose=False)
    assert bn.check_batchnorm_backward(
        bn.batchnorm_backward, verbose=False
    )  # bn's forward by default


def test_unbiased_variance_in_the_forward_pass_is_caught(capsys):
    def unbiased(x, gamma, beta, eps):
        axes = _axes(x)
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True, ddof=1)  # the bug: m - 1
        return _channel(x, gamma) * (x - mean) / np.sqrt(var + eps) + _channel(x, beta)

    result = bn.check_batchnorm_forward(unbiased)
    assert not result and result.output == "out"
    assert result.shape == (4, 3)  # m = 4: the largest factor, sqrt(4 / 3)
    assert 0.01 < result.error < 1
    assert capsys.readouterr().out.startswith("Problem: out differs from bn's: relative error")


def test_a_dx_missing_a_term_is_named_and_the_right_outputs_too(capsys):
    def backward(dout, cache):
        x_hat, var, gamma, eps = cache
        axes = _axes(dout)
        dx_hat = dout * _channel(dout, gamma)
        dx = (dx_hat - dx_hat.mean(axis=axes, keepdims=True)) / np.sqrt(var + eps)  # no x_hat term
        return dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)

    result = bn.check_batchnorm_backward(backward, student_forward)
    assert not result and result.output == "dx"
    assert "Right: dgamma, dbeta." in capsys.readouterr().out


def test_a_wrong_dgamma_shape_is_reported_with_the_input_shape():
    def backward(dout, cache):
        dx, dgamma, dbeta = student_backward(dout, cache)
        return dx, dgamma.reshape(1, -1), dbeta

    result = bn.check_batchnorm_backward(backward, student_forward, verbose=False)
    assert not result
    assert "dgamma has shape (1, 3) for x of shape (4, 3); expected (3,)" in result.message


def test_an_exception_is_reported_with_its_shape_and_line_not_raised():
    def only_2d(x, gamma, beta, eps):
        mean = x.mean(axis=0)
        return gamma * (x - mean) / np.sqrt(x.var(axis=0) + eps) + beta  # fails for 4-D x

    result = bn.check_batchnorm_forward(only_2d, verbose=False)
    assert not result and result.shape == (2, 3, 4, 5)
    assert "only_2d raised ValueError: operands could not be broadcast" in result.message
    assert "for x of shape (2, 3, 4, 5)" in result.message
    assert "test_check.py, line" in result.message and "fails for 4-D x" in result.message


def test_an_error_inside_numpy_points_at_the_readers_line_not_numpys():
    def square_only(x, gamma, beta, eps):
        return np.linalg.solve(x, x)  # raises deep inside numpy.linalg

    result = bn.check_batchnorm_forward(square_only, verbose=False)
    assert "square_only raised LinAlgError" in result.message
    line = square_only.__code__.co_firstlineno + 1
    assert result.message.endswith(
        f"test_check.py, line {line}: return np.linalg.solve(x, x)  # raises deep inside numpy.linalg"
    )


def test_changing_an_input_in_place_is_reported():
    def backward(dout, cache):
        dout *= 2.0  # the caller's array is overwritten ...
        return student_backward(dout / 2.0, cache)  # ... though the gradients come out right

    result = bn.check_batchnorm_backward(backward, student_forward, verbose=False)
    assert not result and "changed its input dout in place for x of shape (4, 3)" in result.message


def test_wrong_output_count_and_a_forward_without_cache():
    result = bn.check_batchnorm_backward(
        lambda dout, cache: (dout, dout), student_forward, verbose=False
    )
    assert not result and "expected 3 outputs, got 2 values" in result.message
    no_cache = bn.check_batchnorm_backward(student_backward, lambda x, g, b, eps: x, verbose=False)
    assert not no_cache and "to return (out, cache), got ndarray" in no_cache.message


def test_outputs_that_are_not_arrays_are_reported():
    result = bn.check_batchnorm_forward(lambda x, g, b, eps: "out", verbose=False)
    assert (
        not result
        and "out is not an array of numbers (str) for x of shape (4, 3)" in result.message
    )


def test_layernorm_checkers():
    def last_axis_only(x, gamma, beta, eps):  # right for (N, D), wrong for (N, C, H, W)
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        return gamma * (x - mean) / np.sqrt(var + eps) + beta

    assert bn.check_layernorm_forward(bn.layernorm_forward, verbose=False)
    assert bn.check_layernorm_backward(bn.layernorm_backward, bn.layernorm_forward, verbose=False)
    result = bn.check_layernorm_forward(last_axis_only, verbose=False)
    assert not result and result.output == "out" and result.shape == (2, 3, 4, 5)
    assert bn.check_layernorm_forward(last_axis_only, shapes=[(4, 5), (3, 7)], verbose=False)


def test_check_function_on_any_function():
    rng = np.random.default_rng(0)
    cases = [{"x": rng.standard_normal(shape)} for shape in [(3,), (2, 4)]]
    relu = lambda x: bn.relu_forward(x)[0]
    assert bn.check_function(lambda x: np.maximum(x, 0), relu, cases, ["out"], verbose=False)
    leaky = bn.check_function(
        lambda x: np.maximum(x, 0.01 * x), relu, cases, ["out"], name="leaky", verbose=False
    )
    assert not leaky and leaky.message.startswith("Problem: out differs")
    nan = bn.check_function(lambda x: x * np.nan, relu, cases, ["out"], verbose=False)
    assert not nan and nan.error == np.inf


def test_result_repr_is_short():
    result = bn.check_batchnorm_forward(student_forward, verbose=False)
    assert repr(result) == "CheckResult(passed=True, output=None, shape=None)"


@pytest.mark.parametrize("check", [bn.check_batchnorm_forward, bn.check_layernorm_forward])
def test_checkers_use_float64_and_several_shapes(check):
    seen = []

    def spy(x, gamma, beta, eps):
        seen.append((x.dtype, x.shape, eps))
        return np.zeros_like(x)

    check(spy, verbose=False)
    assert all(dtype == np.float64 and eps == 1e-5 for dtype, _, eps in seen)
    assert len({shape for _, shape, _ in seen}) >= 2 and any(len(s) == 4 for _, s, _ in seen)
