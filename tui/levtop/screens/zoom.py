"""The z screen: one panel full screen, with a longer chart window."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import get_current_worker

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
        asset = self.levtop.selected
        key = (store.version, asset)
        if key == self._seen:
            return
        self._seen = key
        health = self.levtop.pipeline.health.snapshot() if self.levtop.pipeline else {}
        self._build(store.series_map([asset]), store.newest_ts, asset, health)

    # In a thread, as the app's own views: a build takes tens of milliseconds, which the keys
    # should not wait for. Only the zoomed asset is evaluated: no watchlist is on this screen.
    @work(thread=True, exclusive=True, exit_on_error=False, description="build the zoomed view")
    def _build(self, series, now: int | None, asset: str, health) -> None:
        view = self.levtop.builder.build_from_series(series, now, (asset,), asset, self.window, health)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.query_one(Panel).show, view)
