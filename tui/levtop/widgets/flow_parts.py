"""Pieces the Liquidations, Sentiment and Flows panels share, so they read the same way:
signal badges (glyph + word), text that fits the width it has, the history chart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from rich.align import Align
from rich.text import Text
from textual.app import RenderResult
from textual.color import Color
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Sparkline
from textual_plotext import PlotextPlot

from levtop.model import DAY, HOUR
from levtop.view import Line, MarketView

NO_DATA = "no data yet"

STATE_BADGES = {
    "good": "[$good]✔ good[/]",
    "warn": "[$warn]▲ warn[/]",
    "bad": "[b $bad]✖ bad[/]",
    "unknown": "[$text-muted]? unknown[/]",
}
"""A signal state as glyph + word, so it reads without colour too."""

STATE_COLOURS = {"good": "$good", "warn": "$warn", "bad": "$bad", "unknown": "$text-muted"}

def state_badge(state: str) -> str:
    return STATE_BADGES.get(state, STATE_BADGES["unknown"])


def signal_state(view: MarketView, name: str) -> str:
    verdict = view.selected.verdict
    signal = verdict.signals.get(name) if verdict is not None else None
    return signal.state if signal is not None else "unknown"


def cells(markup: str) -> int:
    """How many terminal cells a piece of content markup takes."""
    return Content.from_markup(markup).cell_length


def first_fitting(width: int, candidates: Sequence[str]) -> str:
    """The most detailed markup that fits ``width`` cells, so nothing is ever cut mid-word."""
    for candidate in candidates:
        if cells(candidate) <= width:
            return candidate
    return candidates[-1]


def spread(width: int, left: str, right: str) -> str:
    """``left`` and ``right`` on one line, pushed to the edges (wider than ``width`` if they cannot fit,
    so that ``first_fitting`` moves on to a shorter candidate)."""
    gap = max(1, width - cells(left) - cells(right))
    return f"{left}{' ' * gap}{right}"


def theme_rgb(widget: Widget, variable: str) -> tuple[int, int, int]:
    """A theme colour as the RGB tuple plotext wants."""
    variables = widget.app.theme_variables
    return Color.parse(variables.get(variable) or variables["foreground"]).rgb


class TextBlock(Widget):
    """A few lines of markup rebuilt from data at the current width (cheap; no child widgets)."""

    DEFAULT_CSS = """
    TextBlock { height: auto; }
    """

    def __init__(self, build: Callable[[int], str], *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self._build = build

    def render(self) -> RenderResult:
        return Content.from_markup(self._build(max(self.size.width, 1)))

    def get_content_height(self, container, viewport, width: int) -> int:
        return self._build(max(width, 1)).count("\n") + 1


@dataclass(frozen=True)
class ChartSpec:
    """What a history chart draws: one line against time relative to ``now``."""

    line: Line
    now: int | None
    span_ms: int
    title: str
    colour: str
    """Theme variable of the line."""
    y_ticks: tuple[float, ...] = ()
    y_labels: tuple[str, ...] = ()
    y_limits: tuple[float, float] | None = None
    guides: tuple[tuple[float, str], ...] = ()
    """Horizontal reference lines: (y, theme variable)."""


def time_ticks(span_ms: int) -> tuple[list[float], list[str], int]:
    """Ticks for an x axis of time before now, in hours for a day or less, else days."""
    unit, suffix = (HOUR, "h") if span_ms <= DAY else (DAY, "d")
    span = span_ms / unit
    step = next(s for s in (1, 2, 3, 5, 6, 7, 10, 12, 14, 15, 30, 60) if span / s <= 4)
    ticks = [-float(k) for k in range(0, int(span) + 1, step)][::-1]
    labels = [f"-{-t:g}{suffix}" if t else "now" for t in ticks]
    return ticks, labels, unit


class HistoryChart(PlotextPlot):
    """A plotext line of one series over time, coloured from the app's theme."""

    DEFAULT_CSS = """
    HistoryChart { height: 1fr; min-height: 5; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.spec: ChartSpec | None = None

    def on_mount(self) -> None:
        super().on_mount()
        # Line colours come from the theme, so a theme switch has to redraw them.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._draw())

    @property
    def has_data(self) -> bool:
        return self.spec is not None and self.spec.now is not None and len(self.spec.line.ts) >= 2

    def draw(self, spec: ChartSpec) -> None:
        if spec == self.spec:
            return
        self.spec = spec
        self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        spec = self.spec
        if spec is None or not self.has_data:
            self.refresh()
            return
        ticks, labels, unit = time_ticks(spec.span_ms)
        xs = [(t - spec.now) / unit for t in spec.line.ts]
        plt.title(spec.title)
        for y, colour in spec.guides:
            plt.hline(y, theme_rgb(self, colour))
        # Quadrant blocks rather than braille: solid in every terminal font and in SVG screenshots.
        plt.plot(xs, list(spec.line.values), marker="hd", color=theme_rgb(self, spec.colour))
        plt.xlim(ticks[0], 0)
        plt.xticks(ticks, labels)
        if spec.y_limits is not None:
            plt.ylim(*spec.y_limits)
        if spec.y_ticks:
            plt.yticks(list(spec.y_ticks), list(spec.y_labels))
        self.refresh()

    def render(self) -> RenderResult:
        if not self.has_data:
            title = self.spec.title if self.spec is not None else ""
            return Align.center(Text(f"{title}\n{NO_DATA}", style="dim", justify="center"), vertical="middle")
        return super().render()


def show_sparkline(sparkline: Sparkline, line: Line) -> None:
    """Fill a sparkline, hidden (class ``-empty``) while there is nothing to draw: an empty Textual
    sparkline draws a flat baseline, which would read as a real, flat history."""
    values = list(line.values) if len(line.values) >= 2 else []
    sparkline.data = values
    sparkline.set_class(not values, "-empty")
