"""Finite-difference gradients and relative errors, for tests and for students.

Use float64 inputs: with float32 the rounding error of the differences swamps
the gradient.
"""

from __future__ import annotations

from collections.abc import Callable

from . import _checks
from .backend import Array, get_array_module


def numerical_gradient(
    f: Callable[[Array], Array], x: Array, dout: Array, h: float = 1e-5
) -> Array:
    """Estimate dL/dx for L = sum(f(x) * dout) by centered differences.

    Each entry is ``sum((f(x + h e_i) - f(x - h e_i)) * dout) / (2 h)``, so the
    result has the shape of ``x``. ``x`` itself is not modified: the function
    works on a copy. It costs two calls of ``f`` per entry of ``x``: keep x tiny.

    Args:
        f: function of one array.
        x: point at which to differentiate.
        dout: upstream gradient, shape of ``f(x)``.
        h: step size.

    Raises:
        TypeError: if ``f`` is not callable, or ``x`` or ``dout`` not a floating array.
    """
    if not callable(f):
        raise TypeError(f"numerical_gradient: expected f to be a function, got {type(f).__name__}")
    _checks.check_array("numerical_gradient", "x", x)  # an int x would round the steps away
    _checks.check_array("numerical_gradient", "dout", dout)
    xp = get_array_module(x, dout)
    x = x.copy()
    grad = xp.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)  # views of the copies
    for i in range(flat_x.size):
        old = flat_x[i].copy()
        flat_x[i] = old + h
        plus = f(x).copy()  # copies: f may return a view of x (a reshape), which changes next
        flat_x[i] = old - h
        minus = f(x).copy()
        flat_x[i] = old
        flat_grad[i] = xp.sum((plus - minus) * dout) / (2 * h)
    return grad


def rel_error(x: Array, y: Array) -> float:
    """Largest relative difference ``|x - y| / max(1e-8, |x| + |y|)`` over all entries."""
    xp = get_array_module(x, y)
    return float(xp.max(xp.abs(x - y) / xp.maximum(1e-8, xp.abs(x) + xp.abs(y))))
