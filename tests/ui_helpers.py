"""A real view model for UI tests: the simulator's market, through the store and the engine."""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from levtop.model import DAY
from levtop.sim.market import Market
from levtop.sim.samples import market_samples
from levtop.store import HistoryStore
from levtop.view import MarketView, ViewBuilder

if TYPE_CHECKING:
    from levtop.app import LevtopApp

START_MS = 1_780_000_800_000  # the same launch time as the simulator tests
ASSETS = ("BTC", "ETH", "SOL")

# Offsets from launch where the recovery scenario shows each phase (seed 1, BTC):
# OVERHEATED before launch, CASCADE at +3h, FLUSH from +12h, PURIFYING from +78h, RESTART from +102h.
PHASE_AT = {"OVERHEATED": -DAY, "CASCADE": 3 * 3_600_000 + 600_000, "FLUSH": 20 * 3_600_000,
            "PURIFYING": 85 * 3_600_000, "RESTART": 140 * 3_600_000}


@lru_cache(maxsize=4)
def market_store(scenario: str = "recovery", until_offset_ms: int = 6 * DAY) -> HistoryStore:
    market = Market(scenario, 1, ASSETS, start_ms=START_MS)
    store = HistoryStore()
    store.append(market_samples(market, market.first_ms, START_MS + until_offset_ms))
    return store


def view_at(offset_ms: int, selected: str = "BTC", window: str = "7d", scenario: str = "recovery") -> MarketView:
    """The view the app would show ``offset_ms`` after launch."""
    store = market_store(scenario)
    return ViewBuilder().build(store, ASSETS, selected, window, now=START_MS + offset_ms)


def app_at(scenario: str, offset_ms: int, theme: str | None = None) -> LevtopApp:
    """The app on the simulator's market frozen ``offset_ms`` after launch: no sources, no wall
    clock, no settings saved (what the README's screenshots show)."""
    from levtop.app import LevtopApp, RunMode
    from levtop.config import Config

    config = dataclasses.replace(Config(path=Path(__file__).with_name("no-config.toml")), assets=ASSETS)
    if theme is not None:
        config = dataclasses.replace(config, theme=theme)
    return LevtopApp(config, RunMode("demo"), store=market_store(scenario, offset_ms), watch_data=False,
                     persist_settings=False)


async def first_view(app: LevtopApp, pilot) -> None:
    """Wait (up to 10 s) until the app shows its first view."""
    for _ in range(200):
        await pilot.pause(0.05)
        if app.view_model is not None:
            return
    raise AssertionError("no view within 10 s")


async def panels_drawn(app: LevtopApp, pilot) -> None:
    """Wait (up to 10 s) until the app shows a view, every panel has composed its content and
    every chart shows its newest data: the panels compose after the first frame, and the charts
    take turns to draw (later still on a loaded machine)."""
    from levtop.widgets.chart import TimeChart
    from levtop.widgets.panel import Panel

    for _ in range(200):
        await pilot.pause(0.05)
        if (app.view_model is not None and all(panel.composed for panel in app.query(Panel))
                and all(chart.shows_newest for chart in app.query(TimeChart))):
            await pilot.pause(0.1)
            return
    raise AssertionError("the panels did not draw a view within 10 s")
