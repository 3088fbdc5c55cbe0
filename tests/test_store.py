"""History store: queries, dedupe, retention, persistence, crashes and corrupt files."""

from __future__ import annotations

import os

import polars as pl
import pytest

from levtop.model import Sample
from levtop.store import DENSE_MS, HistoryStore, thin_limit
from samples_builder import DAY, HOUR, MINUTE, T0


def s(ts: int, value: float, metric: str = "oi_base", venue: str = "binance", asset: str = "BTC") -> Sample:
    return Sample(ts, venue, asset, metric, value)


def test_as_of_and_window_queries():
    store = HistoryStore()
    store.append([s(T0, 1.0), s(T0 + HOUR, 2.0), s(T0 + 2 * HOUR, 3.0)])
    assert store.asof("binance", "BTC", "oi_base", T0 - 1) is None
    assert store.asof("binance", "BTC", "oi_base", T0) == 1.0
    assert store.asof("binance", "BTC", "oi_base", T0 + HOUR - 1) == 1.0
    assert store.asof("binance", "BTC", "oi_base", T0 + 10 * HOUR) == 3.0
    window = store.window("binance", "BTC", "oi_base", T0, T0 + 2 * HOUR)
    assert window["value"].to_list() == [2.0, 3.0]  # (start, end]
    assert store.asof("okx", "BTC", "oi_base", T0) is None


def test_dedupe_keeps_the_last_write_and_sorts_out_of_order_batches():
    store = HistoryStore()
    store.append([s(T0 + HOUR, 2.0), s(T0, 1.0)])
    store.append([s(T0, 1.5), s(T0 + 2 * HOUR, 3.0)])
    store.append([s(T0 + 2 * HOUR, 3.5)])
    frame = store.series_frame("binance", "BTC", "oi_base")
    assert frame["ts"].to_list() == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert frame["value"].to_list() == [1.5, 2.0, 3.5]
    assert len(store) == 3


def test_same_millisecond_liquidations_add_up_within_and_across_batches():
    store = HistoryStore()
    store.append([s(T0, 100.0, "liq_long_usd"), s(T0, 50.0, "liq_long_usd"), s(T0 + 1, 7.0, "liq_long_usd")])
    store.append([s(T0 + 1, 3.0, "liq_long_usd")])  # after the newest stored: the in-place path
    store.series("binance", "BTC", "liq_long_usd")
    store.append([s(T0, 25.0, "liq_long_usd"), s(T0 + 2, 1.0, "liq_long_usd")])  # after a read: a merge
    series = store.series("binance", "BTC", "liq_long_usd")
    assert list(series.ts) == [T0, T0 + 1, T0 + 2]
    assert list(series.values) == [175.0, 10.0, 1.0]


def test_a_liquidation_equal_to_a_stored_one_in_the_same_millisecond_adds_up_too():
    """Events are never restatements, even when a later batch repeats a stored row exactly."""
    store = HistoryStore()
    store.append([s(T0, 5.0, "liq_long_usd"), s(T0 + 1, 2.0, "liq_long_usd")])
    store.series("binance", "BTC", "liq_long_usd")
    store.append([s(T0 + 1, 2.0, "liq_long_usd"), s(T0 + 2, 1.0, "liq_long_usd")])
    assert list(store.series("binance", "BTC", "liq_long_usd").values) == [5.0, 4.0, 1.0]


def test_a_restated_volume_bucket_replaces_the_stored_one():
    """Volumes are additive over windows, but each row is a bucket's total: a re-poll restates it."""
    store = HistoryStore()
    store.append([s(T0, 10.0, "perp_volume_usd"), s(T0 + HOUR, 4.0, "perp_volume_usd")])
    store.append([s(T0 + HOUR, 12.0, "perp_volume_usd"), s(T0 + 2 * HOUR, 1.0, "perp_volume_usd")])
    assert list(store.series("binance", "BTC", "perp_volume_usd").values) == [10.0, 12.0, 1.0]


def test_a_poll_that_restates_what_is_stored_changes_nothing():
    store = HistoryStore()
    store.append([s(T0, 1.0), s(T0 + 5 * MINUTE, 2.0)])
    version, series = store.version, store.series("binance", "BTC", "oi_base")
    store.append([s(T0 + 5 * MINUTE, 2.0)])
    assert store.version == version and store.series("binance", "BTC", "oi_base") is series
    store.append([s(T0 + 5 * MINUTE, 2.0), s(T0 + 10 * MINUTE, 3.0)])  # joins and adds one
    assert store.version == version + 1
    assert list(store.series("binance", "BTC", "oi_base").values) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("minute_polls", [False, True])
@pytest.mark.parametrize("metric", ["oi_base", "liq_long_usd", "perp_volume_usd"])
def test_short_sample_batches_store_exactly_what_frames_of_the_same_rows_store(metric, minute_polls):
    """Samples in short batches take a path without numpy (``add_rows``); frames always take the
    general one. Polls that restate stored rows (between rows another poll wrote), revise a
    restated value, arrive out of order or repeat a millisecond must store the same."""
    import random

    rng = random.Random(7)
    by_samples, by_frames = HistoryStore(), HistoryStore()
    revised: dict[int, float] = {}  # points the venue has restated with a new value since
    newest = T0
    for step in range(400):
        newest += rng.choice((1, 2, 5)) * MINUTE
        if minute_polls and step % 3 == 0:  # a poll of the current value, between history points
            rows = [(newest + rng.randint(0, 59_000), float(rng.randint(1, 9)))]
        else:  # a history poll: the last 12 five-minute points
            grid = newest // (5 * MINUTE) * 5 * MINUTE
            rows = [(t, revised.get(t, float(t // MINUTE % 97))) for t in range(grid - 55 * MINUTE, grid + 1, 5 * MINUTE)]
            if rng.random() < 0.1:
                at = rng.randrange(len(rows) - 1)
                revised[rows[at][0]] = rows[at][1] + 0.5
                rows[at] = (rows[at][0], rows[at][1] + 0.5)
            if rng.random() < 0.03:
                rng.shuffle(rows)
            if rng.random() < 0.03:
                rows.append(rows[-1])
        by_samples.append([s(ts, value, metric) for ts, value in rows])
        by_frames.append(pl.DataFrame({"ts": [ts for ts, _ in rows], "venue": "binance", "asset": "BTC",
                                       "metric": metric, "value": [value for _, value in rows]}))
        if step % 10 == 0 or step == 399:  # readers come and go: merges happen between appends
            a, b = by_samples.series("binance", "BTC", metric), by_frames.series("binance", "BTC", metric)
            assert a.ts.tolist() == b.ts.tolist() and a.values.tolist() == b.values.tolist(), step


def test_a_series_handed_out_never_changes_and_is_read_only():
    """The view model reads series in a thread while sources keep appending."""
    store = HistoryStore()
    store.append([s(T0 + k * MINUTE, float(k)) for k in range(10)])
    before = store.series("binance", "BTC", "oi_base")
    copy_ts, copy_values = before.ts.copy(), before.values.copy()
    store.append([s(T0 + 10 * MINUTE, 10.0)])  # in place, past the end
    store.append([s(T0 + 90 * 1000, -1.0)])  # inserted in the middle
    store.append([s(T0 + 3 * MINUTE, -3.0)])  # a restated value
    after = store.series("binance", "BTC", "oi_base")
    assert list(before.ts) == list(copy_ts) and list(before.values) == list(copy_values)
    assert len(after) == 12 and after.values[3 + 1] == -3.0
    with pytest.raises(ValueError):
        before.values[0] = 99.0


def test_many_small_appends_keep_order_retention_and_bounded_memory():
    store = HistoryStore(retention_ms=DAY)
    for k in range(3 * 24 * 60):  # three days of one sample a minute, one append each
        store.append([s(T0 + k * MINUTE, float(k), "liq_short_usd")])
        if k % 97 == 0:
            store.series("binance", "BTC", "liq_short_usd")
    series = store.series("binance", "BTC", "liq_short_usd")
    assert series.ts[0] == store.newest_ts - DAY and len(series) == 24 * 60 + 1
    assert (series.ts[1:] > series.ts[:-1]).all()
    buffer = store._series[("binance", "BTC", "liq_short_usd")]
    assert buffer.ts.size <= 1.3 * len(series)  # room to append in place, not a month of it


def test_levels_older_than_a_day_keep_one_sample_per_five_minutes():
    """Minute polls serve the live view; older than DENSE_MS (down to a whole hour) they are
    thinned to the last sample of each 5-minute bucket (so every 5-minute history point is kept);
    events never are."""
    store = HistoryStore()
    minutes = 3 * 24 * 60
    polls = [T0 + k * MINUTE + 7 for k in range(minutes)]  # off the 5-minute grid
    grid = [T0 + k * 5 * MINUTE for k in range(minutes // 5)]
    store.append([s(ts, 1.0) for ts in polls])
    store.append([s(ts, -float(ts)) for ts in grid])
    store.append([s(ts, 1.0, "liq_long_usd") for ts in polls])
    series = store.series("binance", "BTC", "oi_base")
    limit = thin_limit(store.newest_ts - DENSE_MS)  # whole hours only
    old, recent = series.ts[series.ts <= limit], series.ts[series.ts > limit]
    assert old.tolist() == [ts for ts in grid if ts <= limit]  # one per bucket: its last, the grid point
    assert recent.tolist() == sorted(ts for ts in polls + grid if ts > limit)  # every recent sample
    assert store.asof("binance", "BTC", "oi_base", T0 + 10 * MINUTE + 30_000) == -float(T0 + 10 * MINUTE)
    assert len(store.series("binance", "BTC", "liq_long_usd")) == minutes


def test_batch_append_from_a_frame_splits_series():
    store = HistoryStore()
    frame = pl.DataFrame({
        "ts": [T0, T0, T0],
        "venue": ["binance", "okx", "market"],
        "asset": ["BTC", "BTC", "*"],
        "metric": ["oi_base", "oi_base", "fear_greed"],
        "value": [1.0, 2.0, 30.0],
    })
    assert store.append(frame) == 3
    assert store.keys() == [("binance", "BTC", "oi_base"), ("market", "*", "fear_greed"), ("okx", "BTC", "oi_base")]
    assert store.assets() == ["BTC"]
    assert store.frame().height == 3
    assert store.frame(assets=["ETH"])["metric"].to_list() == ["fear_greed"]


def test_retention_is_counted_from_the_newest_sample():
    store = HistoryStore(retention_ms=10 * DAY)
    old = T0 - 30 * DAY
    store.append([s(old, 1.0), s(T0 - 10 * DAY, 2.0), s(T0, 3.0)])
    assert store.series_frame("binance", "BTC", "oi_base")["value"].to_list() == [2.0, 3.0]
    assert store.asof("binance", "BTC", "oi_base", old) is None


def test_series_cache_follows_appends():
    store = HistoryStore()
    store.append([s(T0, 1.0)])
    first = store.series("binance", "BTC", "oi_base")
    assert store.series("binance", "BTC", "oi_base") is first
    store.append([s(T0 + MINUTE, 2.0)])
    assert list(store.series("binance", "BTC", "oi_base").values) == [1.0, 2.0]


def test_round_trip_through_parquet(tmp_path):
    store = HistoryStore(directory=tmp_path)
    samples = [s(T0 + k * HOUR, float(k)) for k in range(60)] + [s(T0, 25.0, "fear_greed", "market", "*")]
    store.append(samples)
    written = store.save()
    assert sorted(p.name for p in written) == ["2023-11-15.parquet", "2023-11-16.parquet", "2023-11-17.parquet"]
    loaded, warnings = HistoryStore.load(tmp_path)
    assert warnings == []
    assert loaded.frame().sort("ts", "metric").equals(store.frame().sort("ts", "metric"))


def test_save_rewrites_only_touched_days(tmp_path):
    store = HistoryStore(directory=tmp_path)
    store.append([s(T0, 1.0), s(T0 + DAY, 2.0)])
    store.save()
    store.append([s(T0 + DAY + HOUR, 3.0)])
    assert [p.name for p in store.save()] == ["2023-11-16.parquet"]
    loaded, _ = HistoryStore.load(tmp_path)
    assert loaded.series_frame("binance", "BTC", "oi_base")["value"].to_list() == [1.0, 2.0, 3.0]


def test_save_drops_days_past_retention(tmp_path):
    store = HistoryStore(retention_ms=5 * DAY, directory=tmp_path)
    store.append([s(T0, 1.0)])
    store.save()
    store.append([s(T0 + 10 * DAY, 2.0)])
    store.save()
    assert sorted(p.name for p in (tmp_path / "history").iterdir()) == ["2023-11-25.parquet"]


def test_a_crash_mid_write_leaves_the_previous_file(tmp_path, monkeypatch):
    store = HistoryStore(directory=tmp_path)
    store.append([s(T0, 1.0)])
    store.save()
    store.append([s(T0 + HOUR, 2.0)])

    def killed(*args, **kwargs):
        raise SystemExit("killed between writing the temp file and renaming it")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(SystemExit):
        store.save()
    monkeypatch.undo()
    loaded, warnings = HistoryStore.load(tmp_path)
    assert warnings == []
    assert loaded.series_frame("binance", "BTC", "oi_base")["value"].to_list() == [1.0]


def test_a_leftover_temp_file_is_ignored_and_cleaned(tmp_path):
    store = HistoryStore(directory=tmp_path)
    store.append([s(T0, 1.0)])
    store.save()
    leftover = tmp_path / "history" / ".2023-11-15.999.tmp"
    leftover.write_bytes(b"PAR1 half a file")
    loaded, warnings = HistoryStore.load(tmp_path)
    assert warnings == [] and not leftover.exists()
    assert len(loaded) == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong columns"])
def test_a_corrupt_file_is_moved_aside_with_a_warning(tmp_path, damage):
    store = HistoryStore(directory=tmp_path)
    store.append([s(T0, 1.0), s(T0 + DAY, 2.0)])
    store.save()
    bad = tmp_path / "history" / "2023-11-15.parquet"
    if damage == "garbage":
        bad.write_bytes(b"this is not parquet")
    elif damage == "truncated":
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    else:
        pl.DataFrame({"a": [1]}).write_parquet(bad)
    loaded, warnings = HistoryStore.load(tmp_path)
    assert len(warnings) == 1 and "2023-11-15.parquet" in warnings[0] and "moved to" in warnings[0]
    assert not bad.exists()
    assert list((tmp_path / "corrupt").iterdir())
    assert loaded.series_frame("binance", "BTC", "oi_base")["value"].to_list() == [2.0]


def test_load_of_an_empty_directory(tmp_path):
    store, warnings = HistoryStore.load(tmp_path / "nothing")
    assert len(store) == 0 and warnings == []


def test_thinning_depends_on_the_newest_time_only_not_on_the_order_of_appends():
    """A series appended in place poll by poll (never merged) is thinned like one appended in a
    batch, and a store reloaded from disk holds exactly the rows of the one that saved it."""
    minutes = 3 * 24 * 60
    polls = [s(T0 + k * MINUTE + 7, float(k)) for k in range(minutes)]
    one_by_one, batch = HistoryStore(), HistoryStore()
    for index, sample in enumerate(polls):
        one_by_one.append([sample])
        if index % 97 == 0:
            one_by_one.series("binance", "BTC", "oi_base")  # a reader now and then, as the view
    batch.append(polls)
    a = one_by_one.series("binance", "BTC", "oi_base")
    b = batch.series("binance", "BTC", "oi_base")
    assert a.ts.tolist() == b.ts.tolist() and a.values.tolist() == b.values.tolist()
    limit = thin_limit(one_by_one.newest_ts - DENSE_MS)
    assert len(a) == (limit - T0) // (5 * MINUTE) + (T0 + minutes * MINUTE - limit) // MINUTE  # thinned


def test_a_reloaded_store_holds_the_rows_of_the_one_that_saved_it(tmp_path):
    store = HistoryStore(retention_ms=30 * DAY, directory=tmp_path)
    for k in range(2 * 24 * 60):
        store.append([s(T0 + k * MINUTE + 7, float(k))])
        if k % 600 == 0:
            store.save()
    store.save()
    loaded, warnings = HistoryStore.load(tmp_path, retention_ms=30 * DAY)
    assert not warnings
    assert store.frame().equals(loaded.frame())
