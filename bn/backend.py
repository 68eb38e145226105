"""Which array library an array belongs to, and moving arrays between devices.

This is the only module that knows about CuPy. It never imports CuPy unless the
user asks to move data to the GPU: if CuPy was never imported, no CuPy array can
exist, so there is nothing to look for.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

Array = Any  # a numpy.ndarray or a cupy.ndarray

DEVICES = ("cpu", "gpu")


def _is_cupy_array(x: object) -> bool:
    # Look CuPy up instead of importing it: importing it on a machine without a
    # GPU is slow, and an array of a module never imported cannot exist.
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def get_array_module(*arrays: object) -> ModuleType:
    """Return ``cupy`` if the arrays live on the GPU, ``numpy`` otherwise.

    ``None`` and Python or NumPy scalars are ignored.

    Raises:
        TypeError: if NumPy and CuPy arrays are mixed. CuPy would otherwise copy
            data between devices behind your back, or fail deep inside a kernel.
    """
    if "cupy" not in sys.modules:  # then no CuPy array can exist: the common case, quickly
        return np
    arrays = tuple(a for a in arrays if not isinstance(a, (type(None), int, float, np.generic)))
    on_gpu = [_is_cupy_array(a) for a in arrays]
    if not any(on_gpu):
        return np
    if not all(on_gpu):
        kinds = sorted({type(a).__module__.split(".")[0] for a in arrays})
        raise TypeError(
            f"expected arrays on one device, got a mix of {kinds}; "
            "move them first with bn.to_device(x, 'gpu') or bn.to_device(x, 'cpu')"
        )
    return sys.modules["cupy"]


def _import_cupy() -> ModuleType:
    try:
        import cupy
    except ImportError as err:
        raise RuntimeError(
            "to_device: device 'gpu' needs CuPy; install it with `pip install -e .[gpu]`"
        ) from err
    if not cupy.cuda.is_available():
        raise RuntimeError("to_device: CuPy is installed but no CUDA device is available")
    return cupy


def to_device(x: Array, device: str) -> Array:
    """Return ``x`` on ``device`` ('cpu' gives NumPy, 'gpu' gives CuPy).

    An array already on that device is returned as it is, not copied.

    Raises:
        ValueError: if ``device`` is not 'cpu' or 'gpu'.
        RuntimeError: if 'gpu' is asked for and CuPy or a CUDA device is missing.
    """
    if device not in DEVICES:
        raise ValueError(f"to_device: expected device 'cpu' or 'gpu', got {device!r}")
    if device == "cpu":
        return x.get() if _is_cupy_array(x) else np.asarray(x)
    return _import_cupy().asarray(x)
