"""Two-dimensional convolution (cross-correlation, as in every deep learning library).

NCHW layout and weights of shape (C_out, C_in, kH, kW), as ``torch.nn.Conv2d``.
The forward pass is im2col written as a view: ``sliding_window_view`` lays every
(kH, kW) patch of the padded input next to the output position it feeds, without
copying, and one ``tensordot`` contracts the patches with the weights. The
backward pass adds the patch gradients back onto the input, one kernel offset at
a time (kH * kW vectorized steps, no loop over N or C).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

from . import _checks
from .backend import Array, get_array_module


class Conv2dCache(NamedTuple):
    """What :func:`conv2d_backward` needs."""

    windows: Array  # (N, C_in, H_out, W_out, kH, kW), a strided view of the padded x
    weight: Array  # (C_out, C_in, kH, kW)
    x_shape: tuple[int, ...]  # (N, C_in, H, W), before padding
    stride: int
    padding: int
    has_bias: bool  # whether the forward added a bias (then dbias is returned, else None)


def _check_conv_inputs(where, x, weight, bias, stride, padding):
    get_array_module(x, weight, bias)  # TypeError if NumPy and CuPy are mixed
    _checks.check_array(where, "x", x)
    _checks.check_array(where, "weight", weight)
    if x.ndim != 4:
        raise ValueError(f"{where}: expected x of shape (N, C_in, H, W), got shape {x.shape}")
    if weight.ndim != 4 or weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"{where}: expected weight of shape (C_out, C_in, kH, kW) with C_in = {x.shape[1]}, "
            f"got {weight.shape}"
        )
    if bias is not None:
        _checks.check_shape(where, "bias", bias, (weight.shape[0],), "(C_out,)")
    _checks.check_positive_int(where, "stride", stride)
    if isinstance(padding, bool) or not isinstance(padding, numbers.Integral) or padding < 0:
        raise ValueError(f"{where}: expected padding to be an int >= 0, got {padding!r}")
    padded = (x.shape[2] + 2 * padding, x.shape[3] + 2 * padding)
    if padded[0] < weight.shape[2] or padded[1] < weight.shape[3]:
        raise ValueError(
            f"{where}: expected the padded input size (H + 2 * padding, W + 2 * padding) = "
            f"{padded} to be at least the kernel size {tuple(weight.shape[2:])}"
        )


def conv2d_forward(
    x: Array, weight: Array, bias: Array | None = None, stride: int = 1, padding: int = 0
) -> tuple[Array, Conv2dCache]:
    """Convolution of NCHW input, as ``torch.nn.functional.conv2d``.

    ``out[n, o, i, j] = bias[o] + sum over c, k, l of
    weight[o, c, k, l] * x_pad[n, c, i * stride + k, j * stride + l]``, where
    ``x_pad`` is ``x`` with ``padding`` zeros on each side of H and W.

    Args:
        x: input of shape (N, C_in, H, W).
        weight: filters of shape (C_out, C_in, kH, kW).
        bias: shape (C_out,), or None (the usual choice before BN).
        stride: step between output positions, the same along H and W.
        padding: zeros added on each side of H and W.

    Returns:
        ``(out, cache)``: ``out`` has shape (N, C_out, H_out, W_out) with
        ``H_out = (H + 2 * padding - kH) // stride + 1`` and the same for W;
        ``cache`` is the input to :func:`conv2d_backward`.

    Raises:
        TypeError: if an input is not a floating-point array, or NumPy and CuPy mix.
        ValueError: if the shapes do not fit, ``stride < 1``, ``padding < 0``, or
            the kernel is larger than the padded input.
    """
    _check_conv_inputs("conv2d_forward", x, weight, bias, stride, padding)
    xp = get_array_module(x, weight, bias)
    p = padding
    x_pad = xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))  # (N, C_in, H + 2p, W + 2p)
    kernel = tuple(weight.shape[2:])  # (kH, kW)
    # NumPy >= 1.20 and CuPy >= 13 have sliding_window_view: a read-only view, no copy.
    windows = xp.lib.stride_tricks.sliding_window_view(x_pad, kernel, axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]  # (N, C_in, H_out, W_out, kH, kW), a view
    out = xp.tensordot(windows, weight, axes=((1, 4, 5), (1, 2, 3)))  # (N, H_out, W_out, C_out)
    out = xp.ascontiguousarray(out.transpose(0, 3, 1, 2))  # (N, C_out, H_out, W_out)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out, Conv2dCache(windows, weight, tuple(x.shape), stride, padding, bias is not None)


def conv2d_backward(dout: Array, cache: Conv2dCache) -> tuple[Array, Array, Array | None]:
    """Return ``(dx, dweight, dbias)`` for :func:`conv2d_forward`; ``dbias`` is None without bias.

    Args:
        dout: upstream gradient, shape (N, C_out, H_out, W_out).
        cache: the cache returned by the forward pass.
    """
    _checks.check_cache("conv2d_backward", cache, (Conv2dCache,))
    windows, weight, s, p = cache.windows, cache.weight, cache.stride, cache.padding
    n, _, h_out, w_out = windows.shape[:4]
    expected = (n, weight.shape[0], h_out, w_out)
    _checks.check_shape("conv2d_backward", "dout", dout, expected, "(N, C_out, H_out, W_out)")
    xp = get_array_module(dout, weight)
    dweight = xp.tensordot(dout, windows, axes=((0, 2, 3), (0, 2, 3)))  # (C_out, C_in, kH, kW)
    dbias = xp.sum(dout, axis=(0, 2, 3)) if cache.has_bias else None
    dwindows = xp.tensordot(dout, weight, axes=((1,), (0,)))  # (N, H_out, W_out, C_in, kH, kW)
    dwindows = dwindows.transpose(0, 3, 1, 2, 4, 5)  # (N, C_in, H_out, W_out, kH, kW)
    _, c_in, h, w = cache.x_shape
    dx_pad = xp.zeros((n, c_in, h + 2 * p, w + 2 * p), dtype=dwindows.dtype)
    # col2im: kernel offset (ki, kj) of output (i, j) read x_pad[i * s + ki, j * s + kj].
    # Patches overlap, so their gradients add up.
    for ki in range(weight.shape[2]):
        for kj in range(weight.shape[3]):
            rows = slice(ki, ki + s * (h_out - 1) + 1, s)
            cols = slice(kj, kj + s * (w_out - 1) + 1, s)
            dx_pad[:, :, rows, cols] += dwindows[..., ki, kj]
    dx = xp.ascontiguousarray(dx_pad[:, :, p : p + h, p : p + w])  # (N, C_in, H, W)
    return dx, dweight, dbias
