"""Dataset import and export: the format of design.md section 2 and its errors."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from levtop.dataset import DatasetError, read_dataset, write_dataset

HEADER = "ts,venue,asset,metric,value\n"


def csv(tmp_path: Path, body: str, name: str = "data.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + body)
    return path


def error(path: Path) -> str:
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_reads_integer_and_iso_timestamps(tmp_path):
    csv(tmp_path, "1667865600000,binance,BTC,funding_8h,0.0001\n"
                  "2022-11-08T08:00:00Z,binance,BTC,funding_8h,0.0002\n"
                  "2022-11-08T16:00:00.500Z,market,*,fear_greed,31\n")
    data = read_dataset(tmp_path)
    assert data.frame["ts"].to_list() == [1667865600000, 1667894400000, 1667923200500]
    assert data.frame["value"].to_list() == [0.0001, 0.0002, 31.0]
    assert data.warnings == []


def test_unknown_metrics_are_skipped_with_a_warning(tmp_path):
    path = csv(tmp_path, "1,binance,BTC,funding_8h,0.0001\n2,binance,BTC,basis,3\n3,binance,BTC,basis,4\n")
    data = read_dataset(tmp_path)
    assert data.frame.height == 1
    assert data.warnings == [f"{path}: unknown metric 'basis' ignored (2 rows)"]


@pytest.mark.parametrize(
    "body, expected",
    [
        ("1,binance,BTC,funding_8h,0.1\nyesterday,binance,BTC,funding_8h,0.1\n", ":3: bad ts 'yesterday'"),
        ("1,Binance,BTC,funding_8h,0.1\n", ":2: bad venue 'Binance'"),
        ("1,binance,btc,funding_8h,0.1\n", ":2: bad asset 'btc'"),
        ("1,binance,BTC,funding_8h,high\n", ":2: bad value 'high': expected a number"),
        ("1,binance,BTC,funding_8h,NaN\n", ":2: bad value 'NaN': expected a finite number"),
        ("1,binance,BTC,funding_8h,inf\n", ":2: bad value 'inf': expected a finite number"),
        ("1,binance,BTC,funding_8h,\n", ":2: bad value ''"),
        ("1,binance,BTC,,0.1\n", ":2: empty metric"),
        (",,,fear_greed,\n", ":2: bad ts ''"),  # empty cells are nulls to polars: caught, not stored
        ("1,binance,BTC,funding_8h,0.1\n1,binance,BTC,funding_8h,0.2\n", ":3: same ts, venue, asset and metric as line 2 with a different value"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, body, expected):
    path = csv(tmp_path, body)
    message = error(tmp_path)
    assert message.startswith(str(path))
    assert expected in message


def test_counts_further_malformed_rows(tmp_path):
    csv(tmp_path, "x,binance,BTC,funding_8h,0.1\ny,binance,BTC,funding_8h,0.1\nz,binance,BTC,funding_8h,0.1\n")
    assert "(and 2 more malformed rows)" in error(tmp_path)


def test_exact_duplicates_are_merged_and_unsorted_rows_sorted(tmp_path):
    csv(tmp_path, "3,binance,BTC,funding_8h,0.3\n1,binance,BTC,funding_8h,0.1\n1,binance,BTC,funding_8h,0.1\n")
    assert read_dataset(tmp_path).frame["ts"].to_list() == [1, 3]


@pytest.mark.parametrize(
    "header, expected",
    [
        ("ts,venue,asset,metric\n", "missing value"),
        ("ts,venue,asset,metric,value,extra\n", "unexpected extra"),
        ("time,venue,asset,metric,value\n", "missing ts; unexpected time"),
    ],
)
def test_bad_columns(tmp_path, header, expected):
    csv(tmp_path, "", header=header)
    message = error(tmp_path)
    assert "columns must be exactly ts, venue, asset, metric, value" in message and expected in message


def test_paths_that_are_not_datasets(tmp_path):
    assert "no such file or directory" in error(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert "no .csv or .parquet files" in error(tmp_path / "empty")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "expected a .csv or .parquet file" in error(text)


def test_parquet_input_with_row_numbers(tmp_path):
    frame = pl.DataFrame({"ts": [1, 2], "venue": ["okx", "okx"], "asset": ["ETH", "ETH"],
                          "metric": ["oi_base", "oi_base"], "value": [1.0, float("nan")]})
    frame.write_parquet(tmp_path / "a.parquet")
    assert "a.parquet:row 2: bad value 'NaN'" in error(tmp_path)
    frame.with_columns(pl.col("value").fill_nan(3.0)).write_parquet(tmp_path / "a.parquet")
    assert read_dataset(tmp_path).frame["value"].to_list() == [1.0, 3.0]


def test_unreadable_file(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    assert "bad.parquet: unreadable" in error(tmp_path)


def test_export_then_import_round_trip(tmp_path):
    frame = pl.DataFrame({
        "ts": [1, 2, 3], "venue": ["binance", "okx", "market"], "asset": ["BTC", "BTC", "*"],
        "metric": ["funding_8h", "oi_base", "fear_greed"], "value": [0.0001, 5.0, 20.0],
    })
    for fmt in ("csv", "parquet"):
        out = tmp_path / fmt
        files = write_dataset(frame, out, fmt)
        assert {p.name for p in files} == {f"funding_8h.{fmt}", f"oi_base.{fmt}", f"fear_greed.{fmt}"}
        back = read_dataset(out).frame
        assert back.sort("ts").equals(frame.sort("ts"))
