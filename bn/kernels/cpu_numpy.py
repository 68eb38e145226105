"""Batch norm for NumPy arrays in fewer passes over memory: the engineering behind ``bn``.

:func:`bn.norms.batchnorm_forward` and :func:`bn.norms.batchnorm_backward` say the math;
the functions here compute the same numbers (the tests hold them equal) with the same
signatures and the same errors. Batch norm does a few flops per value, so its time is
the number of times whole arrays stream through memory. What this module does about it:

1. Layout. x is viewed as a matrix whose rows hold whole samples, channel c of a sample
   in ``spatial`` consecutive columns. A per-channel constant is repeated to one value per
   column, so every ufunc runs one long contiguous loop per row: broadcasting a (C, 1)
   array instead costs about twice as much (N * C short loops). (N, C) input with few
   channels puts several samples in a row, for the same reason.
2. Sums with BLAS, reading memory in order and writing nothing full-size. Where each
   channel of a sample is a long run of values, a gemv with a ones vector and a dot per
   run (``vecdot``) sum the runs; otherwise ``ones @ x`` (a gemv) and
   ``einsum("nf,nf->f")`` sum down the columns. The partial sums are added in float64.
3. One pass for the statistics: the sums of x and x * x give var = E[x^2] - mean^2. That
   formula cancels catastrophically when ``|mean| >> std``, so it is kept only where the sums
   themselves show ``|mean| <= std``, and then loses a bit or two at most. Otherwise x is
   shifted by the mean those sums estimated and summed again (``norms._normalize`` shifts
   too, by one sample per channel).
4. Two ufuncs for the output: out = x * scale + offset, the second in place. Eval mode
   (:mod:`bn.kernels.cpu_numpy_inference`) is the same with the running statistics.
5. No x_hat in the cache: it keeps x (a reference, like PyTorch's saved tensors) and a
   few numbers per channel. Writing x_hat would cost more than backward reading x again.
6. Backward: the same two sums, then dx in one ufunc that allocates and three in place.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from .. import _checks, norms
from ..backend import Array

# One-pass variance is kept when mean^2 <= var: its rounding error is then at most about
# 2 * 1 + 1 = 3 times that of the sums, against about 1 time for two passes. (With 16,
# |mean| <= 4 std, float32 (2689, 1, 3) input lost 60 times the readable path's error.)
_MAX_MEAN_SQUARED_OVER_VAR = 1.0
_MAX_SHIFTS = 2  # the mean the first sums estimate, then (rarely) the mean found with it
_ROWS = 1024  # rows per block summed in the input's precision (see _Layout.sums)
_MIN_RUN, _MAX_RUN = 32, 65536  # spatial sizes summed with a BLAS dot per run (_Layout.sums)
_ROW_LENGTH = 8192  # values per matrix row to aim for (see _Layout.of)


class FastCache(NamedTuple):
    """What :func:`batchnorm_backward` needs. Built by :func:`batchnorm_forward`, never mutated.

    ``mean``, ``var`` and ``inv_std`` are as in :class:`bn.NormCache`; ``x_hat`` is
    computed on demand. The cache holds ``x`` itself, not a copy: as with PyTorch's
    saved tensors, do not modify ``x`` in place between the forward and backward pass.
    """

    x: np.ndarray  # the input (a reference)
    shift: np.ndarray | None  # (C,) subtracted from x before summing, compute dtype; or None
    mean_shifted: np.ndarray  # (C,) float64: batch mean minus shift
    gamma: np.ndarray  # scale as given, shape (C,)
    mean: np.ndarray  # batch mean, shape (1, C, 1, ...), compute dtype
    var: np.ndarray  # biased batch variance, same shape and dtype
    inv_std: np.ndarray  # 1 / sqrt(var + eps), same shape and dtype

    @property
    def x_hat(self) -> np.ndarray:
        """The normalized input, shape of ``x``, in the compute dtype (built on each access)."""
        layout = _Layout.of(self.x)
        x_shifted = _shifted(layout, layout.matrix(self.x), self.shift)
        mean, inv_std = layout.per_column(self.mean_shifted, self.inv_std.reshape(-1))
        return ((x_shifted - mean) * inv_std).reshape(self.x.shape)


class _Layout(NamedTuple):
    """How an (N, C, *) array is seen as a matrix: ``group`` whole samples per row."""

    n: int  # batch size N
    c: int  # channels C
    spatial: int  # values per channel in one sample: H * W, or 1 for (N, C) input
    group: int  # samples per row of the matrix, a power of two that divides N
    dtype: np.dtype  # compute dtype: float16 is summed in float32
    stat_shape: tuple[int, ...]  # (1, C, 1, ...): the shape of NormCache.mean

    @classmethod
    def of(cls, x):
        n, c = x.shape[:2]
        spatial = math.prod(x.shape[2:])
        fit = max(1, _ROW_LENGTH // max(c * spatial, 1))  # samples that fit in a row
        group = math.gcd(n, 1 << (fit.bit_length() - 1))
        dtype = norms._compute_dtype(np, x.dtype)
        return cls(n, c, spatial, group, dtype, (1, c) + (1,) * (x.ndim - 2))

    @property
    def m(self) -> int:
        return self.n * self.spatial  # values per channel

    def matrix(self, a):
        """(N / group, group * C * spatial): a view of a, unless a is not contiguous."""
        return a.reshape(self.n // self.group, self.group * self.c * self.spatial)

    def first_values(self, a2):
        """(C,) the first value of each channel in the matrix ``a2``: x[0, c, 0, ...]."""
        return a2[0, : self.c * self.spatial : self.spatial]

    def per_column(self, *values):
        """Per-channel (C,) arrays -> for each, one value per column, in the compute dtype."""
        k = len(values)
        per_channel = np.array(values, self.dtype).reshape(k, 1, self.c, 1)  # cast while small
        columns = np.empty((k, self.group, self.c, self.spatial), self.dtype)
        np.copyto(columns, per_channel)  # broadcast
        return columns.reshape(k, -1)

    def sums(self, a, b):
        """(2, C) float64: per channel, the sum of a and the sum of a * b (a, b matrices)."""
        if a.size == 0:  # eval mode and backward accept empty batches
            return np.zeros((2, self.c))
        if _MIN_RUN <= self.spatial <= _MAX_RUN:
            return self._sums_along_runs(a, b)
        return self._sums_down_columns(a, b)

    def _sums_along_runs(self, a, b):
        # Each channel of each sample is a contiguous run of `spatial` values: a gemv and
        # a BLAS dot per run (vecdot) sum them, then the N runs of a channel in float64.
        runs_a, runs_b = a.reshape(-1, self.spatial), b.reshape(-1, self.spatial)  # (N * C, L)
        run_sums = np.empty((2, len(runs_a)), a.dtype)
        np.matmul(runs_a, _ones(self.spatial, a.dtype), out=run_sums[0])
        np.vecdot(runs_a, runs_b, out=run_sums[1])
        return np.add.reduce(run_sums.reshape(2, self.n, self.c), axis=1, dtype=np.float64)

    def _sums_down_columns(self, a, b):
        # ones @ rows (a gemv) and einsum add the rows in order, in float32 for float32
        # input: blocks of at most _ROWS rows keep those sums short, the rest is float64.
        ones = _ones(min(len(a), _ROWS), a.dtype)
        column_sums = np.empty((2, a.shape[1]), a.dtype)
        blocks = []
        for start in range(0, len(a), _ROWS):
            rows_a, rows_b = a[start : start + _ROWS], b[start : start + _ROWS]
            np.matmul(ones[: len(rows_a)], rows_a, out=column_sums[0])  # gemv
            np.einsum("nf,nf->f", rows_a, rows_b, out=column_sums[1])
            by_channel = column_sums.reshape(2, self.group, self.c, self.spatial)
            blocks.append(np.add.reduce(by_channel, axis=(1, 3), dtype=np.float64))
        return blocks[0] if len(blocks) == 1 else np.sum(blocks, axis=0)


@functools.lru_cache(maxsize=32)
def _ones(n, dtype):
    ones = np.ones(n, dtype)
    ones.flags.writeable = False  # shared between calls
    return ones


def _shifted(layout, x2, shift):
    """x2 - shift per channel in the compute dtype; x2 itself when there is nothing to do."""
    if shift is None:
        return x2.astype(layout.dtype, copy=False)
    return np.subtract(x2, layout.per_column(shift)[0], dtype=layout.dtype)


def _temporary(a, x):
    """``a`` if it is a temporary (shifted or converted x) that may be overwritten, else None."""
    return None if np.may_share_memory(a, x) else a


def _statistics(layout, x2):
    """Per-channel ``(x_shifted, shift, mean_shifted, var)`` of the matrix ``x2``.

    ``mean_shifted`` and ``var`` are float64 (C,); the batch mean is shift + mean_shifted.
    """
    shift = None
    for attempt in range(1 + _MAX_SHIFTS):
        x_shifted = _shifted(layout, x2, shift)
        # Overflow or inf - inf here shows up in the check below, which then shifts.
        with np.errstate(over="ignore", invalid="ignore"):
            mean_shifted, mean_square = layout.sums(x_shifted, x_shifted) / layout.m
            squared_mean = mean_shifted**2
            var = mean_square - squared_mean
            well_conditioned = (squared_mean <= _MAX_MEAN_SQUARED_OVER_VAR * var).all()
        if well_conditioned or attempt == _MAX_SHIFTS:
            break
        # Shift by the mean these sums estimated; where they overflowed, by the first value.
        estimate = mean_shifted if shift is None else shift + mean_shifted
        first = layout.first_values(x2)
        shift = np.where(np.isfinite(estimate), estimate, first).astype(layout.dtype)
    return x_shifted, shift, mean_shifted, np.maximum(var, 0.0)


def batchnorm_forward(
    x: Array, gamma: Array, beta: Array, eps: float = 1e-5
) -> tuple[Array, FastCache]:
    """Batch normalization with batch statistics: :func:`bn.norms.batchnorm_forward`, faster.

    Same arguments, results (to rounding), dtypes and errors; ``cache`` is a
    :class:`FastCache` for :func:`batchnorm_backward`, and its ``mean`` and ``var`` are
    the batch statistics, as in :class:`bn.NormCache`.
    """
    eps = _checks.check_batchnorm_forward(x, gamma, beta, eps)
    layout = _Layout.of(x)
    x_shifted, shift, mean_shifted, var = _statistics(layout, layout.matrix(x))
    inv_std = 1.0 / np.sqrt(var + eps)  # (C,) float64
    # gamma * (x_shifted - mean_shifted) * inv_std + beta = x_shifted * scale + offset
    scale = gamma * inv_std
    scale_columns, offset_columns = layout.per_column(scale, beta - scale * mean_shifted)
    out = np.multiply(x_shifted, scale_columns, out=_temporary(x_shifted, x))
    out += offset_columns
    mean = mean_shifted if shift is None else shift + mean_shifted
    stats = np.array([mean, var, inv_std], layout.dtype).reshape(3, *layout.stat_shape)
    cache = FastCache(x, shift, mean_shifted, gamma, *stats)
    return out.reshape(x.shape).astype(x.dtype, copy=False), cache


def batchnorm_backward(dout: Array, cache: FastCache) -> tuple[Array, Array, Array]:
    """Return ``(dx, dgamma, dbeta)`` for :func:`batchnorm_forward`."""
    return normalize_backward("batchnorm_backward", dout, cache)


def normalize_backward(where: str, dout: Array, cache: FastCache) -> tuple[Array, Array, Array]:
    """:func:`batchnorm_backward`, with ``where`` naming the caller in error messages."""
    _checks.check_cache(where, cache, (FastCache,))
    _checks.check_backward(where, dout, cache.x)
    layout = _Layout.of(cache.x)
    x_shifted = _shifted(layout, layout.matrix(cache.x), cache.shift)
    dout2 = layout.matrix(dout).astype(layout.dtype, copy=False)
    inv_std, mean_shifted = cache.inv_std.reshape(-1).astype(np.float64), cache.mean_shifted
    # The two sums of the compact backward pass; x_hat = (x_shifted - mean_shifted) * inv_std.
    dbeta, dout_dot_x = layout.sums(dout2, x_shifted)
    dgamma = inv_std * (dout_dot_x - mean_shifted * dbeta)
    # dx = gamma * inv_std * (dout - dbeta / m - x_hat * dgamma / m)
    #    = gamma * inv_std * (x_shifted * slope + dout + offset): one ufunc makes dx,
    #      three work in place.
    slope = -inv_std * dgamma / layout.m
    offset = -dbeta / layout.m - slope * mean_shifted
    columns = layout.per_column(slope, offset, cache.gamma * inv_std)
    dx = np.multiply(x_shifted, columns[0], out=_temporary(x_shifted, cache.x))
    dx += dout2
    dx += columns[1]
    dx *= columns[2]
    dtype = cache.gamma.dtype
    dx = dx.reshape(dout.shape).astype(cache.x.dtype, copy=False)
    return dx, dgamma.astype(dtype), dbeta.astype(dtype)
