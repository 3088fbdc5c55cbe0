"""History per (venue, asset, metric) in numpy arrays, with parquet persistence.

Each series is two aligned arrays, ``ts`` (int64 ms, strictly increasing) and ``value``
(float64), kept in preallocated buffers: an append that comes after everything stored is
written in place past the end (amortized O(1), the live case). Readers get read-only views of
the live part, which no later append touches, so the view model can work on them in a thread
while the store keeps filling. Anything else (an older sample, a restated one, a second event in
the same millisecond) waits in a pending list and is merged on the next read, so a burst of
small appends costs one merge.

One value per (series, ts). Liquidations are events: two in the same millisecond, in one batch
or in two, add up. Every other metric is a level or a bucket that a re-poll restates, so the
later write replaces the earlier one.

Memory is bounded by retention, measured in data time (the newest sample), never the wall
clock, so an imported 2022 episode is not pruned away. Level metrics older than a day are
thinned to one sample per 5 minutes (the last of each 5-minute bucket, so the value as of every
5-minute mark is kept): the minute polls only serve the live view, the venues' own history is
5-minute data, and a month of minute polls for 20 assets would otherwise take 200 MB.

On disk: one parquet file per UTC day under ``<dir>/history/``. A save rewrites only the days
touched since the last save, each through a temp file and ``os.replace``, so a kill at any
instant leaves every file either old or new, never half-written. A file that does not read is
moved to ``<dir>/corrupt/`` with a warning; the rest loads.
"""

from __future__ import annotations

import calendar
import os
import threading
import time
from pathlib import Path
from typing import Iterable

import numpy as np
import polars as pl

from levtop.model import COLUMNS, DAY, HOUR, METRICS, MINUTE, SCHEMA, Kind, Sample, empty_frame
from levtop.series import Series

Key = tuple[str, str, str]  # (venue, asset, metric)
Chunk = tuple[np.ndarray, np.ndarray]  # (ts, values)
SERIES_SCHEMA = {"ts": pl.Int64(), "value": pl.Float64()}
HISTORY_DIR = "history"
CORRUPT_DIR = "corrupt"

EVENT_METRICS = frozenset({"liq_long_usd", "liq_short_usd"})
"""Metrics whose rows are events: rows with the same ts add up. (Volumes are additive too, but a
row is a bucket's total, which the next poll of the bucket restates.)"""
DENSE_MS = 25 * HOUR
"""Level samples this close to the newest are all kept: the funding signal is the mean of every
observation of the last 24h."""
THIN_STEP_MS = 5 * MINUTE
"""Older level samples: one per bucket ``(k - 1) * step < ts <= k * step``, the last."""
THIN_EVERY_MS = HOUR
"""The thinned part grows by whole hours: ``thin_limit``. A series is thinned as soon as the
newest sample moves the limit, whether or not something was merged, so what it holds depends on
the newest time only, never on the order of appends and reads (a store reloaded from disk holds
the same rows as the one that saved it), and a series appended in place for a month is thinned
like the rest."""


def thin_limit(dense_cutoff: int) -> int:
    """Level rows at or before this ts are thinned: the dense cutoff, down to a whole hour."""
    return dense_cutoff // THIN_EVERY_MS * THIN_EVERY_MS
GROWTH = 1.25
"""Capacity over the live size after a merge: room to append in place for a while, at the cost
of a quarter more memory at most."""
MIN_CAPACITY = 16
MAX_PENDING = 512
"""Chunks held for the next read before they are merged anyway (a store nobody reads)."""
SHORT_CHUNK = 64
"""Chunks up to this many rows are checked and written in plain Python (``add_rows``): at this
size numpy's per-call overhead is most of the cost."""


class _SeriesBuffer:
    """One series: ``ts[start:end]`` and ``values[start:end]`` are live, sorted and unique;
    ``pending`` holds chunks that could not be written in place, merged on the next read."""

    def __init__(self, events: bool, thin: bool):
        self.events = events
        self.thin = thin
        self.ts = np.empty(0, np.int64)
        self.values = np.empty(0, np.float64)
        self.start = 0
        self.end = 0
        self.last: int | None = None
        """``ts[end - 1]`` as a Python int (the newest live ts), None while there is none."""
        self.thinned_to: int | None = None
        """Level rows up to this ts are thinned already."""
        self.pending: list[Chunk] = []
        self.cached: Series | None = None

    def add_one(self, ts: int, value: float) -> bool:
        """Take one sample (a poll gives one per series): the common case without numpy calls.
        Returns whether the series may have changed."""
        if not self.pending and self.end < self.ts.size and (self.last is None or ts > self.last):
            # Past ``end``: no reader's view covers this slot.
            self.ts[self.end] = ts
            self.values[self.end] = value
            self.end += 1
            self.last = ts
            self.cached = None
            return True
        chunk = (np.array([ts], np.int64), np.array([value], np.float64))
        if self.pending:
            self._hold(chunk)
            return True
        return self.add(*chunk)

    def add_rows(self, ts: list[int], values: list[float]) -> bool | None:
        """Take a short chunk given as lists (a poll's rows, a stream message's events) in the
        common cases, without numpy's per-call overhead: sorted rows after everything stored,
        possibly behind a head that repeats stored rows exactly (a poll re-sends the last points
        it had). Returns whether the series changed, or None when the chunk needs ``add``."""
        if self.pending or len(ts) > SHORT_CHUNK:
            return None
        for i in range(1, len(ts)):
            if ts[i] <= ts[i - 1]:
                return None
        last = self.last
        skip = 0
        if last is not None and ts[0] <= last:
            if self.events:
                return None  # same-ms events add up: the merge does that
            while skip < len(ts) and ts[skip] <= last:
                skip += 1
            at = int(np.searchsorted(self.ts[self.start:self.end], ts[0])) + self.start
            for i in range(skip):
                # Both sides are sorted: walk the stored rows up to each restated one.
                while at < self.end and self.ts[at] < ts[i]:
                    at += 1
                if at == self.end or self.ts[at] != ts[i] or self.values[at] != values[i]:
                    return None  # a restated value changed: the merge replaces it
            if skip == len(ts):
                return False
        n = len(ts) - skip
        if self.end + n > self.ts.size:
            return None
        self.ts[self.end:self.end + n] = ts[skip:]
        self.values[self.end:self.end + n] = values[skip:]
        self.end += n
        self.last = int(ts[-1])
        self.cached = None
        return True

    def add(self, ts: np.ndarray, values: np.ndarray) -> bool:
        """Take a chunk; returns whether the series may have changed."""
        ts, values = _collapsed(ts, values, self.events)
        if not self.pending:
            ts, values = self._without_restated(ts, values)
            if not ts.size:
                return False
            if self._fits_in_place(ts):
                n = ts.size
                self.ts[self.end:self.end + n] = ts
                self.values[self.end:self.end + n] = values
                self.end += n
                self.last = int(ts[-1])
                self.cached = None
                return True
        self._hold((ts, values))
        return True

    def _hold(self, chunk: Chunk) -> None:
        self.pending.append(chunk)
        self.cached = None

    def _fits_in_place(self, ts: np.ndarray) -> bool:
        return (self.last is None or ts[0] > self.last) and self.end + ts.size <= self.ts.size

    def _without_restated(self, ts: np.ndarray, values: np.ndarray) -> Chunk:
        """The chunk minus a head that repeats stored rows exactly: a poll re-sends the last
        points it had, to join with what is stored. Events are never restated, only repeated."""
        if self.events or self.last is None or ts[0] > self.last:
            return ts, values
        if ts[0] == self.last and (ts.size == 1 or ts[1] > self.last):
            # The usual join: the newest stored point, sent again.
            return (ts[1:], values[1:]) if values[0] == self.values[self.end - 1] else (ts, values)
        live_ts = self.ts[self.start:self.end]
        live_values = self.values[self.start:self.end]
        known = int(np.searchsorted(ts, live_ts[-1], side="right"))
        at = np.minimum(np.searchsorted(live_ts, ts[:known]), live_ts.size - 1)
        if np.array_equal(live_ts[at], ts[:known]) and np.array_equal(live_values[at], values[:known]):
            return ts[known:], values[known:]
        return ts, values

    def compact(self, cutoff: int | None, dense_cutoff: int | None) -> None:
        """Merge what is pending, thin what left the dense part and drop what retention let go."""
        if self.pending:
            self._merge(cutoff, dense_cutoff)
        elif self._thinning_due(dense_cutoff):
            self._thin_more(cutoff, thin_limit(dense_cutoff))
        elif cutoff is not None and self.end > self.start and self.ts[self.start] < cutoff:
            self.start += int(np.searchsorted(self.ts[self.start:self.end], cutoff, side="left"))
            if self.start == self.end:
                self.last = None
            self.cached = None

    def _thinning_due(self, dense_cutoff: int | None) -> bool:
        if not self.thin or dense_cutoff is None or self.end == self.start:
            return False
        return self.thinned_to is None or thin_limit(dense_cutoff) > self.thinned_to

    def _thin_more(self, cutoff: int | None, limit: int) -> None:
        """Thin the rows between the part thinned already and ``limit``; copy only when that
        drops a row (a series of 5-minute points has nothing to drop)."""
        live_ts = self.ts[self.start:self.end]
        live_values = self.values[self.start:self.end]
        first = 0 if cutoff is None else int(np.searchsorted(live_ts, cutoff, side="left"))
        done = first if self.thinned_to is None else max(first, int(np.searchsorted(live_ts, self.thinned_to, side="right")))
        rest_ts, rest_values = _thinned(live_ts[done:], live_values[done:], limit)
        self.thinned_to = limit
        if rest_ts.size == live_ts.size - done:
            if first:
                self.start += first
                self.last = self.last if self.start < self.end else None
                self.cached = None
            return
        self._reallocate((live_ts[first:done], rest_ts), (live_values[first:done], rest_values))

    def _merge(self, cutoff: int | None, dense_cutoff: int | None) -> None:
        new_ts, new_values = _joined(self.pending)
        self.pending = []
        live_ts = self.ts[self.start:self.end]
        live_values = self.values[self.start:self.end]
        first = 0 if cutoff is None else int(np.searchsorted(live_ts, cutoff, side="left"))
        # Stored rows before the oldest new one stay as they are, and so do those thinned
        # already: only the rest is sorted with the new rows (stored rows first, so a later
        # write of the same ts wins, or adds for events) and thinned.
        settled = int(np.searchsorted(live_ts, self._settled_until(int(new_ts.min())), side="right"))
        split = max(first, min(settled, int(np.searchsorted(live_ts, new_ts.min(), side="left"))))
        rest_ts, rest_values = _collapsed(np.concatenate((live_ts[split:], new_ts)),
                                          np.concatenate((live_values[split:], new_values)), self.events)
        if cutoff is not None:
            keep = int(np.searchsorted(rest_ts, cutoff, side="left"))
            rest_ts, rest_values = rest_ts[keep:], rest_values[keep:]
        if self.thin and dense_cutoff is not None:
            limit = thin_limit(dense_cutoff)
            rest_ts, rest_values = _thinned(rest_ts, rest_values, limit)
            self.thinned_to = limit if self.thinned_to is None else max(self.thinned_to, limit)
        self._reallocate((live_ts[first:split], rest_ts), (live_values[first:split], rest_values))

    def _settled_until(self, oldest_new: int) -> int:
        """Stored rows up to this ts need neither sorting with the new rows nor thinning."""
        if not self.thin:
            return oldest_new - 1
        if self.thinned_to is None:
            return np.iinfo(np.int64).min
        # The bucket of the oldest new row is thinned again, with it.
        return min(self.thinned_to, -(-oldest_new // THIN_STEP_MS) * THIN_STEP_MS - THIN_STEP_MS)

    def _reallocate(self, ts_parts: tuple[np.ndarray, ...], value_parts: tuple[np.ndarray, ...]) -> None:
        """New arrays (never the old ones: readers may hold views of them) with room to grow."""
        size = sum(part.size for part in ts_parts)
        capacity = max(MIN_CAPACITY, int(size * GROWTH) + 1)
        self.ts = np.empty(capacity, np.int64)
        self.values = np.empty(capacity, np.float64)
        at = 0
        for ts, values in zip(ts_parts, value_parts):
            self.ts[at:at + ts.size] = ts
            self.values[at:at + ts.size] = values
            at += ts.size
        self.start, self.end = 0, size
        self.last = int(self.ts[size - 1]) if size else None
        self.cached = None

    def read(self, cutoffs: tuple[int | None, int | None]) -> Series:
        self.compact(*cutoffs)
        if self.cached is None:
            ts = self.ts[self.start:self.end]
            values = self.values[self.start:self.end]
            ts.flags.writeable = False
            values.flags.writeable = False
            self.cached = Series(ts, values)
        return self.cached


def _collapsed(ts: np.ndarray, values: np.ndarray, events: bool) -> Chunk:
    """Sorted by ts, one row per ts: events summed, anything else the last written."""
    if ts.size < 2 or bool(np.all(ts[1:] > ts[:-1])):
        return ts, values
    order = np.argsort(ts, kind="stable")
    ts, values = ts[order], values[order]
    if events:
        first = np.empty(ts.size, dtype=bool)
        first[0] = True
        np.not_equal(ts[1:], ts[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        return ts[starts], np.add.reduceat(values, starts)
    last = np.empty(ts.size, dtype=bool)
    last[-1] = True
    np.not_equal(ts[1:], ts[:-1], out=last[:-1])
    return ts[last], values[last]


def _joined(chunks: list[Chunk]) -> Chunk:
    if len(chunks) == 1:
        return chunks[0]
    return np.concatenate([ts for ts, _ in chunks]), np.concatenate([values for _, values in chunks])


def _thinned(ts: np.ndarray, values: np.ndarray, limit: int) -> Chunk:
    """Rows up to ``limit`` (a bucket boundary) reduced to the last of each bucket."""
    old = int(np.searchsorted(ts, limit, side="right"))
    if old < 2:
        return ts, values
    bucket = -(-ts[:old] // THIN_STEP_MS)
    last = np.empty(old, dtype=bool)
    last[-1] = True
    np.not_equal(bucket[1:], bucket[:-1], out=last[:-1])
    if last.all():
        return ts, values
    return np.concatenate((ts[:old][last], ts[old:])), np.concatenate((values[:old][last], values[old:]))


def _sample_columns(samples: Iterable[Sample]) -> dict[Key, tuple[list[int], list[float]]]:
    columns: dict[Key, tuple[list[int], list[float]]] = {}
    for ts, venue, asset, metric, value in samples:
        column = columns.get((venue, asset, metric))
        if column is None:
            columns[(venue, asset, metric)] = ([ts], [value])
        else:
            column[0].append(ts)
            column[1].append(value)
    return columns


def _frame_chunks(frame: pl.DataFrame) -> dict[Key, Chunk]:
    frame = frame.select(COLUMNS).cast(SCHEMA).drop_nulls("ts")
    parts = frame.partition_by(["venue", "asset", "metric"], as_dict=True, maintain_order=True)
    return {key: (part["ts"].to_numpy(), part["value"].to_numpy().astype(np.float64))
            for key, part in parts.items()}


def _new_buffer(metric: str) -> _SeriesBuffer:
    known = METRICS.get(metric)
    return _SeriesBuffer(events=metric in EVENT_METRICS, thin=known is not None and known.kind is Kind.LEVEL)


class HistoryStore:
    def __init__(self, retention_ms: int = 90 * DAY, directory: Path | None = None):
        self.retention_ms = retention_ms
        self.directory = directory
        self._series: dict[Key, _SeriesBuffer] = {}
        self._dirty_days: set[int] = set()
        self._newest: int | None = None
        # Sources append on the event loop while a thread worker saves.
        self._lock = threading.RLock()
        self._save_lock = threading.Lock()
        """One save at a time: the app's save worker and an exit that could not wait for it."""
        self.version = 0
        """Bumped on every append that changed something; lets readers skip unchanged data."""

    # -- writing -------------------------------------------------------------------------------

    def append(self, data: pl.DataFrame | Iterable[Sample]) -> int:
        """Add samples (a long frame or Sample tuples); returns how many rows were given."""
        chunks = _frame_chunks(data) if isinstance(data, pl.DataFrame) else _sample_columns(data)
        rows, oldest, newest, changed = 0, None, None, False
        with self._lock:
            for key, (ts, values) in chunks.items():
                buf = self._series.get(key)
                if buf is None:
                    buf = self._series[key] = _new_buffer(key[2])
                if len(ts) == 1:
                    first = last = ts[0]
                    changed |= buf.add_one(first, values[0])
                else:
                    added = None
                    if isinstance(ts, list) and len(ts) <= SHORT_CHUNK:  # a poll's or a message's rows
                        first, last = int(min(ts)), int(max(ts))
                        added = buf.add_rows(ts, values)
                    if added is None:
                        ts = np.asarray(ts, dtype=np.int64)
                        first, last = int(ts.min()), int(ts.max())
                        added = buf.add(ts, np.asarray(values, dtype=np.float64))
                    changed |= added
                rows += len(ts)
                oldest = first if oldest is None or first < oldest else oldest
                newest = last if newest is None or last > newest else newest
                if len(buf.pending) > MAX_PENDING:  # nobody reads: merge anyway, memory stays bounded
                    buf.compact(*self._cutoffs())
            if newest is not None and (self._newest is None or newest > self._newest):
                self._newest = newest
            if changed:
                self.version += 1
                # The batch's days, not each row's: a batch spans a few days at most.
                self._dirty_days.update(range(int(oldest) // DAY, int(newest) // DAY + 1))
        return rows

    @property
    def cutoff(self) -> int | None:
        return None if self._newest is None else self._newest - self.retention_ms

    def _cutoffs(self) -> tuple[int | None, int | None]:
        """(retention cutoff, start of the dense part)."""
        return self.cutoff, None if self._newest is None else self._newest - DENSE_MS

    # -- reading -------------------------------------------------------------------------------

    def keys(self) -> list[Key]:
        with self._lock:  # a source may add a series meanwhile
            return sorted(self._series)

    def assets(self) -> list[str]:
        return sorted({asset for _, asset, _ in self.keys() if asset != "*"})

    @property
    def newest_ts(self) -> int | None:
        return self._newest

    def series(self, venue: str, asset: str, metric: str) -> Series:
        """The series as read-only numpy arrays for the signal engine (the same object until the
        next append to it)."""
        with self._lock:
            buf = self._series.get((venue, asset, metric))
            if buf is None:
                return Series(np.empty(0, np.int64), np.empty(0))
            return buf.read(self._cutoffs())

    def series_frame(self, venue: str, asset: str, metric: str) -> pl.DataFrame:
        s = self.series(venue, asset, metric)
        return pl.DataFrame({"ts": s.ts, "value": s.values}, schema=SERIES_SCHEMA)

    def series_map(self, assets: Iterable[str] | None = None) -> dict[Key, Series]:
        wanted = None if assets is None else set(assets) | {"*"}
        with self._lock:
            cutoffs = self._cutoffs()
            return {key: buf.read(cutoffs) for key, buf in self._series.items()
                    if wanted is None or key[1] in wanted}

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
        return _slice(self.series_frame(venue, asset, metric), start, end)

    def frame(self, since: int | None = None, until: int | None = None,
              assets: Iterable[str] | None = None) -> pl.DataFrame:
        """Everything (or a time range, or some assets plus market-wide rows) as a long frame."""
        wanted = None if assets is None else set(assets) | {"*"}
        parts = []
        for (venue, asset, metric) in self.keys():
            if wanted is not None and asset not in wanted:
                continue
            f = _slice(self.series_frame(venue, asset, metric), since, until)
            if f.height:
                parts.append(f.with_columns(
                    pl.lit(venue).alias("venue"), pl.lit(asset).alias("asset"), pl.lit(metric).alias("metric")
                ).select(COLUMNS))
        if not parts:
            return empty_frame()
        return pl.concat(parts, how="vertical", rechunk=True).cast(SCHEMA)

    def __len__(self) -> int:
        return sum(len(self.series(*key)) for key in self.keys())
    # -- persistence ---------------------------------------------------------------------------

    def save(self) -> list[Path]:
        """Write the days touched since the last save; drop days past retention."""
        if self.directory is None:
            raise ValueError("this store has no directory")
        with self._save_lock:
            return self._save(self.directory)

    def _save(self, directory: Path) -> list[Path]:
        history = directory / HISTORY_DIR
        history.mkdir(parents=True, exist_ok=True)
        written = []
        cutoff_day = None if self.cutoff is None else self.cutoff // DAY
        with self._lock:
            # Days touched while this save runs (in a thread) stay dirty for the next one.
            days, self._dirty_days = self._dirty_days, set()
        try:
            for day in sorted(days):
                if cutoff_day is not None and day < cutoff_day:
                    continue
                day_frame = self.frame(since=day * DAY - 1, until=(day + 1) * DAY - 1)
                path = history / f"{_day_name(day)}.parquet"
                if day_frame.height:
                    _write_atomic(day_frame, path)
                    written.append(path)
        except BaseException:
            with self._lock:
                self._dirty_days |= days
            raise
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
