"""Batch, layer, instance and group normalization: forward and backward passes.

All four share one core, :func:`_normalize`. They differ only in which axes the
mean and variance are taken over (and, for group norm, a reshape that splits the
channels into groups). The derivations are in the book's chapters on the forward
and the backward pass; the symbols here are the book's: ``x_hat``, ``mean``,
``var``, ``inv_std``, ``gamma``, ``beta``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import _checks
from .backend import Array, get_array_module


class NormCache(NamedTuple):
    """Everything a backward pass needs. Built by a forward pass, never mutated."""

    x_hat: Array  # normalized input, shape of x, in the compute dtype
    inv_std: Array  # 1 / sqrt(var + eps), broadcastable against the stat view of x
    mean: Array  # mean over stat_axes (keepdims), in the stat view
    var: Array  # biased variance over stat_axes (keepdims), in the stat view
    gamma: Array  # scale as given, shape of the parameters
    stat_shape: tuple[int, ...]  # x reshaped so that stat_axes hold one group each
    stat_axes: tuple[int, ...]  # axes of the stat view reduced for mean and var; () = constants
    param_axes: tuple[int, ...]  # axes of x summed over to get dgamma and dbeta
    x_dtype: np.dtype  # dtype of x, which dx takes


def _compute_dtype(xp, dtype):
    # float16 accumulates in float32; float32 and float64 stay as they are.
    return xp.promote_types(dtype, xp.float32)


def _normalize(x, gamma, beta, stat_shape, stat_axes, param_axes, eps):
    """Standardize ``x`` over ``stat_axes`` of its view ``stat_shape``, then scale and shift.

    ``gamma`` and ``beta`` have the parameter shape; they are broadcast against x
    after inserting size-1 axes at ``param_axes``.
    """
    xp = get_array_module(x, gamma, beta)
    dtype = _compute_dtype(xp, x.dtype)
    x_view = x.astype(dtype, copy=False).reshape(stat_shape)
    # Subtract one sample per group first. Its value is close to the mean, so the
    # sums below are of numbers near zero and float32 does not lose the digits of
    # a large mean (the book's chapter on numerical stability).
    first = tuple(slice(0, 1) if axis in stat_axes else slice(None) for axis in range(x_view.ndim))
    shift = x_view[first]
    x_shifted = x_view - shift
    mean_shifted = xp.mean(x_shifted, axis=stat_axes, keepdims=True)
    x_centered = x_shifted - mean_shifted
    # Two-pass variance, mean((x - mean)^2), biased (divide by m). The one-pass
    # E[x^2] - E[x]^2 saves a pass over memory (Flax offers it as use_fast_variance)
    # but cancels catastrophically in float32 when |mean| >> std.
    var = xp.mean(x_centered * x_centered, axis=stat_axes, keepdims=True)
    inv_std = 1.0 / xp.sqrt(var + eps)
    x_hat = (x_centered * inv_std).reshape(x.shape)
    out = _scale_shift(x_hat, gamma, beta, param_axes, dtype)
    mean = shift + mean_shifted
    cache = NormCache(x_hat, inv_std, mean, var, gamma, stat_shape, stat_axes, param_axes, x.dtype)
    return out.astype(x.dtype, copy=False), cache


def _scale_shift(x_hat, gamma, beta, param_axes, dtype):
    shape = _broadcast_shape(x_hat.ndim, param_axes, gamma.shape)
    return gamma.astype(dtype, copy=False).reshape(shape) * x_hat + beta.astype(
        dtype, copy=False
    ).reshape(shape)


def _broadcast_shape(ndim, param_axes, param_shape):
    """Shape that puts ``param_shape`` on the axes of an ``ndim`` array not in ``param_axes``."""
    sizes = iter(param_shape)
    return tuple(1 if axis in param_axes else next(sizes) for axis in range(ndim))


def _normalize_backward(where, dout, cache):
    _checks.check_cache(where, cache, (NormCache,))
    xp = _checks.check_backward(where, dout, cache.x_hat)
    x_hat = cache.x_hat
    dout = dout.astype(x_hat.dtype, copy=False)
    dgamma = xp.sum(dout * x_hat, axis=cache.param_axes).astype(cache.gamma.dtype, copy=False)
    dbeta = xp.sum(dout, axis=cache.param_axes).astype(cache.gamma.dtype, copy=False)
    gamma = cache.gamma.astype(x_hat.dtype, copy=False)
    dx_hat = dout * gamma.reshape(_broadcast_shape(x_hat.ndim, cache.param_axes, gamma.shape))
    dx_hat, x_hat = dx_hat.reshape(cache.stat_shape), x_hat.reshape(cache.stat_shape)
    axes = cache.stat_axes
    if axes:
        # The compact backward pass (the book's chapter on the backward pass derives it):
        # dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)).
        # The two means are the gradient that flows through the batch mean and variance.
        dx = cache.inv_std * (
            dx_hat
            - xp.mean(dx_hat, axis=axes, keepdims=True)
            - x_hat * xp.mean(dx_hat * x_hat, axis=axes, keepdims=True)
        )
    else:
        # Running statistics are constants: the normalization is an affine map of x.
        dx = cache.inv_std * dx_hat
    return dx.reshape(dout.shape).astype(cache.x_dtype, copy=False), dgamma, dbeta


def _channel_axes(x):
    return (0, *range(2, x.ndim))  # every axis except the channel axis 1


def batchnorm_forward(
    x: Array, gamma: Array, beta: Array, eps: float = 1e-5
) -> tuple[Array, NormCache]:
    """Batch normalization with batch statistics (training mode).

    Each channel (axis 1) is standardized with the mean and the biased variance
    of its values over the batch and every spatial position, then scaled by
    ``gamma`` and shifted by ``beta`` (the 2015 paper's Algorithm 1).

    Args:
        x: input of shape ``(N, C)`` or ``(N, C, *)``, e.g. ``(N, C, L)``, ``(N, C, H, W)``;
            float16, float32 or float64.
        gamma: scale, shape (C,).
        beta: shift, shape (C,).
        eps: added to the variance before the square root; a float > 0.

    Returns:
        ``(out, cache)``: ``out = gamma * x_hat + beta`` has the shape and dtype of ``x``;
        ``cache`` is the input to :func:`batchnorm_backward`, and its ``mean`` and ``var``
        are the batch statistics a layer folds into its running averages.

    Raises:
        TypeError: if an input is not a float16/32/64 array, or NumPy and CuPy mix.
        ValueError: if ``x`` has fewer than 2 axes, ``gamma`` or ``beta`` is not
            (C,), ``eps <= 0``, or there is at most one value per channel (an empty
            batch included).
    """
    eps = _checks.check_batchnorm_forward(x, gamma, beta, eps)
    axes = _channel_axes(x)
    return _normalize(x, gamma, beta, x.shape, axes, axes, eps)


def batchnorm_backward(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Return ``(dx, dgamma, dbeta)`` for :func:`batchnorm_forward`.

    Args:
        dout: upstream gradient dL/dout, shape of ``x``.
        cache: the cache returned by the forward pass.

    Raises:
        TypeError: if ``cache`` is not a :class:`NormCache` or ``dout`` not an array.
        ValueError: if ``dout`` does not have the shape of ``x``.
    """
    return _normalize_backward("batchnorm_backward", dout, cache)


def batchnorm_inference(
    x: Array,
    gamma: Array,
    beta: Array,
    running_mean: Array,
    running_var: Array,
    eps: float = 1e-5,
) -> Array:
    """Batch normalization with fixed (running) statistics: eval mode.

    With the statistics fixed, this is the affine map
    ``gamma * (x - running_mean) / sqrt(running_var + eps) + beta``, channel by
    channel; a batch of any size, one or none included, is fine.

    Args:
        x: input of shape ``(N, C)`` or ``(N, C, *)``; float16, float32 or float64.
        gamma, beta, running_mean, running_var: shape (C,).
        eps: added to the variance before the square root; a float > 0.

    Returns:
        out: shape and dtype of ``x``.

    Raises:
        TypeError: if an input is not a float16/32/64 array, or NumPy and CuPy mix.
        ValueError: if ``x`` has fewer than 2 axes, another argument is not (C,),
            or ``eps <= 0``.
    """
    return _batchnorm_inference(x, gamma, beta, running_mean, running_var, eps)[0]


def _batchnorm_inference(x, gamma, beta, running_mean, running_var, eps):
    eps = _checks.check_batchnorm_inference(x, gamma, beta, running_mean, running_var, eps)
    xp = get_array_module(x)
    dtype = _compute_dtype(xp, x.dtype)
    axes = _channel_axes(x)
    shape = _broadcast_shape(x.ndim, axes, (x.shape[1],))
    mean = running_mean.astype(dtype).reshape(shape)
    var = running_var.astype(dtype).reshape(shape)
    inv_std = 1.0 / xp.sqrt(var + eps)
    x_hat = (x.astype(dtype, copy=False) - mean) * inv_std
    out = _scale_shift(x_hat, gamma, beta, axes, dtype)
    cache = NormCache(x_hat, inv_std, mean, var, gamma, x.shape, (), axes, x.dtype)
    return out.astype(x.dtype, copy=False), cache


def layernorm_forward(
    x: Array, gamma: Array, beta: Array, eps: float = 1e-5
) -> tuple[Array, NormCache]:
    """Layer normalization over the trailing ``gamma.ndim`` axes of ``x``.

    Every sample is standardized over its own features; nothing is shared across
    the batch, so training and inference compute the same thing, and an empty
    batch (N = 0) gives an empty output, as in PyTorch.

    Args:
        x: input of shape ``(*, *normalized_shape)``, e.g. ``(N, D)`` or ``(N, C, H, W)``.
        gamma: scale, shape ``normalized_shape`` (the trailing axes of ``x``).
        beta: shift, same shape as ``gamma``.
        eps: added to the variance before the square root; a float > 0.

    Returns:
        ``(out, cache)`` as for :func:`batchnorm_forward`.

    Raises:
        TypeError, ValueError: as :func:`batchnorm_forward`; ``ValueError`` also if
            ``normalized_shape`` holds at most one value (PyTorch returns ``beta`` then).
    """
    where = "layernorm_forward"
    _checks.check_array(where, "gamma", gamma)
    _checks.check_rank(where, x, max(gamma.ndim, 1), "(*, *normalized_shape)")
    if gamma.ndim == 0:
        raise ValueError(f"{where}: expected gamma with at least 1 axis, got shape {gamma.shape}")
    normalized_shape = tuple(x.shape[x.ndim - gamma.ndim :])
    _checks.check_params(where, x, gamma, beta, normalized_shape, "x.shape[-gamma.ndim:]")
    eps = _checks.check_eps(where, eps)
    m = math.prod(normalized_shape)
    _checks.check_values_per_statistic(where, m, x, "sample (the normalized_shape axes)")
    stat_axes = tuple(range(x.ndim - gamma.ndim, x.ndim))
    batch_axes = tuple(range(x.ndim - gamma.ndim))  # gamma is shared across these
    return _normalize(x, gamma, beta, x.shape, stat_axes, batch_axes, eps)


def layernorm_backward(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Return ``(dx, dgamma, dbeta)`` for :func:`layernorm_forward`."""
    return _normalize_backward("layernorm_backward", dout, cache)


def instancenorm_forward(
    x: Array, gamma: Array, beta: Array, eps: float = 1e-5
) -> tuple[Array, NormCache]:
    """Instance normalization: each ``(sample, channel)`` pair over its spatial axes.

    An empty batch (N = 0) gives an empty output: no statistic is taken.

    Args:
        x: input of shape ``(N, C, *)`` with at least one spatial axis, e.g. ``(N, C, H, W)``.
        gamma: scale, shape (C,).
        beta: shift, shape (C,).
        eps: added to the variance before the square root; a float > 0.

    Returns:
        ``(out, cache)`` as for :func:`batchnorm_forward`.

    Raises:
        TypeError, ValueError: as :func:`batchnorm_forward`; ``ValueError`` if the
            spatial size is at most 1.
    """
    where = "instancenorm_forward"
    _checks.check_rank(where, x, 3, "(N, C, *) with at least one spatial axis")
    _checks.check_params(where, x, gamma, beta, (x.shape[1],), "(C,)")
    eps = _checks.check_eps(where, eps)
    m = math.prod(x.shape[2:])
    _checks.check_values_per_statistic(where, m, x, "instance (spatial size) when training")
    stat_axes = tuple(range(2, x.ndim))
    return _normalize(x, gamma, beta, x.shape, stat_axes, _channel_axes(x), eps)


def instancenorm_backward(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Return ``(dx, dgamma, dbeta)`` for :func:`instancenorm_forward`."""
    return _normalize_backward("instancenorm_backward", dout, cache)


def groupnorm_forward(
    x: Array, gamma: Array, beta: Array, num_groups: int, eps: float = 1e-5
) -> tuple[Array, NormCache]:
    """Group normalization: each sample's channels split into ``num_groups`` groups.

    Statistics run over the channels of a group and all spatial positions. One
    group is layer norm over ``(C, *)``; ``C`` groups is instance norm. An empty
    batch (N = 0) gives an empty output: no statistic is taken.

    Args:
        x: input of shape ``(N, C)`` or ``(N, C, *)``.
        gamma: scale, shape ``(C,)`` (per channel, not per group).
        beta: shift, shape (C,).
        num_groups: G, a divisor of C.
        eps: added to the variance before the square root; a float > 0.

    Returns:
        ``(out, cache)`` as for :func:`batchnorm_forward`.

    Raises:
        TypeError, ValueError: as :func:`batchnorm_forward`; ``ValueError`` also if
            G does not divide C, or a group holds at most one value, ``C // G`` times
            the spatial size. (PyTorch raises only where the whole batch holds one
            value per group, and otherwise returns ``beta``.)
    """
    where = "groupnorm_forward"
    _checks.check_rank(where, x, 2, "(N, C) or (N, C, *)")
    _checks.check_params(where, x, gamma, beta, (x.shape[1],), "(C,)")
    eps = _checks.check_eps(where, eps)
    _checks.check_num_groups(where, num_groups, x.shape[1])
    n, c = x.shape[:2]
    m = c // num_groups * math.prod(x.shape[2:])  # values per group
    _checks.check_values_per_statistic(where, m, x, "group", f" and num_groups={num_groups}")
    stat_shape = (n, num_groups, c // num_groups, *x.shape[2:])  # (N, G, C // G, *)
    stat_axes = tuple(range(2, len(stat_shape)))
    return _normalize(x, gamma, beta, stat_shape, stat_axes, _channel_axes(x), eps)


def groupnorm_backward(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Return ``(dx, dgamma, dbeta)`` for :func:`groupnorm_forward`."""
    return _normalize_backward("groupnorm_backward", dout, cache)
