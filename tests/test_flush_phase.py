"""Flush detection on constructed series, phase precedence, and as-of (no look-ahead)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from levtop.signals import (
    PHASES,
    Signal,
    Thresholds,
    FlushStart,
    _phase,
    all_flushes,
    evaluate,
    inputs_from_frame,
)
from samples_builder import DAY, HOUR, MINUTE, T0, Rows

STEP = 5 * MINUTE


def oi_path(days: int, level_at) -> list[tuple[int, float]]:
    """5-minute coin OI over ``days`` ending at T0, ``level_at(hours_before_T0)`` giving the level."""
    n = days * 24 * 12
    return [(T0 - (n - 1 - i) * STEP, level_at((n - 1 - i) * STEP / HOUR)) for i in range(n)]


def wiggle(h: float) -> float:
    return 1 + 0.004 * math.sin(h / 5.0)  # +-0.4%: ordinary noise, not a flush


def test_a_31_percent_drop_is_found_with_its_depth():
    # Flat at 100k coins, then -31% over 12 hours 10 days ago, then flat at the low.
    def level(h: float) -> float:
        if h > 252:
            return 100_000.0
        if h > 240:
            return 100_000 * (1 - 0.31 * (252 - h) / 12)
        return 69_000.0

    rows = Rows()
    for venue, share in (("binance", 0.5), ("bybit", 0.3), ("okx", 0.2)):
        rows.add(venue, "BTC", "oi_base", [(t, v * share) for t, v in oi_path(40, level)])
    inputs = inputs_from_frame(rows.frame(), "BTC")
    (flush,) = all_flushes(inputs, T0)
    assert flush.trigger == "oi"
    # It starts during the drop, once OI is 10% below its level 24h earlier.
    assert T0 - 252 * HOUR < flush.start < T0 - 240 * HOUR
    assert flush.depth == pytest.approx(-0.31, abs=1e-9)
    assert (flush.peak, flush.trough) == (pytest.approx(100_000), pytest.approx(69_000))
    assert T0 - 241 * HOUR <= flush.trough_ts
    assert "OI -31% from peak" in flush.describe()


def test_a_slow_8_percent_drift_is_not_a_flush():
    rows = Rows().add("binance", "BTC", "oi_base", oi_path(40, lambda h: 100_000 * (1 - 0.08 * (960 - h) / 960)))
    assert all_flushes(inputs_from_frame(rows.frame(), "BTC"), T0) == []


@pytest.mark.parametrize("drop, found", [(0.09, False), (0.10, True), (0.12, True)])
def test_flush_24h_threshold(drop, found):
    # A step down of `drop` between two 5-minute points, 5 days ago.
    rows = Rows().add("binance", "BTC", "oi_base", oi_path(20, lambda h: 100.0 if h > 120 else 100.0 * (1 - drop)))
    flushes = all_flushes(inputs_from_frame(rows.frame(), "BTC"), T0)
    assert bool(flushes) is found


def test_flush_72h_threshold_catches_a_grinding_drop():
    # -16% spread evenly over three days: never -10% within 24h, but -15% within 72h.
    def level(h: float) -> float:
        if h > 200:
            return 100.0
        if h > 128:
            return 100.0 * (1 - 0.16 * (200 - h) / 72)
        return 84.0

    rows = Rows().add("binance", "BTC", "oi_base", oi_path(20, level))
    (flush,) = all_flushes(inputs_from_frame(rows.frame(), "BTC"), T0)
    assert flush.trigger == "oi"
    assert flush.depth == pytest.approx(-0.16, abs=0.005)


def test_a_liquidation_spike_starts_a_flush():
    rows = Rows().add("binance", "BTC", "liq_long_usd", [(T0 - k * HOUR, 1e6) for k in range(24 * 20, 24, -1)])
    assert all_flushes(inputs_from_frame(rows.frame(), "BTC"), T0) == []
    rows.add("bybit", "BTC", "liq_long_usd", [(T0 - 2 * HOUR, 130e6)])  # > 5x the $24M daily median
    (flush,) = all_flushes(inputs_from_frame(rows.frame(), "BTC"), T0)
    assert flush.trigger == "liquidations"
    assert T0 - 2 * HOUR <= flush.start < T0 - 2 * HOUR + MINUTE + 1
    assert flush.depth is None  # no OI data to measure a depth


# -- phase precedence -------------------------------------------------------------------------


def sigs(**states: str) -> dict[str, Signal]:
    values = {"funding": 0.0001}
    base = {name: "good" for name in ("funding", "oi_rebuild", "oi_level", "stablecoins", "sentiment", "long_short", "liquidations")}
    base.update(states)
    out = {}
    for name, state in base.items():
        value = None if state == "unknown" else values.get(name, 1.0)
        out[name] = Signal(name, state, value, "")
    return out


def with_funding(signals: dict[str, Signal], value: float, state: str) -> dict[str, Signal]:
    signals["funding"] = Signal("funding", state, value, "")
    return signals


TH = Thresholds()


def flush_ago(days: float) -> FlushStart:
    return FlushStart(int(T0 - days * DAY), "oi")


def test_cascade_beats_everything():
    assert _phase(sigs(liquidations="bad"), T0, flush_ago(0.5), TH)[0] == "CASCADE"


def test_flush_lasts_72h():
    assert _phase(sigs(), T0, flush_ago(2.99), TH)[0] == "FLUSH"
    assert _phase(sigs(), T0, FlushStart(T0 - 72 * HOUR, "oi"), TH)[0] != "FLUSH"


def test_trap_needs_a_recent_flush_a_fast_rebuild_and_warm_funding():
    trap = with_funding(sigs(oi_rebuild="bad"), 0.0002, "warn")
    assert _phase(trap, T0, flush_ago(5), TH)[0] == "TRAP"
    assert _phase(trap, T0, flush_ago(29.9), TH)[0] == "TRAP"
    assert _phase(trap, T0, flush_ago(30), TH)[0] != "TRAP"
    assert _phase(trap, T0, None, TH)[0] != "TRAP"
    crowded_shorts = with_funding(sigs(oi_rebuild="bad"), -0.001, "warn")
    assert _phase(crowded_shorts, T0, flush_ago(5), TH)[0] != "TRAP"
    assert _phase(with_funding(sigs(oi_rebuild="warn"), 0.0002, "warn"), T0, flush_ago(5), TH)[0] != "TRAP"


def test_restart_needs_every_gate_and_beats_purifying():
    assert _phase(sigs(), T0, flush_ago(5), TH) == ("RESTART", None)
    assert _phase(sigs(oi_rebuild="warn", sentiment="warn"), T0, None, TH)[0] == "RESTART"
    for gate in ("oi_level", "funding", "stablecoins"):
        assert _phase(sigs(**{gate: "warn"}), T0, None, TH)[0] != "RESTART"
    for gate in ("oi_level", "funding", "stablecoins", "oi_rebuild", "sentiment"):
        assert _phase(sigs(**{gate: "unknown"}), T0, None, TH)[0] != "RESTART", gate
        assert _phase(sigs(**{gate: "bad"}), T0, None, TH)[0] != "RESTART", gate


def test_purifying_from_day_3_to_21_with_its_day():
    not_restart = sigs(stablecoins="warn")
    assert _phase(not_restart, T0, flush_ago(3), TH) == ("PURIFYING", 4)
    assert _phase(not_restart, T0, flush_ago(10.5), TH) == ("PURIFYING", 11)
    assert _phase(not_restart, T0, flush_ago(20.99), TH) == ("PURIFYING", 21)
    assert _phase(not_restart, T0, flush_ago(21), TH)[0] == "NEUTRAL"


def test_overheated_then_neutral_then_unknown():
    hot = with_funding(sigs(sentiment="bad"), 0.001, "bad")
    assert _phase(hot, T0, None, TH)[0] == "OVERHEATED"
    assert _phase(with_funding(sigs(sentiment="warn"), 0.001, "bad"), T0, None, TH)[0] == "NEUTRAL"
    assert _phase(sigs(oi_level="unknown", oi_rebuild="unknown", stablecoins="warn"), T0, None, TH)[0] == "NEUTRAL"
    sparse = sigs(oi_level="unknown", oi_rebuild="unknown", stablecoins="unknown")
    assert _phase(sparse, T0, None, TH)[0] == "UNKNOWN"
    assert _phase(sigs(funding="unknown", stablecoins="warn"), T0, None, TH)[0] == "UNKNOWN"


def test_status_is_green_exactly_when_restart():
    rows = Rows()
    verdict = evaluate(rows.frame(), "BTC", [T0])[0]
    assert verdict.phase == "UNKNOWN" and not verdict.green
    for phase in PHASES:
        assert (phase == "RESTART") == (verdict.__class__(T0, "BTC", phase, {}, None, None).green)


# -- a whole market through evaluate ----------------------------------------------------------


def healthy_market(days: int = 40) -> Rows:
    """Aggregate OI flat well under its old peak, neutral funding, rising stablecoins, fear."""
    rows = Rows()
    rows.add("binance", "BTC", "oi_usd", [(t, 10e9 if t < T0 - 20 * DAY else 7e9 * wiggle(t / HOUR))
                                          for t, _ in oi_path(days, lambda h: 0)])
    rows.add("binance", "BTC", "oi_base", [(t, 100_000 * wiggle(t / HOUR)) for t, _ in oi_path(4, lambda h: 0)])
    rows.add("binance", "BTC", "funding_8h", [(T0 - k * 8 * HOUR, 0.00008) for k in range(0, 30)])
    rows.market("stablecoin_supply_usd", [(T0 - k * DAY, 150e9 * (1 - 0.0005 * k)) for k in range(0, 30)])
    rows.market("fear_greed", [(T0 - k * DAY, 30) for k in range(0, 30)])
    return rows


def test_a_healthy_market_is_restart_and_one_greedy_day_is_not():
    (v,) = evaluate(healthy_market().frame(), "BTC", [T0])
    assert {n: s.state for n, s in v.signals.items() if n in ("oi_level", "oi_rebuild", "funding", "stablecoins", "sentiment")} == {
        "oi_level": "good", "oi_rebuild": "good", "funding": "good", "stablecoins": "good", "sentiment": "good"
    }
    assert v.phase == "RESTART" and v.green
    rows = healthy_market()
    rows.market("fear_greed", [(T0, 75)])
    (v,) = evaluate(rows.frame(), "BTC", [T0])
    assert v.phase != "RESTART"


def test_evaluation_never_reads_the_future():
    rows = healthy_market()
    # Add a crash after T0: OI collapses and liquidations explode.
    rows.add("binance", "BTC", "oi_base", [(T0 + k * STEP, 50_000) for k in range(1, 200)])
    rows.add("binance", "BTC", "liq_long_usd", [(T0 + k * MINUTE, 1e9) for k in range(1, 100)])
    full = rows.frame()
    times = np.arange(T0 - 3 * DAY, T0 + 1, 6 * HOUR)
    with_future = evaluate(full, "BTC", times)
    for t, verdict in zip(times, with_future):
        (alone,) = evaluate(full.filter(full["ts"] <= t), "BTC", [int(t)])
        assert verdict.to_json() == alone.to_json()
        assert verdict.flush == alone.flush
