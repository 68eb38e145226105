"""Layers around the norms and Sequential: init, gradients, modes, state dicts, devices."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, assert_on_backend, random_arrays, to_numpy

import bn


def on(xp, layer):
    return layer.to("gpu") if xp.__name__ == "cupy" else layer


def layer_gradients_match_finite_differences(layer, x, dout):
    """dx and every d<param> of ``layer`` against centered differences."""
    layer.forward(x)
    dx = layer.backward(dout)
    assert_close(dx, bn.numerical_gradient(layer.forward, x, dout), rtol=1e-6, atol=1e-9)
    assert set(layer.grads) == set(layer.params)
    grads = dict(layer.grads)
    for name, value in list(layer.params.items()):

        def out_of(v, name=name):
            layer.params[name] = v
            return layer.forward(x)

        expected = bn.numerical_gradient(out_of, value.copy(), dout)
        layer.params[name] = value
        assert_close(grads[name], expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "make, x_shape, out_shape",
    [
        (lambda: bn.Linear(3, 4, rng=0, dtype=np.float64), (5, 3), (5, 4)),
        (lambda: bn.Linear(3, 4, bias=False, rng=0, dtype=np.float64), (5, 3), (5, 4)),
        (
            lambda: bn.Conv2d(2, 3, 3, stride=2, padding=1, rng=0, dtype=np.float64),
            (2, 2, 5, 4),
            (2, 3, 3, 2),
        ),
        (
            lambda: bn.Conv2d(2, 3, 2, bias=False, rng=0, dtype=np.float64),
            (1, 2, 3, 3),
            (1, 3, 2, 2),
        ),
        (lambda: bn.ReLU(), (4, 5), (4, 5)),
        (lambda: bn.Sigmoid(), (2, 3, 2, 2), (2, 3, 2, 2)),
        (lambda: bn.Tanh(), (4, 5), (4, 5)),
        (lambda: bn.Flatten(), (2, 3, 2, 2), (2, 12)),
    ],
    ids=["linear", "linear-no-bias", "conv", "conv-no-bias", "relu", "sigmoid", "tanh", "flatten"],
)
def test_layer_gradients_match_finite_differences(xp, make, x_shape, out_shape):
    layer = on(xp, make())
    x, dout = random_arrays(xp, x_shape, out_shape, seed=1)
    out = layer.forward(x)
    assert out.shape == out_shape
    assert_on_backend(xp, out)
    layer_gradients_match_finite_differences(layer, x, dout)


def small_cnn(rng=0):
    rng = np.random.default_rng(rng)
    return bn.Sequential(
        bn.Conv2d(1, 2, 3, padding=1, bias=False, rng=rng, dtype=np.float64),
        bn.BatchNorm(2, dtype=np.float64),
        bn.ReLU(),
        bn.Flatten(),
        bn.Linear(2 * 3 * 3, 4, bias=False, rng=rng, dtype=np.float64),
        bn.BatchNorm(4, dtype=np.float64),
        bn.Tanh(),
        bn.Linear(4, 3, rng=rng, dtype=np.float64),
    )


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_sequential_with_batchnorm_matches_finite_differences(xp, mode):
    model = on(xp, small_cnn())
    x, dout = random_arrays(xp, (3, 1, 3, 3), (3, 3), seed=2)
    model.forward(x)  # move the running statistics away from their start
    getattr(model, mode)()
    model.forward(x)
    dx = model.backward(dout)
    assert_close(dx, bn.numerical_gradient(model.forward, x, dout), rtol=1e-6, atol=1e-9)
    first = model[0]
    grad = first.grads["weight"]

    def out_of(v):
        first.params["weight"] = v
        return model.forward(x)

    expected = bn.numerical_gradient(out_of, first.params["weight"].copy(), dout)
    assert_close(grad, expected, rtol=1e-6, atol=1e-9)


def test_sequential_runs_forward_in_order_and_backward_in_reverse():
    calls = []

    class Spy(bn.Module):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def forward(self, x):
            calls.append(("forward", self.name))
            return x + 1

        def backward(self, dout):
            calls.append(("backward", self.name))
            return dout * 2

    model = bn.Sequential(Spy("a"), Spy("b"), Spy("c"))
    assert model.forward(np.zeros(1))[0] == 3
    assert model.backward(np.ones(1))[0] == 8
    assert calls == [("forward", "a"), ("forward", "b"), ("forward", "c")] + [
        ("backward", "c"),
        ("backward", "b"),
        ("backward", "a"),
    ]


def test_train_and_eval_reach_every_layer_also_nested():
    model = bn.Sequential(bn.Linear(2, 2), bn.Sequential(bn.BatchNorm(2), bn.ReLU()))
    assert len(list(model.modules())) == 5
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_linear_init_is_pytorch_default_and_reproducible():
    layer = bn.Linear(400, 30, rng=1)
    bound = 1 / np.sqrt(400)
    weight, bias = layer.params["weight"], layer.params["bias"]
    assert weight.shape == (30, 400) and bias.shape == (30,)
    assert weight.dtype == bias.dtype == np.float32
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.95 * bound
    assert abs(weight.std() - bound / np.sqrt(3)) < 0.05 * bound  # U(-b, b) has std b / sqrt(3)
    assert np.abs(bias).max() <= bound
    assert (bn.Linear(400, 30, rng=1).params["weight"] == weight).all()
    assert not (bn.Linear(400, 30, rng=2).params["weight"] == weight).all()
    assert "bias" not in bn.Linear(4, 3, bias=False).params


def test_conv_init_uses_fan_in_of_channels_times_kernel():
    layer = bn.Conv2d(8, 4, 3, rng=np.random.default_rng(0))
    bound = 1 / np.sqrt(8 * 3 * 3)
    assert layer.params["weight"].shape == (4, 8, 3, 3)
    assert bound * 0.9 < np.abs(layer.params["weight"]).max() <= bound


def test_one_generator_gives_different_layers_and_the_same_network_twice():
    a, b = small_cnn(rng=5), small_cnn(rng=5)
    first, second = a[4].params["weight"], a[7].params["weight"]
    assert not np.allclose(first[:3, :4], second[:3])
    for key, value in a.state_dict().items():
        assert (to_numpy(value) == to_numpy(b.state_dict()[key])).all()


def test_sequential_state_dict_keys_and_round_trip(xp):
    source = on(xp, small_cnn(rng=1))
    (x,) = random_arrays(xp, (4, 1, 3, 3), seed=3)
    source.forward(x)
    source.forward(x * 2 + 1)
    state = source.state_dict()
    assert list(state)[:5] == [
        "0.weight",
        "1.gamma",
        "1.beta",
        "1.running_mean",
        "1.running_var",
    ]
    assert "4.weight" in state and "7.bias" in state and "2.weight" not in state
    assert state["5.num_batches_tracked"] == 2
    target = small_cnn(rng=2)
    target.load_state_dict(state)
    source.eval(), target.eval()
    assert (to_numpy(source.forward(x)) == target.forward(np.asarray(to_numpy(x)))).all()


def test_sequential_load_state_dict_names_missing_and_wrong_keys():
    model = bn.Sequential(bn.Linear(2, 3), bn.BatchNorm(3))
    state = model.state_dict()
    state["2.weight"] = state.pop("1.running_var")
    with pytest.raises(ValueError, match=r"missing \['1.running_var'\], unexpected \['2.weight'\]"):
        model.load_state_dict(state)
    wrong = bn.Sequential(bn.Linear(2, 4), bn.BatchNorm(4)).state_dict()
    with pytest.raises(
        ValueError, match=r"Linear.load_state_dict: expected weight of shape \(3, 2\)"
    ):
        model.load_state_dict(wrong)


def test_sequential_to_reaches_every_layer():
    moved = []

    class Spy(bn.ReLU):
        def to(self, device):
            moved.append(device)
            return super().to(device)

    model = bn.Sequential(bn.Linear(2, 3), bn.Sequential(bn.BatchNorm(3), Spy()), Spy()).to("cpu")
    assert moved == ["cpu", "cpu"]
    assert all(m.device == "cpu" for m in model.modules())
    with pytest.raises(
        ValueError, match="Sequential.to: expected device 'cpu' or 'gpu', got 'tpu'"
    ):
        model.to("tpu")


@pytest.mark.gpu
def test_sequential_to_gpu_moves_every_array():
    cupy = pytest.importorskip("cupy")
    model = small_cnn().to("gpu")
    for layer in model.modules():
        for value in list(layer.params.values()) + [getattr(layer, "running_var", cupy.ones(1))]:
            assert isinstance(value, cupy.ndarray)


def test_repr_names_the_layers():
    model = bn.Sequential(bn.Conv2d(1, 2, 3, padding=1, bias=False), bn.BatchNorm(2), bn.ReLU())
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 2, kernel_size=3, stride=1, padding=1, bias=False)\n"
        "  (1): BatchNorm(gamma=(2,), beta=(2,))\n"
        "  (2): ReLU()\n"
        ")"
    )


def test_backward_assigns_gradients_and_needs_a_forward_first():
    layer = bn.Linear(3, 2, rng=0, dtype=np.float64)
    with pytest.raises(RuntimeError, match=r"Linear.backward: call forward first"):
        layer.backward(np.ones((1, 2)))
    x, dout = random_arrays(np, (4, 3), (4, 2))
    layer.forward(x)
    layer.backward(dout)
    first = layer.grads["weight"].copy()
    layer.backward(dout)
    assert (layer.grads["weight"] == first).all()


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: bn.Linear(0, 3),
            ValueError,
            r"Linear: expected in_features > 0, got in_features=0",
        ),
        (
            lambda: bn.Linear(3, 2, dtype=np.int32),
            TypeError,
            r"Linear: expected a floating dtype \(float16, float32 or float64\), got int32",
        ),
        (
            lambda: bn.Linear(3, 2).forward(np.ones((4, 5))),
            ValueError,
            r"Linear: expected x of shape \(N, 3\), got \(4, 5\)",
        ),
        (
            lambda: bn.Conv2d(3, 2, 0),
            ValueError,
            r"Conv2d: expected kernel_size > 0, got kernel_size=0",
        ),
        (
            lambda: bn.Conv2d(3, 2, 3, padding=-1),
            ValueError,
            r"Conv2d: expected padding to be an int >= 0",
        ),
        (
            lambda: bn.Conv2d(3, 2, 3).forward(np.ones((1, 2, 5, 5))),
            ValueError,
            r"Conv2d: expected x of shape \(N, 3, H, W\), got \(1, 2, 5, 5\)",
        ),
        (
            lambda: bn.Flatten().forward(np.ones(())),
            ValueError,
            r"Flatten: expected x of shape \(N, \*\)",
        ),
        (
            lambda: bn.Sequential(bn.ReLU(), np.tanh),
            TypeError,
            r"Sequential: expected bn layers .* at position 1",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()
