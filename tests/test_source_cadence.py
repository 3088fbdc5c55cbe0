"""History polls due at the venue's bucket closes: the venue clock, the cadence of one job (first
try, retries of a late point, the learned lag, only the due symbols) and how the scheduler runs a
due-driven job."""

from __future__ import annotations

import asyncio
import time

from levtop.model import MINUTE, Sample
from levtop.sources.cadence import BASE_LAG_MS, LAG_DECAY, Cadence, Part, VenueClock
from levtop.sources.cursor import HistoryCursors
from levtop.sources.health import HealthBoard, Status
from levtop.sources.scheduler import Job, SourceGate, run_job

STEP = 5 * MINUTE
T0 = 1_780_000_200_000  # on the 5-minute grid
LAG_S = BASE_LAG_MS / 1000


class Ticks:
    """A monotonic clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.s = 100.0

    def __call__(self) -> float:
        return self.s


def point(asset: str, ts: int) -> Sample:
    return Sample(ts, "v", asset, "oi_base", 1.0)


def cadence_of(newest: dict[str, int]) -> tuple[Ticks, VenueClock, HistoryCursors, Cadence]:
    ticks = Ticks()
    clock = VenueClock(monotonic=ticks)
    cursors = HistoryCursors()
    for asset, ts in newest.items():
        cursors.paged(asset, "oi", [point(asset, ts)])
    return ticks, clock, cursors, Cadence(clock, cursors, lambda: [Part(a, "oi", STEP) for a in newest])


def test_the_venue_clock_runs_on_from_the_newest_server_time_at_its_scale():
    ticks = Ticks()
    clock = VenueClock(scale=60, monotonic=ticks)
    assert clock.now_ms() is None
    clock.observe(T0)
    ticks.s += 2
    assert clock.now_ms() == T0 + 120_000
    clock.observe(T0 + 50_000)  # behind its now (a data time, a slow reply): changes nothing
    assert clock.now_ms() == T0 + 120_000
    clock.observe(T0 + 200_000)  # ahead: the venue's word wins
    assert clock.now_ms() == T0 + 200_000
    assert clock.seconds(STEP) == 5.0


def test_the_first_try_is_a_lag_after_the_next_bucket_closes():
    ticks, clock, _, cadence = cadence_of({"BTC": T0, "ETH": T0})
    clock.observe(T0 + MINUTE)
    assert cadence.due_in() == (STEP - MINUTE) / 1000 + LAG_S
    # Nothing can be new yet: a refresh asks for every part.
    assert {p.asset for p in cadence.due()} == {"BTC", "ETH"}
    ticks.s += (STEP - MINUTE) / 1000 + LAG_S
    assert cadence.due_in() == 0


def test_only_the_parts_whose_next_point_exists_are_due():
    _, clock, _, cadence = cadence_of({"BTC": T0 + STEP, "ETH": T0})
    clock.observe(T0 + STEP + BASE_LAG_MS)
    assert [p.asset for p in cadence.due()] == ["ETH"]


def test_a_series_without_history_keeps_the_plain_interval():
    _, clock, _, cadence = cadence_of({"BTC": T0})
    cadence.parts = lambda: [Part("BTC", "oi", STEP), Part("SOL", "oi", STEP)]
    clock.observe(T0 + STEP)
    assert cadence.due_in() is None
    assert {p.asset for p in cadence.due()} == {"BTC", "SOL"}


async def test_a_late_point_is_asked_again_after_doubling_waits_then_the_lag_is_learned():
    ticks, clock, cursors, cadence = cadence_of({"BTC": T0})
    published_after_s = 35.0
    polls: list[float] = []

    async def fetch() -> int:
        late_s = (clock.now_ms() - (T0 + STEP)) / 1000
        polls.append(late_s)
        if late_s >= published_after_s:
            cursors.polled("BTC", "oi", [point("BTC", T0 + STEP)], STEP)
        return 1

    clock.observe(T0 + STEP + BASE_LAG_MS)
    while cursors.get("BTC", "oi") == T0:
        assert cadence.due_in() == 0
        await cadence.fetch(fetch)
        ticks.s += cadence.due_in()
    assert polls == [LAG_S, 2 * LAG_S, 4 * LAG_S]  # 10 s (missed), 20 s (missed), 40 s (found)
    assert cadence.lag_ms == 4 * BASE_LAG_MS
    # The next bucket is first asked for as late as the venue needed, then a little earlier.
    assert clock.now_ms() == T0 + 2 * STEP + 4 * BASE_LAG_MS

    async def found_at_once() -> int:
        cursors.polled("BTC", "oi", [point("BTC", T0 + 2 * STEP)], STEP)
        return 1

    await cadence.fetch(found_at_once)
    assert cadence.lag_ms == 4 * BASE_LAG_MS * LAG_DECAY


async def test_a_point_that_never_comes_is_asked_for_at_most_once_a_step():
    ticks, clock, _, cadence = cadence_of({"BTC": T0})
    clock.observe(T0 + STEP + BASE_LAG_MS)
    waits = []
    for _ in range(8):
        await cadence.fetch(lambda: asyncio.sleep(0, 1))
        waits.append(cadence.due_in())
        ticks.s += waits[-1]
    assert waits[:5] == [LAG_S, 2 * LAG_S, 4 * LAG_S, 8 * LAG_S, 16 * LAG_S]
    assert waits[-1] == STEP / 1000


async def test_the_scheduler_fetches_a_due_driven_job_when_due_not_every_interval():
    started = time.monotonic()
    fetched: list[float] = []

    def due_in() -> float:
        due_at = 0.3 if not fetched else 60.0
        return started + due_at - time.monotonic()

    async def fetch() -> int:
        fetched.append(time.monotonic() - started)
        return 1

    health = HealthBoard()
    job = Job("v", "hist", 0.02, fetch, due_in=due_in, period_s=60.0)
    task = asyncio.create_task(run_job(job, SourceGate(), health))
    await asyncio.sleep(0.6)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # Once, when its point was due: not at the start, not every 0.02 s interval.
    assert len(fetched) == 1 and fetched[0] >= 0.3
    # Health expects the job's period between successes, not its interval.
    assert health.source("v").status is Status.LIVE


async def test_refresh_now_cuts_a_due_driven_wait_short():
    fetched = 0

    async def fetch() -> int:
        nonlocal fetched
        fetched += 1
        return 1

    wake = asyncio.Event()
    job = Job("v", "hist", 1.0, fetch, due_in=lambda: 3600.0, period_s=3600.0)
    task = asyncio.create_task(run_job(job, SourceGate(), HealthBoard(), wake=wake))
    await asyncio.sleep(0.1)
    assert fetched == 0
    wake.set()
    wake.clear()
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert fetched == 1


async def test_a_job_never_polls_more_often_than_the_pipeline_floor():
    # A simulator at 600x closes a 5-minute bucket every half second; polls stay a second apart.
    ticks, clock, cursors, cadence = cadence_of({"BTC": T0})
    clock.scale, clock.min_poll_s = 600.0, 1.0
    clock.observe(T0 + STEP + BASE_LAG_MS)

    async def found() -> int:
        cursors.polled("BTC", "oi", [point("BTC", T0 + STEP)], STEP)
        return 1

    await cadence.fetch(found)
    assert cadence.due_in() == 1.0  # the next bucket would be due in 0.5 s
