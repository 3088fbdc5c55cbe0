"""`levtop backtest`: signals and phase at every step boundary of a dataset, as-of."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import polars as pl

from levtop import fmt
from levtop.errors import UserError
from levtop.model import ALL_ASSETS, DAY
from levtop.timeparse import format_duration
from levtop.signals import (
    BAD,
    GOOD,
    PHASES,
    RESTART,
    SIGNAL_NAMES,
    UNKNOWN,
    WARN,
    Flush,
    Signal,
    Thresholds,
    Verdict,
    all_flushes,
    evaluate_inputs,
    inputs_from_frame,
)


@dataclass
class BacktestResult:
    asset: str
    step_ms: int
    verdicts: list[Verdict]
    flushes: list[Flush]


def step_times(first: int, last: int, step_ms: int) -> np.ndarray:
    """Multiples of the step (UTC-aligned) from the first sample's time to the last's."""
    start = -(-first // step_ms) * step_ms
    end = (last // step_ms) * step_ms
    if end < start:
        return np.empty(0, dtype=np.int64)
    return np.arange(start, end + 1, step_ms, dtype=np.int64)


def run_backtest(samples: pl.DataFrame, asset: str, step_ms: int, from_ms: int | None = None,
                 to_ms: int | None = None, thresholds: Thresholds | None = None) -> BacktestResult:
    assets = sorted(set(samples["asset"].unique().to_list()) - {ALL_ASSETS})
    if asset not in assets:
        listed = ", ".join(assets) if assets else "none, only market-wide series"
        raise UserError(f"asset {asset} is not in the dataset (assets: {listed})")
    relevant = samples.filter(pl.col("asset").is_in([asset, ALL_ASSETS]))
    times = step_times(int(relevant["ts"].min()), int(relevant["ts"].max()), step_ms)
    if from_ms is not None:
        times = times[times >= from_ms]
    if to_ms is not None:
        times = times[times <= to_ms]
    if times.size == 0:
        raise UserError("no step boundary falls within the data and the --from/--to range")
    inputs = inputs_from_frame(samples, asset)
    verdicts = evaluate_inputs(inputs, times, thresholds)
    flushes = [f for f in all_flushes(inputs, int(times[-1]), thresholds) if f.start >= times[0] - 30 * DAY]
    return BacktestResult(asset, step_ms, verdicts, flushes)


def to_json(result: BacktestResult) -> str:
    """A JSON array, one object per step, one step per line."""
    rows = [json.dumps(v.to_json(), allow_nan=False) for v in result.verdicts]
    return "[\n" + ",\n".join(rows) + "\n]" if rows else "[]"


_MARK = {GOOD: "ok", WARN: "warn", BAD: "BAD", UNKNOWN: "?"}
_HEADERS = {
    "funding": "funding/8h",
    "oi_rebuild": "OI 24h",
    "oi_level": "OI level",
    "stablecoins": "stable 7d",
    "sentiment": "F&G",
    "long_short": "L/S",
    "liquidations": "liq 1h",
}


_SHOWN = {
    "funding": fmt.rate,
    "oi_rebuild": fmt.pct,
    "oi_level": fmt.usd,
    "stablecoins": lambda v: fmt.pct(v, 2),
    "sentiment": lambda v: f"{v:g}",
    "long_short": lambda v: f"{v:.2f}",
    "liquidations": lambda v: f"{v:.1f}x",
}


def _cell(name: str, state: str, value: float | None) -> str:
    if value is None:
        return _MARK[state]
    return f"{_MARK[state]} {_SHOWN[name](value)}"


def utc_texts(ts: list[int], with_time: bool) -> list[str]:
    """``fmt.utc`` of many times at once: numpy formats the whole array in one call."""
    texts = np.datetime_as_string(np.array(ts, dtype="datetime64[ms]"), unit="m" if with_time else "D")
    return [t.replace("T", " ") for t in texts.tolist()]


def render_table(result: BacktestResult) -> str:
    with_time = result.step_ms % DAY != 0
    time_width = 16 if with_time else 10
    widths = {name: max(len(_HEADERS[name]), 14) for name in SIGNAL_NAMES}
    header = f"{'time (UTC)':<{time_width}}  {'phase':<18}" + "".join(
        f"  {_HEADERS[n]:<{widths[n]}}" for n in SIGNAL_NAMES
    )
    header = header.rstrip()
    lines = [header, "-" * len(header)]
    # A year of hourly steps repeats most cells (daily inputs, steady states): each distinct
    # cell is formatted once, and a step that kept its Signal object keeps its cell at once.
    cells: dict[tuple, str] = {}
    last: dict[str, tuple[Signal | None, str]] = {n: (None, "") for n in SIGNAL_NAMES}
    times = utc_texts([v.ts for v in result.verdicts], with_time)
    for time_text, v in zip(times, result.verdicts):
        phase = v.phase if v.purifying_day is None else f"{v.phase} d{v.purifying_day}"
        row = [f"{time_text:<{time_width}}  {phase:<18}"]
        for n in SIGNAL_NAMES:
            signal = v.signals[n]
            previous, text = last[n]
            if signal is not previous:
                # The sign too: -0.0 equals 0.0 but may print as "-0".
                key = (n, signal.state, signal.value, signal.value is not None and math.copysign(1.0, signal.value))
                text = cells.get(key)
                if text is None:
                    text = cells[key] = f"  {_cell(n, signal.state, signal.value):<{widths[n]}}"
                last[n] = (signal, text)
            row.append(text)
        lines.append("".join(row).rstrip())
    return "\n".join(lines)


def green_periods(verdicts: list[Verdict]) -> list[tuple[int, int, int]]:
    """Runs of consecutive RESTART steps: (first ts, last ts, steps)."""
    runs: list[tuple[int, int, int]] = []
    previous_green = False
    for v in verdicts:
        green = v.phase == RESTART
        if green and previous_green:
            first, _, steps = runs[-1]
            runs[-1] = (first, v.ts, steps + 1)
        elif green:
            runs.append((v.ts, v.ts, 1))
        previous_green = green
    return runs


def render_summary(result: BacktestResult) -> str:
    v = result.verdicts
    with_time = result.step_ms % DAY != 0
    lines = [
        f"{result.asset}: {len(v)} steps of {format_duration(result.step_ms)} from "
        f"{fmt.utc(v[0].ts, with_time)} to {fmt.utc(v[-1].ts, with_time)} UTC",
        "",
        "time in each phase:",
    ]
    counts = Counter(x.phase for x in v)
    for phase in PHASES:
        if counts[phase]:
            share = counts[phase] / len(v)
            lines.append(
                f"  {phase:<11} {counts[phase]:>6} steps  {share:>6.1%}  {fmt.duration(counts[phase] * result.step_ms)}"
            )
    lines += ["", "flushes found:"]
    if result.flushes:
        for f in result.flushes:
            if f.depth is not None:
                lines.append(
                    f"  {fmt.utc(f.start)} by {f.trigger}: OI {fmt.pct(f.depth, 0)} from the 30-day peak "
                    f"({fmt.number(f.peak, 0)} -> trough {fmt.number(f.trough, 0)} on {fmt.utc(f.trough_ts)})"
                )
            else:
                lines.append(f"  {fmt.utc(f.start)} by {f.trigger} (no OI data for its depth)")
    else:
        lines.append("  none")
    lines += ["", "gate green (RESTART):"]
    runs = green_periods(v)
    if runs:
        for first, last, steps in runs:
            lines.append(
                f"  {fmt.utc(first, with_time)} .. {fmt.utc(last, with_time)}  ({steps} steps, "
                f"{fmt.duration(steps * result.step_ms)})"
            )
    else:
        lines.append("  never")
    return "\n".join(lines)
