"""Batch norm in fused loops compiled by Numba: three streams forward, five backward.

:mod:`bn.kernels_cpu` shows how far NumPy alone goes. Each NumPy call is one pass over
memory, so its forward pass costs at least four: the two sums, a multiply and an add.
A loop compiled by Numba does the work of several ufuncs per value it loads:

- forward: one pass reads x and sums ``x - shift`` and its square, then one pass reads x
  and writes ``out = (x - shift) * scale + offset``;
- backward: one pass reads ``dout`` and x and sums ``dout`` and ``dout * (x - shift)``,
  then one pass reads them again and writes dx.

That is the copy floor plus one read of x (and of dout). The sums are taken in float64,
after subtracting the first value of each channel (``shift``): the one-pass variance
``E[d^2] - E[d]^2`` of ``d = x - shift`` then loses far less than float32 rounding
(the chapters "Numerical stability" and "Making it fast on the CPU" give the bound).
The compiled loops run on one thread and let LLVM reorder the sums (``reassoc``) so
that it can use SIMD registers; NaN and infinity behave as in NumPy.

Numba is optional: :mod:`bn.dispatch` uses this module for NumPy arrays when Numba can
be imported, and :mod:`bn.kernels_cpu` otherwise. The first call for each dtype compiles
the loops (a few seconds); Numba caches them on disk for later processes.
"""

from __future__ import annotations

import numba
import numpy as np

from . import _checks, kernels_cpu, norms
from .backend import Array, get_array_module

# "reassoc" lets LLVM reorder a sum, so that it adds several values at once in SIMD
# registers; "contract" lets it fuse a * b + c into one instruction (one rounding). The
# flags that assume no NaN or infinity ("nnan", "ninf") are left out.
_FASTMATH = {"reassoc", "contract"}
_jit = numba.njit(cache=True, fastmath=_FASTMATH, boundscheck=False, nogil=True)

# Channels whose values in one sample form runs at least this long are summed run by
# run; shorter runs (and (N, C) input, runs of 1) are summed down the columns of x
# seen as (N, C * L), which vectorizes across channels instead.
_MIN_RUN = 16


class FusedCache(kernels_cpu.FastCache):
    """A :class:`bn.kernels_cpu.FastCache` built by this module: ``shift`` is never None."""

    __slots__ = ()


# The compiled loops. x3 and friends are C-contiguous (N, C, L) arrays in the compute
# dtype; per-channel arrays are (C,) float64 unless named *_x (in the compute dtype).
# Where L < _MIN_RUN, the (N, C * L) view is summed down its columns, four rows at a
# time: the float64 column sums are then loaded and stored once per four values.
# Branches stay outside the inner loops, which LLVM then vectorizes.


@_jit
def _per_column(per_channel, l, dtype):
    """(C * L,) array: each channel's value repeated L times (no division in the loop)."""
    out = np.empty(per_channel.size * l, dtype)
    for j in range(per_channel.size):
        for t in range(l):
            out[j * l + t] = per_channel[j]
    return out


@_jit
def _fold_columns(column_sums, c, l):
    """(2, C * L) sums by column -> (2, C) sums by channel."""
    sums = np.zeros((2, c))
    for j in range(c):
        for t in range(l):
            sums[0, j] += column_sums[0, j * l + t]
            sums[1, j] += column_sums[1, j * l + t]
    return sums


@_jit
def _square_sums(x3, shift):
    """(2, C) float64: sums of d = x - shift and of d * d, per channel."""
    n, c, l = x3.shape
    if l >= _MIN_RUN:
        sums = np.zeros((2, c))
        for i in range(n):
            for j in range(c):
                k = shift[j]
                s = 0.0
                q = 0.0
                for t in range(l):
                    d = np.float64(x3[i, j, t]) - k
                    s += d
                    q += d * d
                sums[0, j] += s
                sums[1, j] += q
        return sums
    f = c * l
    x2 = x3.reshape(n, f)
    k_f = _per_column(shift, l, np.float64)
    columns = np.zeros((2, f))
    i = 0
    while i + 4 <= n:
        for j in range(f):
            k = k_f[j]
            d0, d1 = np.float64(x2[i, j]) - k, np.float64(x2[i + 1, j]) - k
            d2, d3 = np.float64(x2[i + 2, j]) - k, np.float64(x2[i + 3, j]) - k
            columns[0, j] += (d0 + d1) + (d2 + d3)
            columns[1, j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
        i += 4
    for r in range(i, n):  # the last n % 4 rows
        for j in range(f):
            d = np.float64(x2[r, j]) - k_f[j]
            columns[0, j] += d
            columns[1, j] += d * d
    return _fold_columns(columns, c, l)


@_jit
def _dot_sums(g3, x3, shift):
    """(2, C) float64: sums of g and of g * (x - shift), per channel."""
    n, c, l = x3.shape
    if l >= _MIN_RUN:
        sums = np.zeros((2, c))
        for i in range(n):
            for j in range(c):
                k = shift[j]
                s = 0.0
                q = 0.0
                for t in range(l):
                    g = np.float64(g3[i, j, t])
                    s += g
                    q += g * (np.float64(x3[i, j, t]) - k)
                sums[0, j] += s
                sums[1, j] += q
        return sums
    f = c * l
    g2, x2 = g3.reshape(n, f), x3.reshape(n, f)
    k_f = _per_column(shift, l, np.float64)
    columns = np.zeros((2, f))
    i = 0
    while i + 4 <= n:
        for j in range(f):
            k = k_f[j]
            g0, g1 = np.float64(g2[i, j]), np.float64(g2[i + 1, j])
            g2_, g3_ = np.float64(g2[i + 2, j]), np.float64(g2[i + 3, j])  # rows i+2, i+3
            d0, d1 = np.float64(x2[i, j]) - k, np.float64(x2[i + 1, j]) - k
            d2, d3 = np.float64(x2[i + 2, j]) - k, np.float64(x2[i + 3, j]) - k
            columns[0, j] += (g0 + g1) + (g2_ + g3_)
            columns[1, j] += (g0 * d0 + g1 * d1) + (g2_ * d2 + g3_ * d3)
        i += 4
    for r in range(i, n):  # the last n % 4 rows
        for j in range(f):
            g = np.float64(g2[r, j])
            columns[0, j] += g
            columns[1, j] += g * (np.float64(x2[r, j]) - k_f[j])
    return _fold_columns(columns, c, l)


@_jit
def _affine(x3, shift_x, scale_x, offset_x, out3):
    """out = (x - shift) * scale + offset per channel, in the compute dtype."""
    n, c, l = x3.shape
    if l >= _MIN_RUN:
        for i in range(n):
            for j in range(c):
                k, s, o = shift_x[j], scale_x[j], offset_x[j]
                for t in range(l):
                    out3[i, j, t] = (x3[i, j, t] - k) * s + o
        return
    f = c * l
    x2, out2 = x3.reshape(n, f), out3.reshape(n, f)
    k_f = _per_column(shift_x, l, x3.dtype)
    s_f = _per_column(scale_x, l, x3.dtype)
    o_f = _per_column(offset_x, l, x3.dtype)
    for i in range(n):
        for j in range(f):
            out2[i, j] = (x2[i, j] - k_f[j]) * s_f[j] + o_f[j]


@_jit
def _input_gradient(g3, x3, shift_x, a_x, b_x, c_x, dx3):
    """dx = g * a + ((x - shift) * b + c) per channel, in the compute dtype."""
    n, c, l = x3.shape
    if l >= _MIN_RUN:
        for i in range(n):
            for j in range(c):
                k, a, b, o = shift_x[j], a_x[j], b_x[j], c_x[j]
                for t in range(l):
                    dx3[i, j, t] = g3[i, j, t] * a + ((x3[i, j, t] - k) * b + o)
        return
    f = c * l
    g2, x2, dx2 = g3.reshape(n, f), x3.reshape(n, f), dx3.reshape(n, f)
    k_f = _per_column(shift_x, l, x3.dtype)
    a_f = _per_column(a_x, l, x3.dtype)
    b_f = _per_column(b_x, l, x3.dtype)
    c_f = _per_column(c_x, l, x3.dtype)
    for i in range(n):
        for j in range(f):
            dx2[i, j] = g2[i, j] * a_f[j] + ((x2[i, j] - k_f[j]) * b_f[j] + c_f[j])


@_jit
def _forward(x3, gamma, beta, eps, out3):
    """Fill out3; return shift_x, mean_shifted and (3, C) [mean, var, inv_std] (x3's dtype)."""
    n, c, l = x3.shape
    shift_x = x3[0, :, 0].copy()  # the first value of each channel
    shift = shift_x.astype(np.float64)
    sums = _square_sums(x3, shift)
    m = n * l
    mean_shifted = sums[0] / m
    var = np.maximum(sums[1] / m - mean_shifted**2, 0.0)
    inv_std = 1.0 / np.sqrt(var + eps)
    scale = gamma * inv_std
    offset = beta - scale * mean_shifted
    dtype = x3.dtype
    _affine(x3, shift_x, scale.astype(dtype), offset.astype(dtype), out3)
    stats = np.empty((3, c), dtype)
    stats[0] = shift + mean_shifted
    stats[1] = var
    stats[2] = inv_std
    return shift_x, mean_shifted, stats


@_jit
def _backward(dout3, x3, shift_x, gamma, mean_shifted, inv_std, dx3):
    """Fill dx3; return (dgamma, dbeta) in float64."""
    n, _, l = x3.shape
    sums = _dot_sums(dout3, x3, shift_x.astype(np.float64))
    m = n * l
    # The two sums of the compact backward pass; x_hat = (x - shift - mean_shifted) * inv_std.
    dbeta = sums[0]
    dgamma = inv_std * (sums[1] - mean_shifted * dbeta)
    # dx = gamma * inv_std * (dout - dbeta / m - x_hat * dgamma / m)
    #    = dout * a + ((x - shift) * b + c)
    a = gamma * inv_std
    b = -a * inv_std * dgamma / m
    c_ = -a * dbeta / m - b * mean_shifted
    dtype = x3.dtype
    _input_gradient(dout3, x3, shift_x, a.astype(dtype), b.astype(dtype), c_.astype(dtype), dx3)
    return dgamma, dbeta


def _as3d(a, dtype):
    """(N, C, L) C-contiguous view (or copy) of a in ``dtype``."""
    n, c = a.shape[:2]
    return np.ascontiguousarray(a, dtype=dtype).reshape(n, c, -1)


def batchnorm_forward(
    x: Array, gamma: Array, beta: Array, eps: float = 1e-5
) -> tuple[Array, FusedCache]:
    """Batch normalization with batch statistics: :func:`bn.norms.batchnorm_forward`, fused.

    Same arguments, results (to rounding), dtypes and errors; ``cache`` is a
    :class:`FusedCache` for :func:`batchnorm_backward`. float16 input is converted to
    float32 first (one more pass), and the result back.
    """
    norms._check_batchnorm_forward(x, gamma, beta, eps)
    x3 = _as3d(x, norms._compute_dtype(np, x.dtype))
    out3 = np.empty_like(x3)
    # float64 parameters: one compiled version per dtype of x (Numba has no float16).
    params = np.array([gamma, beta], np.float64)
    shift_x, mean_shifted, stats = _forward(x3, params[0], params[1], float(eps), out3)
    stats = stats.reshape((3, 1, x.shape[1]) + (1,) * (x.ndim - 2))
    cache = FusedCache(x, shift_x, mean_shifted, gamma, *stats)
    return out3.reshape(x.shape).astype(x.dtype, copy=False), cache


def batchnorm_backward(dout: Array, cache: FusedCache) -> tuple[Array, Array, Array]:
    """Return ``(dx, dgamma, dbeta)`` for :func:`batchnorm_forward`."""
    return normalize_backward("batchnorm_backward", dout, cache)


def normalize_backward(where: str, dout: Array, cache: FusedCache) -> tuple[Array, Array, Array]:
    """:func:`batchnorm_backward`, with ``where`` naming the caller in error messages."""
    _checks.check_shape(where, "dout", dout, cache.x.shape, "x.shape")
    get_array_module(dout, cache.x)  # TypeError if NumPy and CuPy are mixed
    x3 = _as3d(cache.x, cache.shift.dtype)  # the compute dtype
    dx3 = np.empty_like(x3)
    inv_std = cache.inv_std.reshape(-1).astype(np.float64)
    dgamma, dbeta = _backward(
        _as3d(dout, x3.dtype),
        x3,
        cache.shift,
        cache.gamma.astype(np.float64),
        cache.mean_shifted,
        inv_std,
        dx3,
    )
    dtype = cache.gamma.dtype
    dx = dx3.reshape(dout.shape).astype(cache.x.dtype, copy=False)
    return dx, dgamma.astype(dtype), dbeta.astype(dtype)
