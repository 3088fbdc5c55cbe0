"""The Sentiment panel: the Crypto Fear & Greed Index, its zones, its signal and its 30 days."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.widgets import Sparkline

from levtop.thresholds import Thresholds
from levtop.widgets.flow_parts import (
    HISTORY_WINDOW,
    NO_DATA,
    STATE_COLOURS,
    TextBlock,
    first_fitting,
    history_chart,
    show_sparkline,
    signal_state,
    spread,
    state_badge,
)
from levtop.widgets.panel import Panel

if TYPE_CHECKING:
    from levtop.view import MarketView, SentimentView

# The default zones, for a gauge drawn without a view (the view carries the configured ones).
_DEFAULTS = Thresholds()
FEAR_MAX = _DEFAULTS.sentiment_fear_max
GREED_ABOVE = _DEFAULTS.sentiment_greed_above

SENTIMENT_MOODS = {
    "good": "fear: good for a rebuild",
    "warn": "neutral",
    "bad": "greed: dangerous",
    "unknown": "no fresh index",
}



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
    SentimentPanel.-short #sentiment-gauge, SentimentPanel.-short #sentiment-chart { margin-top: 0; }
    SentimentPanel.-tight #sentiment-gauge { height: 1; }
    SentimentPanel.-compact #sentiment-gauge { height: 1; margin-top: 0; }
    SentimentPanel.-compact #sentiment-chart { display: none; }
    SentimentPanel.-compact #sentiment-spark { display: block; margin-top: 0; }
    SentimentPanel.-compact #sentiment-spark.-empty { display: none; }
    """

    def __init__(self, *, deferred: bool = False, id: str | None = None, classes: str | None = None):
        super().__init__(deferred=deferred, id=id, classes=classes)
        self.sentiment: SentimentView | None = None
        self.state = "unknown"

    def compose_body(self) -> ComposeResult:
        from levtop.widgets.chart import TimeChart  # plotext: after the first frame

        yield TextBlock(self._headline, id="sentiment-headline")
        yield TextBlock(self._gauge, id="sentiment-gauge")
        yield TimeChart(id="sentiment-chart")
        yield Sparkline([], id="sentiment-spark")

    def full_rows(self) -> int:
        # The headline, the gauge and its zones, the chart's title and eight rows, two gaps.
        return 1 + 2 + 1 + 8 + 2

    def shown_key(self, view: MarketView) -> object:
        return (view.selected.sentiment, signal_state(view, "sentiment"), view.chart_windows.get(HISTORY_WINDOW))

    def draw(self, view: MarketView) -> None:
        sentiment = view.selected.sentiment
        self.sentiment, self.state = sentiment, signal_state(view, "sentiment")
        for block in self.query(TextBlock):
            block.update()
        self.query_one("#sentiment-chart").draw(history_chart(
            # A short panel gives the title's row to the chart: its x axis says -30d already.
            view, sentiment.line, "" if self.short else f"Fear & Greed · {HISTORY_WINDOW}", y_label=zone_tick,
            # The zones are the guide lines (and the gauge above names them).
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
        if self.compact or self.tight:
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


def zone_tick(value: float) -> str:
    return f"{value:g}"


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
