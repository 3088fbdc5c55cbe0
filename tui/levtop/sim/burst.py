"""Liquidation bursts, the load test of a client's stream path: a venue's liquidation stream
pushes ``rate`` events a second for ``seconds`` seconds (every one of them, none of Binance's one
per symbol per second) and the simulator counts exactly what it sent.

Prices are multiples of 1/1024 and quantities multiples of 1/8 coin, so every notional, and every
sum of them up to $5e11, is exact in binary floating point: a client's totals compare with ``==``
whatever order it adds them in. Within a burst's time span the stream sends the burst alone (the
market model's own liquidations of that span are held back), so a client's total over the span
is the burst's total. Each event differs from the others of its millisecond, symbol and side (in
quantity), so a client that drops replayed events has no reason to drop one.

Started with ``POST /_sim/burst`` (``{"rate": 2000, "seconds": 30}``), watched with
``GET /_sim/burst``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Mapping

import numpy as np

TICK_S = 0.01
PRICE_STEP = 1 / 1024
QTY_STEP = 1 / 8
MEDIAN_USD = 8_000.0
"""Typical notional of a burst event (log-normal around it, as liquidation sizes are)."""
MAX_RATE = 20_000.0
MAX_SECONDS = 600.0

SIDES = ("long", "short")


class BurstError(ValueError):
    """A burst request that cannot run (bad numbers, unknown assets or venue)."""


class BurstRunning(BurstError):
    """A burst was asked for while another runs."""


@dataclass(frozen=True)
class BurstEvent:
    ts: int
    asset: str
    side: str
    """"long": a long position liquidated (the exchange sells); "short": a short (it buys)."""
    qty: float
    price: float

    @property
    def notional(self) -> float:
        return self.qty * self.price


Sink = Callable[[list[BurstEvent]], Awaitable[int]]
"""One stream connection's sender: sends the events, returns how many frames went out."""


@dataclass
class Burst:
    venue: str
    rate: float
    seconds: float
    prices: Mapping[str, float]
    """Each asset's reference price; events are priced around it."""
    start_ms: int
    """The sim time of the first event (the span the burst owns starts here)."""
    seed: int = 1
    end_ms: int | None = None
    """The sim time of the last event, once the burst is over."""
    events: int = 0
    frames: int = 0
    elapsed_s: float = 0.0
    totals: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    """(asset, side) -> [events, USD]."""

    def __post_init__(self) -> None:
        if not 0 < self.rate <= MAX_RATE:
            raise BurstError(f"rate must be in (0, {MAX_RATE:g}] events/s, got {self.rate:g}")
        if not 0 < self.seconds <= MAX_SECONDS:
            raise BurstError(f"seconds must be in (0, {MAX_SECONDS:g}], got {self.seconds:g}")
        if not self.prices:
            raise BurstError("a burst needs at least one asset")
        self._rng = np.random.default_rng(self.seed)
        self._assets = tuple(self.prices)
        self._last_ms = self.start_ms - 1
        self._stopped = False

    @property
    def running(self) -> bool:
        return self.end_ms is None

    def covers(self, ts: int) -> bool:
        """Whether ``ts`` is in the span this burst owns."""
        return ts >= self.start_ms and (self.end_ms is None or ts <= self.end_ms)

    def stop(self) -> None:
        self._stopped = True

    async def run(self, now_ms: Callable[[], int], sinks: Callable[[], Iterable[Sink]]) -> None:
        """Send on every open connection, tick by tick, as many events as the rate says are due."""
        began = time.monotonic()
        try:
            while not self._stopped and self.elapsed_s < self.seconds:
                await asyncio.sleep(TICK_S)
                self.elapsed_s = min(time.monotonic() - began, self.seconds)
                due = int(self.elapsed_s * self.rate) - self.events
                if due <= 0:
                    continue
                batch = self._next_events(due, now_ms())
                for sink in list(sinks()):
                    self.frames += await sink(batch)
                self._count(batch)
        finally:
            self.end_ms = self._last_ms

    def _next_events(self, n: int, now: int) -> list[BurstEvent]:
        """``n`` events spread over the sim milliseconds since the last tick, oldest first."""
        rng = self._rng
        lo = self._last_ms + 1
        hi = max(lo, now)
        self._last_ms = hi
        ts = np.sort(rng.integers(lo, hi + 1, n)).tolist()
        which = rng.integers(0, len(self._assets), n).tolist()
        long = (rng.random(n) < 0.5).tolist()
        drift = rng.normal(0.0, 0.002, n).tolist()
        usd = rng.lognormal(np.log(MEDIAN_USD), 1.2, n).tolist()
        events, seen = [], set()
        for k in range(n):
            asset = self._assets[which[k]]
            side = SIDES[0] if long[k] else SIDES[1]
            price = max(1, round(self.prices[asset] * (1 + drift[k]) / PRICE_STEP)) * PRICE_STEP
            steps = max(1, round(usd[k] / price / QTY_STEP))
            while (ts[k], asset, side, steps, price) in seen:
                steps += 1
            seen.add((ts[k], asset, side, steps, price))
            events.append(BurstEvent(ts[k], asset, side, steps * QTY_STEP, price))
        return events

    def _count(self, batch: list[BurstEvent]) -> None:
        for event in batch:
            total = self.totals.setdefault((event.asset, event.side), [0, 0.0])
            total[0] += 1
            total[1] += event.notional
        self.events += len(batch)

    def to_json(self) -> dict[str, Any]:
        totals: dict[str, dict[str, dict[str, float]]] = {}
        for asset in self._assets:
            totals[asset] = {}
            for side in SIDES:
                events, usd = self.totals.get((asset, side), (0, 0.0))
                totals[asset][side] = {"events": int(events), "usd": usd}
        return {
            "venue": self.venue,
            "rate": self.rate,
            "seconds": self.seconds,
            "assets": list(self._assets),
            "running": self.running,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "events": self.events,
            "frames": self.frames,
            "elapsed_s": round(self.elapsed_s, 3),
            "events_per_s": round(self.events / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "totals": totals,
        }


class BurstBoard:
    """A simulator's bursts and the stream connections that carry them, per venue."""

    VENUES = ("binance",)
    """The venues whose streams carry bursts."""

    def __init__(self) -> None:
        self.bursts: list[Burst] = []
        self._sinks: dict[str, set[Sink]] = {}
        self._tasks: set[asyncio.Task] = set()

    def listen(self, venue: str, sink: Sink) -> None:
        self._sinks.setdefault(venue, set()).add(sink)

    def forget(self, venue: str, sink: Sink) -> None:
        self._sinks.get(venue, set()).discard(sink)

    @property
    def latest(self) -> Burst | None:
        return self.bursts[-1] if self.bursts else None

    def covers(self, venue: str, ts: int) -> bool:
        """Whether a burst on ``venue`` owns the sim time ``ts`` (its ordinary events are held back)."""
        return any(b.venue == venue and b.covers(ts) for b in self.bursts)

    def start(self, burst: Burst, now_ms: Callable[[], int]) -> None:
        if burst.venue not in self.VENUES:
            raise BurstError(f"bursts run on {', '.join(self.VENUES)}, not {burst.venue!r}")
        if any(b.running for b in self.bursts):
            raise BurstRunning("a burst is running already")
        self.bursts.append(burst)
        task = asyncio.create_task(burst.run(now_ms, lambda: tuple(self._sinks.get(burst.venue, ()))))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for burst in self.bursts:
            burst.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
