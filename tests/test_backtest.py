"""`levtop backtest`: the real FTX episode, step alignment, output formats, errors.

Facts about the FTX episode were read by hand from ../shared/episodes/2022-11-ftx/data.csv:
- BTC funding_8h in (2022-11-09 00:00, 2022-11-10 00:00]: 7.305e-05 and -0.00032976 -> mean
  -0.000128355, below the neutral band: warn (shorts crowded).
- in (2022-11-13, 2022-11-14]: 3.33e-06, -7.357e-05, 2.816e-05, -3.809e-05 -> -2.00425e-05: good.
- stablecoin supply on 2022-11-10 145,475,768,069.13, 7d earlier 145,322,971,466.47 (+0.105%),
  14d earlier 145,705,004,721.17 (-0.157%): warn (7d > +0.1% but 14d is not > 0).
- on 2022-11-14: 144,872,562,905.54 vs 146,078,052,160.65 7d earlier: -0.825%: bad.
- on 2022-11-08: +1.060% 7d, +0.976% 14d: good; Fear & Greed 31: good.
- Fear & Greed on 2023-01-25: 51 (warn); on 2023-01-30: 61 (bad).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

import polars as pl
import pytest

from levtop.backtest import run_backtest, step_times
from levtop.model import DAY, HOUR


def day(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp() * 1000)


def levtop(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "levtop", *args], capture_output=True, text=True,
                          timeout=120, env=os.environ.copy())


@pytest.fixture(scope="module")
def ftx_days(request):
    from conftest import FTX_EPISODE

    if not (FTX_EPISODE / "data.csv").is_file():
        pytest.skip(f"real FTX episode not found at {FTX_EPISODE} (../shared is absent)")
    result = levtop("backtest", str(FTX_EPISODE), "--asset", "BTC", "--step", "1d", "--json")
    assert result.returncode == 0, result.stderr
    return {row["ts"]: row for row in json.loads(result.stdout)}


def test_ftx_one_object_per_day_with_the_documented_shape(ftx_days):
    ts = sorted(ftx_days)
    assert ts[0] == day("2022-09-15") and ts[-1] == day("2023-01-31")
    assert len(ts) == 139 and all(b - a == DAY for a, b in zip(ts, ts[1:]))
    for row in ftx_days.values():
        assert set(row) == {"ts", "asset", "phase", "signals"}
        assert row["asset"] == "BTC"
        assert set(row["signals"]) == {"funding", "oi_rebuild", "oi_level", "stablecoins", "sentiment",
                                       "long_short", "liquidations"}
        for sig in row["signals"].values():
            assert set(sig) == {"state", "value", "reason"}
            assert (sig["value"] is None) == (sig["state"] == "unknown")


def test_ftx_funding_on_chosen_days(ftx_days):
    nov10 = ftx_days[day("2022-11-10")]["signals"]["funding"]
    assert nov10["state"] == "warn"
    assert nov10["value"] == pytest.approx(-0.000128355, rel=1e-9)
    assert "shorts crowded" in nov10["reason"]
    nov14 = ftx_days[day("2022-11-14")]["signals"]["funding"]
    assert (nov14["state"], nov14["value"]) == ("good", pytest.approx(-2.00425e-05, rel=1e-9))


def test_ftx_stablecoins_and_sentiment_on_chosen_days(ftx_days):
    nov10 = ftx_days[day("2022-11-10")]["signals"]["stablecoins"]
    assert (nov10["state"], nov10["value"]) == ("warn", pytest.approx(145475768069.13 / 145322971466.47 - 1))
    nov14 = ftx_days[day("2022-11-14")]["signals"]["stablecoins"]
    assert (nov14["state"], nov14["value"]) == ("bad", pytest.approx(144872562905.54 / 146078052160.65 - 1))
    assert ftx_days[day("2022-11-08")]["signals"]["stablecoins"]["state"] == "good"
    assert ftx_days[day("2022-11-08")]["signals"]["sentiment"] == {
        "state": "good", "value": 31.0, "reason": ftx_days[day("2022-11-08")]["signals"]["sentiment"]["reason"]}
    assert ftx_days[day("2023-01-25")]["signals"]["sentiment"]["state"] == "warn"
    assert ftx_days[day("2023-01-30")]["signals"]["sentiment"]["state"] == "bad"


def test_ftx_has_no_oi_so_oi_signals_are_unknown_and_never_restart(ftx_days):
    for row in ftx_days.values():
        for name in ("oi_rebuild", "oi_level", "long_short", "liquidations"):
            assert row["signals"][name]["state"] == "unknown"
        assert row["phase"] != "RESTART"
    # Even on a day when funding, stablecoins and sentiment are all good, unknown OI keeps it red.
    nov8 = ftx_days[day("2022-11-08")]
    assert [nov8["signals"][n]["state"] for n in ("funding", "stablecoins", "sentiment")] == ["good"] * 3
    assert nov8["phase"] == "NEUTRAL"


def test_ftx_table_and_summary(ftx_episode):
    result = levtop("backtest", str(ftx_episode), "--from", "2022-11-01", "--to", "2022-11-30")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("time (UTC)  phase")
    assert sum(1 for line in lines if line.startswith("2022-11-")) == 30
    assert "BTC: 30 steps of 1d from 2022-11-01 to 2022-11-30 UTC" in result.stdout
    assert "gate green (RESTART):\n  never" in result.stdout
    assert "flushes found:\n  none" in result.stdout


def test_ftx_eth_and_intraday_steps(ftx_episode):
    result = levtop("backtest", str(ftx_episode), "--asset", "eth", "--step", "8h", "--from",
                    "2022-11-09", "--to", "2022-11-09", "--json")
    rows = json.loads(result.stdout)
    assert [r["ts"] for r in rows] == [day("2022-11-09") + k * 8 * HOUR for k in range(3)]
    assert all(r["asset"] == "ETH" for r in rows)


def test_step_times_are_utc_aligned_multiples():
    assert step_times(day("2022-11-01") + 1, day("2022-11-04") + 5, DAY).tolist() == [
        day("2022-11-02"), day("2022-11-03"), day("2022-11-04")]
    assert step_times(10, 20, DAY).tolist() == []


def test_unknown_asset_is_a_user_error():
    frame = pl.DataFrame({"ts": [1], "venue": ["binance"], "asset": ["BTC"], "metric": ["price"], "value": [1.0]})
    from levtop.errors import UserError

    with pytest.raises(UserError, match=r"asset DOGE is not in the dataset \(assets: BTC\)"):
        run_backtest(frame, "DOGE", DAY)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["backtest", "/nonexistent/dataset"], "levtop: /nonexistent/dataset: no such file or directory"),
        (["backtest", "{tmp}", "--step", "daily"], "levtop: bad --step 'daily'"),
        (["backtest", "{tmp}", "--from", "Nov 1"], "levtop: bad --from 'Nov 1'"),
        (["backtest", "{tmp}", "--from", "2022-11-02", "--to", "2022-11-01"], "is before --from"),
        (["backtest", "{tmp}"], "data.csv:3: bad ts 'soon'"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, expected):
    (tmp_path / "data.csv").write_text("ts,venue,asset,metric,value\n1,binance,BTC,price,1\nsoon,binance,BTC,price,2\n")
    result = levtop(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode == 2
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_version_and_help():
    from levtop import __version__

    assert levtop("--version").stdout.strip() == f"levtop {__version__}"
    help_text = levtop("--help").stdout
    assert "backtest" in help_text and "config" in help_text


@pytest.mark.parametrize("with_time", [True, False])
def test_table_times_read_as_fmt_utc(with_time):
    # The table formats its times all at once with numpy; they must read as fmt.utc's.
    from levtop import fmt
    from levtop.backtest import utc_texts

    times = [0, -1, 59_999, 1_668_038_400_000, 1_668_038_459_999, 4_102_444_799_999, -86_400_001]
    assert utc_texts(times, with_time) == [fmt.utc(t, with_time) for t in times]


def test_table_cells_keep_the_sign_of_zero():
    # Cells are formatted once per distinct value: -0.0 equals 0.0, yet prints as -0.
    from levtop.backtest import BacktestResult, render_table
    from levtop.signals import SIGNAL_NAMES, Signal, Verdict

    def verdict(ts: int, sentiment: float) -> Verdict:
        signals = {n: Signal(n, "unknown", None, "") for n in SIGNAL_NAMES}
        signals["sentiment"] = Signal("sentiment", "good", sentiment, "")
        return Verdict(ts, "BTC", "NEUTRAL", signals, None, None)

    lines = render_table(BacktestResult("BTC", DAY, [verdict(0, 0.0), verdict(DAY, -0.0)], [])).splitlines()
    assert "ok 0 " in lines[2] + " " and "ok -0" in lines[3]
