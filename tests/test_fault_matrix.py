"""The fault-injection matrix (issue 6): every fault on every source, end to end through the real
pipeline, ccxt and aiohttp clients, against the simulator on 127.0.0.1.

One simulator and one pipeline (BTC only, 1 s polls, 1 day of backfill, no rate limiter, speed 600)
run for the whole module on a background event loop. Each row of the matrix puts a fault on one
source, sees that source turn DOWN (or STALE) with a reason within two poll intervals, sees another
source keep storing, sees nothing wrong stored, takes the fault away, and sees the source LIVE again
with the gap backfilled.

Rows run concurrently, one lane per source and one per liquidation stream, each lane its rows in
turn: faults on one source never touch another (the simulator matches rules by venue), one venue
has one fault at a time (its REST and stream lanes take turns), and at most two venues' REST APIs
are faulted at once, so a healthy venue is always there to show that the others keep updating. That keeps the whole matrix
near two minutes. Each test below is one cell and checks the outcome of its row.

Set LEVTOP_FAULT_MATRIX_REPORT=<path> to write every cell's observed status, reason and timings as
JSON (docs/reliability.md is filled from it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import threading
import time
from concurrent.futures import Future
from typing import Any, Awaitable, Callable

import pytest

from levtop.config import Config
from levtop.model import MINUTE
from levtop.pipeline import Pipeline
from levtop.sim.faults import FaultRule
from levtop.sim.server import venue_apis
from levtop.sources.health import Status
from levtop.sources.http import new_session
from levtop.sources.venue import LIQUIDATION_STREAM
from levtop.store import HistoryStore
from sim_helpers import running_sim

VENUES = ("binance", "bybit", "okx")
SOURCES = (*VENUES, "fear_greed", "stablecoins")
INTERVAL_S = 1.0
# ccxt/aiohttp latency, several lanes sharing two cores, and the 0.1 s polling of these checks.
SLACK_S = 3.0
# The client timeout during the matrix: the "hang" row holds each request 15 s, five times longer.
CLIENT_TIMEOUT_S = 3.0
HANG_S = 15.0
RETRY_AFTER_S = 3.0
# Liquidation sockets are pinged every second here (20 s in use), so a 6 s stall is six keepalives.
STREAM_KEEPALIVE_S = 1.0
STALL_S = 6.0
HOLD_S = 2.0
"""How long each REST fault is held after it shows: at speed 600, 20 sim-minutes of gap to fill."""
GAP_WAIT_S = 10.0
DROP_EVERY_N = 3
MAX_VENUES_FAULTED = 2
MATRIX_TIMEOUT_S = 420.0

# What a source's data looks like in the store: (venue, asset, metric) of a series it updates on
# every poll, and the field whose absence or wrong type must be rejected (route, field).
MAIN_SERIES = {
    "binance": ("binance", "BTC", "funding_8h"),
    "bybit": ("bybit", "BTC", "funding_8h"),
    "okx": ("okx", "BTC", "funding_8h"),
    "fear_greed": ("market", "*", "fear_greed"),
    "stablecoins": ("market", "*", "stablecoin_supply_usd"),
}
FIELD_TARGET = {
    "binance": ("/fapi/v1/premiumIndex", "lastFundingRate"),
    "bybit": ("/v5/market/tickers", "fundingRate"),
    "okx": ("/api/v5/public/funding-rate", "fundingRate"),
    "fear_greed": ("*", "value"),
    "stablecoins": ("*", "totalCirculatingUSD"),
}
WS_PATHS = {(api.venue, route.path) for api in venue_apis() for route in api.ws}


@dataclasses.dataclass(frozen=True)
class Fault:
    name: str
    kind: str
    status: int | None = None
    retry_after_s: float | None = None
    delay_s: float | None = None
    field_fault: bool = False
    reasons: tuple[str, ...] = ()
    """Words one of which the reason must contain (lower case)."""


FAULTS = (
    Fault("429 + Retry-After", "status", 429, RETRY_AFTER_S, reasons=("429",)),
    Fault("418 + Retry-After", "status", 418, 2.0, reasons=("418",)),
    Fault("500", "status", 500, reasons=("500", "unavailable", "exchangeerror", "network error")),
    Fault("503", "status", 503, reasons=("503", "unavailable")),
    Fault("hang 15 s", "delay", delay_s=HANG_S, reasons=("timed out", "timeout")),
    Fault("connection refused", "refuse", reasons=("closed the connection", "refused", "reset", "disconnect")),
    Fault("malformed JSON", "malformed", reasons=("malformed",)),
    Fault("truncated body", "truncate", reasons=("malformed", "truncated")),
    Fault("missing field", "drop_field", field_fault=True,
          reasons=("malformed", "unexpected payload", "lacks", "missing", "expected")),
    Fault("wrong type", "wrong_type", field_fault=True,
          reasons=("malformed", "unexpected payload", "lacks", "numeric", "expected", "not-a-number")),
    Fault("empty list", "empty_list", reasons=("empty",)),
)
STREAM_ROWS = (f"stream: drop every {DROP_EVERY_N} messages", "stream: refused reconnect (HTTP 503)",
               f"stream: stall {STALL_S:g} s")


@dataclasses.dataclass
class Cell:
    passed: bool
    text: str


# -- the shared simulator and pipeline, on a loop of their own ------------------------------------


class Harness:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fault-matrix", daemon=True)
        self.thread.start()
        self._stop: asyncio.Event | None = None
        self._main: Future | None = None
        self.sim: Any = None
        self.pipeline: Pipeline | None = None
        self.store: HistoryStore | None = None
        self.faulted: set[str] = set()
        """Venues whose REST API is under a fault right now."""
        self.one_fault_at_a_time: dict[str, asyncio.Lock] = {}
        """Per venue: its REST and stream rows take turns, so each row sees the venue's whole
        status (LIVE means every endpoint, the stream included) move only by its own fault."""

    def venue_lock(self, venue: str) -> asyncio.Lock:
        return self.one_fault_at_a_time.setdefault(venue, asyncio.Lock())

    def run(self, coro: Awaitable[Any], timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _main_task(self, ready: asyncio.Future) -> None:
        self._stop = asyncio.Event()
        try:
            async with running_sim(speed=600) as sim:
                base = Config(path=None)  # type: ignore[arg-type]
                config = dataclasses.replace(base, poll_s={k: INTERVAL_S for k in base.poll_s})
                store = HistoryStore()
                pipeline = Pipeline(config, store, assets=("BTC",), sim_url=sim.base_url, backfill_days=1,
                                    rate_limit=False)
                await pipeline.start()
                # A short client timeout, so that the 15 s hang is far past it without a 15 s wait.
                for venue in pipeline.venues.values():
                    venue.timeout_s = CLIENT_TIMEOUT_S
                    if venue.exchange is not None:
                        venue.exchange.timeout = int(CLIENT_TIMEOUT_S * 1000)
                    venue.set_stream_keepalive(STREAM_KEEPALIVE_S)
                pipeline._session = new_session(timeout_s=CLIENT_TIMEOUT_S)
                self.sim, self.pipeline, self.store = sim, pipeline, store
                task = asyncio.create_task(pipeline.run())
                ready.set_result(None)
                try:
                    await self._stop.wait()
                finally:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    await pipeline.close()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            if not ready.done():
                ready.set_exception(exc)
            raise

    def start(self) -> None:
        async def go() -> None:
            ready = self.loop.create_future()
            self._main = asyncio.ensure_future(self._main_task(ready))
            await ready

        self.run(go(), 120)
        self.run(_until(lambda: all(self.status(s) is Status.LIVE for s in SOURCES)
                        and all(self.pipeline.health.source(v).detail.get("backfill") is Status.LIVE
                                for v in VENUES), 90, "every source LIVE after the start"), 100)

    def stop(self) -> None:
        async def halt() -> None:
            self.sim.faults.clear()
            self._stop.set()
            await asyncio.wait_for(asyncio.shield(self._main), 30)

        try:
            self.run(halt(), 40)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    def status(self, source: str) -> Status:
        return self.pipeline.health.source(source).status

    def rest_requests(self, venue: str) -> int:
        routes = self.sim.stats.to_json()["requests"].get(venue, {})
        return sum(n for route, n in routes.items() if (venue, route) not in WS_PATHS)


async def _until(condition: Callable[[], bool], timeout: float, what: str = "condition") -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def _series_of(store: HistoryStore, source: str) -> dict[tuple, set[tuple[int, float]]]:
    keys = [k for k in store.keys() if k[0] == source] if source in VENUES else [MAIN_SERIES[source]]
    out = {}
    for key in keys:
        s = store.series(*key)
        out[key] = set(zip(s.ts.tolist(), s.values.tolist()))
    return out


def _bad_new_values(before: dict, after: dict) -> list[str]:
    bad = []
    for key, items in after.items():
        for ts, value in items - before.get(key, set()):
            if not math.isfinite(value) or value == 0:
                bad.append(f"{key} @ {ts}: {value}")
    return bad


def five_minute_gaps(store: HistoryStore, venue: str, start: int, end: int) -> list[int]:
    ts = set(store.series(venue, "BTC", "oi_base").ts.tolist())
    first = -(-start // (5 * MINUTE)) * 5 * MINUTE
    return [t for t in range(first, end + 1, 5 * MINUTE) if t not in ts]


def _cell(status: Status, error: str | None) -> str:
    return f"{status.value}: {error}" if error else status.value


async def _others_keep_storing(h: Harness, source: str, *, stream: bool = False) -> None:
    """A venue whose REST API is not under a fault stores new samples meanwhile: another venue,
    or for a stream fault, any (its own REST polls included)."""
    store = h.store
    before = {v: store.newest(*MAIN_SERIES[v]) or 0 for v in VENUES}

    def advanced() -> bool:
        return any((store.newest(*MAIN_SERIES[v]) or 0) > before[v]
                   for v in VENUES if (stream or v != source) and v not in h.faulted)

    await _until(advanced, 2 * INTERVAL_S + SLACK_S, f"another venue storing while {source} is faulted")


# -- REST rows ------------------------------------------------------------------------------------


async def _rest_row(h: Harness, source: str, fault: Fault) -> str:
    sim, store = h.sim, h.store
    health = h.pipeline.health
    await _until(lambda: health.source(source).status is Status.LIVE, 30, f"{source} LIVE before the fault")
    route, field = FIELD_TARGET[source] if fault.field_fault else ("*", None)
    rule = FaultRule(venue=source, route=route, kind=fault.kind, status=fault.status,
                     retry_after_s=fault.retry_after_s, delay_s=fault.delay_s, field=field)
    before = _series_of(store, source)
    rule = sim.faults.add(rule)
    fault_start = sim.clock.now_ms()
    try:
        # DOWN (or STALE) with a reason, within two poll intervals (plus the client timeout when
        # the fault is a hang: nothing can be known before it).
        limit = 2 * INTERVAL_S + SLACK_S + (CLIENT_TIMEOUT_S if fault.kind == "delay" else 0.0)
        last: list = []

        def noticed() -> bool:
            sh = health.source(source)
            last[:] = [sh]
            reason = (sh.error or "").lower()
            return sh.status in (Status.DOWN, Status.STALE) and any(word in reason for word in fault.reasons)

        try:
            took = await _until(noticed, limit, "DOWN/STALE naming the fault")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen {_cell(last[0].status, last[0].error)}") from None
        sh = health.source(source)
        observed = _cell(sh.status, sh.error) + f" ({took:.1f} s)"

        if fault.status in (418, 429):
            # Retry-After honoured: once banned, no request reaches the venue until it ends.
            await asyncio.sleep(0.5)  # requests already in flight when the ban began
            count_before = h.rest_requests(source)
            await asyncio.sleep(fault.retry_after_s - 1.2)
            sent = h.rest_requests(source) - count_before
            assert sent == 0, f"{sent} requests during the ban"

        await _others_keep_storing(h, source)
        await asyncio.sleep(max(0.0, HOLD_S - took))
        during = _series_of(store, source)
        assert not _bad_new_values(before, during), _bad_new_values(before, during)
    finally:
        sim.faults.remove(rule.id)
    fault_end = sim.clock.now_ms()
    main_before = store.newest(*MAIN_SERIES[source])

    # LIVE again within about one interval (plus the backoff cap, also one interval, or the ban).
    recover_limit = 2 * INTERVAL_S + SLACK_S + (fault.retry_after_s or 0.0)
    took = await _until(lambda: health.source(source).status is Status.LIVE, recover_limit,
                        "LIVE after the fault cleared")
    observed += f"; LIVE {took:.1f} s after clearing"
    if source in VENUES:
        await _until(lambda: store.newest(*MAIN_SERIES[source]) > (main_before or 0), 2 * INTERVAL_S + SLACK_S,
                     "storing again")

        def gaps() -> list[int]:
            return five_minute_gaps(store, source, fault_start - 30 * MINUTE, fault_end - 10 * MINUTE)

        try:
            took = await _until(lambda: not gaps(), GAP_WAIT_S, "5-minute OI gap backfilled")
        except AssertionError:
            raise AssertionError(f"{observed}; {len(gaps())} five-minute OI points NOT backfilled") from None
        observed += f"; gap of {(fault_end - fault_start) / MINUTE:.0f} sim-min backfilled"
    after = _series_of(store, source)
    assert not _bad_new_values(before, after), _bad_new_values(before, after)
    return observed


async def _rest_lane(h: Harness, source: str, venue_slots: asyncio.Semaphore, cells: dict) -> None:
    for fault in FAULTS:
        if source in VENUES:
            async with venue_slots, h.venue_lock(source):
                h.faulted.add(source)
                try:
                    cells[(fault.name, source)] = await _outcome(_rest_row(h, source, fault))
                finally:
                    h.faulted.discard(source)
        else:
            cells[(fault.name, source)] = await _outcome(_rest_row(h, source, fault))


async def _outcome(row: Awaitable[str]) -> Cell:
    try:
        return Cell(True, await row)
    except AssertionError as exc:
        return Cell(False, str(exc))
    except Exception as exc:  # noqa: BLE001 - a crash of the row is its failure, the others go on
        return Cell(False, f"{type(exc).__name__}: {exc}")


# -- liquidation stream rows ----------------------------------------------------------------------


def _liquidations_newest(store: HistoryStore, venue: str) -> int:
    return max((store.newest(venue, "BTC", m) or 0) for m in ("liq_long_usd", "liq_short_usd"))


def _stream_status(h: Harness, venue: str) -> Status | None:
    return h.pipeline.health.source(venue).detail.get(LIQUIDATION_STREAM)


def _stream_error(h: Harness, venue: str) -> str:
    return h.pipeline.health.endpoint_error(venue, LIQUIDATION_STREAM) or ""


async def _stream_comes_back(h: Harness, venue: str, limit: float) -> float:
    store = h.store
    newest = _liquidations_newest(store, venue)
    started = time.monotonic()
    await _until(lambda: _liquidations_newest(store, venue) > newest
                 and _stream_status(h, venue) is Status.LIVE, limit, "liquidations back")
    return time.monotonic() - started


async def _stream_drop_row(h: Harness, venue: str) -> str:
    await _stream_comes_back(h, venue, 30)
    rule = h.sim.faults.add(FaultRule(venue=venue, route="ws", kind="ws_drop", every_n=DROP_EVERY_N))
    try:
        # A drop is seen when the next message would come: it shows on the stream endpoint.
        took = await _until(lambda: _stream_status(h, venue) is Status.DOWN, 20, "stream DOWN after a drop")
        observed = f"DOWN: {_stream_error(h, venue)} ({took:.1f} s)"
        assert "stream" in observed
        # It reconnects and keeps storing between drops (so briefly LIVE that a status sample
        # rarely sees it: the drop follows two messages later).
        newest = _liquidations_newest(h.store, venue)
        await _until(lambda: _liquidations_newest(h.store, venue) > newest, 20, "liquidations stored between drops")
    finally:
        h.sim.faults.remove(rule.id)
    took = await _stream_comes_back(h, venue, 20)
    return f"{observed}; liquidations again {took:.1f} s after clearing"


async def _stream_refused_row(h: Harness, venue: str) -> str:
    await _stream_comes_back(h, venue, 30)
    refuse = h.sim.faults.add(FaultRule(venue=venue, route="ws", kind="status", status=503))
    drop = h.sim.faults.add(FaultRule(venue=venue, route="ws", kind="ws_drop", every_n=1))
    try:
        took = await _until(lambda: _stream_status(h, venue) is Status.DOWN, 20, "stream DOWN")
        await _others_keep_storing(h, venue, stream=True)
        await asyncio.sleep(3)  # several refused reconnects
        observed = f"DOWN: {_stream_error(h, venue)} ({took:.1f} s)"
        assert _stream_status(h, venue) is Status.DOWN
        assert "stream" in observed
        assert h.sim.stats.to_json()["faults_applied"].get("status", 0) >= 1
    finally:
        h.sim.faults.remove(refuse.id)
        h.sim.faults.remove(drop.id)
    # Reconnect backoff grows from 1 s (capped at 60 s): after ~4 failures the next try is <= 16 s.
    took = await _stream_comes_back(h, venue, 30)
    return f"{observed}; liquidations again {took:.1f} s after clearing"


async def _stream_stall_row(h: Harness, venue: str) -> str:
    await _stream_comes_back(h, venue, 30)
    h.sim.faults.add(FaultRule(venue=venue, route="ws", kind="ws_stall", duration_s=STALL_S))
    started = time.monotonic()
    # Silent for 1.5 keepalives: DOWN, well inside the stall (two keepalives are its "interval").
    took = await _until(lambda: _stream_status(h, venue) in (Status.DOWN, Status.STALE),
                        2 * STREAM_KEEPALIVE_S + SLACK_S, "stream DOWN/STALE during a stall")
    observed = f"{_stream_status(h, venue).value}: {_stream_error(h, venue)} ({took:.1f} s)"
    assert any(word in observed for word in ("silent", "timed out", "keepalive")), observed
    await asyncio.sleep(max(0.0, STALL_S - (time.monotonic() - started)))
    took = await _stream_comes_back(h, venue, 30)
    return f"{observed}; liquidations again {took:.1f} s after the stall"


async def _stream_lane(h: Harness, venue: str, cells: dict) -> None:
    rows = (_stream_drop_row, _stream_refused_row, _stream_stall_row)
    for name, row in zip(STREAM_ROWS, rows):
        async with h.venue_lock(venue):
            cells[(name, venue)] = await _outcome(row(h, venue))


async def run_matrix(h: Harness) -> dict[tuple[str, str], Cell]:
    cells: dict[tuple[str, str], Cell] = {}
    venue_slots = asyncio.Semaphore(MAX_VENUES_FAULTED)
    lanes = [_rest_lane(h, source, venue_slots, cells) for source in SOURCES]
    lanes += [_stream_lane(h, venue, cells) for venue in VENUES]
    await asyncio.gather(*lanes)
    return cells


@pytest.fixture(scope="module")
def matrix() -> dict[tuple[str, str], Cell]:
    h = Harness()
    started = time.monotonic()
    try:
        h.start()
        cells = h.run(run_matrix(h), MATRIX_TIMEOUT_S)
    finally:
        h.stop()
    path = os.environ.get("LEVTOP_FAULT_MATRIX_REPORT")
    if path:
        report = {"wall_s": round(time.monotonic() - started, 1),
                  "cells": [{"row": row, "column": column, "passed": cell.passed, "text": cell.text}
                            for (row, column), cell in sorted(cells.items())]}
        with open(path, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=1)
    return cells


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
@pytest.mark.parametrize("source", SOURCES)
def test_rest_fault(matrix, source: str, fault: Fault):
    cell = matrix[(fault.name, source)]
    assert cell.passed, f"{source} / {fault.name}: {cell.text}"


@pytest.mark.parametrize("row", STREAM_ROWS)
@pytest.mark.parametrize("venue", VENUES)
def test_stream_fault(matrix, venue: str, row: str):
    cell = matrix[(row, venue)]
    assert cell.passed, f"{venue} / {row}: {cell.text}"
