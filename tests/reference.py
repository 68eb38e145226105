"""Independent float64 references for the tests. Nothing here imports ``bn``.

Written the slow, obvious way: Python loops over the groups of values that share
statistics, and the textbook formulas. Also the staged nine-node graph of the
batch-norm backward pass, as an oracle for the compact formula in ``bn``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def _standardize_group(values, eps):
    m = values.size
    mean = sum(float(v) for v in values.ravel()) / m
    var = sum((float(v) - mean) ** 2 for v in values.ravel()) / m  # biased
    return (values - mean) / math.sqrt(var + eps), mean, var


def batchnorm(x, gamma, beta, eps=1e-5):
    """(N, C, *): one group per channel, over the batch and every spatial position."""
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        x_hat, _, _ = _standardize_group(x[:, c], eps)
        out[:, c] = gamma[c] * x_hat + beta[c]
    return out


def batch_stats(x):
    """Per-channel mean, biased and unbiased variance, in float64."""
    x = np.asarray(x, np.float64)
    means, biased, unbiased = [], [], []
    for c in range(x.shape[1]):
        values = x[:, c].ravel()
        m = values.size
        mean = sum(values) / m
        ss = sum((v - mean) ** 2 for v in values)
        means.append(mean)
        biased.append(ss / m)
        unbiased.append(ss / (m - 1))
    return np.array(means), np.array(biased), np.array(unbiased)


def layernorm(x, gamma, beta, eps=1e-5):
    """One group per leading index, over the trailing ``gamma.ndim`` axes."""
    x = np.asarray(x, np.float64)
    lead = x.shape[: x.ndim - np.ndim(gamma)]
    out = np.empty_like(x)
    for index in itertools.product(*map(range, lead)):
        x_hat, _, _ = _standardize_group(x[index], eps)
        out[index] = gamma * x_hat + beta
    return out


def instancenorm(x, gamma, beta, eps=1e-5):
    """One group per (sample, channel), over the spatial positions."""
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            x_hat, _, _ = _standardize_group(x[n, c], eps)
            out[n, c] = gamma[c] * x_hat + beta[c]
    return out


def groupnorm(x, gamma, beta, num_groups, eps=1e-5):
    """One group per (sample, group of C / G consecutive channels)."""
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    size = x.shape[1] // num_groups
    for n in range(x.shape[0]):
        for g in range(num_groups):
            channels = slice(g * size, (g + 1) * size)
            x_hat, _, _ = _standardize_group(x[n, channels], eps)
            out[n, channels] = x_hat
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return np.reshape(gamma, shape) * out + np.reshape(beta, shape)


def batchnorm_backward_staged(dout, x, gamma, eps=1e-5):
    """Batch-norm backward for (N, D) inputs, one node of the graph at a time.

    The forward graph: mu = mean(x); xmu = x - mu; sq = xmu**2; var = mean(sq);
    std = sqrt(var + eps); ivar = 1 / std; x_hat = xmu * ivar; out = gamma * x_hat + beta.
    """
    n = x.shape[0]
    mu = x.mean(axis=0)
    xmu = x - mu
    sq = xmu**2
    var = sq.mean(axis=0)
    std = np.sqrt(var + eps)
    ivar = 1.0 / std
    x_hat = xmu * ivar
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    divar = (dx_hat * xmu).sum(axis=0)
    dxmu1 = dx_hat * ivar
    dstd = -divar / std**2
    dvar = 0.5 * dstd / std
    dsq = np.ones_like(x) * dvar / n
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -dx1.sum(axis=0)
    dx2 = np.ones_like(x) * dmu / n
    return dx1 + dx2, dgamma, dbeta
