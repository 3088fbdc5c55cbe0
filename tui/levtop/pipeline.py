"""The live data pipeline: every source, polled and streamed into the store, with health.

sources -> store. One pipeline serves `snapshot`, the TUI and `record`; it imports nothing
from Textual. ``jobs()`` lists every long-running coroutine (a poll loop per endpoint, a stream
per venue) so a host can run them as asyncio tasks or as Textual workers.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from levtop.config import Config
from levtop.model import DAY, Sample
from levtop.sources.errors import NotListed, classify
from levtop.sources.health import HealthBoard
from levtop.sources.scheduler import Backoff, Job, SourceGate, run_job
from levtop.sources.venue import Venue
from levtop.store import HistoryStore

log = logging.getLogger(__name__)

MARKET_SOURCES = ("fear_greed", "stablecoins")
MIN_POLL_S = 1.0
"""No job polls more often than this, whatever the config says."""
FAST_CLOCK_MIN_POLL_S = 2.0
"""The floor against a simulator's faster clock, where every interval shrinks towards it: at 600x
every job would poll each second, yet the screen draws a fast market every 1-3 s
(app.VIEW_CPU_SHARE), so half of those answers would reach no screen."""
BINANCE_SPOT_ORIGIN = "https://api.binance.com"


def sim_endpoints(url: str) -> dict[str, dict[str, str]]:
    """Every source's base URLs pointed at one running `levtop sim`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        from levtop.errors import UserError

        raise UserError(f"bad --sim URL '{url}': expected http://host:port, like http://127.0.0.1:8787")
    rest = f"{parts.scheme}://{parts.netloc}"
    ws = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    return {
        "binance": {"rest": rest, "ws": ws, "spot": rest},
        "bybit": {"rest": rest, "ws": ws},
        "okx": {"rest": rest, "ws": ws},
        "fear_greed": {"url": rest},
        "stablecoins": {"url": rest},
    }


async def sim_speed(url: str) -> float:
    """The speed of a running `levtop sim` (sim seconds per real second), 1.0 if it won't say."""
    from levtop.sources.http import get_json, new_session

    try:
        async with new_session(timeout_s=5.0) as session:
            clock = await get_json(session, url.rstrip("/") + "/_sim/clock")
        speed = float(clock["speed"])
        return speed if speed > 0 else 1.0
    except Exception:  # noqa: BLE001 - an older or foreign server: poll in real time
        return 1.0


def venue_class(name: str) -> type[Venue]:
    """The Venue subclass defined in ``levtop.sources.<name>``."""
    module = importlib.import_module(f"levtop.sources.{name}")
    for obj in vars(module).values():
        if inspect.isclass(obj) and issubclass(obj, Venue) and obj is not Venue and obj.name == name:
            return obj
    raise LookupError(f"levtop.sources.{name} defines no Venue named {name!r}")


def _paced(make_exchange: Callable[[], Any], time_scale: float) -> Callable[[], Any]:
    """``make_exchange`` whose ccxt rate limiter refills ``time_scale`` times faster.

    The limiter runs on the wall clock; a simulator's runs ``time_scale`` times faster. Unscaled,
    requests would be spaced as live in real time, so ever sparser in venue time: at 3600x OKX's
    30-day backfill (about 800 calls at 0.4 s) would last 12 simulated days, and a recorded week
    would have no OKX in it. Scaled, they are spaced in venue time as they are live."""

    def make() -> Any:
        exchange = make_exchange()
        exchange.throttler.config["refillRate"] *= time_scale
        return exchange

    return make


@dataclass
class Runnable:
    """One long-running piece of the pipeline, for a host to run and name."""

    name: str
    group: str
    run: Callable[[], Awaitable[None]]


class Pipeline:
    def __init__(self, config: Config, store: HistoryStore, *, assets: Sequence[str] | None = None,
                 sim_url: str | None = None, health: HealthBoard | None = None,
                 backfill_days: float = 30.0, on_samples: Callable[[list[Sample]], None] | None = None,
                 rate_limit: bool = True, time_scale: float = 1.0,
                 backfill_only: frozenset[str] | None = None):
        self.config = config
        self.store = store
        self.assets = tuple(assets or config.assets)
        self.health = health or HealthBoard()
        self.backfill_ms = int(backfill_days * DAY)
        self.endpoints = sim_endpoints(sim_url) if sim_url else config.sources
        self.backfill_only = backfill_only
        self.on_samples = on_samples
        # Off only for an in-process simulator: nothing to protect, and backfill is instant.
        self.rate_limit = rate_limit
        # A simulator's clock runs `time_scale` times faster than ours: poll as often in its
        # time as we would in real time (5-minute history every 5 sim-minutes), but never
        # more than every FAST_CLOCK_MIN_POLL_S.
        floor = MIN_POLL_S if time_scale <= 1.0 else FAST_CLOCK_MIN_POLL_S
        self.poll_s = {name: max(floor, seconds / time_scale) for name, seconds in config.poll_s.items()}
        self.time_scale = time_scale
        self.wake = asyncio.Event()
        self.venues: dict[str, Venue] = {}
        self.gates = {name: SourceGate() for name in MARKET_SOURCES}
        self._session = None

    # -- samples in ----------------------------------------------------------------------------

    def sink(self, samples: list[Sample]) -> None:
        self.store.append(samples)
        if self.on_samples is not None:
            self.on_samples(samples)

    def newest(self, venue: str, asset: str, metric: str) -> int | None:
        return self.store.newest(venue, asset, metric)

    # -- lifecycle -----------------------------------------------------------------------------

    def _make_venue(self, name: str) -> Venue:
        urls = self.endpoints[name]
        extra = {BINANCE_SPOT_ORIGIN: urls["spot"]} if name == "binance" and "spot" in urls else None
        venue = venue_class(name)(urls["rest"], urls["ws"], self.assets, self.sink, self.health,
                                  extra_origins=extra, rate_limit=self.rate_limit)
        venue.backfill_only = self.backfill_only
        if self.rate_limit and self.time_scale != 1.0:
            venue.make_exchange = _paced(venue.make_exchange, self.time_scale)
        return venue

    async def start(self) -> None:
        """Connect every venue and find the watched assets on it; failures show in health."""
        for name in self.config.venues:
            self.venues[name] = self._make_venue(name)
        await asyncio.gather(*(self._start_venue(v) for v in self.venues.values()))

    async def _start_venue(self, venue: Venue) -> None:
        try:
            await venue.start()
        except Exception as exc:  # noqa: BLE001 - a venue that cannot start is DOWN, not fatal
            venue.listings = {}  # half a start is no start: retry all of it
            self.health.failed(venue.name, "markets", classify(exc).message)
            return
        self.health.ok(venue.name, "markets")
        for asset in venue.unlisted:
            self.health.not_available(venue.name, f"{asset} listing", f"{asset} is not listed on {venue.name}")
        if not venue.listings:
            self.health.disable(venue.name, f"none of {', '.join(self.assets)} is listed on {venue.name}")

    def ready_venues(self) -> list[Venue]:
        return [v for v in self.venues.values() if v.listings]

    async def close(self) -> None:
        await asyncio.gather(*(v.close() for v in self.venues.values()), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- market-wide sources -------------------------------------------------------------------

    def session(self):
        """The shared aiohttp session of the non-exchange sources, made on first use."""
        if self._session is None:
            from levtop.sources.http import new_session

            self._session = new_session()
        return self._session

    async def fetch_fear_greed(self, days: int = 3) -> int:
        from levtop.sources.fear_greed import fetch_fear_greed

        await self.gates["fear_greed"].wait()
        samples = await fetch_fear_greed(self.session(), self.endpoints["fear_greed"]["url"], days)
        self.sink(samples)
        return len(samples)

    async def fetch_stablecoins(self) -> int:
        from levtop.sources.stablecoins import fetch_stablecoins

        await self.gates["stablecoins"].wait()
        newest = self.store.newest("market", "*", "stablecoin_supply_usd")
        since = None if newest is None else newest - 2 * DAY
        samples = await fetch_stablecoins(self.session(), self.endpoints["stablecoins"]["url"], since)
        if newest is None and samples:
            # Only the retention window is worth keeping; DefiLlama sends every day since 2017.
            cutoff = samples[-1].ts - int(self.config.store.retention_days * DAY)
            samples = [s for s in samples if s.ts >= cutoff]
        self.sink(samples)
        return len(samples)

    def market_jobs(self) -> list[Job]:
        poll = self.poll_s
        return [
            Job("fear_greed", "fng", poll["fear_greed"], lambda: self.fetch_fear_greed(days=3)),
            Job("stablecoins", "stablecoincharts", poll["stablecoins"], self.fetch_stablecoins),
        ]

    # -- backfill ------------------------------------------------------------------------------

    async def backfill(self) -> None:
        """History for every source, from what is stored (or the backfill window) to now."""
        days = max(30, int(self.backfill_ms // DAY))
        tasks = [self._guarded("fear_greed", "fng", self.fetch_fear_greed(days=days)),
                 self._guarded("stablecoins", "stablecoincharts", self.fetch_stablecoins())]
        tasks += [self._guarded(v.name, "backfill", self.backfill_venue(v)) for v in self.ready_venues()]
        await asyncio.gather(*tasks)

    async def backfill_venue(self, venue: Venue) -> int:
        now = await venue.ensure_server_time()
        return await venue.backfill(self.newest, now, self.backfill_ms)

    async def _guarded(self, source: str, endpoint: str, work: Awaitable[object]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except NotListed as exc:
            self.health.not_available(source, endpoint, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - reported in health; the rest carries on
            failure = classify(exc)
            if failure.ban_s is not None:
                gate = self.gates.get(source) or (self.venues[source].gate if source in self.venues else None)
                if gate is not None:
                    gate.ban(failure.ban_s)
            self.health.failed(source, endpoint, failure.message)
            return
        self.health.ok(source, endpoint)

    # -- one round of every poll (for snapshot) ------------------------------------------------

    async def poll_once(self) -> None:
        jobs = self.market_jobs()
        for venue in self.ready_venues():
            jobs += venue.poll_jobs(self.poll_s)
        await asyncio.gather(*(self._guarded(job.source, job.endpoint, job.fetch()) for job in jobs))

    # -- running for good ----------------------------------------------------------------------

    def runnables(self) -> list[Runnable]:
        """One supervisor per source: start (retrying), backfill, then poll and stream."""
        out = [Runnable(name, name, lambda name=name: self.run_market_source(name)) for name in MARKET_SOURCES]
        for name in self.config.venues:
            out.append(Runnable(name, name, lambda name=name: self.run_venue(name)))
        return out

    async def run_market_source(self, name: str) -> None:
        job = next(j for j in self.market_jobs() if j.source == name)
        if name == "fear_greed":
            days = max(3, int(self.backfill_ms // DAY))
            await self._guarded(name, job.endpoint, self.fetch_fear_greed(days=days))
        await run_job(job, self.gates[name], self.health, wake=self.wake)

    async def run_venue(self, name: str) -> None:
        venue = self.venues.get(name) or self.venues.setdefault(name, self._make_venue(name))
        backoff = Backoff(base=2.0, cap=300.0)
        while not venue.listings:
            await self._start_venue(venue)
            if venue.listings or venue.unlisted == list(self.assets):
                break
            await asyncio.sleep(backoff.next_delay())
        if not venue.listings:
            return
        await self._guarded(name, "backfill", self.backfill_venue(venue))
        lock = asyncio.Lock()

        async def recover() -> None:
            # Several polls recover together after an outage; one backfill fills the gap for all.
            if lock.locked():
                return
            async with lock:
                venue.cursors.gaps.clear()
                await self._guarded(name, "backfill", self.backfill_venue(venue))

        def gap_found() -> bool:
            return bool(venue.cursors.gaps)

        loops = [run_job(job, venue.gate, self.health, wake=self.wake, on_recover=recover, gap_found=gap_found)
                 for job in venue.poll_jobs(self.poll_s)]
        await asyncio.gather(*loops, venue.stream_liquidations())

    def refresh_now(self) -> None:
        """Cut every poll's wait short (the 'r' key)."""
        self.wake.set()
        self.wake.clear()

    async def run(self) -> None:
        """Every source until cancelled (call ``close()`` after)."""
        await asyncio.gather(*(r.run() for r in self.runnables()))
