"""History store: queries, dedupe, retention, persistence, crashes and corrupt files."""

from __future__ import annotations

import os

import polars as pl
import pytest

from levtop.model import Sample
from levtop.store import HistoryStore
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
