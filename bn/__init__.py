"""bn: batch normalization and its relatives, written to be read next to the book.

NumPy arrays run on the CPU, CuPy arrays on the GPU; the array you pass decides.
"""

from .backend import Array, get_array_module, to_device
from .dispatch import batchnorm_backward, batchnorm_forward  # fast path for NumPy arrays
from .gradcheck import numerical_gradient, rel_error
from .layers import BatchNorm, GroupNorm, InstanceNorm, LayerNorm, Module
from .norms import (
    NormCache,
    batchnorm_inference,
    groupnorm_backward,
    groupnorm_forward,
    instancenorm_backward,
    instancenorm_forward,
    layernorm_backward,
    layernorm_forward,
)

__version__ = "0.1.0"

__all__ = [
    "Array",
    "BatchNorm",
    "GroupNorm",
    "InstanceNorm",
    "LayerNorm",
    "Module",
    "NormCache",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "get_array_module",
    "groupnorm_backward",
    "groupnorm_forward",
    "instancenorm_backward",
    "instancenorm_forward",
    "layernorm_backward",
    "layernorm_forward",
    "numerical_gradient",
    "rel_error",
    "to_device",
]
