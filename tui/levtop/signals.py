"""Signals, flush detection and phase (design.md section 3).

Pure functions: samples in, verdicts out. No I/O and no clock: "now" is each evaluation time,
and only samples with ts <= that time are read. Every function is vectorised over the array of
evaluation times, so a live refresh (one time) and a backtest (thousands) share one code path.

Per asset, series are aggregated across venues. When a dataset carries a ``market`` venue series
for the asset itself (an aggregate from elsewhere), it is used as the aggregate instead of
summing venues, so nothing is counted twice.
"""

from __future__ import annotations

import functools
import math
import threading
from bisect import bisect_left, insort
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import polars as pl

from levtop import fmt
from levtop.model import ALL_ASSETS, DAY, HOUR, MARKET, MINUTE
from levtop.series import (
    CHUNK_CELLS,
    Series,
    ascending_unique,
    extension_of,
    forget_same_times,
    merge_additive,
    merge_order,
    on_one_grid,
    range_means,
    range_reduce,
    same_times,
    sorted_unique,
    sorted_unique_index,
)
from levtop.thresholds import Thresholds

GOOD, WARN, BAD, UNKNOWN = "good", "warn", "bad", "unknown"
STATES = (GOOD, WARN, BAD, UNKNOWN)

SIGNAL_NAMES = (
    "funding",
    "oi_rebuild",
    "oi_level",
    "stablecoins",
    "sentiment",
    "long_short",
    "liquidations",
)
GATE_SIGNALS = ("oi_level", "oi_rebuild", "funding", "stablecoins", "sentiment")

CASCADE, FLUSH, TRAP, RESTART = "CASCADE", "FLUSH", "TRAP", "RESTART"
PURIFYING, OVERHEATED, NEUTRAL, UNKNOWN_PHASE = "PURIFYING", "OVERHEATED", "NEUTRAL", "UNKNOWN"
PHASES = (CASCADE, FLUSH, TRAP, RESTART, PURIFYING, OVERHEATED, NEUTRAL, UNKNOWN_PHASE)


class Later:
    """A reason's text, written when it is first read: ``write(*args)``. A backtest evaluates
    every signal at thousands of steps and its table reads none of their reasons; the app reads
    those of the asset on screen. Writing them all took half the evaluation's time."""

    __slots__ = ("write", "args")

    def __init__(self, write: Callable[..., str], *args: Any) -> None:
        self.write = write
        self.args = args


class Signal:
    """One signal's state, value and reason at one time. Immutable; equal when all four are."""

    __slots__ = ("name", "state", "value", "_reason")
    name: str
    state: str
    value: float | None

    def __init__(self, name: str, state: str, value: float | None, reason: str | Later) -> None:
        set_field = object.__setattr__
        set_field(self, "name", name)
        set_field(self, "state", state)
        set_field(self, "value", value)
        set_field(self, "_reason", reason)

    @property
    def reason(self) -> str:
        reason = self._reason
        if type(reason) is not str:
            reason = reason.write(*reason.args)
            object.__setattr__(self, "_reason", reason)
        return reason

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Signal is immutable: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Signal is immutable: cannot delete {name}")

    def _fields(self) -> tuple:
        return self.name, self.state, self.value, self.reason

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Signal:
            return NotImplemented
        return self is other or self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"Signal(name={self.name!r}, state={self.state!r}, value={self.value!r}, reason={self.reason!r})"

    def __reduce__(self) -> tuple:
        # copy and pickle rebuild it through __init__ (setattr refuses), the reason as text:
        # a Later's writer may be a closure, which pickle cannot carry.
        return Signal, self._fields()

    def to_json(self) -> dict:
        return {"state": self.state, "value": self.value, "reason": self.reason}


@dataclass(frozen=True)
class Flush:
    start: int
    trigger: str  # "oi" or "liquidations"
    trough_ts: int | None
    trough: float | None
    peak: float | None
    depth: float | None  # trough / prior 30-day peak - 1 (negative)

    def describe(self) -> str:
        what = f"OI {fmt.pct(self.depth, 0)} from peak" if self.depth is not None else "liquidation spike"
        return f"flush {fmt.utc(self.start)} UTC ({what}, by {self.trigger})"


@dataclass(frozen=True)
class Verdict:
    ts: int
    asset: str
    phase: str
    signals: dict[str, Signal]
    flush: Flush | None
    purifying_day: int | None

    @property
    def green(self) -> bool:
        return self.phase == RESTART

    def to_json(self) -> dict:
        return {
            "ts": self.ts,
            "asset": self.asset,
            "phase": self.phase,
            "signals": {name: s.to_json() for name, s in self.signals.items()},
        }


# ---------------------------------------------------------------------------------------------
# Comparisons. Values computed as ratios land a few ulps off round thresholds (1.03/1 - 1 is
# 0.030000000000000027); a value within a hair of a bound counts as AT the bound.


_DEFAULTS = Thresholds()
"""One object for every evaluation without thresholds: what is kept per Thresholds (texts,
market-wide signals) is found again, not built for a new object each time."""


def _tol(bound: float) -> float:
    return 1e-12 + 1e-9 * abs(bound)


def _le(x: np.ndarray, bound: float) -> np.ndarray:
    return x <= bound + _tol(bound)


def _lt(x: np.ndarray, bound: float) -> np.ndarray:
    return x < bound - _tol(bound)


def _ge(x: np.ndarray, bound: float) -> np.ndarray:
    return x >= bound - _tol(bound)


def _gt(x: np.ndarray, bound: float) -> np.ndarray:
    return x > bound + _tol(bound)


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass
class AssetInputs:
    """One asset's series: per metric, per venue; plus the market-wide series."""

    asset: str
    by_metric: dict[str, dict[str, Series]]
    market: dict[str, Series]
    memo: dict = field(default_factory=dict, repr=False)
    """Derived series shared by several signals (merged liquidations, aggregates)."""
    shared: dict = field(default_factory=dict, repr=False)
    """Results that depend on the market-wide series alone, shared by the assets built together
    (``inputs_by_asset``): every asset reads the same Fear & Greed and stablecoin supply."""

    def venues(self, metric: str) -> dict[str, Series]:
        """Venue series to aggregate; a ``market`` aggregate for the asset wins alone."""
        per_venue = self.by_metric.get(metric, {})
        if MARKET in per_venue:
            return {MARKET: per_venue[MARKET]}
        return per_venue


def inputs_from_frame(samples: pl.DataFrame, asset: str) -> AssetInputs:
    """Split a long dataset frame into the series the engine reads for ``asset``."""
    relevant = samples.filter(pl.col("asset").is_in([asset, ALL_ASSETS]))
    series: dict[tuple[str, str, str], Series] = {}
    if relevant.height:
        parts = relevant.partition_by(["venue", "asset", "metric"], as_dict=True, maintain_order=False)
        # In key order: venues are summed in this order, and a float sum's last bit depends on it.
        for key in sorted(parts):
            series[key] = Series.from_frame(parts[key])
    return inputs_from_series(asset, series)


def inputs_from_series(
    asset: str, series: Mapping[tuple[str, str, str], Series]
) -> AssetInputs:
    """Build inputs from ``{(venue, asset, metric): Series}`` (what the store holds)."""
    by_metric: dict[str, dict[str, Series]] = {}
    market_venue: dict[str, str] = {}
    market: dict[str, Series] = {}
    for (venue, row_asset, metric), s in series.items():
        if row_asset == asset:
            by_metric.setdefault(metric, {})[venue] = s
        elif row_asset == ALL_ASSETS and _preferred_market_venue(venue, market_venue.get(metric)):
            market_venue[metric] = venue
            market[metric] = s
    return AssetInputs(asset, by_metric, market)


def inputs_by_asset(
    series: Mapping[tuple[str, str, str], Series], assets: Iterable[str]
) -> dict[str, AssetInputs]:
    """``inputs_from_series`` for each of ``assets`` from one pass over the series map (which
    holds every asset's series: a pass per asset reads it once for each)."""
    by_asset: dict[str, dict[str, dict[str, Series]]] = {asset: {} for asset in assets}
    market_venue: dict[str, str] = {}
    market: dict[str, Series] = {}
    for (venue, row_asset, metric), s in series.items():
        by_metric = by_asset.get(row_asset)
        if by_metric is not None:
            # In map order, as inputs_from_series does: venues are summed in this order.
            by_metric.setdefault(metric, {})[venue] = s
        elif row_asset == ALL_ASSETS and _preferred_market_venue(venue, market_venue.get(metric)):
            market_venue[metric] = venue
            market[metric] = s
    shared: dict = {}
    return {asset: AssetInputs(asset, by_metric, dict(market), shared=shared) for asset, by_metric in by_asset.items()}


def _preferred_market_venue(venue: str, current: str | None) -> bool:
    """Whether ``venue``'s market-wide series beats the one chosen so far.

    The ``market`` venue wins; among others the first by name, so the choice never depends on
    the order the series arrive in.
    """
    if current is None:
        return True
    if current == MARKET or venue == MARKET:
        return venue == MARKET
    return venue < current


# ---------------------------------------------------------------------------------------------
# Memory across evaluations
#
# The flush scans, the cross-venue aggregates and the merged liquidations read an asset's whole
# history, yet a live refresh follows a handful of new samples (and retention drops a few old
# ones). Each result is remembered per asset with the series it came from; the next evaluation
# compares its series with those, keeps the result for the times at which it provably still
# holds, and computes only the rest: the same result as from scratch, to the bit. A month of
# results per asset is held, so they are kept compact (an aggregate's venue counts in a byte, the
# liquidations as the order of their merge) and bounded in bytes.


@dataclass(frozen=True)
class _Remembered:
    inputs: Mapping[str, Series]
    value: Any
    """An array or an object with ``nbytes``: what it holds is counted against the budget."""
    size: int


_ENTRY_BYTES = 1024
"""Counted for each entry besides its value's arrays: the key, the record, the mapping of its
input series (whose arrays are the store's, not counted)."""


class _Memory:
    """The latest result per key, within a budget of bytes (the least recently kept go first).

    Results differ in size by orders of magnitude (a month of an aggregate's points against a
    handful of flush times), so the bound is on what they hold, not on how many there are."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[tuple, _Remembered] = OrderedDict()
        self._lock = threading.Lock()

    def recall(self, key: tuple) -> _Remembered | None:
        with self._lock:
            return self._entries.get(key)

    def keep(self, key: tuple, inputs: Mapping[str, Series], value: Any) -> None:
        entry = _Remembered(inputs, value, _ENTRY_BYTES + int(value.nbytes))
        with self._lock:
            replaced = self._entries.pop(key, None)
            self.size -= 0 if replaced is None else replaced.size
            if entry.size > self.max_bytes:
                return  # a result over the whole budget is not kept, nor does it push others out
            self._entries[key] = entry
            self.size += entry.size
            while self.size > self.max_bytes:
                self.size -= self._entries.popitem(last=False)[1].size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.size = 0


_MEMORY = _Memory(max_bytes=64 << 20)
"""64 MB. At the density of ``benchmarks/memory.py`` (coin and USD OI at 13,000 points a month
across three venues, 50,000 liquidations a month) an asset's results take 0.5 MB: a watchlist of
128 assets over 30 days of retention, or about 40 over 90 days."""
# Spans are int64 like the times: a float bound would make numpy convert whole arrays to compare.
_EARLIEST, _LATEST = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
_NO_SERIES = Series(np.empty(0, np.int64), np.empty(0))


def clear_caches() -> None:
    """Forget every remembered result: the next evaluation computes everything afresh."""
    _MEMORY.clear()
    _RECENT_MERGES.clear()
    forget_same_times()


def remembered_bytes() -> int:
    """What the memory across evaluations holds now, as its budgets count it."""
    return _MEMORY.size + _RECENT_MERGES.size


def _reusable_span(old: Mapping[str, Series], new: Mapping[str, Series],
                   horizon: int | None) -> tuple[int, int] | None:
    """The times [lo, hi) at which a result computed from ``old`` is the same for ``new``.

    A result at t reads data in [t - horizon, t] only: it holds while t is before the first
    appended sample and at least ``horizon`` after the first sample a retention cut kept
    (horizon None: any cut changes everything, as for results built on running sums). None when
    a series changed otherwise (a rewrite, an insertion, a lost venue).
    """
    lo, hi = _EARLIEST, _LATEST
    for name in old.keys() | new.keys():
        before, after = old.get(name, _NO_SERIES), new.get(name, _NO_SERIES)
        if before is after:
            continue
        change = extension_of(before, after)
        if change is None:
            return None
        kept_from, appended_from = change
        if kept_from is not None:
            if horizon is None:
                return None
            lo = max(lo, kept_from + horizon)
        if appended_from is not None:
            hi = min(hi, appended_from)
    return (lo, hi) if lo < hi else None


def _recall(key: tuple, inputs: Mapping[str, Series],
            horizon: int | None) -> tuple[_Remembered, int, int] | None:
    """What is remembered for ``key`` and the span [lo, hi) where its value still holds, or None."""
    previous = _MEMORY.recall(key)
    span = None if previous is None else _reusable_span(previous.inputs, inputs, horizon)
    return None if span is None else (previous, *span)


# ---------------------------------------------------------------------------------------------
# Aggregation across venues


@dataclass(frozen=True)
class NativePoints:
    """An aggregate at every observation time of any venue: the total and how many venues were
    fresh. Remembered across evaluations for a month of points per asset, so the count is in the
    smallest unsigned type that holds the number of venues (one byte, not eight)."""

    ts: np.ndarray
    total: np.ndarray
    count: np.ndarray
    everywhere: bool = False
    """Known to sum every venue at every point (no NaN total): what the comparable points and
    the flush scan's bounds would otherwise check point by point."""

    def between(self, lo: int, hi: int) -> "NativePoints":
        a, b = self.ts.searchsorted(lo, side="left"), self.ts.searchsorted(hi, side="left")
        return NativePoints(self.ts[a:b], self.total[a:b], self.count[a:b], self.everywhere)

    @property
    def nbytes(self) -> int:
        return self.ts.nbytes + self.total.nbytes + self.count.nbytes

    @staticmethod
    def joined(parts: Sequence["NativePoints"]) -> "NativePoints":
        return NativePoints(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("ts", "total", "count")),
                            everywhere=all(p.everywhere for p in parts))


_FAR_PAST = np.iinfo(np.int64).min // 2


@dataclass(frozen=True)
class Aggregate:
    """A level metric summed across the venues fresh at each time."""

    venues: dict[str, Series]
    max_age: int
    key: tuple | None = None
    """Names the aggregate across evaluations, so its native points are remembered."""
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    def _time_groups(self) -> list[tuple[np.ndarray, list[Series]]]:
        """Venues grouped by identical observation times, so each group is searched once
        (venues publishing the same 5-minute history share one array of times)."""
        if "groups" not in self._memo:
            groups: list[tuple[np.ndarray, list[Series]]] = []
            for s in self.venues.values():
                for ts, members in groups:
                    if same_times(ts, s.ts):
                        members.append(s)
                        break
                else:
                    groups.append((s.ts, [s]))
            self._memo["groups"] = groups
        return self._memo["groups"]

    def fresh_values(self, at: np.ndarray) -> list[np.ndarray]:
        """Each venue's value as of each time (NaN where none or stale), in venue order.

        The last answer is kept with its times: an evaluation's signals ask the same aggregate
        at the same array of times (nothing in the engine writes into an array of times)."""
        last = self._memo.get("fresh")
        if last is not None and last[0] is at:
            return last[1]
        values = self._fresh_values(at)
        self._memo["fresh"] = (at, values)
        return values

    def _fresh_values(self, at: np.ndarray) -> list[np.ndarray]:
        found: dict[int, np.ndarray] = {}
        for ts, members in self._time_groups():
            found.update(zip(map(id, members), self._values_at(ts, members, at)))
        return [found[id(s)] for s in self.venues.values()]

    def _values_at(self, ts: np.ndarray, members: list[Series], at: np.ndarray) -> list[np.ndarray]:
        """The values as of each time of venues observed at ``ts`` (NaN where none or stale)."""
        if not ts.size:
            return [np.full(at.shape, np.nan)] * len(members)
        if at.size == ts.size and at.size and (at is ts or np.array_equal(at, ts)):
            return [s.values for s in members]  # asked at its own times: every value is fresh
        idx = ts.searchsorted(at, side="right") - 1
        safe = np.maximum(idx, 0)
        fresh = (idx >= 0) & (at - ts[safe] <= self.max_age)
        return [np.where(fresh, s.values[safe], np.nan) for s in members]

    def level(self, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total, count = self._level(at)
        return total, np.full(at.shape, len(self.venues), dtype=np.int64) if count is None else count

    def _level(self, at: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``level``, with no count (None) when every venue is fresh at every time."""
        values = self.fresh_values(at)
        total = np.zeros(at.shape)
        if values:
            # Every venue fresh at every time (the usual case): one check of the sum finds it,
            # as a NaN anywhere makes the sum NaN; the sum is the one the loop below adds.
            for v in values:
                total += v
            if not np.isnan(total).any():
                return total, None
            total = np.zeros(at.shape)
        count = np.zeros(at.shape, dtype=np.int64)
        everywhere = 0  # venues fresh at every time (a venue at its own times): counted at the end
        for v in values:
            missing = np.isnan(v)
            if not missing.any():
                total += v
                everywhere += 1
                continue
            ok = ~missing
            total += np.where(ok, v, 0.0)
            count += ok
        if everywhere:
            count += everywhere
        else:
            total[count == 0] = np.nan
        return total, count

    def changes(self, at: np.ndarray, windows: Sequence[int]) -> list[np.ndarray]:
        """Sum now / sum then - 1 over the venues fresh at both times (NaN when none), for each
        window: every venue is read once, at the times now and each window before them, and
        the windows are rows of one matrix."""
        n = at.size
        times = np.concatenate([at] + [at - window for window in windows])
        now_total = np.zeros((len(windows), n))
        then_total = np.zeros((len(windows), n))
        for v in self.fresh_values(times):
            rows = v.reshape(len(windows) + 1, n)  # now, then for the first window, ...
            known = ~np.isnan(rows)
            ok = known[0] & known[1:]
            now_total += np.where(ok, rows[0], 0.0)
            then_total += np.where(ok, rows[1:], 0.0)
        # A positive total then implies at least one venue fresh at both times.
        with np.errstate(all="ignore"):
            return list(np.where(then_total > 0, now_total / then_total - 1.0, np.nan))

    def points(self) -> NativePoints:
        """The aggregate at every observation time of any venue (remembered when keyed)."""
        if "points" not in self._memo:
            recalled = None if self.key is None else _recall(self.key, self.venues, horizon=0)
            if recalled is None:
                points = self._points_at(self._all_times())
            else:
                # A level at t reads each venue's latest value at or before t: it holds
                # inside the span; only the points outside it are new.
                previous, lo, hi = recalled
                outside = self._times_outside(lo, hi)
                points = NativePoints.joined([self._points_at(outside[outside < lo]), previous.value.between(lo, hi),
                                              self._points_at(outside[outside >= hi])])
            if self.key is not None:
                _MEMORY.keep(self.key, self.venues, points)
            self._memo["points"] = points
        return self._memo["points"]

    def _all_times(self) -> np.ndarray:
        """Every observation time of any venue."""
        arrays = [ts for ts, _ in self._time_groups()]
        if len(arrays) == 1:
            return arrays[0]  # the venues' own array: lookups at it take the fast path
        return sorted_unique(np.concatenate(arrays)) if arrays else np.empty(0, np.int64)

    def _times_outside(self, lo: int, hi: int) -> np.ndarray:
        """Every observation time of any venue before ``lo`` or from ``hi`` on."""
        pieces = [np.concatenate([ts[:ts.searchsorted(lo)], ts[ts.searchsorted(hi):]])
                  for ts, _ in self._time_groups()]
        return sorted_unique(np.concatenate(pieces)) if pieces else np.empty(0, np.int64)

    def _points_at(self, ts: np.ndarray) -> NativePoints:
        total, count = self._level(ts)
        dtype = np.min_scalar_type(len(self.venues))
        if count is None:
            return NativePoints(ts, total, np.full(ts.shape, len(self.venues), dtype=dtype), everywhere=True)
        return NativePoints(ts, total, count.astype(dtype, copy=False))

    def oldest_latest(self, rows: np.ndarray) -> np.ndarray:
        """At the native points ``rows``, the oldest of the venues' latest observations: a time
        far in the past while some venue has none. It never decreases, and every venue is fresh
        at a time x from that point on while x - oldest <= max_age. Computed only where asked
        (the flush scan asks at one point in 16), rather than remembered for every point."""
        ts = self.native_ts()
        at = ts[rows]
        oldest = np.full(at.shape, _LATEST)
        for group_ts, _ in self._time_groups():
            if group_ts is ts:
                seen = at  # the points are this group's own observations
            elif group_ts.size:
                idx = group_ts.searchsorted(at, side="right") - 1
                seen = np.where(idx >= 0, group_ts[np.maximum(idx, 0)], _FAR_PAST)
            else:
                seen = np.full(at.shape, _FAR_PAST)
            oldest = np.minimum(oldest, seen)
        return oldest

    def native_ts(self) -> np.ndarray:
        """Every observation time of any venue."""
        return self.points().ts

    def native(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The aggregate at every observation time of any venue: (ts, total, venue count)."""
        points = self.points()
        return points.ts, points.total, points.count

    def comparable(self, venue_count: int) -> tuple[np.ndarray, np.ndarray]:
        """The native points summed over exactly ``venue_count`` venues: (ts, total).

        Only those compare with a reference summed over as many venues; a venue dropping in or
        out would otherwise look like OI appearing or vanishing.
        """
        key = ("comparable", venue_count)
        if key not in self._memo:
            points = self.points()
            ts, total, count = points.ts, points.total, points.count
            if points.everywhere:
                self._memo[key] = (ts, total) if venue_count == len(self.venues) else (ts[:0], total[:0])
            else:
                keep = (count == venue_count) & ~np.isnan(total)
                # Every point (all venues fresh throughout, the usual case): no copies.
                self._memo[key] = (ts, total) if keep.all() else (ts[keep], total[keep])
        return self._memo[key]

    def comparable_between(self, lo: int, hi: int, venue_count: int) -> np.ndarray:
        """Comparable totals with ts in [lo, hi]."""
        ts, total = self.comparable(venue_count)
        return total[ts.searchsorted(lo, side="left"):ts.searchsorted(hi, side="right")]

    def first_ts(self) -> int | None:
        firsts = [s.first_ts for s in self.venues.values() if len(s)]
        return min(firsts) if firsts else None

    def age(self, at: np.ndarray) -> np.ndarray:
        """Age of the freshest venue observation at each time."""
        ages = [members[0].age(at) for _, members in self._time_groups()]
        if len(ages) < 2:
            return ages[0] if ages else np.full(at.shape, np.nan)
        # fmin ignores NaN unless every venue is NaN (then NaN), without nanmin's warning.
        return np.fmin.reduce(np.vstack(ages), axis=0)


@dataclass(frozen=True)
class WindowStats:
    """Per evaluation time: how many comparable points the window holds, their max, min, mean."""

    size: np.ndarray
    high: np.ndarray
    low: np.ndarray
    mean: np.ndarray


def comparable_window_stats(agg: Aggregate, at: np.ndarray, ref_count: np.ndarray, window: int,
                            spread: bool = True) -> WindowStats:
    """Statistics of ``agg.comparable_between(t - window, t, ref_count)`` for every time t at once
    (NaN where empty): each time's window is a run of the points with its venue count, so the
    windows become index ranges, reduced without a loop per time. ``spread`` False: the size and
    the high alone (a peak), low and mean left NaN."""
    n = at.size
    size = np.zeros(n, dtype=np.int64)
    high, low, mean = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    for c in sorted_unique(ref_count[ref_count > 0]).tolist():
        points_ts, points = agg.comparable(c)
        rows = (ref_count == c).nonzero()[0]
        a = points_ts.searchsorted(at[rows] - window, side="left")
        b = points_ts.searchsorted(at[rows], side="right")
        size[rows] = b - a
        filled = b > a
        rows, a, b = rows[filled], a[filled], b[filled]
        if rows.size:
            high[rows] = range_reduce(np.maximum, points, a, b)
            if spread:
                low[rows], mean[rows] = range_reduce(np.minimum, points, a, b), range_means(points, a, b)
    return WindowStats(size, high, low, mean)


# ---------------------------------------------------------------------------------------------
# Signals. Each computes its numbers for every time at once; the loops only write reasons, over
# plain Python lists (indexing numpy arrays one element at a time costs more than the text).


def _per_thresholds(build: Callable[[Thresholds], Any]) -> Callable[[Thresholds], Any]:
    """``build(th)``, kept for the last few Thresholds: the parts of reasons that depend on
    the thresholds alone are written once, not at every evaluation of every asset. By identity
    (hashing a Thresholds costs more than most of what is built), holding each one kept, so a
    new object never takes an old one's place."""
    kept: dict[int, tuple[Thresholds, Any]] = {}

    @functools.wraps(build)
    def get(th: Thresholds) -> Any:
        entry = kept.get(id(th))
        if entry is None or entry[0] is not th:
            if len(kept) >= 16:
                kept.clear()
            entry = kept[id(th)] = (th, build(th))
        return entry[1]

    return get


def _signals_list(name: str, states: list[str], values: np.ndarray, reasons: list[str | Later]) -> list[Signal]:
    finite = np.isfinite(values).tolist()
    signals: list[Signal] = []
    last: Signal | None = None
    last_reason: str | Later | None = None
    for st, v, ok, reason in zip(states, values.tolist(), finite, reasons):
        value = v if ok and st != UNKNOWN else None
        # Steps that repeat the last one (daily inputs evaluated hourly) share its Signal.
        if last is None or reason is not last_reason or st != last.state or not _same_number(value, last.value):
            last, last_reason = Signal(name, st, value, reason), reason
        signals.append(last)
    return signals


def _same_number(a: float | None, b: float | None) -> bool:
    """Equal and of the same sign: -0.0 equals 0.0 but prints differently."""
    if a is None or b is None:
        return a is b
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _repeating(format_text: Callable[..., str]) -> Callable[..., Later]:
    """``format_text``'s text to write later (a ``Later``), the same one again while its inputs
    repeat: a backtest's hourly steps see daily and 8-hourly values many times over, and steps
    with the same reason share one Signal (``_signals_list``)."""
    last: list = [None, None]

    def text(*args):
        key = args + tuple(math.copysign(1.0, a) for a in args if type(a) is float)  # -0.0 vs 0.0
        if key != last[0]:
            last[:] = [key, Later(format_text, *args)]
        return last[1]

    return text


def _states(n: int, *rules: tuple[np.ndarray, str]) -> list[str]:
    """Each time's state: UNKNOWN, overwritten by every rule whose mask holds, in order (as the
    rule's number in a byte: writing into an array of objects costs twice as much)."""
    rule = np.zeros(n, dtype=np.int8)
    for number, (mask, _) in enumerate(rules, 1):
        rule[mask] = number
    names = (UNKNOWN, *(state for _, state in rules))
    return [names[k] for k in rule.tolist()]


def _history_reason(needed: str, have_ms: int) -> str:
    return f"needs {needed} history, have {fmt.duration(have_ms)}"


def _staleness_reason(what: str, age: float, max_age: int) -> str:
    if math.isnan(age):
        return f"no {what} data"
    return f"{what} data stale: last {fmt.duration(age)} ago (max {fmt.duration(max_age)})"


@_per_thresholds
def _funding_texts(th: Thresholds) -> tuple[dict[str, str], str, str, str, str]:
    lo, hi, hot = th.funding_neutral_low, th.funding_neutral_high, th.funding_overheated
    verdicts = {GOOD: f"neutral band {fmt.rate(lo)}..{fmt.rate(hi)}", BAD: f"overheated above {fmt.rate(hot)}"}
    return (verdicts, f"shorts crowded below {fmt.rate(lo)}", f"warming above {fmt.rate(hi)}",
            f"no funding in the last {th.funding_window_h:g}h", f"{th.funding_window_h:g}h mean")


def funding_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    window = int(th.funding_window_h * HOUR)
    funding = inp.venues("funding_8h")
    # Each venue's USD OI as of each time, as the OI level signal reads it (read once for both).
    oi_usd = _aggregate(inp, "oi_usd", int(th.fresh_oi_h * HOUR))
    weight_of = dict(zip(oi_usd.venues, oi_usd.fresh_values(at)))
    names = list(funding)
    n = at.size
    counts = np.empty((len(names), n), dtype=np.int64)
    totals = np.empty((len(names), n))
    weights = np.full((len(names), n), np.nan)
    since = at - window
    for k, venue in enumerate(names):
        counts[k], totals[k] = funding[venue].window_count_and_sum(since, at)
        if venue in weight_of:
            weights[k] = weight_of[venue]
    with np.errstate(all="ignore"):
        means = np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)
    has = ~np.isnan(means)
    venue_count = has.sum(axis=0)
    usable_weight = ~np.isnan(weights) & (weights > 0)
    weighted = np.all(usable_weight | ~has, axis=0) & (venue_count > 0)
    w = np.where(has & usable_weight, weights, 0.0)
    with np.errstate(all="ignore"):
        weighted_mean = (np.where(has, means, 0.0) * w).sum(axis=0) / w.sum(axis=0)
        equal_mean = np.where(has, means, 0.0).sum(axis=0) / venue_count
    value = np.where(venue_count == 0, np.nan, np.where(weighted, weighted_mean, equal_mean))

    lo, hi, hot = th.funding_neutral_low, th.funding_neutral_high, th.funding_overheated
    known = ~np.isnan(value)
    states = _states(
        n,
        (known & _ge(value, lo) & _le(value, hi), GOOD),
        (known & _gt(value, hi) & _le(value, hot), WARN),
        (known & _lt(value, lo), WARN),
        (known & _gt(value, hot), BAD),
    )
    verdicts, shorts, warming, none, mean_text = _funding_texts(th)

    @_repeating
    def known_reason(state: str, v: float, is_weighted: bool, venues: int) -> str:
        how = "OI-weighted" if is_weighted else "equal-weighted"
        verdict = verdicts.get(state) or (shorts if v < lo else warming)
        return f"funding {fmt.rate(v)}/8h ({mean_text}, {how}, {venues} venue{'s' if venues != 1 else ''}), {verdict}"

    reasons = [none if state == UNKNOWN else known_reason(state, v, is_weighted, venues)
               for state, v, is_weighted, venues in zip(states, value.tolist(), weighted.tolist(), venue_count.tolist())]
    return _signals_list("funding", states, value, reasons)


def _oi_metric(inp: AssetInputs) -> str:
    return "oi_base" if inp.venues("oi_base") else "oi_usd"


@_per_thresholds
def _oi_rebuild_limits(th: Thresholds) -> str:
    return f"slow is <={fmt.pct(th.oi_rebuild_good_24h, 0)}/24h and <={fmt.pct(th.oi_rebuild_good_72h, 0)}/72h"


def oi_rebuild_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    metric = _oi_metric(inp)
    max_age = int(th.fresh_oi_h * HOUR)
    agg = _aggregate(inp, metric, max_age)
    c24, c72 = agg.changes(at, (24 * HOUR, 72 * HOUR))
    known = ~np.isnan(c24) & ~np.isnan(c72)
    good = known & _le(c24, th.oi_rebuild_good_24h) & _le(c72, th.oi_rebuild_good_72h)
    warn = known & ~good & _le(c24, th.oi_rebuild_warn_24h) & _le(c72, th.oi_rebuild_warn_72h)
    states = _states(at.size, (good, GOOD), (warn, WARN), (known & ~good & ~warn, BAD))
    first = agg.first_ts()
    unit = "coin OI" if metric == "oi_base" else "USD OI"
    limits = _oi_rebuild_limits(th)
    speeds = {GOOD: "slow", WARN: "brisk", BAD: "fast, the trap pattern"}

    def known_reason(state: str, a24: float, a72: float) -> str:
        return f"{unit} {fmt.pct(a24)} 24h, {fmt.pct(a72)} 72h: {speeds[state]}; {limits}"

    reasons: list[str | Later] = []
    for state, a24, a72, age, t in zip(states, c24.tolist(), c72.tolist(), agg.age(at).tolist(), at.tolist()):
        if state != UNKNOWN:
            reasons.append(Later(known_reason, state, a24, a72))
        elif first is None or math.isnan(age):
            reasons.append("no OI data")
        elif age > max_age:
            reasons.append(Later(_staleness_reason, "OI", age, max_age))
        else:
            reasons.append(Later(_history_reason, "72h of OI", t - first))
    return _signals_list("oi_rebuild", states, c24, reasons)


def oi_level_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    max_age = int(th.fresh_oi_h * HOUR)
    agg = _aggregate(inp, "oi_usd", max_age)
    level, count = agg.level(at)
    first = agg.first_ts()
    window = int(th.oi_stable_window_h * HOUR)
    peak_window = int(th.oi_peak_window_days * DAY)
    fixed_ceiling = th.ceiling_for(inp.asset)
    recent = comparable_window_stats(agg, at, count, window)
    with np.errstate(all="ignore"):
        spread = np.where((recent.size > 0) & (recent.mean > 0), (recent.high - recent.low) / recent.mean, np.nan)
    stable = (~np.isnan(spread) & _le(spread, th.oi_stable_range)).tolist()
    if fixed_ceiling is None:
        peaks = comparable_window_stats(agg, at, count, peak_window, spread=False).high
        ceilings = th.oi_ceiling_peak_fraction * peaks
    else:
        peaks = np.full(at.size, np.nan)
        ceilings = np.full(at.size, fixed_ceiling, dtype=np.float64)
    above = _gt(level, ceilings).tolist()
    stable_limit = f"(stable <= {fmt.pct(th.oi_stable_range, 0, signed=False)})"

    def known_reason(state: str, lvl: float, ceiling: float, peak: float, history: int, spread: float) -> str:
        if fixed_ceiling is not None:
            ceiling_text = f"ceiling {fmt.usd(fixed_ceiling)}"
        else:
            ceiling_text = (
                f"ceiling {fmt.usd(ceiling)} ({th.oi_ceiling_peak_fraction:.0%} of "
                f"{fmt.duration(min(history, peak_window))} peak {fmt.usd(peak)})"
            )
        text = f"OI {fmt.usd(lvl)} {'above' if state == BAD else 'within'} {ceiling_text}"
        if state == BAD:
            return text
        spread_text = f"{th.oi_stable_window_h:g}h range {fmt.pct(spread, signed=False)} of mean"
        return f"{text}, stable: {spread_text}" if state == GOOD else f"{text}, not yet stable: {spread_text} {stable_limit}"

    def no_ceiling_reason(venues: int) -> str:
        # The venues fresh now were never all fresh together before: no peak to compare.
        return f"no OI history over the {venues} venue{'s' if venues != 1 else ''} fresh now to set the ceiling"

    states: list[str] = []
    reasons: list[str | Later] = []
    rows = zip(at.tolist(), level.tolist(), count.tolist(), agg.age(at).tolist(), ceilings.tolist(),
               peaks.tolist(), spread.tolist(), above, stable)
    for t, lvl, venues, age, ceiling, peak, spread_now, is_above, is_stable in rows:
        state = UNKNOWN
        if math.isnan(lvl):
            if first is None or math.isnan(age):
                reason: str | Later = "no OI (USD) data"
            else:
                reason = Later(_staleness_reason, "OI (USD)", age, max_age)
        elif t - first < window:
            reason = Later(_history_reason, f"{th.oi_stable_window_h:g}h of OI", t - first)
        elif fixed_ceiling is None and math.isnan(peak):
            reason = Later(no_ceiling_reason, venues)
        else:
            state = BAD if is_above else GOOD if is_stable else WARN
            reason = Later(known_reason, state, lvl, ceiling, peak, t - first, spread_now)
        states.append(state)
        reasons.append(reason)
    return _signals_list("oi_level", states, level, reasons)


_SHARED_TIMES = 64
"""Market-wide signals are shared between assets when evaluated at up to this many times (a
refresh of every asset); a backtest's long array of times is one asset's, so nothing to share."""


def _market_wide(compute: Callable[[AssetInputs, np.ndarray, Thresholds], list[Signal]]):
    """``compute``, a signal of the market-wide series alone, once for all the assets whose
    inputs were built together: its Signals are immutable, so each asset gets the same list."""

    @functools.wraps(compute)
    def signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
        if at.size > _SHARED_TIMES:
            return compute(inp, at, th)
        key = (compute.__name__, th, at.tobytes())
        found = inp.shared.get(key)
        if found is None:
            found = inp.shared[key] = compute(inp, at, th)
        return found

    return signal


@_market_wide
def stablecoins_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    s = inp.market.get("stablecoin_supply_usd", Series(np.empty(0, np.int64), np.empty(0)))
    max_age = int(th.fresh_daily_h * HOUR)
    now = s.asof(at, max_age)
    with np.errstate(all="ignore"):
        c7 = now / s.asof(at - 7 * DAY, max_age) - 1.0
        c14 = now / s.asof(at - 14 * DAY, max_age) - 1.0
    known = ~np.isnan(c7) & ~np.isnan(c14)
    good = known & _gt(c7, th.stablecoin_inflow_7d) & _gt(c14, 0.0)
    bad = known & _lt(c7, th.stablecoin_outflow_7d)
    states = _states(at.size, (known, WARN), (good, GOOD), (bad, BAD))
    verdicts = {
        GOOD: "inflows increasing",
        BAD: f"outflows: 7d below {fmt.pct(th.stablecoin_outflow_7d)}",
        WARN: f"flat or mixed: inflows need 7d > {fmt.pct(th.stablecoin_inflow_7d)} and 14d > 0",
    }

    @_repeating
    def known_reason(state: str, supply: float, a7: float, a14: float) -> str:
        return f"supply {fmt.usd(supply)}, 7d {fmt.pct(a7, 2)}, 14d {fmt.pct(a14, 2)}: {verdicts[state]}"

    reasons = []
    for state, supply, a7, a14, age in zip(states, now.tolist(), c7.tolist(), c14.tolist(), s.age(at).tolist()):
        if state != UNKNOWN:
            reasons.append(known_reason(state, supply, a7, a14))
        elif math.isnan(supply):
            reasons.append(_staleness_reason("stablecoin supply", age, max_age))
        else:
            reasons.append("needs 14d of stablecoin supply history")
    return _signals_list("stablecoins", states, c7, reasons)


@_market_wide
def sentiment_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    s = inp.market.get("fear_greed", Series(np.empty(0, np.int64), np.empty(0)))
    max_age = int(th.fresh_daily_h * HOUR)
    value = s.asof(at, max_age)
    known = ~np.isnan(value)
    states = _states(
        at.size,
        (known & _le(value, th.sentiment_fear_max), GOOD),
        (known & _gt(value, th.sentiment_fear_max) & _le(value, th.sentiment_greed_above), WARN),
        (known & _gt(value, th.sentiment_greed_above), BAD),
    )
    scale = f"fear <={th.sentiment_fear_max:g}, greed >{th.sentiment_greed_above:g}"
    moods = {GOOD: "fear, good for a rebuild", WARN: "neutral", BAD: "greed, dangerous"}

    @_repeating
    def known_reason(state: str, v: float) -> str:
        return f"Fear & Greed {v:g}: {moods[state]} ({scale})"

    reasons = [_staleness_reason("Fear & Greed", age, max_age) if state == UNKNOWN else known_reason(state, v)
               for state, v, age in zip(states, value.tolist(), s.age(at).tolist())]
    return _signals_list("sentiment", states, value, reasons)


@_per_thresholds
def _long_short_scale(th: Thresholds) -> str:
    return (f"balanced {th.long_short_balanced_low:.2f}-{th.long_short_balanced_high:.2f}, one-sided "
            f"<{th.long_short_extreme_low:.2f} or >{th.long_short_extreme_high:.2f}")


def long_short_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    venues = inp.venues("long_short_ratio")
    max_age = int(th.fresh_oi_h * HOUR)
    agg = Aggregate(venues, max_age)
    total, count = agg.level(at)
    with np.errstate(all="ignore"):
        value = total / count
    known = count > 0
    balanced = known & _ge(value, th.long_short_balanced_low) & _le(value, th.long_short_balanced_high)
    extreme = known & (_lt(value, th.long_short_extreme_low) | _gt(value, th.long_short_extreme_high))
    states = _states(at.size, (known, WARN), (balanced, GOOD), (extreme, BAD))
    scale = _long_short_scale(th)

    def known_reason(state: str, v: float, n: int) -> str:
        side = "longs" if v > 1 else "shorts"
        mood = {GOOD: "balanced", WARN: f"leaning to {side}", BAD: f"one-sided: {side}"}[state]
        return f"long/short {v:.2f} (mean of {n} venue{'s' if n != 1 else ''}): {mood}; {scale}"

    reasons: list[str | Later] = [
        Later(_staleness_reason, "long/short", age, max_age) if state == UNKNOWN else Later(known_reason, state, v, n)
        for state, v, n, age in zip(states, value.tolist(), count.tolist(), agg.age(at).tolist())
    ]
    return _signals_list("long_short", states, value, reasons)


def _liquidation_parts(inp: AssetInputs) -> dict[str, Series]:
    return {f"{metric}/{venue}": s for metric in ("liq_long_usd", "liq_short_usd")
            for venue, s in inp.venues(metric).items()}


@dataclass(frozen=True)
class _MergeOrder:
    """Which of the named parts each liquidation came from, in time order: what sorting them
    finds, in a byte an event (the merged series takes sixteen: 16 MB for a month of 1M events)."""

    parts: tuple[str, ...]
    order: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.order.nbytes


_RECENT_MERGES = _Memory(max_bytes=2 << 20)
"""The merged liquidations themselves, for the assets evaluated last (2 MB: a month of 5-minute
buckets on three venues takes 0.14 MB, of 50,000 events 0.8 MB). A live refresh evaluates the
selected asset every second; for it the kept events are copied (0.07 ms for the month of
buckets) rather than placed again in the remembered order (0.6 ms)."""


def _liquidation_events(inp: AssetInputs) -> Series:
    """Every liquidation of the asset on one series (same-time amounts summed), merged in the
    remembered order."""
    if "liquidations" not in inp.memo:
        parts = _liquidation_parts(inp)
        series = list(parts.values())
        key = ("liquidations", inp.asset)
        recalled = _recall(key, parts, horizon=0)
        if recalled is None or recalled[0].value.parts != tuple(parts):
            one_grid = on_one_grid(series)
            order = merge_order(series, one_grid)
            events = merge_additive(series, order, one_grid)
        else:
            # The events in [lo, hi) are the ones ordered last time: only those outside are sorted.
            # Time order puts every earlier event before them: as many as the parts held then.
            previous, lo, hi = recalled
            before = [p.between(_EARLIEST, lo) for p in series]
            after = [p.between(hi, _LATEST) for p in series]
            held = [previous.inputs[name].ts for name in parts]
            first, last = (sum(int(ts.searchsorted(bound)) for ts in held) for bound in (lo, hi))
            order = np.concatenate([merge_order(before), previous.value.order[first:last], merge_order(after)])
            merged = _RECENT_MERGES.recall(key)
            if merged is not None and merged.inputs is previous.inputs:
                # Merged from the very parts the order was remembered with: a merged event sums
                # the parts' events at its time, so the kept ones hold.
                kept, early, late = merged.value.between(lo, hi), merge_additive(before), merge_additive(after)
                events = Series(np.concatenate([early.ts, kept.ts, late.ts]),
                                np.concatenate([early.values, kept.values, late.values]))
            else:
                events = merge_additive(series, order)
        _MEMORY.keep(key, parts, _MergeOrder(tuple(parts), order))
        # Without the running sums this evaluation adds to ``events``: the next one copies it.
        _RECENT_MERGES.keep(key, parts, Series(events.ts, events.values))
        inp.memo["liquidations"] = events
    return inp.memo["liquidations"]


def _aggregate(inp: AssetInputs, metric: str, max_age: int) -> "Aggregate":
    key = ("aggregate", metric, max_age)
    if key not in inp.memo:
        inp.memo[key] = Aggregate(inp.venues(metric), max_age, key=("native", inp.asset, metric, max_age))
    return inp.memo[key]


def _row_median_and_mean(masked: np.ndarray, have: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median of the non-NaN entries of each row, and their mean where the median is not
    positive (``_typical`` reads it only there; NaN elsewhere and for empty rows).

    Sorting puts NaN last, so the median sits at the middle of the first ``have`` entries;
    much faster than ``np.nanmedian`` on wide rows.
    """
    ordered = np.sort(masked, axis=1)
    rows = np.arange(masked.shape[0])
    last = masked.shape[1] - 1
    lo = np.minimum(np.maximum((have - 1) // 2, 0), last)
    hi = np.minimum(np.maximum(have // 2, 0), last)
    median = (ordered[rows, lo] + ordered[rows, hi]) / 2.0
    empty = have == 0
    median[empty] = np.nan
    mean = np.full(median.size, np.nan)
    needed = (~(median > 0) & ~empty).nonzero()[0]
    if needed.size:
        # Each row is summed on its own: a subset of the rows sums to the same bits.
        some = masked[needed]
        mean[needed] = np.where(np.isnan(some), 0.0, some).sum(axis=1) / have[needed]
    return median, mean


def _baseline(events: Series, at: np.ndarray, bucket: int, buckets: int, coverage: int | None,
              min_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Typical bucket total over the ``buckets`` buckets before the current one.

    The median of the bucket totals, or their mean when most buckets saw nothing (a median of
    zero would make any liquidation look infinite). Buckets that end before the first
    liquidation ever recorded are not history we have; fewer than ``min_buckets``: NaN.
    """
    have = _covered_buckets(at, bucket, buckets, coverage)
    sliding = at.size > 1 and bool(np.all(np.diff(at) > 0)) and not np.any((at - at[0]) % bucket)
    found = _sliding_median_and_mean(events, at, bucket, buckets, have) if sliding else None
    median, mean = found if found is not None else _blockwise_median_and_mean(events, at, bucket, buckets, have)
    return _typical(median, mean, have, min_buckets), have


def _typical(median: np.ndarray, mean: np.ndarray, have: np.ndarray, min_buckets: int) -> np.ndarray:
    """The median, or the mean where the median is not positive; NaN short of ``min_buckets``."""
    base = np.where(median > 0, median, mean)
    base[(have < min_buckets) | ~(base > 0)] = np.nan
    return base


def _covered_buckets(at: np.ndarray, bucket: int, buckets: int, coverage: int | None) -> np.ndarray:
    """How many of the buckets before each time end at or after ``coverage`` (the first
    liquidation recorded): bucket k (1-based) ends at t - k * bucket, so they are the first ones."""
    if coverage is None:
        return np.zeros(at.size, dtype=np.int64)
    return np.minimum(np.maximum((at - coverage) // bucket, 0), buckets)


def _blockwise_median_and_mean(events: Series, at: np.ndarray, bucket: int, buckets: int,
                               have: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A matrix of bucket totals per time, a block of times at a time (bounded memory)."""
    median, mean = np.empty(at.size), np.empty(at.size)
    rows = max(1, CHUNK_CELLS // (buckets + 1))
    for lo in range(0, at.size, rows):
        part = slice(lo, lo + rows)
        # Column j holds the total up to the start of bucket j + 1 (the current bucket is 0),
        # so adjacent columns difference into bucket totals, exactly as window_sum would.
        before = events.cumulative_on_lattice(at[part] - bucket, bucket, buckets + 1)
        totals = before[:, :-1] - before[:, 1:]
        covered = np.arange(1, buckets + 1)[None, :] <= have[part, None]
        median[part], mean[part] = _row_median_and_mean(np.where(covered, totals, np.nan), have[part])
    return median, mean


def _sliding_median_and_mean(events: Series, at: np.ndarray, bucket: int, buckets: int,
                             have: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The same for ascending times one or more buckets apart (a backtest's steps): their
    buckets lie on one lattice and consecutive windows share most of them, so one sorted window
    slides along instead of a sort per time. None when a bucket total is NaN (no order)."""
    first = int(at[0]) - bucket * buckets
    ends = (at - first) // bucket  # each time's lattice index; its buckets end at the indices before
    before = events.cumulative_at(first + bucket * np.arange(-1, int(ends[-1]), dtype=np.int64))
    totals = before[1:] - before[:-1]  # totals[j]: the bucket ending at first + j * bucket
    if np.isnan(totals).any():
        return None
    values = totals.tolist()
    window: list[float] = []
    lo = hi = 0  # the window holds values[lo:hi], sorted
    median = np.full(at.size, np.nan)
    for i, (end, n) in enumerate(zip(ends.tolist(), have.tolist())):
        start = end - n
        if start < lo or start >= hi or (start - lo) + (end - hi) > len(window):
            window = sorted(values[start:end])
        else:
            for v in values[hi:end]:
                insort(window, v)
            for v in values[lo:start]:
                del window[bisect_left(window, v)]
        lo, hi = start, end
        if window:
            median[i] = (window[(n - 1) // 2] + window[n // 2]) / 2.0
    # The mean is only read where the median is not positive: sum those rows as the matrix does.
    mean = np.full(at.size, np.nan)
    rows = ((have > 0) & ~(median > 0)).nonzero()[0]
    if rows.size:
        k = np.arange(1, buckets + 1)
        row_totals = np.where(k[None, :] <= have[rows, None], totals[ends[rows, None] - k[None, :]], 0.0)
        mean[rows] = row_totals.sum(axis=1) / have[rows]
    return median, mean


def liquidations_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    events = _liquidation_events(inp)
    coverage = events.first_ts
    hours = int(round(th.liquidations_baseline_days * 24))
    base, have = _baseline(events, at, HOUR, hours, coverage, int(th.liquidations_min_baseline_hours))
    last = events.window_sum(at - HOUR, at)
    with np.errstate(all="ignore"):
        value = last / base
    known = ~np.isnan(value)
    states = _states(
        at.size,
        (known & _lt(value, th.liquidations_elevated), GOOD),
        (known & _ge(value, th.liquidations_elevated) & _lt(value, th.liquidations_cascade), WARN),
        (known & _ge(value, th.liquidations_cascade), BAD),
    )
    scale = f"elevated >={th.liquidations_elevated:g}x, cascade >={th.liquidations_cascade:g}x"
    short_history = f"needs {th.liquidations_min_baseline_hours:g}h of liquidation history"
    moods = {GOOD: "normal", WARN: "elevated", BAD: "cascade"}

    def known_reason(state: str, hour_total: float, ratio: float, typical: float, n: int) -> str:
        return (f"1h {fmt.usd(hour_total)} = {ratio:.1f}x the hourly median {fmt.usd(typical)} "
                f"({fmt.duration(min(n, hours) * HOUR)}): {moods[state]}; {scale}")

    def short_reason(n: int) -> str:
        return f"{short_history}, have {n}h"

    reasons: list[str | Later] = []
    for state, t, hour_total, ratio, typical, n in zip(states, at.tolist(), last.tolist(), value.tolist(),
                                                      base.tolist(), have.tolist()):
        if state == UNKNOWN:
            no_data = coverage is None or coverage > t
            reasons.append("no liquidation data" if no_data else Later(short_reason, n))
        else:
            reasons.append(Later(known_reason, state, hour_total, ratio, typical, n))
    return _signals_list("liquidations", states, value, reasons)


SIGNAL_FUNCTIONS = {
    "funding": funding_signal,
    "oi_rebuild": oi_rebuild_signal,
    "oi_level": oi_level_signal,
    "stablecoins": stablecoins_signal,
    "sentiment": sentiment_signal,
    "long_short": long_short_signal,
    "liquidations": liquidations_signal,
}


# ---------------------------------------------------------------------------------------------
# Flush detection
#
# Finding flushes scans the whole history: every OI observation and every minute with a
# liquidation is a candidate trigger. Two things keep that cheap. Bounds: a block of candidates
# whose best case cannot reach the threshold is ruled out without computing each of them (nearly
# every block outside a crash). Memory: a trigger at t reads only data from a bounded window
# before t, so each scan is remembered (see "Memory across evaluations") and the next evaluation
# checks only the candidates its new samples can change.


@dataclass(frozen=True)
class FlushStart:
    start: int
    trigger: str


def _scan(key: tuple, inputs: dict[str, Series], horizon: int | None, candidates: np.ndarray,
          fires: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The candidates at which ``fires`` holds, checking only those the last scan with this key
    cannot vouch for."""
    recalled = _recall(key, inputs, horizon)
    if recalled is None:
        triggers = candidates[fires(candidates)]
    else:
        previous, lo, hi = recalled
        redo = candidates[(candidates < lo) | (candidates >= hi)]
        kept = previous.value[(previous.value >= lo) & (previous.value < hi)]
        triggers = np.sort(np.concatenate([kept, redo[fires(redo)]]))
    _MEMORY.keep(key, inputs, triggers)
    return triggers


def _block_starts(ts: np.ndarray, span: int) -> np.ndarray:
    """Where each run of the ascending ``ts`` within one stretch of ``span`` ms (stretches
    aligned to multiples of it) begins: blocks no longer than ``span`` whatever the spacing."""
    if not ts.size:
        return np.empty(0, dtype=np.int64)
    first, last = int(ts[0]) // span, int(ts[-1]) // span
    if last - first > ts.size:  # more stretches than points: find the points' own stretches
        stretch = ts // span
        return np.concatenate([np.zeros(1, dtype=np.int64), (stretch[1:] != stretch[:-1]).nonzero()[0] + 1])
    edges = ts.searchsorted(span * np.arange(first + 1, last + 1, dtype=np.int64))
    starts = np.concatenate([np.zeros(1, dtype=np.int64), edges])
    new = np.ones(starts.size, dtype=bool)
    np.not_equal(starts[1:], starts[:-1], out=new[1:])
    return starts[new]


class _CandidateBlocks:
    """The candidate native points ``rows`` (None: all of them) in blocks spanning at most half
    the freshness limit (so every venue can be fresh over a block's `then`s, which the bound
    needs: 3 hours by default, 36 five-minute points), with what bounding a fall needs of the
    blocks themselves: the same for every window."""

    def __init__(self, agg: Aggregate, rows: np.ndarray | None):
        self.agg = agg
        native_ts, native_total, native_count = agg.native()
        ts, total, count = (native_ts, native_total, native_count) if rows is None else \
            (native_ts[rows], native_total[rows], native_count[rows])
        self.starts = _block_starts(ts, max(agg.max_age // 2, 1))
        self.lasts = np.append(self.starts[1:], ts.size)[:self.starts.size] - 1
        self.first_ts, self.last_ts = ts[self.starts], ts[self.lasts]
        everyone = None if agg.points().everywhere else count == len(agg.venues)
        self.everyone_now = np.ones(self.starts.size, dtype=bool) if everyone is None or everyone.all() else \
            np.logical_and.reduceat(everyone, self.starts)
        self.low_now = np.fmin.reduceat(total, self.starts)
        self.sizes = self.lasts - self.starts + 1

    def may_fall(self, drops: Sequence[tuple[int, float]]) -> list[np.ndarray]:
        """Per (window, drop) and block: False where the aggregate provably did not fall by
        ``drop`` over ``window``, True where it may have (to be computed exactly).

        In a block of candidates where every venue is fresh at each time t and at t - window,
        the change is total(t) / total(then) - 1 with then the last native point at or before
        t - window. With no negative totals it is at least the block's lowest total over the
        highest total in the range its `then`s span, minus 1: the same floating-point
        operations, which are monotonic, so a bound above the threshold rules out the whole
        block exactly. Every window is bounded in the same numpy calls, as rows of one matrix.
        """
        agg = self.agg
        native_ts, native_total, _ = agg.native()
        windows = np.array([window for window, _ in drops], dtype=np.int64)[:, None]
        limit = np.array([-drop for _, drop in drops])[:, None]
        # A candidate whose `then` comes before the first native point has no change at all
        # (nothing is known then), so the bound is over the `then`s from that point on.
        first_then = np.maximum(native_ts.searchsorted(self.first_ts - windows, side="right") - 1, 0)
        last_then = native_ts.searchsorted(self.last_ts - windows, side="right") - 1
        oldest = agg.oldest_latest(first_then.ravel()).reshape(first_then.shape)
        known = last_then >= 0
        everyone_then = known & (self.last_ts - windows - oldest <= agg.max_age)
        high_then = np.full(first_then.shape, np.nan)
        if known.any():
            high_then[known] = range_reduce(np.fmax, native_total, first_then[known], last_then[known] + 1)
        low_now = self.low_now
        with np.errstate(all="ignore"):
            bound = low_now / high_then - 1.0
            safe = self.everyone_now & everyone_then & (low_now >= 0) & (high_then > 0) & ~_le(bound, limit)
        # Before the first observation of any venue nothing is known then: no change at all.
        safe |= last_then < 0
        return list(~safe)

    def candidates(self, blocks: np.ndarray) -> np.ndarray:
        """The candidates (indices) in the blocks marked True."""
        return np.repeat(blocks, self.sizes).nonzero()[0]


def _oi_triggers(inp: AssetInputs, th: Thresholds) -> np.ndarray:
    """Observation times at which aggregate coin OI fell by the 24h or 72h threshold."""
    metric = _oi_metric(inp)
    max_age = int(th.fresh_oi_h * HOUR)
    agg = _aggregate(inp, metric, max_age)
    native_ts = agg.native_ts()
    drops = ((24 * HOUR, th.flush_oi_drop_24h), (72 * HOUR, th.flush_oi_drop_72h))

    def fires(ts: np.ndarray) -> np.ndarray:
        rows = None if ts is native_ts else native_ts.searchsorted(ts)
        hit = np.zeros(ts.size, dtype=bool)
        blocks = _CandidateBlocks(agg, rows)
        for (window, drop), falling in zip(drops, blocks.may_fall(drops)):
            if not falling.any():
                continue  # nothing to compute (nearly always)
            maybe = blocks.candidates(falling)
            maybe = maybe[~hit[maybe]]
            if maybe.size:
                (change,) = agg.changes(ts[maybe], (window,))
                hit[maybe] = _le(change, -drop) & ~np.isnan(change)
        return hit

    key = ("oi", inp.asset, metric, max_age, th.flush_oi_drop_24h, th.flush_oi_drop_72h)
    return _scan(key, agg.venues, max(w for w, _ in drops), native_ts, fires)


class _DayTotals:
    """Day totals of liquidations ending at every whole hour from ``days`` days before the first
    of ``hours`` (ascending whole hours) to a day before the last: the buckets of an hour's daily
    baseline (the days ending 1, 2, ... days before it) are every 24th total back from it."""

    def __init__(self, events: Series, hours: np.ndarray, days: int):
        self.days = days
        self.coverage = events.first_ts
        self.have = _covered_buckets(hours, DAY, days, self.coverage)
        first_end = int(hours[0]) - days * DAY
        ends = first_end + HOUR * np.arange(-24, (int(hours[-1]) - DAY - first_end) // HOUR + 1, dtype=np.int64)
        self.running, self.first_end = events.cumulative_at(ends), first_end
        # totals[i]: the day ending at first_end + i hours, exactly as window_sum(end - DAY, end).
        self.totals = self.running[24:] - self.running[:-24]
        self.position = (hours - first_end) // HOUR
        """Each hour's index on that lattice: its bucket k ends at position - 24k, and its running
        sum (up to the hour, less a day) is running[position]."""

    def lowest(self) -> np.ndarray:
        """Each hour's smallest covered bucket (inf for none, NaN if one is NaN).

        A bucket is covered when it ends at or after the first liquidation, whichever hour reads
        it, so with the others set to inf every hour's minimum is over its last ``days`` buckets:
        two overlapping runs of them, from minimums over runs of the largest power of two
        buckets that fits (halving the runs, a handful of numpy calls)."""
        w = self.days
        if w < 1 or self.coverage is None:
            return np.full(self.have.size, np.inf)
        covered_from = max(0, -(-(self.coverage - self.first_end) // HOUR))  # the first covered total
        runs = self.totals.copy()
        runs[:covered_from] = np.inf
        span = 1  # runs[i]: the minimum of totals i, i + 24, ... i + 24 * (span - 1)
        while 2 * span <= w:
            runs, span = np.minimum(runs[:-24 * span], runs[24 * span:]), 2 * span
        return np.minimum(runs[self.position - 24 * w], runs[self.position - 24 * span])

    def buckets(self, picked: np.ndarray) -> np.ndarray:
        """The picked hours' bucket totals, latest first: the baseline's matrix rows."""
        return self.totals[self.position[picked, None] - 24 * np.arange(1, self.days + 1)[None, :]]


def _hourly_flush_baselines(events: Series, hours: np.ndarray, days: int, min_days: int,
                            multiple: float) -> np.ndarray:
    """Each hour's daily baseline (``_baseline`` with daily buckets), or NaN for the hours in
    which no check can reach ``multiple`` times it (as for the hours without a baseline).

    Every check within hour H sums a day inside (H - 1d, H + 1h), and with no negative amounts
    that total bounds them all; the baseline, a median of daily totals, is at least their
    minimum (when positive). An hour whose bound over that minimum stays under the multiple is
    out, exactly: the operations are the same and monotonic. That is nearly every hour outside
    a cascade, which spares their medians.
    """
    day_totals = _DayTotals(events, hours, days)
    have = day_totals.have
    hot = have >= min_days
    bounded = not (events.values < 0).any()
    if bounded:
        # Sums up to each hour - 1 day are the day totals' running sums (same lattice, same lookups).
        since = day_totals.running[day_totals.position] if days >= 1 else events.cumulative_at(hours - DAY)
        bound = events.cumulative_at(hours + HOUR - 1) - since
        lowest = day_totals.lowest()
        with np.errstate(all="ignore"):
            hot &= _ge(bound / lowest, multiple) | ~(lowest > 0)
    base = np.full(hours.size, np.nan)
    picked = hot.nonzero()[0]
    if picked.size:
        covered = np.arange(1, days + 1)[None, :] <= have[picked, None]
        median, mean = _row_median_and_mean(np.where(covered, day_totals.buckets(picked), np.nan), have[picked])
        base[picked] = _typical(median, mean, have[picked], min_days)
        if bounded:
            # The same bound over the baseline itself rules out most of the rest.
            with np.errstate(all="ignore"):
                base[picked[~_ge(bound[picked] / base[picked], multiple)]] = np.nan
    return base


def _liquidation_triggers(inp: AssetInputs, th: Thresholds) -> np.ndarray:
    """Minute ends at which 24h liquidations reached the multiple of their daily median."""
    events = _liquidation_events(inp)
    days = int(round(th.liquidations_baseline_days))
    min_days = int(th.flush_liquidations_min_baseline_days)
    multiple = th.flush_liquidations_multiple

    def fires(check_ts: np.ndarray) -> np.ndarray:
        # The daily baseline moves slowly: it is computed once per hour, from the last full hour
        # before each check, which keeps a month-long cascade cheap.
        check_hours = check_ts // HOUR * HOUR
        hours = ascending_unique(check_hours)
        fired = np.zeros(check_ts.size, dtype=bool)
        if not hours.size:
            return fired
        hourly_base = _hourly_flush_baselines(events, hours, days, min_days, multiple)
        based = ~np.isnan(hourly_base)
        if not based.any():
            return fired  # no hour can reach the multiple (nearly always outside a cascade)
        _, hour_index = sorted_unique_index(check_hours)
        checked = based[hour_index]
        ts = check_ts[checked]
        with np.errstate(all="ignore"):
            fired[checked] = _ge(events.window_sum(ts - DAY, ts) / hourly_base[hour_index[checked]], multiple)
        return fired

    # The 24h total peaks at event times, so it is checked at the end of every minute that had one.
    candidates = ascending_unique(-(-events.ts // MINUTE) * MINUTE)  # events are in time order
    parts = _liquidation_parts(inp)
    # Checks sum windows as differences of running sums, whose last bits depend on every
    # earlier amount: a retention cut calls for a new scan (horizon None); appends do not.
    key = ("liquidation triggers", inp.asset, days, min_days, th.flush_liquidations_multiple)
    return _scan(key, parts, None, candidates, fires)


def flush_starts(inp: AssetInputs, th: Thresholds, until: int | None = None) -> list[FlushStart]:
    """Every flush start, each decided from data at or before it.

    A flush starts when aggregate coin OI falls by the 24h or 72h threshold, or when 24h
    liquidations reach the multiple of their daily median. Triggers closer than
    ``flush_merge_h`` to the previous trigger belong to the same flush.
    """
    liquidations, oi = _liquidation_triggers(inp, th), _oi_triggers(inp, th)
    times = np.concatenate([liquidations, oi])
    by_oi = np.concatenate([np.zeros(liquidations.size, bool), np.ones(oi.size, bool)])
    order = np.argsort(times, kind="stable")  # at equal times "liquidations" comes first
    times, by_oi = times[order], by_oi[order]
    if until is not None:
        known = times <= until
        times, by_oi = times[known], by_oi[known]
    first = np.ones(times.size, dtype=bool)
    first[1:] = np.diff(times) > int(th.flush_merge_h * HOUR)
    return [FlushStart(t, "oi" if oi_trigger else "liquidations")
            for t, oi_trigger in zip(times[first].tolist(), by_oi[first].tolist())]


def _describe_at(inp: AssetInputs, start: FlushStart, ends: np.ndarray, th: Thresholds) -> list[Flush]:
    """The flush's trough and depth as known at each time in ``ends`` (all at or after its start).

    The trough is the lowest aggregate since the start over as many venues as at the start;
    one running minimum serves every end.
    """
    agg = _aggregate(inp, _oi_metric(inp), int(th.fresh_oi_h * HOUR))
    ts, total, count = agg.native()
    unknown = Flush(start.start, start.trigger, None, None, None, None)
    idx = ts.searchsorted(start.start, side="right") - 1
    if idx < 0 or np.isnan(total[idx]):
        return [unknown] * ends.size
    ref = int(count[idx])
    peak_points = agg.comparable_between(start.start - int(th.flush_peak_days * DAY), start.start, ref)
    if not peak_points.size:
        return [unknown] * ends.size
    peak = float(peak_points.max())
    points_ts, points = agg.comparable(ref)
    since = points_ts.searchsorted(start.start, side="left")
    points_ts, points = points_ts[since:], points[since:]
    last = points_ts.searchsorted(ends, side="right") - 1
    if ends.size <= 4:
        # A live refresh asks at one time: the lowest point up to it, and the first point at
        # that level (comparable totals are never NaN), without running minimums over them all.
        lows = [(float(points[:j + 1].min()), int(points[:j + 1].argmin())) if j >= 0 else None
                for j in last.tolist()]
    else:
        lowest = np.minimum.accumulate(points)
        new_low = np.ones(points.size, dtype=bool)
        new_low[1:] = points[1:] < lowest[:-1]
        lowest_at = np.maximum.accumulate(np.where(new_low, np.arange(points.size), 0))  # first reached
        lows = [(float(lowest[j]), int(lowest_at[j])) if j >= 0 else None for j in last.tolist()]
    flushes = []
    for low in lows:
        if low is None:
            flushes.append(unknown)
            continue
        trough, at = low
        flushes.append(Flush(start.start, start.trigger, int(points_ts[at]), trough, peak, trough / peak - 1.0))
    return flushes


def describe_flush(inp: AssetInputs, start: FlushStart, at: int, th: Thresholds,
                   next_start: int | None = None) -> Flush:
    """Trough and depth of a flush as known at time ``at`` (or until the next flush)."""
    end = at if next_start is None else min(at, next_start)
    return _describe_at(inp, start, np.array([end], dtype=np.int64), th)[0]


# ---------------------------------------------------------------------------------------------
# Phase


def _phase(sig: dict[str, Signal], t: int, flush: FlushStart | None, th: Thresholds) -> tuple[str, int | None]:
    since = None if flush is None else t - flush.start
    if sig["liquidations"].state == BAD:
        return CASCADE, None
    if since is not None and since < th.phase_flush_h * HOUR:
        return FLUSH, None
    funding = sig["funding"]
    if (
        since is not None
        and since < th.phase_trap_days * DAY
        and sig["oi_rebuild"].state == BAD
        and funding.value is not None
        and _gt(funding.value, th.funding_neutral_high)
    ):
        return TRAP, None
    if (
        all(sig[name].state == GOOD for name in ("oi_level", "funding", "stablecoins"))
        and sig["oi_rebuild"].state in (GOOD, WARN)
        and sig["sentiment"].state in (GOOD, WARN)
    ):
        return RESTART, None
    if since is not None and th.phase_purifying_from_days * DAY <= since < th.phase_purifying_to_days * DAY:
        return PURIFYING, int(since // DAY) + 1
    if funding.state == BAD and sig["sentiment"].state == BAD:
        return OVERHEATED, None
    known_gates = sum(sig[name].state != UNKNOWN for name in GATE_SIGNALS)
    if funding.state != UNKNOWN and known_gates >= 3:
        return NEUTRAL, None
    return UNKNOWN_PHASE, None


def _recent_flushes(inp: AssetInputs, times: np.ndarray, starts: list[FlushStart], latest: np.ndarray,
                    th: Thresholds) -> list[Flush | None]:
    """Each time's latest flush, described as known then, while it is under the TRAP window old."""
    flushes: list[Flush | None] = [None] * times.size
    start_ts = np.array([s.start for s in starts] or [0], dtype=np.int64)
    recent = (latest >= 0) & (times - start_ts[np.maximum(latest, 0)] < th.phase_trap_days * DAY)
    for k in sorted_unique(latest[recent]).tolist():
        rows = (recent & (latest == k)).nonzero()[0]
        for row, flush in zip(rows.tolist(), _describe_at(inp, starts[k], times[rows], th)):
            flushes[row] = flush
    return flushes


def evaluate_inputs(inp: AssetInputs, at: Iterable[int], thresholds: Thresholds | None = None) -> list[Verdict]:
    th = thresholds or _DEFAULTS
    times = np.asarray(list(at) if not isinstance(at, np.ndarray) else at, dtype=np.int64)
    if times.size == 0:
        return []
    per_signal = [SIGNAL_FUNCTIONS[name](inp, times, th) for name in SIGNAL_NAMES]
    starts = flush_starts(inp, th, until=int(times.max()))
    latest = np.array([s.start for s in starts], dtype=np.int64).searchsorted(times, side="right") - 1
    flushes = _recent_flushes(inp, times, starts, latest, th)
    verdicts = []
    for t, k, flush, signals in zip(times.tolist(), latest.tolist(), flushes, zip(*per_signal)):
        by_name = dict(zip(SIGNAL_NAMES, signals))
        phase, day = _phase(by_name, t, starts[k] if k >= 0 else None, th)
        verdicts.append(Verdict(t, inp.asset, phase, by_name, flush, day))
    return verdicts


def evaluate(samples: pl.DataFrame, asset: str, at: Sequence[int] | np.ndarray,
             thresholds: Thresholds | None = None) -> list[Verdict]:
    """Signals and phase of ``asset`` at each time in ``at``, from a long samples frame."""
    return evaluate_inputs(inputs_from_frame(samples, asset), at, thresholds)


def aggregate_peak(inp: AssetInputs, metric: str, start: int, end: int,
                   thresholds: Thresholds | None = None) -> float | None:
    """The highest aggregate of ``metric`` in [start, end], over as many venues as at ``end``."""
    th = thresholds or _DEFAULTS
    agg = _aggregate(inp, metric, int(th.fresh_oi_h * HOUR))
    _, now_count = agg.level(np.array([end], dtype=np.int64))
    points = agg.comparable_between(start, end, int(now_count[0]))
    return float(points.max()) if points.size else None


def all_flushes(inp: AssetInputs, until: int, thresholds: Thresholds | None = None) -> list[Flush]:
    """Every flush up to ``until``, each with its trough before the next flush began."""
    th = thresholds or _DEFAULTS
    starts = flush_starts(inp, th, until=until)
    return [
        describe_flush(inp, s, until, th, starts[k + 1].start if k + 1 < len(starts) else None)
        for k, s in enumerate(starts)
    ]
