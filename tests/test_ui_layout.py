"""What fits on screen at the sizes people use: every chart has rows to read, every venue row and
line is inside its panel, and the selected watchlist row reads in any theme."""

from __future__ import annotations

import dataclasses

import pytest
from textual.color import Color

from levtop.app import LevtopApp, RunMode
from levtop.config import Config, load_config
from levtop.store import HistoryStore
from levtop.widgets.chart import TimeChart
from levtop.widgets.liquidations import LiquidationsPanel
from levtop.widgets.open_interest import MarketPanel, OpenInterestPanel, VenueRow
from levtop.widgets.panel import Panel
from levtop.widgets.watchlist import MARKER, Watchlist
from ui_helpers import ASSETS, PHASE_AT, market_store, panels_drawn


def make_app(theme: str = "levtop-dark", offset_ms: int = PHASE_AT["CASCADE"]) -> LevtopApp:
    config = dataclasses.replace(Config(path=load_config().path), assets=ASSETS, theme=theme)
    return LevtopApp(config, RunMode("demo"), store=market_store("recovery", offset_ms), watch_data=False,
                     persist_settings=False)


async def ready(pilot) -> None:
    await panels_drawn(pilot.app, pilot)


def screen_lines(app: LevtopApp) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def inside(widget, panel: Panel) -> bool:
    return panel.content_region.contains_region(widget.region) and widget.region.height > 0


@pytest.mark.parametrize("size", [(120, 40), (100, 30), (160, 50), (200, 60)])
async def test_every_chart_has_rows_to_read_and_fits_its_panel(size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        for panel in app.query(Panel):
            for chart in panel.query(TimeChart):
                assert inside(chart, panel), (type(panel).__name__, chart.region, panel.content_region)
                assert chart.region.height >= (5 if size[1] < 40 else 6), (type(panel).__name__, chart.region)
                assert "now" in chart.render().plain
        for panel in app.query(MarketPanel):
            short = size[1] < 50
            assert panel.has_class("-short") == short, type(panel).__name__
            caption = str(panel.query_one(".caption").render())
            if short:  # the legend names each venue in its line's colour
                assert all(venue in caption for venue in ("binance", "bybit", "okx")), caption
            else:
                assert all(inside(row, panel) for row in panel.query(VenueRow))


async def test_at_80x24_every_venue_row_shows_and_no_line_hangs_alone():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        for panel in app.query(MarketPanel):
            assert panel.compact
            headline = panel.query_one(".headline")
            assert inside(headline, panel) and headline.region.height == len(headline.render().plain.splitlines())
            rows = list(panel.query(VenueRow))
            assert len(rows) == 3 and all(inside(row, panel) for row in rows), type(panel).__name__
        oi = app.query_one(OpenInterestPanel)
        assert "okx" in "\n".join(screen_lines(app)[oi.content_region.y:oi.content_region.bottom])
        liquidations = app.query_one(LiquidationsPanel)
        region = liquidations.content_region
        text = [line[region.x:region.right].strip() for line in screen_lines(app)[region.y:region.bottom]]
        # The tape shows events, not a header over nothing, and no footnote stands without its words.
        assert not any(line == "≥ binance" or line.startswith("time ") for line in text), text
        assert sum("long" in line or "short" in line for line in text[-2:]) == 2, text


def row_colours(watchlist: Watchlist, line: int) -> tuple[set, set]:
    """The foreground and background colours of a content line of the watchlist, as drawn (but
    the selection's bar, in the accent colour)."""
    strip = watchlist.render_line(line)
    segments = [seg for seg in strip if seg.text.strip() and seg.text != MARKER]
    return {seg.style.color for seg in segments}, {seg.style.bgcolor for seg in segments}


@pytest.mark.parametrize("theme", ["levtop-dark", "levtop-light", "levtop-ansi"])
async def test_the_selected_watchlist_row_is_marked_and_readable(theme):
    app = make_app(theme)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        watchlist = app.query_one(Watchlist)
        watchlist.focus()
        await pilot.pause()
        lines = watchlist.render().plain.splitlines()
        # A bar marks the selected row's two lines, whatever the colours.
        assert [line[0] for line in lines] == [MARKER, MARKER, " ", " ", " ", " "]
        assert "BTC" in lines[0] and "ETH" in lines[2]
        # Focused, the whole selected row is in the cursor's colours: no phase colour on its
        # background, which the theme made to contrast with its text.
        drawn = [row_colours(watchlist, line) for line in (0, 1)]
        (foreground,), (background,) = drawn[0]
        assert drawn[1] == drawn[0], drawn
        if background.triplet is not None and foreground.triplet is not None:
            gap = abs(Color.from_rich_color(foreground).brightness - Color.from_rich_color(background).brightness)
            assert gap >= 0.4, (foreground, background)
        # Blurred, the row keeps its phase colour (and the marker) on a faint background.
        app.query_one(OpenInterestPanel).focus()
        await pilot.pause()
        assert watchlist.render().plain.splitlines()[0][0] == MARKER
        assert len(row_colours(watchlist, 0)[0]) > 1


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_an_empty_store_says_no_data_yet_in_every_layout(size):
    config = dataclasses.replace(Config(path=load_config().path), assets=ASSETS)
    app = LevtopApp(config, RunMode("demo"), store=HistoryStore(), watch_data=False, persist_settings=False)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        for panel in app.query(Panel):
            region = panel.content_region
            text = "\n".join(line[region.x:region.right] for line in screen_lines(app)[region.y:region.bottom])
            assert "no data yet" in text, (type(panel).__name__, text)
