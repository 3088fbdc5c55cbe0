"""Chart drawing: the CPU time to build one panel chart with plotext, with and without thinning
its lines to two points a column, and what a screen of charts costs at steady state.

The spec is the Open Interest panel's (three venues, 7 days, 240 points a line) from the
simulator's market (seed 1), drawn at 50x12, the size of a chart at 160x50. Medians of CPU time
(process time: the machine's other load does not count) over several runs.

Steady state at `--demo --speed 600`: the three market charts get new data every refresh and are
drawn at most every TimeChart.REDRAW_EVERY_S; the Sentiment and Flows charts (30 days of daily
data) move one bucket every 18 s. The budget: the charts of a full screen cost under 3% of a core.

    .venv/bin/python benchmarks/chart_draw.py [--runs 40]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from textual.color import Color  # noqa: E402
from ui_helpers import PHASE_AT, view_at  # noqa: E402

import levtop.widgets.chart as chart  # noqa: E402
from levtop.widgets.open_interest import usd_tick, venue_lines  # noqa: E402

BUDGET_CORE_PERCENT = 3.0
SIZE = (50, 12)
MARKET_CHARTS = 3
HISTORY_CHARTS = 2
HISTORY_REDRAW_S = 18.0
"""A 30-day chart's window moves a 240th of 30 days (3 h) at a time: 18 s at speed 600."""


def cpu_ms(draws: dict[str, object], runs: int) -> dict[str, float]:
    """Median and least CPU ms of each draw, run in turn (a change in the machine's load hits all
    alike; the least is the figure of a quiet machine)."""
    times: dict[str, list[float]] = {name: [] for name in draws}
    for run in range(runs + 3):
        for name, draw in draws.items():
            start = time.process_time()
            draw()
            if run >= 3:  # the first runs warm caches up
                times[name].append((time.process_time() - start) * 1000)
    return {f"{name}_{stat.__name__}": stat(values) for name, values in times.items() for stat in (statistics.median, min)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    view = view_at(PHASE_AT["RESTART"])
    start, end = view.chart_windows["7d"]
    spec = chart.ChartSpec(venue_lines(view.selected.open_interest.lines), end, end - start, usd_tick)
    colours = {"primary": Color.parse("#5AA9E6"), "accent": Color.parse("#F2A65A"),
               "foreground": Color.parse("#D5DCE4")}
    muted = Color.parse("#7F8893")
    plot = chart.Plot()

    def draw() -> None:
        chart.render_chart(spec, *SIZE, colours.__getitem__, muted, plot)

    def draw_all_points() -> None:
        thin = chart.thin
        chart.thin = lambda line, start, span, columns: (list(line.ts), list(line.values))
        try:
            draw()
        finally:
            chart.thin = thin

    medians = cpu_ms({"thinned": draw, "all_points": draw_all_points}, args.runs)
    thinned = medians["thinned_median"]
    per_second = (MARKET_CHARTS / chart.TimeChart.REDRAW_EVERY_S + HISTORY_CHARTS / HISTORY_REDRAW_S) * thinned
    core_percent = per_second / 10  # ms of CPU per second of wall time, as a percentage of a core
    print(json.dumps({
        "name": "chart draw",
        "budget": f"<= {BUDGET_CORE_PERCENT}% of a core for a screen of charts at speed 600",
        "value": round(core_percent, 2),
        "unit": "% of a core",
        "passed": core_percent <= BUDGET_CORE_PERCENT,
        "per_chart_ms": {name: round(value, 2) for name, value in medians.items()},
        "points_per_line": [len(line.ts) for line, _ in spec.lines],
        "size": list(SIZE),
        "load_average": os.getloadavg()[0],
    }))


if __name__ == "__main__":
    main()
