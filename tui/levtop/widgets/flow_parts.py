"""Pieces the Liquidations, Sentiment and Flows panels share, so they read the same way:
signal badges (glyph + word), text that fits the width it has, the history chart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from textual.app import RenderResult
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Sparkline

from levtop.widgets.chart_spec import ChartSpec
from levtop.widgets.glyphs import NO_DATA
from levtop.widgets.markup import parse

if TYPE_CHECKING:
    from levtop.view import Line, MarketView

HISTORY_WINDOW = "30d"
"""The Sentiment and Flows charts' window (view.HISTORY_SPAN), whatever the app's chart window."""

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
    return parse(markup).cell_length


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


class TextBlock(Widget):
    """A few lines of markup rebuilt from data at the current width (cheap; no child widgets)."""

    DEFAULT_CSS = """
    TextBlock { height: auto; }
    """

    def __init__(self, build: Callable[[int], str], *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self._build = build
        self._drawn: tuple[int, str, Content] | None = None
        """(width, markup, parsed) of the last render: a repaint of the same text parses nothing."""

    def render(self) -> RenderResult:
        width = max(self.size.width, 1)
        markup = self._build(width)
        if self._drawn is None or self._drawn[:2] != (width, markup):
            self._drawn = (width, markup, parse(markup))
        return self._drawn[2]

    def update(self) -> None:
        """Build the text again: nothing when it did not change (most refreshes at a fast
        market), a repaint when it did, and a layout pass only when its height follows the text
        and the number of lines changed."""
        drawn = self._drawn
        markup = self._build(max(self.size.width, 1))
        if drawn is not None and drawn[:2] == (max(self.size.width, 1), markup):
            return
        auto = self.styles.height is None or self.styles.height.is_auto
        self.refresh(layout=auto and (drawn is None or drawn[1].count("\n") != markup.count("\n")))

    def get_content_height(self, container, viewport, width: int) -> int:
        return self._build(max(width, 1)).count("\n") + 1


def history_chart(view: MarketView, line: Line, title: str, **options: object) -> ChartSpec:
    """The spec of a 30-day chart of one line in the accent colour, drawn in blocks."""
    start, end = view.chart_windows.get(HISTORY_WINDOW, (0, 1))
    return ChartSpec(((line, "accent"),), end, end - start, title=title, dots="blocks",
                     subject=view.selected.asset, **options)


def show_sparkline(sparkline: Sparkline, line: Line) -> None:
    """Fill a sparkline, hidden (class ``-empty``) while there is nothing to draw: an empty Textual
    sparkline draws a flat baseline, which would read as a real, flat history."""
    values = list(line.values) if len(line.values) >= 2 else []
    sparkline.data = values
    sparkline.set_class(not values, "-empty")
