"""The students' tools: finite differences and relative error."""

from __future__ import annotations

import numpy as np
from conftest import assert_close, random_arrays

import bn


def test_numerical_gradient_of_a_known_function(xp):
    x, dout = random_arrays(xp, (3, 4), (3, 4))
    grad = bn.numerical_gradient(lambda v: v**3, x, dout)
    assert_close(grad, 3 * x**2 * dout, rtol=1e-7, atol=1e-9)


def test_numerical_gradient_does_not_modify_x(xp):
    (x,) = random_arrays(xp, (2, 3))
    before = x.copy()
    bn.numerical_gradient(lambda v: xp.sin(v), x, xp.ones((2, 3)))
    assert (x == before).all()


def test_numerical_gradient_sees_coupling_between_entries(xp):
    """f(x) = x - mean(x): every output depends on every input."""
    x, dout = random_arrays(xp, (5,), (5,), seed=2)
    grad = bn.numerical_gradient(lambda v: v - v.mean(), x, dout)
    assert_close(grad, dout - dout.mean(), rtol=1e-7, atol=1e-9)


def test_numerical_gradient_of_a_function_returning_a_view_of_x(xp):
    """f(x) = x.reshape(...) shares memory with x: the + h result must be kept apart."""
    x, dout = random_arrays(xp, (2, 3), (6,), seed=3)
    assert_close(bn.numerical_gradient(lambda v: v.reshape(-1), x, dout), dout.reshape(2, 3))


def test_rel_error():
    assert bn.rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert np.isclose(bn.rel_error(np.array([1.0]), np.array([3.0])), 0.5)
    assert bn.rel_error(np.zeros(2), np.zeros(2)) == 0.0
