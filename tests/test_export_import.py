"""`levtop export` and `levtop import`: the local store to a dataset directory and back, read by
read_dataset, `levtop backtest` and polars; date ranges, merging, counts and one-line errors."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import polars as pl
import pytest

from levtop.cli import main
from levtop.dataset import read_dataset
from levtop.model import DAY, HOUR
from levtop.sim.market import Market
from levtop.sim.samples import market_samples
from levtop.store import HistoryStore

START = 1_780_000_800_000  # 2026-05-28T20:40Z
KEYS = ["ts", "venue", "asset", "metric"]


@lru_cache(maxsize=1)
def samples() -> pl.DataFrame:
    """Three simulated days of BTC and ETH, every metric."""
    market = Market(seed=1, assets=("BTC", "ETH"), start_ms=START, history_days=3, horizon_days=1)
    return market_samples(market, START - 3 * DAY, START)


def data_dir() -> Path:
    return Path(os.environ["LEVTOP_DATA_DIR"])


def saved_store() -> HistoryStore:
    store = HistoryStore(directory=data_dir())
    store.append(samples())
    store.save()
    return store


def sorted_frame(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select("ts", "venue", "asset", "metric", "value").sort(KEYS)


def test_export_then_import_round_trips_the_store(tmp_path, capsys):
    store = saved_store()
    out = tmp_path / "dataset"
    assert main(["export", str(out)]) == 0
    said = capsys.readouterr().out.strip()
    assert said.startswith(f"exported {store.frame().height:,} samples (") and str(out) in said and "parquet files" in said
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))
    assert files and all(f.startswith("metric=") and "/date=" in f and f.endswith("/export.parquet") for f in files)
    assert sorted_frame(read_dataset(out).frame).equals(sorted_frame(store.frame()))
    scanned = pl.scan_parquet(out / "**/*.parquet", hive_partitioning=True).collect()
    assert scanned.columns == ["ts", "venue", "asset", "metric", "value", "date"]

    # Into an empty store elsewhere: everything is new, and saved.
    other = tmp_path / "other-store"
    assert main(["import", str(out), "--data-dir", str(other)]) == 0
    said = capsys.readouterr().out.strip()
    assert f"imported {store.frame().height:,} samples" in said and f"{store.frame().height:,} new, 0 replaced, 0 unchanged" in said
    reloaded, warnings = HistoryStore.load(other)
    assert warnings == [] and sorted_frame(reloaded.frame()).equals(sorted_frame(store.frame()))

    # backtest reads the export as it is.
    assert main(["backtest", str(out), "--asset", "BTC", "--step", "1d"]) == 0
    assert "BTC" in capsys.readouterr().out


def test_export_a_date_range_as_csv_includes_whole_days(tmp_path, capsys):
    store = saved_store()
    first_day = (START - 3 * DAY) // DAY
    frm, to = _day(first_day + 1), _day(first_day + 2)
    out = tmp_path / "csv"
    assert main(["export", str(out), "--from", frm, "--to", to, "--format", "csv", "--assets", "BTC"]) == 0
    assert "csv files" in capsys.readouterr().out
    got = read_dataset(out).frame
    lo, hi = (first_day + 1) * DAY, (first_day + 3) * DAY - 1
    want = store.frame(since=lo - 1, until=hi, assets=["BTC"])
    assert sorted_frame(got).equals(sorted_frame(want))
    assert set(got["asset"].unique()) == {"BTC", "*"}
    assert got["ts"].min() < lo + HOUR and got["ts"].max() > hi - HOUR  # both ends, whole days
    dates = sorted({p.parent.name for p in out.rglob("*.csv")})
    assert dates == [f"date={frm}", f"date={to}"]
    header = next(out.rglob("*.csv")).read_text().splitlines()[:2]
    assert header[0] == "ts,venue,asset,metric,value" and header[1].split(",")[0].isdigit()


def test_exporting_into_an_earlier_export_merges(tmp_path, capsys):
    store = saved_store()
    first_day = (START - 3 * DAY) // DAY
    out = tmp_path / "merged"
    assert main(["export", str(out), "--to", _day(first_day + 1)]) == 0
    assert main(["export", str(out), "--from", _day(first_day + 1)]) == 0
    capsys.readouterr()
    got = pl.scan_parquet(out / "**/*.parquet", hive_partitioning=True).collect()
    assert got.filter(pl.struct(KEYS).is_duplicated()).height == 0
    assert sorted_frame(got).equals(sorted_frame(store.frame()))


def test_import_counts_new_replaced_and_unchanged(tmp_path, capsys):
    saved_store()
    part = sorted_frame(samples()).filter(pl.col("metric") == "funding_8h")
    changed = part.with_columns(pl.when(pl.col("venue") == "okx").then(pl.col("value") * 2).otherwise("value").alias("value"))
    okx = changed.filter(pl.col("venue") == "okx").height
    extra = pl.DataFrame({"ts": [START + HOUR], "venue": ["okx"], "asset": ["BTC"], "metric": ["price"], "value": [1.5]})
    (tmp_path / "ds").mkdir()
    pl.concat([changed, extra.cast(changed.schema)]).write_csv(tmp_path / "ds" / "data.csv")
    assert main(["import", str(tmp_path / "ds")]) == 0
    said = capsys.readouterr().out
    assert f"1 new, {okx:,} replaced, {part.height - okx:,} unchanged" in said
    reloaded, _ = HistoryStore.load(data_dir())
    assert reloaded.asof("okx", "BTC", "price", START + HOUR) == 1.5
    first = changed.filter(pl.col("venue") == "okx").row(0, named=True)
    assert reloaded.asof("okx", first["asset"], "funding_8h", first["ts"]) == first["value"]  # the import won


def test_a_malformed_dataset_is_one_line_and_the_store_is_untouched(tmp_path, capsys):
    saved_store()
    before = sorted((data_dir() / "history").iterdir())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.csv").write_text("ts,venue,asset,metric,value\n1780000000000,okx,BTC,price,1\n1780000060000,okx,BTC,price,oops\n")
    assert main(["import", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"levtop: {bad / 'a.csv'}:3: bad value 'oops': expected a number"
    assert sorted((data_dir() / "history").iterdir()) == before
    assert main(["import", str(tmp_path / "missing")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_export_errors_are_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "x")]) == 2  # an empty store
    assert capsys.readouterr().err.strip().startswith("levtop: nothing to export: ")
    saved_store()
    assert main(["export", str(tmp_path / "x"), "--from", "2026-05-20", "--to", "2026-05-19"]) == 2
    assert "--to 2026-05-19 is before --from 2026-05-20" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "x"), "--from", "2020-01-01", "--to", "2020-01-02"]) == 2
    assert "holds no samples from 2020-01-01 to 2020-01-02" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["export", str(tmp_path / "file")]) == 2
    assert "not a directory" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_import_is_lossless_for_floats(tmp_path, fmt, capsys):
    store = saved_store()
    out = tmp_path / fmt
    assert main(["export", str(out), "--format", fmt]) == 0
    got = read_dataset(out).frame
    assert sorted_frame(got)["value"].to_list() == sorted_frame(store.frame())["value"].to_list()


def _day(day: int) -> str:
    import time

    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))
