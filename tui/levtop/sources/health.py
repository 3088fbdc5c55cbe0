"""Health of every source and endpoint: LIVE, STALE, DOWN or N/A.

- LIVE: every endpoint delivered within twice its interval.
- STALE: some endpoint has had no fresh data for twice its interval (and is not failing).
- DOWN: the last attempt of some endpoint failed; the error text and time are kept.
- N/A: the source is not used (disabled, or it lists none of the watched assets).

Health is about the process, not the market, so it reads the wall clock (unlike signals).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

from levtop.redact import redact


class Status(str, Enum):
    LIVE = "LIVE"
    STALE = "STALE"
    DOWN = "DOWN"
    NA = "N/A"


_RANK = {Status.LIVE: 0, Status.STALE: 1, Status.DOWN: 2}


@dataclass
class EndpointHealth:
    interval_s: float
    last_ok_ms: int | None = None
    last_error: str | None = None
    last_error_ms: int | None = None
    failing: bool = False
    not_available: bool = False
    started_ms: int | None = None

    def status(self, now_ms: int) -> Status:
        if self.not_available:
            return Status.NA
        if self.failing:
            return Status.DOWN
        reference = self.last_ok_ms if self.last_ok_ms is not None else self.started_ms
        if reference is not None and now_ms - reference > 2 * self.interval_s * 1000:
            return Status.STALE
        return Status.LIVE


@dataclass
class SourceHealth:
    source: str
    status: Status
    last_ok_ms: int | None
    error: str | None
    error_ms: int | None
    detail: dict[str, Status] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"status": self.status.value, "last_ok": self.last_ok_ms, "error": self.error}


def wall_ms() -> int:
    return int(time.time() * 1000)


class HealthBoard:
    """What every poller and stream reports; what the UI and `snapshot` read."""

    def __init__(self, clock: Callable[[], int] = wall_ms):
        self._clock = clock
        self._endpoints: dict[str, dict[str, EndpointHealth]] = {}
        self._disabled: dict[str, str] = {}
        self.version = 0

    def register(self, source: str, endpoint: str, interval_s: float) -> None:
        self._endpoints.setdefault(source, {})[endpoint] = EndpointHealth(interval_s, started_ms=self._clock())

    def disable(self, source: str, why: str) -> None:
        self._disabled[source] = redact(why)
        self.version += 1

    def ok(self, source: str, endpoint: str) -> None:
        ep = self._endpoint(source, endpoint)
        ep.last_ok_ms = self._clock()
        ep.failing = False
        self.version += 1

    def failed(self, source: str, endpoint: str, error: str) -> None:
        ep = self._endpoint(source, endpoint)
        # Error texts reach `levtop snapshot`, its JSON and the screens: no URL credentials in them.
        ep.last_error = redact(error)
        ep.last_error_ms = self._clock()
        ep.failing = True
        self.version += 1

    def not_available(self, source: str, endpoint: str, why: str) -> None:
        ep = self._endpoint(source, endpoint)
        ep.not_available = True
        ep.last_error = redact(why)
        self.version += 1

    def _endpoint(self, source: str, endpoint: str) -> EndpointHealth:
        per_source = self._endpoints.setdefault(source, {})
        if endpoint not in per_source:
            # Not registered with an interval: a one-off step (loading markets, a backfill)
            # whose success does not age; only a poll that should repeat can go stale.
            per_source[endpoint] = EndpointHealth(math.inf, started_ms=self._clock())
        return per_source[endpoint]

    def sources(self) -> list[str]:
        return sorted(set(self._endpoints) | set(self._disabled))

    def source(self, source: str) -> SourceHealth:
        now = self._clock()
        if source in self._disabled:
            return SourceHealth(source, Status.NA, None, self._disabled[source], None)
        endpoints = self._endpoints.get(source, {})
        detail = {name: ep.status(now) for name, ep in endpoints.items()}
        active = {name: st for name, st in detail.items() if st != Status.NA}
        if not active:
            why = next((ep.last_error for ep in endpoints.values() if ep.last_error), None)
            return SourceHealth(source, Status.NA, None, why, None, detail)
        # An endpoint that has not answered yet (and is not overdue or failing) says nothing
        # either way; a source is LIVE only once data has arrived.
        reported = {name: st for name, st in active.items()
                    if st != Status.LIVE or endpoints[name].last_ok_ms is not None}
        worst = max(reported.values(), key=lambda st: _RANK[st]) if reported else Status.STALE
        oks = [ep.last_ok_ms for ep in endpoints.values() if ep.last_ok_ms is not None]
        failing = [ep for name, ep in endpoints.items() if detail[name] == Status.DOWN]
        latest_error = max(failing, key=lambda ep: ep.last_error_ms or 0) if failing else None
        error = None
        if latest_error is not None:
            name = next(n for n, ep in endpoints.items() if ep is latest_error)
            error = f"{name}: {latest_error.last_error}"
        return SourceHealth(
            source, worst, max(oks) if oks else None, error,
            latest_error.last_error_ms if latest_error else None, detail,
        )

    def snapshot(self) -> dict[str, SourceHealth]:
        return {name: self.source(name) for name in self.sources()}

    def endpoint_error(self, source: str, endpoint: str) -> str | None:
        """The last error one endpoint reported (kept after it recovered), or None."""
        ep = self._endpoints.get(source, {}).get(endpoint)
        return None if ep is None else ep.last_error
