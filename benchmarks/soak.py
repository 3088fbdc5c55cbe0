"""Soak (issue 6): the demo pipeline headless for 60 simulated days, with faults sprinkled in.

The simulator and the pipeline run in this process the way ``levtop --demo`` runs them, minus the
UI: every source polled and streamed into a HistoryStore with 30 days of retention, saved to a
temp dir every flush interval from a thread (as the app's save worker does), and a view built
from the store every second (as the app's refresh does). Every few simulated days one source gets
a fault for a few real seconds.

Progress lines go to stderr; one JSON object goes to stdout (and to --json-out). It reports:

- exceptions: ERROR/CRITICAL records of the ``levtop`` loggers, exceptions the event loop saw
  unhandled, and pipeline tasks that ended. Must be zero.
- memory: RSS after the backfill, in the middle and at the end, and once per simulated day. With
  30 days of retention (and 10 of backfill) the store stops growing by day 20, so the end must be
  within 10% of the middle.
- samples lost: every point of the history series the venues serve at fixed steps, with ts in
  the run, checked against the market model (the simulator's ground truth) one simulated day at
  a time, while it is still within retention. None may be missing outside fault windows (plus a
  grace of one poll on each side). A point missing at its audit is looked for again a simulated
  day later: found then, it counts as late (a poll behind schedule on a busy machine: the sim
  clock does not wait for it), else as lost. Liquidations are compared too, for information.

Exit status 0 when those hold (and the saved history reloads equal), 1 otherwise.

    .venv/bin/python benchmarks/soak.py [--days 60] [--speed 10000] [--assets BTC,ETH] [--seed 1]
        [--no-faults] [--json-out PATH]
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    # One core's worth of load: the pipeline never relies on polars' thread pool, and the machine
    # is shared. It must be set before polars is imported (and only when run as a script, so that
    # importing this module from a test changes nothing).
    os.environ.setdefault("POLARS_MAX_THREADS", "1")

import argparse
import asyncio
import dataclasses
import datetime as dt
import gc
import inspect
import json
import logging
import math
import random
import subprocess
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import polars as pl

from levtop.config import Config, StoreSettings
from levtop.heap import release_free_memory
from levtop.model import ALL_ASSETS, DAY, HOUR, MARKET, MINUTE
from levtop.pipeline import Pipeline
from levtop.sim.faults import FaultRule, rule_from_dict
from levtop.sim.market import Market
from levtop.sim.samples import market_samples
from levtop.sim.server import Simulator
from levtop.sources.http import new_session
from levtop.sources.venue import Venue
from levtop.store import HistoryStore
from levtop.view import ViewBuilder

ROOT = Path(__file__).resolve().parents[1]

START_MS = 1_780_000_800_000
"""A fixed launch time (the tests' too), so that every run serves the same market."""
SCENARIO = "recovery"
BACKFILL_DAYS = 10.0
"""What ``levtop --demo`` backfills (app.DEMO_BACKFILL_DAYS; not imported: app pulls in Textual)."""
RETENTION_DAYS = 30.0
PLATEAU_PCT = 10.0
TICK_S = 0.25
"""Real seconds between two looks of the monitor at the sim clock."""
SETTLE_POLLS = 4
"""A day is audited this many (slowest) polls after it ends: time for the last poll to land."""
RECHECK_DAYS = 1.0
"""A point missing at the audit is looked for again this much later: late, or lost."""
BACKFILL_TIMEOUT_S = 180.0
DEADLINE_FACTOR = 3.0
"""The soak gives up (and says so) after this many times its nominal wall time, plus a minute."""
MODEL_MARGIN_DAYS = 5
"""Modelled days past the run: the backfill and the final settling happen in sim time too."""

# -- faults ------------------------------------------------------------------------------------

VENUE_SOURCES = ("binance", "bybit", "okx")
MARKET_SOURCES = ("fear_greed", "stablecoins")
SOURCES = (*VENUE_SOURCES, *MARKET_SOURCES)
REST_FAULTS = ("503", "429", "malformed", "truncate", "timeout", "refuse")
WS_FAULTS = ("ws_drop", "ws_stall")
RETRY_AFTER_S = 2.0
"""Real seconds: a ban is wall-clock time, and 60 s would be a week of simulated time."""
WS_RECONNECT_TAIL_S = 4.0
"""A stream reconnects with backoff; after a few drops in a row the next try is seconds away."""


def _default(fn: Callable[..., Any], name: str) -> float:
    return float(inspect.signature(fn).parameters[name].default)


# The clients' own timeouts, read from their signatures so that a "timeout" fault always outlasts
# them: ccxt's per venue, aiohttp's for Fear & Greed and DefiLlama.
CLIENT_TIMEOUT_S = {
    **{name: _default(Venue.__init__, "timeout_s") for name in VENUE_SOURCES},
    **{name: _default(new_session, "timeout_s") for name in MARKET_SOURCES},
}


@dataclass(frozen=True)
class PlannedFault:
    at_ms: int
    """Sim milliseconds after the run's start (the end of the backfill)."""
    source: str
    name: str
    rule: dict[str, Any]
    tail_s: float
    """Real seconds its effect can outlast its removal (a request still hanging, a ban)."""

    @property
    def is_ws(self) -> bool:
        return self.name in WS_FAULTS


def fault_names(source: str) -> tuple[str, ...]:
    return REST_FAULTS + WS_FAULTS if source in VENUE_SOURCES else REST_FAULTS


def fault_rule(source: str, name: str) -> tuple[dict[str, Any], float]:
    """The simulator rule of one named fault on one source, and its tail in real seconds."""
    route = "ws" if name in WS_FAULTS else "*"
    timeout = CLIENT_TIMEOUT_S[source]
    rules: dict[str, tuple[dict[str, Any], float]] = {
        "503": ({"kind": "status", "status": 503}, 0.0),
        "429": ({"kind": "status", "status": 429, "retry_after_s": RETRY_AFTER_S}, RETRY_AFTER_S),
        "malformed": ({"kind": "malformed"}, 0.0),
        "truncate": ({"kind": "truncate"}, 0.0),
        # Past the client's timeout: the request fails by timing out, not by an answer.
        "timeout": ({"kind": "delay", "delay_s": timeout + 1.0}, timeout),
        "refuse": ({"kind": "refuse"}, 0.0),
        "ws_drop": ({"kind": "ws_drop"}, WS_RECONNECT_TAIL_S),
        "ws_stall": ({"kind": "ws_stall"}, WS_RECONNECT_TAIL_S),
    }
    rule, tail = rules[name]
    return {"venue": source, "route": route, **rule}, tail


def fault_plan(days: float, every_days: float, seed: int) -> list[PlannedFault]:
    """One fault every ``every_days`` (jittered), cycling through every fault kind in a seeded
    order, each on a source that can have it."""
    rng = random.Random(seed)
    names = list(REST_FAULTS + WS_FAULTS)
    rng.shuffle(names)
    plan = []
    for i in range(int(days // every_days)):
        name = names[i % len(names)]
        source = rng.choice([s for s in SOURCES if name in fault_names(s)])
        at_days = (i + 0.5 + rng.uniform(-0.2, 0.2)) * every_days
        rule, tail = fault_rule(source, name)
        plan.append(PlannedFault(int(at_days * DAY), source, name, rule, tail))
    return plan


@dataclass
class FaultWindow:
    """One fault as it happened, in sim time."""

    source: str
    name: str
    is_ws: bool
    start_ms: int
    end_ms: int | None = None
    effect_end_ms: int | None = None
    fired: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "fault": self.name, "start": iso(self.start_ms), "end": iso(self.end_ms),
                "effect_end": iso(self.effect_end_ms), "fired": self.fired}


@dataclass
class ActiveFault:
    rule: FaultRule
    planned: PlannedFault
    window: FaultWindow
    remove_at: float
    """time.monotonic() at which it comes off: fault windows are a few real seconds."""


class FaultInjector:
    """Adds each planned fault when its sim time comes and removes it a few real seconds later."""

    def __init__(self, sim: Simulator, plan: list[PlannedFault], run_start_ms: int, real_s: float,
                 say: Callable[[str], None]):
        self.sim = sim
        self.pending = sorted(plan, key=lambda p: p.at_ms)
        self.run_start_ms = run_start_ms
        self.real_s = real_s
        self.say = say
        self.windows: list[FaultWindow] = []
        self._active: list[ActiveFault] = []

    def step(self, now_ms: int) -> None:
        while self.pending and now_ms >= self.run_start_ms + self.pending[0].at_ms:
            self._add(self.pending.pop(0), now_ms)
        for active in [a for a in self._active if time.monotonic() >= a.remove_at]:
            self._remove(active, now_ms)

    def _add(self, planned: PlannedFault, now_ms: int) -> None:
        rule = self.sim.faults.add(rule_from_dict(planned.rule, f"soak fault {planned.name}"))
        window = FaultWindow(planned.source, planned.name, planned.is_ws, now_ms)
        self.windows.append(window)
        self._active.append(ActiveFault(rule, planned, window, time.monotonic() + self.real_s))
        self.say(f"fault on  {planned.source} {planned.name} at {iso(now_ms)}")

    def _remove(self, active: ActiveFault, now_ms: int) -> None:
        self.sim.faults.remove(active.rule.id)
        self._active.remove(active)
        active.window.end_ms = now_ms
        active.window.effect_end_ms = now_ms + int(active.planned.tail_s * self.sim.speed * 1000)
        # ws_stall rules never count as fired (the simulator does not count stalls).
        active.window.fired = active.rule.fired
        self.say(f"fault off {active.planned.source} {active.planned.name} (fired {active.rule.fired}x)")

    def clear(self, now_ms: int) -> None:
        for active in list(self._active):
            self._remove(active, now_ms)

    def settled_before(self, ts: int, margin_ms: int, now_ms: int) -> bool:
        """True when no fault that started before ``ts`` can still change what gets stored."""
        if self.pending and self.run_start_ms + self.pending[0].at_ms < ts:
            return False
        return all(w.effect_end_ms is not None and w.effect_end_ms + margin_ms <= now_ms
                   for w in self.windows if w.start_ms < ts)


# -- exceptions --------------------------------------------------------------------------------


class ProblemLog(logging.Handler):
    """Every WARNING and above: levtop's errors (which must not happen) apart from the rest."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.levtop_errors: list[str] = []
        self.other_errors: list[str] = []
        self.warnings: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        if record.levelno < logging.ERROR:
            self.warnings[f"{record.name}: {record.getMessage()[:100]}"] += 1
        elif record.name == "levtop" or record.name.startswith("levtop."):
            self.levtop_errors.append(text)
        else:
            self.other_errors.append(text)


@dataclass
class Exceptions:
    log: ProblemLog = field(default_factory=ProblemLog)
    loop_errors: list[str] = field(default_factory=list)
    dead_tasks: list[str] = field(default_factory=list)
    view_errors: list[str] = field(default_factory=list)
    run_problems: list[str] = field(default_factory=list)
    """The soak's own trouble: a backfill that never finished, a clock past the modelled market."""

    def on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        self.loop_errors.append(context.get("message", "") + (f" ({type(exc).__name__}: {exc})" if exc else ""))

    def watch(self, task: asyncio.Task) -> None:
        task.add_done_callback(self._on_done)

    def _on_done(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return  # the soak's own shutdown
        exc = task.exception()
        self.dead_tasks.append(f"{task.get_name()}: " + (f"{type(exc).__name__}: {exc}" if exc else "returned"))

    def count(self) -> int:
        return (len(self.log.levtop_errors) + len(self.loop_errors) + len(self.dead_tasks) + len(self.view_errors)
                + len(self.run_problems))

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count(),
            "levtop_log_errors": self.log.levtop_errors[:50],
            "loop_exceptions": self.loop_errors[:50],
            "dead_tasks": self.dead_tasks,
            "view_errors": dict(Counter(self.view_errors).most_common(20)),
            "run_problems": self.run_problems,
            "other_log_errors": self.log.other_errors[:50],
            "other_log_errors_count": len(self.log.other_errors),
            "warnings_count": sum(self.log.warnings.values()),
            "warnings_top": dict(self.log.warnings.most_common(15)),
        }


# -- memory ------------------------------------------------------------------------------------


def rss_mb() -> float:
    """Resident set size now (VmRSS), in MB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def load_average() -> float:
    """The 1-minute load average: the sim clock does not wait for a busy machine, so lateness
    goes with it."""
    with open("/proc/loadavg", encoding="ascii") as fh:
        return float(fh.read().split()[0])


@dataclass
class MemorySample:
    day: float
    sim_ms: int
    wall_s: float
    rss_mb: float
    store_rows: int
    py_objects: int
    traced_mb: float | None
    cpu_s: float
    """CPU seconds this process has used so far."""
    load: float

    def to_json(self) -> dict[str, Any]:
        out = {"day": round(self.day, 3), "sim": iso(self.sim_ms), "wall_s": round(self.wall_s, 1),
               "rss_mb": round(self.rss_mb, 1), "store_rows": self.store_rows, "py_objects": self.py_objects,
               "cpu_s": round(self.cpu_s, 1), "load": self.load}
        if self.traced_mb is not None:
            out["traced_mb"] = round(self.traced_mb, 1)
        return out


def memory_sample(day: float, sim_ms: int, wall_s: float, store: HistoryStore) -> MemorySample:
    traced = tracemalloc.get_traced_memory()[0] / 2**20 if tracemalloc.is_tracing() else None
    return MemorySample(day, sim_ms, wall_s, rss_mb(), len(store), len(gc.get_objects()), traced,
                        time.process_time(), load_average())


def plateau(samples: list[MemorySample], days: float) -> dict[str, Any]:
    """Start, middle and end RSS, and whether the end stays within PLATEAU_PCT of the middle."""
    if not samples:
        return {"plateau": False}
    start, end = samples[0], samples[-1]
    middle = min(samples, key=lambda s: abs(s.day - days / 2))
    growth = 100.0 * (end.rss_mb - middle.rss_mb) / middle.rss_mb
    return {
        "start_mb": round(start.rss_mb, 1), "middle_mb": round(middle.rss_mb, 1), "end_mb": round(end.rss_mb, 1),
        "middle_day": round(middle.day, 2), "end_day": round(end.day, 2),
        "end_vs_middle_pct": round(growth, 2), "plateau": growth <= PLATEAU_PCT,
        "peak_mb": round(max(s.rss_mb for s in samples), 1),
        "store_rows": {"start": start.store_rows, "middle": middle.store_rows, "end": end.store_rows},
        "daily": [s.to_json() for s in samples],
    }


# -- samples lost ------------------------------------------------------------------------------

HISTORY_SERIES: dict[str, tuple[str, ...]] = {
    "binance": ("oi_base", "oi_usd", "long_short_ratio", "top_long_short_ratio", "funding_8h",
                "perp_volume_usd", "spot_volume_usd"),
    "bybit": ("oi_base", "long_short_ratio", "funding_8h", "perp_volume_usd", "spot_volume_usd"),
    "okx": ("oi_base", "oi_usd", "long_short_ratio", "top_long_short_ratio", "funding_8h",
            "perp_volume_usd", "spot_volume_usd"),
    MARKET: ("fear_greed", "stablecoin_supply_usd"),
}
"""Every series a venue serves as history at fixed steps, by the venue that serves it."""
NOT_AUDITED = {
    "price; current funding and open interest": "live values sampled at poll time, not history at fixed steps",
    "bybit oi_usd": "Bybit's OI history is in coins only; levtop prices it with hourly candle opens, "
                    "so it differs from the model's mark-priced value by design",
    "bybit top_long_short_ratio": "Bybit serves no top-trader ratio",
    "liquidations": "stream events, not history: compared separately under 'liquidations'",
}
STEP_MS = {"funding_8h": 8 * HOUR, "perp_volume_usd": HOUR, "spot_volume_usd": HOUR,
           "fear_greed": DAY, "stablecoin_supply_usd": DAY}
"""Spacing of a series' points (5 minutes unless listed): gaps wider than this split loss ranges."""
MARKET_SOURCE = {"fear_greed": "fear_greed", "stablecoin_supply_usd": "stablecoins"}
LIQUIDATION_METRICS = ("liq_long_usd", "liq_short_usd")


@dataclass(frozen=True)
class Tolerance:
    rel: float = 1e-9
    abs: float = 0.0


TOLERANCE = {
    # The emulated venues round these on the wire as the real APIs do.
    "long_short_ratio": Tolerance(rel=1e-3),  # account shares with 4 decimals
    "top_long_short_ratio": Tolerance(rel=1e-3),
    "funding_8h": Tolerance(abs=1e-8),  # rates with 8 decimals
    "oi_base": Tolerance(rel=1e-8),  # OKX: contracts with a fixed number of places
}
DEFAULT_TOLERANCE = Tolerance()


@dataclass
class PointCheck:
    """One series over one stretch of time, against its ground truth."""

    checked: int
    lost: np.ndarray
    """ts of missing points outside fault windows."""
    lost_values: np.ndarray
    """Their ground-truth values."""
    lost_in_faults: np.ndarray
    """ts of missing points inside fault windows (excused, but worth knowing: gaps get filled)."""
    mismatched: np.ndarray
    """ts of stored points whose value is not the served one."""
    max_rel_diff: float


def check_points(truth_ts: np.ndarray, truth_values: np.ndarray, stored_ts: np.ndarray,
                 stored_values: np.ndarray, excused: np.ndarray, tolerance: Tolerance = DEFAULT_TOLERANCE) -> PointCheck:
    """Which ground-truth points are missing from a stored series (sorted unique ts), and which
    are stored with another value. ``excused`` marks points in fault windows: missing ones are
    counted apart."""
    idx = np.searchsorted(stored_ts, truth_ts)
    found = idx < stored_ts.size
    found[found] = stored_ts[idx[found]] == truth_ts[found]
    got = stored_values[idx[found]]
    want = truth_values[found]
    diff = np.abs(got - want)
    wrong = diff > tolerance.rel * np.abs(want) + tolerance.abs
    rel = diff / np.maximum(np.abs(want), 1e-300)
    return PointCheck(
        checked=int(truth_ts.size),
        lost=truth_ts[~found & ~excused],
        lost_values=truth_values[~found & ~excused],
        lost_in_faults=truth_ts[~found & excused],
        mismatched=truth_ts[found][wrong],
        max_rel_diff=float(rel.max()) if rel.size else 0.0,
    )


def excused_mask(ts: np.ndarray, windows: Iterable[FaultWindow], grace_ms: int, now_ms: int) -> np.ndarray:
    """Points within a fault window widened by ``grace_ms`` each side (a point published just
    before a fault is first polled during it)."""
    mask = np.zeros(ts.size, dtype=bool)
    for w in windows:
        end = w.effect_end_ms if w.effect_end_ms is not None else now_ms
        mask |= (ts >= w.start_ms - grace_ms) & (ts <= end + grace_ms)
    return mask


def loss_ranges(ts: Iterable[int], step_ms: int) -> list[list[Any]]:
    """Consecutive missing points as [first, last, count] (a gap wider than one step splits)."""
    out: list[list[Any]] = []
    for t in sorted(ts):
        if out and t - out[-1][1] <= step_ms:
            out[-1][1] = t
            out[-1][2] += 1
        else:
            out.append([t, t, 1])
    return [[iso(a), iso(b), n] for a, b, n in out]


@dataclass
class SeriesTally:
    """What the audit found for one series over the whole run.

    A point missing when its day is audited may still arrive (a poll running late on a busy
    machine: the sim clock does not wait). It is looked for again ``RECHECK_DAYS`` later: then it
    is late, or lost."""

    step_ms: int
    tolerance: Tolerance
    checked: int = 0
    lost: list[int] = field(default_factory=list)
    late: list[int] = field(default_factory=list)
    lost_in_faults: list[int] = field(default_factory=list)
    mismatched: list[int] = field(default_factory=list)
    max_rel_diff: float = 0.0
    pending: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)
    """(sim ms to look again at, ts, values) of points missing at the audit."""

    def add(self, check: PointCheck, recheck_at: int) -> None:
        self.checked += check.checked
        self.lost_in_faults += check.lost_in_faults.tolist()
        self.mismatched += check.mismatched.tolist()
        self.max_rel_diff = max(self.max_rel_diff, check.max_rel_diff)
        if check.lost.size:
            self.pending.append((recheck_at, check.lost, check.lost_values))

    def recheck(self, store: HistoryStore, key: tuple[str, str, str], now_ms: int | None) -> None:
        """Look again for the points that are due (all of them when ``now_ms`` is None)."""
        due = [p for p in self.pending if now_ms is None or p[0] <= now_ms]
        if not due:
            return
        self.pending = [p for p in self.pending if now_ms is not None and p[0] > now_ms]
        series = store.series(*key)
        for _, ts, values in due:
            again = check_points(ts, values, series.ts, series.values, np.zeros(ts.size, bool), self.tolerance)
            self.lost += again.lost.tolist()
            self.late += np.setdiff1d(ts, again.lost).tolist()
            self.mismatched += again.mismatched.tolist()

    def to_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "lost": len(self.lost), "late": len(self.late),
                "lost_in_faults": len(self.lost_in_faults),
                "mismatched": len(self.mismatched), "max_rel_diff": self.max_rel_diff,
                "lost_ranges": loss_ranges(self.lost, self.step_ms)[:20],
                "late_ranges": loss_ranges(self.late, self.step_ms)[:20],
                "lost_in_faults_ranges": loss_ranges(self.lost_in_faults, self.step_ms)[:20],
                "mismatched_examples": [iso(t) for t in self.mismatched[:5]]}


def series_source(venue: str, metric: str) -> str:
    return MARKET_SOURCE[metric] if venue == MARKET else venue


def stored_slice(store: HistoryStore, key: tuple[str, str, str], lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """The stored (ts, value) of a series with lo <= ts < hi."""
    series = store.series(*key)
    a, b = np.searchsorted(series.ts, [lo, hi])
    return series.ts[a:b], series.values[a:b]


def binance_pushed(events: pl.DataFrame) -> pl.DataFrame:
    """The liquidations Binance's stream pushes: the latest per symbol per second, either side
    (the simulator does the same)."""
    return (events.with_columns((pl.col("ts") // 1000).alias("second"))
            .sort("ts", maintain_order=True)
            .unique(subset=["asset", "second"], keep="last", maintain_order=True)
            .drop("second"))


@dataclass
class LiquidationTally:
    expected: int = 0
    stored: int = 0
    missing: int = 0
    missing_in_faults: int = 0
    unexpected: int = 0
    expected_usd: float = 0.0
    stored_usd: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["expected_usd"] = round(self.expected_usd)
        out["stored_usd"] = round(self.stored_usd)
        return out


class LossAuditor:
    """Checks the store against the market model one stretch of sim time at a time."""

    def __init__(self, market: Market, store: HistoryStore, assets: Iterable[str], grace_ms: int,
                 liquidations_from_ms: int, recheck_ms: int = 0):
        self.market = market
        self.store = store
        self.assets = tuple(assets)
        self.grace_ms = grace_ms
        self.liquidations_from_ms = liquidations_from_ms
        self.recheck_ms = recheck_ms
        self.series: dict[tuple[str, str, str], SeriesTally] = {}
        self.liquidations: dict[str, LiquidationTally] = {}

    def audit(self, lo: int, hi: int, windows: list[FaultWindow], now_ms: int) -> None:
        """Every ground-truth point with lo <= ts < hi."""
        truth = market_samples(self.market, lo, hi - 1)
        for (venue, asset, metric), part in truth.partition_by(["venue", "asset", "metric"], as_dict=True).items():
            if metric in HISTORY_SERIES.get(venue, ()):
                self._audit_series((venue, asset, metric), part, lo, hi, windows, now_ms)
        for venue in VENUE_SOURCES:
            self._audit_liquidations(venue, truth, max(lo, self.liquidations_from_ms), hi, windows, now_ms)

    def _audit_series(self, key: tuple[str, str, str], truth: pl.DataFrame, lo: int, hi: int,
                      windows: list[FaultWindow], now_ms: int) -> None:
        venue, _, metric = key
        source = series_source(venue, metric)
        rest_windows = [w for w in windows if w.source == source and not w.is_ws]
        ts = truth["ts"].to_numpy()
        excused = excused_mask(ts, rest_windows, self.grace_ms, now_ms)
        stored_ts, stored_values = stored_slice(self.store, key, lo, hi)
        tolerance = TOLERANCE.get(metric, DEFAULT_TOLERANCE)
        check = check_points(ts, truth["value"].to_numpy(), stored_ts, stored_values, excused, tolerance)
        tally = self.series.setdefault(key, SeriesTally(STEP_MS.get(metric, 5 * MINUTE), tolerance))
        tally.add(check, now_ms + self.recheck_ms)

    def _audit_liquidations(self, venue: str, truth: pl.DataFrame, lo: int, hi: int,
                            windows: list[FaultWindow], now_ms: int) -> None:
        if hi <= lo:
            return
        events = truth.filter((pl.col("venue") == venue) & pl.col("metric").is_in(LIQUIDATION_METRICS)
                              & (pl.col("ts") >= lo))
        if venue == "binance":
            events = binance_pushed(events)
        # The store keeps one value per ts per series: events of the same millisecond add up.
        expected = events.group_by(["asset", "metric", "ts"]).agg(pl.col("value").sum())
        tally = self.liquidations.setdefault(venue, LiquidationTally())
        ws_windows = [w for w in windows if w.source == venue and w.is_ws]
        for asset in self.assets:
            for metric in LIQUIDATION_METRICS:
                want = expected.filter((pl.col("asset") == asset) & (pl.col("metric") == metric)).sort("ts")
                stored_ts, stored_values = stored_slice(self.store, (venue, asset, metric), lo, hi)
                ts = want["ts"].to_numpy()
                check = check_points(ts, want["value"].to_numpy(), stored_ts, stored_values,
                                     excused_mask(ts, ws_windows, self.grace_ms, now_ms), Tolerance(rel=1e-3))
                tally.expected += check.checked
                tally.stored += int(stored_ts.size)
                tally.missing += int(check.lost.size)
                tally.missing_in_faults += int(check.lost_in_faults.size)
                tally.unexpected += int(np.setdiff1d(stored_ts, ts).size)
                tally.expected_usd += float(want["value"].sum())
                tally.stored_usd += float(stored_values.sum())

    def recheck(self, now_ms: int | None) -> None:
        """Look again for missing points that are due (all when ``now_ms`` is None)."""
        for key, tally in self.series.items():
            tally.recheck(self.store, key, now_ms)

    def pending(self) -> int:
        return sum(len(ts) for tally in self.series.values() for _, ts, _ in tally.pending)

    def totals(self) -> dict[str, int]:
        tallies = self.series.values()
        return {"checked": sum(t.checked for t in tallies), "lost_outside_faults": sum(len(t.lost) for t in tallies),
                "late": sum(len(t.late) for t in tallies), "pending": self.pending(),
                "lost_in_faults": sum(len(t.lost_in_faults) for t in tallies),
                "mismatched": sum(len(t.mismatched) for t in tallies)}

    def to_json(self) -> dict[str, Any]:
        return {
            **self.totals(),
            "by_series": {"/".join(key): tally.to_json() for key, tally in sorted(self.series.items())},
            "tolerances": {m: dataclasses.asdict(t) for m, t in TOLERANCE.items()} | {
                "other": dataclasses.asdict(DEFAULT_TOLERANCE)},
            "not_audited": NOT_AUDITED,
        }


# -- the run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoakOptions:
    days: float = 60.0
    speed: float = 10_000.0
    assets: tuple[str, ...] = ("BTC", "ETH")
    seed: int = 1
    faults: bool = True
    fault_every_days: float = 3.0
    fault_real_s: float = 3.0
    backfill_days: float = BACKFILL_DAYS
    retention_days: float = RETENTION_DAYS
    flush_interval_s: float = StoreSettings().flush_interval_s
    view_every_s: float = 1.0
    backfill_timeout_s: float = BACKFILL_TIMEOUT_S
    tracemalloc: bool = False
    data_dir: Path | None = None
    """Where history is saved; a temp dir (removed after) when None."""
    quiet: bool = False


def frame_differences(memory: pl.DataFrame, disk: pl.DataFrame) -> dict[str, Any]:
    """Rows the store holds that did not reload, rows that reloaded from nowhere, and rows whose
    value differs, by series, with a few examples."""
    keys = ["venue", "asset", "metric", "ts"]
    joined = memory.join(disk, on=keys, how="full", suffix="_disk", coalesce=True)
    kinds = {
        "not_on_disk": joined.filter(pl.col("value_disk").is_null()),
        "only_on_disk": joined.filter(pl.col("value").is_null()),
        "other_value": joined.filter(pl.col("value") != pl.col("value_disk")),
    }
    out: dict[str, Any] = {}
    for kind, rows in kinds.items():
        if rows.height:
            by_series = rows.group_by(["venue", "asset", "metric"]).agg(pl.len().alias("n"), pl.col("ts").min())
            out[kind] = {f"{r['venue']}/{r['asset']}/{r['metric']}": [r["n"], iso(r["ts"])]
                         for r in by_series.sort("n", descending=True).head(10).iter_rows(named=True)}
    return out


def health_summary(pipeline: Pipeline) -> dict[str, Any]:
    """Each source's status, with the endpoints that are not LIVE (and why)."""
    out: dict[str, Any] = {}
    for name, health in pipeline.health.snapshot().items():
        out[name] = {"status": health.status.value,
                     "not_live": {ep: st.value for ep, st in health.detail.items() if st.value != "LIVE"}}
        if health.error:
            out[name]["error"] = health.error
    return out


def verdict(report: dict[str, Any]) -> dict[str, bool]:
    return {
        "exceptions_zero": report["exceptions"]["count"] == 0,
        "memory_plateau": bool(report["memory"].get("plateau")),
        "no_samples_lost": report["samples"]["lost_outside_faults"] == 0,
        "history_reloads_equal": report["persistence"]["match"],
    }


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()

    import levtop

    where = {"levtop": str(Path(levtop.__file__).parent)}  # a snapshot on PYTHONPATH is not the checkout
    try:
        return {**where, "commit": git("rev-parse", "--short", "HEAD"),
                "modified": git("status", "--porcelain", "--untracked-files=no", "--", "tui").splitlines()}
    except (OSError, subprocess.SubprocessError):
        return where


@dataclass(frozen=True)
class Timeline:
    """The run in sim time."""

    pipeline_start: int
    run_start: int
    """After the backfill: day 0 of the soak."""
    end: int
    grace_ms: int
    """One poll of the slowest job: a point near a fault window is excused this far out."""
    settle_ms: int
    """How long after a day ends it is audited."""

    @classmethod
    def starting(cls, pipeline_start: int, run_start: int, days: float, pipeline: Pipeline,
                 speed: float) -> "Timeline":
        poll_ms = int(max(pipeline.poll_s.values()) * speed * 1000)
        return cls(pipeline_start, run_start, run_start + int(days * DAY), poll_ms, SETTLE_POLLS * poll_ms)

    def to_json(self) -> dict[str, Any]:
        return {"pipeline_start": iso(self.pipeline_start), "run_start": iso(self.run_start),
                "run_end": iso(self.end), "audited_from": iso(self.pipeline_start),
                "grace_sim_s": self.grace_ms // 1000, "settle_sim_s": self.settle_ms // 1000}


class Soak:
    def __init__(self, options: SoakOptions):
        self.o = options
        self.exceptions = Exceptions()
        self.started = time.monotonic()
        self.memory: list[MemorySample] = []
        self.saves: list[float] = []
        self.save_errors: list[str] = []
        self.views = 0
        self._builder = ViewBuilder()
        self._save_task: asyncio.Task | None = None
        self._view_task: asyncio.Task | None = None
        self._last_save = self._last_view = time.monotonic()
        self.git = git_state()  # the code this run imports: the tree may change while it runs

    def say(self, text: str) -> None:
        if not self.o.quiet:
            print(f"[soak {time.monotonic() - self.started:6.1f}s] {text}", file=sys.stderr, flush=True)

    async def run(self) -> dict[str, Any]:
        if self.o.data_dir is not None:
            return await self._run_in(self.o.data_dir)
        with tempfile.TemporaryDirectory(prefix="levtop-soak-") as tmp:
            return await self._run_in(Path(tmp))

    async def _run_in(self, data_dir: Path) -> dict[str, Any]:
        root = logging.getLogger()
        root.addHandler(self.exceptions.log)
        loop = asyncio.get_running_loop()
        previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self.exceptions.on_loop_exception)
        if self.o.tracemalloc:
            tracemalloc.start()
        try:
            return await self._run(data_dir)
        finally:
            loop.set_exception_handler(previous_handler)
            root.removeHandler(self.exceptions.log)
            if self.o.tracemalloc:
                tracemalloc.stop()

    async def _run(self, data_dir: Path) -> dict[str, Any]:
        o = self.o
        market = await asyncio.to_thread(
            Market, scenario=SCENARIO, seed=o.seed, assets=o.assets, start_ms=START_MS,
            history_days=max(35, int(o.backfill_days) + 5), horizon_days=math.ceil(o.days) + MODEL_MARGIN_DAYS)
        sim = Simulator(scenario=SCENARIO, seed=o.seed, speed=o.speed, assets=o.assets, market=market, port=0)
        await sim.start()
        config = dataclasses.replace(Config(path=None), assets=o.assets,  # type: ignore[arg-type]
                                     store=StoreSettings(o.retention_days, o.flush_interval_s, data_dir))
        store = HistoryStore(retention_ms=int(o.retention_days * DAY), directory=data_dir)
        pipeline = Pipeline(config, store, assets=o.assets, sim_url=sim.base_url, backfill_days=o.backfill_days,
                            rate_limit=False, time_scale=o.speed)
        pipeline_start = sim.clock.now_ms()
        tasks = [asyncio.create_task(r.run(), name=r.name) for r in pipeline.runnables()]
        for task in tasks:
            self.exceptions.watch(task)
        try:
            backfill_s = await self._wait_for_backfill(pipeline, store)
            report = await self._soak(sim, market, store, pipeline, pipeline_start, backfill_s)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await pipeline.close()
            await sim.stop()
        report["persistence"] = await self._persistence(store, data_dir)
        report["sim_stats"] = {k: v for k, v in sim.stats.to_json().items()
                               if k in ("requests_total", "requests_by_venue", "messages_total", "ws_connections",
                                        "faults_applied")}
        report["exceptions"] = self.exceptions.to_json()  # teardown included
        report["pass"] = verdict(report)
        report["ok"] = all(report["pass"].values())
        report["wall_s"] = round(time.monotonic() - self.started, 1)
        return report

    async def _wait_for_backfill(self, pipeline: Pipeline, store: HistoryStore) -> float:
        """Until every venue reported its backfill and both market series have data."""
        started = time.monotonic()
        while time.monotonic() - started < self.o.backfill_timeout_s:
            venues_done = all("backfill" in pipeline.health.source(v).detail for v in pipeline.config.venues)
            market_done = all(store.newest(MARKET, ALL_ASSETS, m) is not None for m in MARKET_SOURCE)
            if venues_done and market_done:
                break
            await asyncio.sleep(TICK_S)
        else:
            self.exceptions.run_problems.append(f"backfill not done after {self.o.backfill_timeout_s:g} s")
        elapsed = time.monotonic() - started
        self.say(f"backfill done in {elapsed:.1f} s")
        return elapsed

    async def _soak(self, sim: Simulator, market: Market, store: HistoryStore, pipeline: Pipeline,
                    pipeline_start: int, backfill_s: float) -> dict[str, Any]:
        o = self.o
        line = Timeline.starting(pipeline_start, sim.clock.now_ms(), o.days, pipeline, o.speed)
        plan = fault_plan(o.days, o.fault_every_days, o.seed) if o.faults else []
        injector = FaultInjector(sim, plan, line.run_start, o.fault_real_s, self.say)
        # Streams connect after the backfill: what happened before is not a stream's to deliver.
        auditor = LossAuditor(market, store, o.assets, line.grace_ms, liquidations_from_ms=line.run_start + line.grace_ms,
                              recheck_ms=int(RECHECK_DAYS * DAY))
        self.memory.append(memory_sample(0.0, line.run_start, time.monotonic() - self.started, store))
        self.say(f"run start {iso(line.run_start)}: {o.days:g} days at {o.speed:g}x, {len(plan)} faults planned, "
                 f"rss {self.memory[-1].rss_mb:.0f} MB")
        audited_to = await self._monitor(sim, market, store, pipeline, line, injector, auditor)
        injector.clear(sim.clock.now_ms())
        auditor.recheck(None)
        if self.memory[-1].day < o.days:  # a fractional --days: the end gets its own sample
            self._daily(o.days, line.end, store, auditor)
        await self._quiesce()
        return {
            "config": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(o).items()},
                       "scenario": SCENARIO, "git": self.git},
            "sim": {**line.to_json(), "audited_to": iso(audited_to), "backfill_real_s": round(backfill_s, 1),
                    "recheck_days": RECHECK_DAYS},
            # Retention counts from the newest sample: the store holds the backfill plus the run
            # until that reaches retention_days, then stops growing.
            "memory": {**plateau(self.memory, o.days),
                       "store_full_from_day": max(0.0, o.retention_days - o.backfill_days)},
            "samples": auditor.to_json(),
            "liquidations": {"note": "stream events vs the model outside ws fault windows (Binance: the latest per "
                                     "symbol per second, as it pushes); informational",
                             **{v: t.to_json() for v, t in auditor.liquidations.items()}},
            "faults": [w.to_json() for w in injector.windows],
            "health_end": health_summary(pipeline),
        }

    async def _monitor(self, sim: Simulator, market: Market, store: HistoryStore, pipeline: Pipeline,
                       line: Timeline, injector: FaultInjector, auditor: LossAuditor) -> int:
        """Run the soak's clockwork until every day is audited and every recheck done: faults on
        and off, a memory sample per day, the app's saves and view refreshes. Returns the end of
        what was audited."""
        audited_to, next_day = line.pipeline_start, 1
        deadline = time.monotonic() + 60.0 + DEADLINE_FACTOR * (self.o.days + RECHECK_DAYS) * DAY / 1000 / self.o.speed
        while audited_to < line.end or auditor.pending():
            now = sim.clock.now_ms()
            if now > market.end_ms - DAY:
                self.exceptions.run_problems.append("the sim clock ran past the modelled market")
                break
            if time.monotonic() > deadline:
                self.exceptions.run_problems.append(f"gave up at {iso(now)}: audited to {iso(audited_to)}, "
                                                    f"{auditor.pending()} points to look for again")
                break
            injector.step(now)
            while next_day <= self.o.days and now >= line.run_start + next_day * DAY:
                self._daily(next_day, line.run_start + next_day * DAY, store, auditor)
                next_day += 1
            audited_to = self._audit_ready(auditor, injector, audited_to, min(line.end, now - line.settle_ms),
                                           line.end, now, line.settle_ms)
            auditor.recheck(now)
            self._maybe_save(store)
            self._maybe_build_view(store, pipeline)
            await asyncio.sleep(TICK_S)
        return audited_to

    @staticmethod
    def _audit_ready(auditor: LossAuditor, injector: FaultInjector, audited_to: int, ready_to: int, end: int,
                     now: int, settle_ms: int) -> int:
        """Audit whole days (a partial one only at the end) once they are settled: SETTLE_POLLS
        polls past their end, and past the effect of every fault that began before their end."""
        while audited_to < ready_to:
            hi = min(audited_to + DAY, ready_to)
            if hi - audited_to < DAY and hi < end:
                break
            if not injector.settled_before(hi, auditor.grace_ms + settle_ms, now):
                break
            auditor.audit(audited_to, hi, injector.windows, now)
            audited_to = hi
        return audited_to

    def _daily(self, day: float, sim_ms: int, store: HistoryStore, auditor: LossAuditor) -> None:
        sample = memory_sample(day, sim_ms, time.monotonic() - self.started, store)
        self.memory.append(sample)
        totals = auditor.totals()
        self.say(f"day {day:5.1f}/{self.o.days:g}  rss {sample.rss_mb:6.1f} MB  store {sample.store_rows:>8} rows  "
                 f"checked {totals['checked']:>7}  lost {totals['lost_outside_faults']}"
                 f" (+{totals['lost_in_faults']} in faults, {totals['late']} late, {totals['pending']} to recheck)"
                 f"  exceptions {self.exceptions.count()}  load {sample.load:.1f}")

    # -- the app's periodic work -----------------------------------------------------------------

    def _maybe_save(self, store: HistoryStore) -> None:
        busy = self._save_task is not None and not self._save_task.done()
        if busy or time.monotonic() - self._last_save < self.o.flush_interval_s:
            return
        self._last_save = time.monotonic()
        self._save_task = asyncio.create_task(self._save(store))

    async def _save(self, store: HistoryStore) -> None:
        started = time.monotonic()
        try:
            await asyncio.to_thread(store.save)  # a thread, as the app's save worker
        except OSError as exc:
            self.save_errors.append(str(exc))
            return
        self.saves.append(time.monotonic() - started)

    def _maybe_build_view(self, store: HistoryStore, pipeline: Pipeline) -> None:
        busy = self._view_task is not None and not self._view_task.done()
        if self.o.view_every_s <= 0 or busy or time.monotonic() - self._last_view < self.o.view_every_s:
            return
        self._last_view = time.monotonic()
        # As the app: the series are read on the loop, the view is built in a thread.
        series = store.series_map(self.o.assets)
        health = pipeline.health.snapshot()
        self._view_task = asyncio.create_task(self._build_view(series, store.newest_ts, health))

    def _build_and_trim(self, series: dict, now: int | None, assets: tuple[str, ...], health: dict) -> None:
        """As the app's view worker: one builder, and the heaps trimmed at most once a minute."""
        self._builder.build_from_series(series, now, assets, assets[0], "7d", health)
        release_free_memory()

    async def _build_view(self, series: dict, now: int | None, health: dict) -> None:
        assets = self.o.assets
        try:
            await asyncio.to_thread(self._build_and_trim, series, now, assets, health)
        except Exception as exc:  # noqa: BLE001 - counted as an exception of the run
            where = traceback.extract_tb(exc.__traceback__)[-3:]
            self.exceptions.view_errors.append(f"{type(exc).__name__}: {exc} at " + " < ".join(
                f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(where)))
            return
        self.views += 1

    async def _quiesce(self) -> None:
        for task in (self._save_task, self._view_task):
            if task is not None:
                await task

    async def _persistence(self, store: HistoryStore, data_dir: Path) -> dict[str, Any]:
        """A last save, then a load from disk: what reloads must be what the store holds."""
        await asyncio.to_thread(store.save)
        loaded, warnings = await asyncio.to_thread(HistoryStore.load, data_dir, store.retention_ms)
        ours, theirs = store.frame(), loaded.frame()
        return {
            "saves": len(self.saves), "save_errors": self.save_errors[:10],
            "save_s_max": round(max(self.saves, default=0.0), 3), "views_built": self.views,
            "store_rows": ours.height, "reloaded_rows": theirs.height, "load_warnings": warnings,
            "match": not warnings and ours.equals(theirs),
            "differences": frame_differences(ours, theirs),
        }


# -- command line ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> tuple[SoakOptions, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=60.0, help="simulated days after the backfill (60)")
    parser.add_argument("--speed", type=float, default=10_000.0,
                        help="sim seconds per real second (10000: 60 days in about 9 minutes)")
    parser.add_argument("--assets", default="BTC,ETH", help="comma-separated (BTC,ETH)")
    parser.add_argument("--seed", type=int, default=1, help="market and fault plan seed (1)")
    parser.add_argument("--no-faults", action="store_true", help="no fault injection")
    parser.add_argument("--fault-every", type=float, default=3.0, metavar="DAYS",
                        help="simulated days between two faults (3)")
    parser.add_argument("--fault-seconds", type=float, default=3.0, help="real seconds each fault lasts (3)")
    parser.add_argument("--backfill-days", type=float, default=BACKFILL_DAYS, help="as levtop --demo (10)")
    parser.add_argument("--retention-days", type=float, default=RETENTION_DAYS, help="store retention (30)")
    parser.add_argument("--flush-seconds", type=float, default=StoreSettings().flush_interval_s,
                        help="real seconds between two saves of the history (the config default, 60)")
    parser.add_argument("--view-every", type=float, default=1.0, metavar="SECONDS",
                        help="build the app's view from the store this often, 0 for never (1)")
    parser.add_argument("--tracemalloc", action="store_true", help="also report Python's traced memory (slow)")
    parser.add_argument("--data-dir", type=Path, help="save history here (default: a temp dir, removed)")
    parser.add_argument("--json-out", type=Path, help="also write the JSON report here")
    args = parser.parse_args(argv)
    assets = tuple(a.strip().upper() for a in args.assets.split(",") if a.strip())
    if not assets or args.days <= 0 or args.speed <= 0 or args.fault_every <= 0:
        parser.error("--assets must name at least one asset; --days, --speed and --fault-every must be > 0")
    options = SoakOptions(days=args.days, speed=args.speed, assets=assets, seed=args.seed, faults=not args.no_faults,
                          fault_every_days=args.fault_every, fault_real_s=args.fault_seconds,
                          backfill_days=args.backfill_days, retention_days=args.retention_days,
                          flush_interval_s=args.flush_seconds, view_every_s=args.view_every,
                          tracemalloc=args.tracemalloc, data_dir=args.data_dir)
    return options, args.json_out


def summary(report: dict[str, Any]) -> str:
    memory, samples = report["memory"], report["samples"]
    return (f"exceptions {report['exceptions']['count']}; rss start/middle/end "
            f"{memory.get('start_mb')}/{memory.get('middle_mb')}/{memory.get('end_mb')} MB "
            f"({memory.get('end_vs_middle_pct')}% end vs middle); samples checked {samples['checked']}, "
            f"lost {samples['lost_outside_faults']} (+{samples['lost_in_faults']} in fault windows, "
            f"{samples['late']} late), "
            f"mismatched {samples['mismatched']}; liquidations missing "
            + ", ".join(f"{v} {t['missing']}/{t['expected']}" for v, t in report["liquidations"].items() if v != "note")
            + f"; wall {report['wall_s']} s; "
            + ("OK" if report["ok"] else "FAILED: " + ", ".join(k for k, v in report["pass"].items() if not v)))


def main(argv: list[str] | None = None) -> int:
    options, json_out = parse_args(argv)
    soak = Soak(options)
    report = asyncio.run(soak.run())
    text = json.dumps(report, indent=2)
    if json_out is not None:
        json_out.write_text(text + "\n", encoding="utf-8")
    soak.say(summary(report))
    print(text)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
