"""Where each history series is known to be complete, so gaps get filled.

A venue's history endpoints (5-minute open interest, funding settlements, hourly candles...)
share store series with live polls that write the current value at "now". After an outage the
store's newest point is therefore no guide to where the history stopped: the first live poll
moves it past the gap. A ``HistoryCursors`` remembers, per (asset, series), the newest history
point this process holds without a gap, and which series a poll found a gap in.
"""

from __future__ import annotations

import math
from typing import Iterable

from levtop.model import Sample


class HistoryCursors:
    def __init__(self) -> None:
        self._newest: dict[tuple[str, str], int] = {}
        self.gaps: set[tuple[str, str]] = set()
        """Series whose latest poll did not join on to the cursor: a backfill is due."""

    def get(self, asset: str, series: str) -> int | None:
        return self._newest.get((asset, series))

    def paged(self, asset: str, series: str, samples: Iterable[Sample]) -> None:
        """A backfill page, fetched from the cursor on: it always extends the known history."""
        times = [s.ts for s in samples]
        if times:
            key = (asset, series)
            self._newest[key] = max(self._newest.get(key, times[-1]), max(times))

    def polled(self, asset: str, series: str, samples: Iterable[Sample], step_ms: int) -> None:
        """The latest rows of a series: they extend the cursor only when they join on to it;
        otherwise the series has a gap for a backfill to fill."""
        times = [s.ts for s in samples]
        key = (asset, series)
        known = self._newest.get(key)
        if not times or known is None:
            return
        if min(times) > known + step_ms:
            self.gaps.add(key)
            return
        self._newest[key] = max(known, max(times))

    def start(self, asset: str, series: str, stored_start: int, now_ms: int, window_ms: int) -> int:
        """Where a backfill of the series starts: ``stored_start`` (just after what the store
        holds), or just after the cursor when that is earlier, never before the window."""
        known = self._newest.get((asset, series))
        if known is None:
            return stored_start
        return min(stored_start, max(known + 1, now_ms - window_ms))

    def rows_to_join(self, asset: str, series: str, now_ms: int, step_ms: int, least: int, most: int) -> int:
        """How many of the latest rows a poll asks for: enough to reach back to the cursor (so
        that a poll after a pause, or against a fast simulator, still joins on), within the
        endpoint's page limit."""
        known = self._newest.get((asset, series))
        if known is None or now_ms <= known:
            return least
        return max(least, min(most, math.ceil((now_ms - known) / step_ms) + 1))
