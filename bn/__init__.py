"""bn: batch normalization and its relatives, written to be read next to the book.

NumPy arrays run on the CPU, CuPy arrays on the GPU; the array you pass decides.
"""

from .backend import Array, get_array_module, to_device
from .check import (
    CheckResult,
    check_batchnorm_backward,
    check_batchnorm_forward,
    check_function,
    check_layernorm_backward,
    check_layernorm_forward,
)
from .conv import Conv2dCache, conv2d_backward, conv2d_forward
from .data import load_digits, load_mnist1d
from .gradcheck import numerical_gradient, rel_error
from .kernels import (  # fast paths for NumPy arrays
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
)
from .layers import Conv2d, Flatten, Linear, ReLU, Sigmoid, Tanh
from .module import Module, Sequential
from .norm_layers import BatchNorm, GroupNorm, InstanceNorm, LayerNorm
from .norms import (
    NormCache,
    groupnorm_backward,
    groupnorm_forward,
    instancenorm_backward,
    instancenorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from .ops import (
    ActivationCache,
    LinearCache,
    linear_backward,
    linear_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_cross_entropy,
    tanh_backward,
    tanh_forward,
)
from .optim import SGD, Adam, Optimizer
from .train import Evaluation, batches, evaluate, fit, train_epoch

__version__ = "0.1.0"

__all__ = [
    "SGD",
    "ActivationCache",
    "Adam",
    "Array",
    "BatchNorm",
    "CheckResult",
    "Conv2d",
    "Conv2dCache",
    "Evaluation",
    "Flatten",
    "GroupNorm",
    "InstanceNorm",
    "LayerNorm",
    "Linear",
    "LinearCache",
    "Module",
    "NormCache",
    "Optimizer",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "batches",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "check_batchnorm_backward",
    "check_batchnorm_forward",
    "check_function",
    "check_layernorm_backward",
    "check_layernorm_forward",
    "conv2d_backward",
    "conv2d_forward",
    "evaluate",
    "fit",
    "get_array_module",
    "groupnorm_backward",
    "groupnorm_forward",
    "instancenorm_backward",
    "instancenorm_forward",
    "layernorm_backward",
    "layernorm_forward",
    "linear_backward",
    "linear_forward",
    "load_digits",
    "load_mnist1d",
    "numerical_gradient",
    "rel_error",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax_cross_entropy",
    "tanh_backward",
    "tanh_forward",
    "to_device",
    "train_epoch",
]
