"""Forward returns after RESTART and TRAP entries: the pure math, and `levtop backtest`'s table
and JSON on a handcrafted dataset whose phases come out of the real engine.

The dataset (60 days from T0 = 2023-11-15, one venue, 4-hourly OI and price, 8-hourly funding,
daily stablecoin supply and Fear & Greed), worked out by hand:
- OI 100.5 on day 0 sliding 1 a day to 80.5 on day 20, then 80.5 flat: it goes under the ceiling
  (85% of the 100.5 peak = 85.425) on day 16, so RESTART from day 16 (2023-12-01).
- OI -20% over day 40 (80.5 -> 64.4): a flush, FLUSH from day 41; OI +10%/day on days 43-45 with
  funding +0.04%/8h: TRAP from day 44 (2023-12-29); then flat with funding neutral: RESTART again
  from day 48 (2024-01-02).
- price = 1000 + 10 x day, except none from day 52 to day 56; the data ends on day 60.
So the entries are RESTART day 16 (1160: 7d 1230, 30d 1460), TRAP day 44 (1440: 7d 1510, 30d
after the end), RESTART day 48 (1480: 7d falls in the price gap, 30d after the end).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from levtop.cli import main
from levtop.forward_returns import (
    DATA_ENDS,
    NO_PRICE,
    Entry,
    entry_steps,
    forward_returns,
    price_at,
    summarize,
)
from levtop.model import DAY, HOUR
from levtop.series import Series
from samples_builder import T0, Rows

GAP = (52, 56)  # days without a price
LAST_DAY = 60


def _oi(day: float) -> float:
    if day <= 20:
        return 100.5 - day
    if day <= 40:
        return 80.5
    if day <= 41:
        return 80.5 * (1 - 0.2 * (day - 40))
    if day <= 43:
        return 64.4
    if day <= 45:
        return 64.4 * 1.1 ** (day - 43)
    return 64.4 * 1.21


def _price(day: float) -> float:
    return 1000.0 + 10.0 * day


def _dataset_rows(with_price: bool = True) -> Rows:
    rows = Rows()
    times = [T0 + k * 4 * HOUR for k in range(LAST_DAY * 6 + 1)]
    oi = [(t, 1e6 * _oi((t - T0) / DAY)) for t in times]
    rows.add("binance", "BTC", "oi_usd", oi)
    rows.add("binance", "BTC", "oi_base", [(t, v / 1000) for t, v in oi])
    if with_price:
        rows.add("binance", "BTC", "price", [(t, _price((t - T0) / DAY)) for t in times
                                             if not GAP[0] * DAY <= t - T0 < GAP[1] * DAY])
    settlements = range(T0, T0 + LAST_DAY * DAY + 1, 8 * HOUR)
    rows.add("binance", "BTC", "funding_8h",
             [(t, 0.0004 if 43 * DAY <= t - T0 < 46 * DAY else 0.0001) for t in settlements])
    rows.market("stablecoin_supply_usd", [(T0 + d * DAY, 1e11 * 1.002 ** d) for d in range(LAST_DAY + 1)])
    rows.market("fear_greed", [(T0 + d * DAY, 30.0) for d in range(LAST_DAY + 1)])
    return rows


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("forward") / "handmade"
    path.mkdir()
    _dataset_rows().frame().write_csv(path / "data.csv")
    return path


def backtest(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["backtest", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def day_ts(day: int) -> int:
    return T0 + day * DAY


# --------------------------------------------------------------------------------------------
# The pure module


def test_an_entry_is_the_first_step_of_each_run_of_restart_or_trap():
    phases = ["NEUTRAL", "RESTART", "RESTART", "TRAP", "TRAP", "PURIFYING", "RESTART", "NEUTRAL", "TRAP", "TRAP"]
    assert entry_steps(list(range(10)), phases) == [(1, "RESTART"), (3, "TRAP"), (6, "RESTART"), (8, "TRAP")]
    assert entry_steps([0, 1], ["NEUTRAL", "FLUSH"]) == []


def test_exact_returns_data_end_and_missing_price():
    prices = {"binance": Series.from_arrays(np.array([0, 7 * DAY, 9 * DAY]), np.array([100.0, 110.0, 90.0]))}
    times = [0, DAY, 2 * DAY, 3 * DAY]
    phases = ["RESTART", "NEUTRAL", "TRAP", "TRAP"]
    report = forward_returns("BTC", times, phases, prices, data_end=40 * DAY)
    restart, trap = report.entries
    assert (restart.ts, restart.phase, restart.price) == (0, "RESTART", 100.0)
    assert restart.returns["7d"] == pytest.approx(0.10, abs=1e-15)
    # 30 days on, the last price (day 9) is 21 days old: no price, though the data goes on.
    assert (restart.returns["30d"], restart.missing["30d"]) == (None, NO_PRICE)
    # TRAP at day 2: its price is the day-0 one, 2 days old: no entry price, so no returns.
    assert trap.price is None and trap.missing == {"7d": NO_PRICE, "30d": NO_PRICE}
    assert report.price_source == "binance"

    # A target exactly at the end of the data counts; a millisecond past it is "data ends".
    at_end = forward_returns("BTC", [2 * DAY], ["TRAP"], prices, data_end=9 * DAY)
    assert at_end.entries[0].missing == {"7d": NO_PRICE, "30d": DATA_ENDS}
    prices = {"binance": Series.from_arrays(np.array([2 * DAY, 9 * DAY]), np.array([80.0, 90.0]))}
    at_end = forward_returns("BTC", [2 * DAY], ["TRAP"], prices, data_end=9 * DAY)
    assert at_end.entries[0].returns == {"7d": pytest.approx(0.125, abs=1e-15), "30d": None}
    ends = forward_returns("BTC", [2 * DAY], ["TRAP"], prices, data_end=9 * DAY - 1)
    assert ends.entries[0].missing == {"7d": DATA_ENDS, "30d": DATA_ENDS}


def test_price_is_the_market_series_alone_else_the_mean_of_fresh_venues():
    at = np.array([10 * HOUR, 40 * HOUR])
    venues = {"binance": Series.from_arrays(np.array([0, 30 * HOUR]), np.array([100.0, 104.0])),
              "okx": Series.from_arrays(np.array([0]), np.array([102.0]))}
    # At 10h both are fresh: (100 + 102) / 2; at 40h okx's price is 40h old: binance's alone.
    assert price_at(venues, at).tolist() == [101.0, 104.0]
    with_market = {**venues, "market": Series.from_arrays(np.array([0]), np.array([99.0]))}
    assert price_at(with_market, at[:1]).tolist() == [99.0]
    assert np.isnan(price_at({}, at)).all()


def test_summary_per_phase_counts_only_entries_with_the_figure():
    def entry(phase: str, r7: float | None, r30: float | None) -> Entry:
        return Entry(0, phase, 1.0, {"7d": r7, "30d": r30},
                     {"7d": None if r7 is not None else DATA_ENDS, "30d": None if r30 is not None else DATA_ENDS})

    entries = [entry("RESTART", 0.10, 0.30), entry("RESTART", -0.05, None), entry("RESTART", 0.02, None),
               entry("RESTART", None, None), entry("TRAP", -0.2, -0.4)]
    restart, trap = summarize(entries)
    assert (restart.phase, restart.entries, trap.phase, trap.entries) == ("RESTART", 4, "TRAP", 1)
    r7 = restart.horizons["7d"]
    assert (r7.count, r7.mean, r7.median, r7.hit_rate) == (3, pytest.approx(0.07 / 3), pytest.approx(0.02), 2 / 3)
    r30 = restart.horizons["30d"]
    assert (r30.count, r30.mean, r30.median, r30.hit_rate) == (1, pytest.approx(0.30), pytest.approx(0.30), 1.0)
    assert (trap.horizons["7d"].hit_rate, trap.horizons["30d"].median) == (0.0, pytest.approx(-0.4))
    empty = summarize([])[0].horizons["7d"]
    assert (empty.count, empty.mean, empty.median, empty.hit_rate) == (0, None, None, None)


# --------------------------------------------------------------------------------------------
# levtop backtest on the handcrafted dataset


EXPECTED = [  # (day, phase, price, 7d, 30d) from the module docstring
    (16, "RESTART", 1160.0, 1230 / 1160 - 1, 1460 / 1160 - 1),
    (44, "TRAP", 1440.0, 1510 / 1440 - 1, None),
    (48, "RESTART", 1480.0, None, None),
]


def test_json_entries_carry_their_forward_returns(dataset, capsys):
    code, out, _ = backtest(capsys, str(dataset), "--step", "1d", "--json")
    assert code == 0
    steps = json.loads(out)
    entries = [s for s in steps if "forward" in s]
    assert [(s["ts"], s["phase"]) for s in entries] == [(day_ts(d), p) for d, p, *_ in EXPECTED]
    for step, (_, _, price, r7, r30) in zip(entries, EXPECTED):
        forward = step["forward"]
        assert forward["price"] == price
        for name, expected in (("7d", r7), ("30d", r30)):
            if expected is None:
                assert forward[f"return_{name}"] is None
            else:
                assert forward[f"return_{name}"] == pytest.approx(expected, rel=1e-12)
                assert forward[f"missing_{name}"] is None
    assert [e["forward"]["missing_30d"] for e in entries[1:]] == ["data ends", "data ends"]
    assert entries[2]["forward"]["missing_7d"] == "no price"
    # Every other step keeps the documented shape.
    assert all(set(s) == {"ts", "asset", "phase", "signals"} for s in steps if "forward" not in s)
    # The steps between the entries are the runs the entries start.
    phases = [s["phase"] for s in steps]
    assert phases[16:41] == ["RESTART"] * 25 and phases[15] != "RESTART" and phases[47] != "RESTART"


def test_text_prints_the_entries_and_the_summary_per_phase(dataset, capsys):
    code, out, _ = backtest(capsys, str(dataset), "--step", "1d")
    assert code == 0
    report = out[out.index("forward returns after RESTART and TRAP entries"):]
    lines = report.splitlines()
    assert lines[0] == ("forward returns after RESTART and TRAP entries (BTC price: binance; "
                        "as-of, at most 1 day old):")
    assert lines[1].split() == ["entry", "(UTC)", "phase", "price", "after", "7d", "after", "30d"]
    assert lines[3].split() == ["2023-12-01", "RESTART", "1,160.00", "+6.0%", "+25.9%"]
    assert lines[4].split() == ["2023-12-29", "TRAP", "1,440.00", "+4.9%", "n/a:", "data", "ends"]
    assert lines[5].split() == ["2024-01-02", "RESTART", "1,480.00", "n/a:", "no", "price", "n/a:", "data", "ends"]
    # Columns line up under their headers.
    assert lines[3].index("+6.0%") == lines[1].index("after 7d") == lines[5].index("n/a: no price")
    summary = lines[lines.index("  forward returns per phase (over the entries that have the figure; "
                                "hit = share above 0):"):]
    rows = {line.split()[0]: line.split() for line in summary[3:]}
    assert rows["RESTART"] == ["RESTART", "2", "|", "1", "+6.0%", "+6.0%", "100%", "|", "1", "+25.9%", "+25.9%", "100%"]
    assert rows["TRAP"] == ["TRAP", "1", "|", "1", "+4.9%", "+4.9%", "100%", "|", "0", "—", "—", "—"]


def test_a_dataset_without_the_asset_price_says_so_in_one_line(tmp_path, capsys):
    _dataset_rows(with_price=False).frame().write_csv(tmp_path / "data.csv")
    code, out, err = backtest(capsys, str(tmp_path), "--step", "1d")
    assert code == 0 and "Traceback" not in err
    tail = out[out.index("forward returns after"):].rstrip("\n")
    assert tail == "forward returns after RESTART and TRAP entries: no BTC price in the dataset (3 entries found)"
    code, out, _ = backtest(capsys, str(tmp_path), "--step", "1d", "--json")
    forwards = [s["forward"] for s in json.loads(out) if "forward" in s]
    assert len(forwards) == 3 and all(f["price"] is None and f["missing_7d"] == "no price" for f in forwards)


def test_no_entry_is_stated(tmp_path, capsys):
    rows = Rows().add("binance", "BTC", "price", [(T0 + k * DAY, 100.0 + k) for k in range(5)])
    rows.frame().write_csv(tmp_path / "data.csv")
    code, out, _ = backtest(capsys, str(tmp_path))
    assert code == 0
    assert out.rstrip("\n").endswith("(BTC price: binance; as-of, at most 1 day old):\n"
                                      "  none: no step enters RESTART or TRAP")


def test_forward_returns_look_past_to(dataset, capsys):
    # --to stops the steps, not the price: the first entry keeps its 30-day return.
    code, out, _ = backtest(capsys, str(dataset), "--to", "2023-12-05", "--json")
    entries = [s for s in json.loads(out) if "forward" in s]
    assert code == 0 and len(entries) == 1
    assert entries[0]["forward"]["return_30d"] == pytest.approx(1460 / 1160 - 1, rel=1e-12)


# --------------------------------------------------------------------------------------------
# --plot


def test_plot_draws_the_price_on_phase_bands_with_a_worded_legend(dataset, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LINES", "30")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, out, err = backtest(capsys, str(dataset), "--step", "1d", "--plot")
    assert code == 0 and err == ""
    assert "\x1b" not in out  # captured stdout is no terminal: plain text
    plot = out[out.index("BTC price (UTC) with the phase at each step"):].rstrip("\n").splitlines()
    assert len(plot) == 29 and max(len(line) for line in plot) <= 100
    legend = plot[-1]
    assert legend == "bands: == FLUSH  xx TRAP  ++ RESTART  :: PURIFYING; no band: NEUTRAL, UNKNOWN; line: price"
    body = "\n".join(plot[1:-1])
    for glyph in "=x+:":
        assert glyph in body
    assert plot[-2].split()[0] == "11-15" and plot[-2].split()[-1] == "01-14"  # dates under the x axis
    # The price axis spans the prices (1,000 .. 1,600) with 5% to spare.
    assert plot[1].startswith("     ┌") and plot[2].startswith("1,630┤") and plot[-4].startswith("  970┤")


def test_plot_colour_follows_force_color_and_no_color(dataset, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "20")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    _, coloured, _ = backtest(capsys, str(dataset), "--plot")
    assert "\x1b[" in coloured
    monkeypatch.setenv("NO_COLOR", "1")
    _, plain, _ = backtest(capsys, str(dataset), "--plot")
    assert "\x1b" not in plain
    strip = __import__("re").compile(r"\x1b\[[0-9;]*m")
    assert strip.sub("", coloured) == plain


def test_plot_with_json_is_a_one_line_error(dataset, capsys):
    code, out, err = backtest(capsys, str(dataset), "--json", "--plot")
    assert code == 2 and out == ""
    assert err == "levtop: --plot draws on the terminal and --json prints JSON: use one of them\n"


def test_plot_without_any_price_draws_the_bands(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "20")
    _dataset_rows(with_price=False).frame().write_csv(tmp_path / "data.csv")
    code, out, _ = backtest(capsys, str(tmp_path), "--plot")
    assert code == 0
    assert "BTC: no price in the dataset; phase bands only" in out and "++ RESTART" in out


def test_plot_buckets_keep_the_rarest_urgent_phase_and_fit_tiny_terminals():
    from levtop.backtest_plot import bucket_steps, render_plot, use_colour

    times = np.arange(1000, dtype=np.int64) * HOUR
    phases = ["NEUTRAL"] * 1000
    phases[501] = "CASCADE"
    t, p, b = bucket_steps(times, np.linspace(1, 2, 1000), phases, 100)
    assert len(t) == len(b) == 100 and b.count("CASCADE") == 1 and t[-1] == times[-1] and p[-1] == 2.0
    one = render_plot("ETH", [0], np.array([math.nan]), ["TRAP"], 10, 3, colour=False)
    assert len(one.splitlines()) == 10 and "xx TRAP" in one.splitlines()[-1]
    assert use_colour(True, {}) and not use_colour(False, {})
    assert use_colour(False, {"FORCE_COLOR": "1"}) and not use_colour(True, {"NO_COLOR": "1", "FORCE_COLOR": "1"})


def test_time_axis_labels_are_distinct_days_or_times_and_fit():
    from levtop.backtest_plot import x_ticks

    hourly = np.arange(9 * 24, dtype=np.int64) * HOUR + T0 + 13 * HOUR  # 9 days from 13:00
    positions, labels = x_ticks(hourly, 120)
    assert labels == ["11-15", "11-16", "11-17", "11-18", "11-19", "11-20", "11-21", "11-22", "11-23", "11-24"]
    assert positions[1:] == [11 + 24 * k for k in range(9)]  # midnights
    positions, labels = x_ticks(hourly, 40)
    assert len(labels) == 4 and len(set(labels)) == 4 and labels[0] == "11-15"
    positions, labels = x_ticks(hourly[:30], 80)
    assert labels[0] == "11-15 13:00" and len(set(labels)) == len(labels) and len(labels) <= 72 // 14


def test_the_backtest_runs_without_cycle_collection_and_gives_it_back(capsys, dataset, monkeypatch):
    import gc

    import levtop.backtest

    seen = []
    real = levtop.backtest.run_backtest

    def watched(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(levtop.backtest, "run_backtest", watched)
    assert gc.isenabled()
    code, out, _ = backtest(capsys, str(dataset))
    assert code == 0 and "RESTART" in out
    assert seen == [False] and gc.isenabled()
    # A command that fails leaves the collector as it found it too, on or off.
    gc.disable()
    try:
        assert backtest(capsys, str(dataset), "--asset", "NOPE")[0] == 2
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert backtest(capsys, str(dataset), "--asset", "NOPE")[0] == 2 and gc.isenabled()
