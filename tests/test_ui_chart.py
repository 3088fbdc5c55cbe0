"""The time chart: plotext's picture in the theme's colours, thinned points, the picture cache and
the redraw throttle."""

from __future__ import annotations

import time

from textual.app import App, ComposeResult
from textual.color import Color

import levtop.widgets.chart as chart_module
from levtop.model import DAY, HOUR
from levtop.view import Line
from levtop.widgets.chart import ChartSpec, DrawTurns, TimeChart, render_chart
from levtop.widgets.chart_spec import thin
from ui_helpers import PHASE_AT, view_at

RED, GREY = Color.parse("#ff0000"), Color.parse("#808080")


def label(value: float) -> str:
    return f"{value:g}"


def rising(subject: str = "BTC", top: float = 10.0) -> ChartSpec:
    line = Line((0, DAY // 2, DAY), (0.0, top / 2, top))
    return ChartSpec(((line, "accent"),), DAY, DAY, label, y_limits=(0, top), y_ticks=(0, top), subject=subject)


# -- thinning ----------------------------------------------------------------------------------


def test_thinning_keeps_two_points_a_column_with_the_extremes():
    ts = tuple(range(0, 1000, 2))
    values = tuple(float(i % 7) for i in range(len(ts)))
    spiked = values[:301] + (99.0,) + values[302:]
    t, v = thin(Line(ts, spiked), 0, 1000, 10)
    assert len(t) <= 20 and t == sorted(t)
    assert 99.0 in v and min(v) == 0.0  # a one-sample spike and the lows survive
    # Points before the window are left out; a short line is kept whole.
    assert thin(Line((-5, 1, 2), (7.0, 1.0, 2.0)), 0, 1000, 10) == ([1, 2], [1.0, 2.0])


def test_a_realistic_chart_plots_about_two_points_a_column(monkeypatch):
    view = view_at(PHASE_AT["RESTART"])
    start, end = view.chart_windows["7d"]
    lines = tuple((line, "primary") for line in view.selected.open_interest.lines.values())
    assert all(len(line.ts) > 200 for line, _ in lines)
    plotted: list[int] = []
    original = chart_module.Plot.plot

    def counting(self, xs, ys, **kwargs):
        plotted.append(len(xs))
        return original(self, xs, ys, **kwargs)

    monkeypatch.setattr(chart_module.Plot, "plot", counting)
    render_chart(ChartSpec(lines, end, end - start, label), 50, 12, lambda _: RED, GREY)
    assert len(plotted) == len(lines) and all(n <= 2 * 50 for n in plotted)


# -- the picture -------------------------------------------------------------------------------


def test_the_picture_is_plotexts_in_the_given_colours():
    spec = rising()._replace(guides=((5.0, "good"),), title="Rising · 1d")
    picture = render_chart(spec, 30, 11, lambda v: Color.parse("#00ff00") if v == "good" else RED, GREY)
    rows = picture.plain.splitlines()
    assert len(rows) == 11 and all(len(row) == 30 for row in rows)
    assert "Rising · 1d" in rows[0]
    assert rows[1].startswith("10┤") and rows[-3].startswith(" 0┤") and rows[-2].startswith("  └")
    assert "now" in rows[-1] and "-12h" in rows[-1]
    colours = {span.style.foreground.hex for span in picture.spans if span.style.foreground}
    assert colours == {"#FF0000", "#00FF00", "#808080"}  # the line, the guide, the axes
    # Each cell of dots is a span of its own (SVG renderers misplace runs of braille).
    dots = [span for span in picture.spans if "\u2800" <= picture.plain[span.start] <= "\u28ff"]
    assert dots and all(span.end - span.start == 1 for span in dots)


def test_a_label_and_a_guide_sit_on_the_row_of_the_data_at_their_value():
    # plotext rounds labels over rows and dots over dots: left alone, they part near row edges.
    values = (0.0, 2.5, 5.0, 7.5, 10.0)
    flat = tuple((Line((0, DAY // 2, DAY), (v, v, v)), "accent") for v in values[:-1])
    spec = ChartSpec(flat, DAY, DAY, label, y_limits=(0, 10), y_ticks=values, guides=((10.0, "good"),))
    rows = render_chart(spec, 30, 9, lambda _: RED, GREY).plain.splitlines()[:-2]
    for value in values[:-1]:
        row = next(row for row in rows if row.startswith(f"{label(value):>3}┤"))
        assert set(row[4:]) <= set("⠉⠒⣀⠤⡀⠁⠂⠄⠈⠐⠠⢀"), row  # the line at its own label
    top = next(row for row in rows if row.startswith(" 10"))
    assert set(top[4:]) == {"─"}  # the guide at 10, on the label's row


# -- the widget: cache and throttle -----------------------------------------------------------


class ChartApp(App):
    def compose(self) -> ComposeResult:
        yield TimeChart()


def count_builds(monkeypatch) -> list[ChartSpec]:
    built: list[ChartSpec] = []
    original = chart_module.render_chart

    def counting(spec, *args, **kwargs):
        built.append(spec)
        return original(spec, *args, **kwargs)

    monkeypatch.setattr(chart_module, "render_chart", counting)
    return built


async def test_an_unchanged_chart_is_not_built_again(monkeypatch):
    built = count_builds(monkeypatch)
    app = ChartApp()
    async with app.run_test(size=(60, 20)) as pilot:
        chart = app.query_one(TimeChart)
        chart.draw(rising())
        await pilot.pause()
        first = chart.render()
        chart.draw(rising())  # an equal spec
        chart.refresh()
        await pilot.pause()
        assert chart.render() is first and len(built) == 1
        await pilot.resize_terminal(70, 20)  # a new size: built again at once
        await pilot.pause()
        assert len(built) == 2
        app.theme = "textual-light"  # a new theme: the same
        await pilot.pause()
        assert len(built) == 3


async def test_new_data_waits_for_the_redraw_slot_and_a_new_asset_only_settles(monkeypatch):
    built = count_builds(monkeypatch)
    app = ChartApp()
    async with app.run_test(size=(60, 20)) as pilot:
        chart = app.query_one(TimeChart)
        chart.REDRAW_EVERY_S = 3.0  # long enough that a loaded machine still draws 20 after the check below
        chart.draw(rising(top=10.0))
        await pilot.pause()
        assert "10┤" in chart.render().plain
        chart.draw(rising(top=20.0))  # new data, same asset, right after a build
        await pilot.pause()
        assert "10┤" in chart.render().plain and len(built) == 1
        assert chart.spec.y_limits == (0, 20.0)  # kept for the slot
        for _ in range(100):  # the slot's timer draws it
            if len(built) == 2:
                break
            await pilot.pause(0.1)
        assert "20┤" in chart.render().plain and len(built) == 2
        asked = time.monotonic()
        chart.draw(rising(subject="ETH", top=30.0))  # another asset: once the selection settles
        for _ in range(100):
            if len(built) == 3:
                break
            await pilot.pause(0.02)
        assert "30┤" in chart.render().plain and len(built) == 3
        assert time.monotonic() - asked < chart.REDRAW_EVERY_S  # not the redraw slot's wait


async def test_assets_passed_in_a_row_draw_only_the_chart_of_the_last(monkeypatch):
    """j j j: each new asset within SETTLE_S of the last postpones the charts; only the asset the
    keys stop at is built."""
    built = count_builds(monkeypatch)
    app = ChartApp()
    async with app.run_test(size=(60, 20)) as pilot:
        chart = app.query_one(TimeChart)
        chart.draw(rising(subject="BTC", top=10.0))  # the first picture: at once
        await pilot.pause()
        assert len(built) == 1
        for subject, top in (("ETH", 20.0), ("SOL", 30.0), ("XRP", 40.0)):
            chart.draw(rising(subject=subject, top=top))
            await pilot.pause()  # well within SETTLE_S of the last
        for _ in range(100):
            if len(built) == 2:
                break
            await pilot.pause(0.02)
        await pilot.pause(DrawTurns.SETTLE_S)
        assert [spec.subject for spec in built] == ["BTC", "XRP"]
        assert "40┤" in chart.render().plain


class ManyChartsApp(App):
    def compose(self) -> ComposeResult:
        for _ in range(4):
            yield TimeChart()


async def test_charts_with_new_pictures_take_turns(monkeypatch):
    """Four charts given a new asset at once are handed their turns one at a time, TURN_S apart
    (so a frame builds one plotext picture, not four), and all four are drawn."""
    built = count_builds(monkeypatch)
    turns: list[float] = []
    original = TimeChart.take_turn

    def timed(chart):
        turns.append(time.monotonic())
        original(chart)

    monkeypatch.setattr(TimeChart, "take_turn", timed)
    app = ManyChartsApp()
    async with app.run_test(size=(60, 40)) as pilot:
        charts = list(app.query(TimeChart))
        for chart in charts:
            chart.draw(rising(subject="ETH", top=30.0))
        assert len(turns) == 1  # the first at once
        for _ in range(100):
            if len(built) == 4:
                break
            await pilot.pause(0.05)
        assert len(turns) == 4 and len(built) == 4
        gaps = [b - a for a, b in zip(turns, turns[1:])]
        assert min(gaps) >= DrawTurns.TURN_S - 0.002, gaps
        assert all("30┤" in chart.render().plain for chart in charts)


async def test_a_chart_without_two_points_says_no_data_yet():
    app = ChartApp()
    async with app.run_test(size=(60, 20)) as pilot:
        chart = app.query_one(TimeChart)
        chart.draw(ChartSpec(((Line((HOUR,), (1.0,)), "accent"),), DAY, DAY, label, title="Lonely"))
        await pilot.pause()
        assert not chart.has_data
        text = chart.render().plain
        assert "no data yet" in text and "Lonely" in text
