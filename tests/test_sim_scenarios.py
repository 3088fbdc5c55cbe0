"""Scenario stories, read through levtop's own signal engine with the default thresholds."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import polars as pl
import pytest

from levtop.model import DAY, HOUR, MINUTE
from levtop.signals import Thresholds, Verdict, evaluate
from levtop.sim.market import Market
from levtop.sim.samples import market_samples

START = 1_750_000_000_000 - 1_750_000_000_000 % MINUTE
FLUSH_AT = START + 2 * HOUR
EVAL_TIMES = list(range(START - 5 * DAY, START + 25 * DAY, 3 * HOUR))


@lru_cache(maxsize=None)
def story(scenario: str) -> tuple[Market, pl.DataFrame]:
    market = Market(scenario, seed=1, assets=("BTC", "ETH"), start_ms=START)
    return market, market_samples(market, market.first_ms, START + 26 * DAY)


@lru_cache(maxsize=None)
def verdicts(scenario: str, asset: str) -> tuple[Verdict, ...]:
    _, frame = story(scenario)
    return tuple(evaluate(frame, asset=asset, at=EVAL_TIMES, thresholds=Thresholds()))


def phase_runs(scenario: str, asset: str) -> list[tuple[float, str]]:
    """(hours after start, phase) each time the phase changes."""
    runs: list[tuple[float, str]] = []
    for v in verdicts(scenario, asset):
        if not runs or runs[-1][1] != v.phase:
            runs.append(((v.ts - START) / HOUR, v.phase))
    return runs


def passes_through(phases: list[str], steps: list[set[str]]) -> bool:
    """Whether the phases visit each step in order (other phases may come between)."""
    k = 0
    for phase in phases:
        if k < len(steps) and phase in steps[k]:
            k += 1
    return k == len(steps)


def phases(scenario: str, asset: str) -> list[str]:
    return [p for _, p in phase_runs(scenario, asset)]


def first_time(scenario: str, asset: str, phase: str, after_h: float = -1e9) -> float:
    return next(h for h, p in phase_runs(scenario, asset) if p == phase and h >= after_h)


def test_passes_through_reads_order() -> None:
    assert passes_through(["A", "X", "B", "C"], [{"A"}, {"B"}, {"C"}])
    assert not passes_through(["B", "A", "C"], [{"A"}, {"B"}, {"C"}])


@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_recovery_overheats_flushes_purifies_and_restarts(asset: str) -> None:
    seen = phases("recovery", asset)
    steps = [{"OVERHEATED", "NEUTRAL"}, {"CASCADE", "FLUSH"}, {"PURIFYING"}, {"RESTART"}]
    assert passes_through(seen, steps), phase_runs("recovery", asset)
    assert "TRAP" not in seen
    flush_h = first_time("recovery", asset, "CASCADE")
    restart_h = first_time("recovery", asset, "RESTART", after_h=flush_h)
    assert 0 <= flush_h <= 12
    assert 3 * 24 <= restart_h - flush_h <= 7 * 24, phase_runs("recovery", asset)


def test_recovery_flush_magnitudes() -> None:
    market, _ = story("recovery")
    before = market.tick("BTC", "binance", FLUSH_AT).index_price
    after = min(market.tick("BTC", "binance", FLUSH_AT + h * HOUR).index_price for h in range(1, 13))
    assert -0.27 <= after / before - 1 <= -0.15
    flushes = [v.flush for v in verdicts("recovery", "BTC") if v.flush is not None and v.ts > START + 4 * DAY]
    assert flushes and -0.4 <= flushes[0].depth <= -0.22
    fear_greed = [v for _, v, _ in market.fear_greed_history(START + 6 * DAY, 6)]
    assert min(fear_greed) < 20
    assert max(v for _, v, _ in market.fear_greed_history(START, 3)) >= 70
    funding = [r for _, r in market.funding_history("BTC", "binance", FLUSH_AT + 8 * HOUR, FLUSH_AT + 3 * DAY)]
    assert min(funding) < 0 and max(funding) <= 0.00015
    rebuild = [r for _, r in market.funding_history("BTC", "binance", START + 5 * DAY, START + 25 * DAY)]
    assert all(-0.00005 <= r <= 0.00015 for r in rebuild)


def test_recovery_rebuild_is_slow() -> None:
    market, _ = story("recovery")

    def aggregate_oi(ts: int) -> float:
        return sum(market.tick("BTC", v, ts).oi_base for v in market.venues)

    for day in range(8, 25, 4):
        t = START + day * DAY
        assert abs(aggregate_oi(t) / aggregate_oi(t - DAY) - 1) <= 0.03
    stable = market.stablecoin_history(START + 20 * DAY)
    assert stable[-1][1] / stable[-8][1] - 1 > 0.002
    assert all(v <= 45 for _, v, _ in market.fear_greed_history(START + 14 * DAY, 10))


@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_trap_flushes_then_rebuilds_too_fast(asset: str) -> None:
    seen = phases("trap", asset)
    assert passes_through(seen, [{"CASCADE", "FLUSH"}, {"FLUSH"}, {"TRAP"}]), phase_runs("trap", asset)
    trap = [v for v in verdicts("trap", asset) if v.phase == "TRAP"]
    assert all(v.signals["oi_rebuild"].state == "bad" for v in trap)
    assert all(v.signals["funding"].value > 0.00015 for v in trap)
    assert max(v.signals["sentiment"].value for v in trap) > 60


@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_overheat_stays_overheated_without_a_flush(asset: str) -> None:
    seen = phases("overheat", asset)
    assert "OVERHEATED" in seen
    assert "FLUSH" not in seen and "TRAP" not in seen and "RESTART" not in seen, phase_runs("overheat", asset)
    share = np.mean([v.phase == "OVERHEATED" for v in verdicts("overheat", asset)])
    assert share > 0.9


@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_calm_never_flushes(asset: str) -> None:
    seen = set(phases("calm", asset))
    assert not seen & {"FLUSH", "CASCADE", "TRAP", "OVERHEATED"}, phase_runs("calm", asset)
    final = verdicts("calm", asset)[-1]
    assert final.signals["long_short"].state == "good"
    assert final.signals["funding"].state == "good"
    market, _ = story("calm")
    assert all(40 <= v <= 55 for _, v, _ in market.fear_greed_history(market.end_ms, 10_000))
