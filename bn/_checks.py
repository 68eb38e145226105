"""Checks of user input at the public boundary of ``bn``.

Each check raises with the message template ``"<where>: expected <what>, got <actual>"``
so that the error names the argument, what was expected and what was given. Checks
look at types and shapes only, never at values inside an array (that would force a
GPU to synchronize).
"""

from __future__ import annotations

import numbers

import numpy as np


def check_array(where: str, name: str, a: object) -> None:
    """Raise ``TypeError`` unless ``a`` is a floating-point NumPy or CuPy array."""
    dtype = getattr(a, "dtype", None)
    if dtype is None or not hasattr(a, "shape"):
        raise TypeError(
            f"{where}: expected {name} to be a NumPy or CuPy array, got {type(a).__name__}"
        )
    if np.dtype(dtype).kind != "f":  # float16, float32, float64 (np.floating), quickly
        raise TypeError(
            f"{where}: expected {name} with a floating dtype (float16, float32 or float64), "
            f"got {dtype}"
        )


def check_shape(where: str, name: str, a: object, shape: tuple[int, ...], meaning: str) -> None:
    """Raise ``ValueError`` unless ``a.shape == shape``; ``meaning`` says why, e.g. '(C,)'."""
    check_array(where, name, a)
    if tuple(a.shape) != tuple(shape):
        raise ValueError(
            f"{where}: expected {name} of shape {meaning} = {tuple(shape)}, got {a.shape}"
        )


def check_eps(where: str, eps: object) -> None:
    """Raise unless ``eps`` is a real number greater than zero."""
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise TypeError(f"{where}: expected eps to be a positive float, got {type(eps).__name__}")
    if not eps > 0:
        raise ValueError(f"{where}: expected eps > 0, got eps={eps}")


def check_momentum(where: str, momentum: object) -> None:
    """Raise unless ``momentum`` is ``None`` or a real number in [0, 1]."""
    if momentum is None:
        return
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
        raise TypeError(
            f"{where}: expected momentum to be a float in [0, 1] or None, "
            f"got {type(momentum).__name__}"
        )
    if not 0 <= momentum <= 1:
        raise ValueError(f"{where}: expected momentum in [0, 1] or None, got momentum={momentum}")


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


def check_state_keys(where: str, expected: dict, state: dict) -> None:
    """Raise ``ValueError`` naming the missing and unexpected keys of a state dict."""
    if set(state) != set(expected):
        raise ValueError(
            f"{where}: expected keys {sorted(expected)}, got {sorted(state)} "
            f"(missing {sorted(set(expected) - set(state))}, "
            f"unexpected {sorted(set(state) - set(expected))})"
        )
