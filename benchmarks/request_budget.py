"""Requests: what levtop asks of the venues in one simulated hour, against the minimum.

Prints one JSON object. The simulator (10 assets, on 127.0.0.1) and the real Pipeline run in this
process, the pipeline with ccxt's rate limiter on as in live use. After the start-up backfill
(timed and counted separately, not part of the hour) the simulator's counters are reset at a
quiet moment of the venue clock (2.5 minutes into a 5-minute bucket) and read back from
``GET /_sim/stats`` exactly one simulated hour later; every venue route's count is compared with
the minimum derived in ``minimum_requests`` (and in benchmarks/README.md): what the data's update
frequency and the venues' batch endpoints allow.

Speed: levtop polls a simulator ``speed`` times more often in real time (``time_scale``), never
more than every 2 s against a faster clock (``pipeline.FAST_CLOCK_MIN_POLL_S``); at the default 30x the
shortest interval (60 s tickers) is 2 s, at that floor. ccxt's rate limiter runs on the wall clock, so its refill
rate is scaled by the same speed: requests are spaced as they would be live, in venue time.

    .venv/bin/python benchmarks/request_budget.py [--speed 30] [--assets 10] [--hours 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import aiohttp

from levtop.config import Config
from levtop.model import HOUR, MINUTE, Sample
from levtop.pipeline import FAST_CLOCK_MIN_POLL_S, Pipeline
from levtop.sim.server import Simulator, venue_apis
from levtop.store import HistoryStore

ASSETS = ("BTC", "ETH", "SOL", "XRP", "BNB", "DOGE", "ADA", "AVAX", "LINK", "LTC")
# 2026-05-29T07:00Z: after the start-up backfill, the measured hour holds the 08:00 funding
# settlement, so the funding-history polls are part of the count.
START_MS = 1_780_038_000_000
FUNDING_STEP_MS = 8 * HOUR
STAT_STEP_MS = 5 * MINUTE
BUDGET_RATIO = 1.2
BACKFILL_DAYS = 2.0
WS_ROUTES = {(api.venue, route.path) for api in venue_apis() for route in api.ws}


@dataclass(frozen=True)
class Need:
    """What one venue route must be asked at least: a value polled every ``interval`` config
    seconds, a point per ``step_ms`` bucket, or a point per funding settlement; once per watched
    symbol (``per`` "perp" or "spot": the pairs the venue lists) or once for all ("batch")."""

    venue: str
    route: str
    why: str
    per: str  # "batch", "perp" or "spot"
    interval: str | None = None  # a Config.poll_s key
    step_ms: int | None = None
    settlement: bool = False


NEEDS = (
    Need("binance", "/fapi/v1/premiumIndex", "mark + current funding, every symbol in one call", "batch", interval="tickers"),
    Need("binance", "/fapi/v1/openInterest", "current OI: no batch endpoint", "perp", interval="open_interest"),
    Need("binance", "/futures/data/openInterestHist", "5-minute OI history, per symbol", "perp", step_ms=STAT_STEP_MS),
    Need("binance", "/futures/data/globalLongShortAccountRatio", "5-minute L/S ratio, per symbol", "perp",
         step_ms=STAT_STEP_MS),
    Need("binance", "/futures/data/topLongShortPositionRatio", "5-minute top-trader ratio, per symbol", "perp",
         step_ms=STAT_STEP_MS),
    Need("binance", "/fapi/v1/fundingRate", "settled funding: no symbol = every symbol", "batch", settlement=True),
    Need("binance", "/fapi/v1/fundingInfo", "funding intervals: they change only at a settlement", "batch",
         settlement=True),
    Need("binance", "/fapi/v1/klines", "hourly perp volume, per symbol", "perp", step_ms=HOUR),
    Need("binance", "/api/v3/klines", "hourly spot volume, per pair", "spot", step_ms=HOUR),
    Need("bybit", "/v5/market/tickers", "mark, funding and OI, every symbol in one call", "batch", interval="tickers"),
    Need("bybit", "/v5/market/open-interest", "5-minute OI history, per symbol", "perp", step_ms=STAT_STEP_MS),
    Need("bybit", "/v5/market/account-ratio", "5-minute L/S ratio, per symbol", "perp", step_ms=STAT_STEP_MS),
    Need("bybit", "/v5/market/funding/history", "settled funding, per symbol (symbol required)", "perp",
         settlement=True),
    Need("bybit", "/v5/market/kline", "hourly perp volume, per symbol", "perp", step_ms=HOUR),
    Need("bybit", "/v5/market/kline", "hourly spot volume, per pair", "spot", step_ms=HOUR),
    Need("okx", "/api/v5/public/funding-rate", "current funding, instId=ANY", "batch", interval="tickers"),
    Need("okx", "/api/v5/public/mark-price", "mark prices, instType=SWAP", "batch", interval="tickers"),
    Need("okx", "/api/v5/public/open-interest", "current OI, instType=SWAP", "batch", interval="open_interest"),
    Need("okx", "/api/v5/rubik/stat/contracts/open-interest-history", "5-minute OI history, per swap", "perp",
         step_ms=STAT_STEP_MS),
    Need("okx", "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract", "5-minute L/S ratio, per swap",
         "perp", step_ms=STAT_STEP_MS),
    Need("okx", "/api/v5/rubik/stat/contracts/long-short-position-ratio-contract-top-trader",
         "5-minute top-trader ratio, per swap", "perp", step_ms=STAT_STEP_MS),
    Need("okx", "/api/v5/public/funding-rate-history", "settled funding, per swap", "perp", settlement=True),
    Need("okx", "/api/v5/market/candles", "hourly perp volume, per swap", "perp", step_ms=HOUR),
    Need("okx", "/api/v5/market/candles", "hourly spot volume, per pair", "spot", step_ms=HOUR),
)


def closes_in(t0: int, t1: int, step_ms: int) -> int:
    """How many bucket boundaries (multiples of ``step_ms``) fall in (t0, t1]."""
    return t1 // step_ms - t0 // step_ms


def minimum_requests(need: Need, config: Config, symbols: dict[str, int], t0: int, t1: int) -> int:
    """The fewest requests of ``need`` in the venue-time window (t0, t1]."""
    count = 1 if need.per == "batch" else symbols[need.per]
    if need.interval is not None:
        return count * math.floor((t1 - t0) / 1000 / config.poll_s[need.interval])
    step = need.step_ms if need.step_ms is not None else FUNDING_STEP_MS
    return count * closes_in(t0, t1, step)


def symbol_counts(pipeline: Pipeline, venue: str) -> dict[str, int]:
    """How many watched perps and spot pairs the venue lists (what per-symbol needs multiply)."""
    v = pipeline.venues[venue]
    spot_unlisted = getattr(v, "spot_unlisted", set())
    return {"perp": len(v.listings), "spot": len([a for a in v.listings if a not in spot_unlisted])}


# -- freshness: how long after its bucket closes a history point is stored -------------------------

FRESHNESS_METRICS = {  # metric -> its step; written by history polls only (settled funding:
    "long_short_ratio": STAT_STEP_MS,  # the points on the 8-hour grid)
    "top_long_short_ratio": STAT_STEP_MS,
    "perp_volume_usd": HOUR,
    "spot_volume_usd": HOUR,
    "funding_8h": FUNDING_STEP_MS,
}


class Freshness:
    """The venue-time delay between a history point's timestamp and its arrival in the store:
    fewer requests must not make the data staler (a point must be stored well before the next
    one exists)."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.since: int | None = None
        self.lags_s: dict[tuple[str, str], list[float]] = defaultdict(list)
        self._seen: set[tuple[str, str, str, int]] = set()

    def on_samples(self, samples: list[Sample]) -> None:
        if self.since is None:
            return
        now = self.sim.clock.now_ms()
        for s in samples:
            step = FRESHNESS_METRICS.get(s.metric)
            if step is None or s.ts <= self.since or s.ts % step:
                continue
            key = (s.venue, s.asset, s.metric, s.ts)
            if key not in self._seen:
                self._seen.add(key)
                self.lags_s[(s.venue, s.metric)].append((now - s.ts) / 1000)

    def summary(self) -> dict[str, dict[str, float]]:
        return {f"{venue} {metric}": {"points": len(lags), "max_s": round(max(lags), 1),
                                      "median_s": round(sorted(lags)[len(lags) // 2], 1),
                                      "period_s": FRESHNESS_METRICS[metric] / 1000}
                for (venue, metric), lags in sorted(self.lags_s.items())}

    def within_periods(self) -> bool:
        """Every new point stored within its period (before the next one exists)."""
        return bool(self.lags_s) and all(max(lags) * 1000 < FRESHNESS_METRICS[metric]
                                         for (_venue, metric), lags in self.lags_s.items())


# -- the run ---------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def counting_statuses(tally: Counter) -> Iterator[None]:
    """Tally every REST status the simulator answers (to show zero 429s): the simulator counts
    requests per route, not their answers."""
    render = Simulator.__dict__["_render"]

    def counting(reply, rules):
        tally[reply.status] += 1
        return render.__func__(reply, rules)

    Simulator._render = staticmethod(counting)  # type: ignore[method-assign]
    try:
        yield
    finally:
        Simulator._render = render  # type: ignore[method-assign]


def scale_rate_limiters(pipeline: Pipeline, speed: float) -> None:
    """ccxt's limiter refills on the wall clock: refill ``speed`` times faster, so that requests
    are spaced in venue time as they are live."""
    for venue in pipeline.venues.values():
        venue.exchange.throttler.config["refillRate"] *= speed


async def sim_stats(session: aiohttp.ClientSession, sim: Simulator, method: str = "GET") -> dict[str, Any]:
    async with session.request(method, f"{sim.base_url}/_sim/stats") as response:
        return await response.json()


async def until(condition, timeout_s: float, what: str) -> None:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{what}: not within {timeout_s:g} s")
        await asyncio.sleep(0.02)


def backfilled(pipeline: Pipeline) -> bool:
    return all(pipeline.health.source(name).detail.get("backfill") is not None for name in pipeline.config.venues)


def quiet_moment(now_ms: int) -> int:
    """The next time 2.5 minutes into a 5-minute bucket: no history point is due near it."""
    target = now_ms - now_ms % STAT_STEP_MS + STAT_STEP_MS // 2
    return target if target > now_ms else target + STAT_STEP_MS


async def measure(speed: float, assets: tuple[str, ...], hours: float) -> dict[str, Any]:
    statuses: Counter = Counter()
    with counting_statuses(statuses):
        return await run_hour(speed, assets, hours, statuses)


async def run_hour(speed: float, assets: tuple[str, ...], hours: float, statuses: Counter) -> dict[str, Any]:
    sim = Simulator(scenario="recovery", seed=1, speed=speed, assets=assets, start_ms=START_MS, port=0)
    await sim.start()
    freshness = Freshness(sim)
    config = Config(path=None)  # type: ignore[arg-type] - the defaults, as a fresh install
    pipeline = Pipeline(config, HistoryStore(), assets=assets, sim_url=sim.base_url, rate_limit=True,
                        time_scale=speed, backfill_days=BACKFILL_DAYS, on_samples=freshness.on_samples)
    task = None
    try:
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            await pipeline.start()
            scale_rate_limiters(pipeline, speed)
            task = asyncio.create_task(pipeline.run())
            await until(lambda: backfilled(pipeline), 600, "start-up backfill")
            backfill = {"real_s": round(time.monotonic() - started, 1), "requests": (await sim_stats(session, sim))}
            t0 = quiet_moment(sim.clock.now_ms())
            await until(lambda: sim.clock.now_ms() >= t0, 600, "a quiet moment")
            await sim_stats(session, sim, "DELETE")
            statuses.clear()
            t0 = sim.clock.now_ms()
            freshness.since = t0
            t1 = t0 + int(hours * HOUR)
            log(f"backfill done in {backfill['real_s']} s; measuring {hours:g} simulated hour(s) at {speed:g}x")
            await until(lambda: sim.clock.now_ms() >= t1, hours * HOUR / 1000 / speed + 60, "the hour")
            stats = await sim_stats(session, sim)
            t1 = sim.clock.now_ms()
            problems = {name: h.error for name, h in pipeline.health.snapshot().items() if h.error}
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await pipeline.close()
        await sim.stop()
    return report(stats, backfill, pipeline, config, t0, t1, speed, statuses, freshness, problems)


def report(stats: dict[str, Any], backfill: dict[str, Any], pipeline: Pipeline, config: Config, t0: int, t1: int,
           speed: float, statuses: Counter, freshness: Freshness, problems: dict[str, str]) -> dict[str, Any]:
    minimum: dict[tuple[str, str], int] = Counter()
    why: dict[tuple[str, str], list[str]] = defaultdict(list)
    for need in NEEDS:
        n = minimum_requests(need, config, symbol_counts(pipeline, need.venue), t0, t1)
        minimum[(need.venue, need.route)] += n
        why[(need.venue, need.route)].append(f"{need.why}: {n}")
    measured = {(venue, route): n for venue, routes in stats["requests"].items() for route, n in routes.items()
                if (venue, route) not in WS_ROUTES}
    rows = []
    for key in sorted(set(minimum) | {k for k in measured if k[0] in pipeline.venues}):
        made, least = measured.get(key, 0), minimum.get(key, 0)
        rows.append({"venue": key[0], "route": key[1], "requests": made, "minimum": least,
                     "ratio": round(made / least, 2) if least else None, "minimum_from": why.get(key, ["not needed: 0"])})
    venue_made = sum(r["requests"] for r in rows)
    venue_min = sum(r["minimum"] for r in rows)
    ratio = venue_made / venue_min
    too_many = statuses.get(429, 0) + statuses.get(418, 0)
    fresh = freshness.within_periods()
    return {
        "name": "requests",
        "budget": f"one simulated hour, {len(pipeline.assets)} assets x 3 venues: <= {BUDGET_RATIO}x the minimum "
                  "(derived per endpoint); zero 429s",
        "value": round(ratio, 3),
        "unit": "x minimum",
        "passed": ratio <= BUDGET_RATIO and too_many == 0 and fresh,
        "requests": venue_made,
        "minimum": venue_min,
        "responses_429_418": too_many,
        "statuses": dict(sorted(statuses.items())),
        "sim_hours": round((t1 - t0) / HOUR, 3),
        "speed": speed,
        "min_poll_s": FAST_CLOCK_MIN_POLL_S,
        "shortest_real_interval_s": round(min(config.poll_s.values()) / speed, 3),
        "assets": list(pipeline.assets),
        "per_endpoint": rows,
        "market_sources": {v: stats["requests"].get(v, {}) for v in ("fear_greed", "stablecoins")},
        "freshness_within_periods": fresh,
        "freshness_s": freshness.summary(),
        "health_errors": problems,
        "backfill": {"real_s": backfill["real_s"], "requests_by_venue": backfill["requests"]["requests_by_venue"],
                     "note": "the start-up backfill (2 days of history), before the hour: not counted in it"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speed", type=float, default=30.0)
    parser.add_argument("--assets", type=int, default=len(ASSETS))
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    result = asyncio.run(measure(args.speed, ASSETS[:args.assets], args.hours))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
