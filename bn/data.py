"""Small data sets that work offline, with fixed splits, on the device you ask for.

Both loaders return ``(x_train, y_train), (x_test, y_test)``: float32 features and
int64 labels, NumPy arrays for ``device="cpu"`` and CuPy arrays for ``"gpu"``.
Nothing is downloaded. scikit-learn and mnist1d are needed only by the loader that
uses them (they are in the book's requirements.txt, not ``bn``'s dependencies).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import os
import random
from pathlib import Path

import numpy as np

from .backend import DEVICES, Array, to_device

Split = tuple[Array, Array]  # (x, y)


def _require(where, module, package):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{where}: expected the '{package}' package to be installed, got none; "
            f"install it with `pip install {package}` (it is in the book's requirements.txt)"
        ) from err


def _check_choice(where, name, value, choices):
    if value not in choices:
        raise ValueError(f"{where}: expected {name} in {choices}, got {value!r}")


def _on_device(device, x_train, y_train, x_test, y_test):
    x_train, x_test = x_train.astype(np.float32), x_test.astype(np.float32)
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    move = [to_device(a, device) for a in (x_train, y_train, x_test, y_test)]
    return (move[0], move[1]), (move[2], move[3])


def load_digits(
    device: str = "cpu",
    layout: str = "flat",
    scale: str = "standardize",
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[Split, Split]:
    """scikit-learn's 1,797 handwritten digits, 8x8 pixels with values 0..16, 10 classes.

    Args:
        device: 'cpu' (NumPy) or 'gpu' (CuPy).
        layout: 'flat' gives x of shape (N, 64); 'image' gives (N, 1, 8, 8).
        scale: 'standardize' makes each pixel mean 0 and variance 1 with the
            training split's statistics (pixels constant there are only centred);
            'unit' divides by 16 into [0, 1].
        test_fraction: share of the samples held out for testing.
        seed: seed of the split; the same seed gives the same split.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.
    """
    where = "load_digits"
    _check_choice(where, "device", device, DEVICES)
    _check_choice(where, "layout", layout, ("flat", "image"))
    _check_choice(where, "scale", scale, ("standardize", "unit"))
    if not 0 < test_fraction < 1:
        raise ValueError(f"{where}: expected test_fraction in (0, 1), got {test_fraction}")
    digits = _require(where, "sklearn.datasets", "scikit-learn").load_digits()
    x, y = digits.data, digits.target  # (1797, 64) float64, (1797,) int
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(test_fraction * len(x))
    test, train = order[:n_test], order[n_test:]
    if scale == "standardize":
        mean, std = x[train].mean(axis=0), x[train].std(axis=0)
        x = (x - mean) / np.where(std > 0, std, 1.0)
    else:
        x = x / 16.0
    if layout == "image":
        x = x.reshape(-1, 1, 8, 8)  # (N, C=1, H=8, W=8)
    return _on_device(device, x[train], y[train], x[test], y[test])


def _cache_root(path):
    """Where generated data sets are kept: ``path``, else ``$BN_CACHE_DIR``, else ~/.cache/bn."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("BN_CACHE_DIR") or Path.home() / ".cache" / "bn")


def _mnist1d_args(num_samples, seed):
    args = _require("load_mnist1d", "mnist1d.data", "mnist1d").get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    return args


def _cache_path(directory, args):
    settings = {k: v for k, v in vars(args).items() if k != "url"}
    settings["mnist1d version"] = importlib.metadata.version("mnist1d")
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return directory / f"mnist1d-{key}.npz"


def _generate_mnist1d(args):
    """Run mnist1d's generator, which reseeds NumPy's and Python's global RNGs; undo that."""
    mnist1d_data = _require("load_mnist1d", "mnist1d.data", "mnist1d")
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = mnist1d_data.make_dataset(args)  # never get_dataset: it downloads
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {
        "x_train": data["x"],
        "y_train": data["y"],
        "x_test": data["x_test"],
        "y_test": data["y_test"],
    }


def _save_atomically(path, arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    with open(partial, "wb") as f:
        np.savez(f, **arrays)
    os.replace(partial, path)  # readers see the whole file or none


def load_mnist1d(
    device: str = "cpu",
    layout: str = "flat",
    num_samples: int = 5000,
    seed: int = 42,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[Split, Split]:
    """MNIST-1D (Greydanus, 2020): 10 classes of 1-D signals of length 40, generated locally.

    The data come from ``mnist1d.data.make_dataset(get_dataset_args())`` with the
    package's defaults (``num_samples`` and ``seed`` may be changed) and its 80/20
    split. Generating 5,000 samples takes about 15 s, so the arrays are kept in
    ``cache_dir`` under a name that hashes the settings; later
    calls load them at once.

    Args:
        device: 'cpu' (NumPy) or 'gpu' (CuPy).
        layout: 'flat' gives x of shape (N, 40); 'signal' gives (N, 1, 40).
        num_samples: samples generated in all (train and test).
        seed: seed of the generator.
        cache_dir: directory of the cache; default ``$BN_CACHE_DIR``, else ~/.cache/bn.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.
    """
    _check_choice("load_mnist1d", "device", device, DEVICES)
    _check_choice("load_mnist1d", "layout", layout, ("flat", "signal"))
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 10:
        raise ValueError(
            f"load_mnist1d: expected num_samples >= 10 (one per class), got {num_samples!r}"
        )
    args = _mnist1d_args(num_samples, seed)
    path = _cache_path(_cache_root(cache_dir), args)
    if path.exists():
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in stored.files}
    else:
        arrays = _generate_mnist1d(args)
        _save_atomically(path, arrays)
    if layout == "signal":
        arrays["x_train"], arrays["x_test"] = arrays["x_train"][:, None], arrays["x_test"][:, None]
    return _on_device(
        device, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
    )
