"""`levtop record`: the pipeline without a UI, for services and cron boxes.

Every source is polled and streamed into the store as in the app; the store is saved every
``[store] flush_interval_s``. With ``--out``, the samples new to this recorder are also added to
a hive-partitioned parquet dataset (local or S3, see partitions.py) every ``--out-every``, as new
part files. SIGTERM or Ctrl-C stops it after a last save and a last flush (exit 0; 1 when a last
write failed). A progress line goes to stderr once a minute.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
import numpy as np
import polars as pl

from levtop import fmt
from levtop.config import Config
from levtop.headless import (
    health_text, make_pipeline, say, start_sources, stop_on_signals, stop_sources, utc_now_text, wait_or_stop,
)
from levtop.model import COLUMNS, DAY, Sample, samples_frame
from levtop.partitions import PartWriter, Target, dedupe_last
from levtop.pipeline import Pipeline
from levtop.store import HistoryStore

log = logging.getLogger(__name__)

PROGRESS_S = 60.0
OUT_EVERY_S = 900.0
REMEMBER_MS = 3 * DAY
"""How far behind a series' newest point the recorder remembers what it wrote: polls re-read
the last few rows and a gap backfill restarts from the last complete point, both well within."""


@dataclass(frozen=True)
class RecordOptions:
    assets: tuple[str, ...]
    sim_url: str | None = None
    out: Target | None = None
    data_dir: Path | None = None
    """Where the store is loaded from and saved to; None keeps it in memory."""
    backfill_days: float = 30.0
    out_every_s: float = OUT_EVERY_S
    progress_every_s: float = PROGRESS_S
    duration_s: float | None = None
    """Stop after this many real seconds."""
    until_ms: int | None = None
    """Stop once the data time (the newest sample) reaches this."""
    rate_limit: bool = True
    time_scale: float | None = None
    """Sim seconds per real second; None asks the simulator (1 for real sources)."""


def span(seconds: float) -> str:
    """'45s', '15m', '8.2h', '3.5d'."""
    return f"{seconds:.0f}s" if seconds < 120 else fmt.duration(seconds * 1000)


EVENT_METRICS = frozenset({"liq_long_usd", "liq_short_usd"})
"""Rows that are events: two in the same millisecond add up (volumes are additive too, but a
row is a bucket's total, which the next poll restates)."""


class WrittenIndex:
    """Per series, the (ts, value) pairs recently written, so that a flush writes only samples
    that are new or changed: polls re-read rows they have seen, and volumes re-read twice would
    be counted twice by anyone summing the dataset."""

    def __init__(self, remember_ms: int = REMEMBER_MS):
        self.remember_ms = remember_ms
        self._series: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}

    def seed(self, store: HistoryStore) -> None:
        """What the store already holds counts as written (by an earlier run)."""
        for key in store.keys():
            s = store.series(*key)
            if len(s):
                keep = s.ts >= s.ts[-1] - self.remember_ms
                self._series[key] = (s.ts[keep].copy(), s.values[keep].copy())

    def fresh(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The rows of ``frame`` to write, remembered as written: for levels and buckets, one per
        ts per series (the last given) where it was not written with the same value; for
        liquidation events, the total per ts per series, added to what was written for it (the
        dataset holds one row per key, so a second event in the same millisecond restates it)."""
        is_event = pl.col("metric").is_in(list(EVENT_METRICS))
        events = (frame.filter(is_event).group_by(["ts", "venue", "asset", "metric"], maintain_order=True)
                  .agg(pl.col("value").sum()).select(COLUMNS))
        out = []
        for part in (dedupe_last(frame.filter(~is_event)), events):
            for key, rows in part.partition_by(["venue", "asset", "metric"], as_dict=True, maintain_order=True).items():
                written = self._fresh_rows(tuple(str(k) for k in key), rows.sort("ts"))
                if written.height:
                    out.append(written)
        if not out:
            return frame.clear()
        return pl.concat(out, how="vertical")

    def _fresh_rows(self, key: tuple[str, str, str], rows: pl.DataFrame) -> pl.DataFrame:
        ts = rows["ts"].to_numpy()
        values = rows["value"].to_numpy()
        old_ts, old_values = self._series.get(key, (np.empty(0, np.int64), np.empty(0)))
        idx = np.searchsorted(old_ts, ts)
        inside = idx < old_ts.size
        found = np.zeros(ts.size, dtype=bool)
        found[inside] = old_ts[idx[inside]] == ts[inside]
        if key[2] in EVENT_METRICS:
            values = values.copy()
            values[found] += old_values[idx[found]]
            rows = rows.with_columns(pl.Series("value", values))
            keep = np.ones(ts.size, dtype=bool)
        else:
            keep = ~found
            keep[found] = old_values[idx[found]] != values[found]
        self._remember(key, old_ts, old_values, ts, values)
        return rows.filter(pl.Series(keep)) if not keep.all() else rows

    def _remember(self, key, old_ts, old_values, ts, values) -> None:
        kept = ~np.isin(old_ts, ts)
        all_ts = np.concatenate([old_ts[kept], ts])
        all_values = np.concatenate([old_values[kept], values])
        order = np.argsort(all_ts, kind="stable")
        all_ts, all_values = all_ts[order], all_values[order]
        recent = all_ts >= all_ts[-1] - self.remember_ms
        self._series[key] = (all_ts[recent], all_values[recent])

    def forget(self, frame: pl.DataFrame) -> None:
        """Drop rows from what counts as written (their write failed)."""
        for key, part in frame.partition_by(["venue", "asset", "metric"], as_dict=True).items():
            key = tuple(str(k) for k in key)
            if key in self._series:
                ts, values = self._series[key]
                keep = ~np.isin(ts, part["ts"].to_numpy())
                self._series[key] = (ts[keep], values[keep])

    def __len__(self) -> int:
        return sum(ts.size for ts, _ in self._series.values())


class Recorder:
    def __init__(self, config: Config, options: RecordOptions, store: HistoryStore | None = None):
        self.config = config
        self.o = options
        retention = int(config.store.retention_days * DAY)
        self.warnings: list[str] = []
        if store is None:
            if options.data_dir is not None:
                store, self.warnings = HistoryStore.load(options.data_dir, retention)
            else:
                store = HistoryStore(retention_ms=retention)
        self.store = store
        self.index = WrittenIndex()
        self.index.seed(store)
        self.writer = PartWriter(options.out) if options.out is not None else None
        self.pending: list[pl.DataFrame] = []
        self.received = 0
        self._received_at_progress = 0
        self.saves = 0
        self.last_save_error: str | None = None
        self.last_out_error: str | None = None
        self.pipeline: Pipeline | None = None
        self.stopped_by = "signal"
        self._health_at_stop: str | None = None

    # -- samples in ----------------------------------------------------------------------------

    def on_samples(self, samples: list[Sample]) -> None:
        if not samples:
            return
        self.received += len(samples)
        if self.writer is not None:
            self.pending.append(samples_frame(samples))

    @property
    def waiting(self) -> int:
        return sum(f.height for f in self.pending)

    # -- writing -------------------------------------------------------------------------------

    def save(self) -> bool:
        """Save the store's touched days. On the event loop's thread, on purpose: the store is
        not safe to save from another thread while sources append to it."""
        if self.store.directory is None:
            return True
        try:
            self.store.save()
        except OSError as exc:
            self.last_save_error = f"cannot write {self.store.directory}: {exc.strerror or exc}"
            self._health(False, "history", "disk", self.last_save_error)
            return False
        self.saves += 1
        self.last_save_error = None
        self._health(True, "history", "disk")
        return True

    async def flush_out(self) -> bool:
        """Write what arrived since the last flush, as new part files; rows that could not be
        written stay for the next try."""
        if self.writer is None or not self.pending:
            return True
        batch = pl.concat(self.pending, how="vertical")
        self.pending = []
        fresh = self.index.fresh(batch)
        if not fresh.height:
            return True
        _, rest, error = await asyncio.to_thread(self.writer.write, fresh)
        if rest is not None:
            # Forget them as written, so that the retry writes them.
            self.pending.insert(0, rest)
            self.index.forget(rest)
        self.last_out_error = error
        self._health(error is None, "out", "write", error)
        return error is None

    def _health(self, ok: bool, source: str, endpoint: str, error: str | None = None) -> None:
        if self.pipeline is None:
            return
        if ok:
            self.pipeline.health.ok(source, endpoint)
        else:
            self.pipeline.health.failed(source, endpoint, error or "failed")

    # -- reporting -----------------------------------------------------------------------------

    def progress_line(self, elapsed_s: float, final: bool = False) -> str:
        new = self.received - self._received_at_progress
        self._received_at_progress = self.received
        newest = self.store.newest_ts
        data = f"data {fmt.utc(newest)} UTC" if newest is not None else "no data yet"
        parts = [f"{data}; {self.received:,} samples received (+{new:,})"]
        if self.store.directory is not None:
            parts.append(f"store {len(self.store):,} rows, saved {self.saves}x"
                         + (f", NOT SAVED: {self.last_save_error}" if self.last_save_error else ""))
        else:
            parts.append(f"store {len(self.store):,} rows in memory")
        if self.writer is not None:
            parts.append(f"out {self.writer.files:,} files, {self.writer.rows:,} rows, {self.waiting:,} waiting"
                         + (f", LAST WRITE FAILED: {self.last_out_error}" if self.last_out_error else ""))
        if final and self._health_at_stop is not None:
            health = self._health_at_stop  # after the stop, closed clients would read as DOWN
        else:
            health = health_text(self.pipeline.health) if self.pipeline is not None else "not started"
        head = "stopped" if final else f"up {span(elapsed_s)}"
        return f"{utc_now_text()} levtop record: {head}; {'; '.join(parts)}; {health}"

    def start_line(self) -> str:
        o = self.o
        sources = f"the simulator at {o.sim_url}" if o.sim_url else "the configured sources"
        store = str(o.data_dir) if o.data_dir is not None else "in memory (not saved)"
        out = f"{o.out.root} every {span(o.out_every_s)}" if o.out is not None else "none"
        stop = []
        if o.duration_s is not None:
            stop.append(f"after {o.duration_s:g}s")
        if o.until_ms is not None:
            stop.append(f"at data time {fmt.utc(o.until_ms)} UTC")
        stop.append("on SIGTERM or Ctrl-C")
        return (f"{utc_now_text()} levtop record: {','.join(o.assets)} from {sources}; store {store}; "
                f"out {out}; stops {' or '.join(stop)}")

    # -- running -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> int:
        stop = stop or asyncio.Event()
        o = self.o
        self.pipeline = await make_pipeline(self.config, self.store, o, self.on_samples)
        say(self.start_line())
        started = time.monotonic()
        tasks = start_sources(self.pipeline)
        next_save = started + self.config.store.flush_interval_s
        next_out = started + o.out_every_s
        next_progress = started + o.progress_every_s
        try:
            with stop_on_signals(stop):
                while not await wait_or_stop(stop, min(1.0, o.progress_every_s)):
                    now = time.monotonic()
                    if o.duration_s is not None and now - started >= o.duration_s:
                        self.stopped_by = "duration"
                        break
                    if o.until_ms is not None and (self.store.newest_ts or 0) >= o.until_ms:
                        self.stopped_by = "until"
                        break
                    if now >= next_save:
                        self.save()
                        next_save = now + self.config.store.flush_interval_s
                    if now >= next_out:
                        await self.flush_out()
                        next_out = time.monotonic() + o.out_every_s
                    if now >= next_progress:
                        say(self.progress_line(now - started))
                        next_progress = now + o.progress_every_s
        finally:
            self._health_at_stop = health_text(self.pipeline.health)
            await stop_sources(self.pipeline, tasks)
        saved = self.save()
        flushed = await self.flush_out()
        say(self.progress_line(time.monotonic() - started, final=True))
        if not flushed:
            say(f"levtop record: {self.waiting:,} samples not written to {o.out.root}: {self.last_out_error}")
        if not saved:
            say(f"levtop record: history not saved: {self.last_save_error}")
        return 0 if saved and flushed else 1
