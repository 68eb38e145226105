"""Layers: running statistics, train/eval, state dicts, devices, and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import reference
from conftest import assert_close, assert_on_backend, random_arrays, to_numpy

import bn


def on(xp, layer):
    return layer.to("gpu") if xp.__name__ == "cupy" else layer


def batches(xp, shape, steps, seed=0):
    """Batches whose per-channel means and scales differ, so the running stats move."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    channel = (1, c) + (1,) * (len(shape) - 2)
    scale = np.arange(1, c + 1).reshape(channel)
    return [xp.asarray(rng.standard_normal(shape) * scale + 2.0 * scale) for _ in range(steps)]


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 4), (2, 3, 2, 3, 2)])
@pytest.mark.parametrize("momentum", [0.1, 0.5, 1.0, 0.0])
def test_running_stats_follow_the_exponential_average(xp, shape, momentum):
    layer = on(xp, bn.BatchNorm(3, momentum=momentum, dtype=np.float64))
    mean, var = np.zeros(3), np.ones(3)
    for x in batches(xp, shape, steps=4):
        layer.forward(x)
        batch_mean, _, batch_unbiased = reference.batch_stats(to_numpy(x))
        mean = (1 - momentum) * mean + momentum * batch_mean
        var = (1 - momentum) * var + momentum * batch_unbiased
        assert_on_backend(xp, layer.running_mean, layer.running_var)
        assert_close(layer.running_mean, mean, rtol=1e-12, atol=1e-12)
        assert_close(layer.running_var, var, rtol=1e-12, atol=1e-12)
    assert layer.num_batches_tracked == 4


def test_momentum_none_is_the_cumulative_average(xp):
    layer = on(xp, bn.BatchNorm(3, momentum=None, dtype=np.float64))
    stats = []
    for x in batches(xp, (6, 3, 2), steps=5, seed=1):
        layer.forward(x)
        stats.append(reference.batch_stats(to_numpy(x)))
    assert_close(layer.running_mean, np.mean([s[0] for s in stats], axis=0), rtol=1e-12)
    assert_close(layer.running_var, np.mean([s[2] for s in stats], axis=0), rtol=1e-12)


def test_running_stats_start_at_zero_mean_and_unit_variance():
    layer = bn.BatchNorm(4)
    assert (layer.running_mean == 0).all() and (layer.running_var == 1).all()
    assert layer.running_mean.dtype == layer.running_var.dtype == np.float32


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 4, 4), (1, 3, 1, 1)])
def test_eval_on_a_batch_of_one_uses_the_running_estimates(xp, shape):
    layer = on(xp, bn.BatchNorm(3, dtype=np.float64))
    for x in batches(xp, (5,) + shape[1:], steps=3):
        layer.forward(x)
    layer.params["gamma"] = xp.asarray([0.5, 2.0, -1.0])
    layer.params["beta"] = xp.asarray([0.1, 0.0, 3.0])
    (x,) = random_arrays(xp, shape, seed=9)
    out = layer.eval().forward(x)
    channel = (1, 3) + (1,) * (len(shape) - 2)
    g, b, m, v = (
        to_numpy(a).reshape(channel)
        for a in (
            layer.params["gamma"],
            layer.params["beta"],
            layer.running_mean,
            layer.running_var,
        )
    )
    assert_close(out, g * (to_numpy(x) - m) / np.sqrt(v + 1e-5) + b, rtol=1e-12, atol=1e-12)
    stats_before = to_numpy(layer.running_mean).copy()
    layer.forward(x)
    assert (to_numpy(layer.running_mean) == stats_before).all()  # eval never updates them


def test_eval_backward_treats_running_stats_as_constants(xp):
    layer = on(xp, bn.BatchNorm(3, dtype=np.float64))
    for x in batches(xp, (6, 3), steps=2):
        layer.forward(x)
    layer.eval()
    x, dout = random_arrays(xp, (4, 3), (4, 3), seed=10)
    layer.forward(x)
    dx = layer.backward(dout)
    expected = bn.numerical_gradient(layer.forward, x, dout)
    assert_close(dx, expected, rtol=1e-6, atol=1e-9)
    assert_close(layer.grads["beta"], to_numpy(dout).sum(axis=0), rtol=1e-12)


def test_without_running_stats_eval_uses_batch_statistics(xp):
    layer = on(xp, bn.BatchNorm(3, track_running_stats=False, dtype=np.float64))
    (x,) = random_arrays(xp, (6, 3, 2), seed=11)
    train_out = layer.forward(x)
    eval_out = layer.eval().forward(x)
    assert_close(eval_out, train_out, rtol=1e-12)
    assert set(layer.state_dict()) == {"gamma", "beta"}


@pytest.mark.parametrize(
    "make",
    [
        lambda: bn.BatchNorm(4, dtype=np.float64),
        lambda: bn.LayerNorm((4, 3, 2), dtype=np.float64),
        lambda: bn.GroupNorm(2, 4, dtype=np.float64),
        lambda: bn.InstanceNorm(4, affine=True, dtype=np.float64),
    ],
    ids=["batch", "layer", "group", "instance"],
)
def test_layer_backward_matches_finite_differences(xp, make):
    layer = on(xp, make())
    layer.params["gamma"] = layer.params["gamma"] * 1.5
    x, dout = random_arrays(xp, (2, 4, 3, 2), (2, 4, 3, 2), seed=12)
    layer.forward(x)
    dx = layer.backward(dout)
    dgamma = layer.grads["gamma"]
    assert_close(dx, bn.numerical_gradient(layer.forward, x, dout), rtol=1e-6, atol=1e-9)

    def out_of_gamma(gamma):
        layer.params["gamma"] = gamma
        return layer.forward(x)

    expected = bn.numerical_gradient(out_of_gamma, layer.params["gamma"].copy(), dout)
    assert_close(dgamma, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "layer",
    [bn.LayerNorm(5), bn.GroupNorm(1, 3), bn.InstanceNorm(3)],
    ids=["layer", "group", "instance"],
)
def test_norms_without_batch_statistics_are_the_same_in_train_and_eval(layer):
    (x,) = random_arrays(np, (2, 3, 4, 5), seed=13)
    assert_close(layer.train().forward(x), layer.eval().forward(x), rtol=0, atol=0)


def test_backward_assigns_gradients_instead_of_adding_them():
    layer = bn.BatchNorm(3, dtype=np.float64)
    x, dout = random_arrays(np, (5, 3), (5, 3), seed=14)
    layer.forward(x)
    layer.backward(dout)
    first = {k: v.copy() for k, v in layer.grads.items()}
    layer.forward(x)
    layer.backward(dout)
    for name in ("gamma", "beta"):
        assert (layer.grads[name] == first[name]).all()


def test_instancenorm_and_affine_false_have_no_parameters():
    layer = bn.InstanceNorm(3)  # affine=False by default, as in PyTorch
    (x, dout) = random_arrays(np, (2, 3, 4), (2, 3, 4), seed=15)
    layer.forward(x)
    layer.backward(dout)
    assert layer.params == {} and layer.grads == {} and layer.state_dict() == {}
    assert not bn.BatchNorm(3, affine=False).params


def test_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="call forward first"):
        bn.BatchNorm(3).backward(np.zeros((2, 3)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: bn.BatchNorm(3),
        lambda: bn.BatchNorm(3, momentum=None),
        lambda: bn.LayerNorm((3, 4)),
        lambda: bn.GroupNorm(3, 3),
        lambda: bn.InstanceNorm(3, affine=True),
    ],
    ids=["batch", "batch-cumulative", "layer", "group", "instance"],
)
def test_state_dict_round_trip_is_exact(xp, make):
    source = on(xp, make())
    rng = np.random.default_rng(16)
    for name in source.params:
        source.params[name] = xp.asarray(rng.standard_normal(source.params[name].shape), np.float32)
    for x in batches(xp, (4, 3, 4), steps=3):
        source.forward(x.astype(np.float32))
    state = source.state_dict()
    target = make()
    target.load_state_dict(state)
    assert set(target.state_dict()) == set(state)
    for name, value in target.state_dict().items():
        if hasattr(value, "dtype"):
            assert value.dtype == to_numpy(state[name]).dtype
        assert (to_numpy(value) == to_numpy(state[name])).all(), name
    (x,) = random_arrays(np, (2, 3, 4), seed=17, dtype=np.float32)
    source_out = source.eval().forward(xp.asarray(x))
    assert (to_numpy(source_out) == target.eval().forward(x)).all()


def test_state_dict_is_a_copy():
    layer = bn.BatchNorm(2)
    state = layer.state_dict()
    state["gamma"][0] = 7.0
    state["running_var"][0] = 7.0
    assert layer.params["gamma"][0] == 1.0 and layer.running_var[0] == 1.0


def test_load_state_dict_rejects_missing_keys_and_wrong_shapes():
    layer = bn.BatchNorm(3)
    state = layer.state_dict()
    del state["running_var"]
    with pytest.raises(ValueError, match=r"missing \['running_var'\]"):
        layer.load_state_dict(state)
    state = bn.BatchNorm(4).state_dict()
    with pytest.raises(ValueError, match=r"expected gamma of shape \(3,\), got \(4,\)"):
        layer.load_state_dict(state)


def test_to_cpu_keeps_numpy_and_rejects_unknown_devices():
    layer = bn.BatchNorm(3).to("cpu")
    assert isinstance(layer.running_mean, np.ndarray) and layer.device == "cpu"
    with pytest.raises(ValueError, match="expected device 'cpu' or 'gpu', got 'tpu'"):
        layer.to("tpu")


@pytest.mark.gpu
def test_to_gpu_and_back_gives_the_same_numbers():
    cupy = pytest.importorskip("cupy")
    if not cupy.cuda.is_available():
        pytest.skip("no CUDA device")
    cpu, gpu = bn.BatchNorm(3), bn.BatchNorm(3).to("gpu")
    for x in batches(np, (4, 3, 5), steps=2):
        x = x.astype(np.float32)
        out_cpu, out_gpu = cpu.forward(x), gpu.forward(cupy.asarray(x))
        assert isinstance(out_gpu, cupy.ndarray)
        np.testing.assert_allclose(out_gpu.get(), out_cpu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gpu.to("cpu").running_var, cpu.running_var, rtol=1e-6)
