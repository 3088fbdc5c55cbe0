"""Vectorised building blocks for the market model's random processes."""

from __future__ import annotations

import math

import numpy as np


def decay_for_half_life(steps: float) -> float:
    return 0.5 ** (1.0 / steps)


def ou_filter(shocks: np.ndarray, decay: float) -> np.ndarray:
    """``y[i] = decay * y[i-1] + shocks[i]`` from ``y[-1] = 0``, without a Python loop per step.

    Within a chunk ``y[k] = decay**k * (decay * y_prev + cumsum(shocks[j] * decay**-j))``; chunks
    are short enough that ``decay**-k`` stays far from overflow.
    """
    x = np.asarray(shocks, dtype=np.float64)
    out = np.empty(x.size, dtype=np.float64)
    rate = -math.log(decay)
    chunk = x.size if rate <= 0 else max(1, int(20.0 / rate))
    previous = 0.0
    for begin in range(0, x.size, chunk):
        segment = x[begin:begin + chunk]
        k = np.arange(segment.size, dtype=np.float64)
        y = np.exp(-rate * k) * (decay * previous + np.cumsum(segment * np.exp(rate * k)))
        out[begin:begin + segment.size] = y
        previous = float(y[-1])
    return out


def stationary_ou(rng: np.random.Generator, size: int, half_life: float, std: float) -> np.ndarray:
    """A mean-zero AR(1) path with the given stationary standard deviation."""
    decay = decay_for_half_life(half_life)
    shocks = rng.standard_normal(size) * std * math.sqrt(1.0 - decay * decay)
    return ou_filter(shocks, decay)


def trailing_extreme(x: np.ndarray, window: int, maximum: bool) -> np.ndarray:
    """Min (or max) of ``x[i-window+1 .. i]`` for every i, in O(n) (van Herk / Gil-Werman)."""
    op = np.maximum if maximum else np.minimum
    n = x.size
    if n == 0:
        return x.copy()
    window = max(1, min(window, n))
    padded = np.concatenate([x, np.full((-n) % window, x[-1])]).reshape(-1, window)
    prefix = op.accumulate(padded, axis=1).ravel()
    suffix = op.accumulate(padded[:, ::-1], axis=1)[:, ::-1].ravel()
    out = np.empty(n, dtype=x.dtype)
    out[: window - 1] = op.accumulate(x[: window - 1])
    out[window - 1:] = op(suffix[: n - window + 1], prefix[window - 1:n])
    return out
