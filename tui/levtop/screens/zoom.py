"""The z screen: one panel full screen, with a longer chart window."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen

from levtop.widgets.key_bar import KeyBar
from levtop.widgets.panel import Panel

if TYPE_CHECKING:
    from levtop.app import LevtopApp

LONGER = {"1d": "7d", "7d": "30d", "30d": "30d"}


class ZoomScreen(Screen):
    BINDINGS = [Binding("escape,z,enter,q", "dismiss", "Back")]
    DEFAULT_CSS = """
    ZoomScreen Panel { height: 1fr; }
    """

    def __init__(self, panel_type: type[Panel], levtop: "LevtopApp"):
        super().__init__()
        self.panel_type = panel_type
        self.levtop = levtop
        self.window = LONGER[levtop.window]
        self._seen = None

    def compose(self) -> ComposeResult:
        yield self.panel_type()
        yield KeyBar()

    def on_mount(self) -> None:
        panel = self.query_one(Panel)
        panel.border_title = f"{panel.TITLE} · {self.levtop.selected} · {self.window}"
        self.update_view()
        self.set_interval(1.0, self.update_view)

    def update_view(self) -> None:
        store = self.levtop.store
        if store is None:
            return
        key = (store.version, self.levtop.selected)
        if key == self._seen:
            return
        self._seen = key
        view = self.levtop.builder.build(store, self.levtop.watchlist_assets, self.levtop.selected, self.window,
                                         health=self.levtop.pipeline.health.snapshot() if self.levtop.pipeline else {})
        self.query_one(Panel).show(view)
