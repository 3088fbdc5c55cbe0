"""The base of every data panel: a bordered, focusable box filled from the view model."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widget import Widget

from levtop.view import MarketView


class Panel(Widget, can_focus=True):
    """A panel shows one aspect of the selected asset.

    The app calls ``show(view)`` whenever the view model changes (coalesced, at most a few times
    a second) and sets ``compact`` when the terminal is small (80x24): sparklines instead of
    charts, fewer columns. Subclasses set ``TITLE`` and implement ``show``; they keep their own
    ``DEFAULT_CSS``. A panel never fetches or computes market data itself.
    """

    TITLE = ""
    DEFAULT_CSS = """
    Panel {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        border-title-style: bold;
        padding: 0 1;
        height: 1fr;
    }
    Panel:focus, Panel:focus-within {
        border: round $accent;
        border-title-color: $accent;
    }
    """

    compact: reactive[bool] = reactive(False)
    stale_reason: reactive[str] = reactive("")
    """Non-empty when the sources behind this panel are not LIVE: shown in the border."""

    def on_mount(self) -> None:
        self.border_title = self.TITLE

    def watch_stale_reason(self, reason: str) -> None:
        self.border_subtitle = f"⚠ {reason}" if reason else ""

    def show(self, view: MarketView) -> None:
        raise NotImplementedError
