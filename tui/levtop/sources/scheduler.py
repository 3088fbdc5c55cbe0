"""Polling that never overlaps, backs off on errors and honours bans.

Each (source, endpoint) is one ``Job`` run by one loop: fetch, store, sleep the interval, again.
A fetch never starts while the previous one of the same job runs. Errors back off
exponentially with jitter; a 429/418 bans the whole source (every job of that venue waits) for
its Retry-After, so no request reaches a venue during its ban. One venue's trouble never blocks
another: each job has its own loop and each venue its own gate.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from levtop.sources.errors import FetchError, MalformedPayload, NotListed, classify
from levtop.sources.health import HealthBoard

MAX_BACKOFF_S = 300.0
DEFAULT_BAN_S = 60.0


@dataclass
class Job:
    source: str
    endpoint: str
    interval_s: float
    fetch: Callable[[], Awaitable[int]]
    """Fetch, store, and return how many samples were stored."""
    timeout_s: float = 30.0


class SourceGate:
    """One per source: the time until which the venue has banned us."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self.banned_until = 0.0

    def remaining(self) -> float:
        return max(0.0, self.banned_until - self._clock())

    def ban(self, seconds: float) -> None:
        self.banned_until = max(self.banned_until, self._clock() + seconds)

    async def wait(self) -> None:
        while (left := self.remaining()) > 0:
            await asyncio.sleep(left)


class Backoff:
    """Exponential delays with full jitter, from ``base`` up to ``cap``."""

    def __init__(self, base: float = 1.0, cap: float = MAX_BACKOFF_S, rng: random.Random | None = None):
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng or random.Random()

    def reset(self) -> None:
        self.failures = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2 ** self.failures))
        self.failures += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


async def run_job(job: Job, gate: SourceGate, health: HealthBoard, *, wake: asyncio.Event | None = None,
                  backoff: Backoff | None = None,
                  on_recover: Callable[[], Awaitable[object]] | None = None,
                  gap_found: Callable[[], bool] | None = None) -> None:
    """Run ``job`` until cancelled.

    ``wake`` (if given) cuts a wait short, for 'refresh now': pulse it with ``set(); clear()``.
    ``on_recover`` runs after the first success that follows a failure (to backfill the gap),
    and after any success when ``gap_found()`` says the history has a hole a poll cannot bridge
    (a pause longer than a page of rows, like a laptop waking up).
    """
    # Capped at the interval: after a fault clears, the next try is at most one interval away.
    # Bans (429/418) wait their Retry-After regardless.
    backoff = backoff or Backoff(base=min(5.0, job.interval_s), cap=job.interval_s)
    health.register(job.source, job.endpoint, job.interval_s)
    while True:
        await gate.wait()
        try:
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for returns the result instead
            # of raising when the task is cancelled just as the fetch completes, and the job
            # then outlives its cancellation (a stop or a restart of the sources that never ends).
            async with asyncio.timeout(job.timeout_s):
                stored = await job.fetch()
            if stored == 0:
                # Every endpoint returns rows for the watched assets on every call; none is a
                # broken answer (an emptied list), not a quiet market.
                raise MalformedPayload("empty response: no rows for the watched assets")
        except asyncio.CancelledError:
            raise
        except NotListed as exc:
            health.not_available(job.source, job.endpoint, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - every failure is classified and reported
            failure = exc if isinstance(exc, FetchError) else classify(exc)
            health.failed(job.source, job.endpoint, failure.message)
            delay = backoff.next_delay()
            if failure.ban_s is not None:
                gate.ban(failure.ban_s)
                delay = max(delay, failure.ban_s)
            await _sleep(delay, wake)
            continue
        recovered = backoff.failures > 0
        backoff.reset()
        health.ok(job.source, job.endpoint)
        if on_recover is not None and (recovered or (gap_found is not None and gap_found())):
            try:
                await on_recover()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed gap fill is retried at the next recovery
                health.failed(job.source, job.endpoint, f"gap backfill: {classify(exc).message}")
        await _sleep(job.interval_s, wake)


async def _sleep(seconds: float, wake: asyncio.Event | None) -> None:
    if wake is None:
        await asyncio.sleep(seconds)
        return
    try:
        async with asyncio.timeout(seconds):  # not wait_for: see run_job
            await wake.wait()
    except TimeoutError:
        pass
