"""Batches, evaluation and the training loop."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
from conftest import assert_close, assert_on_backend, random_arrays, to_numpy

import bn
import bn.train


def on(xp, layer):
    return layer.to("gpu") if xp.__name__ == "cupy" else layer


def toy_data(xp, n=50, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = np.argmax(x[:, :k], axis=1)  # learnable labels
    return xp.asarray(x), xp.asarray(y)


def mlp(d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return bn.Sequential(
        bn.Linear(d, 8, bias=False, rng=rng), bn.BatchNorm(8), bn.ReLU(), bn.Linear(8, k, rng=rng)
    )


def test_batches_visit_every_sample_once_in_a_seeded_order(xp):
    x, y = toy_data(xp, n=10)
    got = list(bn.batches(x, y, 4, rng=1))
    assert [len(yb) for _, yb in got] == [4, 4, 2]
    assert_on_backend(xp, *[a for batch in got for a in batch])
    rows = np.concatenate([to_numpy(xb) for xb, _ in got])
    order = [int(np.flatnonzero((to_numpy(x) == row).all(axis=1))[0]) for row in rows]
    assert sorted(order) == list(range(10)) and order != list(range(10))
    again = np.concatenate([to_numpy(xb) for xb, _ in bn.batches(x, y, 4, rng=1)])
    assert (again == rows).all()
    labels = np.concatenate([to_numpy(yb) for _, yb in got])
    assert (labels == to_numpy(y)[order]).all()  # x and y stay paired


def test_batches_without_shuffle_and_with_drop_last(xp):
    x, y = toy_data(xp, n=10)
    got = list(bn.batches(x, y, 4, shuffle=False, drop_last=True))
    assert [len(yb) for _, yb in got] == [4, 4]
    assert (to_numpy(got[1][0]) == to_numpy(x)[4:8]).all()


def test_batches_rejects_mismatched_lengths_at_once():
    with pytest.raises(
        ValueError, match="batches: expected x and y with the same number of samples, got 5 and 4"
    ):
        bn.batches(np.ones((5, 2)), np.ones(4, int), 2)
    with pytest.raises(ValueError, match="batch_size > 0, got batch_size=0"):
        bn.batches(np.ones((5, 2)), np.ones(5, int), 0)


def test_evaluate_gives_the_mean_loss_and_accuracy_in_eval_mode(xp):
    x, y = toy_data(xp, n=30)
    model = on(xp, mlp())
    model.forward(x)  # running statistics away from their start
    model.eval()
    logits = model.forward(x)
    loss, _ = bn.softmax_cross_entropy(logits, y)
    accuracy = float((to_numpy(logits).argmax(axis=1) == to_numpy(y)).mean())
    model.train()
    result = bn.evaluate(model, x, y, batch_size=7)  # batches of 7, 7, 7, 7, 2
    assert isinstance(result.loss, float) and isinstance(result.accuracy, float)
    assert_close(result.loss, float(loss), rtol=1e-5)
    assert result.accuracy == accuracy
    assert all(m.training for m in model.modules())  # the mode is restored


def test_evaluate_restores_mixed_modes():
    model = mlp()
    model[1].eval()  # e.g. a frozen BatchNorm inside a model that trains
    x, y = toy_data(np)
    bn.evaluate(model, x, y)
    assert [m.training for m in model.modules()] == [True, True, False, True, True]


def test_train_epoch_returns_the_mean_loss_and_learns():
    x, y = toy_data(np, n=64)
    model = mlp()
    opt = bn.SGD(model, lr=0.1, momentum=0.9)
    losses = [
        bn.train_epoch(model, opt, bn.batches(x, y, 16, rng=e, drop_last=True)) for e in range(30)
    ]
    assert all(isinstance(v, float) for v in losses)
    assert losses[-1] < 0.5 * losses[0]


def test_fit_trains_a_batchnorm_mlp_on_digits_in_seconds():
    pytest.importorskip("sklearn")
    train, test = bn.load_digits()
    rng = np.random.default_rng(0)
    model = bn.Sequential(
        bn.Linear(64, 64, bias=False, rng=rng),
        bn.BatchNorm(64),
        bn.ReLU(),
        bn.Linear(64, 10, rng=rng),
    )
    start = time.perf_counter()
    history = bn.fit(
        model,
        bn.SGD(model, lr=0.1, momentum=0.9),
        train,
        test,
        epochs=3,
        batch_size=32,
        progress=False,
    )
    assert time.perf_counter() - start < 5
    assert history["step"] == [44, 88, 132] and history["epoch"] == [1.0, 2.0, 3.0]
    assert set(history) == {"step", "epoch", "train_loss", "train_acc", "test_loss", "test_acc"}
    assert history["test_acc"][-1] > 0.8  # chance is 0.1
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert all(m.training for m in model.modules())


def test_fit_by_steps_records_every_eval_every_and_the_callback():
    x, y = toy_data(np, n=40)
    model = mlp()
    seen = []

    def callback(model, step):
        seen.append((step, model.training))
        model.eval()  # fit restores the mode afterwards
        return {"gamma_norm": float(np.linalg.norm(model[1].params["gamma"]))}

    history = bn.fit(
        model,
        bn.Adam(model),
        (x, y),
        steps=10,
        batch_size=8,
        eval_every=3,
        callback=callback,
        progress=False,
    )
    assert history["step"] == [3, 6, 9, 10]
    assert history["epoch"] == [0.6, 1.2, 1.8, 2.0]
    assert len(history["gamma_norm"]) == 4 and "test_acc" not in history
    assert seen == [(3, True), (6, True), (9, True), (10, True)]


def test_fit_records_the_mean_training_loss_and_accuracy_of_each_epoch():
    x, y = toy_data(np, n=40)
    model = mlp()
    history = bn.fit(
        model, bn.SGD(model, lr=0.0), (x, y), epochs=2, batch_size=8, seed=5, progress=False
    )
    rng = np.random.default_rng(5)  # fit's batch order: the same generator, epoch after epoch
    for epoch in range(2):
        losses, hits = [], 0
        for xb, yb in bn.batches(x, y, 8, rng=rng, drop_last=True):
            logits = model.forward(xb)  # lr = 0: the same model at every step
            losses.append(float(bn.softmax_cross_entropy(logits, yb)[0]))
            hits += int((logits.argmax(axis=1) == yb).sum())
        assert_close(history["train_loss"][epoch], np.mean(losses), rtol=1e-6)
        assert history["train_acc"][epoch] == hits / 40


def test_fit_is_reproducible_with_a_seed():
    x, y = toy_data(np, n=40)
    runs = []
    for _ in range(2):
        model = mlp(seed=3)
        runs.append(
            bn.fit(
                model, bn.SGD(model, lr=0.1), (x, y), epochs=2, batch_size=8, seed=5, progress=False
            )
        )
    assert runs[0] == runs[1]


class _CountingArray(np.ndarray):
    """A NumPy array that counts how often it is turned into a Python float."""

    calls = 0

    def __float__(self):
        _CountingArray.calls += 1
        return float(self.view(np.ndarray))


def test_fit_syncs_once_per_record_not_once_per_step(monkeypatch):
    def counting_loss(logits, y):
        loss, dlogits = bn.softmax_cross_entropy(logits, y)
        return np.asarray(loss).view(_CountingArray), dlogits

    monkeypatch.setattr(bn.train, "softmax_cross_entropy", counting_loss)
    _CountingArray.calls = 0
    x, y = toy_data(np, n=40)
    model = mlp()
    bn.fit(model, bn.SGD(model, lr=0.1), (x, y), epochs=3, batch_size=4, progress=False)  # 30 steps
    assert _CountingArray.calls == 3
    bn.train_epoch(model, bn.SGD(model, lr=0.1), bn.batches(x, y, 4))  # 10 steps
    assert _CountingArray.calls == 4


def test_progress_bar_only_when_asked_and_tqdm_is_optional(capsys, monkeypatch):
    pytest.importorskip("tqdm")
    x, y = toy_data(np, n=16)
    model = mlp()
    opt = bn.SGD(model, lr=0.1)
    bn.fit(model, opt, (x, y), epochs=1, batch_size=4, progress=False)
    assert capsys.readouterr() == ("", "")
    bn.fit(model, opt, (x, y), epochs=1, batch_size=4, progress=True)
    assert "4/4" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `import tqdm` now raises ImportError
    bn.fit(model, opt, (x, y), epochs=1, batch_size=4, progress=True)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"epochs": 1, "steps": 5},
            r"fit: expected exactly one of epochs and steps, got epochs=1, steps=5",
        ),
        ({}, r"fit: expected exactly one of epochs and steps, got epochs=None, steps=None"),
        (
            {"epochs": 1, "batch_size": 100},
            r"fit: expected batch_size <= the number of training samples \(50\)",
        ),
        ({"steps": 0}, r"fit: expected steps > 0, got steps=0"),
        ({"epochs": 1, "eval_every": 0}, r"fit: expected eval_every > 0"),
    ],
)
def test_fit_bad_arguments_get_a_clear_error(kwargs, match):
    model = mlp()
    with pytest.raises(ValueError, match=match):
        bn.fit(
            model,
            bn.SGD(model, lr=0.1),
            toy_data(np),
            progress=False,
            **({"batch_size": 10} | kwargs),
        )


def test_fit_rejects_callback_keys_that_clash():
    model = mlp()
    with pytest.raises(
        ValueError, match=r"fit: expected callback keys other than .*got \['test_acc'\]"
    ):
        bn.fit(
            model,
            bn.SGD(model, lr=0.1),
            toy_data(np),
            toy_data(np),
            epochs=1,
            batch_size=10,
            progress=False,
            callback=lambda model, step: {"test_acc": 1.0},
        )


def test_fit_on_the_backend_of_the_data(xp):
    x, y = toy_data(xp, n=32)
    (x_test,) = random_arrays(xp, (8, 4), dtype=np.float32)
    model = on(xp, mlp())
    history = bn.fit(
        model,
        bn.SGD(model, lr=0.1),
        (x, y),
        (x_test, y[:8]),
        epochs=2,
        batch_size=8,
        progress=False,
    )
    assert_on_backend(xp, model[0].params["weight"], model[1].running_mean)
    assert len(history["test_loss"]) == 2
