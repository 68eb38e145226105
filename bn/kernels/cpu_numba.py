"""Batch norm in fused loops compiled by Numba: three streams forward, five backward.

:mod:`bn.kernels.cpu_numpy` shows how far NumPy alone goes. Each NumPy call is one pass over
memory, so its forward pass costs at least four: the two sums, a multiply and an add.
A loop compiled by Numba does the work of several ufuncs per value it loads:

- forward: one pass reads x and sums ``x - shift`` and its square, then one pass reads x
  and writes ``out = (x - shift) * scale + offset``;
- backward: one pass reads ``dout`` and x and sums ``dout`` and ``dout * (x - shift)``,
  then one pass reads them again and writes dx.

That is the copy floor plus one read of x (and of dout). Where each channel's values
form long runs (feature maps), the loops finish one channel before the next, so that the
second read finds the channel in the processor's cache when it fits there. The sums are
taken in float64, after subtracting the first value of each channel (``shift``): the
one-pass variance ``E[d^2] - E[d]^2`` of ``d = x - shift`` then loses far less than
float32 rounding (the chapter "Making it fast on the CPU" gives the bound).
The compiled loops run on one thread and let LLVM reorder the sums (``reassoc``) so
that it can use SIMD registers; NaN and infinity behave as in NumPy.

Numba is optional: :mod:`bn.kernels` uses this module for NumPy arrays when Numba can
be imported, and :mod:`bn.kernels.cpu_numpy` otherwise. The first call for each dtype compiles
the loops (a few seconds); Numba caches them on disk for later processes.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .. import _checks, norms
from ..backend import Array
from . import cpu_numpy

# "reassoc" lets LLVM reorder a sum, so that it adds several values at once in SIMD
# registers; "contract" lets it fuse a * b + c into one instruction (one rounding). The
# flags that assume no NaN or infinity ("nnan", "ninf") are left out.
_FASTMATH = {"reassoc", "contract"}
_jit = numba.njit(cache=True, fastmath=_FASTMATH, boundscheck=False, nogil=True)

# Where each channel's values in a sample form runs at least this long, the loops go
# one channel at a time (the "by channel" loops below); shorter runs, and (N, C) input
# with runs of one value, are handled along whole rows of x seen as (N, C * L) (the
# "by row" loops), which lets LLVM vectorize across channels instead.
_MIN_RUN = 16


class FusedCache(cpu_numpy.FastCache):
    """A :class:`bn.kernels.cpu_numpy.FastCache` built by this module: ``shift`` is never None."""

    __slots__ = ()


# The compiled loops. x3, dout3 and the outputs are C-contiguous (N, C, L) arrays in the
# compute dtype; per-channel arrays are (C,) float64 unless named *_x (compute dtype).
# Branches stay outside the inner loops, which LLVM then vectorizes.


@_jit
def _forward_by_channel(x3, shift_x, gamma, beta, eps, out3, stats):
    """Long runs. Fill out3 and stats (3, C) = [mean, var, inv_std]; return mean_shifted.

    Each channel is finished before the next: its values are summed, then its output is
    written while those values are still in the processor's cache, if they fit there (one
    channel of a (64, 64, 28, 28) input is 200 KB): then x comes from memory once.
    """
    n, c, l = x3.shape
    m = n * l
    mean_shifted = np.empty(c)
    p = np.empty(2, x3.dtype)  # scale and offset, rounded to the compute dtype
    for j in range(c):
        shift = shift_x[j]
        k = np.float64(shift)
        s = 0.0
        q = 0.0
        for i in range(n):
            for t in range(l):
                d = np.float64(x3[i, j, t]) - k
                s += d
                q += d * d
        ms = s / m
        var = max(q / m - ms * ms, 0.0)
        inv_std = 1.0 / np.sqrt(var + eps)
        p[0] = gamma[j] * inv_std
        p[1] = beta[j] - gamma[j] * inv_std * ms
        scale, offset = p[0], p[1]
        for i in range(n):
            for t in range(l):
                out3[i, j, t] = (x3[i, j, t] - shift) * scale + offset
        mean_shifted[j] = ms
        stats[0, j] = k + ms
        stats[1, j] = var
        stats[2, j] = inv_std
    return mean_shifted


@_jit
def _backward_by_channel(dout3, x3, shift_x, gamma, mean_shifted, inv_std, dx3):
    """Long runs, one channel at a time as in the forward pass. Fill dx3; return
    (dgamma, dbeta) in float64."""
    n, c, l = x3.shape
    m = n * l
    dgamma = np.empty(c)
    dbeta = np.empty(c)
    p = np.empty(3, x3.dtype)  # a, b and c of dx = dout * a + ((x - shift) * b + c)
    for j in range(c):
        shift = shift_x[j]
        k = np.float64(shift)
        s = 0.0
        q = 0.0
        for i in range(n):
            for t in range(l):
                g = np.float64(dout3[i, j, t])
                s += g
                q += g * (np.float64(x3[i, j, t]) - k)
        # The compact backward pass; x_hat = (x - shift - mean_shifted) * inv_std.
        dbeta[j] = s
        dgamma[j] = inv_std[j] * (q - mean_shifted[j] * s)
        # dx = gamma * inv_std * (dout - dbeta / m - x_hat * dgamma / m)
        a = gamma[j] * inv_std[j]
        b = -a * inv_std[j] * dgamma[j] / m
        p[0] = a
        p[1] = b
        p[2] = -a * s / m - b * mean_shifted[j]
        a_x, b_x, c_x = p[0], p[1], p[2]
        for i in range(n):
            for t in range(l):
                dx3[i, j, t] = dout3[i, j, t] * a_x + ((x3[i, j, t] - shift) * b_x + c_x)
    return dgamma, dbeta


# The "by row" loops: x3 is viewed as (N, F) with F = C * L, and each loop runs along
# whole rows. A per-channel value is repeated to one value per column, and the column
# sums are taken four rows at a time (the float64 sums are then loaded and stored once
# per four values), then added up by channel.


@_jit
def _per_column(per_channel, l):
    """(C * L,) array: each channel's value repeated L times (no division in the loop)."""
    out = np.empty(per_channel.size * l, per_channel.dtype)
    for j in range(per_channel.size):
        for t in range(l):
            out[j * l + t] = per_channel[j]
    return out


@_jit
def _by_channel(column_sums, c, l):
    """(F,) sums by column -> (C,) sums by channel."""
    sums = np.zeros(c)
    for j in range(c):
        for t in range(l):
            sums[j] += column_sums[j * l + t]
    return sums


@_jit
def _column_sums(a2, b2, k, squares):
    """Per column of the (N, F) arrays, in float64: the sums of a and of a * (b - k); with
    ``squares``, a is b - k (the sums of d and d * d, d = b - k) and a2 is not read."""
    n, f = b2.shape
    s = np.zeros(f)
    q = np.zeros(f)
    i = 0
    while i + 4 <= n:
        b0, b1, b2_, b3 = b2[i], b2[i + 1], b2[i + 2], b2[i + 3]
        if squares:
            for j in range(f):
                d0, d1 = np.float64(b0[j]) - k[j], np.float64(b1[j]) - k[j]
                d2, d3 = np.float64(b2_[j]) - k[j], np.float64(b3[j]) - k[j]
                s[j] += (d0 + d1) + (d2 + d3)
                q[j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
        else:
            a0, a1, a2_, a3 = a2[i], a2[i + 1], a2[i + 2], a2[i + 3]
            for j in range(f):
                d0, d1 = np.float64(b0[j]) - k[j], np.float64(b1[j]) - k[j]
                d2, d3 = np.float64(b2_[j]) - k[j], np.float64(b3[j]) - k[j]
                g0, g1 = np.float64(a0[j]), np.float64(a1[j])
                g2, g3 = np.float64(a2_[j]), np.float64(a3[j])
                s[j] += (g0 + g1) + (g2 + g3)
                q[j] += (g0 * d0 + g1 * d1) + (g2 * d2 + g3 * d3)
        i += 4
    for r in range(i, n):  # the last n % 4 rows
        br, ar = b2[r], a2[r]
        for j in range(f):
            d = np.float64(br[j]) - k[j]
            g = d if squares else np.float64(ar[j])
            s[j] += g
            q[j] += g * d
    return s, q


@_jit
def _forward_by_row(x3, shift_x, gamma, beta, eps, out3, stats):
    """Short runs. Fill out3 and stats (3, C) = [mean, var, inv_std]; return mean_shifted."""
    n, c, l = x3.shape
    x2, out2 = x3.reshape(n, c * l), out3.reshape(n, c * l)
    s, q = _column_sums(x2, x2, _per_column(shift_x.astype(np.float64), l), True)
    s, q = _by_channel(s, c, l), _by_channel(q, c, l)
    m = n * l
    mean_shifted = s / m
    p = np.empty((2, c), x3.dtype)  # scale and offset, rounded to the compute dtype
    for j in range(c):
        var = max(q[j] / m - mean_shifted[j] ** 2, 0.0)
        inv_std = 1.0 / np.sqrt(var + eps)
        p[0, j] = gamma[j] * inv_std
        p[1, j] = beta[j] - gamma[j] * inv_std * mean_shifted[j]
        stats[0, j] = np.float64(shift_x[j]) + mean_shifted[j]
        stats[1, j] = var
        stats[2, j] = inv_std
    k, scale, offset = _per_column(shift_x, l), _per_column(p[0], l), _per_column(p[1], l)
    for i in range(n):
        xi, oi = x2[i], out2[i]
        for j in range(c * l):
            oi[j] = (xi[j] - k[j]) * scale[j] + offset[j]
    return mean_shifted


@_jit
def _backward_by_row(dout3, x3, shift_x, gamma, mean_shifted, inv_std, dx3):
    """Short runs. Fill dx3; return (dgamma, dbeta) in float64."""
    n, c, l = x3.shape
    g2, x2, dx2 = dout3.reshape(n, c * l), x3.reshape(n, c * l), dx3.reshape(n, c * l)
    s, q = _column_sums(g2, x2, _per_column(shift_x.astype(np.float64), l), False)
    dbeta, dot = _by_channel(s, c, l), _by_channel(q, c, l)
    m = n * l
    # The compact backward pass; x_hat = (x - shift - mean_shifted) * inv_std.
    dgamma = inv_std * (dot - mean_shifted * dbeta)
    # dx = gamma * inv_std * (dout - dbeta / m - x_hat * dgamma / m)
    #    = dout * a + ((x - shift) * b + c)
    p = np.empty((3, c), x3.dtype)  # a, b and c, rounded to the compute dtype
    for j in range(c):
        a = gamma[j] * inv_std[j]
        b = -a * inv_std[j] * dgamma[j] / m
        p[0, j] = a
        p[1, j] = b
        p[2, j] = -a * dbeta[j] / m - b * mean_shifted[j]
    k, a_f = _per_column(shift_x, l), _per_column(p[0], l)
    b_f, c_f = _per_column(p[1], l), _per_column(p[2], l)
    for i in range(n):
        gi, xi, di = g2[i], x2[i], dx2[i]
        for j in range(c * l):
            di[j] = gi[j] * a_f[j] + ((xi[j] - k[j]) * b_f[j] + c_f[j])
    return dgamma, dbeta


@_jit
def _forward(x3, gamma, beta, eps, out3):
    """Fill out3; return shift_x, mean_shifted and (3, C) [mean, var, inv_std] (x3's dtype)."""
    shift_x = x3[0, :, 0].copy()  # the first value of each channel
    stats = np.empty((3, x3.shape[1]), x3.dtype)
    if x3.shape[2] >= _MIN_RUN:
        mean_shifted = _forward_by_channel(x3, shift_x, gamma, beta, eps, out3, stats)
    else:
        mean_shifted = _forward_by_row(x3, shift_x, gamma, beta, eps, out3, stats)
    return shift_x, mean_shifted, stats


@_jit
def _backward(dout3, x3, shift_x, gamma, mean_shifted, inv_std, dx3):
    """Fill dx3; return (dgamma, dbeta) in float64."""
    if x3.shape[2] >= _MIN_RUN:
        return _backward_by_channel(dout3, x3, shift_x, gamma, mean_shifted, inv_std, dx3)
    return _backward_by_row(dout3, x3, shift_x, gamma, mean_shifted, inv_std, dx3)


def _as3d(a, dtype):
    """(N, C, L) C-contiguous view (or copy) of a in ``dtype``."""
    n, c = a.shape[:2]
    return np.ascontiguousarray(a, dtype=dtype).reshape(n, c, math.prod(a.shape[2:]))


def batchnorm_forward(
    x: Array, gamma: Array, beta: Array, eps: float = 1e-5
) -> tuple[Array, FusedCache]:
    """Batch normalization with batch statistics: :func:`bn.norms.batchnorm_forward`, fused.

    Same arguments, results (to rounding), dtypes and errors; ``cache`` is a
    :class:`FusedCache` for :func:`batchnorm_backward`. float16 input is converted to
    float32 first (one more pass), and the result back.
    """
    eps = _checks.check_batchnorm_forward(x, gamma, beta, eps)
    x3 = _as3d(x, norms._compute_dtype(np, x.dtype))
    out3 = np.empty_like(x3)
    # float64 parameters: one compiled version per dtype of x (Numba has no float16).
    params = np.array([gamma, beta], np.float64)
    shift_x, mean_shifted, stats = _forward(x3, params[0], params[1], eps, out3)
    stats = stats.reshape((3, 1, x.shape[1]) + (1,) * (x.ndim - 2))
    cache = FusedCache(x, shift_x, mean_shifted, gamma, *stats)
    return out3.reshape(x.shape).astype(x.dtype, copy=False), cache


def batchnorm_backward(dout: Array, cache: FusedCache) -> tuple[Array, Array, Array]:
    """Return ``(dx, dgamma, dbeta)`` for :func:`batchnorm_forward`."""
    return normalize_backward("batchnorm_backward", dout, cache)


def normalize_backward(where: str, dout: Array, cache: FusedCache) -> tuple[Array, Array, Array]:
    """:func:`batchnorm_backward`, with ``where`` naming the caller in error messages."""
    _checks.check_cache(where, cache, (FusedCache,))
    _checks.check_backward(where, dout, cache.x)
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
