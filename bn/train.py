"""The training loop every experiment uses: mini-batches, one epoch, evaluation, ``fit``.

The loss and the count of correct predictions are summed on the device and turned
into Python floats once per record (an epoch, or ``eval_every`` steps): on a GPU,
``float(x)`` waits for every queued kernel, and doing that each step would serialize
the host and the device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from . import _checks
from .backend import Array, get_array_module
from .module import Module
from .ops import softmax_cross_entropy
from .optim import Optimizer

Callback = Callable[[Module, int], "dict[str, object] | None"]


class Evaluation(NamedTuple):
    """What :func:`evaluate` returns; unpacks as ``loss, accuracy = evaluate(...)``."""

    loss: float  # mean cross-entropy over all samples
    accuracy: float  # fraction of samples whose largest logit is the label


def batches(
    x: Array,
    y: Array,
    batch_size: int,
    shuffle: bool = True,
    rng: int | np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[Array, Array]]:
    """Mini-batches ``(x[idx], y[idx])`` covering the data once, on the data's device.

    Args:
        x: inputs, shape ``(N, *)``.
        y: labels, shape (N,).
        batch_size: samples per batch; the last batch may be smaller.
        shuffle: draw a random order (on the CPU, sent to the device once).
        rng: seed or generator for the order; None draws a fresh seed.
        drop_last: leave out a last batch smaller than ``batch_size`` (BatchNorm
            cannot train on a batch of one).

    Raises:
        ValueError: if ``x`` and ``y`` differ in length or ``batch_size < 1``.
    """
    _checks.check_positive_int("batches", "batch_size", batch_size)
    if len(x) != len(y):
        raise ValueError(
            f"batches: expected x and y with the same number of samples, got {len(x)} and {len(y)}"
        )
    xp = get_array_module(x, y)
    n = len(x)
    order = None
    if shuffle:
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        order = xp.asarray(rng.permutation(n))
    stop = n - n % batch_size if drop_last else n
    return _iterate(x, y, order, batch_size, stop)


def _iterate(x, y, order, batch_size, stop):
    for start in range(0, stop, batch_size):
        if order is None:
            yield x[start : start + batch_size], y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            yield x[idx], y[idx]


def _train_step(model, optimizer, x, y):
    """Forward, loss, backward, update; returns the loss and the number correct, on the device."""
    logits = model.forward(x)
    loss, dlogits = softmax_cross_entropy(logits, y)
    model.backward(dlogits)
    optimizer.step()
    return loss, _count_correct(logits, y)


def _count_correct(logits, y):
    xp = get_array_module(logits, y)
    return xp.sum(xp.argmax(logits, axis=1) == y)


def train_epoch(model: Module, optimizer: Optimizer, batches: Iterator) -> float:
    """One pass over ``batches`` in training mode; returns the mean loss as a float."""
    model.train()
    total_loss, steps = 0.0, 0
    for x, y in batches:
        loss, _ = _train_step(model, optimizer, x, y)
        total_loss += loss  # stays on the device: no GPU->CPU sync per step
        steps += 1
    return float(total_loss) / max(steps, 1)  # one sync per epoch


@contextlib.contextmanager
def _modes_kept(model):
    """Restore every module's ``training`` flag on exit, even if some differed."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def evaluate(model: Module, x: Array, y: Array, batch_size: int = 1000) -> Evaluation:
    """Mean loss and accuracy in eval mode; the model's previous mode is restored.

    Args:
        model: the network; BatchNorm layers use their running statistics.
        x: inputs, shape ``(N, *)``.
        y: labels, shape (N,).
        batch_size: samples per forward pass (only memory depends on it).
    """
    total_loss, correct = 0.0, 0
    with _modes_kept(model):
        model.eval()
        for xb, yb in batches(x, y, batch_size, shuffle=False):
            logits = model.forward(xb)
            loss, _ = softmax_cross_entropy(logits, yb)
            total_loss += loss * len(yb)
            correct += _count_correct(logits, yb)
    n = max(len(y), 1)
    return Evaluation(float(total_loss) / n, float(correct) / n)


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix(self, *args, **kwargs):
        pass

    def close(self):
        pass


def _progress_bar(total, enabled):
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional: no bar then
        return _NoBar()
    return tqdm(total=total, unit="step")


def _endless_batches(x, y, batch_size, rng):
    while True:  # epoch after epoch, each in a new order; partial batches left out
        yield from batches(x, y, batch_size, shuffle=True, rng=rng, drop_last=True)


def _schedule(n, batch_size, epochs, steps, eval_every):
    """Return (total steps, steps per epoch, steps between records), checked."""
    if (epochs is None) == (steps is None):
        raise ValueError(f"fit: expected exactly one of epochs and steps, got {epochs=}, {steps=}")
    _checks.check_positive_int("fit", "epochs" if steps is None else "steps", epochs or steps)
    _checks.check_positive_int("fit", "batch_size", batch_size)
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise ValueError(
            f"fit: expected batch_size <= the number of training samples ({n}), "
            f"got batch_size={batch_size}"
        )
    total = steps if steps is not None else epochs * per_epoch
    eval_every = per_epoch if eval_every is None else eval_every
    _checks.check_positive_int("fit", "eval_every", eval_every)
    return total, per_epoch, eval_every


def _record(history, model, row, test, callback, batch_size):
    if test is not None:
        row["test_loss"], row["test_acc"] = evaluate(model, *test, batch_size=max(batch_size, 1000))
    if callback is not None:
        with _modes_kept(model):
            extra = callback(model, row["step"]) or {}
        clash = sorted(set(extra) & set(row))
        if clash:
            raise ValueError(f"fit: expected callback keys other than {sorted(row)}, got {clash}")
        row.update(extra)
    for key, value in row.items():
        history.setdefault(key, []).append(value)


def fit(
    model: Module,
    optimizer: Optimizer,
    train: tuple[Array, Array],
    test: tuple[Array, Array] | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int = 64,
    eval_every: int | None = None,
    seed: int | None = 0,
    callback: Callback | None = None,
    progress: bool = True,
) -> dict[str, list]:
    """Train with softmax cross-entropy for ``epochs`` epochs or ``steps`` steps.

    Each epoch visits the training set in a new random order, in batches of
    ``batch_size``; a last, smaller batch is left out. Every ``eval_every`` steps
    (default: once per epoch) and after the last step, one row is recorded.

    Args:
        model: the network, trained in place.
        optimizer: built on ``model``, e.g. ``SGD(model, lr=0.1)``.
        train: ``(x, y)``: training inputs of shape ``(N, *)`` and labels ``(N,)``.
        test: ``(x, y)`` to evaluate on at each record, or None.
        epochs, steps: how long to train; give exactly one.
        batch_size: samples per step.
        eval_every: steps between records.
        seed: seed of the batch order.
        callback: ``callback(model, step)`` at each record; the dict it returns
            (same keys each time) is added to the history.
        progress: show a tqdm progress bar (if tqdm is installed). Use False in
            notebooks whose outputs are stored.

    Returns:
        history: lists, one entry per record: ``step``, ``epoch`` (a float),
        ``train_loss`` and ``train_acc`` (means over the steps since the last
        record, in training mode), ``test_loss`` and ``test_acc`` (in eval mode,
        if ``test`` was given), and the callback's keys.
    """
    x, y = train
    total, per_epoch, eval_every = _schedule(len(x), batch_size, epochs, steps, eval_every)
    stream = _endless_batches(x, y, batch_size, np.random.default_rng(seed))
    history: dict[str, list] = {}
    bar = _progress_bar(total, progress)
    loss_sum, correct, seen, since = 0.0, 0, 0, 0
    model.train()
    for step in range(1, total + 1):
        xb, yb = next(stream)
        loss, hits = _train_step(model, optimizer, xb, yb)
        loss_sum, correct, seen, since = loss_sum + loss, correct + hits, seen + len(yb), since + 1
        if step % eval_every == 0 or step == total:
            row = {"step": step, "epoch": step / per_epoch}
            row["train_loss"], row["train_acc"] = float(loss_sum) / since, float(correct) / seen
            _record(history, model, row, test, callback, batch_size)
            bar.set_postfix({k: f"{row[k]:.3f}" for k in ("train_loss", "test_acc") if k in row})
            loss_sum, correct, seen, since = 0.0, 0, 0, 0
        bar.update()
    bar.close()
    return history
