"""Time series primitives for the signal engine: as-of lookups and window sums.

A series is two aligned numpy arrays, ``ts`` (int64 ms, strictly increasing) and ``values``
(float64). Every lookup is vectorised over an array of evaluation times, so the same code
serves one live evaluation and a year-long backtest.
"""

from __future__ import annotations

import weakref
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
    def nbytes(self) -> int:
        """What its arrays hold (running sums included, once computed)."""
        return self.ts.nbytes + self.values.nbytes + (0 if self._cumsum is None else self._cumsum.nbytes)

    @property
    def first_ts(self) -> int | None:
        return int(self.ts[0]) if self.ts.size else None

    def between(self, lo: int, hi: int) -> "Series":
        """The observations with ts in [lo, hi)."""
        a, b = self.ts.searchsorted(lo, side="left"), self.ts.searchsorted(hi, side="left")
        return Series(self.ts[a:b], self.values[a:b])

    def asof_index(self, at: np.ndarray) -> np.ndarray:
        """Index of the last observation with ts <= at, or -1."""
        return self.ts.searchsorted(at, side="right") - 1

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
            cs = np.empty(self.values.size + 1)
            cs[0] = 0.0
            np.cumsum(self.values, out=cs[1:])
            object.__setattr__(self, "_cumsum", cs)
        return cs

    def cumulative_at(self, points: np.ndarray) -> np.ndarray:
        """Sum of values with ts <= each point."""
        return self.cumulative()[self.ts.searchsorted(points, side="right")]

    def window_sum(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Sum of values with ts in (start, end]."""
        return self.cumulative_at(end) - self.cumulative_at(start)

    def cumulative_on_lattice(self, first: np.ndarray, step: int, count: int) -> np.ndarray:
        """``cumulative_at(first[:, None] - step * arange(count))`` with fewer searches.

        The points lie on a lattice whose spacing is the gcd of ``step`` and the gaps between the
        ``first`` times: when it has fewer nodes than there are points (hourly evaluation times
        and hourly or daily buckets), search the lattice once, in order, and gather from it.
        """
        if not first.size:
            return np.empty((0, count))
        if first.size == 1:  # one time (a live refresh): its own points are the lattice
            return self.cumulative_at(first[:, None] - step * np.arange(count, dtype=np.int64)[None, :])
        spacing = int(np.gcd.reduce(np.append(first - first[0], step)))
        lo, hi = int(first.min()) - step * (count - 1), int(first.max())
        nodes = (hi - lo) // spacing + 1
        if nodes > first.size * count:  # sparse times: search their points (at equal counts the
            # lattice still wins: its keys are ascending, which numpy searches much faster)
            return self.cumulative_at(first[:, None] - step * np.arange(count, dtype=np.int64)[None, :])
        on_lattice = self.cumulative_at(lo + spacing * np.arange(nodes, dtype=np.int64))
        node = ((first - lo) // spacing)[:, None] - (step // spacing) * np.arange(count, dtype=np.int64)[None, :]
        return on_lattice[node]

    def window_count_and_sum(self, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``window_count`` and ``window_sum`` from one search of each bound."""
        hi = self.ts.searchsorted(end, side="right")
        lo = self.ts.searchsorted(start, side="right")
        cs = self.cumulative()
        return hi - lo, cs[hi] - cs[lo]

    def window_count(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        hi = self.ts.searchsorted(end, side="right")
        lo = self.ts.searchsorted(start, side="right")
        return hi - lo


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values; much cheaper than np.unique (hash-based in numpy 2), above all
    on the small arrays the engine has many of."""
    if values.size == 0:
        return values
    ordered = np.sort(values, kind="stable")
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def ascending_unique(ordered: np.ndarray) -> np.ndarray:
    """Distinct values of an already sorted array (``sorted_unique`` without the sort)."""
    first = np.ones(ordered.size, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def sorted_unique_index(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of an already sorted array, and each element's index among them."""
    first = np.ones(ordered.size, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    starts = first.nonzero()[0]
    # Each index repeated over its run: cheaper than a running count of the run starts.
    return ordered[starts], np.repeat(np.arange(starts.size), np.diff(starts, append=ordered.size))


_EQUAL_TIMES: dict[tuple[int, int], tuple[weakref.ref, weakref.ref]] = {}
"""Pairs of distinct arrays of times found equal, by identity. Nothing writes into a series'
arrays once built (the memory across evaluations relies on it too), so a pair equal once stays
equal; a live refresh asks again about every unchanged venue. Weak references: an entry never
keeps an array alive, and one whose array is gone no longer matches."""


def same_times(a: np.ndarray, b: np.ndarray) -> bool:
    """``np.array_equal`` for two arrays of times, remembering the pairs found equal."""
    if a is b:
        return True
    if a.size != b.size:
        return False
    key = (id(a), id(b))
    known = _EQUAL_TIMES.get(key)
    if known is not None and known[0]() is a and known[1]() is b:
        return True
    if not np.array_equal(a, b):
        return False
    if len(_EQUAL_TIMES) >= 4096:
        _EQUAL_TIMES.clear()
    _EQUAL_TIMES[key] = (weakref.ref(a), weakref.ref(b))
    return True


def forget_same_times() -> None:
    """Forget the remembered equal pairs (a cold start compares again)."""
    _EQUAL_TIMES.clear()


def _on_one_grid(parts: list[Series]) -> bool:
    """Two to eight non-empty parts with the same times (per-minute totals from several venues)."""
    return 1 < len(parts) <= 8 and all(same_times(p.ts, parts[0].ts) for p in parts[1:])


def on_one_grid(parts: list[Series]) -> bool:
    """Whether the non-empty ``parts`` are merged by summing them in place: what
    ``merge_additive`` and ``merge_order`` check, to pass to both when merging the same parts."""
    return _on_one_grid([p for p in parts if len(p)])


def merge_additive(parts: list[Series], order: np.ndarray | None = None, one_grid: bool | None = None) -> Series:
    """One series holding every event of several additive series (same-ts events summed).

    ``order``, the parts' ``merge_order``, spares the sort: each part's events go straight to
    their places.
    """
    parts = [p for p in parts if len(p)]
    if not parts:
        return Series(np.empty(0, np.int64), np.empty(0))
    if _on_one_grid(parts) if one_grid is None else one_grid:
        # Sum in place. reduceat adds a run as its first value plus the rest summed in order (for
        # up to 7 of them), and so does this, so the sums match to the bit.
        rest = parts[1].values
        for p in parts[2:]:
            rest = rest + p.values
        return Series(parts[0].ts, parts[0].values + rest)
    ts = np.concatenate([p.ts for p in parts])
    values = np.concatenate([p.values for p in parts])
    if order is not None:
        # A stable sort of the codes lists the places of the first part's events, then the
        # second's...: each event's place in time order (radix-sorted: codes are one byte).
        places = np.argsort(order, kind="stable")
        in_order_ts, in_order_values = np.empty_like(ts), np.empty_like(values)
        in_order_ts[places], in_order_values[places] = ts, values
        ts, values = in_order_ts, in_order_values
    elif len(parts) > 1:
        by_time = np.argsort(ts, kind="stable")
        ts, values = ts[by_time], values[by_time]
    first_of_run = np.empty(ts.size, dtype=bool)
    first_of_run[0] = True
    np.not_equal(ts[1:], ts[:-1], out=first_of_run[1:])
    if first_of_run.all():
        return Series(ts, values)  # no two events at one time: each sum is the value itself
    start = first_of_run.nonzero()[0]
    return Series(ts[start], np.add.reduceat(values, start))


def merge_order(parts: list[Series], one_grid: bool | None = None) -> np.ndarray:
    """For the parts' events in time order (events at one time in part order, as
    ``merge_additive`` sums them), the index of the part each comes from: one byte an event for
    up to 256 parts, all it takes to merge them again without sorting."""
    codes = np.arange(len(parts), dtype=np.min_scalar_type(max(len(parts) - 1, 0)))
    filled = [p for p in parts if len(p)]
    if _on_one_grid(filled) if one_grid is None else one_grid:
        # At each time every part in turn, filled a part at a time (np.tile and broadcasting
        # copy the few codes one time at a time, which costs more than the merge itself).
        order = np.empty(len(filled[0]) * len(filled), dtype=codes.dtype)
        for k, code in enumerate(codes[[len(p) > 0 for p in parts]].tolist()):
            order[k::len(filled)] = code
        return order
    from_part = np.repeat(codes, [len(p) for p in parts])
    if len(filled) < 2:
        return from_part
    return from_part[np.argsort(np.concatenate([p.ts for p in parts]), kind="stable")]


def extension_of(old: Series, new: Series) -> tuple[int | None, int | None] | None:
    """How ``new`` differs from ``old`` if it is ``old`` with its oldest points dropped and/or
    newer points appended: (first kept time if some were dropped, first appended time if some
    were appended). None when ``new`` rewrote, inserted or lost anything else.
    """
    if not len(old):
        return None, new.first_ts
    if not len(new):
        return None
    k = int(old.ts.searchsorted(new.ts[0], side="left"))
    kept = old.ts.size - k
    if kept == 0 or new.ts.size < kept:
        return None
    if not (np.array_equal(old.ts[k:], new.ts[:kept]) and np.array_equal(old.values[k:], new.values[:kept])):
        return None
    dropped_before = int(new.ts[0]) if k else None
    appended_from = int(new.ts[kept]) if new.ts.size > kept else None
    return dropped_before, appended_from


CHUNK_CELLS = 1 << 20
"""Cells per temporary matrix when windows are gathered into rows: bounds memory in long runs."""


def range_reduce(op: np.ufunc, values: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``op`` over ``values[a[j]:b[j]]`` for each j (every range non-empty), for an idempotent
    ufunc: np.maximum, np.minimum, or np.fmax and np.fmin to skip NaN."""
    # reduceat reduces [bounds[i], bounds[i+1]) (the odd ranges are discarded), and every index
    # must be in range: a range running to the end stops one short and takes the last value
    # afterwards (an idempotent op does not mind seeing it twice).
    to_end = b == values.size
    ends_at_end = bool(to_end.any())
    bounds = np.empty(2 * a.size, dtype=np.int64)
    bounds[0::2], bounds[1::2] = a, np.where(to_end, values.size - 1, b) if ends_at_end else b
    out = op.reduceat(values, bounds)[0::2]
    if ends_at_end:
        out[to_end] = op(out[to_end], values[-1])
    return out


def range_means(values: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean of ``values[a[j]:b[j]]`` for each j (every range non-empty), bit for bit what
    ``values[a[j]:b[j]].mean()`` gives: ranges of one length are gathered into the rows of a
    matrix, whose row sums numpy computes with the same pairwise summation as a slice's."""
    lengths = b - a
    means = np.empty(a.size)
    for length in sorted_unique(lengths).tolist():
        rows = (lengths == length).nonzero()[0]
        per_chunk = max(1, CHUNK_CELLS // length)
        for lo in range(0, rows.size, per_chunk):
            part = rows[lo:lo + per_chunk]
            cells = values[a[part][:, None] + np.arange(length)]
            means[part] = cells.sum(axis=1) / length
    return means
