"""Signals, flush detection and phase (design.md section 3).

Pure functions: samples in, verdicts out. No I/O and no clock: "now" is each evaluation time,
and only samples with ts <= that time are read. Every function is vectorised over the array of
evaluation times, so a live refresh (one time) and a backtest (thousands) share one code path.

Per asset, series are aggregated across venues. When a dataset carries a ``market`` venue series
for the asset itself (an aggregate from elsewhere), it is used as the aggregate instead of
summing venues, so nothing is counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import polars as pl

from levtop import fmt
from levtop.model import ALL_ASSETS, DAY, HOUR, MARKET, MINUTE
from levtop.series import Series, merge_additive, sorted_unique
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


@dataclass(frozen=True)
class Signal:
    name: str
    state: str
    value: float | None
    reason: str

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
# Aggregation across venues


@dataclass(frozen=True)
class Aggregate:
    """A level metric summed across the venues fresh at each time."""

    venues: dict[str, Series]
    max_age: int
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    def level(self, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = np.zeros(at.shape)
        count = np.zeros(at.shape, dtype=np.int64)
        for s in self.venues.values():
            v = s.asof(at, self.max_age)
            ok = ~np.isnan(v)
            total[ok] += v[ok]
            count += ok
        total[count == 0] = np.nan
        return total, count

    def change(self, at: np.ndarray, window: int) -> np.ndarray:
        """Sum now / sum then - 1 over the venues fresh at both times (NaN when none)."""
        return self.changes(at, (window,))[0]

    def changes(self, at: np.ndarray, windows: Sequence[int]) -> list[np.ndarray]:
        """``change`` for several windows, reading each venue's current value once."""
        now_values = [s.asof(at, self.max_age) for s in self.venues.values()]
        out = []
        for window in windows:
            now_total = np.zeros(at.shape)
            then_total = np.zeros(at.shape)
            count = np.zeros(at.shape, dtype=np.int64)
            for s, now in zip(self.venues.values(), now_values):
                then = s.asof(at - window, self.max_age)
                ok = ~np.isnan(now) & ~np.isnan(then)
                now_total[ok] += now[ok]
                then_total[ok] += then[ok]
                count += ok
            change = np.full(at.shape, np.nan)
            ok = (count > 0) & (then_total > 0)
            change[ok] = now_total[ok] / then_total[ok] - 1.0
            out.append(change)
        return out

    def native_ts(self) -> np.ndarray:
        """Every observation time of any venue."""
        if "ts" not in self._memo:
            self._memo["ts"] = self._native_ts()
        return self._memo["ts"]

    def _native_ts(self) -> np.ndarray:
        if not self.venues:
            return np.empty(0, np.int64)
        arrays = [s.ts for s in self.venues.values()]
        same = all(a.size == arrays[0].size and np.array_equal(a, arrays[0]) for a in arrays[1:])
        return arrays[0] if same else sorted_unique(np.concatenate(arrays))

    def native(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The aggregate at every observation time of any venue: (ts, total, venue count)."""
        if "native" not in self._memo:
            ts = self.native_ts()
            total, count = self.level(ts)
            self._memo["native"] = (ts, total, count)
        return self._memo["native"]

    def first_ts(self) -> int | None:
        firsts = [s.first_ts for s in self.venues.values() if len(s)]
        return min(firsts) if firsts else None

    def age(self, at: np.ndarray) -> np.ndarray:
        """Age of the freshest venue observation at each time."""
        ages = [s.age(at) for s in self.venues.values()]
        if not ages:
            return np.full(at.shape, np.nan)
        # fmin ignores NaN unless every venue is NaN (then NaN), without nanmin's warning.
        return np.fmin.reduce(np.vstack(ages), axis=0)


def _comparable_points(ts, total, count, lo: int, hi: int, ref_count: int) -> np.ndarray:
    """Aggregate values in [lo, hi] summed over as many venues as the reference point.

    A venue dropping in or out would otherwise look like OI appearing or vanishing.
    """
    a = np.searchsorted(ts, lo, side="left")
    b = np.searchsorted(ts, hi, side="right")
    window_total = total[a:b]
    return window_total[(count[a:b] == ref_count) & ~np.isnan(window_total)]


# ---------------------------------------------------------------------------------------------
# Signals


def _signals_list(name: str, states: np.ndarray, values: np.ndarray, reasons: list[str]) -> list[Signal]:
    return [
        Signal(name, str(st), None if (st == UNKNOWN or not np.isfinite(v)) else float(v), r)
        for st, v, r in zip(states, values, reasons)
    ]


def _staleness_reason(what: str, ages: np.ndarray, i: int, max_age: int) -> str:
    if np.isnan(ages[i]):
        return f"no {what} data"
    return f"{what} data stale: last {fmt.duration(ages[i])} ago (max {fmt.duration(max_age)})"


def funding_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    window = int(th.funding_window_h * HOUR)
    funding = inp.venues("funding_8h")
    oi_usd = inp.venues("oi_usd")
    names = list(funding)
    n = at.size
    means = np.full((len(names), n), np.nan)
    weights = np.full((len(names), n), np.nan)
    for k, venue in enumerate(names):
        s = funding[venue]
        count = s.window_count(at - window, at)
        total = s.window_sum(at - window, at)
        with np.errstate(all="ignore"):
            means[k] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        if venue in oi_usd:
            weights[k] = oi_usd[venue].asof(at, int(th.fresh_oi_h * HOUR))
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
    states = np.full(n, UNKNOWN, dtype=object)
    known = ~np.isnan(value)
    states[known & _ge(value, lo) & _le(value, hi)] = GOOD
    states[known & _gt(value, hi) & _le(value, hot)] = WARN
    states[known & _lt(value, lo)] = WARN
    states[known & _gt(value, hot)] = BAD
    band = f"neutral band {fmt.rate(lo)}..{fmt.rate(hi)}"
    reasons = []
    for i in range(n):
        if not known[i]:
            reasons.append(f"no funding in the last {th.funding_window_h:g}h")
            continue
        how = "OI-weighted" if weighted[i] else "equal-weighted"
        venues = f"{venue_count[i]} venue{'s' if venue_count[i] != 1 else ''}"
        if states[i] == GOOD:
            verdict = band
        elif states[i] == BAD:
            verdict = f"overheated above {fmt.rate(hot)}"
        elif value[i] < lo:
            verdict = f"shorts crowded below {fmt.rate(lo)}"
        else:
            verdict = f"warming above {fmt.rate(hi)}"
        reasons.append(f"funding {fmt.rate(value[i])}/8h ({th.funding_window_h:g}h mean, {how}, {venues}), {verdict}")
    return _signals_list("funding", states, value, reasons)


def _oi_metric(inp: AssetInputs) -> str:
    return "oi_base" if inp.venues("oi_base") else "oi_usd"


def oi_rebuild_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    metric = _oi_metric(inp)
    max_age = int(th.fresh_oi_h * HOUR)
    agg = _aggregate(inp, metric, max_age)
    c24, c72 = agg.changes(at, (24 * HOUR, 72 * HOUR))
    known = ~np.isnan(c24) & ~np.isnan(c72)
    n = at.size
    states = np.full(n, UNKNOWN, dtype=object)
    good = known & _le(c24, th.oi_rebuild_good_24h) & _le(c72, th.oi_rebuild_good_72h)
    warn = known & ~good & _le(c24, th.oi_rebuild_warn_24h) & _le(c72, th.oi_rebuild_warn_72h)
    states[good] = GOOD
    states[warn] = WARN
    states[known & ~good & ~warn] = BAD
    first = agg.first_ts()
    ages = agg.age(at)
    unit = "coin OI" if metric == "oi_base" else "USD OI"
    limits = (
        f"slow is <={fmt.pct(th.oi_rebuild_good_24h, 0)}/24h and <={fmt.pct(th.oi_rebuild_good_72h, 0)}/72h"
    )
    reasons = []
    for i in range(n):
        if known[i]:
            speed = {GOOD: "slow", WARN: "brisk", BAD: "fast, the trap pattern"}[states[i]]
            reasons.append(f"{unit} {fmt.pct(c24[i])} 24h, {fmt.pct(c72[i])} 72h: {speed}; {limits}")
        elif first is None or np.isnan(ages[i]):
            reasons.append("no OI data")
        elif ages[i] > max_age:
            reasons.append(_staleness_reason("OI", ages, i, max_age))
        else:
            have = at[i] - first
            reasons.append(f"needs 72h of OI history, have {fmt.duration(have)}")
    return _signals_list("oi_rebuild", states, c24, reasons)


def oi_level_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    max_age = int(th.fresh_oi_h * HOUR)
    agg = _aggregate(inp, "oi_usd", max_age)
    level, count = agg.level(at)
    ts, total, cnt = agg.native()
    first = agg.first_ts()
    ages = agg.age(at)
    window = int(th.oi_stable_window_h * HOUR)
    peak_window = int(th.oi_peak_window_days * DAY)
    fixed_ceiling = th.ceiling_for(inp.asset)
    n = at.size
    states = np.full(n, UNKNOWN, dtype=object)
    reasons: list[str] = []
    for i in range(n):
        t = int(at[i])
        if np.isnan(level[i]):
            reasons.append("no OI (USD) data" if first is None or np.isnan(ages[i])
                           else _staleness_reason("OI (USD)", ages, i, max_age))
            continue
        if t - first < window:
            reasons.append(f"needs {th.oi_stable_window_h:g}h of OI history, have {fmt.duration(t - first)}")
            continue
        recent = _comparable_points(ts, total, cnt, t - window, t, int(count[i]))
        mean = recent.mean() if recent.size else np.nan
        spread = (recent.max() - recent.min()) / mean if recent.size and mean > 0 else np.nan
        if fixed_ceiling is not None:
            ceiling = fixed_ceiling
            ceiling_text = f"ceiling {fmt.usd(ceiling)}"
        else:
            history = _comparable_points(ts, total, cnt, t - peak_window, t, int(count[i]))
            if not history.size:
                # The venues fresh now were never all fresh together before: no peak to compare.
                venues = f"{int(count[i])} venue{'s' if count[i] != 1 else ''}"
                reasons.append(f"no OI history over the {venues} fresh now to set the ceiling")
                continue
            peak = history.max()
            ceiling = th.oi_ceiling_peak_fraction * peak
            ceiling_text = (
                f"ceiling {fmt.usd(ceiling)} ({th.oi_ceiling_peak_fraction:.0%} of "
                f"{fmt.duration(min(t - first, peak_window))} peak {fmt.usd(peak)})"
            )
        stable = not np.isnan(spread) and bool(_le(np.array(spread), th.oi_stable_range))
        spread_text = f"{th.oi_stable_window_h:g}h range {fmt.pct(spread, signed=False)} of mean"
        if _gt(np.array(level[i]), ceiling):
            states[i] = BAD
            reasons.append(f"OI {fmt.usd(level[i])} above {ceiling_text}")
        elif stable:
            states[i] = GOOD
            reasons.append(f"OI {fmt.usd(level[i])} within {ceiling_text}, stable: {spread_text}")
        else:
            states[i] = WARN
            reasons.append(
                f"OI {fmt.usd(level[i])} within {ceiling_text}, not yet stable: {spread_text} "
                f"(stable <= {fmt.pct(th.oi_stable_range, 0, signed=False)})"
            )
    return _signals_list("oi_level", states, level, reasons)


def stablecoins_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    s = inp.market.get("stablecoin_supply_usd", Series(np.empty(0, np.int64), np.empty(0)))
    max_age = int(th.fresh_daily_h * HOUR)
    now = s.asof(at, max_age)
    c7 = now / s.asof(at - 7 * DAY, max_age) - 1.0
    c14 = now / s.asof(at - 14 * DAY, max_age) - 1.0
    known = ~np.isnan(c7) & ~np.isnan(c14)
    n = at.size
    states = np.full(n, UNKNOWN, dtype=object)
    good = known & _gt(c7, th.stablecoin_inflow_7d) & _gt(c14, 0.0)
    bad = known & _lt(c7, th.stablecoin_outflow_7d)
    states[known] = WARN
    states[good] = GOOD
    states[bad] = BAD
    ages = s.age(at)
    reasons = []
    for i in range(n):
        if not known[i]:
            if np.isnan(now[i]):
                reasons.append(_staleness_reason("stablecoin supply", ages, i, max_age))
            else:
                reasons.append("needs 14d of stablecoin supply history")
            continue
        verdict = {
            GOOD: "inflows increasing",
            BAD: f"outflows: 7d below {fmt.pct(th.stablecoin_outflow_7d)}",
            WARN: f"flat or mixed: inflows need 7d > {fmt.pct(th.stablecoin_inflow_7d)} and 14d > 0",
        }[states[i]]
        reasons.append(f"supply {fmt.usd(now[i])}, 7d {fmt.pct(c7[i], 2)}, 14d {fmt.pct(c14[i], 2)}: {verdict}")
    return _signals_list("stablecoins", states, c7, reasons)


def sentiment_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    s = inp.market.get("fear_greed", Series(np.empty(0, np.int64), np.empty(0)))
    max_age = int(th.fresh_daily_h * HOUR)
    value = s.asof(at, max_age)
    known = ~np.isnan(value)
    states = np.full(at.size, UNKNOWN, dtype=object)
    states[known & _le(value, th.sentiment_fear_max)] = GOOD
    states[known & _gt(value, th.sentiment_fear_max) & _le(value, th.sentiment_greed_above)] = WARN
    states[known & _gt(value, th.sentiment_greed_above)] = BAD
    ages = s.age(at)
    scale = f"fear <={th.sentiment_fear_max:g}, greed >{th.sentiment_greed_above:g}"
    reasons = []
    for i in range(at.size):
        if not known[i]:
            reasons.append(_staleness_reason("Fear & Greed", ages, i, max_age))
            continue
        mood = {GOOD: "fear, good for a rebuild", WARN: "neutral", BAD: "greed, dangerous"}[states[i]]
        reasons.append(f"Fear & Greed {value[i]:g}: {mood} ({scale})")
    return _signals_list("sentiment", states, value, reasons)


def long_short_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    venues = inp.venues("long_short_ratio")
    max_age = int(th.fresh_oi_h * HOUR)
    agg = Aggregate(venues, max_age)
    total, count = agg.level(at)
    with np.errstate(all="ignore"):
        value = total / count
    known = count > 0
    states = np.full(at.size, UNKNOWN, dtype=object)
    balanced = known & _ge(value, th.long_short_balanced_low) & _le(value, th.long_short_balanced_high)
    extreme = known & (_lt(value, th.long_short_extreme_low) | _gt(value, th.long_short_extreme_high))
    states[known] = WARN
    states[balanced] = GOOD
    states[extreme] = BAD
    ages = agg.age(at)
    scale = (
        f"balanced {th.long_short_balanced_low:.2f}-{th.long_short_balanced_high:.2f}, one-sided "
        f"<{th.long_short_extreme_low:.2f} or >{th.long_short_extreme_high:.2f}"
    )
    reasons = []
    for i in range(at.size):
        if not known[i]:
            reasons.append(_staleness_reason("long/short", ages, i, max_age))
            continue
        side = "longs" if value[i] > 1 else "shorts"
        mood = {GOOD: "balanced", WARN: f"leaning to {side}", BAD: f"one-sided: {side}"}[states[i]]
        venues_text = f"mean of {count[i]} venue{'s' if count[i] != 1 else ''}"
        reasons.append(f"long/short {value[i]:.2f} ({venues_text}): {mood}; {scale}")
    return _signals_list("long_short", states, value, reasons)


def _liquidation_events(inp: AssetInputs) -> Series:
    if "liquidations" not in inp.memo:
        parts = [s for metric in ("liq_long_usd", "liq_short_usd") for s in inp.venues(metric).values()]
        inp.memo["liquidations"] = merge_additive(parts)
    return inp.memo["liquidations"]


def _aggregate(inp: AssetInputs, metric: str, max_age: int) -> "Aggregate":
    key = ("aggregate", metric, max_age)
    if key not in inp.memo:
        inp.memo[key] = Aggregate(inp.venues(metric), max_age)
    return inp.memo[key]


def _row_median_and_mean(masked: np.ndarray, have: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and mean of the non-NaN entries of each row (NaN for empty rows).

    Sorting puts NaN last, so the median sits at the middle of the first ``have`` entries;
    much faster than ``np.nanmedian`` on wide rows.
    """
    ordered = np.sort(masked, axis=1)
    rows = np.arange(masked.shape[0])
    lo = np.clip((have - 1) // 2, 0, masked.shape[1] - 1)
    hi = np.clip(have // 2, 0, masked.shape[1] - 1)
    median = (ordered[rows, lo] + ordered[rows, hi]) / 2.0
    total = np.where(np.isnan(masked), 0.0, masked).sum(axis=1)
    with np.errstate(all="ignore"):
        mean = total / have
    empty = have == 0
    median[empty] = np.nan
    mean[empty] = np.nan
    return median, mean


def _baseline(events: Series, at: np.ndarray, bucket: int, buckets: int, coverage: int | None,
              min_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Typical bucket total over the ``buckets`` buckets before the current one.

    The median of the bucket totals, or their mean when most buckets saw nothing (a median of
    zero would make any liquidation look infinite). Buckets that end before the first
    liquidation ever recorded are not history we have; fewer than ``min_buckets``: NaN.
    """
    n = at.size
    ends = at[:, None] - bucket * np.arange(1, buckets + 1)[None, :]
    totals = events.window_sum((ends - bucket).ravel(), ends.ravel()).reshape(n, buckets)
    covered = ends >= coverage if coverage is not None else np.zeros_like(ends, dtype=bool)
    have = covered.sum(axis=1)
    median, mean = _row_median_and_mean(np.where(covered, totals, np.nan), have)
    base = np.where(median > 0, median, mean)
    base[(have < min_buckets) | ~(base > 0)] = np.nan
    return base, have


def liquidations_signal(inp: AssetInputs, at: np.ndarray, th: Thresholds) -> list[Signal]:
    events = _liquidation_events(inp)
    coverage = events.first_ts
    hours = int(round(th.liquidations_baseline_days * 24))
    base, have = _baseline(events, at, HOUR, hours, coverage, int(th.liquidations_min_baseline_hours))
    last = events.window_sum(at - HOUR, at)
    with np.errstate(all="ignore"):
        value = last / base
    known = ~np.isnan(value)
    states = np.full(at.size, UNKNOWN, dtype=object)
    states[known & _lt(value, th.liquidations_elevated)] = GOOD
    states[known & _ge(value, th.liquidations_elevated) & _lt(value, th.liquidations_cascade)] = WARN
    states[known & _ge(value, th.liquidations_cascade)] = BAD
    reasons = []
    for i in range(at.size):
        if not known[i]:
            if coverage is None or coverage > at[i]:
                reasons.append("no liquidation data")
            else:
                reasons.append(
                    f"needs {th.liquidations_min_baseline_hours:g}h of liquidation history, have {int(have[i])}h"
                )
            continue
        mood = {GOOD: "normal", WARN: "elevated", BAD: "cascade"}[states[i]]
        reasons.append(
            f"1h {fmt.usd(last[i])} = {value[i]:.1f}x the hourly median {fmt.usd(base[i])} "
            f"({fmt.duration(min(have[i], hours) * HOUR)}): {mood}; elevated >={th.liquidations_elevated:g}x, "
            f"cascade >={th.liquidations_cascade:g}x"
        )
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


@dataclass(frozen=True)
class FlushStart:
    start: int
    trigger: str


def flush_starts(inp: AssetInputs, th: Thresholds, until: int | None = None) -> list[FlushStart]:
    """Every flush start, each decided from data at or before it.

    A flush starts when aggregate coin OI falls by the 24h or 72h threshold, or when 24h
    liquidations reach the multiple of their daily median. Triggers closer than
    ``flush_merge_h`` to the previous trigger belong to the same flush.
    """
    triggers: list[tuple[int, str]] = []
    metric = _oi_metric(inp)
    agg = _aggregate(inp, metric, int(th.fresh_oi_h * HOUR))
    ts = agg.native_ts()
    if until is not None:
        ts = ts[ts <= until]
    if ts.size:
        c24, c72 = agg.changes(ts, (24 * HOUR, 72 * HOUR))
        hit = (_le(c24, -th.flush_oi_drop_24h) & ~np.isnan(c24)) | (
            _le(c72, -th.flush_oi_drop_72h) & ~np.isnan(c72)
        )
        triggers += [(int(t), "oi") for t in ts[hit]]

    events = _liquidation_events(inp)
    if len(events):
        # The 24h total peaks at event times, so it is checked at the end of every minute that
        # had one. Its daily baseline moves slowly: it is computed once per hour, from the
        # last full hour before each check, which keeps a month-long cascade cheap.
        check_ts = sorted_unique(-(-events.ts // MINUTE) * MINUTE)
        if until is not None:
            check_ts = check_ts[check_ts <= until]
        if check_ts.size:
            hours = sorted_unique(check_ts // HOUR * HOUR)
            days = int(round(th.liquidations_baseline_days))
            hourly_base, _ = _baseline(events, hours, DAY, days, events.first_ts,
                                       int(th.flush_liquidations_min_baseline_days))
            base = hourly_base[np.searchsorted(hours, check_ts // HOUR * HOUR)]
            day_total = events.window_sum(check_ts - DAY, check_ts)
            with np.errstate(all="ignore"):
                hit = _ge(day_total / base, th.flush_liquidations_multiple) & ~np.isnan(base)
            triggers += [(int(t), "liquidations") for t in check_ts[hit]]

    triggers.sort()
    merge = int(th.flush_merge_h * HOUR)
    starts: list[FlushStart] = []
    last_trigger = None
    for t, kind in triggers:
        if last_trigger is None or t - last_trigger > merge:
            starts.append(FlushStart(t, kind))
        last_trigger = t
    return starts


def describe_flush(inp: AssetInputs, start: FlushStart, at: int, th: Thresholds,
                   next_start: int | None = None) -> Flush:
    """Trough and depth of a flush as known at time ``at`` (or until the next flush)."""
    agg = _aggregate(inp, _oi_metric(inp), int(th.fresh_oi_h * HOUR))
    ts, total, count = agg.native()
    end = at if next_start is None else min(at, next_start)
    idx = np.searchsorted(ts, start.start, side="right") - 1
    if idx < 0 or np.isnan(total[idx]):
        return Flush(start.start, start.trigger, None, None, None, None)
    ref = int(count[idx])
    a, b = np.searchsorted(ts, start.start, side="left"), np.searchsorted(ts, end, side="right")
    mask = (count[a:b] == ref) & ~np.isnan(total[a:b])
    peak_points = _comparable_points(ts, total, count, start.start - int(th.flush_peak_days * DAY),
                                     start.start, ref)
    if not mask.any() or not peak_points.size:
        return Flush(start.start, start.trigger, None, None, None, None)
    window_ts, window_total = ts[a:b][mask], total[a:b][mask]
    k = int(np.argmin(window_total))
    trough, peak = float(window_total[k]), float(peak_points.max())
    return Flush(start.start, start.trigger, int(window_ts[k]), trough, peak, trough / peak - 1.0)


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
        and bool(_gt(np.array(funding.value), th.funding_neutral_high))
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


def evaluate_inputs(inp: AssetInputs, at: Iterable[int], thresholds: Thresholds | None = None) -> list[Verdict]:
    th = thresholds or Thresholds()
    times = np.asarray(list(at) if not isinstance(at, np.ndarray) else at, dtype=np.int64)
    if times.size == 0:
        return []
    per_signal = {name: fn(inp, times, th) for name, fn in SIGNAL_FUNCTIONS.items()}
    starts = flush_starts(inp, th, until=int(times.max()))
    start_ts = np.array([s.start for s in starts], dtype=np.int64)
    latest = np.searchsorted(start_ts, times, side="right") - 1
    described: dict[tuple[int, int], Flush] = {}
    verdicts = []
    for i, t in enumerate(times.tolist()):
        signals = {name: per_signal[name][i] for name in SIGNAL_NAMES}
        flush_start = starts[latest[i]] if latest[i] >= 0 else None
        phase, day = _phase(signals, t, flush_start, th)
        flush = None
        if flush_start is not None and t - flush_start.start < th.phase_trap_days * DAY:
            key = (latest[i], t)
            flush = described.get(key) or describe_flush(inp, flush_start, t, th)
            described[key] = flush
        verdicts.append(Verdict(t, inp.asset, phase, signals, flush, day))
    return verdicts


def evaluate(samples: pl.DataFrame, asset: str, at: Sequence[int] | np.ndarray,
             thresholds: Thresholds | None = None) -> list[Verdict]:
    """Signals and phase of ``asset`` at each time in ``at``, from a long samples frame."""
    return evaluate_inputs(inputs_from_frame(samples, asset), at, thresholds)


def aggregate_peak(inp: AssetInputs, metric: str, start: int, end: int,
                   thresholds: Thresholds | None = None) -> float | None:
    """The highest aggregate of ``metric`` in [start, end], over as many venues as at ``end``."""
    th = thresholds or Thresholds()
    agg = _aggregate(inp, metric, int(th.fresh_oi_h * HOUR))
    ts, total, count = agg.native()
    _, now_count = agg.level(np.array([end], dtype=np.int64))
    points = _comparable_points(ts, total, count, start, end, int(now_count[0]))
    return float(points.max()) if points.size else None


def all_flushes(inp: AssetInputs, until: int, thresholds: Thresholds | None = None) -> list[Flush]:
    """Every flush up to ``until``, each with its trough before the next flush began."""
    th = thresholds or Thresholds()
    starts = flush_starts(inp, th, until=until)
    return [
        describe_flush(inp, s, until, th, starts[k + 1].start if k + 1 < len(starts) else None)
        for k, s in enumerate(starts)
    ]
