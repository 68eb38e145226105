"""Eval-mode batch norm for NumPy arrays in two passes over memory, and its backward pass.

With the running statistics fixed, batch norm is an affine map of each channel:
``out = gamma * (x - mean) * inv_std + beta = x * scale + offset`` with
``scale = gamma * inv_std`` and ``offset = beta - scale * mean``. :func:`bn.norms.batchnorm_inference`
writes it the way the book derives it, in four full-size ufuncs with temporaries; here the
per-channel constants are computed first, laid out as :mod:`bn.kernels.cpu_numpy` lays
them out (one value per column of x seen as a matrix), and the output takes two ufuncs:
a multiply that writes ``out``, then an add in place.

``x * scale + offset`` rounds like the readable path only while ``|mean| <= std``: beyond,
``x * scale`` and ``offset`` grow and cancel. There the output takes a third ufunc,
``(x - mean) * scale + beta``, as the readable path rounds it.

The backward pass is for fine-tuning through a frozen BN: the statistics are constants, so
``dx = dout * gamma * inv_std``, ``dgamma = sum(dout * x_hat)`` and ``dbeta = sum(dout)``.
The cache keeps ``x`` (a reference) and the per-channel constants, not ``x_hat``. Both fast
paths (this one and :mod:`bn.kernels.cpu_numba_inference`) build this cache and share it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _checks, norms
from ..backend import Array
from .cpu_numpy import _MAX_MEAN_SQUARED_OVER_VAR, _Layout, _shifted, _temporary


class InferenceCache(NamedTuple):
    """What :func:`batchnorm_inference_backward` needs. Built by an eval-mode forward pass.

    As with :class:`bn.kernels.cpu_numpy.FastCache`, ``x`` is the input itself, not a copy:
    do not modify it in place between the forward and the backward pass.
    """

    x: np.ndarray  # the input (a reference)
    mean: np.ndarray  # (C,) running mean, compute dtype
    inv_std: np.ndarray  # (C,) 1 / sqrt(running_var + eps), compute dtype
    gamma: np.ndarray  # scale as given, shape (C,)

    @property
    def x_hat(self) -> np.ndarray:
        """The normalized input, shape of ``x``, in the compute dtype (built on each access)."""
        layout = _Layout.of(self.x)
        (inv_std,) = layout.per_column(self.inv_std)
        x_centered = _shifted(layout, layout.matrix(self.x), self.mean)
        return (x_centered * inv_std).reshape(self.x.shape)


def inference_constants(x, gamma, beta, running_mean, running_var, eps):
    """Check the arguments as :func:`bn.norms.batchnorm_inference` does; return the cache
    and ``scale = gamma * inv_std``, (C,) float64.

    ``mean`` and ``inv_std`` are rounded to the compute dtype as ``bn.norms`` rounds them.
    """
    eps = _checks.check_batchnorm_inference(x, gamma, beta, running_mean, running_var, eps)
    dtype = norms._compute_dtype(np, x.dtype)
    mean = running_mean.astype(dtype)
    inv_std = 1.0 / np.sqrt(running_var.astype(dtype) + eps)
    scale = gamma.astype(np.float64) * inv_std
    return InferenceCache(x, mean, inv_std, gamma), scale


def batchnorm_inference_forward(
    x: Array,
    gamma: Array,
    beta: Array,
    running_mean: Array,
    running_var: Array,
    eps: float = 1e-5,
) -> tuple[Array, InferenceCache]:
    """:func:`bn.norms.batchnorm_inference` in two or three passes; returns ``(out, cache)``.

    Same arguments, result (to rounding), dtype and errors; ``cache`` is the input to
    :func:`batchnorm_inference_backward`.
    """
    cache, scale = inference_constants(x, gamma, beta, running_mean, running_var, eps)
    layout = _Layout.of(x)
    x2 = _shifted(layout, layout.matrix(x), None)  # x in the compute dtype
    mean = cache.mean.astype(np.float64)
    inv_std = cache.inv_std.astype(np.float64)
    with np.errstate(invalid="ignore"):  # NaN statistics (negative running_var): keep NaN
        well_conditioned = (mean * mean * inv_std * inv_std <= _MAX_MEAN_SQUARED_OVER_VAR).all()
    if well_conditioned:
        scale_columns, offset_columns = layout.per_column(scale, beta - scale * mean)
        out = np.multiply(x2, scale_columns, out=_temporary(x2, x))
        out += offset_columns
    else:
        columns = layout.per_column(cache.mean, scale, beta)
        out = np.subtract(x2, columns[0], out=_temporary(x2, x))
        out *= columns[1]
        out += columns[2]
    return out.reshape(x.shape).astype(x.dtype, copy=False), cache


def batchnorm_inference(
    x: Array,
    gamma: Array,
    beta: Array,
    running_mean: Array,
    running_var: Array,
    eps: float = 1e-5,
) -> Array:
    """:func:`bn.norms.batchnorm_inference`, faster: same arguments, result and errors."""
    return batchnorm_inference_forward(x, gamma, beta, running_mean, running_var, eps)[0]


def batchnorm_inference_backward(dout: Array, cache: InferenceCache) -> tuple[Array, Array, Array]:
    """Return ``(dx, dgamma, dbeta)`` for :func:`batchnorm_inference_forward`."""
    return inference_backward("batchnorm_inference_backward", dout, cache)


def inference_backward(
    where: str, dout: Array, cache: InferenceCache
) -> tuple[Array, Array, Array]:
    """:func:`batchnorm_inference_backward`, with ``where`` naming the caller in errors."""
    _checks.check_cache(where, cache, (InferenceCache,))
    _checks.check_backward(where, dout, cache.x)
    layout = _Layout.of(cache.x)
    dout2 = layout.matrix(dout).astype(layout.dtype, copy=False)
    inv_std = cache.inv_std.astype(np.float64)
    # dgamma = sum(dout * x_hat) = inv_std * sum(dout * (x - mean)): subtracting the mean
    # first keeps the sum free of cancellation when |mean| >> std.
    x_centered = _shifted(layout, layout.matrix(cache.x), cache.mean)
    dbeta, dout_dot_x = layout.sums(dout2, x_centered)
    (scale,) = layout.per_column(cache.gamma * inv_std)
    dx = np.multiply(dout2, scale, out=_temporary(dout2, dout))  # dout * gamma * inv_std
    dtype = cache.gamma.dtype
    dx = dx.reshape(dout.shape).astype(cache.x.dtype, copy=False)
    return dx, (inv_std * dout_dot_x).astype(dtype), dbeta.astype(dtype)
