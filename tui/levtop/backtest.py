"""`levtop backtest`: signals and phase at every step boundary of a dataset, as-of."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from levtop import fmt
from levtop.errors import UserError
from levtop.forward_returns import (
    DATA_ENDS,
    ENTRY_PHASES,
    HORIZONS,
    Entry,
    ForwardReport,
    forward_returns,
    price_at,
)
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
    forward: ForwardReport | None = None
    """RESTART and TRAP entries with the price's 7d and 30d forward returns."""
    step_prices: np.ndarray = field(default_factory=lambda: np.empty(0))
    """The asset's price as-of each step (NaN where none), for the plot."""


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
    prices = inputs.venues("price")
    # Forward returns look past --to: the price after an entry is in the data even when the
    # steps stop earlier; only the end of the data itself cuts them short.
    forward = forward_returns(asset, [v.ts for v in verdicts], [v.phase for v in verdicts], prices,
                              int(relevant["ts"].max()))
    return BacktestResult(asset, step_ms, verdicts, flushes, forward, price_at(prices, times))


def _forward_json(entry: Entry) -> dict:
    out: dict = {"price": entry.price}
    for name, _ in HORIZONS:
        out[f"return_{name}"] = entry.returns[name]
    for name, _ in HORIZONS:
        out[f"missing_{name}"] = entry.missing[name]
    return out


def to_json(result: BacktestResult) -> str:
    """A JSON array, one object per step, one step per line; a RESTART or TRAP entry step also
    carries ``forward``: its price and 7d/30d forward returns (null with the reason missing)."""
    entries = {e.ts: e for e in result.forward.entries} if result.forward else {}
    rows = []
    for v in result.verdicts:
        row = v.to_json()
        entry = entries.get(v.ts)
        if entry is not None:
            row["forward"] = _forward_json(entry)
        rows.append(json.dumps(row, allow_nan=False))
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
    verdicts = result.verdicts
    times = utc_texts([v.ts for v in verdicts], with_time)
    starts = [
        f"{time_text:<{time_width}}  {v.phase if v.purifying_day is None else f'{v.phase} d{v.purifying_day}':<18}"
        for time_text, v in zip(times, verdicts)
    ]
    # Built a column at a time; the last one unpadded, so that no line ends in spaces.
    columns = [
        _column(n, [v.signals[n] for v in verdicts], 0 if n == SIGNAL_NAMES[-1] else widths[n])
        for n in SIGNAL_NAMES
    ]
    lines = [header, "-" * len(header)]
    lines += map("".join, zip(starts, *columns))
    return "\n".join(lines)


def _column(name: str, signals: list[Signal], width: int) -> list[str]:
    """One signal's cells, two spaces before each. A year of hourly steps repeats most cells
    (daily inputs, steady states): each distinct cell is formatted once, and a step that kept
    its Signal object keeps its cell at once."""
    cells: dict[tuple, str] = {}
    texts: list[str] = []
    previous: Signal | None = None
    text = ""
    for signal in signals:
        if signal is not previous:
            value = signal.value
            # The sign too: -0.0 equals 0.0 but may print as "-0".
            key = (signal.state, value, value is not None and math.copysign(1.0, value))
            text = cells.get(key)
            if text is None:
                text = cells[key] = f"  {_cell(name, signal.state, value):<{width}}"
            previous = signal
        texts.append(text)
    return texts


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


def _price_text(price: float | None) -> str:
    if price is None:
        return "n/a"
    # Small coins trade at fractions of a cent: keep their significant digits.
    return f"{price:,.2f}" if abs(price) >= 1 else f"{price:.6g}"


def _return_text(value: float | None, missing: str | None) -> str:
    return fmt.pct(value, 1) if value is not None else f"n/a: {missing}"


def _stat_text(value: float | None, as_share: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:.0%}" if as_share else fmt.pct(value, 1)


def render_forward(result: BacktestResult) -> str:
    """The entries into RESTART and TRAP with the price's forward returns, then per phase the
    count, mean, median and hit rate (share above zero) of the returns that exist."""
    report = result.forward
    names = " and ".join(ENTRY_PHASES)
    if report is None:
        return f"forward returns after {names} entries: not computed"
    if report.price_source is None:
        return (f"forward returns after {names} entries: no {report.asset} price in the dataset "
                f"({len(report.entries)} entries found)")
    lines = [f"forward returns after {names} entries ({report.asset} price: {report.price_source}; "
             f"as-of, at most 1 day old):"]
    if not report.entries:
        lines.append(f"  none: no step enters {' or '.join(ENTRY_PHASES)}")
        return "\n".join(lines)
    with_time = result.step_ms % DAY != 0
    time_width = 16 if with_time else len("entry (UTC)")
    horizon_width = max(len(f"n/a: {DATA_ENDS}"), 9)
    header = f"  {'entry (UTC)':<{time_width}}  {'phase':<8}  {'price':>14}" + "".join(
        f"  {'after ' + name:<{horizon_width}}" for name, _ in HORIZONS)
    lines += [header.rstrip(), "  " + "-" * (len(header.rstrip()) - 2)]
    times = utc_texts([e.ts for e in report.entries], with_time)
    for time_text, e in zip(times, report.entries):
        row = f"  {time_text:<{time_width}}  {e.phase:<8}  {_price_text(e.price):>14}" + "".join(
            f"  {_return_text(e.returns[name], e.missing[name]):<{horizon_width}}" for name, _ in HORIZONS)
        lines.append(row.rstrip())
    lines += ["", "  forward returns per phase (over the entries that have the figure; hit = share above 0):"]
    header = f"  {'phase':<8}  {'entries':>7}" + "".join(
        f"  | {name + ' n':>6}  {'mean':>7}  {'median':>7}  {'hit':>4}" for name, _ in HORIZONS)
    lines += [header, "  " + "-" * (len(header) - 2)]
    for s in report.summaries:
        row = f"  {s.phase:<8}  {s.entries:>7}"
        for name, _ in HORIZONS:
            h = s.horizons[name]
            row += (f"  | {h.count:>6}  {_stat_text(h.mean):>7}  {_stat_text(h.median):>7}  "
                    f"{_stat_text(h.hit_rate, as_share=True):>4}")
        lines.append(row)
    return "\n".join(lines)
