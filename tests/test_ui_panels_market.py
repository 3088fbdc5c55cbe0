"""The market panels (open interest, funding, long/short) render the view model faithfully."""

from __future__ import annotations

import dataclasses

import pytest
from textual.app import App, ComposeResult
from textual.containers import Grid
from textual.color import Color
from textual.widgets import Sparkline, Static

from levtop import fmt
from levtop.app import WINDOWS
from levtop.model import DAY, HOUR, MINUTE
from levtop.signals import GATE_SIGNALS, Signal
from levtop.store import HistoryStore
from levtop.view import (
    CHART_POINTS,
    CHART_WINDOWS_MS,
    HISTORY_SPAN,
    Line,
    MarketView,
    ViewBuilder,
    chart_window,
    downsample,
)
from levtop.widgets.chart import ChartSpec, TimeChart, nice_ticks, render_chart
from levtop.widgets.flow_parts import HISTORY_WINDOW
from levtop.widgets.funding import FundingPanel, countdown, funding_state_word
from levtop.widgets.long_short import LongShortPanel, long_short_word, split_bar
from levtop.widgets.status_bar import COMPACT_GATE_LABEL, GATE_LABEL
from levtop.widgets.open_interest import (
    OpenInterestPanel,
    VenueRow,
    change,
    usd_tick,
)
from ui_helpers import PHASE_AT, START_MS, market_store, view_at

PANELS = (OpenInterestPanel, FundingPanel, LongShortPanel)


class Harness(App):
    """The three panels side by side, as the app's grid would place them."""

    CSS = "Grid { grid-size: 3 1; } Grid.compact { grid-size: 2 2; }"

    def __init__(self, compact: bool = False):
        super().__init__()
        self.compact = compact

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {"long": "#2ecc71", "short": "#e74c3c", "good": "#2ecc71", "warn": "#f1c40f", "bad": "#e74c3c"}

    def compose(self) -> ComposeResult:
        with Grid(classes="compact" if self.compact else ""):
            for panel in PANELS:
                yield panel()


async def shown(app: Harness, pilot, view: MarketView) -> None:
    for panel in app.query("Panel"):
        panel.compact = app.compact
        panel.show(view)
    await pilot.pause()


def text_of(panel) -> str:
    """Everything the panel says in words: headline, venue rows and chart caption."""
    return "\n".join(static.visual.plain for static in panel.query(Static) if static.visual is not None)


def chart_text(panel) -> str:
    return panel.query_one(TimeChart).render().plain


def empty_view() -> MarketView:
    return ViewBuilder().build(HistoryStore(), ("BTC",), "BTC")


# -- open interest -----------------------------------------------------------------------------


async def test_open_interest_shows_totals_changes_and_venue_split():
    view = view_at(PHASE_AT["CASCADE"])
    oi = view.selected.open_interest
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(app, pilot, view)
        panel = app.query_one(OpenInterestPanel)
        text = text_of(panel)
        assert fmt.usd(oi.total_usd) in text
        assert f"{fmt.number(oi.total_base, 0)} BTC" in text
        assert f"24h {change(oi.change_24h)}" in text and change(oi.change_24h).startswith("▼")
        assert f"7d {change(oi.change_7d)}" in text and change(oi.change_7d).startswith("▲")
        assert f"{change(oi.drawdown_30d)} vs 30d peak" in text
        for venue, split in oi.venues.items():
            row = next(line for line in text.splitlines() if f" {venue} " in line)
            assert fmt.usd(split.usd) in row and fmt.pct(split.share, 1, signed=False) in row
        assert "USD OI by venue · 7d" in text
        verdict = view.selected.verdict
        assert verdict.signals["oi_level"].state == "bad" and "✖ above ceiling" in text
        chart = chart_text(panel)
        assert "now" in chart and "-2d" in chart and "$" in chart


async def test_open_interest_shows_rebuild_since_the_flush_trough():
    view = view_at(PHASE_AT["RESTART"])
    oi = view.selected.open_interest
    assert oi.rebuild is not None and oi.rebuild_since is not None
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(app, pilot, view)
        text = text_of(app.query_one(OpenInterestPanel))
        assert f"{change(oi.rebuild)} since trough {fmt.utc(oi.rebuild_since, with_time=False)}" in text
        assert "✔ slow rebuild" in text


# -- funding -----------------------------------------------------------------------------------


async def test_funding_shows_weighted_rate_apr_state_and_countdowns():
    view = view_at(PHASE_AT["CASCADE"])
    funding = view.selected.funding
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(app, pilot, view)
        panel = app.query_one(FundingPanel)
        text = text_of(panel)
        assert f"{fmt.rate(funding.weighted_8h)}/8h" in text
        assert f"APR {fmt.pct(funding.apr)}" in text
        assert "✖ overheated" in text and "longs pay shorts" in text
        for venue, vf in funding.venues.items():
            row = next(line for line in text.splitlines() if f" {venue} " in line)
            assert fmt.rate(vf.rate_8h) in row
            # Derived from the view's own timestamps: the panel never reads the wall clock.
            minutes = -(-(vf.next_funding_ts - view.now) // MINUTE)
            expected = f"in {minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"in {minutes}m"
            assert f"next {expected}" in row
        assert "funding/8h · 7d" in text and "neutral band" in text
        assert "now" in chart_text(panel)


async def test_funding_state_reads_neutral_at_restart():
    view = view_at(PHASE_AT["RESTART"])
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(app, pilot, view)
        text = text_of(app.query_one(FundingPanel))
        assert view.selected.verdict.signals["funding"].state == "good"
        assert "✔ neutral" in text and "✖" not in text


async def test_funding_countdown_is_na_when_the_venue_gives_no_time():
    view = view_at(PHASE_AT["RESTART"])
    funding = view.selected.funding
    venues = {v: dataclasses.replace(vf, next_funding_ts=None) for v, vf in funding.venues.items()}
    selected = dataclasses.replace(view.selected, funding=dataclasses.replace(funding, venues=venues))
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(app, pilot, dataclasses.replace(view, selected=selected))
        rows = [line for line in text_of(app.query_one(FundingPanel)).splitlines() if " binance " in line]
        assert rows and rows[0].rstrip().endswith("next n/a")


def test_countdown_formats():
    assert countdown(None) == "n/a"
    assert countdown(0) == "due"
    assert countdown(45 * MINUTE) == "in 45m"
    assert countdown(3 * HOUR + 12 * MINUTE) == "in 3h12m"
    assert countdown(3 * HOUR + 5 * MINUTE) == "in 3h05m"
    assert countdown(3 * HOUR + 11 * MINUTE + 1) == "in 3h12m"  # rounds up: never says "now" early
    assert countdown(26 * HOUR) == "in 1d2h"


# -- long/short --------------------------------------------------------------------------------


async def test_long_short_shows_ratios_and_the_balance_word():
    view = view_at(PHASE_AT["CASCADE"])
    ls = view.selected.long_short
    signal = view.selected.verdict.signals["long_short"]
    assert signal.state == "warn" and signal.value > 1
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(app, pilot, view)
        panel = app.query_one(LongShortPanel)
        text = text_of(panel)
        assert "▲ leaning: longs" in text and f"mean {fmt.number(signal.value, 2)}" in text
        for venue in ls.global_ratio:
            row = next(line for line in text.splitlines() if f" {venue} " in line)
            assert fmt.number(ls.global_ratio[venue], 2) in row
            assert fmt.number(ls.top_ratio[venue], 2) in row
        assert "global long/short · 7d" in text and "1.00 even" in text
        assert "1.00" in chart_text(panel)


async def test_long_short_balanced_at_restart_and_dash_without_top_traders():
    view = view_at(PHASE_AT["RESTART"])
    ls = view.selected.long_short
    top = {v: r for v, r in ls.top_ratio.items() if v != "okx"}
    selected = dataclasses.replace(view.selected, long_short=dataclasses.replace(ls, top_ratio=top))
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(app, pilot, dataclasses.replace(view, selected=selected))
        text = text_of(app.query_one(LongShortPanel))
        assert "✔ balanced" in text
        okx = next(line for line in text.splitlines() if " okx " in line)
        assert "—" in okx and fmt.number(ls.global_ratio["okx"], 2) in okx


def test_long_short_word_names_the_crowded_side():
    def word(state, value):
        return long_short_word(Signal("long_short", state, value, ""))

    assert word("good", 1.1) == ("good", "balanced")
    assert word("warn", 1.6) == ("warn", "leaning: longs")
    assert word("warn", 0.7) == ("warn", "leaning: shorts")
    assert word("bad", 0.4) == ("bad", "one-sided: shorts")
    assert word("unknown", None) == ("unknown", "unknown")
    assert long_short_word(None) == ("unknown", "unknown")


def test_funding_word_tells_warming_from_crowded_shorts():
    funding = view_at(PHASE_AT["RESTART"]).selected.funding

    def word(state, value):
        return funding_state_word(Signal("funding", state, value, ""), funding)

    assert word("good", 0.0001) == ("good", "neutral")
    assert word("warn", 0.0002) == ("warn", "warming")
    assert word("warn", -0.0001) == ("warn", "shorts crowded")
    assert word("bad", 0.0005) == ("bad", "overheated")
    assert funding_state_word(None, funding) == ("unknown", "unknown")


def test_split_bar_shows_the_long_share():
    assert split_bar(1.0, 10).plain == "━" * 5 + "─" * 5
    assert split_bar(3.0, 8).plain == "━" * 6 + "─" * 2
    assert split_bar(None, 4).plain == "    "


# -- every panel -------------------------------------------------------------------------------


async def test_empty_view_says_no_data_yet_everywhere():
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(app, pilot, empty_view())
        for panel_type in PANELS:
            panel = app.query_one(panel_type)
            assert "no data yet" in text_of(panel), panel_type.__name__
            assert "no data yet" in chart_text(panel), panel_type.__name__
        assert "? unknown" in text_of(app.query_one(FundingPanel))
        assert "? unknown" in text_of(app.query_one(LongShortPanel))


async def test_chart_with_single_points_says_no_data_yet():
    view = view_at(PHASE_AT["RESTART"])
    oi = view.selected.open_interest
    single = {v: Line(line.ts[-1:], line.values[-1:]) for v, line in oi.lines.items()}
    selected = dataclasses.replace(view.selected, open_interest=dataclasses.replace(oi, lines=single))
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(app, pilot, dataclasses.replace(view, selected=selected))
        assert "no data yet" in chart_text(app.query_one(OpenInterestPanel))


async def test_show_twice_updates_rows_in_place():
    first, second = view_at(PHASE_AT["CASCADE"]), view_at(PHASE_AT["RESTART"])
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(app, pilot, first)
        panel = app.query_one(OpenInterestPanel)
        rows = list(panel.query(VenueRow))
        await shown(app, pilot, second)
        assert list(panel.query(VenueRow)) == rows
        text = text_of(panel)
        assert fmt.usd(second.selected.open_interest.total_usd) in text
        assert fmt.usd(first.selected.open_interest.total_usd) not in text
        assert "✔ balanced" in text_of(app.query_one(LongShortPanel))


def with_venues(view: MarketView, venues: list[str], scale: float) -> MarketView:
    """The view with the OI panel's venues in this order (and only these), each venue's OI times
    ``scale`` (the order of a dict is not part of its equality: a view must differ to be drawn)."""
    oi = view.selected.open_interest
    scaled = {v: dataclasses.replace(oi.venues[v], usd=oi.venues[v].usd * scale) for v in venues}
    selected = dataclasses.replace(view.selected, open_interest=dataclasses.replace(
        oi, venues=scaled, lines={v: oi.lines[v] for v in venues if v in oi.lines}))
    return dataclasses.replace(view, selected=selected)


def shown_rows(panel: OpenInterestPanel) -> list[tuple[str, str]]:
    """(venue, text) of each row on show."""
    return [(row.venue, row.text.visual.plain) for row in panel.query(VenueRow) if row.display]


async def test_venue_rows_are_reused_when_the_venues_change_order_or_number():
    # The venues come largest first, so their order moves between assets; a key must not mount
    # new rows (each a few widgets that become garbage), whatever the order or the number.
    view = view_at(PHASE_AT["RESTART"])
    venues = list(view.selected.open_interest.venues)
    assert len(venues) == 3
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(app, pilot, view)
        panel = app.query_one(OpenInterestPanel)
        rows = list(panel.query(VenueRow))
        for n, order in enumerate((venues[::-1], venues[1:], venues[:1], venues)):
            changed = with_venues(view, order, 1 + (n + 1) / 10)
            await shown(app, pilot, changed)
            assert list(panel.query(VenueRow)) == rows
            assert [venue for venue, _ in shown_rows(panel)] == order
            for venue, text in shown_rows(panel):  # each row names its venue and shows its figure
                assert venue in text and fmt.usd(changed.selected.open_interest.venues[venue].usd) in text
            assert all(row.has_class(f"venue-{row.venue}") for row in rows)
            assert sum(1 for row in rows if row.has_class("venue-okx")) <= 1


async def test_compact_open_interest_says_there_is_no_flush_to_rebuild_from():
    view = view_at(PHASE_AT["OVERHEATED"])
    selected = view.selected
    calm = dataclasses.replace(view, selected=dataclasses.replace(
        selected, verdict=dataclasses.replace(selected.verdict, flush=None),
        open_interest=dataclasses.replace(selected.open_interest, rebuild=None, rebuild_since=None)))
    app = Harness(compact=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(app, pilot, calm)
        text = text_of(app.query_one(OpenInterestPanel))
        assert "no flush" in text and "n/a" not in text
        await shown(app, pilot, view_at(PHASE_AT["RESTART"]))  # after a flush: the rebuild since its trough
        rebuild = view_at(PHASE_AT["RESTART"]).selected.open_interest.rebuild
        assert f"rebuild {change(rebuild)}" in text_of(app.query_one(OpenInterestPanel))


async def test_compact_swaps_charts_for_sparklines_at_80x24():
    view = view_at(PHASE_AT["CASCADE"])
    app = Harness(compact=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(app, pilot, view)
        for panel_type in PANELS:
            panel = app.query_one(panel_type)
            assert not panel.query_one(TimeChart).display
            sparklines = list(panel.query(Sparkline))
            assert len(sparklines) == 3 and all(s.display and s.data for s in sparklines)
            assert all(s.region.width >= 4 for s in sparklines), panel_type.__name__
        screen = app.export_screenshot()
        funding = view.selected.funding
        for vf in funding.venues.values():
            assert fmt.rate(vf.rate_8h) in screen
        assert fmt.usd(view.selected.open_interest.total_usd) in screen
        # Every headline line fits its panel: nothing wraps, so no word is split from its number.
        for panel_type in PANELS:
            panel = app.query_one(panel_type)
            headline = panel.query_one(".headline", Static)
            assert headline.region.height == len(headline.visual.plain.splitlines()), panel_type.__name__
        # Leaving compact mode brings the charts back.
        for panel in app.query("Panel"):
            panel.compact = False
        await pilot.pause()
        assert all(panel.query_one(TimeChart).display for panel in app.query("Panel"))
        assert not any(s.display for s in app.query(Sparkline))


@pytest.mark.parametrize("theme", ["textual-light", "textual-dark"])
async def test_charts_redraw_in_the_theme(theme):
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        app.theme = "textual-dark" if theme == "textual-light" else "textual-light"
        await shown(app, pilot, view_at(PHASE_AT["RESTART"]))
        row = app.query_one(OpenInterestPanel).query(VenueRow).first()
        before = row.text.visual.spans[0].style.foreground
        app.theme = theme
        await pilot.pause()
        assert row.text.visual.spans[0].style.foreground != before  # the swatch follows the theme
        for panel_type in PANELS:
            assert "now" in chart_text(app.query_one(panel_type))


def test_formatting_helpers():
    assert change(0.064) == "▲+6.4%" and change(-0.027) == "▼-2.7%" and change(None) == "n/a"
    assert change(0.0) == "•+0.0%"
    assert [usd_tick(v) for v in (6e9, 2.5e9, 500e6)] == ["$6B", "$2.5B", "$500M"]
    assert nice_ticks(1.6e9, 6.6e9, 4) == [2e9, 4e9, 6e9]
    assert nice_ticks(-0.0001, 0.0007, 5) == pytest.approx([0.0, 0.0002, 0.0004, 0.0006])


# -- redraws -----------------------------------------------------------------------------------


def later(view: MarketView, ms: int) -> MarketView:
    """The same data ``ms`` later on the data clock: what a refresh after an unrelated sample gives."""
    return dataclasses.replace(view, now=view.now + ms)


async def test_a_panel_draws_again_only_when_what_it_shows_changed():
    view = view_at(PHASE_AT["RESTART"])
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(app, pilot, view)
        draws = {panel_type: 0 for panel_type in PANELS}
        for panel_type in PANELS:
            panel = app.query_one(panel_type)
            panel.draw = lambda v, t=panel_type, d=panel.draw: (draws.__setitem__(t, draws[t] + 1), d(v))
        await shown(app, pilot, later(view, 10_000))
        assert draws == {OpenInterestPanel: 0, FundingPanel: 0, LongShortPanel: 0}
        # The funding countdowns count minutes: a new minute of the data clock redraws that panel.
        await shown(app, pilot, later(view, MINUTE))
        assert draws == {OpenInterestPanel: 0, FundingPanel: 1, LongShortPanel: 0}
        app.query_one(OpenInterestPanel).compact = True
        await pilot.pause()
        assert draws[OpenInterestPanel] == 1


def test_chart_windows_move_a_bucket_at_a_time():
    store = market_store("recovery")
    now = START_MS + PHASE_AT["RESTART"]
    start, end = chart_window(now, 7 * DAY)
    assert end - start == 7 * DAY and now <= end < now + 7 * DAY // CHART_POINTS
    series = store.series("binance", "BTC", "oi_usd")
    # Until the next bucket boundary the window stays put, and with no new sample, so does the line.
    assert chart_window(end, 7 * DAY) == (start, end) and chart_window(end + 1, 7 * DAY)[0] > start
    newest = int(series.ts[series.ts <= now][-1])
    assert downsample(series, (start, end), now) == downsample(series, (start, end), newest)
    assert len(downsample(series, (start, end), now).ts) <= CHART_POINTS


def test_time_chart_puts_each_value_at_its_height_and_time():
    rising = Line((0, DAY // 2, DAY), (0.0, 5.0, 10.0))
    spec = ChartSpec(((rising, "accent"),), DAY, DAY, lambda v: f"{v:g}", y_limits=(0, 10), y_ticks=(0, 10),
                     guides=((5.0, "good"),))
    rows = render_chart(spec, 30, 10, lambda _: Color.parse("#ff0000"), Color.parse("#808080")).plain.splitlines()
    plot, axis, labels = rows[:-2], rows[-2], rows[-1]
    assert len(rows) == 10 and all(len(row) == 30 for row in rows)
    assert plot[0].startswith("10┤") and plot[-1].startswith(" 0┤")
    # The line starts at the bottom left and ends at the top right; the guide runs where it is not.
    assert plot[-1][3] != " " and plot[0][-1] != " " and plot[0][3] == " "
    assert "─" in plot[3] + plot[4]  # 5 of 0-10 on eight rows: one of the middle two
    assert axis.startswith("  └") and axis.endswith("┬") and labels.rstrip().endswith("now")
    assert "-12h" in labels


def test_window_names_and_gate_labels_follow_the_engine():
    assert WINDOWS == tuple(CHART_WINDOWS_MS)
    assert tuple(GATE_LABEL) == tuple(COMPACT_GATE_LABEL) == GATE_SIGNALS
    assert HISTORY_WINDOW in CHART_WINDOWS_MS and CHART_WINDOWS_MS[HISTORY_WINDOW] == HISTORY_SPAN


def test_the_other_watchlist_rows_are_evaluated_in_turn():
    store = market_store("recovery")
    builder = ViewBuilder()
    evaluated: list[list[str]] = []
    watch_row = builder._watch_row

    def recording(series, asset, now):
        evaluated[-1].append(asset)
        return watch_row(series, asset, now)

    builder._watch_row = recording
    series = store.series_map(("BTC", "ETH", "SOL"))
    views = []
    for step in range(4):
        evaluated.append([])
        now = START_MS + PHASE_AT["RESTART"] + step * HOUR
        views.append(builder.build_from_series(series, now, ("BTC", "ETH", "SOL"), "BTC", others_per_build=1))
    assert evaluated == [["BTC", "ETH", "SOL"], ["BTC", "SOL"], ["BTC", "ETH"], ["BTC", "SOL"]]
    # A row not due keeps its last value; the selected asset's is always new.
    assert views[1].watchlist[1] is views[0].watchlist[1]
    assert [row.asset for row in views[-1].watchlist] == ["BTC", "ETH", "SOL"]
    full = ViewBuilder().build_from_series(series, START_MS + PHASE_AT["RESTART"] + 3 * HOUR, ("BTC", "ETH", "SOL"),
                                           "BTC")
    assert views[-1].watchlist[0] == full.watchlist[0] and views[-1].selected == full.selected


def test_only_text_that_sizes_its_widget_asks_for_a_layout():
    """A layout pass arranges and repaints the whole screen: a panel's text asks for one only when
    its widget's size follows the text."""
    from levtop.widgets.panel import takes_other_room

    fixed = Static()
    fixed.styles.width, fixed.styles.height = "1fr", 3
    assert not takes_other_room(fixed, (10, 4), (12, 4))  # a wider figure in a fixed box
    assert not takes_other_room(fixed, (10,), (10, 4))
    auto = Static()
    auto.styles.width, auto.styles.height = "auto", "auto"
    assert takes_other_room(auto, (10,), (10, 4))  # a line more
    assert takes_other_room(auto, (10,), (12,))  # wider
    assert not takes_other_room(auto, (10, 3), (4, 10))  # as many lines, as wide
    assert takes_other_room(fixed, None, (3,))  # not text before: measure again
