"""Eval-mode batch norm in one loop compiled by Numba: x is read once and out written once.

With the running statistics fixed, batch norm is an affine map of each channel. The
per-channel constants are computed first, as :mod:`bn.kernels.cpu_numpy_inference` computes
them (``mean`` and ``inv_std`` rounded as :mod:`bn.norms` rounds them, ``scale = gamma *
inv_std`` in float64, then rounded to the compute dtype); then one loop streams x:

    out = (x - mean) * scale + beta

That is the copy floor: one read of x, one write of out. Subtracting the mean first costs
nothing in a loop bound by memory and rounds as the readable path does when
``|mean| >> std``. The backward pass (fine-tuning through a frozen BN) and the cache are
those of :mod:`bn.kernels.cpu_numpy_inference`: the cache holds x and per-channel constants.
"""

from __future__ import annotations

import numpy as np

from ..backend import Array
from .cpu_numba import _MIN_RUN, _as3d, _jit, _per_column
from .cpu_numpy_inference import InferenceCache, inference_constants

# Compiled loops: x3 and out3 are C-contiguous (N, C, L) arrays in the compute dtype, the
# constants (C,) arrays in that dtype. Long runs (feature maps) take the loop in memory
# order with the constants of one channel in registers; short runs, and (N, C) input, go
# along whole rows with each constant repeated to one value per column, which LLVM
# vectorizes across channels.


@_jit
def _affine_by_channel(x3, mean_x, scale_x, beta_x, out3):
    n, c, l = x3.shape
    for i in range(n):
        for j in range(c):
            mean, scale, beta = mean_x[j], scale_x[j], beta_x[j]
            for t in range(l):
                out3[i, j, t] = (x3[i, j, t] - mean) * scale + beta


@_jit
def _affine_by_row(x3, mean_x, scale_x, beta_x, out3):
    n, c, l = x3.shape
    x2, out2 = x3.reshape(n, c * l), out3.reshape(n, c * l)
    mean, scale, beta = _per_column(mean_x, l), _per_column(scale_x, l), _per_column(beta_x, l)
    for i in range(n):
        xi, oi = x2[i], out2[i]
        for j in range(c * l):
            oi[j] = (xi[j] - mean[j]) * scale[j] + beta[j]


def batchnorm_inference_forward(
    x: Array,
    gamma: Array,
    beta: Array,
    running_mean: Array,
    running_var: Array,
    eps: float = 1e-5,
) -> tuple[Array, InferenceCache]:
    """:func:`bn.norms.batchnorm_inference` in one fused loop; returns ``(out, cache)``.

    Same arguments, result (to rounding), dtype and errors; ``cache`` is the input to
    :func:`bn.kernels.cpu_numpy_inference.batchnorm_inference_backward`. float16 input is
    converted to float32 first (one more pass), and the result back.
    """
    cache, scale = inference_constants(x, gamma, beta, running_mean, running_var, eps)
    x3 = _as3d(x, cache.mean.dtype)  # a view unless x is not contiguous or float16
    out3 = np.empty_like(x3)
    mean_x, scale_x, beta_x = np.array([cache.mean, scale, beta], x3.dtype)
    affine = _affine_by_channel if x3.shape[2] >= _MIN_RUN else _affine_by_row
    affine(x3, mean_x, scale_x, beta_x, out3)
    return out3.reshape(x.shape).astype(x.dtype, copy=False), cache


def batchnorm_inference(
    x: Array,
    gamma: Array,
    beta: Array,
    running_mean: Array,
    running_var: Array,
    eps: float = 1e-5,
) -> Array:
    """:func:`bn.norms.batchnorm_inference`, fused: same arguments, result and errors."""
    return batchnorm_inference_forward(x, gamma, beta, running_mean, running_var, eps)[0]
