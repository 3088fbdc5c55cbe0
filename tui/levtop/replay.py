"""`levtop replay`: a recorded or imported dataset played back through a store, on a clock in
data time.

The clock runs at ``speed`` times real time from its start to the dataset's last sample; the
feeder appends the dataset's rows to a store in time order up to the clock. The store then holds
what a live levtop would have held at that data time, and the view (whose "now" is the newest
sample) shows what live showed. Nothing here imports Textual: the app calls ``feed_to`` from a
timer, tests drive the clock with a fake timer.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import polars as pl

from levtop.errors import UserError
from levtop.fmt import utc
from levtop.model import ALL_ASSETS, DAY
from levtop.store import HistoryStore

DEFAULT_SPEED = 3600.0
"""An hour of data a second: a recorded week plays in under three minutes."""
MIN_SPEED = 1.0
"""Real time: slower shows nothing new, as live data is 5-minute data."""
MAX_SPEED = 7 * 86_400.0
"""A week of data a second: beyond that a view a second skips whole phases."""
SEEK_MS = DAY
LEAD_MS = 3 * DAY
"""Loaded at once before the clock starts (without --from): the 72h windows of the OI signals and
the flush detector are then full at the first frame, so the replay opens on a phase, not UNKNOWN."""


def data_span(frame: pl.DataFrame) -> tuple[int, int]:
    """(first, last): the first sample of an asset's own series, the last of any. Market-wide
    series are daily with a long history (a recorder's backfill brings weeks of DefiLlama's):
    counted from them, the replay would play weeks in which no asset has data."""
    own = frame.filter(pl.col("asset") != ALL_ASSETS)["ts"]
    return int((own if own.len() else frame["ts"]).min()), int(frame["ts"].max())


def clamp_speed(speed: float) -> float:
    return min(MAX_SPEED, max(MIN_SPEED, speed))


def speed_text(speed: float) -> str:
    """3600 -> '3600x', 112.5 -> '112x', 1.7578 -> '1.8x'."""
    return f"{speed:.0f}x" if speed >= 10 else f"{speed:.2g}x"


class ReplayClock:
    """Data time (ms) that runs at ``speed`` x real time, from ``first_ms`` at the earliest (a
    seek back stops there) to ``end_ms``, where it stops.

    Kept as an anchor (a data time and the real time it was set) so that pausing, a new speed
    and seeking are each one re-anchoring, and no tick can drift."""

    def __init__(self, start_ms: int, first_ms: int, end_ms: int, speed: float = DEFAULT_SPEED,
                 timer: Callable[[], float] = time.monotonic):
        self.first_ms = first_ms
        self.end_ms = end_ms
        self.speed = clamp_speed(speed)
        self.paused = False
        self._timer = timer
        self._anchor_ms = self._bounded(start_ms)
        self._anchor_real = timer()

    def _bounded(self, ms: int) -> int:
        return min(max(int(ms), self.first_ms), self.end_ms)

    def _anchor(self, ms: int) -> None:
        self._anchor_ms = self._bounded(ms)
        self._anchor_real = self._timer()

    def now(self) -> int:
        if self.paused:
            return self._anchor_ms
        elapsed_ms = (self._timer() - self._anchor_real) * self.speed * 1000.0
        # Rounded, not truncated: a float a hair short of a sample's time must not miss it.
        return min(self.end_ms, self._anchor_ms + round(elapsed_ms))

    @property
    def at_end(self) -> bool:
        return self.now() >= self.end_ms

    def restart(self) -> None:
        """Count real time from here: the time the app took to start is not played."""
        self._anchor(self._anchor_ms)

    def toggle_pause(self) -> bool:
        self._anchor(self.now())
        self.paused = not self.paused
        return self.paused

    def set_speed(self, speed: float) -> float:
        self._anchor(self.now())
        self.speed = clamp_speed(speed)
        return self.speed

    def faster(self) -> float:
        return self.set_speed(self.speed * 2)

    def slower(self) -> float:
        return self.set_speed(self.speed / 2)

    def seek(self, delta_ms: int) -> int:
        """Move by ``delta_ms`` (negative: back), within the data; returns the new time."""
        self._anchor(self.now() + delta_ms)
        return self._anchor_ms


class ReplayFeeder:
    """Keeps a store holding exactly the dataset's rows with ``ts <= t``.

    Forward, it appends the rows since the last feed (in time order, as live sources append);
    back, it builds a new store from the start, as a store cannot forget samples. The new store
    is complete before it replaces ``store``, so a reader in another thread never sees it half-filled."""

    def __init__(self, frame: pl.DataFrame, retention_ms: int = 90 * DAY):
        self.frame = frame.sort("ts", maintain_order=True)
        self._ts = self.frame["ts"].to_numpy()
        self.retention_ms = retention_ms
        self.store = HistoryStore(retention_ms=retention_ms)
        self.fed_rows = 0
        self.rebuilds = 0

    @property
    def done(self) -> bool:
        return self.fed_rows == self.frame.height

    def feed_to(self, t: int) -> bool:
        """Bring the store to data time ``t``; returns whether it changed."""
        rows = int(np.searchsorted(self._ts, t, side="right"))
        if rows == self.fed_rows:
            return False
        if rows < self.fed_rows:
            store = HistoryStore(retention_ms=self.retention_ms)
            if rows:
                store.append(self.frame.slice(0, rows))
            self.store = store
            self.rebuilds += 1
        else:
            self.store.append(self.frame.slice(self.fed_rows, rows - self.fed_rows))
        self.fed_rows = rows
        return True


class Replay:
    """A dataset, its clock and its feeder, and what the status bar says about them."""

    def __init__(self, frame: pl.DataFrame, assets: Sequence[str], source: str, start_ms: int,
                 speed: float = DEFAULT_SPEED, retention_ms: int = 90 * DAY,
                 timer: Callable[[], float] = time.monotonic):
        self.assets = tuple(assets)
        self.source = source
        self.feeder = ReplayFeeder(frame, retention_ms)
        first, last = data_span(self.feeder.frame)
        self.clock = ReplayClock(start_ms, first, last, speed, timer)

    @property
    def store(self) -> HistoryStore:
        return self.feeder.store

    @property
    def ended(self) -> bool:
        return self.clock.at_end and self.feeder.done

    def badge(self) -> str:
        """'REPLAY · 3600x', with '· paused' or '· end of data' when so."""
        parts = ["REPLAY", speed_text(self.clock.speed)]
        if self.ended:
            parts.append("end of data")
        elif self.clock.paused:
            parts.append("paused")
        return " · ".join(parts)


def prepare_replay(frame: pl.DataFrame, source: str, *, asset: str | None = None, from_ms: int | None = None,
                   to_ms: int | None = None, speed: float = DEFAULT_SPEED, preferred: Sequence[str] = (),
                   retention_ms: int = 90 * DAY, timer: Callable[[], float] = time.monotonic) -> Replay:
    """A replay of ``frame`` (a dataset's samples, validated), or a UserError saying why not.

    ``asset`` keeps one asset (and the market-wide series); otherwise the watchlist is every
    asset of the dataset, those of ``preferred`` (the config's watchlist) first, in its order."""
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise UserError(f"--speed must be from {MIN_SPEED:g} to {MAX_SPEED:g} (data seconds per real second), "
                        f"got {speed:g}")
    if from_ms is not None and to_ms is not None and to_ms < from_ms:
        raise UserError(f"--to {utc(to_ms)} is before --from {utc(from_ms)}")
    present = sorted(set(frame["asset"].unique().to_list()) - {ALL_ASSETS})
    if asset is not None:
        if asset not in present:
            listed = ", ".join(present) if present else "none, only market-wide series"
            raise UserError(f"{source}: asset {asset} is not in the dataset (assets: {listed})")
        assets = [asset]
        frame = frame.filter(pl.col("asset").is_in([asset, ALL_ASSETS]))
    else:
        if not present:
            raise UserError(f"{source}: the dataset has only market-wide series, no asset to show")
        assets = [a for a in preferred if a in present] + [a for a in present if a not in preferred]
    if to_ms is not None:
        frame = frame.filter(pl.col("ts") <= to_ms)
        if not frame.filter(pl.col("asset") != ALL_ASSETS).height:
            raise UserError(f"{source}: no samples of {', '.join(assets)} up to --to {utc(to_ms)}")
    first, last = data_span(frame)
    if from_ms is not None and from_ms > last:
        raise UserError(f"--from {utc(from_ms)} is after the dataset's last sample ({utc(last)} UTC)")
    start = from_ms if from_ms is not None else first + LEAD_MS
    return Replay(frame, assets, source, min(max(start, first), last), speed, retention_ms, timer)
