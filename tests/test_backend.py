"""Backend dispatch: the array decides, and NumPy and CuPy never mix silently."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import bn


def test_numpy_arrays_scalars_and_none_give_numpy():
    assert bn.get_array_module(np.ones(2), None, 1.0, 3, np.float32(2.0)) is np
    assert bn.get_array_module() is np


def test_importing_bn_does_not_import_cupy():
    code = "import sys, bn; print('cupy' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture
def fake_cupy(monkeypatch):
    """A stand-in 'cupy' module, so the mixing rules are tested without a GPU."""
    module = types.ModuleType("cupy")

    class ndarray(np.ndarray):
        __module__ = "cupy"

    module.ndarray = ndarray
    monkeypatch.setitem(sys.modules, "cupy", module)
    return module


def test_gpu_arrays_give_cupy(fake_cupy):
    x = np.ones(3).view(fake_cupy.ndarray)
    assert bn.get_array_module(x, x, None) is fake_cupy


def test_mixing_numpy_and_cupy_is_a_type_error(fake_cupy):
    gpu = np.ones(3).view(fake_cupy.ndarray)
    with pytest.raises(
        TypeError, match=r"expected arrays on one device, got a mix of \['cupy', 'numpy'\]"
    ):
        bn.get_array_module(np.ones(3), gpu)
    with pytest.raises(TypeError, match="expected arrays on one device"):
        bn.batchnorm_forward(np.ones((4, 3)), np.ones(3).view(fake_cupy.ndarray), np.ones(3))


def test_to_device_cpu_returns_numpy_without_copying():
    x = np.ones(3)
    assert bn.to_device(x, "cpu") is x
    assert isinstance(bn.to_device([1.0, 2.0], "cpu"), np.ndarray)


def test_to_device_gpu_without_a_gpu_says_what_is_missing():
    try:
        import cupy

        if cupy.cuda.is_available():
            pytest.skip("a GPU is present")
    except ImportError:
        pass
    with pytest.raises(
        RuntimeError, match=r"to_device: (device 'gpu' needs CuPy|CuPy is installed but no CUDA)"
    ):
        bn.to_device(np.ones(3), "gpu")


@pytest.mark.gpu
def test_mixing_real_numpy_and_cupy_is_a_type_error():
    cupy = pytest.importorskip("cupy")
    if not cupy.cuda.is_available():
        pytest.skip("no CUDA device")
    with pytest.raises(TypeError, match="expected arrays on one device"):
        bn.batchnorm_forward(cupy.ones((4, 3)), np.ones(3), np.ones(3))
