"""Polling: no overlap, backoff, bans with Retry-After, recovery, health states."""

from __future__ import annotations

import asyncio
import random

import pytest

from levtop.sources.errors import FetchError, NotListed
from levtop.sources.health import HealthBoard, Status
from levtop.sources.scheduler import Backoff, Job, SourceGate, run_job


class FakeClock:
    def __init__(self, ms: int = 1_000_000):
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


async def run_for(seconds: float, *coros) -> None:
    tasks = [asyncio.create_task(c) for c in coros]
    await asyncio.sleep(seconds)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_polls_of_one_endpoint_never_overlap():
    running = 0
    peak = 0
    calls = 0

    async def slow_fetch() -> int:
        nonlocal running, peak, calls
        running += 1
        calls += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)  # longer than the interval
        running -= 1
        return 1

    health = HealthBoard()
    await run_for(0.4, run_job(Job("v", "e", 0.01, slow_fetch), SourceGate(), health))
    assert peak == 1
    assert 3 <= calls <= 8
    # Fetches slower than the interval leave no fresh data for twice the interval: STALE, not DOWN.
    assert health.source("v").status in (Status.LIVE, Status.STALE)
    assert health.source("v").error is None


async def test_errors_show_down_with_the_reason_then_recover_and_backfill():
    attempts = 0
    recovered = 0

    async def flaky() -> int:
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise FetchError("HTTP 503 Service Unavailable")
        return 1

    async def on_recover() -> None:
        nonlocal recovered
        recovered += 1

    health = HealthBoard()
    seen: list[Status] = []

    async def watch() -> None:
        while True:
            seen.append(health.source("v").status)
            await asyncio.sleep(0.005)

    job = Job("v", "tickers", 0.02, flaky)
    await run_for(0.5, run_job(job, SourceGate(), health, backoff=Backoff(base=0.02, cap=0.05),
                               on_recover=on_recover), watch())
    assert Status.DOWN in seen
    assert seen[-1] is Status.LIVE
    assert recovered == 1
    # While it was down, the reason named the endpoint and the error.
    board = HealthBoard()
    board.register("v", "tickers", 60)
    board.failed("v", "tickers", "HTTP 503 Service Unavailable")
    assert board.source("v").error == "tickers: HTTP 503 Service Unavailable"


async def test_a_ban_holds_every_job_of_the_source():
    gate = SourceGate()
    times: dict[str, list[float]] = {"a": [], "b": []}
    loop = asyncio.get_running_loop()
    banned_once = False

    async def a() -> int:
        nonlocal banned_once
        times["a"].append(loop.time())
        if not banned_once:
            banned_once = True
            raise FetchError("rate limited (HTTP 429, Retry-After 0.3s)", ban_s=0.3)
        return 1

    async def b() -> int:
        times["b"].append(loop.time())
        return 1

    start = loop.time()
    await asyncio.sleep(0)
    health = HealthBoard()
    task_a = run_job(Job("v", "a", 0.02, a), gate, health, backoff=Backoff(base=0.01, cap=0.01))
    task_b = run_job(Job("v", "b", 0.02, b), gate, health)
    await run_for(0.6, task_a, task_b)
    ban_start = times["a"][0]
    during = [t for t in times["a"][1:] + times["b"] if ban_start + 0.01 < t < ban_start + 0.29]
    assert during == [], "a request reached the venue during its ban"
    assert len(times["a"]) >= 2 and any(t >= ban_start + 0.3 for t in times["b"])
    assert start <= ban_start


async def test_a_cancelled_job_stops_whenever_the_cancel_lands():
    # On Python 3.11, asyncio.wait_for hands back the result when the task is cancelled just as
    # the awaited fetch completes: the job swallowed its cancellation and ran on (a CI run hung
    # in test_a_ban_holds_every_job_of_the_source). A cancel at any step of the loop must stop it.
    async def fetch() -> int:
        return 1

    for steps in range(60):
        task = asyncio.create_task(run_job(Job("v", "e", 0.0, fetch), SourceGate(), HealthBoard()))
        for _ in range(steps % 12):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=1.0)
        if not done:
            task.cancel()
        assert done and task.cancelled(), f"still running after a cancel {steps % 12} steps in"


async def test_not_listed_marks_na_and_stops():
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        raise NotListed("DOGE is not listed on okx")

    health = HealthBoard()
    await asyncio.wait_for(run_job(Job("okx", "DOGE", 0.01, fetch), SourceGate(), health), 1)
    assert calls == 1
    assert health.source("okx").status is Status.NA


async def test_refresh_pulse_cuts_the_wait_short():
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        return 1

    wake = asyncio.Event()
    task = asyncio.create_task(run_job(Job("v", "e", 3600, fetch), SourceGate(), HealthBoard(), wake=wake))
    await asyncio.sleep(0.05)
    assert calls == 1
    wake.set()
    wake.clear()
    await asyncio.sleep(0.05)
    assert calls == 2
    await asyncio.sleep(0.05)
    assert calls == 2  # one pulse, one extra poll
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_stale_after_twice_the_interval_and_na_for_disabled():
    clock = FakeClock()
    board = HealthBoard(clock)
    board.register("bybit", "tickers", 60)
    board.ok("bybit", "tickers")
    clock.ms += 120_000
    assert board.source("bybit").status is Status.LIVE
    clock.ms += 1
    assert board.source("bybit").status is Status.STALE
    board.ok("bybit", "tickers")
    assert board.source("bybit").status is Status.LIVE
    board.disable("okx", "none of BTC is listed on okx")
    assert board.source("okx").to_json() == {"status": "N/A", "last_ok": None, "error": "none of BTC is listed on okx"}
    # The worst endpoint decides the source's status.
    board.register("bybit", "oiHist", 300)
    board.failed("bybit", "oiHist", "timed out")
    snap = board.source("bybit")
    assert snap.status is Status.DOWN and snap.error == "oiHist: timed out"
    assert snap.last_ok_ms == clock.ms


def test_backoff_grows_with_jitter_and_caps():
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(3))
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, ceiling in zip(delays, (1, 2, 4, 8, 8, 8)):
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next_delay() <= 1.0


@pytest.mark.parametrize("ban", [0.0, 0.2])
async def test_gate_wait_returns_after_the_ban(ban):
    gate = SourceGate()
    gate.ban(ban)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await gate.wait()
    assert loop.time() - start >= ban - 0.01
