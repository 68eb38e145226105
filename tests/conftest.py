"""The ``xp`` fixture runs each numerical test once per available array library."""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np
import pytest

from bn import get_array_module


def _available_backends():
    backends = [pytest.param(np, id="numpy")]
    try:
        import cupy
    except ImportError:
        return backends
    if cupy.cuda.is_available():  # False without a GPU or a CUDA driver
        backends.append(pytest.param(cupy, id="cupy", marks=pytest.mark.gpu))
    return backends


@pytest.fixture(params=_available_backends())
def xp(request):
    """NumPy, and CuPy where a GPU is present (marked ``gpu``)."""
    return request.param


def _numba_or_skip(name):
    if "numba" in name and importlib.util.find_spec("numba") is None:
        pytest.skip("Numba is not installed")
    return importlib.import_module(f"bn.kernels.{name}")


@pytest.fixture(params=["cpu_numpy", "cpu_numba"])
def fast_path(request):
    """Each fast training path: :mod:`bn.kernels.cpu_numpy`, :mod:`bn.kernels.cpu_numba`."""
    return _numba_or_skip(request.param)


@pytest.fixture(params=["cpu_numpy_inference", "cpu_numba_inference"])
def inference_path(request):
    """Each fast eval-mode path: NumPy alone, and the fused loop where Numba is installed."""
    return _numba_or_skip(request.param)


def random_arrays(xp, *shapes, seed=0, dtype=np.float64):
    """Standard normal arrays of the given shapes, drawn on the CPU so every backend
    sees the same numbers."""
    rng = np.random.default_rng(seed)
    return [xp.asarray(rng.standard_normal(shape).astype(dtype)) for shape in shapes]


def to_numpy(a):
    """A NumPy copy of a NumPy or CuPy array, for comparing with the references."""
    return a.get() if hasattr(a, "get") else np.array(a)


def assert_on_backend(xp, *arrays):
    """Every array is of the backend under test (not silently moved to another one)."""
    for a in arrays:
        assert get_array_module(a) is xp, f"expected a {xp.__name__} array, got {type(a)}"


def assert_close(actual, expected, rtol=1e-7, atol=1e-9):
    np.testing.assert_allclose(to_numpy(actual), to_numpy(expected), rtol=rtol, atol=atol)
