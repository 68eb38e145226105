"""load_state_dict: a state that is not a dict, or malformed entries, get errors naming the key."""

from __future__ import annotations

import numpy as np
import pytest

import bn

C3 = np.ones(3)


def _cases():
    layer = bn.BatchNorm(3)
    state = layer.state_dict()
    return [
        (
            lambda: layer.load_state_dict(None),
            TypeError,
            (
                r"BatchNorm.load_state_dict: expected state to be a dict such as state_dict\(\) "
                r"returns, got NoneType"
            ),
        ),
        (
            lambda: bn.Sequential(bn.BatchNorm(3)).load_state_dict([("0.gamma", C3)]),
            TypeError,
            r"Sequential.load_state_dict: expected state to be a dict .*, got list",
        ),
        (
            lambda: layer.load_state_dict({**state, "num_batches_tracked": "x"}),
            TypeError,
            r"BatchNorm.load_state_dict: expected num_batches_tracked to be an int >= 0, got str",
        ),
        (
            lambda: layer.load_state_dict({**state, "num_batches_tracked": np.ones(3, int)}),
            TypeError,
            r"expected num_batches_tracked to be an int >= 0, got ndarray of shape \(3,\)",
        ),
        (
            lambda: layer.load_state_dict({**state, "num_batches_tracked": 2.5}),
            TypeError,
            r"expected num_batches_tracked to be an int >= 0, got float",
        ),
        (
            lambda: layer.load_state_dict({**state, "num_batches_tracked": -1}),
            ValueError,
            r"expected num_batches_tracked >= 0, got num_batches_tracked=-1",
        ),
        (
            lambda: layer.load_state_dict({**state, "running_mean": np.array(["a", "b", "c"])}),
            TypeError,
            (
                r"BatchNorm.load_state_dict: expected running_mean with an integer or floating "
                r"dtype, got <U1"
            ),
        ),
        (
            lambda: layer.load_state_dict({**state, "gamma": [1.0, 1.0, 1.0]}),
            TypeError,
            r"expected gamma to be an array of shape \(3,\), got list",
        ),
        (
            lambda: layer.load_state_dict({**state, "beta": np.ones(3, complex)}),
            TypeError,
            r"expected beta with an integer or floating dtype, got complex128",
        ),
    ]


CASES = _cases()


@pytest.mark.parametrize("call, error, match", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_a_malformed_state_raises_an_error_naming_the_key(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_load_state_dict_takes_what_pytorch_saves_and_ints():
    """num_batches_tracked as a 0-d integer array (torch's .numpy()), integer arrays as
    parameters: converted, not refused."""
    layer = bn.BatchNorm(3)
    state = dict(layer.state_dict(), num_batches_tracked=np.array(7), running_mean=np.arange(3))
    layer.load_state_dict(state)
    assert layer.num_batches_tracked == 7 and type(layer.num_batches_tracked) is int
    assert layer.running_mean.dtype == np.float32 and (layer.running_mean == [0, 1, 2]).all()


def test_a_malformed_state_dict_loads_nothing():
    layer = bn.BatchNorm(3)
    state = dict(layer.state_dict(), gamma=np.full(3, 2.0), num_batches_tracked="x")
    with pytest.raises(TypeError, match="num_batches_tracked"):
        layer.load_state_dict(state)
    assert (layer.params["gamma"] == 1).all()  # checked every entry before loading any
