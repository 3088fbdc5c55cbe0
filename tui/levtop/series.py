"""Time series primitives for the signal engine: as-of lookups and window sums.

A series is two aligned numpy arrays, ``ts`` (int64 ms, strictly increasing) and ``values``
(float64). Every lookup is vectorised over an array of evaluation times, so the same code
serves one live evaluation and a year-long backtest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Series:
    ts: np.ndarray
    values: np.ndarray
    _cumsum: np.ndarray | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_arrays(cls, ts: np.ndarray, values: np.ndarray) -> "Series":
        """Sort by time and keep the last value of any repeated timestamp."""
        ts = np.asarray(ts, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        if ts.size > 1 and not np.all(ts[1:] > ts[:-1]):
            order = np.argsort(ts, kind="stable")
            ts, values = ts[order], values[order]
            last_of_run = np.ones(ts.size, dtype=bool)
            last_of_run[:-1] = ts[1:] != ts[:-1]
            ts, values = ts[last_of_run], values[last_of_run]
        return cls(ts, values)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> "Series":
        return cls.from_arrays(frame["ts"].to_numpy(), frame["value"].to_numpy())

    def __len__(self) -> int:
        return int(self.ts.size)

    @property
    def first_ts(self) -> int | None:
        return int(self.ts[0]) if self.ts.size else None

    def asof_index(self, at: np.ndarray) -> np.ndarray:
        """Index of the last observation with ts <= at, or -1."""
        return np.searchsorted(self.ts, at, side="right") - 1

    def asof(self, at: np.ndarray, max_age: int) -> np.ndarray:
        """Value as of each time, NaN where there is none or it is older than ``max_age`` ms."""
        at = np.asarray(at, dtype=np.int64)
        if at.size == self.ts.size and at.size and (at is self.ts or np.array_equal(at, self.ts)):
            return self.values.copy()  # asked at its own observation times: every value is fresh
        idx = self.asof_index(at)
        out = np.full(at.shape, np.nan)
        found = idx >= 0
        if self.ts.size:
            safe = np.where(found, idx, 0)
            fresh = found & (at - self.ts[safe] <= max_age)
            out[fresh] = self.values[safe[fresh]]
        return out

    def age(self, at: np.ndarray) -> np.ndarray:
        """Milliseconds since the last observation at or before each time (NaN if none)."""
        at = np.asarray(at, dtype=np.int64)
        idx = self.asof_index(at)
        out = np.full(at.shape, np.nan)
        found = idx >= 0
        out[found] = at[found] - self.ts[idx[found]]
        return out

    def cumulative(self) -> np.ndarray:
        """Prefix sums with a leading zero: sum of values[:i] is cumulative()[i]."""
        cs = self._cumsum
        if cs is None:
            cs = np.concatenate(([0.0], np.cumsum(self.values)))
            object.__setattr__(self, "_cumsum", cs)
        return cs

    def window_sum(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Sum of values with ts in (start, end]."""
        cs = self.cumulative()
        hi = np.searchsorted(self.ts, end, side="right")
        lo = np.searchsorted(self.ts, start, side="right")
        return cs[hi] - cs[lo]

    def window_count(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        hi = np.searchsorted(self.ts, end, side="right")
        lo = np.searchsorted(self.ts, start, side="right")
        return hi - lo


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values; cheaper than np.unique for the nearly sorted timestamps here."""
    if values.size == 0:
        return values
    ordered = np.sort(values, kind="stable")
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def merge_additive(parts: list[Series]) -> Series:
    """One series holding every event of several additive series (same-ts events summed)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return Series(np.empty(0, np.int64), np.empty(0))
    ts = np.concatenate([p.ts for p in parts])
    values = np.concatenate([p.values for p in parts])
    if len(parts) > 1:
        order = np.argsort(ts, kind="stable")
        ts, values = ts[order], values[order]
    first_of_run = np.empty(ts.size, dtype=bool)
    first_of_run[0] = True
    np.not_equal(ts[1:], ts[:-1], out=first_of_run[1:])
    start = np.flatnonzero(first_of_run)
    return Series(ts[start], np.add.reduceat(values, start))
