"""The panels' time chart: lines against the time before now, drawn by plotext, coloured from the
theme.

One widget serves every panel: the market panels draw a line per venue in braille dots, the
Sentiment and Flows panels one line in quadrant blocks (solid in any font and in SVG
screenshots). plotext lays out the L-shaped frame, the ticks, the guides and the lines; the
colours are levtop's own, applied to plotext's cells afterwards (see ``render_chart``).

plotext costs time in proportion to the points it joins, so each line is thinned to two points
a column first, and a chart is built again only when what it shows, its size or the theme
changed; new data for the same asset is drawn at most every REDRAW_EVERY_S.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Callable, Sequence
from weakref import WeakKeyDictionary, ref

from textual.app import RenderResult
from textual.color import Color
from textual.content import Content, Span
from textual.style import Style
from textual.timer import Timer
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from levtop.widgets.chart_spec import ChartSpec, nice_ticks, thin, time_ticks, time_unit, y_range
from levtop.widgets.colours import muted_color, readable_on, theme_color
from levtop.widgets.glyphs import NO_DATA

if TYPE_CHECKING:
    from textual.app import App

__all__ = ["ChartSpec", "TimeChart", "render_chart"]

MARKERS = {"braille": "braille", "blocks": "hd"}
"""ChartSpec.dots -> plotext's marker."""
DOTS_DOWN = {"braille": 4, "hd": 2}
"""Dots a marker has down one cell."""
DOT_CHARS = range(0x2580, 0x28FF + 1)
"""Block elements and braille patterns: the cells that carry a line's dots."""
AXIS = 1
"""plotext colour number of the axes and tick labels; a chart's own colours follow it. plotext
takes any of 0-255 as a colour and leaves it in its cells, which is how its cells are told apart."""


def render_chart(spec: ChartSpec, width: int, height: int, colour_of: Callable[[str], Color], muted: Color,
                 plt: Plot | None = None) -> Content:
    """The chart as ``height`` lines of ``width`` cells, built by plotext (``plt``: a plot to
    reuse, as a TimeChart does its own)."""
    plt = Plot() if plt is None else plt
    plt.clear_figure()
    # The title is a row of its own above plotext's: plotext 5 draws its unused top axis over it.
    title_rows = 1 if spec.title else 0
    plot_height = max(1, height - title_rows)
    plt.theme("clear")  # no canvas colour: the chart sits on the panel's own background
    plt.plotsize(width, plot_height)
    plt._set_size(width, plot_height)  # as PlotextPlot.render does: plotsize alone misses a resize
    plt.xaxes(True, False)  # an L-shaped frame: the box's top and right edges carry nothing
    plt.yaxes(True, False)
    plt.ticks_color(AXIS)
    palette: list[Color] = [muted, muted]

    def number(colour: Color) -> int:
        palette.append(colour)
        return len(palette) - 1

    rows = max(1, plot_height - 2)  # the x axis and its labels below
    low, high = y_range(spec)
    marker = MARKERS.get(spec.dots, "braille")
    on_row = row_snapper(low, high, rows, DOTS_DOWN[marker])
    if spec.y_ticks is not None:
        ticks = [t for t in spec.y_ticks if low <= t <= high]
    else:
        ticks = spaced([t for t in y_ticks(low, high, rows) if low <= t <= high],
                       row_of(low, high, rows, DOTS_DOWN[marker]))
    y_labels = [spec.y_label(t) for t in ticks]
    gutter = max((len(label) for label in y_labels), default=0)
    columns = max(1, width - 1 - gutter)  # the plotting area, right of the labels and the axis
    points = [(thin(line, spec.now - spec.span_ms, spec.span_ms, columns), variable) for line, variable in spec.lines]

    # Guides first: plotext draws later series on top, and the lines matter more.
    for value, variable in spec.guides:
        plt.hline(on_row(value), number(colour_of(variable) if variable else muted))
    unit, _ = time_unit(spec.span_ms)
    for (ts, values), variable in points:
        if len(ts) >= 2:
            xs = [(t - spec.now) / unit for t in ts]
            plt.plot(xs, values, marker=marker, color=number(colour_of(variable)))
    plt.xlim(-spec.span_ms / unit, 0)
    plt.ylim(low, high)
    x_ticks = time_ticks(spec.span_ms, columns)
    plt.xticks([offset / unit for offset, _ in x_ticks], [label for _, label in x_ticks])
    plt.yticks([on_row(t) for t in ticks], y_labels)
    # plotext's build() without its last step, which writes the cells out as ANSI text: levtop
    # reads the cells themselves (a tenth of the build's time).
    plt._set_sizes()
    plt._build_matrix()
    picture = cells_content(plt.monitor.matrix, palette)
    if not spec.title:
        return picture
    # Centred over the plotting area, as plotext would, or the whole width if it needs more.
    if len(spec.title) <= columns:
        title = " " * (gutter + 1) + spec.title.center(columns)
    else:
        title = spec.title.center(width) if len(spec.title) <= width else spec.title[:width - 1] + "…"
    return Content("\n").join([Content.styled(title, Style(foreground=muted, bold=True)), picture])


def row_of(low: float, high: float, rows: int, dots_down: int) -> Callable[[float], int]:
    """The row (from the bottom) where plotext draws a line's dots at a y value."""
    scale = (rows * dots_down - 1) / (high - low) if high > low else 0.0

    def row(value: float) -> int:
        return math.floor(round(0.5 + scale * (value - low), 8)) // dots_down

    return row


def row_snapper(low: float, high: float, rows: int, dots_down: int) -> Callable[[float], float]:
    """A y value moved to the middle of the row where plotext draws a line's dots at that value.

    plotext places tick labels and guides by rounding over the rows, and the dots of a line by
    rounding over the dots (four a row in braille), then dividing: near a row's edge the two
    disagree, and a label or a guide would sit a row away from the data at its own value."""
    if rows < 2 or high <= low:
        return lambda value: value
    row = row_of(low, high, rows, dots_down)
    return lambda value: low + row(value) / (rows - 1) * (high - low)


def spaced(ticks: list[float], row: Callable[[float], int]) -> list[float]:
    """The ticks with a free row between any two labels: rounding puts some a row apart."""
    kept: list[float] = []
    for tick in ticks:
        if not kept or abs(row(tick) - row(kept[-1])) >= 2:
            kept.append(tick)
    return kept


def y_ticks(low: float, high: float, rows: int) -> list[float]:
    """Round values for the y axis, about one label every other row: a range that rounds badly
    (a step of 2.5 just too small, so 5 it is) gets a finer step rather than a lone label."""
    wanted = max(3, min(6, rows // 2 + 1))
    ticks: list[float] = []
    for count in range(wanted, wanted + 4):
        ticks = nice_ticks(low, high, count)
        if len(ticks) >= max(2, wanted - 2):
            break
    return ticks


def cells_content(matrix, palette: Sequence[Color]) -> Content:
    """plotext's cells as Content, each in its palette colour (plotext numbers them; its own ANSI
    text is not parsed back). A cell holding dots gets a span of its own, as a terminal draws it:
    SVG renderers such as rsvg-convert misplace a run of braille set in a fallback font."""
    styles = [Style(foreground=colour) for colour in palette]
    lines: list[Content] = []
    for row in range(matrix.rows - 1, -1, -1):
        chars, colours = matrix.marker[row], matrix.fullground[row]
        spans: list[Span] = []
        for at, (char, colour) in enumerate(zip(chars, colours)):
            if char == " " or not isinstance(colour, int) or colour >= len(styles):
                continue
            style = styles[colour]
            last = spans[-1] if spans else None
            if (last is not None and last.end == at and last.style is style
                    and ord(char) not in DOT_CHARS and ord(chars[at - 1]) not in DOT_CHARS):
                spans[-1] = Span(last.start, at + 1, style)
            else:
                spans.append(Span(at, at + 1, style))
        lines.append(Content("".join(chars), spans, cell_length=len(chars)))
    return Content("\n").join(lines)


def no_data_picture(spec: ChartSpec | None, width: int, height: int, muted: Color) -> Content:
    title = spec.title if spec is not None else ""
    lines = [title, NO_DATA] if title else [NO_DATA]
    top = max(0, (height - len(lines)) // 2)
    return Content.styled("\n" * top + "\n".join(line.center(width) for line in lines), Style(foreground=muted))


class TimeChart(PlotextPlot):
    """Draws a ChartSpec with plotext; 'no data yet' while it has fewer than two points.

    ``draw`` stores the spec; ``render`` builds the picture and keeps it until the spec, the size
    or the theme changes. New data for the same subject and window is shown at most every
    REDRAW_EVERY_S: at a fast replay the data changes every refresh, and a chart a second would
    cost more than the whole rest of the screen. A new subject, window, size or theme is drawn at once.
    """

    DEFAULT_CSS = """
    TimeChart { height: 1fr; min-height: 5; }
    """

    MIN_SIZE = (12, 4)
    """Smaller than this, a chart says nothing useful: it stays blank."""
    REDRAW_EVERY_S = 5.0

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.spec: ChartSpec | None = None
        """The newest spec given."""
        self._shown: ChartSpec | None = None
        """The spec the picture shows (or will at the next render): the newest, or an older one
        while the newest waits for its redraw slot."""
        self._drawn: tuple[tuple[object, ...], ChartSpec | None, Content] | None = None
        self._built_at = -math.inf
        self._timer: Timer | None = None

    def on_mount(self) -> None:
        # Line colours come from the theme: a new theme draws the chart again.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    @property
    def has_data(self) -> bool:
        return self.spec is not None and self.spec.has_data

    @property
    def shows_newest(self) -> bool:
        """False while the newest spec waits for its turn or its redraw slot."""
        return self._shown == self.spec

    def draw(self, spec: ChartSpec) -> None:
        if spec == self.spec:
            return
        self.spec = spec
        shown = self._shown
        urgent = shown is None or (shown.subject, shown.span_ms, shown.dots) != (spec.subject, spec.span_ms, spec.dots)
        wait = self._built_at + self.REDRAW_EVERY_S - time.monotonic()
        if urgent or wait <= 0:
            self._show_newest(settle=shown is not None and shown.subject != spec.subject)
        elif self._timer is None:
            self._timer = self.set_timer(wait, self._show_newest)

    def _show_newest(self, settle: bool = False) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._shown != self.spec:
            draw_turns(self.app).ask(self, settle=settle)

    def take_turn(self) -> None:
        """Show the newest spec: built at the next frame (``render``)."""
        if self._shown != self.spec:
            self._shown = self.spec
            self.refresh()

    def render(self) -> RenderResult:
        width, height = self.size
        background = self.background_colors[1]
        look = (width, height, self.app.theme, background)
        if self._drawn is not None and self._drawn[0] == look and self._drawn[1] == self._shown:
            return self._drawn[2]
        if self._drawn is None or self._drawn[0] != look:
            self._shown = self.spec  # a new size or theme: the newest data at once
        picture = self._picture(self._shown, width, height, background)
        self._drawn = (look, self._shown, picture)
        return picture

    def _picture(self, spec: ChartSpec | None, width: int, height: int, background: Color) -> Content:
        muted = muted_color(self)
        if spec is None or not spec.has_data:
            return no_data_picture(spec, width, height, muted)
        if width < self.MIN_SIZE[0] or height < self.MIN_SIZE[1]:
            return Content("")
        variables = self.app.theme_variables

        def colour_of(variable: str) -> Color:
            return readable_on(theme_color(variables, variable, muted.hex), background)

        self._built_at = time.monotonic()
        return render_chart(spec, width, height, colour_of, muted, self.plt)


class DrawTurns:
    """The charts of one app waiting to show new data, drawn one at a time, TURN_S apart.

    A new asset or a redraw slot gives every chart on screen a new picture at once; built in
    one frame, six charts (about 15 ms of plotext each) would hold the screen, and any key
    pressed meanwhile, for a tenth of a second. One a turn, each frame builds at most one."""

    TURN_S = 0.025
    SETTLE_S = 0.3
    """After a new asset, how long the charts wait for the selection to settle: keys pressed
    in a row (j j j) draw the text of each asset at once, the charts of the one they stop at."""

    def __init__(self, app: App) -> None:
        self._app = ref(app)  # not the app itself: _TURNS holds this as its value, weakly keyed by the app
        self.waiting: list[TimeChart] = []
        self.next_turn = -math.inf
        self.timer: Timer | None = None

    def ask(self, chart: TimeChart, settle: bool = False) -> None:
        now = time.monotonic()
        if settle and now + self.SETTLE_S > self.next_turn:
            self.next_turn = now + self.SETTLE_S  # every waiting chart too: the asset moved on
            if self.timer is not None:
                self.timer.stop()
                self.timer = None
        if chart in self.waiting:
            self._schedule(now)
            return
        if not self.waiting and now >= self.next_turn:
            self._give(chart, now)
            return
        self.waiting.append(chart)
        self._schedule(now)

    def _give(self, chart: TimeChart, now: float) -> None:
        self.next_turn = now + self.TURN_S
        if chart.is_attached:
            chart.take_turn()

    def _schedule(self, now: float) -> None:
        app = self._app()
        if self.timer is None and self.waiting and app is not None:
            self.timer = app.set_timer(max(0.0, self.next_turn - now), self._turn)

    def _turn(self) -> None:
        self.timer = None
        if self.waiting:
            self._give(self.waiting.pop(0), time.monotonic())
        self._schedule(time.monotonic())


_TURNS: WeakKeyDictionary[App, DrawTurns] = WeakKeyDictionary()


def draw_turns(app: App) -> DrawTurns:
    turns = _TURNS.get(app)
    if turns is None:
        turns = _TURNS[app] = DrawTurns(app)
    return turns
