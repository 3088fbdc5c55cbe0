"""The app end to end with its in-process simulator: panels fill, a source fails and recovers."""

from __future__ import annotations

import dataclasses
import gc
import time

from levtop.app import LevtopApp, RunMode
from levtop.config import Config, load_config
from levtop.sim.faults import FaultRule
from levtop.widgets.status_bar import StatusBar

ASSETS = ("BTC", "ETH", "SOL")


async def wait_for(pilot, condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        await pilot.pause(0.2)


def source_status(app: LevtopApp, source: str) -> str | None:
    view = app.view_model
    health = view.health.get(source) if view else None
    return health.status.value if health else None


async def test_demo_fills_every_panel_and_shows_a_failing_source_down_then_live():
    config = dataclasses.replace(Config(path=load_config().path), assets=ASSETS)
    app = LevtopApp(config, RunMode("demo", speed=600, start_ms=1_780_000_800_000), persist_settings=False)
    app.freeze_long_lived = True  # as `levtop` sets it (cli.run_monitor); undone below
    frozen_before = gc.get_freeze_count()
    try:
        await run_demo_through_a_fault(app, frozen_before)
    finally:
        gc.unfreeze()


async def run_demo_through_a_fault(app: LevtopApp, frozen_before: int) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        def filled() -> bool:
            view = app.view_model
            if view is None:
                return False
            a = view.selected
            return (a.open_interest.total_usd is not None and a.funding.weighted_8h is not None
                    and any(v is not None for v in a.long_short.global_ratio.values())
                    and a.sentiment.value is not None and a.flows.supply_usd is not None)

        await wait_for(pilot, filled, 60, "every panel filled")
        await wait_for(pilot, lambda: all(source_status(app, s) == "LIVE" for s in
                                          ("binance", "bybit", "okx", "fear_greed", "stablecoins")), 60,
                       "every source LIVE")
        # Every source's first round is in: what lives as long as the process leaves the
        # garbage collector's full passes.
        await wait_for(pilot, lambda: not app.freeze_long_lived and gc.get_freeze_count() > frozen_before, 10,
                       "long-lived objects frozen")
        await wait_for(pilot, lambda: app.store.newest("binance", "BTC", "price") is not None, 30, "a Binance price")
        rule = app.simulator.faults.add(FaultRule(venue="bybit", route="*", kind="status", status=500))
        await wait_for(pilot, lambda: source_status(app, "bybit") == "DOWN", 30, "bybit DOWN")
        bar_text = str(app.query_one(StatusBar).render())
        assert "Bybit DOWN" in bar_text
        assert app.is_running  # no crash, no modal
        binance_before = app.store.newest("binance", "BTC", "price")
        app.simulator.faults.remove(rule.id)
        await wait_for(pilot, lambda: source_status(app, "bybit") == "LIVE", 60, "bybit LIVE again")
        # The others kept updating: Binance's next price poll (every 2 s against this fast clock)
        # may come a moment after Bybit is back.
        await wait_for(pilot, lambda: app.store.newest("binance", "BTC", "price") > binance_before, 30,
                       "a newer Binance price")
