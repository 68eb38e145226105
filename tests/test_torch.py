"""PyTorch as a second, independent oracle: same numbers, step for step.

Skipped when PyTorch is not installed; ``make test`` installs it where a wheel is
available offline.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, random_arrays, to_numpy

import bn

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH_BN = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}


def tensor(a):
    return torch.tensor(to_numpy(a), dtype=torch.float64, requires_grad=True)


def run_torch(fn, x, dout, *params):
    """Forward and backward through ``fn`` in PyTorch; returns (out, dx, *dparams)."""
    tx, tparams = tensor(x), [tensor(p) for p in params]
    out = fn(tx, *tparams)
    out.backward(torch.tensor(to_numpy(dout)))
    return [out.detach().numpy(), tx.grad.numpy(), *(p.grad.numpy() for p in tparams)]


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 4), (2, 3, 2, 3, 2)])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_layer_matches_torch_step_for_step(xp, shape, momentum):
    ours = bn.BatchNorm(3, momentum=momentum, dtype=np.float64)
    if xp.__name__ == "cupy":
        ours.to("gpu")
    theirs = getattr(torch.nn, TORCH_BN[len(shape)])(3, momentum=momentum).double()
    rng = np.random.default_rng(0)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(rng.standard_normal(3)))
        theirs.bias.copy_(torch.tensor(rng.standard_normal(3)))
    ours.params = {
        "gamma": xp.asarray(theirs.weight.detach().numpy().copy()),
        "beta": xp.asarray(theirs.bias.detach().numpy().copy()),
    }
    for step in range(3):
        x, dout = random_arrays(xp, shape, shape, seed=step)
        x = x * (step + 1) + step  # statistics that change from step to step
        tx = tensor(x)
        out_t = theirs(tx)
        out_t.backward(torch.tensor(to_numpy(dout)))
        out = ours.forward(x)
        dx = ours.backward(dout)
        assert_close(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
        assert_close(dx, tx.grad.numpy(), rtol=1e-8, atol=1e-10)
        assert_close(ours.grads["gamma"], theirs.weight.grad.numpy(), rtol=1e-8, atol=1e-10)
        assert_close(ours.grads["beta"], theirs.bias.grad.numpy(), rtol=1e-8, atol=1e-10)
        theirs.zero_grad()
        assert_close(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-10, atol=1e-12)
        assert_close(ours.running_var, theirs.running_var.numpy(), rtol=1e-10, atol=1e-12)
    assert ours.num_batches_tracked == int(theirs.num_batches_tracked)
    (x,) = random_arrays(xp, (1,) + shape[1:], seed=9)  # eval mode: a batch of one is fine
    ours.eval(), theirs.eval()
    with torch.no_grad():
        assert_close(
            ours.forward(x), theirs(torch.tensor(to_numpy(x))).numpy(), rtol=1e-10, atol=1e-12
        )


def test_torch_also_refuses_one_value_per_channel_in_training():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        torch.nn.BatchNorm1d(3)(torch.ones(1, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn.BatchNorm(3).forward(np.ones((1, 3), np.float32))


@pytest.mark.parametrize(
    "shape, normalized", [((4, 6), (6,)), ((2, 3, 4, 5), (3, 4, 5)), ((2, 3, 4), (4,))]
)
def test_layernorm_matches_torch(xp, shape, normalized):
    x, gamma, beta, dout = random_arrays(xp, shape, normalized, normalized, shape, seed=1)
    out, cache = bn.layernorm_forward(x, gamma, beta)
    ours = [out, *bn.layernorm_backward(dout, cache)]
    theirs = run_torch(
        lambda t, g, b: F.layer_norm(t, normalized, g, b, 1e-5), x, dout, gamma, beta
    )
    for a, b in zip(ours, theirs):
        assert_close(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    "shape, groups", [((3, 6), 3), ((2, 6, 5), 2), ((2, 6, 3, 4), 3), ((2, 4, 2, 2, 3), 4)]
)
def test_groupnorm_matches_torch(xp, shape, groups):
    x, gamma, beta, dout = random_arrays(xp, shape, shape[1:2], shape[1:2], shape, seed=2)
    out, cache = bn.groupnorm_forward(x, gamma, beta, groups)
    ours = [out, *bn.groupnorm_backward(dout, cache)]
    theirs = run_torch(lambda t, g, b: F.group_norm(t, groups, g, b, 1e-5), x, dout, gamma, beta)
    for a, b in zip(ours, theirs):
        assert_close(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (2, 3, 2, 2, 3)])
def test_instancenorm_matches_torch(xp, shape):
    x, gamma, beta, dout = random_arrays(xp, shape, shape[1:2], shape[1:2], shape, seed=3)
    out, cache = bn.instancenorm_forward(x, gamma, beta)
    ours = [out, *bn.instancenorm_backward(dout, cache)]
    theirs = run_torch(
        lambda t, g, b: F.instance_norm(t, weight=g, bias=b, eps=1e-5), x, dout, gamma, beta
    )
    for a, b in zip(ours, theirs):
        assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_instancenorm_defaults_match_torch():
    theirs = torch.nn.InstanceNorm2d(3)
    ours = bn.InstanceNorm(3)
    assert (theirs.affine, theirs.eps) == (ours.affine, ours.eps) == (False, 1e-5)
    assert not theirs.track_running_stats


def test_batchnorm_defaults_match_torch():
    theirs, ours = torch.nn.BatchNorm2d(3), bn.BatchNorm(3)
    assert (theirs.eps, theirs.momentum, theirs.affine) == (ours.eps, ours.momentum, ours.affine)
    assert_close(ours.running_var, theirs.running_var.numpy())
    assert_close(ours.running_mean, theirs.running_mean.numpy())
