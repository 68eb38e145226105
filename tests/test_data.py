"""Offline data sets: shapes, dtypes, fixed splits, scaling, the MNIST-1D cache."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest
from conftest import to_numpy

import bn


@pytest.fixture
def digits():
    pytest.importorskip("sklearn")
    return bn.load_digits


def test_digits_shapes_dtypes_and_split(digits):
    (x, y), (x_test, y_test) = digits()
    assert x.shape == (1438, 64) and x_test.shape == (359, 64)
    assert x.dtype == x_test.dtype == np.float32 and y.dtype == y_test.dtype == np.int64
    assert isinstance(x, np.ndarray)
    from sklearn.datasets import load_digits

    counts = np.bincount(np.concatenate([y, y_test]), minlength=10)
    assert (counts == np.bincount(load_digits().target)).all()  # every sample, once


def test_digits_split_is_fixed_by_the_seed(digits):
    (x, y), _ = digits(seed=0)
    (x_again, y_again), _ = digits(seed=0)
    (x_other, _), _ = digits(seed=1)
    assert (x == x_again).all() and (y == y_again).all()
    assert x.shape == x_other.shape and not (x == x_other).all()
    # No sample is in both splits (unit scale compares the raw pixels).
    (raw, _), (raw_test, _) = digits(scale="unit")
    train_rows = {row.tobytes() for row in raw}
    assert sum(row.tobytes() in train_rows for row in raw_test) < 5  # the data hold a few twins


def test_digits_standardized_with_training_statistics(digits):
    (x, _), (x_test, _) = digits()
    varying = x.std(axis=0) > 0
    assert np.allclose(x.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(x.std(axis=0)[varying], 1, atol=1e-4)
    assert varying.sum() >= 60 and abs(x_test.mean()) < 0.1


def test_digits_unit_scale_and_image_layout(digits):
    (x, _), _ = digits(scale="unit")
    assert x.min() == 0 and x.max() == 1
    (images, _), (images_test, _) = digits(layout="image", scale="unit")
    assert images.shape == (1438, 1, 8, 8) and images_test.shape == (359, 1, 8, 8)
    assert (images.reshape(-1, 64) == x).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"layout": "nhwc"}, r"load_digits: expected layout in \('flat', 'image'\), got 'nhwc'"),
        ({"device": "tpu"}, r"load_digits: expected device in \('cpu', 'gpu'\), got 'tpu'"),
        ({"scale": "minmax"}, r"expected scale in \('standardize', 'unit'\)"),
        ({"test_fraction": 1.0}, r"expected test_fraction in \(0, 1\), got 1.0"),
    ],
)
def test_digits_bad_arguments(digits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        digits(**kwargs)


def test_a_missing_package_gets_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import now fails
    with pytest.raises(ImportError, match=r"load_digits: expected the 'scikit-learn' package"):
        bn.load_digits()


@pytest.mark.gpu
def test_digits_on_the_gpu(digits):
    cupy = pytest.importorskip("cupy")
    if not cupy.cuda.is_available():
        pytest.skip("no CUDA device")
    (x, y), _ = digits(device="gpu")
    (x_cpu, _), _ = digits()
    assert isinstance(x, cupy.ndarray) and isinstance(y, cupy.ndarray)
    assert (to_numpy(x) == x_cpu).all()


@pytest.fixture
def mnist1d_data(monkeypatch):
    """The generator, wrapped to count its calls."""
    module = pytest.importorskip("mnist1d.data")
    calls = []
    make_dataset = module.make_dataset

    def counted(args):
        calls.append(args.num_samples)
        return make_dataset(args)

    monkeypatch.setattr(module, "make_dataset", counted)
    return calls


def test_mnist1d_is_generated_once_then_loaded_from_the_cache(mnist1d_data, tmp_path):
    numpy_state, python_state = np.random.get_state()[1].copy(), random.getstate()
    (x, y), (x_test, y_test) = bn.load_mnist1d(num_samples=100, cache_dir=tmp_path)
    assert mnist1d_data == [100]
    assert x.shape == (80, 40) and x_test.shape == (20, 40) and y.shape == (80,)
    assert x.dtype == np.float32 and y.dtype == y_test.dtype == np.int64
    assert set(np.unique(np.concatenate([y, y_test]))) == set(range(10))
    # mnist1d reseeds the global generators; the loader puts them back.
    assert (np.random.get_state()[1] == numpy_state).all() and random.getstate() == python_state
    assert len(list(tmp_path.glob("mnist1d-*.npz"))) == 1
    (x2, y2), (x2_test, _) = bn.load_mnist1d(num_samples=100, cache_dir=tmp_path)
    assert mnist1d_data == [100]  # not generated again
    assert (x2 == x).all() and (y2 == y).all() and (x2_test == x_test).all()


def test_mnist1d_cache_key_follows_the_settings_and_env_var(mnist1d_data, tmp_path, monkeypatch):
    monkeypatch.setenv("BN_CACHE_DIR", str(tmp_path))
    (x, _), _ = bn.load_mnist1d(num_samples=50)
    (x_seed, _), _ = bn.load_mnist1d(num_samples=50, seed=7)
    (signal, _), _ = bn.load_mnist1d(num_samples=50, layout="signal")
    assert mnist1d_data == [50, 50]  # the layout does not change what is generated
    assert len(list(tmp_path.glob("mnist1d-*.npz"))) == 2
    assert not (x == x_seed).all()
    assert signal.shape == (40, 1, 40) and (signal[:, 0] == x).all()


def test_mnist1d_bad_arguments_fail_before_generating(mnist1d_data, tmp_path):
    with pytest.raises(ValueError, match=r"load_mnist1d: expected layout in \('flat', 'signal'\)"):
        bn.load_mnist1d(layout="image", cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"expected num_samples >= 10 \(one per class\), got 5"):
        bn.load_mnist1d(num_samples=5, cache_dir=tmp_path)
    assert mnist1d_data == []
