"""`levtop backtest --plot`: the asset's price over the steps, on bands of the phase, drawn with
plotext for a plain terminal (no Textual: this prints once and exits)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

import numpy as np
import plotext as plt

from levtop.model import DAY
from levtop.signals import CASCADE, FLUSH, OVERHEATED, PHASES, PURIFYING, RESTART, TRAP

if TYPE_CHECKING:
    from levtop.backtest import BacktestResult

# A band's texture is a glyph as well as a colour, so the bands read without colour too
# (NO_COLOR, a pipe, a colour-blind reader); the legend names each one. NEUTRAL and UNKNOWN
# are the plain background.
BAND_GLYPH = {CASCADE: "#", FLUSH: "=", TRAP: "x", RESTART: "+", PURIFYING: ":", OVERHEATED: "^"}
BAND_COLOUR = {CASCADE: "magenta", FLUSH: "red", TRAP: "red+", RESTART: "green", PURIFYING: "blue+",
               OVERHEATED: "orange"}
PRICE_COLOUR = "default"  # the terminal's own text colour: readable on light and dark themes

MIN_WIDTH, MIN_HEIGHT = 40, 10
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def use_colour(is_tty: bool, environ: dict[str, str] | os._Environ = os.environ) -> bool:
    """Colour on a terminal unless NO_COLOR is set (no-color.org); off in a pipe or file
    unless FORCE_COLOR is set. NO_COLOR wins over FORCE_COLOR."""
    if environ.get("NO_COLOR"):
        return False
    return is_tty or bool(environ.get("FORCE_COLOR"))


def bucket_steps(times: np.ndarray, prices: np.ndarray, phases: Sequence[str],
                 buckets: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """At most ``buckets`` points: a bucket's time and price are its last step's, and its phase
    the first of its steps' phases in PHASES order (the engine's own priority), so a 3-hour
    CASCADE in a year of hourly steps still shows as a band."""
    n = len(times)
    if n <= buckets:
        return np.asarray(times), np.asarray(prices, dtype=np.float64), list(phases)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    rank = {p: i for i, p in enumerate(PHASES)}
    last = edges[1:] - 1
    bucket_phases = [min(phases[a:b], key=lambda p: rank.get(p, len(PHASES))) for a, b in zip(edges[:-1], edges[1:])]
    return np.asarray(times)[last], np.asarray(prices, dtype=np.float64)[last], bucket_phases


def x_ticks(times: np.ndarray, width: int) -> tuple[list[int], list[str]]:
    """Positions (indices into ``times``) and labels for the time axis, spaced so labels never
    touch. Over three days or more the labels are dates, one per day at most (the first point
    of a day, every k-th day); below that, dates with the time at evenly spaced points."""
    if not len(times):
        return [], []
    by_day = int(times[-1] - times[0]) >= 3 * DAY
    texts = np.datetime_as_string(np.asarray(times, dtype="datetime64[ms]"), unit="m")
    labels = [t[5:10] if by_day else t[5:16].replace("T", " ") for t in texts.tolist()]
    fit = max(1, (width - 8) // (len(labels[0]) + 3))
    if by_day:
        days = np.asarray(times, dtype=np.int64) // DAY
        candidates = [0] + (np.flatnonzero(days[1:] != days[:-1]) + 1).tolist()
    else:
        candidates = list(range(len(times)))
    stride = -(-len(candidates) // fit)
    positions = candidates[::stride]
    return positions, [labels[i] for i in positions]


def _price_label(value: float, span: float) -> str:
    digits = 0 if span >= 50 else 2 if span >= 0.5 else 6
    return f"{value:,.{digits}f}"


def legend(phases: Sequence[str], colour: bool) -> str:
    """'bands: x TRAP  + RESTART ...; no band: NEUTRAL': glyph and word for each phase shown."""
    shown = [p for p in PHASES if p in BAND_GLYPH and p in phases]
    plain = [p for p in PHASES if p not in BAND_GLYPH and p in phases]
    parts = []
    for p in shown:
        glyph = BAND_GLYPH[p]
        if colour:
            glyph = plt.colorize(glyph * 2, BAND_COLOUR[p])
        else:
            glyph = glyph * 2
        parts.append(f"{glyph} {p}")
    text = "bands: " + "  ".join(parts) if parts else "bands: none"
    if plain:
        text += "; no band: " + ", ".join(plain)
    return text + "; line: price"


def render_plot(asset: str, times: Sequence[int], prices: np.ndarray, phases: Sequence[str],
                width: int, height: int, colour: bool) -> str:
    """The chart and its legend as text, ``width`` x ``height`` cells in all."""
    width, height = max(width, MIN_WIDTH), max(height, MIN_HEIGHT)
    plot_height = height - 1  # the legend line
    times_arr = np.asarray(times, dtype=np.int64)
    x_times, y, band_phases = bucket_steps(times_arr, np.asarray(prices, dtype=np.float64), phases,
                                           max(width - 12, 10))
    x = list(range(len(x_times)))
    have = ~np.isnan(y)
    if have.any():
        low, high = float(y[have].min()), float(y[have].max())
        pad = (high - low) * 0.05 or abs(high) * 0.01 or 1.0
        low, high = low - pad, high + pad
    else:
        low, high = 0.0, 1.0

    plt.clear_figure()
    plt.limitsize(False, False)  # the size asked for, not plotext's own guess of the terminal
    plt.plotsize(width, plot_height)
    plt.theme("clear")  # no canvas colours: the terminal's own background, light or dark
    # A band fills its columns up to the price (the whole height where there is none), so the
    # line stays the band's clear top edge instead of disappearing in a full-height texture.
    tops = np.where(have, y, high)
    for phase in PHASES:
        if phase not in BAND_GLYPH:
            continue
        at = [i for i, p in enumerate(band_phases) if p == phase]
        if at:
            plt.bar(at, tops[at].tolist(), marker=BAND_GLYPH[phase], color=BAND_COLOUR[phase], fill=True,
                    width=1.0, minimum=low, reset_ticks=False)
    if have.any():
        plt.plot([x[i] for i in np.flatnonzero(have)], y[have].tolist(), marker="braille", color=PRICE_COLOUR)
    plt.ylim(low, high)
    y_ticks = np.linspace(low, high, max(2, min(6, plot_height // 5)))
    plt.yticks(y_ticks.tolist(), [_price_label(v, high - low) for v in y_ticks])
    plt.xlim(-0.5, len(x) - 0.5)
    plt.xticks(*x_ticks(np.asarray(x_times), width))
    title = f"{asset} price (UTC) with the phase at each step"
    plt.title(title if have.any() else f"{asset}: no price in the dataset; phase bands only")
    chart = plt.build().rstrip("\n")
    plt.clear_figure()
    if not colour:
        chart = _ANSI.sub("", chart)
    return chart + "\n" + legend(band_phases, colour)


def plot_for_terminal(result: BacktestResult, stream: TextIO) -> str:
    """The plot sized to the terminal (COLUMNS and LINES, else 80x24 off a terminal), in colour
    only where ``use_colour`` allows it for ``stream``."""
    size = shutil.get_terminal_size()
    isatty = getattr(stream, "isatty", None)
    colour = use_colour(bool(isatty and isatty()))
    # One line fewer than the terminal, for the shell prompt that follows.
    return render_plot(result.asset, [v.ts for v in result.verdicts], result.step_prices,
                       [v.phase for v in result.verdicts], size.columns, size.lines - 1, colour)
