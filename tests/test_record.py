"""`levtop record`: the headless collector against the simulator, its hive-partitioned parquet
output read back by polars (and by read_dataset and `levtop backtest`) with the samples the
simulator served, SIGTERM flushing, and the pieces: new-rows-only writes, part files, targets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from levtop.cli import main
from levtop.dataset import read_dataset
from levtop.errors import UserError
from levtop.model import DAY, HOUR, MARKET, MINUTE, SCHEMA
from levtop.partitions import PartWriter, Target, parse_target, s3_storage_options
from levtop.record import WrittenIndex
from levtop.sim.samples import market_samples
from levtop.store import HistoryStore
from sim_helpers import running_sim

KEYS = ["ts", "venue", "asset", "metric"]

# The series the venues serve as history at fixed steps (what a recorder must hold every point
# of), with the rounding the emulated venues apply on the wire as the real APIs do.
HISTORY_SERIES = {
    "binance": ("oi_base", "oi_usd", "long_short_ratio", "top_long_short_ratio", "funding_8h",
                "perp_volume_usd", "spot_volume_usd"),
    # Bybit's OI history is in coins; its USD value is priced by levtop, not served.
    "bybit": ("oi_base", "long_short_ratio", "funding_8h", "perp_volume_usd", "spot_volume_usd"),
    "okx": ("oi_base", "oi_usd", "long_short_ratio", "top_long_short_ratio", "funding_8h",
            "perp_volume_usd", "spot_volume_usd"),
    MARKET: ("fear_greed", "stablecoin_supply_usd"),
}
TOLERANCE = {"long_short_ratio": (1e-3, 0.0), "top_long_short_ratio": (1e-3, 0.0), "funding_8h": (0.0, 1e-8),
             "oi_base": (1e-8, 0.0)}


def frame(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


# -- the pieces ---------------------------------------------------------------------------------


def test_written_index_passes_only_new_or_changed_rows():
    index = WrittenIndex()
    first = frame([(1, "okx", "BTC", "oi_base", 10.0), (2, "okx", "BTC", "oi_base", 11.0),
                   (2, "okx", "BTC", "oi_base", 12.0)])  # the same ts twice: the last wins
    assert index.fresh(first).rows() == [(1, "okx", "BTC", "oi_base", 10.0), (2, "okx", "BTC", "oi_base", 12.0)]
    again = frame([(2, "okx", "BTC", "oi_base", 12.0), (3, "okx", "BTC", "oi_base", 13.0),
                   (1, "okx", "BTC", "oi_base", 10.5), (2, "bybit", "BTC", "oi_base", 12.0)])
    # A re-read row is not written again; a revised value and new rows are.
    assert sorted(index.fresh(again).rows()) == [(1, "okx", "BTC", "oi_base", 10.5), (2, "bybit", "BTC", "oi_base", 12.0),
                                                 (3, "okx", "BTC", "oi_base", 13.0)]
    assert index.fresh(again).height == 0
    index.forget(frame([(3, "okx", "BTC", "oi_base", 13.0)]))  # its write failed: written again next time
    assert index.fresh(again).rows() == [(3, "okx", "BTC", "oi_base", 13.0)]


def test_liquidations_in_the_same_millisecond_add_up():
    index = WrittenIndex()
    first = frame([(5, "okx", "BTC", "liq_long_usd", 100.0), (5, "okx", "BTC", "liq_long_usd", 50.0),
                   (6, "okx", "BTC", "liq_long_usd", 10.0)])
    assert index.fresh(first).rows() == [(5, "okx", "BTC", "liq_long_usd", 150.0), (6, "okx", "BTC", "liq_long_usd", 10.0)]
    # A later event in an already written millisecond restates its total (the last row wins).
    assert index.fresh(frame([(5, "okx", "BTC", "liq_long_usd", 25.0)])).rows() == [
        (5, "okx", "BTC", "liq_long_usd", 175.0)]


def test_written_index_remembers_a_few_days_and_seeds_from_the_store():
    store = HistoryStore()
    store.append(frame([(0, "okx", "BTC", "price", 1.0), (5 * DAY, "okx", "BTC", "price", 2.0)]))
    index = WrittenIndex(remember_ms=3 * DAY)
    index.seed(store)
    assert len(index) == 1  # only what is recent: the old point is well behind the newest
    assert index.fresh(frame([(5 * DAY, "okx", "BTC", "price", 2.0)])).height == 0


def test_part_writer_adds_new_files_per_metric_and_day(tmp_path):
    writer = PartWriter(Target(str(tmp_path)), tag="box-1-20260101T000000Z")
    rows = frame([(DAY - 1, "okx", "BTC", "price", 1.0), (DAY, "okx", "BTC", "price", 2.0),
                  (DAY + 5, "market", "*", "fear_greed", 40.0)])
    written, rest, error = writer.write(rows)
    assert (rest, error) == (None, None)
    assert sorted(Path(p).relative_to(tmp_path).as_posix() for p in written) == [
        "metric=fear_greed/date=1970-01-02/box-1-20260101T000000Z-000001.parquet",
        "metric=price/date=1970-01-01/box-1-20260101T000000Z-000002.parquet",
        "metric=price/date=1970-01-02/box-1-20260101T000000Z-000003.parquet",
    ]
    writer.write(frame([(DAY + 7, "okx", "BTC", "price", 3.0)]))  # a new file, never a rewrite
    assert len(list((tmp_path / "metric=price" / "date=1970-01-02").glob("*.parquet"))) == 2
    for path in tmp_path.rglob("*.parquet"):
        assert pl.read_parquet(path).columns == ["ts", "venue", "asset", "metric", "value"]
    scanned = pl.scan_parquet(tmp_path / "**/*.parquet", hive_partitioning=True).collect()
    assert scanned.columns == ["ts", "venue", "asset", "metric", "value", "date"]
    assert sorted(scanned["ts"].to_list()) == [DAY - 1, DAY, DAY + 5, DAY + 7]
    assert read_dataset(tmp_path).frame.height == 4
    assert (writer.files, writer.rows) == (4, 4)


def test_part_writer_keeps_what_it_could_not_write(tmp_path):
    blocker = tmp_path / "metric=price"
    blocker.write_text("a file where a directory should be")
    writer = PartWriter(Target(str(tmp_path)), tag="t")
    written, rest, error = writer.write(frame([(0, "okx", "BTC", "oi_base", 1.0), (0, "okx", "BTC", "price", 1.0)]))
    assert len(written) == 1 and rest.rows() == [(0, "okx", "BTC", "price", 1.0)] and error


def test_out_targets_and_s3_settings_from_the_environment(tmp_path):
    assert parse_target(str(tmp_path)).root == str(tmp_path) and not parse_target(str(tmp_path)).remote
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
           "AWS_REGION": "eu-west-1"}
    target = parse_target("s3://levtop-data/recorders/", env=env)
    assert target.root == "s3://levtop-data/recorders" and target.remote
    assert target.url("metric=price/date=2026-01-01/a.parquet") == "s3://levtop-data/recorders/metric=price/date=2026-01-01/a.parquet"
    assert target.storage_options == {"aws_endpoint_url": "http://127.0.0.1:9000", "aws_access_key_id": "k",
                                      "aws_secret_access_key": "s", "aws_region": "eu-west-1", "aws_allow_http": "true"}
    assert s3_storage_options({"AWS_DEFAULT_REGION": "us-east-2"}) == {"aws_region": "us-east-2"}
    for bad in ("gs://bucket/x", "s3://Bad_Bucket/x", "  "):
        with pytest.raises(UserError):
            parse_target(bad)


def test_bad_arguments_are_one_line_errors(capsys):
    assert main(["record", "--out", "ftp://host/x"]) == 2
    assert main(["record", "--sim", "nonsense"]) == 2
    assert main(["record", "--until", "next tuesday"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("levtop: ") for line in err)
    assert "ftp://" in err[0] and "--sim" in err[1] and "--until" in err[2]


# -- against the simulator ----------------------------------------------------------------------


def missing_or_wrong(market, recorded: pl.DataFrame, lo: int, hi: int, assets) -> dict[str, list[int]]:
    """Per history series, the served points with lo <= ts <= hi the recording lacks or holds
    with another value (beyond the wire's rounding)."""
    truth = market_samples(market, lo, hi).filter(pl.col("asset").is_in([*assets, "*"]))
    problems: dict[str, list[int]] = {}
    for (venue, asset, metric), want in truth.partition_by(["venue", "asset", "metric"], as_dict=True).items():
        if metric not in HISTORY_SERIES.get(venue, ()):
            continue
        got = recorded.filter((pl.col("venue") == venue) & (pl.col("asset") == asset) & (pl.col("metric") == metric))
        joined = want.join(got.select("ts", pl.col("value").alias("got")), on="ts", how="left")
        rel, abs_ = TOLERANCE.get(metric, (1e-9, 0.0))
        bad = joined.filter(pl.col("got").is_null()
                            | ((pl.col("got") - pl.col("value")).abs() > rel * pl.col("value").abs() + abs_))
        if bad.height:
            problems[f"{venue}/{asset}/{metric}"] = bad["ts"].to_list()
    return problems


def assert_holds_the_store(dataset: pl.DataFrame, store: HistoryStore) -> None:
    """Every sample the store holds is in the dataset with the same value. The dataset may hold
    more: the store thins minute polls of level metrics older than a day (store.py), the
    dataset keeps every one."""
    held = store.frame()
    joined = held.join(dataset.rename({"value": "written"}), on=KEYS, how="left")
    assert joined.filter(pl.col("written").is_null()).height == 0
    assert joined.filter(pl.col("written") != pl.col("value")).height == 0
    extra = dataset.join(held, on=KEYS, how="anti")
    assert extra.filter(pl.col("metric").is_in(["liq_long_usd", "liq_short_usd"])).height == 0
    assert extra.filter(pl.col("ts") > store.newest_ts - DAY).height == 0


async def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        await asyncio.sleep(0.2)


@pytest.mark.timeout(150)
async def test_a_recorder_holds_the_served_samples_and_flushes_on_sigterm(tmp_path):
    out, data = tmp_path / "out", tmp_path / "store"
    async with running_sim(speed=600) as sim:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "levtop", "record", "--sim", sim.base_url, "--assets", "BTC,ETH", "--out", str(out),
            "--data-dir", str(data), "--backfill", "1d", "--out-every", "2s", "--progress-every", "2s",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        lines: list[str] = []

        async def read_stderr() -> None:
            async for raw in proc.stderr:
                lines.append(raw.decode().rstrip("\n"))

        reader = asyncio.create_task(read_stderr())
        try:
            await _wait_for(lambda: sum(" levtop record: up " in line for line in lines) >= 2
                            and any(out.rglob("*.parquet")), 90, "progress lines and part files")
            # Let an hour or so pass after the backfill, across more than one flush.
            await asyncio.sleep(6)
            proc.send_signal(signal.SIGTERM)
            stopped_sim = sim.clock.now_ms()
            code = await asyncio.wait_for(proc.wait(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await reader
        market = sim.market
    stdout = (await proc.stdout.read()).decode()
    assert code == 0, "\n".join(lines)
    assert stdout == ""
    assert "Traceback" not in "\n".join(lines)
    progress = [line for line in lines if " levtop record: up " in line]
    assert all("samples received" in line and "out " in line for line in progress), progress
    assert all(f"{name} " in progress[-1] for name in ("binance", "bybit", "okx", "fear_greed", "stablecoins"))
    assert " levtop record: stopped; " in lines[-1]
    assert "0 waiting" in lines[-1]

    # polars reads the dataset with hive partitioning, one partition per metric and day.
    scanned = pl.scan_parquet(out / "**/*.parquet", hive_partitioning=True).collect()
    assert scanned.columns == ["ts", "venue", "asset", "metric", "value", "date"]
    assert scanned.schema["ts"] == pl.Int64 and scanned.schema["value"] == pl.Float64
    days = scanned.select(pl.from_epoch("ts", time_unit="ms").dt.date().alias("day"), "date")
    assert days["day"].to_list() == days["date"].to_list()
    for path in out.rglob("*.parquet"):
        assert path.parent.parent.name.startswith("metric=") and path.parent.name.startswith("date=")
        assert pl.read_parquet(path).columns == ["ts", "venue", "asset", "metric", "value"]

    # Every served history point from just after the backfill's start to just before the stop,
    # with the served value; the same samples as the store the recorder saved.
    # A key written twice (a value revised later) is read as the last file has it.
    recorded = (pl.scan_parquet(out / "**/*.parquet", hive_partitioning=True, include_file_paths="file")
                .sort("file", maintain_order=True).unique(subset=KEYS, keep="last").drop("date", "file").collect())
    assert_holds_the_store(recorded, HistoryStore.load(data)[0])
    # The backfill reaches a day back from when it started (a few real seconds after launch).
    firsts = recorded.filter(pl.col("metric") == "oi_base").group_by("venue", "asset").agg(pl.col("ts").min())
    covered_from = int(firsts["ts"].max())
    assert firsts.height == 6 and stopped_sim - covered_from > DAY
    problems = missing_or_wrong(market, recorded, covered_from, stopped_sim - 2 * HOUR, ("BTC", "ETH"))
    assert not problems, {k: v[:5] for k, v in problems.items()}
    assert recorded.filter(pl.col("metric") == "oi_base")["ts"].max() >= stopped_sim - HOUR

    store, warnings = HistoryStore.load(data)
    assert warnings == []
    assert_holds_the_store(read_dataset(out).frame, store)
    # Nothing written twice: a key repeats only where a later poll revised the value.
    repeated = scanned.filter(pl.struct(KEYS).is_duplicated())
    assert repeated.unique(subset=[*KEYS, "value"]).height == repeated.height


async def test_record_stops_at_a_data_time_and_backtest_reads_its_output(tmp_path, capsys):
    """In-process (quick): --until in data time, then `levtop backtest` over the output."""
    from levtop.config import load_config
    from levtop.record import Recorder, RecordOptions

    out = tmp_path / "out"
    async with running_sim(speed=3600) as sim:
        until = sim.clock.now_ms() + 3 * HOUR
        options = RecordOptions(assets=("BTC",), sim_url=sim.base_url, out=parse_target(str(out)), data_dir=None,
                                backfill_days=1.0, out_every_s=60, until_ms=until, duration_s=60,
                                rate_limit=False, time_scale=sim.speed)
        recorder = Recorder(load_config(), options)
        assert await recorder.run() == 0
    assert recorder.stopped_by == "until"
    assert recorder.store.newest_ts >= until
    capsys.readouterr()
    assert main(["backtest", str(out), "--asset", "BTC", "--step", "4h", "--json"]) == 0
    steps = json.loads(capsys.readouterr().out)
    assert len(steps) >= 6 and all(s["asset"] == "BTC" for s in steps)
    assert steps[-1]["signals"]["funding"]["state"] != "unknown"


def test_stored_and_written_values_are_identical_floats(tmp_path):
    """Parquet keeps float64 exactly: what polars reads is what the store held."""
    values = np.random.default_rng(1).random(100) * 1e9
    rows = frame([(i * MINUTE, "okx", "BTC", "oi_usd", float(v)) for i, v in enumerate(values)])
    PartWriter(Target(str(tmp_path)), tag="x").write(rows)
    assert read_dataset(tmp_path).frame["value"].to_list() == rows["value"].to_list()


def test_what_record_says_is_masked(capsys):
    from levtop.config import load_config
    from levtop.headless import say
    from levtop.record import Recorder, RecordOptions

    recorder = Recorder(load_config(), RecordOptions(assets=("BTC",), sim_url="http://user:hunter2@127.0.0.1:9"))
    say(recorder.start_line())
    say(recorder.progress_line(61.0))
    err = capsys.readouterr().err
    assert "hunter2" not in err and "***@127.0.0.1:9" in err
    assert " levtop record: up 61s; no data yet; 0 samples received (+0); store 0 rows in memory; not started" in err
