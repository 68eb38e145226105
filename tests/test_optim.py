"""Optimizers: hand-written updates, PyTorch's trajectories, write-back, errors."""

from __future__ import annotations

import decimal
import fractions

import numpy as np
import pytest
from conftest import assert_close, assert_on_backend, to_numpy

import bn


def on(xp, layer):
    return layer.to("gpu") if xp.__name__ == "cupy" else layer


def model64(xp):
    return on(
        xp,
        bn.Sequential(bn.Linear(3, 4, rng=0, dtype=np.float64), bn.BatchNorm(4, dtype=np.float64)),
    )


def pairs(model):
    return [(layer, name) for layer in model.modules() for name in layer.params]


def set_random_grads(xp, model, rng):
    """Gradients as a backward pass would assign them; returns them as NumPy arrays."""
    grads = []
    for layer, name in pairs(model):
        g = rng.standard_normal(layer.params[name].shape)
        layer.grads[name] = xp.asarray(g)
        grads.append(g)
    return grads


def test_sgd_with_momentum_and_weight_decay_follows_the_formula(xp):
    model = model64(xp)
    lr, momentum, wd = 0.1, 0.9, 0.01
    opt = bn.SGD(model, lr=lr, momentum=momentum, weight_decay=wd)
    params = [to_numpy(layer.params[name]).copy() for layer, name in pairs(model)]
    velocity = [np.zeros_like(p) for p in params]
    rng = np.random.default_rng(0)
    for _ in range(4):
        grads = set_random_grads(xp, model, rng)
        opt.step()
        for i, g in enumerate(grads):
            velocity[i] = momentum * velocity[i] + (g + wd * params[i])
            params[i] = params[i] - lr * velocity[i]
    for (layer, name), expected in zip(pairs(model), params):
        assert_on_backend(xp, layer.params[name])
        assert_close(layer.params[name], expected, rtol=1e-12)


def test_plain_sgd_is_one_gradient_step():
    layer = bn.Linear(2, 2, rng=0)
    before = layer.params["weight"].copy()
    layer.grads = {"weight": np.ones((2, 2), np.float32), "bias": np.zeros(2, np.float32)}
    bn.SGD(layer, lr=0.5).step()
    assert_close(layer.params["weight"], before - 0.5, rtol=0, atol=0)


TORCH_CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-2, "nesterov": True}),
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-3, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 1e-2}),
]


@pytest.mark.parametrize("kind, config", TORCH_CONFIGS)
def test_trajectory_matches_torch_optim(xp, kind, config):
    torch = pytest.importorskip("torch")
    model = model64(xp)
    ours = getattr(bn, kind)(model, **config)
    tensors = [torch.tensor(to_numpy(layer.params[name]).copy()) for layer, name in pairs(model)]
    for t in tensors:
        t.requires_grad_(True)
    theirs = getattr(torch.optim, kind)(tensors, **config)
    rng = np.random.default_rng(1)
    for _ in range(5):
        grads = set_random_grads(xp, model, rng)
        for t, g in zip(tensors, grads):
            t.grad = torch.tensor(g)
        ours.step()
        theirs.step()
    for (layer, name), t in zip(pairs(model), tensors):
        assert_close(layer.params[name], t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_adam_first_step_moves_each_entry_by_about_lr():
    layer = bn.Linear(3, 2, rng=0, dtype=np.float64)
    before = layer.params["weight"].copy()
    layer.grads = {"weight": np.array([[1e-3, -5.0, 2.0], [1.0, -1.0, 1e3]]), "bias": np.ones(2)}
    bn.Adam(layer, lr=0.01).step()
    # With bias correction, m / sqrt(v) = g / |g| at step 1: every entry moves by lr.
    assert_close(before - layer.params["weight"], 0.01 * np.sign(layer.grads["weight"]), rtol=1e-5)


def test_the_optimizer_writes_new_arrays_and_follows_replaced_ones():
    layer = bn.Linear(2, 2, bias=False, rng=0, dtype=np.float64)
    opt = bn.SGD(layer, lr=0.1, momentum=0.5)
    held = layer.params["weight"]
    held_before = held.copy()
    layer.grads = {"weight": np.ones((2, 2))}
    opt.step()
    assert layer.params["weight"] is not held and (held == held_before).all()
    replaced = np.full((2, 2), 3.0)
    layer.load_state_dict({"weight": replaced})  # the layer swaps in a new array
    opt.step()  # velocity 0.5 * 1 + 1 = 1.5 applies to the new array
    assert_close(layer.params["weight"], replaced - 0.1 * 1.5, rtol=1e-12)


def test_parameters_without_gradients_are_left_alone():
    model = bn.Sequential(bn.Linear(2, 3, rng=0), bn.Linear(3, 1, rng=1))
    before = model[1].params["weight"].copy()
    model[0].grads = {"weight": np.ones((3, 2), np.float32), "bias": np.ones(3, np.float32)}
    bn.Adam(model).step()
    assert (model[1].params["weight"] == before).all()
    assert not (model[0].params["bias"] == bn.Linear(2, 3, rng=0).params["bias"]).any()


def test_float32_parameters_stay_float32_with_float64_gradients():
    layer = bn.Linear(2, 2, rng=0)
    layer.grads = {"weight": np.ones((2, 2)), "bias": np.ones(2)}
    for opt in (bn.SGD(layer, lr=0.1, momentum=0.9), bn.Adam(layer)):
        opt.step()
        assert layer.params["weight"].dtype == layer.params["bias"].dtype == np.float32


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: bn.SGD(bn.ReLU(), lr=0.1),
            ValueError,
            r"SGD: expected a model with parameters, got none",
        ),
        (lambda: bn.SGD([np.ones(2)], lr=0.1), TypeError, r"SGD: expected a bn Module, got list"),
        (lambda: bn.SGD(bn.Linear(2, 2), lr=-1), ValueError, r"SGD: expected lr >= 0.0, got lr=-1"),
        (
            lambda: bn.SGD(bn.Linear(2, 2), lr="0.1"),
            TypeError,
            r"SGD: expected lr to be a float, got str",
        ),
        (
            lambda: bn.SGD(bn.Linear(2, 2), lr=0.1, momentum=-0.9),
            ValueError,
            r"expected momentum >= 0.0",
        ),
        (
            lambda: bn.SGD(bn.Linear(2, 2), lr=0.1, nesterov=True),
            ValueError,
            r"momentum > 0 for nesterov",
        ),
        (
            lambda: bn.Adam(bn.Linear(2, 2), betas=(0.9, 1.0)),
            ValueError,
            r"Adam: expected betas\[1\] in \[0.0, 1.0\), got betas\[1\]=1.0",
        ),
        (
            lambda: bn.Adam(bn.Linear(2, 2), weight_decay=-1e-4),
            ValueError,
            r"expected weight_decay >= 0.0",
        ),
        # Fraction and Decimal are refused as everywhere in bn (a Fraction times an array
        # is an array of Python objects); so are infinities.
        (
            lambda: bn.SGD(bn.Linear(2, 2), lr=fractions.Fraction(1, 10)),
            TypeError,
            r"SGD: expected lr to be a float, got Fraction",
        ),
        (
            lambda: bn.Adam(bn.Linear(2, 2), eps=decimal.Decimal("1e-8")),
            TypeError,
            r"Adam: expected eps to be a float, got Decimal",
        ),
        (
            lambda: bn.SGD(bn.Linear(2, 2), lr=float("inf")),
            ValueError,
            r"SGD: expected lr >= 0.0, got lr=inf",
        ),
        (
            lambda: bn.SGD(bn.Linear(2, 2), lr=0.1, momentum=0.9, nesterov="yes"),
            TypeError,
            r"SGD: expected nesterov to be True or False, got 'yes'",
        ),
    ],
)
def test_bad_hyperparameters_get_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()
