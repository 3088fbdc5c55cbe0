"""`levtop watch`: the pipeline without a UI, printing NDJSON on stdout for scripts and jq.

Once every source has had its first go (or after ``--wait`` seconds), one ``phase`` line per
asset gives the initial state; then whenever the data changes (at most once a second) signals
and phase are evaluated per asset at the data time, as the app does, and each change of a
signal's state or of the phase is one line. A ``status`` line follows every minute. Lines:

    {"type": "signal", "ts": "2026-05-30T04:05:00Z", "ms": 1780113900000, "asset": "BTC",
     "signal": "funding", "from": "warn", "to": "good", "value": 0.00011, "reason": "..."}
    {"type": "phase", "ts": ..., "ms": ..., "asset": "BTC", "phase": "RESTART",
     "from": "PURIFYING", "to": "RESTART", "value": null, "reason": "...",
     "signals": {"funding": "good", ...}, "flush": {...} | null}
    {"type": "status", "ts": ..., "ms": ..., "phases": {"BTC": "RESTART"},
     "sources": {"binance": {"status": "LIVE", "error": null}, ...}}

With ``--alerts``, the config's ``[alerts]`` run too: an ``alert`` line (``Alert.to_json``)
per change that held ``min_duration`` of data time, delivered to the configured desktop,
webhooks and command.

stdout is flushed after every line. SIGTERM, Ctrl-C, or a reader that goes away (``| head``)
end it with exit status 0.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence, TextIO

from levtop.config import Config
from levtop.headless import (
    first_round_done, health_json, make_pipeline, say, start_sources, stop_on_signals, stop_sources, wait_or_stop,
)
from levtop.model import DAY
from levtop.pipeline import Pipeline
from levtop.redact import redact
from levtop.series import Series
from levtop.signals import (
    CASCADE, FLUSH, GATE_SIGNALS, NEUTRAL, OVERHEATED, PURIFYING, RESTART, SIGNAL_NAMES, TRAP,
    Thresholds, Verdict, evaluate_inputs, inputs_by_asset,
)
from levtop.store import HistoryStore

EVALUATE_EVERY_S = 1.0
STATUS_EVERY_S = 60.0
WAIT_S = 600.0
"""The longest wait for the first round: a live 30-day backfill at OKX's rate limit takes about
5 minutes, and changes printed before it lands would be the backfill, not the market."""


@dataclass(frozen=True)
class WatchOptions:
    assets: tuple[str, ...]
    sim_url: str | None = None
    backfill_days: float = 30.0
    wait_s: float = WAIT_S
    """The longest wait for every source's first round before the initial state is printed."""
    status_every_s: float = STATUS_EVERY_S
    duration_s: float | None = None
    rate_limit: bool = True
    time_scale: float | None = None
    alerts: bool = False
    """Also run the config's [alerts]: an ``alert`` line per change that held ``min_duration``,
    delivered to the configured desktop, webhooks and command (levtop.alert_sinks)."""


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def phase_reason(verdict: Verdict) -> str:
    """Why this phase, in the words of design.md section 3's first matching rule."""
    sig = verdict.signals
    flush = verdict.flush.describe() if verdict.flush is not None else "a flush"
    phase = verdict.phase
    if phase == CASCADE:
        return f"liquidations: {sig['liquidations'].reason}"
    if phase == FLUSH:
        return f"{flush}, less than 72h ago"
    if phase == TRAP:
        return f"{flush}; oi_rebuild bad: {sig['oi_rebuild'].reason}; funding above neutral: {sig['funding'].reason}"
    if phase == RESTART:
        return ("oi_level, funding and stablecoins good, oi_rebuild and sentiment not bad: "
                + "; ".join(f"{name}: {sig[name].reason}" for name in ("oi_level", "funding", "stablecoins")))
    if phase == PURIFYING:
        return f"day {verdict.purifying_day} of 14-21 since the {flush}"
    if phase == OVERHEATED:
        return f"funding bad: {sig['funding'].reason}; sentiment bad: {sig['sentiment'].reason}"
    if phase == NEUTRAL:
        return "no phase rule matches; " + ", ".join(f"{name} {sig[name].state}" for name in GATE_SIGNALS)
    unknown = [name for name in GATE_SIGNALS if sig[name].state == "unknown"]
    return "too little data: " + "; ".join(f"{name}: {sig[name].reason}" for name in unknown or GATE_SIGNALS)


def flush_json(verdict: Verdict) -> dict[str, Any] | None:
    f = verdict.flush
    if f is None:
        return None
    return {"start": iso(f.start), "trigger": f.trigger, "depth": _number(f.depth), "trough_ts": iso(f.trough_ts)}


class ChangeTracker:
    """The last state of every asset's phase and signals; turns new verdicts into lines."""

    def __init__(self) -> None:
        self.phases: dict[str, str] = {}
        self.states: dict[str, dict[str, str]] = {}

    def lines(self, verdicts: Mapping[str, Verdict]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for asset, verdict in verdicts.items():
            head = {"ts": iso(verdict.ts), "ms": verdict.ts, "asset": asset}
            before = self.states.get(asset)
            if before is not None:
                for name in SIGNAL_NAMES:
                    sig = verdict.signals[name]
                    if before.get(name) != sig.state:
                        out.append({"type": "signal", **head, "signal": name, "from": before.get(name),
                                    "to": sig.state, "value": _number(sig.value), "reason": sig.reason})
            previous = self.phases.get(asset)
            if previous != verdict.phase:
                out.append({"type": "phase", **head, "phase": verdict.phase, "from": previous, "to": verdict.phase,
                            "value": verdict.purifying_day, "reason": phase_reason(verdict),
                            "signals": {name: verdict.signals[name].state for name in SIGNAL_NAMES},
                            "flush": flush_json(verdict)})
            self.phases[asset] = verdict.phase
            self.states[asset] = {name: verdict.signals[name].state for name in SIGNAL_NAMES}
        return out


def evaluate_series(series: Mapping[tuple[str, str, str], Series], now: int | None, assets: Sequence[str],
                    thresholds: Thresholds) -> dict[str, Verdict]:
    """Every asset's verdict at ``now``, the data time (the newest sample), as the app's view
    builder evaluates it. Safe in a worker thread: series are immutable arrays."""
    if now is None:
        return {}
    inputs = inputs_by_asset(series, assets)
    return {asset: evaluate_inputs(inputs[asset], [now], thresholds)[0] for asset in assets}


class LineWriter:
    """NDJSON to a stream, flushed per line; remembers when the reader has gone."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.closed = False

    def write(self, obj: Mapping[str, Any]) -> bool:
        if self.closed:
            return False
        try:
            self.stream.write(redact(json.dumps(obj, allow_nan=False, separators=(", ", ": "))) + "\n")
            self.stream.flush()
        except BrokenPipeError:
            self.closed = True
            _silence(self.stream)
            return False
        return True


def _silence(stream: TextIO) -> None:
    """Point a closed pipe's fd at /dev/null, so that the interpreter's last flush at exit does
    not print a BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


class Watcher:
    def __init__(self, config: Config, options: WatchOptions, store: HistoryStore | None = None,
                 out: TextIO | None = None, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.o = options
        self.store = store or HistoryStore(retention_ms=int(config.store.retention_days * DAY))
        self.writer = LineWriter(out or sys.stdout)
        self.tracker = ChangeTracker()
        self.pipeline: Pipeline | None = None
        self._clock = clock
        self._seen_version: int | None = None
        self.alerts = None
        if options.alerts:
            from levtop.alert_sinks import AlertHub

            self.alerts = AlertHub(config.alerts, phase_reason, external=True)

    def status_line(self) -> dict[str, Any]:
        now = self.store.newest_ts
        return {"type": "status", "ts": iso(now), "ms": now, "phases": dict(self.tracker.phases),
                "sources": health_json(self.pipeline.health) if self.pipeline else {}}

    async def evaluate(self) -> bool:
        """Evaluate if the data changed; print the changes. False once the reader is gone."""
        if self.store.version == self._seen_version:
            return True
        self._seen_version = self.store.version
        # The store is read on the loop's thread (sources append to it there); the arrays it
        # hands out are then evaluated in a worker thread, as the app's view builder does.
        series = self.store.series_map(self.o.assets)
        verdicts = await asyncio.to_thread(evaluate_series, series, self.store.newest_ts, self.o.assets,
                                           self.config.thresholds)
        for line in self.tracker.lines(verdicts):
            if not self.writer.write(line):
                return False
        if self.alerts is not None:
            # The first evaluation (once every source has answered) is the alerts' baseline.
            for alert in self.alerts.feed(verdicts):
                if not self.writer.write(alert.to_json()):
                    return False
        return True

    async def run(self, stop: asyncio.Event | None = None) -> int:
        stop = stop or asyncio.Event()
        o = self.o
        self.pipeline = await make_pipeline(self.config, self.store, o)
        started = self._clock()
        tasks = start_sources(self.pipeline)
        try:
            with stop_on_signals(stop):
                await self._loop(stop, started)
        finally:
            await stop_sources(self.pipeline, tasks)
            if self.alerts is not None:
                await self.alerts.close()
        return 0

    async def _loop(self, stop: asyncio.Event, started: float) -> None:
        o = self.o
        # The first state once every source has had its go: not a burst of changes from
        # UNKNOWN while the backfill lands.
        while not first_round_done(self.pipeline) and self._clock() - started < o.wait_s:
            if await wait_or_stop(stop, 0.2) or self._over(started):
                return
        if not first_round_done(self.pipeline):
            say(f"levtop watch: not every source answered within {o.wait_s:g}s; starting anyway")
        next_status = self._clock() + o.status_every_s
        while not stop.is_set() and not self._over(started):
            if not await self.evaluate():
                return
            if self._clock() >= next_status:
                if not self.writer.write(self.status_line()):
                    return
                next_status = self._clock() + o.status_every_s
            if await wait_or_stop(stop, EVALUATE_EVERY_S):
                return

    def _over(self, started: float) -> bool:
        return self.o.duration_s is not None and self._clock() - started >= self.o.duration_s
