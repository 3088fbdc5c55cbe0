"""The optimised signal engine against straightforward references (issue 7).

The engine bounds its flush scans, slides medians, vectorises windows over times and remembers
results between evaluations. Each shortcut must give the very result of the plain computation,
to the bit: here every one is checked against a plain version on random data, and evaluations
that reuse remembered results against evaluations from scratch.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levtop import signals as engine
from levtop.model import DAY, HOUR, MINUTE
from levtop.series import (
    Series,
    extension_of,
    merge_additive,
    range_means,
    range_reduce,
    sorted_unique,
    sorted_unique_index,
)
from levtop.signals import Aggregate, Thresholds, clear_caches, evaluate_inputs, inputs_from_series

T0 = 1_700_006_400_000
seeds = st.integers(0, 2**32 - 1)


def same_floats(a, b) -> bool:
    """Equal to the bit: NaN where NaN, and -0.0 apart from 0.0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(a.view(np.int64) == b.view(np.int64)))


# -- primitives ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(seed=seeds)
def test_range_means_equal_each_slices_mean(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 1, 500) * 10.0 ** rng.integers(-6, 9, 500)
    a = rng.integers(0, 500, 200)
    b = np.minimum(a + rng.integers(1, 300, 200), 500)
    assert same_floats(range_means(values, a, b), [values[i:j].mean() for i, j in zip(a, b)])


@settings(max_examples=60, deadline=None)
@given(seed=seeds)
def test_range_reduce_equals_each_slices_max_and_min(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 1, 300)
    values[rng.random(300) < 0.1] = np.nan
    a = rng.integers(0, 300, 100)
    b = np.minimum(a + rng.integers(1, 80, 100), 300)  # many ranges run to the end
    for op, plain in ((np.maximum, np.max), (np.minimum, np.min), (np.fmax, np.nanmax), (np.fmin, np.nanmin)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # np.nanmax of an all-NaN slice: NaN
            expected = [plain(values[i:j]) for i, j in zip(a, b)]
        assert same_floats(range_reduce(op, values, a, b), expected)


@settings(max_examples=60, deadline=None)
@given(seed=seeds, step=st.sampled_from([MINUTE, HOUR, DAY, 7 * MINUTE]), count=st.integers(1, 40))
def test_cumulative_on_lattice_equals_searching_every_point(seed, step, count):
    rng = np.random.default_rng(seed)
    events = Series.from_arrays(T0 + rng.integers(-5 * DAY, DAY, 400), rng.pareto(1.5, 400))
    grid = rng.choice([HOUR, DAY, 1, 3 * HOUR])
    first = np.sort(T0 + grid * rng.integers(-100, 100, rng.integers(1, 60)))
    points = first[:, None] - step * np.arange(count)[None, :]
    assert same_floats(events.cumulative_on_lattice(first, step, count), events.cumulative_at(points))


def merge_by_sorting(parts: list[Series]) -> Series:
    """merge_additive's general path, whatever the parts."""
    ts = np.concatenate([p.ts for p in parts])
    values = np.concatenate([p.values for p in parts])
    order = np.argsort(ts, kind="stable")
    ts, values = ts[order], values[order]
    start = np.flatnonzero(np.concatenate([[True], ts[1:] != ts[:-1]]))
    return Series(ts[start], np.add.reduceat(values, start))


@settings(max_examples=40, deadline=None)
@given(seed=seeds, parts=st.integers(2, 8))
def test_buckets_on_one_grid_merge_as_the_general_path_does(seed, parts):
    rng = np.random.default_rng(seed)
    ts = T0 + MINUTE * np.arange(300)
    series = [Series(ts, rng.normal(0, 1, 300) * 10.0 ** rng.integers(-8, 8, 300)) for _ in range(parts)]
    series[0].values[:3] = -0.0
    merged, expected = merge_additive(series), merge_by_sorting(series)
    assert np.array_equal(merged.ts, expected.ts) and same_floats(merged.values, expected.values)


def test_extension_of_tells_appends_and_retention_cuts_from_rewrites():
    old = Series(np.array([1, 2, 3, 4]), np.array([1.0, 2.0, 3.0, 4.0]))

    def s(ts, values):
        return Series(np.array(ts), np.array(values, dtype=float))

    assert extension_of(old, old) == (None, None)
    assert extension_of(old, s([1, 2, 3, 4, 6], [1, 2, 3, 4, 5])) == (None, 6)
    assert extension_of(old, s([3, 4, 6], [3, 4, 5])) == (3, 6)
    assert extension_of(old, s([2, 3, 4], [2, 3, 4])) == (2, None)
    assert extension_of(old, s([1, 2, 3, 4], [1, 2, 3, 5])) is None  # a rewrite
    assert extension_of(old, s([1, 2, 3, 3.5, 4], [1, 2, 3, 0, 4])) is None  # an insertion
    assert extension_of(old, s([5, 6], [1, 2])) is None  # everything old is gone
    assert extension_of(old, s([], [])) is None
    assert extension_of(s([], []), old) == (None, 1)


def test_sorted_unique_index():
    values = np.array([3, 3, 5, 7, 7, 7, 9])
    unique, index = sorted_unique_index(values)
    assert unique.tolist() == sorted_unique(values).tolist() == [3, 5, 7, 9]
    assert unique[index].tolist() == values.tolist()


# -- random markets -----------------------------------------------------------------------------


def random_market(rng: np.random.Generator, days: int = 35) -> dict[tuple[str, str, str], Series]:
    """An asset on two or three venues with crashes, gaps, stale venues and liquidation bursts."""
    out: dict[tuple[str, str, str], Series] = {}
    end = T0
    for venue in rng.choice(["binance", "bybit", "okx"], int(rng.integers(2, 4)), replace=False).tolist():
        step = int(rng.choice([5 * MINUTE, HOUR, 17 * MINUTE]))
        ts = end - step * np.arange(int(days * DAY // step))[::-1]
        keep = rng.random(ts.size) > float(rng.choice([0.0, 0.05, 0.5]))  # gaps
        ts = ts[keep] + (rng.integers(0, 90_000, keep.sum()) if rng.random() < 0.3 else 0)
        ts = np.unique(ts)
        crash = np.where(rng.random(ts.size) < 0.002, rng.uniform(0.5, 0.85), 1.0)
        oi = 1e6 * np.cumprod(crash * np.exp(rng.normal(0, 0.003, ts.size)))
        out[(venue, "BTC", "oi_base")] = Series(ts, oi)
        out[(venue, "BTC", "oi_usd")] = Series(ts, oi * 30_000)
        out[(venue, "BTC", "long_short_ratio")] = Series(ts, rng.uniform(0.4, 2.5, ts.size))
        settle = ts[ts % (8 * HOUR) < step]
        out[(venue, "BTC", "funding_8h")] = Series(settle, rng.normal(0.0001, 0.0002, settle.size))
        for metric in ("liq_long_usd", "liq_short_usd"):
            n = int(rng.integers(50, 3000))
            times = end - rng.integers(0, days * DAY, n)
            if rng.random() < 0.5:
                times = times // MINUTE * MINUTE  # per-minute buckets, shared across venues
            amounts = rng.pareto(1.3, n) * 1e4 * np.where(rng.random(n) < 0.01, 50, 1)
            out[(venue, "BTC", metric)] = Series.from_arrays(times, amounts)
    daily = end - DAY * np.arange(days)[::-1]
    out[("market", "*", "fear_greed")] = Series(daily, rng.integers(5, 95, days).astype(float))
    out[("market", "*", "stablecoin_supply_usd")] = Series(daily, 150e9 * np.cumprod(1 + rng.normal(0, 0.002, days)))
    return out


def evaluation_times(rng: np.random.Generator) -> np.ndarray:
    hourly = T0 - HOUR * np.arange(int(rng.integers(1, 30 * 24)))[::-1]
    return hourly if rng.random() < 0.5 else np.sort(rng.choice(hourly, min(hourly.size, 7), replace=False))


# -- flush scans, windows, baselines --------------------------------------------------------------


def plain_oi_triggers(series, th: Thresholds) -> np.ndarray:
    """Every observation time checked, none ruled out by a bound."""
    inp = inputs_from_series("BTC", series)
    agg = Aggregate(inp.venues(engine._oi_metric(inp)), int(th.fresh_oi_h * HOUR))
    ts = agg.native_ts()
    c24, c72 = agg.changes(ts, (24 * HOUR, 72 * HOUR))
    hit = (engine._le(c24, -th.flush_oi_drop_24h) & ~np.isnan(c24)) | (
        engine._le(c72, -th.flush_oi_drop_72h) & ~np.isnan(c72))
    return ts[hit]


def plain_liquidation_triggers(series, th: Thresholds) -> np.ndarray:
    """Every minute with a liquidation checked against its hour's baseline, each hour's median
    computed."""
    inp = inputs_from_series("BTC", series)
    events = merge_by_sorting(list(engine._liquidation_parts(inp).values()) or [Series(np.empty(0, np.int64), np.empty(0))])
    if not len(events):
        return np.empty(0, np.int64)
    check = sorted_unique(-(-events.ts // MINUTE) * MINUTE)
    hours = sorted_unique(check // HOUR * HOUR)
    days = int(round(th.liquidations_baseline_days))
    base, _ = engine._baseline(events, hours, DAY, days, int(events.ts[0]), int(th.flush_liquidations_min_baseline_days))
    base = base[np.searchsorted(hours, check // HOUR * HOUR)]
    with np.errstate(all="ignore"):
        hit = engine._ge(events.window_sum(check - DAY, check) / base, th.flush_liquidations_multiple) & ~np.isnan(base)
    return check[hit]


@settings(max_examples=60, deadline=None)
@given(seed=seeds, span=st.sampled_from([1, 7, 5 * MINUTE, 3 * HOUR, DAY]))
def test_candidate_blocks_cover_every_point_each_within_its_span(seed, span):
    rng = np.random.default_rng(seed)
    ts = sorted_unique(T0 - rng.integers(0, 10 * DAY, int(rng.integers(0, 400))))
    starts = engine._block_starts(ts, span)
    if not ts.size:
        assert starts.size == 0
        return
    ends = np.append(starts[1:], ts.size)
    assert starts[0] == 0 and np.all(ends > starts)  # every point in one non-empty block, in order
    assert np.all(ts[ends - 1] // span == ts[starts] // span)  # within one stretch of the span
    assert np.all(ts[starts[1:]] // span > ts[starts[1:] - 1] // span)  # a new block at each new stretch


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_bounded_flush_scans_find_every_trigger_the_plain_scans_find(seed):
    rng = np.random.default_rng(seed)
    series = random_market(rng)
    th = Thresholds(flush_oi_drop_24h=float(rng.choice([0.1, 0.03])),
                    flush_liquidations_multiple=float(rng.choice([5.0, 2.0])))
    clear_caches()
    inp = inputs_from_series("BTC", series)
    assert np.array_equal(engine._oi_triggers(inp, th), plain_oi_triggers(series, th))
    assert np.array_equal(engine._liquidation_triggers(inp, th), plain_liquidation_triggers(series, th))


@settings(max_examples=40, deadline=None)
@given(seed=seeds, bucket=st.sampled_from([HOUR, DAY]), stride=st.sampled_from([1, 2, 24]))
def test_sliding_baseline_equals_the_matrix_of_bucket_totals(seed, bucket, stride):
    rng = np.random.default_rng(seed)
    events = Series.from_arrays(T0 - rng.integers(0, 40 * DAY, 2000), rng.pareto(1.2, 2000) * (rng.random(2000) < 0.3))
    at = T0 - bucket * stride * np.arange(int(rng.integers(2, 300)))[::-1]
    buckets = int(rng.choice([24, 30, 720]))
    have = engine._covered_buckets(at, bucket, buckets, int(events.ts[0]))
    sliding = engine._sliding_median_and_mean(events, at, bucket, buckets, have)
    matrix = engine._blockwise_median_and_mean(events, at, bucket, buckets, have)
    mean_read = ~(matrix[0] > 0)  # the mean only counts where the median is not positive
    assert same_floats(sliding[0], matrix[0])
    assert same_floats(sliding[1][mean_read], matrix[1][mean_read])


@settings(max_examples=60, deadline=None)
@given(seed=seeds, days=st.integers(1, 40))
def test_day_totals_table_gives_each_hours_buckets_and_their_minimum(seed, days):
    rng = np.random.default_rng(seed)
    events = Series.from_arrays(T0 - rng.integers(0, 50 * DAY, 3000), rng.pareto(1.2, 3000))
    hours = np.unique(T0 - HOUR * rng.integers(0, 40 * 24, int(rng.integers(1, 200))))
    table = engine._DayTotals(events, hours, days)
    ends = hours[:, None] - DAY * np.arange(1, days + 1)[None, :]
    plain = events.window_sum(ends - DAY, ends)
    assert same_floats(table.buckets(np.arange(hours.size)), plain)
    covered = np.arange(1, days + 1)[None, :] <= table.have[:, None]
    assert same_floats(table.lowest(), np.where(covered, plain, np.inf).min(axis=1, initial=np.inf))


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_window_statistics_for_all_times_equal_each_times_own(seed):
    rng = np.random.default_rng(seed)
    series = random_market(rng, days=int(rng.integers(3, 40)))
    inp = inputs_from_series("BTC", series)
    agg = Aggregate(inp.venues("oi_usd"), 6 * HOUR)
    at = evaluation_times(rng)
    _, count = agg.level(at)
    window = int(rng.choice([72 * HOUR, 90 * DAY]))
    stats = engine.comparable_window_stats(agg, at, count, window)
    for i, (t, c) in enumerate(zip(at.tolist(), count.tolist())):
        points = agg.comparable_between(t - window, t, c) if c else np.empty(0)
        assert stats.size[i] == points.size
        if points.size:
            assert same_floats([stats.high[i], stats.low[i], stats.mean[i]], [points.max(), points.min(), points.mean()])


@settings(max_examples=30, deadline=None)
@given(seed=seeds)
def test_a_flush_described_at_many_times_equals_each_description(seed):
    rng = np.random.default_rng(seed)
    series = random_market(rng)
    th = Thresholds(flush_oi_drop_24h=0.03)
    inp = inputs_from_series("BTC", series)
    starts = engine.flush_starts(inp, th)
    if not starts:
        return
    start = starts[int(rng.integers(0, len(starts)))]
    ends = np.sort(start.start + rng.integers(0, 30 * DAY, 20))
    agg = engine._aggregate(inp, engine._oi_metric(inp), int(th.fresh_oi_h * HOUR))
    ts, total, count = agg.native()
    for end, flush in zip(ends.tolist(), engine._describe_at(inp, start, ends, th)):
        # The plain version: the lowest comparable total in [start, end], first where reached.
        idx = np.searchsorted(ts, start.start, side="right") - 1
        a, b = np.searchsorted(ts, start.start), np.searchsorted(ts, end, side="right")
        ok = (count[a:b] == count[idx]) & ~np.isnan(total[a:b]) if idx >= 0 else np.zeros(0, bool)
        if flush.trough is None:
            assert idx < 0 or np.isnan(total[idx]) or not ok.any() or flush.peak is None
            continue
        k = int(np.argmin(total[a:b][ok]))
        assert (flush.trough, flush.trough_ts) == (float(total[a:b][ok][k]), int(ts[a:b][ok][k]))


# -- memory across evaluations ----------------------------------------------------------------------


def changed(rng: np.random.Generator, series: dict, now: int, how: str) -> dict:
    """The series after new samples, a retention cut, or a rewrite of an old value."""
    out = dict(series)
    keys = [k for k in out if k[1] == "BTC"]
    for key in rng.choice(len(keys), int(rng.integers(1, len(keys) + 1)), replace=False).tolist():
        s = out[keys[key]]
        if how == "append":
            after = max(now, int(s.ts[-1])) if len(s) else now  # in time order, as a venue delivers
            ts = after + np.sort(rng.choice(np.arange(1, 3 * HOUR, MINUTE), int(rng.integers(1, 4)), replace=False))
            value = s.values[-1] * rng.uniform(0.5, 1.5) if len(s) else 1e6
            out[keys[key]] = Series(np.concatenate([s.ts, ts]), np.concatenate([s.values, np.full(ts.size, value)]))
        elif how == "cut" and len(s) > 10:
            k = int(rng.integers(1, len(s) // 2))
            out[keys[key]] = Series(s.ts[k:], s.values[k:])
        elif how == "rewrite" and len(s) > 10:
            values = s.values.copy()
            values[int(rng.integers(0, len(s)))] *= 0.5
            out[keys[key]] = Series(s.ts, values)
    return out


@settings(max_examples=40, deadline=None)
@given(seed=seeds, steps=st.lists(st.sampled_from(["append", "cut", "rewrite", "same"]), min_size=1, max_size=4))
def test_evaluations_reusing_remembered_results_equal_evaluations_from_scratch(seed, steps):
    rng = np.random.default_rng(seed)
    th = Thresholds(flush_oi_drop_24h=float(rng.choice([0.1, 0.03])), flush_liquidations_multiple=3.0)
    series = random_market(rng)
    now = T0
    clear_caches()
    evaluate_inputs(inputs_from_series("BTC", series), [now], th)
    for how in steps:
        series = series if how == "same" else changed(rng, series, now, how)
        now += 3 * HOUR
        warm = evaluate_inputs(inputs_from_series("BTC", series), [now - HOUR, now], th)
        clear_caches()
        cold = evaluate_inputs(inputs_from_series("BTC", series), [now - HOUR, now], th)
        assert warm == cold
        assert [json_bits(v) for v in warm] == [json_bits(v) for v in cold]


def json_bits(verdict) -> list:
    """The verdict's numbers with their signs (dataclass equality takes -0.0 for 0.0)."""
    values = [s.value for s in verdict.signals.values()]
    return [None if v is None else math.copysign(1.0, v) for v in values]


def test_a_retention_cut_forgets_the_triggers_whose_window_reached_into_it():
    # Coin OI flat, then 20% lower 12h after the cut point: the 24h trigger there reads a value
    # from before the cut. Once retention drops that value the flush is first seen a day after
    # the cut, when a value from before the drop is 24h old, as from scratch.
    ts = T0 - 5 * MINUTE * np.arange(10 * 288)[::-1]
    oi = np.where(ts >= T0 - 2 * DAY + 12 * HOUR, 0.8e6, 1e6)
    series = {("binance", "BTC", "oi_base"): Series(ts, oi)}
    th = Thresholds()
    clear_caches()
    before = engine.flush_starts(inputs_from_series("BTC", series), th)
    assert [s.start for s in before] == [T0 - 2 * DAY + 12 * HOUR]
    cut = ts >= T0 - 2 * DAY
    series = {("binance", "BTC", "oi_base"): Series(ts[cut], oi[cut])}
    after = engine.flush_starts(inputs_from_series("BTC", series), th)
    assert [s.start for s in after] == [T0 - DAY]
    clear_caches()
    assert engine.flush_starts(inputs_from_series("BTC", series), th) == after


def test_a_datasets_venues_are_taken_in_name_order():
    # Sums over venues depend on their order in the last bit: it must not depend on hashing.
    import polars as pl

    from levtop.model import SCHEMA

    rows = [(T0, venue, "BTC", "oi_usd", 1.0 + k / 3) for k, venue in enumerate(["okx", "binance", "bybit", "aux"])]
    frame = pl.DataFrame(rows, schema=list(SCHEMA), orient="row").cast(SCHEMA)
    assert list(engine.inputs_from_frame(frame, "BTC").venues("oi_usd")) == ["aux", "binance", "bybit", "okx"]


# -- reasons written when read ------------------------------------------------------------------


def test_a_reason_written_later_reads_as_one_written_at_once():
    from levtop.signals import Later, Signal

    calls = []

    def write(value: float) -> str:
        calls.append(value)
        return f"funding {value:+.3f}"

    later = Signal("funding", "good", 0.5, Later(write, 0.5))
    now = Signal("funding", "good", 0.5, "funding +0.500")
    assert calls == []  # nothing written until it is read
    assert later == now and hash(later) == hash(now) and repr(later) == repr(now)
    assert later.reason == "funding +0.500" and later.reason == now.reason and calls == [0.5]  # once
    assert later.to_json() == {"state": "good", "value": 0.5, "reason": "funding +0.500"}
    assert later != Signal("funding", "good", 0.5, Later(write, 0.25))
    assert repr(now) == "Signal(name='funding', state='good', value=0.5, reason='funding +0.500')"
    with pytest.raises(AttributeError):
        now.state = "bad"
    with pytest.raises(AttributeError):
        del now.value
    # Copied and pickled as the dataclass was, a reason to write later included.
    import copy
    import pickle

    unread = Signal("oi_level", "warn", 2.0, Later(lambda v: f"OI {v:g}", 2.0))
    assert copy.deepcopy(unread) == unread and pickle.loads(pickle.dumps(unread)) == unread
    assert copy.copy(now) == now
