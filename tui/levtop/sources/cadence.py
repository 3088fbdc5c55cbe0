"""When a history series has a new point to fetch: polls aligned to the venue's clock.

Venues publish history in buckets: 5-minute statistics, hourly candles, funding settlements
every 8 hours (4 or 1 on some symbols). A fixed poll interval asks again and again for points
that cannot exist yet (hourly candles every 5 minutes) or leaves a new point waiting for up to
an interval. A ``Cadence`` asks just after the next point is due instead: the newest point held
(the series' history cursor) plus one step, plus a short lag for the venue to publish it, on the
venue's own clock. A point that is late is asked for again after waits that double (at most a
step apart), and the lag follows how late the venue was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable

from levtop.sources.cursor import HistoryCursors
from levtop.sources.scheduler import Job

BASE_LAG_MS = 10_000
"""How long after a bucket closes its point is first asked for (venue time)."""
LAG_DECAY = 0.9
"""A learned lag shrinks by this factor each time the point was there at the first try."""


class VenueClock:
    """The venue's time now: the newest server time its payloads carried, run on by the local
    monotonic clock at ``scale`` venue seconds per second (a simulator may run faster)."""

    def __init__(self, scale: float = 1.0, monotonic: Callable[[], float] = time.monotonic):
        self.scale = scale
        self.min_poll_s = 0.0
        """The fewest local seconds between two polls of one job: a fast simulator's buckets
        may close more often than the pipeline polls anything (its MIN_POLL_S)."""
        self._monotonic = monotonic
        self._anchor: tuple[float, int] | None = None

    def observe(self, venue_ms: int) -> None:
        """A time the venue just sent. Only a newer one moves the clock: data times and slow
        replies are behind the venue's now."""
        now = self.now_ms()
        if now is None or venue_ms > now:
            self._anchor = (self._monotonic(), int(venue_ms))

    def now_ms(self) -> int | None:
        if self._anchor is None:
            return None
        at, venue_ms = self._anchor
        return venue_ms + int((self._monotonic() - at) * 1000 * self.scale)

    def seconds(self, venue_ms: float) -> float:
        """Local seconds for ``venue_ms`` of venue time to pass."""
        return venue_ms / 1000 / self.scale


@dataclass(frozen=True)
class Part:
    """One asset's history series within a poll, and the time between its points."""

    asset: str
    series: str
    step_ms: int


class Cadence:
    """The schedule of one poll job over several parts (assets, or perp and spot series)."""

    def __init__(self, clock: VenueClock, cursors: HistoryCursors, parts: Callable[[], Iterable[Part]],
                 base_lag_ms: int = BASE_LAG_MS):
        self.clock = clock
        self.cursors = cursors
        self.parts = parts
        self.base_lag_ms = base_lag_ms
        self.lag_ms = float(base_lag_ms)
        self._polled_ms: int | None = None
        """Venue time of the last fetch."""
        self._missed: int | None = None
        """The awaited point the last fetch did not find (it was late)."""

    def next_ms(self, part: Part) -> int | None:
        """When the part's next point exists: one step after the newest one held."""
        newest = self.cursors.get(part.asset, part.series)
        return None if newest is None else newest + part.step_ms

    def awaited(self) -> tuple[int, int] | None:
        """(time, step) of the earliest next point of every part; None while some part has no
        history yet (its polls then keep the plain interval)."""
        nexts = [(self.next_ms(p), p.step_ms) for p in self.parts()]
        known = [(at, step) for at, step in nexts if at is not None]
        return min(known) if known and len(known) == len(nexts) else None

    def due(self) -> list[Part]:
        """The parts with a point to fetch now; every part when none has one (a refresh)."""
        parts = list(self.parts())
        now = self.clock.now_ms()
        if now is None:
            return parts
        ready = [p for p in parts if (at := self.next_ms(p)) is None or at <= now]
        return ready or parts

    def due_in(self) -> float | None:
        """Local seconds until the next fetch: the first try ``lag`` after the awaited point,
        then, while it is late, waits as long as it has been late (at least the lag, at most a
        step)."""
        awaited, now = self.awaited(), self.clock.now_ms()
        if awaited is None or now is None:
            return None
        at, step = awaited
        first_try = at + int(self.lag_ms)
        if self._polled_ms is None:
            return self.clock.seconds(first_try - now)
        if self._polled_ms < first_try:
            wait = self.clock.seconds(first_try - now)
        else:
            late = self._polled_ms - at
            wait = self.clock.seconds(self._polled_ms + min(step, max(int(self.lag_ms), late)) - now)
        return max(wait, self.clock.min_poll_s - self.clock.seconds(now - self._polled_ms))

    def job(self, source: str, endpoint: str, interval_s: float, fetch: Callable[[], Awaitable[int]],
            period_ms: int) -> Job:
        """The poll job of this schedule: ``fetch`` runs when a point is due, and at least every
        ``interval_s`` the clock is looked at again."""
        return Job(source, endpoint, interval_s, lambda: self.fetch(fetch), due_in=self.due_in,
                   period_s=self.clock.seconds(period_ms))

    async def fetch(self, fetch: Callable[[], Awaitable[int]]) -> int:
        """Run one fetch, then learn from it how late the venue publishes."""
        before, now = self.awaited(), self.clock.now_ms()
        stored = await fetch()
        if before is not None and now is not None and now >= before[0]:
            self._learn(before, now)
        self._polled_ms = now
        return stored

    def _learn(self, awaited: tuple[int, int], polled_ms: int) -> None:
        at, step = awaited
        after = self.awaited()
        if after is not None and after[0] <= at:
            self._missed = at
        elif self._missed == at:
            # Found only at a retry: the venue needed about this long; ask this late from now on
            # (within half a step, so a point is never more than that late in the store).
            self.lag_ms = float(min(polled_ms - at, step // 2))
            self._missed = None
        else:
            # Found at the first try: ask a little earlier next time, down to the base lag.
            self.lag_ms = max(float(self.base_lag_ms), self.lag_ms * LAG_DECAY)
