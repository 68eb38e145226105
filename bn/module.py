"""``Module``, the base class of every layer, and ``Sequential``, which stacks layers.

A layer's ``forward(x)`` keeps its cache on ``self``; ``backward(dout)`` returns
``dx`` and sets (does not add to) ``self.grads``. Parameters, buffers (running
statistics), train/eval mode, state dicts and devices are handled here once, for
every layer.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import _checks
from .backend import DEVICES, Array, to_device


class Module:
    """Base class: ``params``, ``grads``, buffers, train/eval, state dicts and devices.

    Subclasses list the names of their non-trainable arrays (running statistics)
    in ``buffer_names``; ``state_dict`` holds the parameters and those buffers.
    """

    buffer_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.training = True
        self.device = "cpu"

    def __repr__(self) -> str:
        shapes = ", ".join(f"{name}={tuple(value.shape)}" for name, value in self.params.items())
        return f"{type(self).__name__}({shapes})"

    def forward(self, x: Array) -> Array:
        raise NotImplementedError

    def backward(self, dout: Array) -> Array:
        raise NotImplementedError

    def __call__(self, x: Array) -> Array:
        return self.forward(x)

    def modules(self) -> Iterator[Module]:
        """This module and every module inside it, depth first; a plain layer is just itself.

        Optimizers walk it to reach every ``(layer, name)`` pair of ``layer.params``.
        """
        yield self

    def train(self) -> Module:
        """Switch to training mode (batch statistics); returns ``self``."""
        self.training = True
        return self

    def eval(self) -> Module:
        """Switch to evaluation mode (running statistics where the layer has them)."""
        self.training = False
        return self

    def state_dict(self) -> dict[str, object]:
        """Copies of the parameters and buffers, keyed by name."""
        state = {name: value.copy() for name, value in self.params.items()}
        for name in self.buffer_names:
            value = getattr(self, name)
            state[name] = value.copy() if hasattr(value, "copy") else value
        return state

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Load what ``state_dict`` returned, checking names, shapes and keeping dtypes.

        Raises:
            TypeError: if ``state`` is not a dict, or an entry is not an array of numbers
                (a count not an int).
            ValueError: if names are missing or unexpected, or a shape differs.
        """
        where = f"{type(self).__name__}.load_state_dict"
        expected = self.state_dict()
        _checks.check_state_keys(where, expected, state)
        for name, current in expected.items():  # check every entry before loading any
            if hasattr(current, "shape"):
                _checks.check_state_array(where, name, state[name], current.shape)
            else:  # a count such as num_batches_tracked
                _checks.check_count(where, name, state[name])
        for name, current in expected.items():
            value = state[name]
            if not hasattr(current, "shape"):
                setattr(self, name, _checks.check_count(where, name, value))
                continue
            loaded = to_device(value, self.device).astype(current.dtype, copy=True)
            if name in self.params:
                self.params[name] = loaded
            else:
                setattr(self, name, loaded)

    def to(self, device: str) -> Module:
        """Move parameters, gradients and buffers to 'cpu' (NumPy) or 'gpu' (CuPy)."""
        self.params = {k: to_device(v, device) for k, v in self.params.items()}
        self.grads = {k: to_device(v, device) for k, v in self.grads.items()}
        for name in self.buffer_names:
            value = getattr(self, name)
            if hasattr(value, "shape"):
                setattr(self, name, to_device(value, device))
        self.device = device
        return self


class Sequential(Module):
    """Layers applied in order; ``backward`` runs them in reverse.

    ``train()``, ``eval()`` and ``to(device)`` reach every layer. The state dict
    prefixes each layer's keys with its position, as PyTorch does: ``"0.weight"``,
    ``"1.gamma"``, ``"1.running_mean"``.
    """

    def __init__(self, *layers: Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"Sequential: expected bn layers (Module), got {type(layer).__name__} "
                    f"at position {i}"
                )
        super().__init__()
        self.layers = list(layers)

    def __repr__(self) -> str:
        lines = [f"  ({i}): {layer!r}".replace("\n", "\n  ") for i, layer in enumerate(self)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def forward(self, x: Array) -> Array:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: Array) -> Array:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def modules(self) -> Iterator[Module]:
        yield self
        for layer in self.layers:
            yield from layer.modules()

    def train(self) -> Sequential:
        self.training = True
        for layer in self.layers:
            layer.train()
        return self

    def eval(self) -> Sequential:
        self.training = False
        for layer in self.layers:
            layer.eval()
        return self

    def state_dict(self) -> dict[str, object]:
        """Every layer's state dict, keys prefixed with the layer's position: ``"1.gamma"``."""
        return {
            f"{i}.{name}": value
            for i, layer in enumerate(self.layers)
            for name, value in layer.state_dict().items()
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Load what ``state_dict`` returned; each layer checks its own shapes.

        Raises:
            ValueError: if keys are missing or unexpected, or a shape differs.
        """
        _checks.check_state_keys("Sequential.load_state_dict", self.state_dict(), state)
        for i, layer in enumerate(self.layers):
            prefix = f"{i}."
            own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            layer.load_state_dict(own)

    def to(self, device: str) -> Sequential:
        """Move every layer to 'cpu' (NumPy) or 'gpu' (CuPy)."""
        if device not in DEVICES:
            raise ValueError(f"Sequential.to: expected device 'cpu' or 'gpu', got {device!r}")
        for layer in self.layers:
            layer.to(device)
        self.device = device
        return self
