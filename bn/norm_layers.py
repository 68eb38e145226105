"""Norm layers: parameters, running statistics and a training flag around ``bn.norms``.

Conventions follow PyTorch so a reader can compare with ``torch.nn`` number for
number. The math is in :mod:`bn.norms`; which implementation runs is chosen by
:mod:`bn.kernels`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _checks, kernels, norms
from .backend import Array, get_array_module
from .module import Module


class _AffineNorm(Module):
    """Shared by the four norms: optional learnable ``gamma`` and ``beta``."""

    def __init__(self, shape: tuple[int, ...], eps: float, affine: bool, dtype) -> None:
        super().__init__()
        where = type(self).__name__
        eps = _checks.check_eps(where, eps)
        affine = _checks.check_bool(where, "affine", affine)
        dtype = _checks.check_dtype(where, dtype)
        self.eps, self.affine, self.shape, self.dtype = eps, affine, shape, dtype
        if affine:
            self.params = {"gamma": np.ones(shape, dtype), "beta": np.zeros(shape, dtype)}
        self._cache: kernels.Cache | None = None

    def _gamma_beta(self, x: Array) -> tuple[Array, Array]:
        if self.affine:
            return self.params["gamma"], self.params["beta"]
        xp = get_array_module(x)  # fixed gamma = 1, beta = 0 on x's device
        return xp.ones(self.shape, self.dtype), xp.zeros(self.shape, self.dtype)

    def _check_channels(self, x: Array) -> None:
        where = type(self).__name__
        _checks.check_rank(where, x, 2, "(N, C, *)")
        if x.shape[1] != self.shape[0]:
            raise ValueError(
                f"{where}: expected x with {self.shape[0]} channels on axis 1 "
                f"(the layer was built for {self.shape[0]}), got shape {x.shape}"
            )

    def backward(self, dout: Array) -> Array:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward: call forward first")
        dx, dgamma, dbeta = kernels.normalize_backward(
            f"{type(self).__name__}.backward", dout, self._cache
        )
        if self.affine:
            self.grads = {"gamma": dgamma, "beta": dbeta}
        return dx


class BatchNorm(_AffineNorm):
    """Batch normalization over axis 1 of ``(N, C)`` or ``(N, C, *)`` inputs.

    Running statistics follow PyTorch, so results can be compared with
    ``torch.nn.BatchNorm1d/2d/3d``:

    - ``running = (1 - momentum) * running + momentum * batch``; ``momentum=0.1``
      is the weight of the new batch (Keras and Flax use 0.99 for the old value);
    - ``momentum=None`` is the cumulative average over all batches seen;
    - ``running_var`` averages the unbiased batch variance, m / (m - 1) * var,
      while the normalization itself uses the biased one; it starts at ones.

    In eval mode the running estimates are used, unless ``track_running_stats`` is
    False, in which case batch statistics are used in both modes.
    """

    buffer_names = ("running_mean", "running_var", "num_batches_tracked")

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype=np.float32,
    ) -> None:
        _checks.check_positive_int("BatchNorm", "num_features", num_features)
        super().__init__((num_features,), eps, affine, dtype)
        momentum = _checks.check_momentum("BatchNorm", momentum)
        track_running_stats = _checks.check_bool(
            "BatchNorm", "track_running_stats", track_running_stats
        )
        self.num_features, self.momentum = num_features, momentum
        self.track_running_stats = track_running_stats
        self.buffer_names = BatchNorm.buffer_names if track_running_stats else ()
        if track_running_stats:
            self.running_mean = np.zeros(num_features, dtype)
            self.running_var = np.ones(num_features, dtype)
            self.num_batches_tracked = 0

    def forward(self, x: Array) -> Array:
        self._check_channels(x)
        gamma, beta = self._gamma_beta(x)
        if not self.training and self.track_running_stats:
            # The running statistics are constants here: backward is that of an affine map.
            out, self._cache = kernels.batchnorm_inference_forward(
                x, gamma, beta, self.running_mean, self.running_var, self.eps
            )
            return out
        out, self._cache = kernels.batchnorm_forward(x, gamma, beta, self.eps)
        if self.training and self.track_running_stats:
            self._update_running_stats(x.size // x.shape[1])
        return out

    def _update_running_stats(self, m: int) -> None:
        self.num_batches_tracked += 1
        # momentum=None: the cumulative average, each batch weighted 1 / (batches seen).
        weight = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
        batch_mean = self._cache.mean.reshape(-1)  # (C,)
        unbiased_var = self._cache.var.reshape(-1) * (m / (m - 1))  # (C,)
        dtype = self.running_mean.dtype
        self.running_mean = ((1 - weight) * self.running_mean + weight * batch_mean).astype(dtype)
        self.running_var = ((1 - weight) * self.running_var + weight * unbiased_var).astype(dtype)


class LayerNorm(_AffineNorm):
    """Layer normalization over the trailing ``normalized_shape`` axes.

    Same computation in training and eval mode: it uses no batch statistics.
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        dtype=np.float32,
    ) -> None:
        normalized_shape = _normalized_shape(normalized_shape)
        super().__init__(normalized_shape, eps, elementwise_affine, dtype)
        self.normalized_shape = normalized_shape

    def forward(self, x: Array) -> Array:
        _checks.check_rank("LayerNorm", x, len(self.shape), f"(*, {self.shape})")
        if tuple(x.shape[x.ndim - len(self.shape) :]) != self.shape:
            raise ValueError(
                f"LayerNorm: expected x ending in normalized_shape {self.shape}, got shape {x.shape}"
            )
        gamma, beta = self._gamma_beta(x)
        out, self._cache = norms.layernorm_forward(x, gamma, beta, self.eps)
        return out


def _normalized_shape(normalized_shape: object) -> tuple[int, ...]:
    """``normalized_shape`` as a tuple of positive ints, as ``torch.nn.LayerNorm`` takes it."""
    where = "LayerNorm"
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    # A str would iterate over its characters, a 0-d array not at all.
    iterable = not isinstance(normalized_shape, (str, bytes))
    iterable = iterable and getattr(normalized_shape, "ndim", 1) != 0
    try:
        sizes = tuple(normalized_shape) if iterable else None
    except TypeError:
        sizes = None
    if sizes is None:
        raise TypeError(
            f"{where}: expected normalized_shape to be an int or a tuple of ints, "
            f"got {type(normalized_shape).__name__}"
        )
    for size in sizes:
        _checks.check_positive_int(where, "normalized_shape", size)
    if not sizes:
        raise ValueError(f"{where}: expected a non-empty normalized_shape, got ()")
    sizes = tuple(int(size) for size in sizes)
    if math.prod(sizes) == 1:  # x_hat would be 0 whatever x is; see bn.layernorm_forward
        raise ValueError(
            f"{where}: expected more than 1 value per sample (the normalized_shape axes), "
            f"got normalized_shape={sizes}"
        )
    return sizes


class GroupNorm(_AffineNorm):
    """Group normalization with ``num_groups`` groups of channels (Wu and He, 2018).

    Same computation in training and eval mode: it uses no batch statistics.
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        dtype=np.float32,
    ) -> None:
        _checks.check_positive_int("GroupNorm", "num_channels", num_channels)
        _checks.check_num_groups("GroupNorm", num_groups, num_channels)
        super().__init__((num_channels,), eps, affine, dtype)
        self.num_groups, self.num_channels = num_groups, num_channels

    def forward(self, x: Array) -> Array:
        self._check_channels(x)
        gamma, beta = self._gamma_beta(x)
        out, self._cache = norms.groupnorm_forward(x, gamma, beta, self.num_groups, self.eps)
        return out


class InstanceNorm(_AffineNorm):
    """Instance normalization of ``(N, C, *)`` inputs.

    As in PyTorch, ``affine`` defaults to False and no running statistics are kept,
    so training and eval mode compute the same thing.
    """

    def __init__(
        self, num_features: int, eps: float = 1e-5, affine: bool = False, dtype=np.float32
    ) -> None:
        _checks.check_positive_int("InstanceNorm", "num_features", num_features)
        super().__init__((num_features,), eps, affine, dtype)
        self.num_features = num_features

    def forward(self, x: Array) -> Array:
        self._check_channels(x)
        gamma, beta = self._gamma_beta(x)
        out, self._cache = norms.instancenorm_forward(x, gamma, beta, self.eps)
        return out
