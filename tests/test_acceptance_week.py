"""tools/acceptance_week.py: how live (watch) phase lines are compared with a replay and a backtest,
on made-up timelines (the run itself takes minutes and lives in the tool)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from levtop.model import HOUR, MINUTE

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("acceptance_week", ROOT / "tools" / "acceptance_week.py")
acceptance = importlib.util.module_from_spec(_spec)
sys.modules["acceptance_week"] = acceptance  # its dataclasses look their module up there
_spec.loader.exec_module(acceptance)

T0 = 1_780_000_000_000 // HOUR * HOUR
STEP = 10 * MINUTE
LAG = 2 * HOUR
UNTIL = T0 + 72 * HOUR


def replay_timeline(changes: list[tuple[int, str]]) -> dict[int, tuple[int, str]]:
    """The replay's phase every 10 minutes from T0 to UNTIL, changing at the given times."""
    return {t: (t, acceptance.as_of(changes, t)) for t in range(T0, UNTIL + 1, STEP)}


def hourly(replay: dict[int, tuple[int, str]]) -> list[tuple[int, str]]:
    return [(t, p) for t, (_, p) in replay.items() if t % HOUR == 0]


def line(ms: int, phase: str, before: str | None) -> dict:
    return {"type": "phase", "asset": "BTC", "ms": ms, "phase": phase, "from": before}


REPLAY = replay_timeline([(T0, "FLUSH"), (T0 + 24 * HOUR, "PURIFYING")])


def compare(watch: list[dict], replay=REPLAY, backtest=None) -> dict:
    return acceptance.compare_asset("BTC", watch, replay, hourly(replay) if backtest is None else backtest,
                                    UNTIL, LAG, STEP)


def test_live_a_poll_behind_agrees_within_the_lag():
    # Live saw PURIFYING 70 minutes after the data that makes it: at its line's time the replay agrees.
    result = compare([line(T0 + HOUR, "FLUSH", None), line(T0 + 25 * HOUR + 10 * MINUTE, "PURIFYING", "FLUSH")])
    assert result["passed"]
    assert result["watch_lines"] == {"same": 2, "within lag": 0, "differs": 0}
    [run] = result["timeline"]["disagreements"]
    assert (run["watch"], run["replay"], run["minutes"], run["lag"]) == ("FLUSH", "PURIFYING", 70, True)
    assert result["timeline"]["points"] == result["timeline"]["agree"] + 7
    assert result["phases"]["watch"] == result["phases"]["replay"] == result["phases"]["backtest"] == ["FLUSH", "PURIFYING"]


def test_a_line_the_replay_reaches_a_little_later_is_within_the_lag():
    result = compare([line(T0 + HOUR, "FLUSH", None), line(T0 + 23 * HOUR + 30 * MINUTE, "PURIFYING", "FLUSH")])
    check = result["watch_line_checks"][1]
    assert check["outcome"] == "within lag" and check["offset_min"] == 30 and check["replay"] == "FLUSH"
    assert result["passed"]


def test_live_hours_behind_is_not_lag():
    result = compare([line(T0 + HOUR, "FLUSH", None), line(T0 + 30 * HOUR, "PURIFYING", "FLUSH")])
    [run] = result["timeline"]["disagreements"]
    assert run["minutes"] == 6 * 60 and not run["lag"]
    assert not result["passed"]


def test_a_phase_the_replay_never_shows_differs():
    result = compare([line(T0 + HOUR, "FLUSH", None), line(T0 + 24 * HOUR, "RESTART", "FLUSH")])
    assert result["watch_line_checks"][1]["outcome"] == "differs"
    assert result["phases"]["watch"] == ["FLUSH", "RESTART"] != result["phases"]["replay"]
    assert not result["passed"]


def test_a_backtest_step_unlike_the_replay_fails():
    backtest = [(t, "NEUTRAL" if t == T0 + 40 * HOUR else p) for t, p in hourly(REPLAY)]
    result = compare([line(T0 + HOUR, "FLUSH", None), line(T0 + 24 * HOUR, "PURIFYING", "FLUSH")], backtest=backtest)
    assert result["replay_vs_backtest"]["disagreements"] == [
        {"ts": acceptance.utc(T0 + 40 * HOUR), "backtest": "NEUTRAL", "replay": "PURIFYING"}]
    assert not result["passed"]


def test_only_the_time_live_was_up_is_compared_and_the_rest_is_shown():
    replay = replay_timeline([(T0, "OVERHEATED"), (T0 + 5 * HOUR, "FLUSH"), (T0 + 24 * HOUR, "PURIFYING")])
    result = compare([line(T0 + 10 * HOUR, "FLUSH", None), line(T0 + 24 * HOUR, "PURIFYING", "FLUSH")], replay=replay)
    assert result["passed"] and result["watch_from"] == acceptance.utc(T0 + 10 * HOUR)
    assert result["replay_from_launch"] == ["OVERHEATED", "FLUSH", "PURIFYING"]
    assert result["phases"]["replay"] == ["FLUSH", "PURIFYING"]


def test_the_lag_is_one_slowest_poll_and_one_evaluation_in_data_time():
    # At 3600x every poll is floored at a real second: an hour of data, plus watch's second.
    assert acceptance.poll_lag_ms(3600) == 2 * HOUR
    # Live pace: Fear & Greed, stablecoins and funding history are polled hourly.
    assert acceptance.poll_lag_ms(1) == HOUR + 1000


@pytest.mark.parametrize("args, message", [
    (["--speed", "0"], "--speed must be from 1 to 86400"),
    (["--days", "0"], "--days must be above 0"),
    (["--assets", ","], "--assets is empty"),
    (["--start", "soon"], "bad --start 'soon'"),
    (["--grid", "7m", "--step", "1h"], "--step 1h must be a multiple of --grid 7m"),
])
def test_bad_arguments_are_one_line_and_exit_2(capsys, args, message):
    assert acceptance.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_analyse_needs_a_finished_run(tmp_path, capsys):
    assert acceptance.main(["--analyse", str(tmp_path)]) == 2
    assert "not the workdir of a finished run" in capsys.readouterr().err
