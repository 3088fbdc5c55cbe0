"""The soak (benchmarks/soak.py, issue 6) in small: its loss counting, its fault plan, and a few
simulated days of the demo pipeline with faults, which must raise nothing and lose nothing.

The 60-day run itself is a benchmark (about 10 minutes): `.venv/bin/python benchmarks/soak.py`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from levtop.model import HOUR
from levtop.sim.faults import rule_from_dict
from levtop.sim.market import Market
from levtop.sim.samples import market_samples
from levtop.store import HistoryStore

ROOT = Path(__file__).resolve().parents[1]


def load_soak():
    spec = importlib.util.spec_from_file_location("levtop_soak", ROOT / "benchmarks" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


soak = load_soak()
STEP = 300_000


def nothing_excused(n: int) -> np.ndarray:
    return np.zeros(n, dtype=bool)


def test_check_points_counts_a_deleted_point_as_lost():
    ts = np.arange(10, dtype=np.int64) * STEP
    values = ts / STEP + 1.0
    complete = soak.check_points(ts, values, ts, values, nothing_excused(10))
    assert (complete.checked, complete.lost.size, complete.mismatched.size) == (10, 0, 0)

    gap = soak.check_points(ts, values, np.delete(ts, 4), np.delete(values, 4), nothing_excused(10))
    assert gap.lost.tolist() == [ts[4]]
    assert gap.lost_in_faults.size == 0


def test_check_points_excuses_fault_windows_and_catches_wrong_values():
    ts = np.arange(10, dtype=np.int64) * STEP
    values = ts / STEP + 1.0
    excused = nothing_excused(10)
    excused[4] = True
    gap = soak.check_points(ts, values, np.delete(ts, 4), np.delete(values, 4), excused)
    assert (gap.lost.size, gap.lost_in_faults.tolist()) == (0, [ts[4]])

    wrong = values.copy()
    wrong[7] *= 1 + 1e-6
    off = soak.check_points(ts, values, ts, wrong, nothing_excused(10))
    assert off.lost.size == 0
    assert off.mismatched.tolist() == [ts[7]]
    # Within a metric's wire rounding is not a mismatch.
    assert soak.check_points(ts, values, ts, wrong, nothing_excused(10), soak.Tolerance(rel=1e-3)).mismatched.size == 0


def test_the_auditor_finds_a_point_deleted_from_a_store_of_the_model():
    market = Market(seed=1, assets=("BTC",), start_ms=soak.START_MS, history_days=2, horizon_days=1)
    lo, hi = market.start_ms, market.start_ms + 6 * HOUR
    truth = market_samples(market, lo, hi - 1)
    key = (pl.col("venue") == "okx") & (pl.col("asset") == "BTC") & (pl.col("metric") == "oi_base")
    victim = int(truth.filter(key)["ts"][7])
    store = HistoryStore()
    store.append(truth.filter(~(key & (pl.col("ts") == victim))))

    auditor = soak.LossAuditor(market, store, ("BTC",), grace_ms=0, liquidations_from_ms=lo)
    auditor.audit(lo, hi, [], hi)
    assert auditor.totals()["pending"] == 1  # looked for again later: it may be late, not lost
    auditor.recheck(None)
    assert auditor.totals()["lost_outside_faults"] == 1
    assert auditor.series[("okx", "BTC", "oi_base")].lost == [victim]
    assert auditor.totals()["mismatched"] == 0
    assert auditor.liquidations["okx"].missing == 0

    # A fault on OKX excuses the point; a fault on another source does not.
    for source, lost in (("okx", 0), ("bybit", 1)):
        window = soak.FaultWindow(source, "503", False, victim - 1, victim + 1, victim + 1)
        auditor = soak.LossAuditor(market, store, ("BTC",), grace_ms=0, liquidations_from_ms=lo)
        auditor.audit(lo, hi, [window], hi)
        auditor.recheck(None)
        assert auditor.totals()["lost_outside_faults"] == lost, source
        assert auditor.totals()["lost_in_faults"] == 1 - lost, source


def test_a_point_that_arrives_before_the_recheck_is_late_not_lost():
    market = Market(seed=1, assets=("BTC",), start_ms=soak.START_MS, history_days=2, horizon_days=1)
    lo, hi = market.start_ms, market.start_ms + 2 * HOUR
    truth = market_samples(market, lo, hi - 1)
    withheld = (pl.col("venue") == "binance") & (pl.col("metric") == "perp_volume_usd")
    first = truth.filter(withheld & (pl.col("ts") < lo + HOUR)).height
    second = truth.filter(withheld & (pl.col("ts") >= lo + HOUR)).height
    assert first and second
    store = HistoryStore()
    store.append(truth.filter(~withheld))

    auditor = soak.LossAuditor(market, store, ("BTC",), grace_ms=0, liquidations_from_ms=lo, recheck_ms=HOUR)
    auditor.audit(lo, lo + HOUR, [], now_ms=hi)  # looked for again at hi + 1h
    auditor.audit(lo + HOUR, hi, [], now_ms=hi + HOUR)  # ... at hi + 2h
    auditor.recheck(hi + HOUR - 1)
    assert auditor.totals()["pending"] == first + second
    auditor.recheck(hi + HOUR)
    assert (auditor.totals()["lost_outside_faults"], auditor.totals()["pending"]) == (first, second)
    store.append(truth.filter(withheld))  # the rest arrives, late
    auditor.recheck(hi + 2 * HOUR)
    totals = auditor.totals()
    assert (totals["lost_outside_faults"], totals["late"], totals["pending"]) == (first, second, 0)


def test_the_fault_plan_is_deterministic_valid_and_covers_every_kind():
    plan = soak.fault_plan(60, 3, seed=1)
    assert plan == soak.fault_plan(60, 3, seed=1)
    assert plan != soak.fault_plan(60, 3, seed=2)
    assert len(plan) == 20
    assert {p.name for p in plan} == set(soak.REST_FAULTS + soak.WS_FAULTS)
    assert [p.at_ms for p in plan] == sorted(p.at_ms for p in plan)
    for planned in plan:
        rule = rule_from_dict(planned.rule)
        assert rule.venue == planned.source
        assert planned.is_ws == rule.is_ws
        if planned.is_ws:
            assert planned.source in soak.VENUE_SOURCES
        if planned.name == "timeout":
            assert rule.delay_s > soak.CLIENT_TIMEOUT_S[planned.source]


@pytest.mark.timeout(120)
async def test_a_few_simulated_days_with_faults_raise_nothing_and_lose_nothing(tmp_path):
    options = soak.SoakOptions(days=2.0, speed=14_400, backfill_days=2, fault_every_days=0.65, fault_real_s=2.0,
                               flush_interval_s=3.0, backfill_timeout_s=30.0, data_dir=tmp_path, quiet=True)
    report = await soak.Soak(options).run()

    assert report["exceptions"]["count"] == 0, report["exceptions"]
    samples = report["samples"]
    assert samples["checked"] > 10_000
    assert samples["lost_outside_faults"] == 0, {k: v for k, v in samples["by_series"].items() if v["lost"]}
    assert samples["pending"] == 0
    assert samples["mismatched"] == 0, {k: v for k, v in samples["by_series"].items() if v["mismatched"]}
    assert len(samples["by_series"]) == 2 * (7 + 5 + 7) + 2  # every served history series was checked
    assert len(report["faults"]) == 3
    assert report["sim_stats"]["faults_applied"], "no fault ever fired"
    # Saved, from a thread as the app saves. Not asserted: that what reloads equals what the store
    # holds. It does not always (a save racing the appends; reported as a store bug, issue 6).
    assert report["persistence"]["saves"] >= 2
    assert [d["day"] for d in report["memory"]["daily"]] == [0, 1, 2]
