"""The layers around the norms: linear maps, activations and the loss.

Same shape as ``norms``: ``out, cache = *_forward(...)`` and
``dx, d<param>... = *_backward(dout, cache)``. Nothing is modified in place.
Weights are stored as PyTorch stores them, ``(out_features, in_features)``, so a
state dict can be compared with ``torch.nn.Linear`` entry for entry.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _checks
from .backend import Array, get_array_module


class LinearCache(NamedTuple):
    """What :func:`linear_backward` needs."""

    x: Array  # input, (N, D_in)
    weight: Array  # (D_out, D_in)
    has_bias: bool  # whether the forward added a bias (then dbias is returned, else None)


class ActivationCache(NamedTuple):
    """The output of an elementwise activation: its derivative can be written in it."""

    out: Array  # same shape as x


def _check_2d(where, name, a, layout):
    _checks.check_array(where, name, a)
    if a.ndim != 2:
        raise ValueError(f"{where}: expected {name} of shape {layout}, got shape {a.shape}")


def linear_forward(x: Array, weight: Array, bias: Array | None = None) -> tuple[Array, LinearCache]:
    """Affine map ``out = x @ weight.T + bias``, as ``torch.nn.functional.linear``.

    Args:
        x: input of shape (N, D_in).
        weight: shape (D_out, D_in).
        bias: shape (D_out,), or None for no bias (the usual choice before BN,
            whose mean subtraction cancels it).

    Returns:
        out: shape (N, D_out).
        cache: input to :func:`linear_backward`.

    Raises:
        TypeError: if an input is not a floating-point array, or NumPy and CuPy mix.
        ValueError: if the shapes do not fit together.
    """
    where = "linear_forward"
    _check_2d(where, "x", x, "(N, D_in)")
    get_array_module(x, weight, bias)  # TypeError if NumPy and CuPy are mixed
    _checks.check_array(where, "weight", weight)
    if weight.ndim != 2 or weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"{where}: expected weight of shape (D_out, D_in) with D_in = {x.shape[1]}, "
            f"got {weight.shape}"
        )
    out = x @ weight.T  # (N, D_out)
    if bias is not None:
        _checks.check_shape(where, "bias", bias, (weight.shape[0],), "(D_out,)")
        out = out + bias
    return out, LinearCache(x, weight, bias is not None)


def linear_backward(dout: Array, cache: LinearCache) -> tuple[Array, Array, Array | None]:
    """Return ``(dx, dweight, dbias)`` for :func:`linear_forward`; ``dbias`` is None without bias.

    Args:
        dout: upstream gradient, shape (N, D_out).
        cache: the cache returned by the forward pass.
    """
    _checks.check_cache("linear_backward", cache, (LinearCache,))
    x, weight = cache.x, cache.weight
    _checks.check_shape(
        "linear_backward", "dout", dout, (x.shape[0], weight.shape[0]), "(N, D_out)"
    )
    xp = get_array_module(dout, x)
    dx = dout @ weight  # (N, D_in)
    dweight = dout.T @ x  # (D_out, D_in)
    dbias = xp.sum(dout, axis=0) if cache.has_bias else None
    return dx, dweight, dbias


def _check_activation_backward(where, dout, cache):
    _checks.check_cache(where, cache, (ActivationCache,))
    _checks.check_shape(where, "dout", dout, cache.out.shape, "x.shape")


def relu_forward(x: Array) -> tuple[Array, ActivationCache]:
    """``max(x, 0)`` elementwise. Returns ``(out, cache)``; ``out`` has the shape of ``x``."""
    _checks.check_array("relu_forward", "x", x)
    xp = get_array_module(x)
    out = xp.maximum(x, 0)
    return out, ActivationCache(out)


def relu_backward(dout: Array, cache: ActivationCache) -> Array:
    """Return ``dx``: ``dout`` where the input was positive, 0 elsewhere (also at 0)."""
    _check_activation_backward("relu_backward", dout, cache)
    return dout * (cache.out > 0)


def sigmoid_forward(x: Array) -> tuple[Array, ActivationCache]:
    """``1 / (1 + exp(-x))`` elementwise, without overflow for large ``|x|``."""
    _checks.check_array("sigmoid_forward", "x", x)
    xp = get_array_module(x)
    # exp(-|x|) lies in (0, 1]: no overflow. For x < 0 use the equal form e^x / (1 + e^x).
    z = xp.exp(-xp.abs(x))
    out = xp.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)
    return out, ActivationCache(out)


def sigmoid_backward(dout: Array, cache: ActivationCache) -> Array:
    """Return ``dx = dout * s * (1 - s)`` with ``s`` the forward's output."""
    _check_activation_backward("sigmoid_backward", dout, cache)
    return dout * cache.out * (1 - cache.out)


def tanh_forward(x: Array) -> tuple[Array, ActivationCache]:
    """``tanh(x)`` elementwise. Returns ``(out, cache)``."""
    _checks.check_array("tanh_forward", "x", x)
    xp = get_array_module(x)
    out = xp.tanh(x)
    return out, ActivationCache(out)


def tanh_backward(dout: Array, cache: ActivationCache) -> Array:
    """Return ``dx = dout * (1 - tanh(x)^2)``."""
    _check_activation_backward("tanh_backward", dout, cache)
    return dout * (1 - cache.out * cache.out)


def softmax_cross_entropy(logits: Array, y: Array) -> tuple[Array, Array]:
    """Mean cross-entropy of the softmax of ``logits`` against integer labels ``y``.

    The same loss as ``torch.nn.functional.cross_entropy(logits, y)``. The
    log-sum-exp is taken after subtracting each row's maximum, so large logits do
    not overflow. The loss stays a 0-d array on the device: call ``float(loss)``
    only when you need the number (each call waits for the GPU).

    Args:
        logits: unnormalized scores, shape (N, K).
        y: class labels, integers in [0, K), shape (N,). Labels are not checked
            against K: that would need the values, and so a GPU sync.

    Returns:
        loss: 0-d array, ``-mean(log softmax(logits)[i, y_i])``.
        dlogits: dloss/dlogits, ``(softmax(logits) - one_hot(y)) / N``, shape (N, K).

    Raises:
        TypeError: if ``logits`` is not floating point or ``y`` is not integer.
        ValueError: if the shapes do not match.
    """
    where = "softmax_cross_entropy"
    _check_2d(where, "logits", logits, "(N, K)")
    xp = get_array_module(logits, y)
    if not np.issubdtype(np.dtype(getattr(y, "dtype", float)), np.integer):
        raise TypeError(
            f"{where}: expected integer class labels y, got {getattr(y, 'dtype', type(y).__name__)}"
        )
    n = logits.shape[0]
    if tuple(y.shape) != (n,):
        raise ValueError(f"{where}: expected labels y of shape (N,) = ({n},), got {y.shape}")
    shifted = logits - xp.max(logits, axis=1, keepdims=True)  # (N, K), each row's max is 0
    exp = xp.exp(shifted)
    sum_exp = xp.sum(exp, axis=1, keepdims=True)  # (N, 1), at least 1: its log is safe
    rows = xp.arange(n)
    log_probs = shifted[rows, y] - xp.log(sum_exp[:, 0])  # (N,)
    loss = -xp.mean(log_probs)
    dlogits = exp / sum_exp  # the softmax
    dlogits[rows, y] -= 1  # a new array, not the caller's: safe to modify
    return loss, dlogits / n
