"""The app under Pilot: navigation, zoom, explain, help, themes, palette, sizes, status bar."""

from __future__ import annotations

import dataclasses

import pytest

from levtop.app import LevtopApp, RunMode
from levtop.config import Config, load_config
from levtop.screens.explain import ExplainScreen
from levtop.screens.help import HelpScreen
from levtop.screens.zoom import ZoomScreen
from levtop.widgets.key_bar import KeyBar
from levtop.widgets.panel import Panel
from levtop.widgets.status_bar import StatusBar
from levtop.widgets.watchlist import Watchlist
from ui_helpers import ASSETS, PHASE_AT, market_store


def make_app(offset_ms: int = PHASE_AT["RESTART"], scenario: str = "recovery", **kwargs) -> LevtopApp:
    config = dataclasses.replace(Config(path=load_config().path), assets=ASSETS)
    return LevtopApp(config, RunMode("demo"), store=market_store(scenario, offset_ms), watch_data=False,
                     persist_settings=kwargs.pop("persist_settings", False), **kwargs)


async def settle(pilot, app: LevtopApp) -> None:
    """Wait until the view model reflects the current selection."""
    for _ in range(100):
        await pilot.pause(0.05)
        view = app.view_model
        if view is not None and view.selected.asset == app.selected and view.window == app.window:
            await pilot.pause()
            return
    raise AssertionError("the view never refreshed")


def status_text(app: LevtopApp) -> str:
    return str(app.query_one(StatusBar).render())


@pytest.mark.parametrize("phase", ["RESTART", "CASCADE", "FLUSH", "PURIFYING", "OVERHEATED"])
async def test_status_bar_is_green_exactly_when_restart(phase):
    app = make_app(PHASE_AT[phase])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        assert app.view_model.selected.verdict.phase == phase
        bar = app.query_one(StatusBar)
        assert bar.has_class("-green") == (phase == "RESTART")
        assert phase in status_text(app)
        if phase == "PURIFYING":
            assert "day" in status_text(app) and "of 14-21" in status_text(app)
        for label in ("OI level", "OI rebuild", "funding", "stables", "F&G"):
            assert label in status_text(app)


async def test_keys_move_the_selection_and_every_panel_follows():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        assert app.selected == "BTC"
        await pilot.press("j")
        await settle(pilot, app)
        assert app.selected == "ETH" and app.view_model.selected.asset == "ETH"
        await pilot.press("down")
        await settle(pilot, app)
        assert app.selected == "SOL"
        await pilot.press("k", "k")
        await settle(pilot, app)
        assert app.selected == "BTC"
        await pilot.press("3")
        await settle(pilot, app)
        assert app.selected == "SOL"
        await pilot.press("j")  # wraps around
        await settle(pilot, app)
        assert app.selected == "BTC"


async def test_a_new_selection_shows_in_the_bar_and_the_list_before_its_view_is_built():
    """The key is answered at once: the bar and the list show the new asset with its latest known
    verdict while the new view is still being built (slow in a liquidation burst)."""
    import threading

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("j")  # every asset's verdict seen once
        await settle(pilot, app)
        await pilot.press("k")
        await settle(pilot, app)
        eth_phase = app.query_one(StatusBar)._verdicts["ETH"].phase
        release = threading.Event()
        build = app.builder.build_from_series

        def held_build(*args, **kwargs):
            release.wait(10)
            return build(*args, **kwargs)

        app.builder.build_from_series = held_build
        try:
            await pilot.press("j")
            await pilot.pause(0.1)
            assert app.view_model.selected.asset == "BTC"  # the new view is not there yet
            assert f"ETH {eth_phase}" in status_text(app)
            assert app.query_one(Watchlist)._selected == "ETH"
        finally:
            release.set()
        await settle(pilot, app)
        assert app.view_model.selected.asset == "ETH" and f"ETH {eth_phase}" in status_text(app)


async def test_keys_repaint_what_they_change_not_the_whole_screen():
    # A changed reactive of the App repaints the whole screen: at 120x40 a 31 KB frame for each
    # key, where the bar, the list and the panels that change repaint themselves.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        whole_screen = []
        refresh = app.screen.refresh

        def counted_refresh(*args, **kwargs):
            whole_screen.append(args or kwargs)
            return refresh(*args, **kwargs)

        app.screen.refresh = counted_refresh
        for key in ("j", "k", "]", "[", "p"):
            await pilot.press(key)
            await settle(pilot, app)
        assert app.selected == "BTC" and app.window == "7d" and app.paused
        assert "DEMO · PAUSED" in status_text(app)  # a pause shows for as long as it lasts
        await pilot.press("p")
        await settle(pilot, app)
        assert " DEMO " in status_text(app) and "PAUSED" not in status_text(app)
        assert whole_screen == []


@pytest.mark.parametrize("width", [80, 120])
async def test_the_key_bar_keeps_help_and_quit_when_narrow(width):
    app = make_app()
    async with app.run_test(size=(width, 40)) as pilot:
        await settle(pilot, app)
        text = str(app.query_one(KeyBar).render())
        assert "? Help" in text and "q Quit" in text and text.rstrip().endswith("▏^p palette")
        assert text.startswith(" j Next asset ")


async def test_window_keys():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        assert app.window == "7d"
        await pilot.press("right_square_bracket")
        await settle(pilot, app)
        assert app.window == "30d" and app.view_model.window == "30d"
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket")
        await settle(pilot, app)
        assert app.window == "1d"


async def test_zoom_explain_and_help_screens():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        # tab moves focus between panels; z zooms the focused one with a longer window.
        panels = list(app.query(Panel))
        panels[0].focus()
        await pilot.pause()
        await pilot.press("tab")
        await pilot.pause()
        assert app.focused is panels[1]
        await pilot.press("z")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ZoomScreen)
        zoomed = app.screen.query_one(Panel)
        assert type(zoomed) is type(panels[1])
        assert "30d" in str(zoomed.border_title)
        for _ in range(60):  # built in a thread
            if zoomed.view is not None:
                break
            await pilot.pause(0.05)
        assert zoomed.view.window == "30d" and zoomed.view.selected.asset == app.selected
        await pilot.press("escape")
        await pilot.press("e")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ExplainScreen)
        text = str(app.screen.query_one("#explanation").render())
        for name in ("funding", "oi_rebuild", "oi_level", "stablecoins", "sentiment", "long_short", "liquidations", "flush"):
            assert name in text
        assert "RESTART" in text
        await pilot.press("escape")
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, (HelpScreen, ExplainScreen, ZoomScreen))


async def test_a_click_on_the_watchlist_selects_that_asset():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        text = str(app.query_one(Watchlist).render()).splitlines()
        assert [line.split()[1] for line in text[::2]] == list(ASSETS)
        await pilot.click(Watchlist, offset=(3, 1 + 2 * 2))  # the border, then two lines a row
        await settle(pilot, app)
        assert app.selected == ASSETS[2] and app.view_model.selected.asset == ASSETS[2]


async def test_the_key_bar_shows_the_keys_and_a_click_presses_one():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        bar = app.query_one(KeyBar)
        text = str(bar.render())
        assert text.startswith(" j Next asset  k Prev asset ") and text.rstrip().endswith("▏^p palette")
        assert len(text) == 120 and "? Help" in text and "down" not in text
        await pilot.click(KeyBar, offset=(text.index("? Help") + 1, 0))
        await pilot.pause(0.2)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        # The zoom screen has a bar of its own, with its keys.
        app.query(Panel).first().focus()
        await pilot.press("z")
        await pilot.pause(0.3)
        assert "Back" in str(app.screen.query_one(KeyBar).render())


async def test_theme_cycles_and_is_saved(tmp_path, monkeypatch):
    config_file = tmp_path / "config.toml"
    config_file.write_text("# my settings\nassets = [\"BTC\", \"ETH\", \"SOL\"]\n")
    monkeypatch.setenv("LEVTOP_CONFIG", str(config_file))
    app = make_app(persist_settings=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        assert app.theme == "levtop-dark"
        await pilot.press("t")
        await pilot.pause()
        assert app.theme != "levtop-dark"
        chosen = app.theme
    saved = config_file.read_text()
    assert "# my settings" in saved  # comments survive
    assert load_config(config_file).theme == chosen


async def test_palette_jumps_to_an_asset_and_rejects_garbage():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"Jump to SOL")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.selected == "SOL"
        app.add_asset("not-an-asset!")
        await pilot.pause()
        assert app.watchlist_assets == list(ASSETS)
        assert any("not an asset symbol" in str(n.message) for n in app._notifications)


@pytest.mark.parametrize("size", [(80, 24), (200, 60), (120, 40)])
async def test_sizes_render_without_crashing(size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        compact = size[0] < 100 or size[1] < 30
        assert all(p.compact == compact for p in app.query(Panel))
        assert app.query_one("#panels").has_class("-wide") == (size[0] >= 160)
        assert not app.screen.has_class("-too-small")


async def test_a_tiny_terminal_asks_to_be_enlarged_and_resizes_do_not_crash():
    app = make_app()
    async with app.run_test(size=(40, 12)) as pilot:
        await settle(pilot, app)
        assert app.screen.has_class("-too-small")
        assert "Enlarge the terminal" in str(app.query_one("#too-small").render())
        # 100 resizes in a burst, as a window being dragged: posted the way Pilot.resize_terminal
        # does, without waiting for the screen after each one.
        from textual.events import Resize
        from textual.geometry import Size

        for width, height in [(80, 24), (59, 30), (200, 60), (61, 19), (120, 40)] * 20:
            app._driver._size = Size(width, height)
            app.post_message(Resize(Size(width, height), Size(width, height)))
        await pilot.pause(1.0)
        await pilot.resize_terminal(120, 40)
        assert app.is_running
        assert not app.screen.has_class("-too-small")
        assert all(not p.compact for p in app.query(Panel))


async def test_an_unwritable_data_dir_shows_in_the_status_bar_and_the_app_keeps_running(tmp_path):
    from levtop.pipeline import Pipeline
    from levtop.store import HistoryStore

    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("a file where the data dir should be")  # root ignores chmod; this cannot be written
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        store = HistoryStore(directory=not_a_dir)
        store.append(app.store.frame(since=app.store.newest_ts - 3_600_000))
        app.store = store
        app.pipeline = Pipeline(app.config, store)
        app.save_history()
        for _ in range(50):
            await pilot.pause(0.1)
            if app.pipeline.health.source("history").status.value == "DOWN":
                break
        assert app.pipeline.health.source("history").status.value == "DOWN"
        assert str(not_a_dir) in (app.pipeline.health.source("history").error or "")
        app.refresh_view_if_changed(force=True)
        await pilot.pause(0.5)
        assert "History DOWN" in status_text(app)
        assert app.is_running


async def test_new_data_is_drawn_as_often_as_its_cost_allows_and_keys_at_once(monkeypatch):
    """A view that costs 0.08 s of CPU is drawn for new data every 2 s (VIEW_CPU_SHARE 4%), one
    that costs 0.5 s at most every VIEW_REFRESH_MAX_S; a key draws at once whatever it cost."""
    from levtop import app as app_module

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        builds: list[float] = []
        clock = [1000.0]
        monkeypatch.setattr(app, "clock", lambda: clock[0])
        monkeypatch.setattr(app, "_build_view", lambda series, now, others=1: builds.append(clock[0]))
        app._view_cpu = 0.08
        assert app.view_interval() == pytest.approx(2.0)

        def new_data_tick() -> None:
            app._seen_versions = None  # as if the store changed since the last view
            app.refresh_view_if_changed()
            clock[0] += app_module.VIEW_REFRESH_S

        app._view_started = -1e9
        for _ in range(6):
            new_data_tick()
        assert builds == [1000.0, 1002.0, 1004.0]
        app.refresh_view_if_changed(force=True)  # a key
        assert builds[-1] == clock[0]
        app._view_cpu = 0.5
        assert app.view_interval() == app_module.VIEW_REFRESH_MAX_S
        app._view_cpu = 0.01
        assert app.view_interval() == app_module.VIEW_REFRESH_S
