"""Checks of user input at the public boundary of ``bn``.

Each check raises with the message template ``"<where>: expected <what>, got <actual>"``
so that the error names the argument, what was expected and what was given. Checks
look at types and shapes only, never at values inside an array (that would force a
GPU to synchronize).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

from .backend import get_array_module

# The dtypes bn computes in, by their type codes ("e", "f", "d"), which ignore byte order.
# long double ("g") is left out: it is 80-bit on x86, 64-bit on Windows and on Apple
# silicon, 128-bit on other ARM, so its results would differ from machine to machine;
# neither Numba, CuPy nor PyTorch computes in it.
FLOAT_CODES = "efd"
FLOAT_NAMES = "float16, float32 or float64"

# Scalars accepted for hyperparameters such as eps and momentum: Python and NumPy numbers.
# Fraction and Decimal are left out, as PyTorch leaves them out: with an array they give
# an array of Python objects (Fraction) or fail inside a ufunc (Decimal).
_REAL = (int, float, np.integer, np.floating)


def check_array(where: str, name: str, a: object) -> None:
    """Raise ``TypeError`` unless ``a`` is a float16, float32 or float64 NumPy or CuPy array."""
    dtype = getattr(a, "dtype", None)
    if dtype is None or not hasattr(a, "shape"):
        raise TypeError(
            f"{where}: expected {name} to be a NumPy or CuPy array, got {type(a).__name__}"
        )
    if np.dtype(dtype).char not in FLOAT_CODES:
        raise TypeError(
            f"{where}: expected {name} with a floating dtype ({FLOAT_NAMES}), got {dtype}"
        )


def check_dtype(where: str, dtype: object) -> np.dtype:
    """Return ``np.dtype(dtype)``; raise ``TypeError`` unless it is float16, float32 or float64."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"{where}: expected a floating dtype ({FLOAT_NAMES}), got {dtype!r}"
        ) from None
    if dtype.char not in FLOAT_CODES:
        raise TypeError(f"{where}: expected a floating dtype ({FLOAT_NAMES}), got {dtype}")
    return dtype


def check_shape(where: str, name: str, a: object, shape: tuple[int, ...], meaning: str) -> None:
    """Raise ``ValueError`` unless ``a.shape == shape``; ``meaning`` says why, e.g. '(C,)'."""
    check_array(where, name, a)
    if tuple(a.shape) != tuple(shape):
        raise ValueError(
            f"{where}: expected {name} of shape {meaning} = {tuple(shape)}, got {a.shape}"
        )


def check_real(
    where: str, name: str, value: object, low: float = 0.0, high: float | None = None
) -> float:
    """Return ``value`` as a float; raise unless it is a finite real number with
    ``low <= value`` (and ``value < high``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, _REAL):
        raise TypeError(f"{where}: expected {name} to be a float, got {type(value).__name__}")
    number = float(value)
    if not (math.isfinite(number) and number >= low and (high is None or number < high)):
        bounds = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{where}: expected {name} {bounds}, got {name}={value}")
    return number


def check_eps(where: str, eps: object) -> float:
    """Return ``eps`` as a float; raise unless it is a finite real number greater than zero."""
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, _REAL):
        raise TypeError(f"{where}: expected eps to be a positive float, got {type(eps).__name__}")
    if not eps > 0:
        raise ValueError(f"{where}: expected eps > 0, got eps={eps}")
    if not math.isfinite(eps):
        raise ValueError(f"{where}: expected a finite eps > 0, got eps={eps}")
    return float(eps)


def check_momentum(where: str, momentum: object) -> float | None:
    """Return ``momentum`` as a float (or None); raise unless it is None or a number in [0, 1]."""
    if momentum is None:
        return None
    if isinstance(momentum, (bool, np.bool_)) or not isinstance(momentum, _REAL):
        raise TypeError(
            f"{where}: expected momentum to be a float in [0, 1] or None, "
            f"got {type(momentum).__name__}"
        )
    if not 0 <= momentum <= 1:
        raise ValueError(f"{where}: expected momentum in [0, 1] or None, got momentum={momentum}")
    return float(momentum)


def check_bool(where: str, name: str, value: object) -> bool:
    """Return ``value`` as a bool; raise ``TypeError`` unless it is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: expected {name} to be True or False, got {value!r}")
    return bool(value)


def check_positive_int(where: str, name: str, value: object) -> None:
    """Raise unless ``value`` is an int greater than zero (bool is not accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{where}: expected {name} to be a positive int, got {type(value).__name__}"
        )
    if value <= 0:
        raise ValueError(f"{where}: expected {name} > 0, got {name}={value}")


def check_rank(where: str, x: object, min_ndim: int, layout: str) -> None:
    """Raise ``ValueError`` unless ``x`` has at least ``min_ndim`` axes."""
    check_array(where, "x", x)
    if x.ndim < min_ndim:
        raise ValueError(
            f"{where}: expected x of shape {layout}, got {x.ndim}-D x of shape {x.shape}"
        )


def check_num_groups(where: str, num_groups: object, num_channels: int) -> None:
    """Raise unless ``num_groups`` is a positive int that divides ``num_channels``."""
    check_positive_int(where, "num_groups", num_groups)
    if num_channels % num_groups:
        raise ValueError(
            f"{where}: expected num_channels ({num_channels}) to be divisible by "
            f"num_groups ({num_groups})"
        )


def check_params(where: str, x, gamma, beta, shape: tuple[int, ...], meaning: str) -> None:
    """Raise unless ``gamma`` and ``beta`` are arrays of ``shape`` on the device of ``x``."""
    get_array_module(x, gamma, beta)  # TypeError if NumPy and CuPy are mixed
    check_shape(where, "gamma", gamma, shape, meaning)
    check_shape(where, "beta", beta, shape, meaning)


def check_values_per_statistic(where: str, m: int, x, what: str, detail: str = "") -> None:
    """Raise ``ValueError`` if a mean and variance would be taken over ``m <= 1`` values."""
    # Over one value the variance is 0 and x_hat = 0 whatever x is (over none, undefined):
    # the output would be beta, silently. PyTorch raises for BN and IN in the same words.
    if m <= 1:
        raise ValueError(
            f"{where}: expected more than 1 value per {what}, got x of shape {x.shape}{detail}"
        )


def check_batchnorm_forward(x, gamma, beta, eps: object) -> float:
    """The checks of ``batchnorm_forward``, shared by :mod:`bn.norms` and the fast paths
    (:mod:`bn.kernels`), so that all raise the same errors. Returns ``eps`` as a float."""
    where = "batchnorm_forward"
    check_rank(where, x, 2, "(N, C) or (N, C, *)")
    check_params(where, x, gamma, beta, (x.shape[1],), "(C,)")
    eps = check_eps(where, eps)
    m = x.size // max(x.shape[1], 1)  # values per channel
    check_values_per_statistic(where, m, x, "channel when training")
    return eps


def check_batchnorm_inference(x, gamma, beta, running_mean, running_var, eps: object) -> float:
    """The checks of ``batchnorm_inference``, shared as :func:`check_batchnorm_forward` is."""
    where = "batchnorm_inference"
    check_rank(where, x, 2, "(N, C) or (N, C, *)")
    check_params(where, x, gamma, beta, (x.shape[1],), "(C,)")
    get_array_module(x, running_mean, running_var)
    check_shape(where, "running_mean", running_mean, (x.shape[1],), "(C,)")
    check_shape(where, "running_var", running_var, (x.shape[1],), "(C,)")
    return check_eps(where, eps)


def check_backward(where: str, dout, x):
    """Raise unless ``dout`` is an array of the shape of ``x`` on its device; return the
    array module (NumPy or CuPy)."""
    check_shape(where, "dout", dout, x.shape, "x.shape")
    return get_array_module(dout, x)  # TypeError if NumPy and CuPy are mixed


def check_cache(where: str, cache: object, kinds: tuple[type, ...]) -> None:
    """Raise ``TypeError`` unless ``cache`` is one of ``kinds``, what a forward pass returns.

    A backward pass reads many fields of its cache; this turns ``None``, a plain tuple or
    another op's cache into one clear error instead of an ``AttributeError`` inside.
    """
    if not isinstance(cache, kinds):
        names = " or ".join(kind.__name__ for kind in kinds)
        raise TypeError(
            f"{where}: expected cache to be the cache a forward pass returned ({names}), "
            f"got {type(cache).__name__}"
        )


def check_state_keys(where: str, expected: dict, state: object) -> None:
    """Raise ``TypeError`` unless ``state`` is a mapping, ``ValueError`` naming the missing
    and unexpected keys unless it has the keys of ``expected``."""
    if not isinstance(state, Mapping):
        raise TypeError(
            f"{where}: expected state to be a dict such as state_dict() returns, "
            f"got {type(state).__name__}"
        )
    if set(state) != set(expected):
        raise ValueError(
            f"{where}: expected keys {sorted(expected)}, got {sorted(state, key=str)} "
            f"(missing {sorted(set(expected) - set(state))}, "
            f"unexpected {sorted(set(state) - set(expected), key=str)})"
        )


def check_count(where: str, name: str, value: object) -> int:
    """Return ``value`` as an int; raise unless it is an int >= 0 or a 0-d integer array
    (PyTorch stores ``num_batches_tracked`` as a 0-d tensor)."""
    if getattr(value, "shape", None) == () and np.dtype(value.dtype).kind in "iu":
        value = value.item()  # a 0-d NumPy or CuPy array, e.g. from torch's .numpy()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        shape = f" of shape {value.shape}" if hasattr(value, "shape") else ""
        raise TypeError(
            f"{where}: expected {name} to be an int >= 0, got {type(value).__name__}{shape}"
        )
    if value < 0:
        raise ValueError(f"{where}: expected {name} >= 0, got {name}={value}")
    return int(value)


def check_state_array(where: str, name: str, value: object, shape: tuple[int, ...]) -> None:
    """Raise unless ``value`` is a real-valued array of ``shape`` (ints are converted)."""
    dtype = getattr(value, "dtype", None)
    if dtype is None or not hasattr(value, "shape"):
        raise TypeError(
            f"{where}: expected {name} to be an array of shape {shape}, got {type(value).__name__}"
        )
    if np.dtype(dtype).kind not in "iuf":
        raise TypeError(f"{where}: expected {name} with an integer or floating dtype, got {dtype}")
    if tuple(value.shape) != tuple(shape):
        raise ValueError(f"{where}: expected {name} of shape {shape}, got {value.shape}")
