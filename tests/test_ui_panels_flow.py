"""The Liquidations, Sentiment and Flows panels, mounted in a tiny app and read off the screen."""

from __future__ import annotations

import asyncio
import dataclasses

from textual.app import App, ComposeResult
from textual.containers import Grid
from textual.content import Content
from textual.widgets import Sparkline

from levtop import fmt
from levtop.store import HistoryStore
from levtop.view import Line, MarketView, ViewBuilder
from levtop.widgets.flows import FlowsPanel, share_bar, signed_change
from levtop.widgets.liquidations import LiquidationsPanel, cascade_meter, clock, two_sided_bar
from levtop.widgets.panel import Panel
from levtop.widgets.chart import TimeChart
from levtop.widgets.flow_parts import first_fitting
from levtop.widgets.sentiment import SentimentPanel, gauge_bar

from ui_helpers import PHASE_AT, view_at

PANELS = (LiquidationsPanel, SentimentPanel, FlowsPanel)


class Harness(App):
    """The panels side by side, with the theme variables the real app will define."""

    CSS = "Grid { grid-size: 3 1; }"

    def __init__(self, panels: tuple[type[Panel], ...] = PANELS, compact: bool = False):
        super().__init__()
        self.panel_types = panels
        self.compact = compact

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {"long": "#3FB950", "short": "#F85149", "good": "#3FB950", "warn": "#D29922", "bad": "#F85149"}

    def compose(self) -> ComposeResult:
        with Grid():
            for panel_type in self.panel_types:
                yield panel_type()

    def on_mount(self) -> None:
        self.query_one(Grid).styles.grid_size_columns = len(self.panel_types)
        for panel in self.query(Panel):
            panel.compact = self.compact

    def show(self, view: MarketView) -> None:
        for panel in self.query(Panel):
            panel.show(view)


def screen_text(app: App) -> str:
    # The compositor's strips are exactly what the terminal would show.
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def panel_text(app: App, panel_type: type[Panel]) -> str:
    """The screen text inside one panel's region."""
    region = app.query_one(panel_type).region
    lines = screen_text(app).splitlines()[region.y:region.bottom]
    return "\n".join(line[region.x:region.right] for line in lines)


def run(coro):
    return asyncio.run(coro)


async def shown(view: MarketView, size=(120, 40), panels=PANELS, compact=False, then=None):
    """Mount the panels, show ``view`` (then ``then``), and return the app's text per panel."""
    app = Harness(panels, compact)
    async with app.run_test(size=size) as pilot:
        app.show(view)
        await pilot.pause()
        if then is not None:
            app.show(then)
            await pilot.pause()
        return {p: panel_text(app, p) for p in panels}, app


def with_notes(view: MarketView, notes: dict[str, str]) -> MarketView:
    selected = view.selected
    liquidations = dataclasses.replace(selected.liquidations, notes=notes)
    return dataclasses.replace(view, selected=dataclasses.replace(selected, liquidations=liquidations))


def empty_view() -> MarketView:
    return ViewBuilder().build(HistoryStore(), ("BTC",), "BTC")


# -- Liquidations ------------------------------------------------------------------------------

def test_liquidations_in_a_cascade_show_the_multiple_totals_tape_and_lower_bound():
    view = with_notes(view_at(PHASE_AT["CASCADE"]), {"binance": "lower bound"})
    liq = view.selected.liquidations
    texts, _ = run(shown(view, size=(150, 50), panels=(LiquidationsPanel,)))
    text = texts[LiquidationsPanel]
    assert liq.cascade_state == "bad"
    assert f"{liq.cascade_multiple:.1f}×" in text
    assert "✖ cascade" in text
    # Binance is in the totals, so they are lower bounds.
    assert f"≥{fmt.usd(liq.long_1h)}" in text and f"≥{fmt.usd(liq.short_24h)}" in text
    assert "▼ longs liquidated" in text and "shorts liquidated ▲" in text
    assert "≥ binance: lower bound" in text
    newest, older = liq.tape[0], liq.tape[1]
    lines = text.splitlines()
    first_row = next(i for i, line in enumerate(lines) if clock(newest.ts) in line and "long" in line)
    assert fmt.usd(newest.usd) in lines[first_row]
    assert newest.venue in lines[first_row]
    assert fmt.usd(older.usd) in lines[first_row + 1]
    largest = liq.largest_24h
    assert f"{fmt.usd(largest.usd)}" in text and "max 24h" in text


def test_liquidations_after_the_restart_read_normal_without_notes():
    view = view_at(PHASE_AT["RESTART"])
    liq = view.selected.liquidations
    texts, _ = run(shown(view, panels=(LiquidationsPanel,)))
    text = texts[LiquidationsPanel]
    assert liq.cascade_state == "good"
    assert "✔ normal" in text and f"{liq.cascade_multiple:.1f}×" in text
    assert "≥" not in text
    assert fmt.usd(liq.long_24h) in text and fmt.usd(liq.short_24h) in text
    assert "hourly 7d" in text


# -- Sentiment -------------------------------------------------------------------------------------

def test_sentiment_reads_greed_as_bad_and_fear_as_good():
    greed, fear = view_at(PHASE_AT["CASCADE"]), view_at(PHASE_AT["RESTART"])
    greed_texts, _ = run(shown(greed, panels=(SentimentPanel,)))
    fear_texts, _ = run(shown(fear, panels=(SentimentPanel,)))
    assert f"{greed.selected.sentiment.value:.0f}" in greed_texts[SentimentPanel]
    assert greed.selected.sentiment.label in greed_texts[SentimentPanel]
    assert "✖ bad" in greed_texts[SentimentPanel]
    assert f"{fear.selected.sentiment.value:.0f}" in fear_texts[SentimentPanel]
    assert "Extreme Fear" in fear_texts[SentimentPanel] and "✔ good" in fear_texts[SentimentPanel]
    assert "fear ≤45" in fear_texts[SentimentPanel] and "greed >60" in fear_texts[SentimentPanel]
    assert "Fear & Greed · 30d" in fear_texts[SentimentPanel]


def test_gauge_fills_up_to_the_value():
    def filled(value):
        return Content.from_markup(gauge_bar(value, 20)).plain.count("█")

    assert filled(50) == 10 and filled(100) == 20 and filled(0) == 1 and filled(None) == 0


# -- Flows -------------------------------------------------------------------------------------

def test_flows_show_supply_changes_signal_and_volume_split():
    view = view_at(PHASE_AT["RESTART"])
    flows = view.selected.flows
    texts, _ = run(shown(view, panels=(FlowsPanel,)))
    text = texts[FlowsPanel]
    assert fmt.usd(flows.supply_usd) in text
    assert f"▲ {fmt.pct(flows.change_7d, 2)}" in text and f"▲ {fmt.pct(flows.change_14d, 2)}" in text
    assert "✔ good" in text and "inflows increasing" in text
    assert f"spot {flows.spot_share:.0%}" in text and f"perp {1 - flows.spot_share:.0%}" in text
    assert fmt.usd(flows.perp_volume_24h) in text
    assert "Stablecoin supply · 30d" in text


def test_signed_change_and_share_bar_read_without_colour():
    assert Content.from_markup(signed_change(-0.0012)).plain == "▼ -0.12%"
    assert Content.from_markup(signed_change(0.0)).plain == "■ +0.00%"
    assert Content.from_markup(signed_change(None)).plain == "n/a"
    bar = Content.from_markup(share_bar(0.25, 30)).plain
    # 30 cells less the two labels and their spaces leave a 12-cell bar, a quarter of it spot.
    assert bar.startswith("spot 25%") and bar.endswith("perp 75%") and bar.count("█") == 3
    assert len(bar) == 30


# -- All three ---------------------------------------------------------------------------------

def test_compact_at_80x24_uses_sparklines_and_keeps_words_whole():
    view = with_notes(view_at(PHASE_AT["CASCADE"]), {"binance": "lower bound"})
    app = Harness(PANELS, compact=True)

    async def check():
        async with app.run_test(size=(80, 24)) as pilot:
            app.show(view)
            await pilot.pause()
            for chart in app.query(TimeChart):
                assert not chart.display
            assert all(spark.display for spark in app.query(Sparkline))
            return {p: panel_text(app, p) for p in PANELS}

    texts = run(check())
    assert "✖ cascade" in texts[LiquidationsPanel] and "▼" in texts[LiquidationsPanel]
    assert "Extreme Greed" in texts[SentimentPanel] and "✖ bad" in texts[SentimentPanel]
    assert fmt.usd(view.selected.flows.supply_usd) in texts[FlowsPanel] and "✔ good" in texts[FlowsPanel]
    assert "spot 18%" in texts[FlowsPanel]


def test_empty_view_shows_no_data_yet_in_every_panel():
    for compact, size in ((False, (120, 40)), (True, (80, 24))):
        texts, _ = run(shown(empty_view(), size=size, compact=compact))
        for panel_type in PANELS:
            assert "no data yet" in texts[panel_type], (panel_type, compact)
        assert "n/a" in texts[FlowsPanel] and "n/a" in texts[SentimentPanel]
        if not compact:
            assert "? unknown" in texts[LiquidationsPanel] and "? unknown" in texts[SentimentPanel]


def test_a_single_point_chart_says_no_data_yet_instead_of_crashing():
    view = view_at(PHASE_AT["RESTART"])
    sentiment = dataclasses.replace(view.selected.sentiment, line=Line((view.now,), (13.0,)))
    view = dataclasses.replace(view, selected=dataclasses.replace(view.selected, sentiment=sentiment))
    texts, _ = run(shown(view, panels=(SentimentPanel,)))
    assert "no data yet" in texts[SentimentPanel] and "Extreme Fear" in texts[SentimentPanel]


def test_show_twice_updates_the_same_widgets_in_place():
    first, second = view_at(PHASE_AT["CASCADE"]), view_at(PHASE_AT["RESTART"])
    app = Harness()

    async def check():
        async with app.run_test(size=(120, 40)) as pilot:
            app.show(first)
            await pilot.pause()
            before = [id(w) for w in app.query("*")]
            app.show(second)
            await pilot.pause()
            assert [id(w) for w in app.query("*")] == before
            return {p: panel_text(app, p) for p in PANELS}

    texts = run(check())
    assert "✔ normal" in texts[LiquidationsPanel] and "✖ cascade" not in texts[LiquidationsPanel]
    assert "Extreme Fear" in texts[SentimentPanel] and "Extreme Greed" not in texts[SentimentPanel]
    assert fmt.usd(second.selected.flows.supply_usd) in texts[FlowsPanel]


def test_meters_mark_the_thresholds_and_split_both_sides():
    meter = Content.from_markup(cascade_meter(1.0, 40)).plain
    assert "2×" in meter and "5×" in meter and len(meter) == 40 and "▶" not in meter
    assert Content.from_markup(cascade_meter(27.5, 40)).plain.endswith("▶")
    bar = Content.from_markup(two_sided_bar(3.0, 1.0, 20)).plain
    assert bar.count("█") == 15 and bar.count("▒") == 5
    # A side that is not zero never disappears from the bar.
    assert Content.from_markup(two_sided_bar(1000.0, 1.0, 10)).plain.count("▒") == 1


def test_first_fitting_never_cuts_a_candidate():
    assert first_fitting(10, ["a long candidate", "short"]) == "short"
    assert first_fitting(40, ["a long candidate", "short"]) == "a long candidate"


def test_charts_redraw_in_the_new_theme_colours():
    app = Harness((FlowsPanel,))

    def line_colours() -> set[str]:
        chart = app.query_one(TimeChart)
        return {span.style.foreground.hex.lower() for span in chart.render().spans if span.style.foreground}

    async def check():
        async with app.run_test(size=(60, 30)) as pilot:
            app.theme = "nord"
            app.show(view_at(PHASE_AT["RESTART"]))
            await pilot.pause()
            nord = (line_colours(), app.theme_variables["accent"].lower())
            app.theme = "gruvbox"
            await pilot.pause()
            gruvbox = (line_colours(), app.theme_variables["accent"].lower())
            return nord, gruvbox

    (nord_colours, nord_accent), (gruvbox_colours, gruvbox_accent) = run(check())
    assert nord_accent != gruvbox_accent
    assert nord_accent in nord_colours
    assert gruvbox_accent in gruvbox_colours and nord_accent not in gruvbox_colours
