"""Open interest: how much leverage is open, where, and how fast it is coming back.

This module also holds the pieces the three market panels (open interest, funding, long/short)
share, so that a venue has the same colour in every table, sparkline and chart: the venue
palette, the per-venue row, the time chart and the signal badge.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.color import Color
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.style import Style
from textual.widget import Widget
from textual.widgets import Sparkline, Static
from textual_plotext import PlotextPlot

from levtop import fmt
from levtop.model import DAY, HOUR, VENUES
from levtop.view import Line, MarketView
from levtop.widgets.glyphs import STATE_COLOUR, STATE_GLYPH
from levtop.widgets.panel import Panel

NO_DATA = "no data yet"

VENUE_PALETTE_VARIABLES = ("primary", "accent", "foreground")
"""Theme colours for venues in VENUES order. $secondary is usually a shade of $primary, too
close to tell two thin chart lines apart, so the third venue takes the foreground colour."""

MIN_BRIGHTNESS_GAP = 0.3
"""A chart line this much brighter or darker than the background stays visible."""


# -- colours -----------------------------------------------------------------------------------


def _theme_color(variables: Mapping[str, str], name: str, fallback: str) -> Color:
    try:
        return Color.parse(variables.get(name) or fallback)
    except Exception:  # a theme variable that is not a plain colour (e.g. "auto 87%")
        return Color.parse(fallback)


def readable_on(color: Color, background: Color) -> Color:
    """``color`` lightened or darkened until it stands out from ``background``."""
    darker = background.brightness > 0.5
    for _ in range(10):
        if abs(color.brightness - background.brightness) >= MIN_BRIGHTNESS_GAP:
            break
        color = color.darken(0.08) if darker else color.lighten(0.08)
    return color


def venue_colors(widget: Widget, venues: Sequence[str]) -> dict[str, Color]:
    """A stable colour per venue from the app's theme: binance, bybit, okx always look the same."""
    variables = widget.app.theme_variables
    background = widget.background_colors[1]
    palette = [readable_on(_theme_color(variables, name, "#888888"), background)
               for name in VENUE_PALETTE_VARIABLES]
    order = list(VENUES) + sorted(v for v in venues if v not in VENUES)
    return {v: palette[order.index(v) % len(palette)] for v in venues}


def muted_color(widget: Widget) -> Color:
    background = widget.background_colors[1]
    foreground = _theme_color(widget.app.theme_variables, "foreground",
                              "#000000" if background.brightness > 0.5 else "#ffffff")
    return background.blend(foreground, 0.6)


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
    VenueRow > .venue-text { width: auto; }
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

    def set(self, text: Content, history: Sequence[float], color: Color | None) -> None:
        self.text.update(text)
        self.sparkline.data = list(history) if len(history) >= 2 else []
        if color is not None:
            self.sparkline.max_color = color
            self.sparkline.min_color = color.with_alpha(0.35)
        self.sparkline.refresh()


class VenueRows(Vertical):
    """The per-venue table: rows are created when the venue set changes, updated in place after."""

    DEFAULT_CSS = """
    VenueRows { height: auto; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[VenueRow] = []

    def rows(self, venues: Sequence[str]) -> list[VenueRow]:
        if [row.venue for row in self._rows] != list(venues):
            self.remove_children()
            self._rows = [VenueRow(v) for v in venues]
            self.mount_all(self._rows)
        return self._rows


# -- time chart --------------------------------------------------------------------------------


WINDOW_SPAN = {"1d": (DAY, HOUR, "h"), "7d": (7 * DAY, DAY, "d"), "30d": (30 * DAY, DAY, "d")}
"""Chart window -> (span ms, x unit ms, unit suffix)."""


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


@dataclass
class ChartSpec:
    title: str
    window: str
    now: int
    lines: dict[str, Line]
    y_label: Callable[[float], str]
    guides: list[tuple[float, str]] = field(default_factory=list)
    """Horizontal guide lines: (value, theme colour variable, "" for muted)."""


class VenueChart(PlotextPlot):
    """A line per venue over the app's window, x in hours/days before now; 'no data yet' if empty.

    ``draw`` only stores what to plot; the plot is built in ``render`` so that a theme switch
    redraws it with the new theme's colours.
    """

    DEFAULT_CSS = """
    VenueChart { height: 1fr; min-height: 5; }
    """

    spec: ChartSpec | None = None

    def draw(self, spec: ChartSpec) -> None:
        if spec == self.spec:
            return  # the same picture: skip rebuilding the plot, the costly part of a refresh
        self.spec = spec
        self.refresh()

    @property
    def has_data(self) -> bool:
        return self.spec is not None and any(len(line.ts) >= 2 for line in self.spec.lines.values())

    def render(self) -> RenderResult:
        width, height = self.size
        if not self.has_data or width < 12 or height < 3:
            message = NO_DATA if not self.has_data else ""
            return Content(message.center(max(width, len(message))))
        spec = self.spec
        assert spec is not None
        span, unit, suffix = WINDOW_SPAN.get(spec.window, WINDOW_SPAN["7d"])
        plt = self._plot
        plt.clear_figure()
        plt.theme("clear")  # no canvas colour: the chart sits on the panel's own background
        plt.plotsize(width, height)
        plt._set_size(width, height)
        muted = muted_color(self)
        plt.ticks_color(muted.rgb)
        plt.xaxes(True, False)  # an L-shaped frame: the box's top and right edges carry nothing
        plt.yaxes(True, False)

        colors = venue_colors(self, list(spec.lines))
        values: list[float] = [value for value, _ in spec.guides]
        # Guides first: plotext draws later series on top, and the venues' lines matter more.
        for value, variable in spec.guides:
            guide = _theme_color(self.app.theme_variables, variable, muted.hex) if variable else muted
            plt.hline(value, readable_on(guide, self.background_colors[1]).rgb)
        for venue, line in spec.lines.items():
            if len(line.ts) < 2:
                continue
            xs = [(t - spec.now) / unit for t in line.ts]
            values += line.values
            plt.plot(xs, list(line.values), color=colors[venue].rgb, marker="braille")

        low, high = min(values), max(values)
        pad = (high - low) * 0.08 or abs(high) * 0.05 or 1.0
        low, high = low - pad, high + pad
        plt.ylim(low, high)
        ticks = nice_ticks(low, high, max(3, min(6, height // 2 + 1)))
        plt.yticks(ticks, [spec.y_label(t) for t in ticks])

        plt.xlim(-span / unit, 0)
        x_ticks = _time_ticks(span // unit, suffix, width)
        plt.xticks([x for x, _ in x_ticks], [label for _, label in x_ticks])
        return Text.from_ansi(plt.build())


def _time_ticks(units: int, suffix: str, width: int) -> list[tuple[float, str]]:
    """'-7d' ... 'now' with as many labels as fit the chart's width (one per ~8 columns)."""
    step = next((s for s in (1, 2, 3, 4, 5, 6, 10, 12) if units // s + 1 <= max(2, width // 8)), units)
    ticks = [(-float(k), f"-{k}{suffix}") for k in range(step, units + 1, step)]
    return sorted(ticks) + [(0.0, "now")]


# -- the panel ---------------------------------------------------------------------------------


class MarketPanel(Panel):
    """A panel made of a headline, a per-venue table and a per-venue chart."""

    DEFAULT_CSS = """
    MarketPanel > .headline { height: auto; }
    MarketPanel > VenueRows { margin-top: 1; }
    MarketPanel > .caption { margin-top: 1; height: 1; color: $text-muted; text-align: center; }
    MarketPanel.-compact > VenueRows { margin-top: 0; }
    MarketPanel.-compact VenueRow > Sparkline { display: block; }
    MarketPanel.-compact > VenueChart, MarketPanel.-compact > .caption { display: none; }
    """

    _last_view: MarketView | None = None
    """What ``show`` was last given: redrawn as is when compact mode or the theme changes."""

    def compose(self) -> ComposeResult:
        yield Static(classes="headline", markup=False)
        yield VenueRows()
        yield Static(classes="caption", markup=False)
        yield VenueChart()

    def on_mount(self) -> None:
        # Venue colours come from the theme: a theme switch recolours the table and sparklines.
        self.app.theme_changed_signal.subscribe(self, self._recolour)

    def _recolour(self, _theme: object) -> None:
        if self._last_view is not None:
            self.show(self._last_view)

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        if self._last_view is not None:
            self.show(self._last_view)

    @property
    def headline(self) -> Static:
        return self.query_one(".headline", Static)

    @property
    def chart(self) -> VenueChart:
        return self.query_one(VenueChart)

    def draw_chart(self, spec: ChartSpec, legend: Content | str = "") -> None:
        """The chart and its caption: what is drawn, over which window, what the guides mean."""
        caption = Content.assemble(spec.title, " · ", spec.window, *(("  ", legend) if legend else ()))
        self.query_one(".caption", Static).update(caption)
        self.chart.draw(spec)

    def venue_rows(self, venues: Sequence[str]) -> list[VenueRow]:
        return self.query_one(VenueRows).rows(venues)


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

    def show(self, view: MarketView) -> None:
        self._last_view = view
        oi = view.selected.open_interest
        asset = view.selected.asset
        verdict = view.selected.verdict

        if oi.total_usd is None and oi.total_base is None:
            total = Content.styled(NO_DATA, "bold")
        else:
            coins = f"{fmt.number(oi.total_base, 0)} {asset}" if oi.total_base is not None else f"n/a {asset}"
            total = Content.assemble((fmt.usd(oi.total_usd), "bold"), "  ", (coins, "$text-muted"))
        changes = Content.assemble(("24h ", "$text-muted"), change(oi.change_24h), "  ",
                                   ("7d ", "$text-muted"), change(oi.change_7d))
        no_flush = verdict is not None and verdict.flush is None

        lines: list[Content] = []
        if self.compact:
            lines.append(total)
            lines.append(changes)
            lines.append(_join([Content.assemble(("peak ", "$text-muted"), change(oi.drawdown_30d)),
                                Content.assemble(("rebuild ", "$text-muted"), change(oi.rebuild))]))
        else:
            lines.append(total)
            lines.append(changes)
            lines.append(Content.assemble(change(oi.drawdown_30d), (" vs 30d peak", "$text-muted")))
            lines.append(self._rebuild_text(oi.rebuild, oi.rebuild_since, no_flush))
            if verdict is not None:
                lines.append(_join([self._signal(verdict.signals.get("oi_rebuild"), "rebuild"),
                                    self._signal(verdict.signals.get("oi_level"), "level")], "   "))
        self.headline.update(Content("\n").join(lines))

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

        self.draw_chart(ChartSpec("USD OI by venue", view.window, view.now or 0, dict(oi.lines), usd_tick))

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
