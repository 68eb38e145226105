"""The one place where ``bn`` picks an implementation: the readable one or a fast one.

``bn.batchnorm_forward``, ``bn.batchnorm_backward`` and the layers call these functions;
nothing else in the library chooses. The choice:

- NumPy arrays go to :mod:`bn.kernels_cpu` (BLAS sums, fewer passes over memory), when
  x, gamma and beta all are;
- anything else (CuPy arrays) goes to the readable :mod:`bn.norms`, which also raises
  the errors for bad input that is not NumPy;
- a backward pass goes to the implementation whose forward pass built the cache.

The readable functions stay importable as ``bn.norms.batchnorm_forward`` and
``bn.norms.batchnorm_backward``, so the book can show and time both.
"""

from __future__ import annotations

import numpy as np

from . import kernels_cpu, norms
from .backend import Array


def _all_numpy(*arrays: object) -> bool:
    # Exactly numpy.ndarray: subclasses (masked arrays, np.matrix) keep the readable path.
    return all(type(a) is np.ndarray for a in arrays)


def batchnorm_forward(
    x: Array, gamma: Array, beta: Array, eps: float = 1e-5
) -> tuple[Array, norms.NormCache | kernels_cpu.FastCache]:
    """Batch normalization with batch statistics (training mode).

    Each channel (axis 1) is standardized with the mean and the biased variance of its
    values over the batch and every spatial position, then scaled by ``gamma`` and
    shifted by ``beta`` (the 2015 paper's Algorithm 1). NumPy arrays take the fast path
    of :mod:`bn.kernels_cpu`; :func:`bn.norms.batchnorm_forward` is the readable one.

    Args:
        x: input of shape ``(N, C)`` or ``(N, C, *)``, e.g. ``(N, C, L)``, ``(N, C, H, W)``.
        gamma: scale, shape (C,).
        beta: shift, shape (C,).
        eps: added to the variance before the square root; must be > 0.

    Returns:
        ``(out, cache)``: ``out = gamma * x_hat + beta`` has the shape and dtype of ``x``;
        ``cache`` is the input to :func:`batchnorm_backward`, and its ``mean`` and ``var``
        are the batch statistics a layer folds into its running averages.

    Raises:
        TypeError: if an input is not a floating-point array, or NumPy and CuPy mix.
        ValueError: if ``x`` has fewer than 2 axes, ``gamma`` or ``beta`` is not
            (C,), ``eps <= 0``, or there is only one value per channel.
    """
    impl = kernels_cpu if _all_numpy(x, gamma, beta) else norms
    return impl.batchnorm_forward(x, gamma, beta, eps)


def batchnorm_backward(
    dout: Array, cache: norms.NormCache | kernels_cpu.FastCache
) -> tuple[Array, Array, Array]:
    """Return ``(dx, dgamma, dbeta)`` for :func:`batchnorm_forward`.

    Args:
        dout: upstream gradient dL/dout, shape of ``x``.
        cache: the cache returned by the forward pass.
    """
    return normalize_backward("batchnorm_backward", dout, cache)


def normalize_backward(
    where: str, dout: Array, cache: norms.NormCache | kernels_cpu.FastCache
) -> tuple[Array, Array, Array]:
    """Backward pass for any norm's cache; ``where`` names the caller in error messages."""
    if isinstance(cache, kernels_cpu.FastCache):
        return kernels_cpu.normalize_backward(where, dout, cache)
    return norms._normalize_backward(where, dout, cache)
