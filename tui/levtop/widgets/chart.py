"""The panels' time chart: lines against the time before now, coloured from the theme.

One widget serves every panel: the market panels draw a line per venue in braille dots, the
Sentiment and Flows panels one line in quadrant blocks (solid in any font and in SVG
screenshots). An L-shaped frame carries the y ticks on the left and the time ticks below;
guides are horizontal rules behind the lines.

Drawn here rather than with plotext: plotext took 30-45 ms per chart and redraw, this takes 2-3,
and only when the spec, the size or the theme changed (the result is cached).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Mapping, NamedTuple, Sequence

from textual.app import RenderResult
from textual.color import Color
from textual.content import Content, Span
from textual.style import Style
from textual.widget import Widget

from levtop.model import DAY, HOUR
from levtop.widgets.glyphs import NO_DATA

if TYPE_CHECKING:
    from levtop.view import Line

MIN_BRIGHTNESS_GAP = 0.3
"""A chart line this much brighter or darker than the background stays visible."""

BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
"""Braille dot bits by (row, column) within a cell of 2x4 dots."""
QUADRANTS = " ▘▝▀▖▌▞▛▗▚▐▜▄▙▟█"
"""Quadrant block characters indexed by bits: 1 upper left, 2 upper right, 4 lower left, 8 lower right."""
QUADRANT_BITS = ((1, 2), (4, 8))
"""Quadrant bits by (row, column) within a cell of 2x2."""
DOTS_PER_CELL = {"braille": (2, 4), "blocks": (2, 2)}
"""Dots across and down one cell, per dot style."""


# -- colours -----------------------------------------------------------------------------------


def theme_color(variables: Mapping[str, str], name: str, fallback: str) -> Color:
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


def muted_color(widget: Widget) -> Color:
    background = widget.background_colors[1]
    foreground = theme_color(widget.app.theme_variables, "foreground",
                             "#000000" if background.brightness > 0.5 else "#ffffff")
    return background.blend(foreground, 0.6)


# -- ticks -------------------------------------------------------------------------------------


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


def time_ticks(span_ms: int, width: int) -> list[tuple[float, str]]:
    """(ms before now, label) from '-7d' to 'now', as many as fit ``width`` (one per ~8 columns)."""
    unit, suffix = (HOUR, "h") if span_ms <= DAY else (DAY, "d")
    units = max(1, span_ms // unit)
    fit = max(2, width // 8)
    step = next((s for s in TICK_STEPS[suffix] if units // s + 1 <= fit), units)
    return [(-k * unit, f"-{k}{suffix}" if k else "now") for k in range(units // step * step, -1, -step)]


# -- the spec ----------------------------------------------------------------------------------


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
    """"braille" (2x4 dots a cell) or "blocks" (2x2 quadrants)."""

    @property
    def has_data(self) -> bool:
        return any(len(line.ts) >= 2 for line, _ in self.lines)


# -- drawing -----------------------------------------------------------------------------------


class Canvas:
    """Cells of dots, each cell in the colour of the last line that set a dot in it."""

    def __init__(self, columns: int, rows: int, dots: str) -> None:
        self.columns, self.rows = columns, rows
        self.dx, self.dy = DOTS_PER_CELL[dots]
        self.dots = dots
        self.bit_of = BRAILLE_BITS if dots == "braille" else QUADRANT_BITS
        self.bits = [[0] * columns for _ in range(rows)]
        self.colours: list[list[Color | None]] = [[None] * columns for _ in range(rows)]
        self.rules: dict[int, Color] = {}

    @property
    def width(self) -> int:
        return self.columns * self.dx

    @property
    def height(self) -> int:
        return self.rows * self.dy

    def line(self, points: Sequence[tuple[float, float]], colour: Color) -> None:
        """Dots along the straight segments between consecutive points (dot coordinates)."""
        dots = {(round(x), round(y)) for x, y in points[-1:]}
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            steps = max(1, round(max(abs(x1 - x0), abs(y1 - y0))))
            step_x, step_y = (x1 - x0) / steps, (y1 - y0) / steps
            dots.update((round(x0 + step_x * i), round(y0 + step_y * i)) for i in range(steps))
        width, height, dx, dy, bit_of = self.width, self.height, self.dx, self.dy, self.bit_of
        bits, colours = self.bits, self.colours
        for x, y in dots:
            if 0 <= x < width and 0 <= y < height:
                row, column = y // dy, x // dx
                bits[row][column] |= bit_of[y % dy][x % dx]
                colours[row][column] = colour

    def rule(self, y: int, colour: Color) -> None:
        """A horizontal rule through dot row ``y``, drawn where no line passes."""
        if 0 <= y < self.height:
            self.rules.setdefault(y // self.dy, colour)

    def glyph(self, row: int, column: int) -> tuple[str, Color | None]:
        bits = self.bits[row][column]
        if not bits:
            rule = self.rules.get(row)
            return ("─", rule) if rule is not None else (" ", None)
        char = chr(0x2800 + bits) if self.dots == "braille" else QUADRANTS[bits]
        return char, self.colours[row][column]


def y_range(spec: ChartSpec) -> tuple[float, float]:
    if spec.y_limits is not None:
        return spec.y_limits
    values = [v for line, _ in spec.lines if len(line.ts) >= 2 for v in line.values if math.isfinite(v)]
    values += [value for value, _ in spec.guides]
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or abs(high) * 0.05 or 1.0
    return low - pad, high + pad


def render_chart(spec: ChartSpec, width: int, height: int, colour_of: Callable[[str], Color],
                 muted: Color) -> Content:
    """The chart as ``height`` lines of ``width`` cells."""
    axis_style = Style(foreground=muted)
    title_rows = 1 if spec.title else 0
    rows = height - title_rows - 2  # the x axis and its labels below
    low, high = y_range(spec)
    ticks = list(spec.y_ticks) if spec.y_ticks is not None else nice_ticks(low, high, max(3, min(6, rows // 2 + 1)))
    labels = [spec.y_label(t) for t in ticks]
    gutter = max((len(label) for label in labels), default=0)
    canvas = Canvas(max(1, width - gutter - 1), max(1, rows), spec.dots)

    y_scale = (canvas.height - 1) / (high - low) if high > low else 0.0
    x_scale, x_origin = (canvas.width - 1) / spec.span_ms, spec.now - spec.span_ms

    def to_y(value: float) -> int:
        return round((high - value) * y_scale) if y_scale else canvas.height // 2

    for value, variable in spec.guides:
        canvas.rule(to_y(value), colour_of(variable) if variable else muted)
    for line, variable in spec.lines:
        points = [((t - x_origin) * x_scale, round((high - v) * y_scale))
                  for t, v in zip(line.ts, line.values) if math.isfinite(v)]
        canvas.line(points, colour_of(variable))

    tick_rows = {to_y(t) // canvas.dy: label for t, label in zip(ticks, labels) if low <= t <= high}
    guide_rows = set(canvas.rules)
    out: list[Content] = []
    if spec.title:
        out.append(Content.styled(spec.title.center(width)[:width], Style(foreground=muted, bold=True)))
    for row in range(canvas.rows):
        label = tick_rows.get(row)
        axis = "┤" if label is not None else "├" if row in guide_rows else "│"
        out.append(plot_row(canvas, row, (label or "").rjust(gutter) + axis, axis_style))
    out += x_axis(spec.span_ms, gutter, canvas, axis_style)
    return Content("\n").join(out)


def plot_row(canvas: Canvas, row: int, prefix: str, prefix_style: Style) -> Content:
    """A row of the canvas after ``prefix`` (its tick label and axis). Each dot cell gets a span
    of its own, as a terminal would: SVG renderers such as rsvg-convert misplace a run of braille
    set in another font. Styles are shared per colour: a row builds in well under a millisecond."""
    chars = [prefix]
    spans = [Span(0, len(prefix), prefix_style)]
    styles: dict[Color, Style] = {}
    at = len(prefix)
    for column in range(canvas.columns):
        char, colour = canvas.glyph(row, column)
        chars.append(char)
        if colour is not None:
            style = styles.get(colour) or styles.setdefault(colour, Style(foreground=colour))
            if char == "─" and spans[-1].end == at and spans[-1].style is style:
                spans[-1] = Span(spans[-1].start, at + 1, style)  # a rule is one span
            else:
                spans.append(Span(at, at + 1, style))
        at += 1
    return Content("".join(chars), spans, cell_length=at)


def x_axis(span_ms: int, gutter: int, canvas: Canvas, style: Style) -> list[Content]:
    """The axis line with a tick per label, and the labels centred under their ticks."""
    axis = ["─"] * canvas.columns
    labels = [" "] * (gutter + 1 + canvas.columns)
    for offset, label in time_ticks(span_ms, canvas.columns):
        column = round((offset + span_ms) / span_ms * (canvas.columns - 1))
        axis[column] = "┬"
        at = min(max(0, gutter + 1 + column - len(label) // 2), len(labels) - len(label))
        if all(c == " " for c in labels[max(0, at - 1):at + len(label) + 1]):
            labels[at:at + len(label)] = label
    return [Content.styled(" " * gutter + "└" + "".join(axis), style), Content.styled("".join(labels), style)]


# -- the widget --------------------------------------------------------------------------------


class TimeChart(Widget):
    """Draws a ChartSpec; 'no data yet' while it has fewer than two points."""

    DEFAULT_CSS = """
    TimeChart { height: 1fr; min-height: 5; }
    """

    MIN_SIZE = (12, 4)
    """Smaller than this, a chart says nothing useful: it stays blank."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.spec: ChartSpec | None = None
        self._drawn: tuple[object, Content] | None = None

    def on_mount(self) -> None:
        # Line colours come from the theme: a new theme draws the chart again.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())

    def _redraw(self) -> None:
        self._drawn = None
        self.refresh()

    @property
    def has_data(self) -> bool:
        return self.spec is not None and self.spec.has_data

    def draw(self, spec: ChartSpec) -> None:
        if spec != self.spec:
            self.spec = spec
            self.refresh()

    def render(self) -> RenderResult:
        width, height = self.size
        key = (self.spec, width, height)
        if self._drawn is None or self._drawn[0] != key:
            self._drawn = (key, self._picture(width, height))
        return self._drawn[1]

    def _picture(self, width: int, height: int) -> Content:
        spec = self.spec
        muted = muted_color(self)
        if spec is None or not spec.has_data:
            title = spec.title if spec is not None else ""
            lines = [title, NO_DATA] if title else [NO_DATA]
            top = max(0, (height - len(lines)) // 2)
            return Content.styled("\n" * top + "\n".join(line.center(width) for line in lines),
                                  Style(foreground=muted))
        if width < self.MIN_SIZE[0] or height < self.MIN_SIZE[1]:
            return Content("")
        variables = self.app.theme_variables
        background = self.background_colors[1]

        def colour_of(variable: str) -> Color:
            return readable_on(theme_color(variables, variable, muted.hex), background)

        return render_chart(spec, width, height, colour_of, muted)
