"""What a time chart shows, and the arithmetic of its axes and points: no drawing here.

The panels build a ChartSpec on every refresh; the TimeChart widget (widgets/chart.py, which
imports plotext) draws it. This module imports neither, so the panels load before the first frame
without plotext.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, NamedTuple

from levtop.model import DAY, HOUR

if TYPE_CHECKING:
    from levtop.view import Line


class ChartSpec(NamedTuple):
    """What a chart shows. Two equal specs draw the same picture, so a panel may hand the same
    one again at no cost. (A NamedTuple: a dataclass costs the first frame 4 ms more to create.)"""

    lines: tuple[tuple[Line, str], ...]
    """Each line with its colour, a theme variable; later lines are drawn over earlier ones."""
    now: int
    """x = 0: the end of the view's chart window (view.chart_windows), which moves in steps."""
    span_ms: int
    y_label: Callable[[float], str]
    """Formats a y tick; a module-level function, so that equal specs compare equal."""
    y_limits: tuple[float, float] | None = None
    """A fixed y range (0-100 for Fear & Greed); by default the data's, padded."""
    y_ticks: tuple[float, ...] | None = None
    """Fixed y ticks; by default round values across the range."""
    guides: tuple[tuple[float, str], ...] = ()
    """Horizontal rules: (y, theme variable, or "" for the muted colour)."""
    title: str = ""
    """Drawn on the chart's top row (the market panels caption theirs outside)."""
    dots: str = "braille"
    """"braille" (2x4 dots a cell) or "blocks" (2x2 quadrants, solid in any font)."""
    subject: str = ""
    """What the chart is about (the selected asset): a new subject is drawn at once, where new
    data for the same one waits for the chart's next redraw slot."""

    @property
    def has_data(self) -> bool:
        return any(len(line.ts) >= 2 for line, _ in self.lines)


# -- axes --------------------------------------------------------------------------------------


def nice_ticks(low: float, high: float, count: int) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^n steps) covering [low, high], at most ``count``."""
    if not (math.isfinite(low) and math.isfinite(high)) or count < 2:
        return []
    if high <= low:
        return [low]
    raw = (high - low) / (count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


TICK_STEPS = {"h": (1, 2, 3, 4, 6, 12, 24), "d": (1, 2, 3, 5, 10, 15, 30)}
"""Steps between time ticks, in hours or days: the ones that divide a day or a month evenly."""


def time_unit(span_ms: int) -> tuple[int, str]:
    """The x axis counts hours for a day or less, days beyond."""
    return (HOUR, "h") if span_ms <= DAY else (DAY, "d")


def time_ticks(span_ms: int, width: int) -> list[tuple[float, str]]:
    """(ms before now, label) from '-7d' to 'now', as many as fit ``width`` (one per ~8 columns)."""
    unit, suffix = time_unit(span_ms)
    units = max(1, span_ms // unit)
    fit = max(2, width // 8)
    step = next((s for s in TICK_STEPS[suffix] if units // s + 1 <= fit), units)
    return [(-k * unit, f"-{k}{suffix}" if k else "now") for k in range(units // step * step, -1, -step)]


def y_range(spec: ChartSpec) -> tuple[float, float]:
    """The y range: the spec's fixed one, else the values' and the guides', padded by 8%."""
    if spec.y_limits is not None:
        return spec.y_limits
    values = [v for line, _ in spec.lines if len(line.ts) >= 2 for v in line.values if math.isfinite(v)]
    values += [value for value, _ in spec.guides]
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or abs(high) * 0.05 or 1.0
    return low - pad, high + pad


# -- points ------------------------------------------------------------------------------------


def thin(line: Line, start: int, span_ms: int, columns: int) -> tuple[list[int], list[float]]:
    """The line's finite points within the window, at most two per column: the lowest and the
    highest of each column, in time order. A chart cell shows two dots across, so nothing visible
    is lost (a spike stays), and plotting costs grow with the points drawn, not the points held."""
    ts_out: list[int] = []
    values_out: list[float] = []
    column_of = columns / span_ms if span_ms > 0 else 0.0
    current = -1
    low_at = high_at = -1
    points = [(t, v) for t, v in zip(line.ts, line.values) if t >= start and math.isfinite(v)]

    def flush() -> None:
        for i in sorted({low_at, high_at}):
            ts_out.append(points[i][0])
            values_out.append(points[i][1])

    for i, (t, v) in enumerate(points):
        column = min(columns - 1, int((t - start) * column_of))
        if column != current:
            if current >= 0:
                flush()
            current, low_at, high_at = column, i, i
        elif v < points[low_at][1]:
            low_at = i
        elif v > points[high_at][1]:
            high_at = i
    if current >= 0:
        flush()
    return ts_out, values_out
