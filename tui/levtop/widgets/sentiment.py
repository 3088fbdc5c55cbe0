"""The Sentiment panel: the Crypto Fear & Greed Index, its zones, its signal and its 30 days.

Also home of the small pieces the flow panels share (signal badges, width-fitting text, the
history chart), so that Liquidations, Sentiment and Flows read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from rich.align import Align
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.color import Color
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Sparkline
from textual_plotext import PlotextPlot

from levtop.model import DAY, HOUR
from levtop.signals import Thresholds
from levtop.view import Line, MarketView, SentimentView
from levtop.widgets.panel import Panel

NO_DATA = "no data yet"

STATE_BADGES = {
    "good": "[$good]✔ good[/]",
    "warn": "[$warn]▲ warn[/]",
    "bad": "[b $bad]✖ bad[/]",
    "unknown": "[$text-muted]? unknown[/]",
}
"""A signal state as glyph + word, so it reads without colour too."""

STATE_COLOURS = {"good": "$good", "warn": "$warn", "bad": "$bad", "unknown": "$text-muted"}

# The signal's zones. The view model does not carry the configured thresholds, so the panel
# draws the defaults of design.md section 3.
_DEFAULTS = Thresholds()
FEAR_MAX = _DEFAULTS.sentiment_fear_max
GREED_ABOVE = _DEFAULTS.sentiment_greed_above

SENTIMENT_MOODS = {
    "good": "fear: good for a rebuild",
    "warn": "neutral",
    "bad": "greed: dangerous",
    "unknown": "no fresh index",
}


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


class SentimentPanel(Panel):
    """Fear & Greed: the value and its class, a 0-100 gauge with the signal's zones, the history."""

    TITLE = "Sentiment"
    DEFAULT_CSS = """
    SentimentPanel #sentiment-headline { height: 1; }
    SentimentPanel #sentiment-gauge { height: 2; margin-top: 1; }
    SentimentPanel #sentiment-spark { display: none; height: 1; margin-top: 1; }
    SentimentPanel #sentiment-spark > .sparkline--max-color { color: $warning; }
    SentimentPanel #sentiment-spark > .sparkline--min-color { color: $success; }
    SentimentPanel #sentiment-chart { margin-top: 1; }
    SentimentPanel.-compact #sentiment-gauge { height: 1; margin-top: 0; }
    SentimentPanel.-compact #sentiment-chart { display: none; }
    SentimentPanel.-compact #sentiment-spark { display: block; margin-top: 0; }
    SentimentPanel.-compact #sentiment-spark.-empty { display: none; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.sentiment: SentimentView | None = None
        self.state = "unknown"
        self.now: int | None = None

    def compose(self) -> ComposeResult:
        yield TextBlock(self._headline, id="sentiment-headline")
        yield TextBlock(self._gauge, id="sentiment-gauge")
        yield HistoryChart(id="sentiment-chart")
        yield Sparkline([], id="sentiment-spark")

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        for block in self.query(TextBlock):
            block.refresh(layout=True)

    def show(self, view: MarketView) -> None:
        sentiment = view.selected.sentiment
        state = signal_state(view, "sentiment")
        if (sentiment, state, view.now) == (self.sentiment, self.state, self.now):
            return
        self.sentiment, self.state, self.now = sentiment, state, view.now
        for block in self.query(TextBlock):
            block.refresh()
        self.query_one(HistoryChart).draw(ChartSpec(
            sentiment.line, view.now, 30 * DAY, "Fear & Greed · 30d", "accent",
            # The zones are the guide lines (and the gauge above names them): custom tick labels
            # here came out differently from run to run, as plotext drops the ones that do not fit.
            y_limits=(0, 100), guides=((sentiment.fear_max, "good"), (sentiment.greed_above, "bad")),
        ))
        show_sparkline(self.query_one(Sparkline), sentiment.line)

    # -- text ----------------------------------------------------------------------------------

    def _headline(self, width: int) -> str:
        sentiment = self.sentiment
        badge = state_badge(self.state)
        if sentiment is None or sentiment.value is None:
            return first_fitting(width, [
                spread(width, f"Fear & Greed [b]n/a[/] [$text-muted]{NO_DATA}[/]", badge),
                spread(width, f"F&G [b]n/a[/] [$text-muted]{NO_DATA}[/]", badge),
                f"F&G [b]n/a[/] [$text-muted]· {NO_DATA}[/]",
                f"[b]n/a[/] [$text-muted]{NO_DATA}[/]",
            ])
        colour = STATE_COLOURS.get(self.state, "$text-muted")
        value = f"[b {colour}]{sentiment.value:.0f}[/]"
        label = f"[{colour}]{sentiment.label}[/]" if sentiment.label else ""
        mood = SENTIMENT_MOODS.get(self.state, "")
        return first_fitting(width, [
            spread(width, f"Fear & Greed {value}[$text-muted]/100[/] {label}", f"{badge} [$text-muted]{mood}[/]"),
            spread(width, f"Fear & Greed {value}[$text-muted]/100[/] {label}", badge),
            spread(width, f"F&G {value} {label}", badge),
            spread(width, f"{value} {label}", badge),
            f"F&G {value} {badge}",
        ])

    def _gauge(self, width: int) -> str:
        value = self.sentiment.value if self.sentiment is not None else None
        fear_max = self.sentiment.fear_max if self.sentiment is not None else FEAR_MAX
        greed_above = self.sentiment.greed_above if self.sentiment is not None else GREED_ABOVE
        bar = gauge_bar(value, width, fear_max, greed_above)
        if self.compact:
            return bar
        fear, neutral, greed = f"◀ fear ≤{fear_max:g}", "neutral", f"greed >{greed_above:g} ▶"
        neutral_at = round((fear_max + greed_above) / 200 * width - len(neutral) / 2)
        right_at = width - len(greed)
        if neutral_at > len(fear) and neutral_at + len(neutral) < right_at:
            labels = (f"[$good]{fear}[/]{' ' * (neutral_at - len(fear))}[$warn]{neutral}[/]"
                      f"{' ' * (right_at - neutral_at - len(neutral))}[$bad]{greed}[/]")
        else:
            labels = first_fitting(width, [spread(width, f"[$good]{fear}[/]", f"[$bad]{greed}[/]"),
                                           f"[$good]{fear}[/]"])
        return f"{bar}\n{labels}"


def gauge_bar(value: float | None, width: int, fear_max: float = FEAR_MAX, greed_above: float = GREED_ABOVE) -> str:
    """A 0-100 bar across ``width`` cells, filled up to ``value``, each zone in its signal colour.

    Filled cells are solid blocks and the rest a light shade, so the level reads without colour.
    """
    parts: list[str] = []
    for i in range(width):
        centre = (i + 0.5) / width * 100
        zone = "$good" if centre <= fear_max else "$warn" if centre <= greed_above else "$bad"
        filled = value is not None and centre <= max(value, 100 / width / 2)
        parts.append(f"[{zone}]█[/]" if filled else f"[{zone} 50%]░[/]")
    return "".join(parts)
