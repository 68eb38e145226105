"""The one place where ``bn`` picks an implementation: the readable one or a fast one.

``bn.batchnorm_forward``, ``bn.batchnorm_backward``, ``bn.batchnorm_inference`` and the
layers call these functions; nothing else in the library chooses. The choice:

- NumPy arrays go to :mod:`bn.kernels.cpu_numba` (fused loops compiled by Numba) when Numba
  can be imported, and to :mod:`bn.kernels.cpu_numpy` (NumPy only: BLAS sums, fewer passes
  over memory) otherwise, when every array argument is a NumPy array. Eval mode
  (``batchnorm_inference``) goes to :mod:`bn.kernels.cpu_numba_inference` or
  :mod:`bn.kernels.cpu_numpy_inference` on the same rule;
- anything else (CuPy arrays) goes to the readable :mod:`bn.norms`, which also raises
  the errors for bad input that is not NumPy;
- a backward pass goes to the implementation whose forward pass built the cache, and a
  ``cache`` that no forward pass built is a ``TypeError`` that names it.

The readable functions stay importable as ``bn.norms.batchnorm_forward``,
``bn.norms.batchnorm_backward`` and ``bn.norms.batchnorm_inference``, and each fast module
can be called directly, so the book can show and time all three.
"""

from __future__ import annotations

import functools
from types import ModuleType

import numpy as np

from .. import _checks, norms
from ..backend import Array
from . import cpu_numpy, cpu_numpy_inference
from .cpu_numpy_inference import InferenceCache

Cache = norms.NormCache | cpu_numpy.FastCache | InferenceCache  # what a backward pass takes


@functools.cache
def cpu_kernels() -> ModuleType:
    """The module NumPy arrays go to: :mod:`bn.kernels.cpu_numba` if Numba imports, else
    :mod:`bn.kernels.cpu_numpy`. Looked up on first use, so ``import bn`` stays quick."""
    try:
        from . import cpu_numba
    except ImportError:  # Numba is not installed, or does not support this NumPy
        return cpu_numpy
    return cpu_numba


def inference_kernels() -> ModuleType:
    """The module eval mode of NumPy arrays goes to: :mod:`bn.kernels.cpu_numba_inference`
    where :func:`cpu_kernels` is :mod:`bn.kernels.cpu_numba`, else
    :mod:`bn.kernels.cpu_numpy_inference`."""
    if cpu_kernels() is cpu_numpy:
        return cpu_numpy_inference
    from . import cpu_numba_inference

    return cpu_numba_inference


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


def batchnorm_inference(
    x: Array,
    gamma: Array,
    beta: Array,
    running_mean: Array,
    running_var: Array,
    eps: float = 1e-5,
) -> Array:
    """Batch normalization with running statistics (eval mode); see the note."""
    return batchnorm_inference_forward(x, gamma, beta, running_mean, running_var, eps)[0]


batchnorm_inference.__doc__ = (norms.batchnorm_inference.__doc__ or "") + (
    "\n    Note:\n"
    "        NumPy arrays take a fast path: :mod:`bn.kernels.cpu_numba_inference` where Numba\n"
    "        is installed, :mod:`bn.kernels.cpu_numpy_inference` otherwise\n"
    "        (:func:`bn.kernels.inference_kernels`). :func:`bn.norms.batchnorm_inference`\n"
    "        is the readable one.\n    "
)


def batchnorm_inference_forward(
    x: Array,
    gamma: Array,
    beta: Array,
    running_mean: Array,
    running_var: Array,
    eps: float = 1e-5,
) -> tuple[Array, norms.NormCache | InferenceCache]:
    """:func:`batchnorm_inference` and the cache for a backward pass: ``(out, cache)``.

    ``bn.BatchNorm`` calls it in eval mode, so that ``backward`` works there too (a frozen
    BN being fine-tuned through); :func:`normalize_backward` takes the cache.
    """
    if _all_numpy(x, gamma, beta, running_mean, running_var):
        impl = inference_kernels()
        return impl.batchnorm_inference_forward(x, gamma, beta, running_mean, running_var, eps)
    return norms._batchnorm_inference(x, gamma, beta, running_mean, running_var, eps)


def batchnorm_backward(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Return ``(dx, dgamma, dbeta)`` for :func:`batchnorm_forward`.

    Args:
        dout: upstream gradient dL/dout, shape of ``x``.
        cache: the cache returned by the forward pass.

    Raises:
        TypeError: if ``cache`` is not a cache a forward pass returned, or ``dout`` is
            not an array.
        ValueError: if ``dout`` does not have the shape of ``x``.
    """
    return normalize_backward("batchnorm_backward", dout, cache)


def normalize_backward(where: str, dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass for any norm's cache; ``where`` names the caller in error messages."""
    _checks.check_cache(where, cache, (norms.NormCache, cpu_numpy.FastCache, InferenceCache))
    if isinstance(cache, norms.NormCache):
        return norms._normalize_backward(where, dout, cache)
    if isinstance(cache, InferenceCache):
        return cpu_numpy_inference.inference_backward(where, dout, cache)
    fused = cpu_kernels()  # a FusedCache exists only if this is bn.kernels.cpu_numba
    if fused is not cpu_numpy and isinstance(cache, fused.FusedCache):
        return fused.normalize_backward(where, dout, cache)
    return cpu_numpy.normalize_backward(where, dout, cache)
