"""The Liquidations panel: a cascade meter, long vs short totals and the live tape.

Wording, used everywhere in the panel: "▼ long" is a LONG position liquidated (a forced sell,
drawn in the $short colour because it pushes price down) and "▲ short" a SHORT liquidated (a
forced buy, in the $long colour). Venues whose figures carry a note (Binance sends at most one
liquidation per symbol per second, so its totals are a lower bound) are marked "≥" and footnoted.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Sparkline

from levtop import fmt
from levtop.thresholds import Thresholds
from levtop.widgets.flow_parts import NO_DATA, TextBlock, cells, first_fitting, spread
from levtop.widgets.panel import Panel, set_text

if TYPE_CHECKING:
    from levtop.view import LiquidationEvent, LiquidationsView, MarketView

# The default marks, for a meter drawn without a view (the view carries the configured ones).
_DEFAULTS = Thresholds()
ELEVATED = _DEFAULTS.liquidations_elevated
CASCADE = _DEFAULTS.liquidations_cascade
METER_MAX = 8.0
"""The meter's full scale, as a multiple of the hourly median: room past the cascade mark."""

CASCADE_BADGES = {
    "good": "[$good]✔ normal[/]",
    "warn": "[b $warn]▲ elevated[/]",
    "bad": "[b $bad]✖ cascade[/]",
    "unknown": "[$text-muted]? unknown[/]",
}
SIDE_LABELS = {"long": "[$short]▼ long[/]", "short": "[$long]▲ short[/]"}
LOWER_BOUND = "≥"
OTHER_NOTE = "*"


def note_mark(note: str) -> str:
    return LOWER_BOUND if "lower bound" in note.lower() else OTHER_NOTE


def price_text(price: float | None) -> str:
    if price is None:
        return "n/a"
    digits = 0 if price >= 10_000 else 1 if price >= 1_000 else 2 if price >= 1 else 4
    return fmt.number(price, digits)


def clock(ts: int, seconds: bool = True) -> str:
    """The data time of an event, UTC."""
    return datetime.fromtimestamp(ts / 1000, tz=timezone.utc).strftime("%H:%M:%S" if seconds else "%H:%M")


def cascade_meter(multiple: float | None, width: int, elevated: float = ELEVATED, cascade: float = CASCADE) -> str:
    """The last hour as a multiple of the hourly median on a 0-8x bar with the 2x and 5x marks.

    The filled part has a background, the rest none, and the marks are written into the bar,
    so the reading does not depend on colour.
    """
    if width < 14:
        return ""
    cells_per_x = width / METER_MAX
    filled = 0 if multiple is None else min(width, round(multiple * cells_per_x))
    overflow = multiple is not None and multiple > METER_MAX
    chars = [" "] * width
    for mark in (elevated, cascade):
        label = f"{mark:g}×"
        at = round(mark * cells_per_x) - len(label)
        if at >= 0 and at + len(label) < width:
            chars[at:at + len(label)] = list(label)
            chars[at + len(label)] = "▏"
    if overflow:
        chars[-1] = "▶"
    parts = []
    for i, char in enumerate(chars):
        x = (i + 0.5) / cells_per_x
        zone = "$good" if x < elevated else "$warn" if x < cascade else "$bad"
        parts.append(f"[b $background on {zone}]{char}[/]" if i < filled else f"[$text-muted on $panel]{char}[/]")
    return "".join(parts)


def two_sided_bar(long_usd: float, short_usd: float, width: int) -> str:
    """Longs liquidated (solid, left) against shorts liquidated (shaded, right)."""
    total = long_usd + short_usd
    if width < 2:
        return ""
    if total <= 0:
        return f"[$text-muted]{'·' * width}[/]"
    left = min(width, max(0, round(long_usd / total * width)))
    if 0 < long_usd and left == 0:
        left = 1
    if 0 < short_usd and left == width:
        left = width - 1
    return f"[$short]{'█' * left}[/][$long]{'▒' * (width - left)}[/]"


class LiquidationsPanel(Panel):
    """Cascade meter, 1h and 24h long vs short totals, the 24h largest, hourly totals and the tape."""

    TITLE = "Liquidations"
    DEFAULT_CSS = """
    LiquidationsPanel #liq-cascade { height: 2; }
    LiquidationsPanel #liq-totals { height: 4; margin-top: 1; }
    LiquidationsPanel #liq-hourly-row { height: 1; margin-top: 1; }
    LiquidationsPanel #liq-hourly-row.-empty { display: none; }
    LiquidationsPanel #liq-hourly-label { width: auto; color: $text-muted; padding-right: 1; }
    LiquidationsPanel #liq-hourly { width: 1fr; }
    LiquidationsPanel #liq-hourly > .sparkline--max-color { color: $error; }
    LiquidationsPanel #liq-hourly > .sparkline--min-color { color: $warning 40%; }
    LiquidationsPanel #liq-tape { height: 1fr; margin-top: 1; }
    LiquidationsPanel #liq-notes { height: auto; color: $text-muted; }
    LiquidationsPanel.-short #liq-totals, LiquidationsPanel.-short #liq-hourly-row,
    LiquidationsPanel.-short #liq-tape { margin-top: 0; }
    LiquidationsPanel.-short #liq-notes, LiquidationsPanel.-compact #liq-notes { display: none; }
    LiquidationsPanel.-compact #liq-cascade { height: 1; }
    LiquidationsPanel.-compact #liq-totals { height: 1; margin-top: 0; }
    LiquidationsPanel.-compact #liq-hourly-row { margin-top: 0; }
    LiquidationsPanel.-compact #liq-tape { margin-top: 0; }
    """
    TAPE_ROWS = 4
    """The tape's header and three events: fewer, and the panel drops its gaps and footnotes."""

    def __init__(self, *, deferred: bool = False, id: str | None = None, classes: str | None = None):
        super().__init__(deferred=deferred, id=id, classes=classes)
        self.liquidations: LiquidationsView | None = None
        self.window = ""

    def compose_body(self) -> ComposeResult:
        yield TextBlock(self._cascade, id="liq-cascade")
        yield TextBlock(self._totals, id="liq-totals")
        with Horizontal(id="liq-hourly-row"):
            yield Label("hourly", id="liq-hourly-label")
            yield Sparkline([], id="liq-hourly")
        yield TextBlock(self._tape, id="liq-tape")
        yield TextBlock(self._notes, id="liq-notes")

    def full_rows(self) -> int:
        return 2 + 1 + 4 + 1 + 1 + 1 + self.TAPE_ROWS + 1

    def shown_key(self, view: MarketView) -> object:
        return view.selected.liquidations, view.window

    def draw(self, view: MarketView) -> None:
        liquidations = view.selected.liquidations
        self.liquidations, self.window = liquidations, view.window
        for block in self.query(TextBlock):
            block.update()
        set_text(self.query_one("#liq-hourly-label", Label), f"hourly {view.window}")
        values = list(liquidations.hourly.values) if self._has_data else []
        self.query_one("#liq-hourly", Sparkline).data = values if len(values) >= 2 else []
        # Without data an empty sparkline draws a flat baseline, which would read as a calm market.
        self.query_one("#liq-hourly-row").set_class(len(values) < 2, "-empty")

    @property
    def _has_data(self) -> bool:
        """Whether any liquidation has been seen: the view's totals are 0.0, not None, without data."""
        liq = self.liquidations
        return liq is not None and (bool(liq.tape) or liq.cascade_multiple is not None
                                    or liq.long_24h > 0 or liq.short_24h > 0)

    def _marks(self) -> dict[str, str]:
        notes = self.liquidations.notes if self.liquidations is not None else {}
        return {venue: note_mark(note) for venue, note in notes.items()}

    def _total_mark(self) -> str:
        """Totals add up every venue, so one lower-bound venue makes the total a lower bound."""
        return LOWER_BOUND if LOWER_BOUND in self._marks().values() else ""

    # -- text ----------------------------------------------------------------------------------

    def _cascade(self, width: int) -> str:
        liq = self.liquidations
        state = liq.cascade_state if liq is not None else "unknown"
        badge = CASCADE_BADGES.get(state, CASCADE_BADGES["unknown"])
        multiple = liq.cascade_multiple if liq is not None else None
        marks = (liq.elevated, liq.cascade) if liq is not None else (ELEVATED, CASCADE)
        value = f"[b]{multiple:.1f}×[/]" if multiple is not None else "[b]n/a[/]"
        if self.compact:
            head = f"{badge} {value}"
            bar = cascade_meter(multiple, width - cells(head) - 1, *marks)
            return f"{head} {bar}" if bar else head
        if multiple is None and liq is not None:
            # No multiple yet: the stream's history is shorter than the baseline needs.
            wait = f"[$text-muted]needs {liq.min_baseline_hours:g}h"
            readings = [f"last 1h: {value} {wait} of liquidations[/]", f"last 1h: {value} {wait} of data[/]",
                        f"1h: {value} {wait}[/]"]
        else:
            readings = [f"last 1h: {value} the hourly median", f"1h: {value} hourly median", f"1h: {value} median"]
        head = first_fitting(width, [*(spread(width, reading, badge) for reading in readings), f"{value} {badge}"])
        return f"{head}\n{cascade_meter(multiple, width, *marks)}"

    def _totals(self, width: int) -> str:
        liq = self.liquidations
        if liq is None or not self._has_data:
            return f"[$text-muted]{NO_DATA}[/]"
        mark = self._total_mark()
        if self.compact:
            long_1h, short_1h = f"{mark}{fmt.usd(liq.long_1h)}", f"{mark}{fmt.usd(liq.short_1h)}"
            return first_fitting(width, [
                f"1h [$short]▼ long {long_1h}[/]  [$long]▲ short {short_1h}[/]",
                f"1h [$short]▼ {long_1h}[/]  [$long]▲ {short_1h}[/]",
                f"1h [$short]▼{long_1h}[/] [$long]▲{short_1h}[/]",
                f"[$short]▼{long_1h}[/] [$long]▲{short_1h}[/]",
            ])
        rows = [("1h", liq.long_1h, liq.short_1h), ("24h", liq.long_24h, liq.short_24h)]
        amounts = [(f"{mark}{fmt.usd(a)}", f"{mark}{fmt.usd(b)}") for _, a, b in rows]
        left_w = max(len(a) for a, _ in amounts)
        right_w = max(len(b) for _, b in amounts)
        bar_w = width - 4 - left_w - right_w - 2
        lines = [first_fitting(width, [
            spread(width, f"{' ' * (4 + left_w + 1)}[$short]▼ longs liquidated[/]", "[$long]shorts liquidated ▲[/]"),
            spread(width, f"{' ' * (4 + left_w + 1)}[$short]▼ long liqs[/]", "[$long]short liqs ▲[/]"),
            spread(width, "[$short]▼ long liqs[/]", "[$long]short liqs ▲[/]"),
        ])]
        for (label, long_usd, short_usd), (a, b) in zip(rows, amounts):
            lines.append(f"[$text-muted]{label:>3}[/] {a:>{left_w}} {two_sided_bar(long_usd, short_usd, bar_w)}"
                         f" {b:<{right_w}}")
        lines.append(self._largest(width))
        return "\n".join(lines)

    def _largest(self, width: int) -> str:
        event = self.liquidations.largest_24h if self.liquidations is not None else None
        if event is None:
            return "[$text-muted]max 24h[/] n/a"
        size = f"[b]{self._marks().get(event.venue, '')}{fmt.usd(event.usd)}[/]"
        side = SIDE_LABELS.get(event.side, event.side)
        return first_fitting(width, [
            f"[$text-muted]max 24h[/] {side} {size} [$text-muted]{event.venue} {clock(event.ts)}"
            f" @ {price_text(event.price)}[/]",
            f"[$text-muted]max 24h[/] {side} {size} [$text-muted]{event.venue} {clock(event.ts)}[/]",
            f"[$text-muted]max 24h[/] {side} {size} [$text-muted]{event.venue}[/]",
            f"[$text-muted]max[/] {side} {size}",
        ])

    def _tape(self, width: int) -> str:
        liq = self.liquidations
        if liq is None or not liq.tape:
            return f"[$text-muted]tape: {NO_DATA}[/]"
        marks = self._marks()
        largest = liq.largest_24h.usd if liq.largest_24h is not None else 0.0
        layouts = [("time", "venue", "price"), ("time", "price"), ("time",), ("clock",), ()]
        for columns in layouts[3 if self.compact else 0:]:
            header, rows = tape_rows(liq.tape, columns, marks, largest)
            if cells(header) <= width:
                break
        if self.compact:
            return "\n".join(rows)  # two rows at 80x24: events, not a header over one
        return "\n".join([f"[b $text-muted]{header}[/]", *rows])

    def _notes(self, width: int) -> str:
        """What the marks mean: '≥ binance: lower bound: Binance sends at most one...', or as much
        of it as fits; never the mark and the venue alone, which would say nothing."""
        notes = sorted((self.liquidations.notes if self.liquidations is not None else {}).items())
        return first_fitting(width, [
            "  ".join(f"{note_mark(note)} {venue}: {note}" for venue, note in notes),
            "  ".join(f"{note_mark(note)} {venue}: {note.split(':')[0]}" for venue, note in notes),
            "  ".join(f"{note_mark(note)} {note.split(':')[0]}" for venue, note in notes),
        ]) if notes else ""


SIDE_WIDTH = 7
PRICE_WIDTH = 9
VENUE_WIDTH = 7


def tape_rows(events: tuple[LiquidationEvent, ...], columns: tuple[str, ...], marks: dict[str, str],
              largest: float) -> tuple[str, list[str]]:
    """The tape's header and rows for the chosen columns ("time" HH:MM:SS or "clock" HH:MM, "venue",
    "price"; side and size always), aligned in fixed-width columns.

    Events of at least a quarter of the day's largest are bold, so the big ones stand out.
    """
    sizes = [f"{marks.get(event.venue, '')}{fmt.usd(event.usd)}" for event in events]
    size_width = max(4, *(len(size) for size in sizes))
    head = []
    if "time" in columns or "clock" in columns:
        head.append(f"{'time':<8}" if "time" in columns else f"{'time':<5}")
    if "venue" in columns:
        head.append(f"{'venue':<{VENUE_WIDTH}}")
    head += [f"{'liq':<{SIDE_WIDTH}}", f"{'size':>{size_width}}"]
    if "price" in columns:
        head.append(f"{'price':>{PRICE_WIDTH}}")
    rows = []
    for event, size in zip(events, sizes):
        bold = largest > 0 and event.usd >= largest / 4
        side = "▼ long" if event.side == "long" else "▲ short"
        colour = "$short" if event.side == "long" else "$long"
        row = []
        if "time" in columns or "clock" in columns:
            row.append(f"[$text-muted]{clock(event.ts, seconds='time' in columns)}[/]")
        if "venue" in columns:
            row.append(f"{event.venue:<{VENUE_WIDTH}}")
        row.append(f"[{colour}]{side:<{SIDE_WIDTH}}[/]")
        row.append(f"[b]{size:>{size_width}}[/]" if bold else f"{size:>{size_width}}")
        if "price" in columns:
            row.append(f"[$text-muted]{price_text(event.price):>{PRICE_WIDTH}}[/]")
        rows.append(" ".join(row))
    return " ".join(head), rows
