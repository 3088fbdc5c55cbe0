"""The watchlist: each asset with its phase glyph and OI 24h change; the selected one highlighted.

One widget drawing its rows. It was Textual's OptionList, which drew every row again whenever one
changed (a sixth of the screen's repaint time at speed 600, where a row changes every second)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.app import RenderResult
from textual.content import Content
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from levtop import fmt
from levtop.widgets.glyphs import PHASE_COLOUR, PHASE_GLYPH
from levtop.widgets.markup import parse

if TYPE_CHECKING:
    from levtop.view import MarketView, WatchRow


MARKER = "▌"
"""Left of the selected row's lines: the selection reads without its colours."""


def row_markup(row: WatchRow, compact: bool) -> str:
    glyph = f"[{PHASE_COLOUR.get(row.phase, '$text')}]{PHASE_GLYPH.get(row.phase, '?')}[/]"
    if compact:
        return f"{glyph} [b]{row.asset}[/]"
    change = row.oi_change_24h
    arrow = "" if change is None else ("▲" if change > 0 else "▼" if change < 0 else "•")
    change_text = "OI n/a" if change is None else f"OI {arrow}{fmt.pct(abs(change), 1, signed=False)}"
    phase = f"[{PHASE_COLOUR.get(row.phase, '$text')}]{row.phase.lower()}[/]"
    return f"{glyph} [b]{row.asset}[/] {phase}\n  [$text-muted]{change_text}[/]"


def _line_count(rows: list[tuple[str, str]]) -> int:
    return sum(markup.count("\n") + 1 for _, markup in rows)


class Watchlist(Widget, can_focus=True):
    COMPONENT_CLASSES = {"watchlist--highlighted"}
    DEFAULT_CSS = """
    Watchlist {
        width: 22;
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        padding: 0;
        background: $surface;
        & > .watchlist--highlighted {
            color: $foreground;
            background: $block-cursor-blurred-background;
            text-style: bold;
        }
        &:focus {
            border: round $accent;
            background-tint: $foreground 5%;
            & > .watchlist--highlighted {
                color: $block-cursor-foreground;
                background: $block-cursor-background;
                text-style: bold;
            }
        }
    }
    Watchlist.-compact { width: 14; }
    """

    class Selected(Message):
        def __init__(self, asset: str) -> None:
            super().__init__()
            self.asset = asset

    compact: reactive[bool] = reactive(False)

    def __init__(self) -> None:
        super().__init__()
        self.view: MarketView | None = None
        self._rows: list[tuple[str, str]] = []
        """(asset, markup) of each row, as drawn."""
        self._selected = ""

    def on_mount(self) -> None:
        self.border_title = "Watchlist"

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        # "Watchlist" does not fit the compact width.
        self.border_title = "Assets" if compact else "Watchlist"
        if self.view is not None:
            self.show(self.view)

    def show(self, view: MarketView) -> None:
        """Repaint when a row or the selection changed."""
        self.view = view
        rows = [(row.asset, row_markup(row, self.compact)) for row in view.watchlist]
        if (rows, view.selected.asset) != (self._rows, self._selected):
            before = self._rows
            self._rows, self._selected = rows, view.selected.asset
            self._repaint_rows(before)

    def preview(self, asset: str) -> None:
        """The selection moved: highlight it now, before the new view arrives."""
        if self._rows and asset != self._selected:
            self._selected = asset
            self._repaint_rows(self._rows)

    def _repaint_rows(self, before: list[tuple[str, str]]) -> None:
        """Repaint the lines the rows take, before and now: the list is as high as the screen,
        and each line Textual repaints costs as much blank as written."""
        lines = max(_line_count(before), _line_count(self._rows))
        self.refresh(Region(0, 0, max(self.content_size.width, 1), max(lines, 1)))

    def render(self) -> RenderResult:
        """Each row after a margin cell, which holds a bar for the selected row: the selection
        reads without colour. Focused, the selected row is all in the theme's cursor colours
        (its phase stays in the glyph and the word): a phase colour on the cursor's background
        could be green on blue. Blurred, its background is faint and the phase keeps its colour."""
        width = self.content_size.width
        highlight = self.get_visual_style("watchlist--highlighted")
        focused = self.has_focus
        lines: list[Content] = []
        for asset, markup in self._rows:
            selected = asset == self._selected
            for line in markup.split("\n"):
                content = parse((MARKER if selected else " ") + line).truncate(width, pad=True)
                if selected:
                    content = content.stylize(highlight) if focused else content.stylize_before(highlight)
                    content = content.stylize("bold $accent", 0, 1)  # the bar stands out in both
                lines.append(content)
        return Content("\n").join(lines)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return  # on the border
        index = offset.y // (1 if self.compact else 2)
        if 0 <= index < len(self._rows):
            self.post_message(self.Selected(self._rows[index][0]))
