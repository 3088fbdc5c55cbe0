"""Open interest: how much leverage is open, where, and how fast it is coming back.

This module also holds the pieces the three market panels (open interest, funding, long/short)
share, so that a venue has the same colour in every table, sparkline and chart: the venue
palette, the per-venue row, the chart and the signal badge.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.style import Style
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from levtop import fmt
from levtop.model import VENUES
from levtop.widgets.chart_spec import ChartSpec
from levtop.widgets.colours import readable_on, theme_color
from levtop.widgets.glyphs import NO_DATA, STATE_COLOUR, STATE_GLYPH
from levtop.widgets.panel import Panel, set_text

if TYPE_CHECKING:
    from levtop.view import Line, MarketView
    from levtop.widgets.chart import TimeChart

VENUE_PALETTE_VARIABLES = ("primary", "accent", "foreground")
"""Theme colours for venues in VENUES order. $secondary is usually a shade of $primary, too
close to tell two thin chart lines apart, so the third venue takes the foreground colour."""


# -- colours -----------------------------------------------------------------------------------


def venue_variable(venue: str) -> str:
    """The theme variable of a venue's colour: binance, bybit, okx always look the same."""
    order = list(VENUES) if venue in VENUES else [*VENUES, venue]
    return VENUE_PALETTE_VARIABLES[order.index(venue) % len(VENUE_PALETTE_VARIABLES)]


def venue_colors(widget: Widget, venues: Sequence[str]) -> dict[str, Color]:
    """Each venue's colour in the app's theme, readable on the widget's background."""
    variables = widget.app.theme_variables
    background = widget.background_colors[1]
    return {v: readable_on(theme_color(variables, venue_variable(v), "#888888"), background) for v in venues}


def venue_lines(lines: Mapping[str, Line]) -> tuple[tuple[Line, str], ...]:
    """A chart's lines, one per venue in its colour."""
    return tuple((line, venue_variable(venue)) for venue, line in lines.items())


# -- text pieces -------------------------------------------------------------------------------


def state_badge(state: str, word: str) -> Content:
    """'✔ neutral' in $good, '✖ overheated' in $bad, '? unknown' muted: colour never alone."""
    glyph = STATE_GLYPH.get(state, STATE_GLYPH["unknown"])
    colour = STATE_COLOUR.get(state, STATE_COLOUR["unknown"])
    return Content.from_markup(f"[b {colour}]$glyph $word[/]", glyph=glyph, word=word)


def change(fraction: float | None, digits: int = 1) -> str:
    """'▲+6.4%', '▼-2.7%', 'n/a': the arrow carries the direction without colour.

    Arrow and number are one word, so wrapping never separates them."""
    if fraction is None or not math.isfinite(fraction):
        return "n/a"
    text = fmt.pct(fraction, digits)
    arrow = "▲" if text.startswith("+") and text.strip("+0.%") else "▼" if text.startswith("-") else "•"
    return f"{arrow}{text}"


def swatch(color: Color | None, text: str = "━━") -> Content:
    return Content.styled(text, Style(foreground=color)) if color is not None else Content(text)


def share_bar(share: float | None, width: int) -> str:
    """A horizontal bar of ``share`` (0..1) of ``width`` cells, in eighths of a cell."""
    if share is None or not math.isfinite(share) or width <= 0:
        return ""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")


def usd_tick(value: float) -> str:
    """An axis label: '$6B' and '$2.5B' rather than '$6.00B' and '$2.50B'."""
    return re.sub(r"\.?0+(?=[KMBT]$)", "", fmt.usd(value))


# -- per-venue row -----------------------------------------------------------------------------


class VenueRow(Horizontal):
    """One venue: its figures as text and, in compact panels, a sparkline of its history."""

    DEFAULT_CSS = """
    VenueRow { height: 1; width: 1fr; }
    VenueRow > .venue-text { width: 1fr; }
    VenueRow > Sparkline { width: 1fr; min-width: 4; margin-left: 2; display: none; }
    """

    def __init__(self, venue: str) -> None:
        super().__init__(classes=f"venue-{venue}")
        self.venue = venue
        self.text = Static(classes="venue-text", markup=False)
        self.sparkline = Sparkline()

    def compose(self) -> ComposeResult:
        yield self.text
        yield self.sparkline

    def show_venue(self, venue: str) -> None:
        if venue != self.venue:
            self.remove_class(f"venue-{self.venue}")
            self.add_class(f"venue-{venue}")
            self.venue = venue

    def set(self, text: Content, history: Sequence[float], color: Color | None) -> None:
        set_text(self.text, text)
        data = list(history) if len(history) >= 2 else []
        if data != self.sparkline.data:
            self.sparkline.data = data
        if color is not None and color != self.sparkline.max_color:
            self.sparkline.max_color = color
            self.sparkline.min_color = color.with_alpha(0.35)


class VenueRows(Vertical):
    """The per-venue table: a row per venue, updated in place. The venues come largest first, so
    their order moves between assets: rows are reused by position (remounting them on each key
    made a dozen widgets of garbage, and a garbage collection pass of a quarter second every few
    seconds in a liquidation burst). An asset listed on fewer venues hides the rows it leaves over."""

    DEFAULT_CSS = """
    VenueRows { height: auto; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[VenueRow] = []

    def rows(self, venues: Sequence[str]) -> list[VenueRow]:
        venues = list(venues)
        if len(self._rows) < len(venues):
            new = [VenueRow(v) for v in venues[len(self._rows):]]
            self._rows += new
            self.mount_all(new)
        for n, row in enumerate(self._rows):
            if n < len(venues):
                row.show_venue(venues[n])
            row.display = n < len(venues)
        return self._rows[:len(venues)]


# -- the panel ---------------------------------------------------------------------------------


class MarketPanel(Panel):
    """A panel made of a headline, a per-venue table and a per-venue chart.

    Three layouts, by the room the panel has: the full one (headline, venue table, caption,
    chart); a short one when the panel is too low for that and a useful chart (a one or two line
    headline, and a legend naming each venue's figure in its line colour instead of the table);
    and the compact one at 80x24 (no chart: a sparkline per venue row).
    """

    FULL_HEADLINE_ROWS = 3
    """The full headline's height, blank lines included: with the venue table, the gaps, the
    caption and CHART_ROWS, what the full layout needs."""
    CHART_ROWS = 8
    """The fewest rows a chart reads well in: its axis and labels take two."""

    DEFAULT_CSS = """
    MarketPanel > .headline { height: auto; }
    MarketPanel > VenueRows { margin-top: 1; }
    MarketPanel > .caption { margin-top: 1; height: 1; color: $text-muted; text-align: center; }
    MarketPanel.-short > VenueRows { display: none; }
    MarketPanel.-short > .caption { margin-top: 0; }
    MarketPanel.-compact > VenueRows { margin-top: 0; }
    MarketPanel.-compact VenueRow > Sparkline { display: block; }
    /* Only beside a sparkline does the text's width matter: elsewhere a new width needs no layout. */
    MarketPanel.-compact VenueRow > .venue-text { width: auto; }
    MarketPanel.-compact > TimeChart, MarketPanel.-compact > .caption { display: none; }
    """

    def compose_body(self) -> ComposeResult:
        # plotext (40 ms of imports) comes with the chart, after the first frame.
        from levtop.widgets.chart import TimeChart

        yield Static(classes="headline", markup=False)
        yield VenueRows()
        yield Static(classes="caption", markup=False)
        yield TimeChart()

    def full_rows(self) -> int:
        return self.FULL_HEADLINE_ROWS + len(VENUES) + 3 + self.CHART_ROWS

    @property
    def headline(self) -> Static:
        return self.query_one(".headline", Static)

    @property
    def chart(self) -> TimeChart:
        return self.query_one("TimeChart")  # type: ignore[return-value]

    def set_headline(self, lines: Sequence[Content]) -> None:
        set_text(self.headline, Content("\n").join(lines))

    def draw_chart(self, view: MarketView, title: str, lines: Mapping[str, Line], y_label: Callable[[float], str],
                   guides: tuple[tuple[float, str], ...] = (), legend: Content | str = "",
                   figures: Mapping[str, str] | None = None) -> None:
        """The chart of a line per venue over the app's window, and its caption: what is drawn,
        over which window, what the guides mean; in the short layout, each venue's line colour
        and its figure (``figures``), which stand in for the venue table."""
        if self.short:
            caption = venue_legend(self, figures or {}, view.window, legend, self.content_size.width)
        else:
            caption = Content.assemble(title, " · ", view.window, *(("  ", legend) if legend else ()))
        set_text(self.query_one(".caption", Static), caption, layout=False)
        start, end = view.chart_windows.get(view.window, (0, 1))
        self.chart.draw(ChartSpec(venue_lines(lines), end, end - start, y_label, guides=guides,
                                  subject=view.selected.asset))

    def venue_rows(self, venues: Sequence[str]) -> list[VenueRow]:
        return self.query_one(VenueRows).rows(venues)


def fit(width: int, candidates: Sequence[Content]) -> Content:
    """The first candidate that fits ``width`` cells (the last one if none does): the most
    detailed line the panel has room for, never a line wrapped mid-phrase."""
    return next((c for c in candidates if c.cell_length <= width), candidates[-1])


def venue_legend(widget: Widget, figures: Mapping[str, str], window: str, legend: Content | str,
                 width: int) -> Content:
    """'━ binance 53%  ━ bybit 31%  ━ okx 16% · 7d': each venue in its chart line's colour with
    its figure, then the window; fewer details when the width is short."""
    colors = venue_colors(widget, list(figures))

    def entries(with_figures: bool) -> Content:
        return _join([Content.assemble(swatch(colors[v], "━"), f" {v}", f" {figure}" if with_figures else "")
                      for v, figure in figures.items()])

    window_part = Content.styled(f" · {window}", "$text-muted")
    extra = (Content.assemble("  ", legend),) if legend else ()
    return fit(width, [
        Content.assemble(entries(True), window_part, *extra),
        Content.assemble(entries(True), window_part),
        entries(True),
        Content.assemble(entries(False), window_part, *extra),
        Content.assemble(entries(False), window_part),
        entries(False),
    ])


def _join(parts: Sequence[str | Content], separator: str = "  ") -> Content:
    pieces: list[str | Content] = []
    for part in parts:
        if pieces:
            pieces.append(separator)
        pieces.append(part)
    return Content.assemble(*pieces)


class OpenInterestPanel(MarketPanel):
    """Aggregate OI (USD and coins), its split by venue, its changes and its rebuild since a flush."""

    TITLE = "Open Interest"
    FULL_HEADLINE_ROWS = 5

    def shown_key(self, view: MarketView) -> object:
        verdict = view.selected.verdict
        signals = (verdict.signals.get("oi_rebuild"), verdict.signals.get("oi_level")) if verdict else None
        no_flush = verdict is not None and verdict.flush is None
        return (view.selected.asset, view.selected.open_interest, signals, no_flush, view.window,
                view.chart_windows.get(view.window))

    def draw(self, view: MarketView) -> None:
        oi = view.selected.open_interest
        asset = view.selected.asset
        verdict = view.selected.verdict
        width = self.content_size.width

        usd = Content.styled(fmt.usd(oi.total_usd), "bold")
        if oi.total_usd is None and oi.total_base is None:
            total = usd = Content.styled(NO_DATA, "bold")
        else:
            coins = f"{fmt.number(oi.total_base, 0)} {asset}" if oi.total_base is not None else f"n/a {asset}"
            total = Content.assemble(usd, "  ", (coins, "$text-muted"))
        day = Content.assemble(("24h ", "$text-muted"), change(oi.change_24h))
        week = Content.assemble(("7d ", "$text-muted"), change(oi.change_7d))
        changes = _join([day, week])
        no_flush = verdict is not None and verdict.flush is None
        peak = Content.assemble(("peak ", "$text-muted"), change(oi.drawdown_30d))
        rebuild = Content.assemble(("rebuild ", "$text-muted"), change(oi.rebuild))
        badges = ([self._signal(verdict.signals.get("oi_rebuild"), "rebuild"),
                   self._signal(verdict.signals.get("oi_level"), "level")] if verdict is not None else [])

        lines: list[Content] = []
        if self.compact:
            lines.append(fit(width, [_join([usd, changes]), _join([usd, day, week], " "), _join([usd, day])]))
            # With no flush in the trap window there is nothing to rebuild from: say so, not "n/a".
            since = rebuild if oi.rebuild is not None else \
                Content.styled("no flush" if no_flush else "rebuild n/a", "$text-muted")
            lines.append(fit(width, [_join([peak, since]), _join([peak, since], " "), peak]))
        elif self.short:
            # Two lines: the figures, then where OI stands against its peak and the two verdicts.
            lines.append(fit(width, [_join([total, changes]), _join([usd, changes]), _join([usd, day])]))
            since = [rebuild] if oi.rebuild is not None else []
            if not self.tight:  # the status bar carries both verdicts too
                lines.append(fit(width, [_join([peak, *since, *badges]), _join([peak, *since, *badges[1:]]),
                                         _join([peak, *badges[1:]]), _join(badges[1:] or [peak])]))
        else:
            lines.append(total)
            lines.append(changes)
            lines.append(Content.assemble(change(oi.drawdown_30d), (" vs 30d peak", "$text-muted")))
            lines.append(self._rebuild_text(oi.rebuild, oi.rebuild_since, no_flush))
            if badges:
                lines.append(_join(badges, "   "))
        self.set_headline(lines)

        venues = list(oi.venues)
        colors = venue_colors(self, venues)
        name_width = max((len(v) for v in venues), default=0)
        usd_texts = {v: fmt.usd(oi.venues[v].usd) for v in venues}
        usd_width = max((len(t) for t in usd_texts.values()), default=0)
        for row in self.venue_rows(venues):
            venue = oi.venues[row.venue]
            share = fmt.pct(venue.share, 0 if self.compact else 1, signed=False)
            prefix: list[str | Content] = [] if self.compact else [swatch(colors[row.venue]), " "]
            parts: list[str | Content | tuple[str, str | Style]] = [
                *prefix, row.venue.ljust(name_width), "  ",
                usd_texts[row.venue].rjust(usd_width), "  ", share.rjust(5 if not self.compact else 4),
            ]
            if not self.compact:
                parts += ["  ", (share_bar(venue.share, 12), Style(foreground=colors[row.venue]))]
            line = oi.lines.get(row.venue)
            row.set(Content.assemble(*parts), line.values if line else (), colors[row.venue])

        self.draw_chart(view, "USD OI by venue", oi.lines, usd_tick,
                        figures={v: fmt.pct(oi.venues[v].share, 0, signed=False) for v in venues})

    @staticmethod
    def _rebuild_text(rebuild: float | None, since: int | None, no_flush: bool) -> Content:
        if rebuild is None or since is None:
            return Content.styled("no flush to rebuild from" if no_flush else "rebuild n/a", "$text-muted")
        since_text = f" since trough {fmt.utc(since, with_time=False)}"
        return Content.assemble(change(rebuild), (since_text, "$text-muted"))

    @staticmethod
    def _signal(signal, name: str) -> Content:
        if signal is None:
            return state_badge("unknown", f"{name} unknown")
        words = {
            "rebuild": {"good": "slow rebuild", "warn": "quick rebuild", "bad": "rebuild too fast",
                        "unknown": "rebuild unknown"},
            "level": {"good": "below ceiling", "warn": "not yet stable",
                      "bad": "above ceiling", "unknown": "level unknown"},
        }[name]
        return state_badge(signal.state, words.get(signal.state, f"{name} {signal.state}"))
