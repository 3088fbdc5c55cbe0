"""Against a simulator running N times faster than real time, ccxt's rate limiter refills N times
faster: requests are spaced in venue time as they are live, so a rate-limited backfill does not
last simulated days (OKX's 30 days, ~800 calls at 0.4 s, were 12 sim-days at 3600x)."""

from __future__ import annotations

import pytest

from levtop.config import load_config
from levtop.pipeline import Pipeline
from levtop.store import HistoryStore

SIM = "http://127.0.0.1:9"


def refill_rate(pipeline: Pipeline, venue: str) -> float:
    exchange = pipeline._make_venue(venue).make_exchange()
    return exchange.throttler.config["refillRate"]


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx"])
def test_the_rate_limiter_refills_at_the_simulators_speed(venue):
    live = Pipeline(load_config(), HistoryStore(), sim_url=SIM)
    fast = Pipeline(load_config(), HistoryStore(), sim_url=SIM, time_scale=3600.0)
    base = refill_rate(live, venue)
    assert base > 0
    assert refill_rate(fast, venue) == pytest.approx(base * 3600.0)
    # Each exchange is scaled once: a venue that starts again keeps its exchange, a new one starts
    # from the venue's own rate.
    assert refill_rate(fast, venue) == pytest.approx(base * 3600.0)


def test_without_a_rate_limiter_nothing_is_paced():
    base = refill_rate(Pipeline(load_config(), HistoryStore(), sim_url=SIM), "okx")
    unlimited = Pipeline(load_config(), HistoryStore(), sim_url=SIM, time_scale=3600.0, rate_limit=False)
    exchange = unlimited._make_venue("okx").make_exchange()
    assert exchange.enableRateLimit is False
    assert exchange.throttler.config["refillRate"] == pytest.approx(base)
