"""The one place where ``bn`` picks an implementation: the readable one or a fast one.

``bn.batchnorm_forward``, ``bn.batchnorm_backward`` and the layers call these functions;
nothing else in the library chooses. The choice:

- NumPy arrays go to :mod:`bn.kernels.cpu_numba` (fused loops compiled by Numba) when Numba
  can be imported, and to :mod:`bn.kernels.cpu_numpy` (NumPy only: BLAS sums, fewer passes
  over memory) otherwise, when x, gamma and beta all are NumPy arrays;
- anything else (CuPy arrays) goes to the readable :mod:`bn.norms`, which also raises
  the errors for bad input that is not NumPy;
- a backward pass goes to the implementation whose forward pass built the cache.

The readable functions stay importable as ``bn.norms.batchnorm_forward`` and
``bn.norms.batchnorm_backward``, and each fast module can be called directly, so the
book can show and time all three.
"""

from __future__ import annotations

import functools
from types import ModuleType

import numpy as np

from .. import norms
from ..backend import Array
from . import cpu_numpy


@functools.cache
def cpu_kernels() -> ModuleType:
    """The module NumPy arrays go to: :mod:`bn.kernels.cpu_numba` if Numba imports, else
    :mod:`bn.kernels.cpu_numpy`. Looked up on first use, so ``import bn`` stays quick."""
    try:
        from . import cpu_numba
    except ImportError:  # Numba is not installed, or does not support this NumPy
        return cpu_numpy
    return cpu_numba


def _all_numpy(*arrays: object) -> bool:
    # Exactly numpy.ndarray: subclasses (masked arrays, np.matrix) keep the readable path.
    return all(type(a) is np.ndarray for a in arrays)


def batchnorm_forward(
    x: Array, gamma: Array, beta: Array, eps: float = 1e-5
) -> tuple[Array, norms.NormCache | cpu_numpy.FastCache]:
    """Batch normalization with batch statistics; see the note for the implementation."""
    impl = cpu_kernels() if _all_numpy(x, gamma, beta) else norms
    return impl.batchnorm_forward(x, gamma, beta, eps)


# Arguments, results and errors are the readable function's; only the implementation
# differs, so its documentation is shared rather than copied.
batchnorm_forward.__doc__ = (norms.batchnorm_forward.__doc__ or "") + (  # None under -OO
    "\n    Note:\n"
    "        NumPy arrays take a fast path: :mod:`bn.kernels.cpu_numba` where Numba is\n"
    "        installed, :mod:`bn.kernels.cpu_numpy` otherwise (:func:`bn.kernels.cpu_kernels`).\n"
    "        :func:`bn.norms.batchnorm_forward` is the readable one.\n    "
)


def batchnorm_backward(
    dout: Array, cache: norms.NormCache | cpu_numpy.FastCache
) -> tuple[Array, Array, Array]:
    """Return ``(dx, dgamma, dbeta)`` for :func:`batchnorm_forward`.

    Args:
        dout: upstream gradient dL/dout, shape of ``x``.
        cache: the cache returned by the forward pass.
    """
    return normalize_backward("batchnorm_backward", dout, cache)


def normalize_backward(
    where: str, dout: Array, cache: norms.NormCache | cpu_numpy.FastCache
) -> tuple[Array, Array, Array]:
    """Backward pass for any norm's cache; ``where`` names the caller in error messages."""
    if not isinstance(cache, cpu_numpy.FastCache):
        return norms._normalize_backward(where, dout, cache)
    fused = cpu_kernels()  # a FusedCache exists only if this is bn.kernels.cpu_numba
    if fused is not cpu_numpy and isinstance(cache, fused.FusedCache):
        return fused.normalize_backward(where, dout, cache)
    return cpu_numpy.normalize_backward(where, dout, cache)
