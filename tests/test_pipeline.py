"""The live pipeline end to end against the simulator: `levtop snapshot`, faults, outages,
gap backfill and restart continuity. Real ccxt and aiohttp clients, loopback only."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import sys
import time

import numpy as np
import pytest

from levtop.config import Config
from levtop.model import MINUTE
from levtop.pipeline import Pipeline
from levtop.signals import Thresholds
from levtop.sim.faults import FaultRule
from levtop.sources.health import Status
from levtop.store import HistoryStore
from sim_helpers import running_sim

VENUES = ("binance", "bybit", "okx")


async def levtop(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "levtop", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=os.environ.copy())
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


async def test_snapshot_json_has_every_venue_and_consistent_signals():
    async with running_sim(speed=600) as sim:
        code, out, err = await levtop("snapshot", "--sim", sim.base_url, "--json")
    assert code == 0, err
    snap = json.loads(out)
    assert set(snap["assets"]) == {"BTC", "ETH", "SOL"}
    for asset, body in snap["assets"].items():
        metrics = body["metrics"]
        for venue in VENUES:
            for metric in ("funding_8h", "oi_usd", "oi_base", "long_short_ratio", "price"):
                assert metric in metrics[venue], (asset, venue, metric)
        assert 0 <= metrics["market"]["fear_greed"] <= 100
        assert metrics["market"]["stablecoin_supply_usd"] > 1e9
        assert body["phase"] in ("CASCADE", "FLUSH", "TRAP", "RESTART", "PURIFYING", "OVERHEATED", "NEUTRAL", "UNKNOWN")
        signals = body["signals"]
        # The states follow design.md section 3 for the values reported.
        th = Thresholds()
        assert signals["sentiment"]["value"] == metrics["market"]["fear_greed"]
        fg = signals["sentiment"]["value"]
        assert signals["sentiment"]["state"] == ("good" if fg <= 45 else "warn" if fg <= 60 else "bad")
        f = signals["funding"]["value"]
        expected = ("good" if th.funding_neutral_low <= f <= th.funding_neutral_high
                    else "bad" if f > th.funding_overheated else "warn")
        assert signals["funding"]["state"] == expected
        ls = signals["long_short"]["value"]
        assert ls == pytest.approx(np.mean([metrics[v]["long_short_ratio"] for v in VENUES]))
        assert signals["oi_level"]["value"] == pytest.approx(sum(metrics[v]["oi_usd"] for v in VENUES))
    for name in (*VENUES, "fear_greed", "stablecoins"):
        assert name in snap["sources"]
    assert snap["sources"]["bybit"]["status"] == "LIVE"
    assert snap["ts"] > sim.market.start_ms  # data time is the simulator's clock


async def test_snapshot_with_binance_throttled_reports_it_down_and_keeps_the_others():
    rule = FaultRule(venue="binance", route="/fapi/*", kind="status", status=429, retry_after_s=30)
    async with running_sim(speed=600, faults=[rule]) as sim:
        code, out, err = await levtop("snapshot", "--sim", sim.base_url, "--json", "--timeout", "40")
    assert code == 0, err
    snap = json.loads(out)
    binance = snap["sources"]["binance"]
    assert binance["status"] == "DOWN"
    assert "rate limited" in binance["error"] and "429" in binance["error"]
    for venue in ("bybit", "okx"):
        assert snap["sources"][venue]["status"] in ("LIVE", "N/A", "DOWN")
        assert "funding_8h" in snap["assets"]["BTC"]["metrics"][venue]
    assert "binance" not in snap["assets"]["BTC"]["metrics"] or "funding_8h" not in snap["assets"]["BTC"]["metrics"]["binance"]


async def test_snapshot_exits_3_when_nothing_answers(tmp_path, monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: every connection is refused
    base = f"127.0.0.1:{port}"
    (tmp_path / "config.toml").write_text(
        "".join(f'[sources.{v}]\nrest = "http://{base}"\nws = "ws://{base}"\n' for v in ("bybit", "okx"))
        + f'[sources.binance]\nrest = "http://{base}"\nws = "ws://{base}"\nspot = "http://{base}"\n'
        + f'[sources.fear_greed]\nurl = "http://{base}"\n[sources.stablecoins]\nurl = "http://{base}"\n')
    monkeypatch.setenv("LEVTOP_CONFIG", str(tmp_path / "config.toml"))
    started = time.monotonic()
    code, out, err = await levtop("snapshot", "--timeout", "30")
    assert time.monotonic() - started < 30
    assert code == 3
    assert out == ""
    lines = err.strip().splitlines()
    assert sorted(line.split(":")[1].removeprefix(" cannot reach ") for line in lines) == sorted(
        ["binance", "bybit", "fear_greed", "okx", "stablecoins"])
    assert all(line.startswith("levtop: cannot reach ") for line in lines)
    assert all(line.endswith(f"connection refused by {base}") for line in lines), err
    assert "Traceback" not in err


def fast_config(interval_s: float = 1.0) -> Config:
    base = Config(path=None)  # type: ignore[arg-type]
    return dataclasses.replace(base, poll_s={k: interval_s for k in base.poll_s})


def five_minute_gaps(store: HistoryStore, venue: str, asset: str, start: int, end: int) -> list[int]:
    ts = set(store.series(venue, asset, "oi_base").ts.tolist())
    first = -(-start // (5 * MINUTE)) * 5 * MINUTE
    return [t for t in range(first, end + 1, 5 * MINUTE) if t not in ts]


async def test_an_outage_shows_down_then_recovers_and_the_gap_is_backfilled():
    async with running_sim(speed=600) as sim:
        store = HistoryStore()
        pipeline = Pipeline(fast_config(), store, assets=("BTC",), sim_url=sim.base_url, backfill_days=1)
        task = asyncio.create_task(pipeline.run())
        try:
            await _until(lambda: pipeline.health.source("binance").status is Status.LIVE
                         and pipeline.health.source("binance").detail.get("backfill") is Status.LIVE, 60)
            outage = sim.faults.add(FaultRule(venue="binance", route="*", kind="status", status=503))
            outage_start = sim.clock.now_ms()
            await _until(lambda: pipeline.health.source("binance").status is Status.DOWN, 20)
            assert "503" in (pipeline.health.source("binance").error or "") or "unavailable" in (
                pipeline.health.source("binance").error or "")
            # Bybit keeps updating while Binance is down.
            bybit_before = store.newest("bybit", "BTC", "funding_8h")
            await asyncio.sleep(4)  # 40 sim minutes: several 5-minute OI points missed
            assert store.newest("bybit", "BTC", "funding_8h") > bybit_before
            sim.faults.remove(outage.id)
            outage_end = sim.clock.now_ms()
            await _until(lambda: pipeline.health.source("binance").status is Status.LIVE, 30)
            await _until(lambda: not five_minute_gaps(store, "binance", "BTC", outage_start - 30 * MINUTE,
                                                      outage_end - 10 * MINUTE), 30)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await pipeline.close()


async def test_a_restart_resumes_from_the_stored_history(tmp_path):
    async with running_sim(speed=600) as sim:
        first = HistoryStore(directory=tmp_path)
        pipeline = Pipeline(fast_config(60), first, assets=("BTC",), sim_url=sim.base_url, backfill_days=3)
        await pipeline.start()
        await pipeline.backfill()
        await pipeline.close()
        first.save()
        sim.stats.reset()
        await asyncio.sleep(1)  # ten sim minutes pass

        second, warnings = HistoryStore.load(tmp_path)
        assert warnings == []
        resumed = Pipeline(fast_config(60), second, assets=("BTC",), sim_url=sim.base_url, backfill_days=3)
        await resumed.start()
        await resumed.backfill()
        await resumed.close()
        requests = sim.stats.to_json()
    # Three days of 5-minute history took pages; the restart fetched only the short gap.
    hist = sum(n for route, n in _routes(requests, "binance").items() if "openInterestHist" in route)
    assert hist == 1
    start, end = second.series("binance", "BTC", "oi_base").ts[[0, -1]]
    assert not five_minute_gaps(second, "binance", "BTC", int(start), int(end) - 10 * MINUTE)


def _routes(stats: dict, venue: str) -> dict[str, int]:
    requests = stats.get("requests", stats)
    per_venue = requests.get(venue, {})
    return per_venue if isinstance(per_venue, dict) else {}


async def _until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)
