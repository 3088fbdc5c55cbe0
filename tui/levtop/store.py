"""History per (venue, asset, metric) in polars, with parquet persistence.

Each series is a polars frame ``(ts, value)``, sorted and unique on ``ts`` (a later write of the
same timestamp replaces the earlier one). Appends are buffered and merged on the next read, so a
burst of small appends costs one sort. Retention is measured in data time (the newest sample),
never the wall clock, so an imported 2022 episode is not pruned away.

On disk: one parquet file per UTC day under ``<dir>/history/``. A save rewrites only the days
touched since the last save, each through a temp file and ``os.replace``, so a kill at any
instant leaves every file either old or new, never half-written. A file that does not read is
moved to ``<dir>/corrupt/`` with a warning; the rest loads.
"""

from __future__ import annotations

import calendar
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import polars as pl

from levtop.model import COLUMNS, DAY, SCHEMA, Sample, empty_frame, samples_frame
from levtop.series import Series

Key = tuple[str, str, str]  # (venue, asset, metric)
SERIES_SCHEMA = {"ts": pl.Int64(), "value": pl.Float64()}
HISTORY_DIR = "history"
CORRUPT_DIR = "corrupt"


@dataclass
class _SeriesBuffer:
    frame: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SERIES_SCHEMA))
    pending: list[pl.DataFrame] = field(default_factory=list)
    cached: Series | None = None

    def add(self, part: pl.DataFrame) -> None:
        self.pending.append(part)
        self.cached = None

    def compact(self, cutoff: int | None) -> pl.DataFrame:
        if self.pending:
            parts = [self.frame, *self.pending]
            self.pending = []
            last = self.frame["ts"][-1] if self.frame.height else None
            merged = pl.concat(parts, how="vertical", rechunk=True)
            in_order = all(
                p["ts"].is_sorted() for p in parts[1:]
            ) and _strictly_after(parts, last)
            if not in_order:
                merged = merged.sort("ts", maintain_order=True).unique(
                    subset="ts", keep="last", maintain_order=True
                )
            self.frame = merged
        if cutoff is not None and self.frame.height and self.frame["ts"][0] < cutoff:
            self.frame = self.frame.filter(pl.col("ts") >= cutoff)
            self.cached = None
        return self.frame


def _strictly_after(parts: list[pl.DataFrame], last: int | None) -> bool:
    """True when each appended part starts after everything before it (no sort needed)."""
    prev = last
    for part in parts[1:]:
        if not part.height:
            continue
        ts = part["ts"]
        if prev is not None and ts[0] <= prev:
            return False
        if ts.n_unique() != part.height:
            return False
        prev = ts[-1]
    return True


class HistoryStore:
    def __init__(self, retention_ms: int = 90 * DAY, directory: Path | None = None):
        self.retention_ms = retention_ms
        self.directory = directory
        self._series: dict[Key, _SeriesBuffer] = {}
        self._dirty_days: set[int] = set()
        self._newest: int | None = None
        self.version = 0
        """Bumped on every append that changed something; lets readers skip unchanged data."""

    # -- writing -------------------------------------------------------------------------------

    def append(self, data: pl.DataFrame | Iterable[Sample]) -> int:
        """Add samples (a long frame or Sample tuples); returns how many rows were given."""
        frame = data if isinstance(data, pl.DataFrame) else samples_frame(data)
        if not frame.height:
            return 0
        frame = frame.select(COLUMNS).cast(SCHEMA)
        ts = frame["ts"]
        newest = int(ts.max())
        self._newest = newest if self._newest is None else max(self._newest, newest)
        days = (ts // DAY).unique().to_list()
        self._dirty_days.update(int(d) for d in days)
        for (venue, asset, metric), part in frame.partition_by(
            ["venue", "asset", "metric"], as_dict=True, maintain_order=True
        ).items():
            buf = self._series.setdefault((venue, asset, metric), _SeriesBuffer())
            buf.add(part.select("ts", "value"))
        self.version += 1
        return frame.height

    @property
    def cutoff(self) -> int | None:
        return None if self._newest is None else self._newest - self.retention_ms

    # -- reading -------------------------------------------------------------------------------

    def keys(self) -> list[Key]:
        return sorted(self._series)

    def assets(self) -> list[str]:
        return sorted({asset for _, asset, _ in self._series if asset != "*"})

    @property
    def newest_ts(self) -> int | None:
        return self._newest

    def series_frame(self, venue: str, asset: str, metric: str) -> pl.DataFrame:
        buf = self._series.get((venue, asset, metric))
        if buf is None:
            return pl.DataFrame(schema=SERIES_SCHEMA)
        return buf.compact(self.cutoff)

    def series(self, venue: str, asset: str, metric: str) -> Series:
        """The series as numpy arrays for the signal engine (cached until the next append)."""
        buf = self._series.get((venue, asset, metric))
        if buf is None:
            return Series(np.empty(0, np.int64), np.empty(0))
        frame = buf.compact(self.cutoff)
        if buf.cached is None:
            buf.cached = Series(frame["ts"].to_numpy(), frame["value"].to_numpy())
        return buf.cached

    def series_map(self, assets: Iterable[str] | None = None) -> dict[Key, Series]:
        wanted = None if assets is None else set(assets) | {"*"}
        return {
            key: self.series(*key)
            for key in self._series
            if wanted is None or key[1] in wanted
        }

    def newest(self, venue: str, asset: str, metric: str) -> int | None:
        """The newest stored ts of one series, or None."""
        s = self.series(venue, asset, metric)
        return int(s.ts[-1]) if len(s) else None

    def asof(self, venue: str, asset: str, metric: str, ts: int) -> float | None:
        """The last value with ts <= ``ts``, or None."""
        s = self.series(venue, asset, metric)
        i = int(np.searchsorted(s.ts, ts, side="right")) - 1
        return None if i < 0 else float(s.values[i])

    def window(self, venue: str, asset: str, metric: str, start: int, end: int) -> pl.DataFrame:
        """Rows with ts in (start, end]."""
        return self.series_frame(venue, asset, metric).filter(
            (pl.col("ts") > start) & (pl.col("ts") <= end)
        )

    def frame(self, since: int | None = None, until: int | None = None,
              assets: Iterable[str] | None = None) -> pl.DataFrame:
        """Everything (or a time range, or some assets plus market-wide rows) as a long frame."""
        wanted = None if assets is None else set(assets) | {"*"}
        parts = []
        for (venue, asset, metric) in sorted(self._series):
            if wanted is not None and asset not in wanted:
                continue
            f = self.series_frame(venue, asset, metric)
            if since is not None or until is not None:
                f = _slice(f, since, until)
            if f.height:
                parts.append(f.with_columns(
                    pl.lit(venue).alias("venue"), pl.lit(asset).alias("asset"), pl.lit(metric).alias("metric")
                ).select(COLUMNS))
        if not parts:
            return empty_frame()
        return pl.concat(parts, how="vertical", rechunk=True).cast(SCHEMA)

    def __len__(self) -> int:
        return sum(self.series_frame(*key).height for key in self._series)

    # -- persistence ---------------------------------------------------------------------------

    def save(self) -> list[Path]:
        """Write the days touched since the last save; drop days past retention."""
        if self.directory is None:
            raise ValueError("this store has no directory")
        history = self.directory / HISTORY_DIR
        history.mkdir(parents=True, exist_ok=True)
        written = []
        cutoff_day = None if self.cutoff is None else self.cutoff // DAY
        for day in sorted(self._dirty_days):
            if cutoff_day is not None and day < cutoff_day:
                continue
            day_frame = self.frame(since=day * DAY - 1, until=(day + 1) * DAY - 1)
            path = history / f"{_day_name(day)}.parquet"
            if day_frame.height:
                _write_atomic(day_frame, path)
                written.append(path)
        self._dirty_days.clear()
        if cutoff_day is not None:
            for old in history.glob("*.parquet"):
                day = _parse_day(old.stem)
                if day is not None and day < cutoff_day:
                    old.unlink(missing_ok=True)
        _fsync_dir(history)
        return written

    @classmethod
    def load(cls, directory: Path, retention_ms: int = 90 * DAY) -> tuple["HistoryStore", list[str]]:
        """A store with everything readable under ``directory``, plus warnings for what was not."""
        store = cls(retention_ms=retention_ms, directory=directory)
        warnings: list[str] = []
        history = directory / HISTORY_DIR
        if not history.is_dir():
            return store, warnings
        for leftover in history.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)  # a write that was interrupted before os.replace
        frames = []
        for path in sorted(history.glob("*.parquet")):
            try:
                frame = pl.read_parquet(path)
                if list(frame.columns) != list(COLUMNS):
                    raise ValueError(f"columns {frame.columns}")
                frames.append(frame.cast(SCHEMA))
            except Exception as exc:  # noqa: BLE001 - any unreadable file is set aside, never fatal
                moved = _move_aside(path, directory / CORRUPT_DIR)
                warnings.append(
                    f"history file {path.name} is unreadable ({type(exc).__name__}); moved to {moved}"
                )
        if frames:
            store.append(pl.concat(frames, how="vertical"))
            store._dirty_days.clear()
        return store, warnings


def _slice(frame: pl.DataFrame, since: int | None, until: int | None) -> pl.DataFrame:
    """Rows with ts in (since, until] by binary search on the sorted ts column."""
    ts = frame["ts"]
    lo = 0 if since is None else int(ts.search_sorted(since, side="right"))
    hi = frame.height if until is None else int(ts.search_sorted(until, side="right"))
    return frame.slice(lo, max(0, hi - lo))


def _day_name(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


def _parse_day(name: str) -> int | None:
    try:
        return calendar.timegm(time.strptime(name, "%Y-%m-%d")) // 86400
    except ValueError:
        return None


def _write_atomic(frame: pl.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            frame.write_parquet(fh, compression="zstd", statistics=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _move_aside(path: Path, corrupt_dir: Path) -> Path:
    corrupt_dir.mkdir(parents=True, exist_ok=True)
    target = corrupt_dir / f"{path.name}.{int(time.time())}"
    n = 1
    while target.exists():
        target = corrupt_dir / f"{path.name}.{int(time.time())}.{n}"
        n += 1
    os.replace(path, target)
    return target
