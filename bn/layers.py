"""The layers the experiments stack around the norms: Linear, Conv2d, activations, Flatten.

Each layer wraps the functions of ``ops`` and ``conv`` the way the norm layers wrap
``norms``: ``forward(x)`` keeps its cache on ``self``, ``backward(dout)`` returns
``dx`` and assigns ``self.grads``. Initialization is PyTorch's default, so that a
network here starts from the same distribution as its ``torch.nn`` twin.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _checks, conv, ops
from .backend import Array
from .module import Module

Rng = int | np.random.Generator | None  # a seed, a generator, or None for a fresh seed


def _init_params(where, weight_shape, fan_in, bias, rng, dtype):
    """PyTorch's default: Kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    The bias is drawn from the same interval. ``rng`` makes the draw reproducible:
    pass one ``np.random.default_rng(seed)`` to every layer of a network.
    """
    dtype = _checks.check_dtype(where, dtype)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    bound = 1.0 / np.sqrt(fan_in)
    params = {"weight": rng.uniform(-bound, bound, weight_shape).astype(dtype)}
    if bias:
        params["bias"] = rng.uniform(-bound, bound, weight_shape[0]).astype(dtype)
    return params


def _cache_of(layer):
    if layer._cache is None:
        raise RuntimeError(f"{type(layer).__name__}.backward: call forward first")
    return layer._cache


def _set_grads(layer, dweight, dbias):
    layer.grads = {"weight": dweight} if dbias is None else {"weight": dweight, "bias": dbias}


class Linear(Module):
    """Affine layer ``x @ weight.T + bias`` with weight (out_features, in_features).

    Use ``bias=False`` before a BatchNorm: the normalization subtracts the mean,
    and the bias with it, so the bias would only waste a parameter.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        rng: Rng = None,
        dtype=np.float32,
    ) -> None:
        _checks.check_positive_int("Linear", "in_features", in_features)
        _checks.check_positive_int("Linear", "out_features", out_features)
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.params = _init_params(
            "Linear", (out_features, in_features), in_features, bias, rng, dtype
        )
        self._cache: ops.LinearCache | None = None

    def __repr__(self) -> str:
        bias = "bias" in self.params
        return f"Linear({self.in_features}, {self.out_features}, bias={bias})"

    def forward(self, x: Array) -> Array:
        _checks.check_array("Linear", "x", x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"Linear: expected x of shape (N, {self.in_features}), got {x.shape}")
        out, self._cache = ops.linear_forward(x, self.params["weight"], self.params.get("bias"))
        return out

    def backward(self, dout: Array) -> Array:
        dx, dweight, dbias = ops.linear_backward(dout, _cache_of(self))
        _set_grads(self, dweight, dbias)
        return dx


class Conv2d(Module):
    """2-D convolution of NCHW input with weight (out_channels, in_channels, k, k)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        rng: Rng = None,
        dtype=np.float32,
    ) -> None:
        for name, value in [("in_channels", in_channels), ("out_channels", out_channels)]:
            _checks.check_positive_int("Conv2d", name, value)
        _checks.check_positive_int("Conv2d", "kernel_size", kernel_size)
        _checks.check_positive_int("Conv2d", "stride", stride)
        if isinstance(padding, bool) or not isinstance(padding, numbers.Integral) or padding < 0:
            raise ValueError(f"Conv2d: expected padding to be an int >= 0, got {padding!r}")
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        fan_in = in_channels * kernel_size * kernel_size
        self.params = _init_params("Conv2d", shape, fan_in, bias, rng, dtype)
        self._cache: conv.Conv2dCache | None = None

    def __repr__(self) -> str:
        return (
            f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={'bias' in self.params})"
        )

    def forward(self, x: Array) -> Array:
        _checks.check_array("Conv2d", "x", x)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d: expected x of shape (N, {self.in_channels}, H, W), got {x.shape}"
            )
        weight, bias = self.params["weight"], self.params.get("bias")
        out, self._cache = conv.conv2d_forward(x, weight, bias, self.stride, self.padding)
        return out

    def backward(self, dout: Array) -> Array:
        dx, dweight, dbias = conv.conv2d_backward(dout, _cache_of(self))
        _set_grads(self, dweight, dbias)
        return dx


class _Activation(Module):
    """An elementwise function without parameters; subclasses name the two functions."""

    def __init__(self) -> None:
        super().__init__()
        self._cache: ops.ActivationCache | None = None

    def forward(self, x: Array) -> Array:
        out, self._cache = type(self)._forward(x)
        return out

    def backward(self, dout: Array) -> Array:
        return type(self)._backward(dout, _cache_of(self))


class ReLU(_Activation):
    """``max(x, 0)`` elementwise."""

    _forward, _backward = ops.relu_forward, ops.relu_backward


class Sigmoid(_Activation):
    """``1 / (1 + exp(-x))`` elementwise (the 2015 paper's Figure 1 network uses it)."""

    _forward, _backward = ops.sigmoid_forward, ops.sigmoid_backward


class Tanh(_Activation):
    """``tanh(x)`` elementwise."""

    _forward, _backward = ops.tanh_forward, ops.tanh_backward


class Flatten(Module):
    """Reshape ``(N, *)`` to ``(N, D)``, e.g. between the convolutions and the linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self._cache: tuple[int, ...] | None = None  # the input shape

    def forward(self, x: Array) -> Array:
        _checks.check_rank("Flatten", x, 1, "(N, *)")
        self._cache = tuple(x.shape)
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: Array) -> Array:
        shape = _cache_of(self)
        if dout.size != int(np.prod(shape)):
            raise ValueError(
                f"Flatten.backward: expected dout with as many entries as x {shape}, "
                f"got shape {dout.shape}"
            )
        return dout.reshape(shape)
