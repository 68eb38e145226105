"""Optimizers with PyTorch's update rules, so a run here can be compared with ``torch.optim``.

An optimizer walks ``model.modules()`` once and remembers every ``(layer, name)``
pair of ``layer.params``. Each ``step()`` reads ``layer.params[name]`` and
``layer.grads[name]`` afresh and writes a *new* array back to
``layer.params[name]``: layers may replace their arrays (``load_state_dict``,
``to("gpu")``), so nothing here holds on to a parameter array. Its own state
(velocities, moments) is kept by the pair's position in that list.

Call ``step()`` after ``model.backward``; there is no ``zero_grad``, since a
backward pass assigns the gradients rather than adding to them. Move the model
(``model.to("gpu")``) before the first step: the state is created on the
parameters' device then.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from . import _checks
from .backend import Array, get_array_module
from .module import Module


class Optimizer:
    """Shared by the optimizers: the ``(layer, name)`` pairs and the weight-decay step.

    Args:
        model: a layer or a ``Sequential``; its parameters are found once, here.
        lr: learning rate; may be changed between steps (``optimizer.lr = ...``).
        weight_decay: L2 penalty, added to the gradient as ``weight_decay * param``.
    """

    def __init__(self, model: Module, lr: float, weight_decay: float) -> None:
        where = type(self).__name__
        if not isinstance(model, Module):
            raise TypeError(f"{where}: expected a bn Module, got {type(model).__name__}")
        lr = _checks.check_real(where, "lr", lr)
        weight_decay = _checks.check_real(where, "weight_decay", weight_decay)
        self.slots = [(layer, name) for layer in model.modules() for name in layer.params]
        if not self.slots:
            raise ValueError(f"{where}: expected a model with parameters, got none in {model!r}")
        self.lr, self.weight_decay = lr, weight_decay

    def step(self) -> None:
        """Update every parameter that has a gradient, from the last ``backward``."""
        for i, (layer, name) in enumerate(self.slots):
            if name not in layer.grads:  # the layer has not been through backward yet
                continue
            param, grad = layer.params[name], layer.grads[name]
            get_array_module(param, grad)  # TypeError if they are on different devices
            if self.weight_decay:
                grad = grad + self.weight_decay * param
            layer.params[name] = self._update(i, param, grad).astype(param.dtype, copy=False)

    def _update(self, i: int, param: Array, grad: Array) -> Array:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as ``torch.optim.SGD`` (no dampening).

    ``v = momentum * v + g`` (with ``v = g`` on the first step) and
    ``param = param - lr * v``, where ``g`` includes ``weight_decay * param``.
    With ``nesterov=True`` the step uses ``g + momentum * v`` instead of ``v``.
    """

    def __init__(
        self,
        model: Module,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(model, lr, weight_decay)
        momentum = _checks.check_real("SGD", "momentum", momentum)
        nesterov = _checks.check_bool("SGD", "nesterov", nesterov)
        if nesterov and momentum == 0:
            raise ValueError("SGD: expected momentum > 0 for nesterov=True, got momentum=0")
        self.momentum, self.nesterov = momentum, nesterov
        self.velocity: list[Array | None] = [None] * len(self.slots)

    def _update(self, i, param, grad):
        if self.momentum:
            v = self.velocity[i]
            v = grad if v is None else self.momentum * v + grad
            self.velocity[i] = v
            grad = grad + self.momentum * v if self.nesterov else v
        return param - self.lr * grad


class AdamState(NamedTuple):
    """Per-parameter state of :class:`Adam`."""

    step: int  # updates made so far, t
    m: Array  # first moment, the average of g
    v: Array  # second moment, the average of g * g


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015), as ``torch.optim.Adam`` with its defaults.

    ``m = b1 * m + (1 - b1) * g``, ``v = b2 * v + (1 - b2) * g^2``, and
    ``param -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    ``weight_decay`` is added to the gradient (L2, not AdamW's decoupled decay).
    """

    def __init__(
        self,
        model: Module,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(model, lr, weight_decay)
        if not isinstance(betas, (tuple, list)):
            raise TypeError(f"Adam: expected betas = (beta1, beta2), got {betas!r}")
        if len(betas) != 2:
            raise ValueError(f"Adam: expected betas = (beta1, beta2), got {betas!r}")
        betas = (
            _checks.check_real("Adam", "betas[0]", betas[0], 0.0, 1.0),
            _checks.check_real("Adam", "betas[1]", betas[1], 0.0, 1.0),
        )
        eps = _checks.check_real("Adam", "eps", eps)
        self.betas, self.eps = betas, eps
        self.state: list[AdamState | None] = [None] * len(self.slots)

    def _update(self, i, param, grad):
        beta1, beta2 = self.betas
        xp = get_array_module(param, grad)
        state = self.state[i]
        if state is None:
            state = AdamState(0, xp.zeros_like(param), xp.zeros_like(param))
        t = state.step + 1
        m = beta1 * state.m + (1 - beta1) * grad
        v = beta2 * state.v + (1 - beta2) * grad * grad
        self.state[i] = AdamState(t, m, v)
        step_size = self.lr / (1 - beta1**t)  # bias corrections, in PyTorch's order
        denom = xp.sqrt(v) / math.sqrt(1 - beta2**t) + self.eps
        return param - step_size * m / denom
