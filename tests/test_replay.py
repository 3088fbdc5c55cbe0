"""`levtop replay`: the clock and the feeder, the keys and the badge under Pilot, one-line errors,
and the phases a replay reaches equal a backtest's of the same data."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from levtop import cli
from levtop.app import LevtopApp, RunMode
from levtop.backtest import run_backtest
from levtop.config import Config, load_config
from levtop.dataset import read_dataset
from levtop.errors import UserError
from levtop.export import export_frame
from levtop.fmt import utc
from levtop.model import DAY, HOUR
from levtop.replay import (
    LEAD_MS,
    MAX_SPEED,
    MIN_SPEED,
    SEEK_MS,
    Replay,
    ReplayClock,
    ReplayFeeder,
    prepare_replay,
    speed_text,
)
from levtop.screens.help import HelpScreen
from levtop.signals import evaluate_inputs, inputs_from_series
from levtop.sim.market import Market
from levtop.sim.samples import market_samples
from levtop.store import HistoryStore
from levtop.widgets.key_bar import KeyBar
from levtop.widgets.status_bar import StatusBar
from samples_builder import T0, Rows
from ui_helpers import START_MS


class FakeTimer:
    """Real seconds, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def hourly_frame(hours: int = 24 * 5) -> pl.DataFrame:
    """One BTC price sample an hour from T0, and a daily Fear & Greed."""
    rows = Rows().add("binance", "BTC", "price", [(T0 + h * HOUR, 30_000.0 + h) for h in range(hours + 1)])
    rows.market("fear_greed", [(T0 + d * DAY, 40.0) for d in range(hours // 24 + 1)])
    return rows.frame().sort("ts")


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> Path:
    """The recovery scenario's BTC, 10 days before launch (as `record --backfill 10d`) to 7 after,
    written as `record --out` writes it (hive partitions metric=/date=, parquet), in a directory
    shared by this module's tests."""
    market = Market("recovery", 1, ("BTC",), start_ms=START_MS)
    # Through a store, as the recorder does: two liquidations in one millisecond are one total.
    store = HistoryStore()
    store.append(market_samples(market, START_MS - 10 * DAY, START_MS + 7 * DAY))
    directory = tmp_path_factory.mktemp("replay") / "week"
    export_frame(store.frame(), directory, "parquet")
    return directory


# -- the clock -------------------------------------------------------------------------------


def test_the_clock_runs_at_speed_times_real_time_and_stops_at_the_end():
    timer = FakeTimer()
    clock = ReplayClock(T0 + DAY, T0, T0 + 3 * DAY, speed=3600, timer=timer)
    assert clock.now() == T0 + DAY
    timer.now += 10  # 10 real seconds at 3600x: 10 hours of data
    assert clock.now() == T0 + DAY + 10 * HOUR
    assert not clock.at_end
    timer.now += 100
    assert clock.now() == T0 + 3 * DAY and clock.at_end


def test_pause_freezes_the_clock_and_resume_goes_on_from_there():
    timer = FakeTimer()
    clock = ReplayClock(T0, T0, T0 + 10 * DAY, speed=3600, timer=timer)
    timer.now += 2
    assert clock.toggle_pause() is True
    timer.now += 50
    assert clock.now() == T0 + 2 * HOUR
    assert clock.toggle_pause() is False
    assert clock.now() == T0 + 2 * HOUR  # no jump for the time spent paused
    timer.now += 1
    assert clock.now() == T0 + 3 * HOUR


def test_speed_doubles_and_halves_within_bounds_without_moving_the_clock():
    timer = FakeTimer()
    clock = ReplayClock(T0, T0, T0 + 30 * DAY, speed=3600, timer=timer)
    timer.now += 1
    assert clock.faster() == 7200
    assert clock.now() == T0 + HOUR
    timer.now += 1
    assert clock.now() == T0 + 3 * HOUR
    assert clock.slower() == 3600 and clock.slower() == 1800
    for _ in range(40):
        clock.faster()
    assert clock.speed == MAX_SPEED
    for _ in range(40):
        clock.slower()
    assert clock.speed == MIN_SPEED
    assert ReplayClock(T0, T0, T0 + DAY, speed=0.01, timer=timer).speed == MIN_SPEED


def test_seek_moves_a_day_within_the_data():
    timer = FakeTimer()
    clock = ReplayClock(T0 + 2 * DAY, T0, T0 + 4 * DAY, speed=3600, timer=timer)
    assert clock.seek(-SEEK_MS) == T0 + DAY
    assert clock.seek(-SEEK_MS) == T0 and clock.seek(-SEEK_MS) == T0  # not before the first sample
    assert clock.seek(SEEK_MS) == T0 + DAY
    timer.now += 1
    assert clock.now() == T0 + DAY + HOUR  # it keeps running from where it was sent
    assert clock.seek(10 * SEEK_MS) == T0 + 4 * DAY and clock.at_end


def test_restart_does_not_play_the_time_before_it():
    timer = FakeTimer()
    clock = ReplayClock(T0, T0, T0 + DAY, speed=3600, timer=timer)
    timer.now += 3  # the app starting
    clock.restart()
    assert clock.now() == T0


def test_speed_text():
    assert [speed_text(s) for s in (3600, 604800, 112.5, 7.03125, 1.7578125, 1)] == \
        ["3600x", "604800x", "112x", "7x", "1.8x", "1x"]


# -- the feeder ------------------------------------------------------------------------------


def rows_up_to(frame: pl.DataFrame, t: int) -> pl.DataFrame:
    return frame.filter(pl.col("ts") <= t).sort("ts", "venue", "asset", "metric")


def store_rows(feeder: ReplayFeeder) -> pl.DataFrame:
    return feeder.store.frame().sort("ts", "venue", "asset", "metric")


def test_the_feeder_appends_in_time_order_up_to_the_clock():
    frame = hourly_frame()
    feeder = ReplayFeeder(frame)
    assert feeder.feed_to(T0 + 5 * HOUR + 30 * 60_000) is True
    assert store_rows(feeder).equals(rows_up_to(frame, T0 + 5 * HOUR))
    assert feeder.store.newest_ts == T0 + 5 * HOUR
    assert feeder.feed_to(T0 + 5 * HOUR + 59 * 60_000) is False  # no new row
    store = feeder.store
    assert feeder.feed_to(T0 + 2 * DAY) is True
    assert feeder.store is store and feeder.rebuilds == 0  # forward: appended to the same store
    assert store_rows(feeder).equals(rows_up_to(frame, T0 + 2 * DAY))


def test_seeking_back_refills_a_new_store_up_to_the_new_time():
    frame = hourly_frame()
    feeder = ReplayFeeder(frame)
    feeder.feed_to(T0 + 3 * DAY)
    old = feeder.store
    assert feeder.feed_to(T0 + DAY + 2 * HOUR) is True
    assert feeder.rebuilds == 1 and feeder.store is not old
    assert store_rows(feeder).equals(rows_up_to(frame, T0 + DAY + 2 * HOUR))
    assert old.newest_ts == T0 + 3 * DAY  # a reader holding the old store saw it whole
    assert feeder.feed_to(T0 - HOUR) is True and len(feeder.store) == 0
    assert feeder.feed_to(T0 + 10 * DAY) is True and feeder.done
    assert store_rows(feeder).equals(rows_up_to(frame, T0 + 10 * DAY))


def test_the_badge_says_speed_paused_and_end_of_data():
    timer = FakeTimer()
    replay = Replay(hourly_frame(48), ["BTC"], "data/", T0 + DAY, 3600, timer=timer)
    assert replay.badge() == "REPLAY · 3600x"
    replay.clock.toggle_pause()
    assert replay.badge() == "REPLAY · 3600x · paused"
    replay.clock.toggle_pause()
    timer.now += 24
    assert replay.clock.at_end and not replay.ended  # the clock is there, the store not yet
    replay.feeder.feed_to(replay.clock.now())
    assert replay.ended and replay.badge() == "REPLAY · 3600x · end of data"
    timer.now += 100
    replay.feeder.feed_to(replay.clock.now())
    assert replay.clock.now() == T0 + 2 * DAY and replay.store.newest_ts == T0 + 2 * DAY  # it stays


# -- preparing a replay ----------------------------------------------------------------------


def test_the_clock_starts_after_a_lead_or_at_from_and_ends_at_to():
    frame, timer = hourly_frame(), FakeTimer()
    replay = prepare_replay(frame, "d", timer=timer)
    assert replay.clock.now() == T0 + LEAD_MS and replay.clock.end_ms == T0 + 5 * DAY
    assert replay.assets == ("BTC",)
    replay = prepare_replay(frame, "d", from_ms=T0 + DAY, to_ms=T0 + 2 * DAY, timer=timer)
    assert replay.clock.now() == T0 + DAY and replay.clock.end_ms == T0 + 2 * DAY
    assert replay.feeder.frame["ts"].max() == T0 + 2 * DAY
    assert prepare_replay(frame, "d", from_ms=T0 - 9 * DAY, timer=timer).clock.now() == T0


def test_the_lead_counts_from_the_assets_data_not_the_long_market_wide_history():
    """A recorder's backfill brings weeks of daily stablecoin supply before any asset's data."""
    frame = pl.concat([hourly_frame(), Rows().market("stablecoin_supply_usd",
                                                     [(T0 - d * DAY, 1.6e11) for d in range(1, 30)]).frame()]).sort("ts")
    timer = FakeTimer()
    replay = prepare_replay(frame, "d", timer=timer)
    assert replay.clock.now() == T0 + LEAD_MS
    replay.feeder.feed_to(replay.clock.now())
    assert replay.store.series("market", "*", "stablecoin_supply_usd").ts[0] == T0 - 29 * DAY  # loaded at once
    for _ in range(5):
        replay.clock.seek(-SEEK_MS)
    assert replay.clock.now() == T0  # seeking back stops at the assets' first sample


def test_the_watchlist_is_the_datasets_assets_the_configs_first():
    rows = Rows()
    for asset in ("SOL", "BTC", "DOGE"):
        rows.add("okx", asset, "price", [(T0, 1.0), (T0 + HOUR, 2.0)])
    rows.market("fear_greed", [(T0, 50.0)])
    frame = rows.frame()
    assert prepare_replay(frame, "d", preferred=("BTC", "ETH", "SOL")).assets == ("BTC", "SOL", "DOGE")
    one = prepare_replay(frame, "d", asset="SOL")
    assert one.assets == ("SOL",)
    assert set(one.feeder.frame["asset"].unique()) == {"SOL", "*"}


@pytest.mark.parametrize("kwargs, message", [
    ({"asset": "ETH"}, "d: asset ETH is not in the dataset (assets: BTC)"),
    ({"speed": 0}, "--speed must be from 1 to 604800"),
    ({"speed": float("nan")}, "--speed must be from 1 to 604800"),
    ({"from_ms": T0 + 9 * DAY}, "--from 2023-11-24 00:00 is after the dataset's last sample (2023-11-20 00:00 UTC)"),
    ({"to_ms": T0 - DAY}, "d: no samples of BTC up to --to 2023-11-14 00:00"),
    ({"from_ms": T0 + DAY, "to_ms": T0}, "--to 2023-11-15 00:00 is before --from 2023-11-16 00:00"),
])
def test_bad_arguments_are_one_line_errors(kwargs, message):
    with pytest.raises(UserError) as err:
        prepare_replay(hourly_frame(), "d", **kwargs)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_only_market_wide_series_is_an_error():
    frame = Rows().market("fear_greed", [(T0, 50.0)]).frame()
    with pytest.raises(UserError, match="only market-wide series"):
        prepare_replay(frame, "d")


@pytest.mark.parametrize("content, expected", [
    (None, "no such file or directory"),
    ("ts,venue,asset,metric,value\n1700006400000,binance,BTC,price,100\n1700006460000,binance,BTC,price,abc\n",
     "data.csv:3: bad value 'abc': expected a number"),
    ("ts,venue,asset,value\n1700006400000,binance,BTC,100\n", "columns must be exactly"),
])
def test_a_bad_dataset_is_one_line_naming_the_file_and_exit_2(tmp_path, capsys, content, expected):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_text(content)
    assert cli.main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and expected in err
    assert "Traceback" not in err


def test_bad_replay_arguments_exit_2(tmp_path, capsys):
    hourly_frame().write_csv(tmp_path / "d.csv")
    assert cli.main(["replay", str(tmp_path), "--speed", "-3"]) == 2
    assert "--speed must be from 1 to 604800" in capsys.readouterr().err
    assert cli.main(["replay", str(tmp_path), "--asset", "ETH"]) == 2
    assert "asset ETH is not in the dataset (assets: BTC)" in capsys.readouterr().err
    assert cli.main(["replay", str(tmp_path), "--from", "yesterday"]) == 2
    assert "bad --from 'yesterday'" in capsys.readouterr().err


# -- replay and backtest agree ---------------------------------------------------------------


def test_the_phases_a_replay_reaches_equal_a_backtest_of_the_same_data(week):
    """The replay's feeder played at 3600x on a fake clock over a recorder-layout dataset; at
    every 4h boundary the verdict the app would build (the store's newest sample as now) equals
    the backtest's, signal states included. A seek back and forward on the way changes nothing."""
    dataset = read_dataset(week)
    timer = FakeTimer()
    replay = prepare_replay(dataset.frame, "week", speed=3600, timer=timer)
    start = replay.clock.now()
    step = 4 * HOUR
    backtest = run_backtest(dataset.frame, "BTC", step, from_ms=start)
    phases = []
    for i, expected in enumerate(backtest.verdicts):
        if i == 10:
            replay.clock.seek(-SEEK_MS)
            replay.feeder.feed_to(replay.clock.now())
            replay.clock.seek(SEEK_MS)
        timer.now = 1000.0 + (expected.ts - start) / 1000 / 3600  # real seconds at 3600x
        replay.feeder.feed_to(replay.clock.now())
        store = replay.store
        assert store.newest_ts == expected.ts
        got = evaluate_inputs(inputs_from_series("BTC", store.series_map(["BTC"])), [store.newest_ts])[0]
        assert (got.ts, got.phase, got.purifying_day) == (expected.ts, expected.phase, expected.purifying_day)
        assert {n: s.state for n, s in got.signals.items()} == {n: s.state for n, s in expected.signals.items()}
        phases.append(got.phase)
    assert replay.feeder.rebuilds == 1
    timer.now += 4  # past the last step boundary to the last sample
    replay.feeder.feed_to(replay.clock.now())
    assert replay.ended and len(replay.store) == dataset.frame.height
    # The recovery story, in order: overheated, the cascade and the flush, purification, the restart.
    seen = list(dict.fromkeys(phases))
    assert [p for p in seen if p in ("OVERHEATED", "CASCADE", "FLUSH", "PURIFYING", "RESTART")] == \
        ["OVERHEATED", "CASCADE", "FLUSH", "PURIFYING", "RESTART"], Counter(phases)


# -- the app ---------------------------------------------------------------------------------


def replay_app(week: Path, timer: FakeTimer, **kwargs) -> LevtopApp:
    dataset = read_dataset(week)
    replay = prepare_replay(dataset.frame, "week", timer=timer, **kwargs)
    config = dataclasses.replace(Config(path=load_config().path), assets=replay.assets)
    return LevtopApp(config, RunMode("replay", speed=replay.clock.speed), replay=replay, persist_settings=False)


async def shown(pilot, app: LevtopApp, now: int) -> str:
    """The status bar once the view shows data time ``now``."""
    for _ in range(100):
        await pilot.pause(0.05)
        if app.view_model is not None and app.view_model.now == now and not app._replay_busy:
            await pilot.pause()
            return str(app.query_one(StatusBar).render())
    raise AssertionError(f"the view never reached {now}: view {app.view_model and app.view_model.now}, "
                         f"clock {app.replay.clock.now()}, store {app.store and app.store.newest_ts}")


async def test_the_keys_pause_change_speed_and_seek_and_the_badge_shows_it(week):
    timer = FakeTimer()
    app = replay_app(week, timer)
    replay = app.replay
    start = replay.clock.now()
    notices: list[str] = []
    notify = app.notify
    # The end-of-data notice lasts seconds; on a loaded machine it may be gone before the check.
    app.notify = lambda message, **kwargs: (notices.append(str(message)), notify(message, **kwargs))[1]
    async with app.run_test(size=(120, 40)) as pilot:
        text = await shown(pilot, app, start)
        assert "REPLAY · 3600x" in text and f"data {utc(start)} UTC" in text
        assert "replay of week, no live sources" in text
        assert app.pipeline is None and app.store is replay.store and app.store.directory is None
        timer.now += 2  # two seconds: two hours of data
        await app.replay_tick()
        await shown(pilot, app, start + 2 * HOUR)
        await pilot.press("space")
        text = await shown(pilot, app, start + 2 * HOUR)
        assert "REPLAY · 3600x · paused" in text
        timer.now += 5
        await app.replay_tick()
        assert replay.clock.now() == start + 2 * HOUR
        await pilot.press("space", "plus")
        text = await shown(pilot, app, start + 2 * HOUR)
        assert "REPLAY · 7200x" in text and "paused" not in text
        await pilot.press("minus", "minus")
        assert replay.clock.speed == 1800
        await pilot.press("left")
        await shown(pilot, app, start + 2 * HOUR - DAY)
        assert replay.feeder.rebuilds == 1 and app.store is replay.store
        await pilot.press("right", "right")
        await shown(pilot, app, start + 2 * HOUR + DAY)
        for _ in range(20):  # past the end: it stops there
            await pilot.press("right")
        text = await shown(pilot, app, replay.clock.end_ms)
        assert "REPLAY · 1800x · end of data" in text
        assert any("end of data" in message for message in notices)
        timer.now += 600
        await app.replay_tick()
        assert app.is_running and app.view_model.now == replay.clock.end_ms  # the screen stays


async def test_the_key_bar_and_help_show_the_replay_keys_and_p_r_are_off(week):
    app = replay_app(week, FakeTimer())
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(pilot, app, app.replay.clock.now())
        text = str(app.query_one(KeyBar).render())
        assert " space Pause  + Faster  - Slower  ← -1 day  → +1 day " in text
        assert "p Pause" not in text and "Refresh" not in text
        assert app.check_action("toggle_pause", ()) is False and app.check_action("refresh_now", ()) is False
        await pilot.press("p")
        assert not app.paused
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HelpScreen)
        help_text = str(app.screen.query_one("Static").render())
        assert "pause / resume the clock" in help_text and "seek back / forward one day" in help_text


async def test_outside_a_replay_the_replay_keys_are_off():
    from ui_helpers import ASSETS, market_store

    config = dataclasses.replace(Config(path=load_config().path), assets=ASSETS)
    app = LevtopApp(config, RunMode("demo"), store=market_store(), watch_data=False, persist_settings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        text = str(app.query_one(KeyBar).render())
        assert "space" not in text and "Faster" not in text
        assert app.check_action("replay_back", ()) is False
        await pilot.press("space", "left", "plus")
        assert app.is_running and app.replay is None
