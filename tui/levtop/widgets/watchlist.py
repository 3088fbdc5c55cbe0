"""The watchlist: each asset with its phase glyph, price and OI 24h change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message
from textual.reactive import reactive
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from levtop import fmt
from levtop.widgets.glyphs import PHASE_COLOUR, PHASE_GLYPH

if TYPE_CHECKING:
    from levtop.view import MarketView, WatchRow


def row_markup(row: WatchRow, compact: bool) -> str:
    glyph = f"[{PHASE_COLOUR.get(row.phase, '$text')}]{PHASE_GLYPH.get(row.phase, '?')}[/]"
    if compact:
        return f"{glyph} [b]{row.asset}[/]"
    change = row.oi_change_24h
    arrow = "" if change is None else ("▲" if change > 0 else "▼" if change < 0 else "•")
    change_text = "OI n/a" if change is None else f"OI {arrow}{fmt.pct(abs(change), 1, signed=False)}"
    phase = f"[{PHASE_COLOUR.get(row.phase, '$text')}]{row.phase.lower()}[/]"
    return f"{glyph} [b]{row.asset}[/] {phase}\n  [$text-muted]{change_text}[/]"


class Watchlist(OptionList):
    DEFAULT_CSS = """
    Watchlist {
        width: 22;
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        padding: 0;
    }
    Watchlist.-compact { width: 14; }
    Watchlist:focus { border: round $accent; }
    """

    class Selected(Message):
        def __init__(self, asset: str) -> None:
            super().__init__()
            self.asset = asset

    compact: reactive[bool] = reactive(False)
    _view: MarketView | None = None

    def on_mount(self) -> None:
        self.border_title = "Watchlist"

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        # "Watchlist" does not fit the compact width.
        self.border_title = "Assets" if compact else "Watchlist"
        if self._view is not None:
            self.show(self._view)

    def show(self, view: MarketView) -> None:
        self._view = view
        highlighted = self.highlighted
        assets = [row.asset for row in view.watchlist]
        prompts = [row_markup(row, self.compact) for row in view.watchlist]
        if [self.get_option_at_index(i).id for i in range(self.option_count)] != assets:
            self.clear_options()
            self.add_options([Option(p, id=asset) for p, asset in zip(prompts, assets)])
        else:
            # In place: rebuilding the list would move the highlight and lay the screen out again.
            for index, prompt in enumerate(prompts):
                if str(self.get_option_at_index(index).prompt) != prompt:
                    self.replace_option_prompt_at_index(index, prompt)
        if view.selected.asset in assets:
            index = assets.index(view.selected.asset)
            if index != highlighted:
                self.highlighted = index

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Selected(event.option.id))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Selected(event.option.id))
