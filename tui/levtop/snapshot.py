"""`levtop snapshot`: connect, backfill what the signals need, print the verdict once."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from levtop import fmt
from levtop.config import Config
from levtop.model import DAY, METRICS, Kind
from levtop.pipeline import Pipeline
from levtop.signals import SIGNAL_NAMES, Verdict, evaluate_inputs, inputs_by_asset
from levtop.sources.health import SourceHealth, Status
from levtop.store import HistoryStore

# Enough 5-minute history for every venue-side window (72h for the OI signals) without paging
# through a month of points at each venue's rate limit; Fear & Greed and the stablecoin supply
# come with their own daily history.
SNAPSHOT_BACKFILL_DAYS = 4.0
SNAPSHOT_HISTORY = frozenset({"oi_base", "oi_usd", "funding_8h"})
"""The history the signals need; long/short and volumes are read from the latest poll."""


@dataclass
class SnapshotResult:
    ts: int | None
    verdicts: dict[str, Verdict]
    metrics: dict[str, dict[str, dict[str, float]]]
    sources: dict[str, SourceHealth]
    samples_received: int

    @property
    def reached_any(self) -> bool:
        return self.samples_received > 0

    def to_json(self) -> dict:
        assets = {}
        for asset, verdict in self.verdicts.items():
            assets[asset] = {
                "phase": verdict.phase,
                "purifying_day": verdict.purifying_day,
                "flush": None if verdict.flush is None else {
                    "start": verdict.flush.start, "trigger": verdict.flush.trigger,
                    "depth": verdict.flush.depth, "trough_ts": verdict.flush.trough_ts,
                },
                "signals": {name: s.to_json() for name, s in verdict.signals.items()},
                "metrics": self.metrics.get(asset, {}),
            }
        return {"ts": self.ts, "assets": assets,
                "sources": {name: h.to_json() for name, h in self.sources.items()}}


def latest_metrics(store: HistoryStore, asset: str, at: int) -> dict[str, dict[str, float]]:
    """Per venue: the latest value of each level metric, and 24h totals of additive ones."""
    out: dict[str, dict[str, float]] = {}
    for venue, row_asset, metric in store.keys():
        if row_asset not in (asset, "*") or metric not in METRICS:
            continue
        series = store.series(venue, row_asset, metric)
        if METRICS[metric].kind is Kind.ADDITIVE:
            total = float(series.window_sum(np.array([at - DAY]), np.array([at]))[0])
            out.setdefault(venue, {})[f"{metric}_24h"] = total
            continue
        value = store.asof(venue, row_asset, metric, at)
        if value is not None:
            out.setdefault(venue, {})[metric] = value
    return out


async def take_snapshot(config: Config, store: HistoryStore, assets: Sequence[str], sim_url: str | None,
                        timeout_s: float) -> SnapshotResult:
    received = 0

    def count(samples) -> None:
        nonlocal received
        received += len(samples)

    pipeline = Pipeline(config, store, assets=assets, sim_url=sim_url, backfill_days=SNAPSHOT_BACKFILL_DAYS,
                        on_samples=count, backfill_only=SNAPSHOT_HISTORY)
    deadline = time.monotonic() + timeout_s

    async def gather_everything() -> None:
        await pipeline.start()
        # History first: the venues resume history from the newest point they have seen, so a
        # poll landing first would leave the backfill nothing to fill.
        await pipeline.backfill()
        await pipeline.poll_once()

    try:
        await asyncio.wait_for(gather_everything(), timeout=max(1.0, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        for name in [*config.venues, "fear_greed", "stablecoins"]:
            if name not in pipeline.health.sources():
                pipeline.health.failed(name, "connect", f"no answer within {timeout_s:g}s")
    finally:
        await pipeline.close()

    server_times = [v.server_time_ms for v in pipeline.venues.values() if v.server_time_ms]
    ts = max(server_times) if server_times else store.newest_ts
    verdicts: dict[str, Verdict] = {}
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    if ts is not None:
        inputs = inputs_by_asset(store.series_map(assets), assets)
        for asset in assets:
            (verdicts[asset],) = evaluate_inputs(inputs[asset], [ts], config.thresholds)
            metrics[asset] = latest_metrics(store, asset, ts)
    return SnapshotResult(ts, verdicts, metrics, pipeline.health.snapshot(), received)


_STATE_MARK = {"good": "ok  ", "warn": "warn", "bad": "BAD ", "unknown": "?   "}


def render_text(result: SnapshotResult, notes: dict[str, str] | None = None) -> str:
    lines = [f"levtop snapshot, data time {fmt.utc(result.ts)} UTC" if result.ts else "levtop snapshot: no data"]
    for asset, verdict in result.verdicts.items():
        phase = verdict.phase + (f" (day {verdict.purifying_day} of 14-21)" if verdict.purifying_day else "")
        lines += ["", f"{asset}  {phase}" + (f"  {verdict.flush.describe()}" if verdict.flush else "")]
        for name in SIGNAL_NAMES:
            sig = verdict.signals[name]
            lines.append(f"  {_STATE_MARK[sig.state]} {name:<13} {sig.reason}")
        venues = sorted(result.metrics.get(asset, {}))
        if venues:
            names = sorted({m for v in venues for m in result.metrics[asset][v]})
            lines.append("  " + f"{'metric':<24}" + "".join(f"{v:>16}" for v in venues))
            for metric in names:
                cells = "".join(f"{_metric_cell(metric, result.metrics[asset][v].get(metric)):>16}" for v in venues)
                lines.append(f"  {metric:<24}{cells}")
    lines += ["", "sources:"]
    for name, health in result.sources.items():
        when = f"last ok {fmt.utc(health.last_ok_ms)} UTC" if health.last_ok_ms else "never ok"
        error = f"  {health.error}" if health.error and health.status != Status.LIVE else ""
        note = f"  ({notes[name]})" if notes and name in notes else ""
        lines.append(f"  {name:<12} {health.status.value:<6} {when}{error}{note}")
    return "\n".join(lines)


def _metric_cell(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric == "funding_8h":
        return fmt.rate(value)
    if metric.endswith("_usd") or metric.endswith("_usd_24h"):
        return fmt.usd(value)
    if metric in ("long_short_ratio", "top_long_short_ratio"):
        return f"{value:.3f}"
    if metric == "fear_greed":
        return f"{value:g}"
    return fmt.number(value, 2)


def unreachable_lines(result: SnapshotResult) -> list[str]:
    return [f"{name}: {h.error or h.status.value}" for name, h in result.sources.items()]


def to_json_text(result: SnapshotResult) -> str:
    return json.dumps(result.to_json(), allow_nan=False)
