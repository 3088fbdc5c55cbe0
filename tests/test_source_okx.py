"""The OKX live source: its pure parsers on the real recorded payloads, and the whole venue
(real ccxt client, REST and websocket) against the simulator, faults included."""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest

from levtop.model import DAY, HOUR, MINUTE, Sample
from levtop.sim.faults import rule_from_dict
from levtop.sources import okx_parse as parse
from levtop.sources.errors import FetchError, MalformedPayload, NotListed
from levtop.sources.health import HealthBoard, Status
from levtop.sources.okx import OkxVenue, STAT_LIMIT, HISTORY_CANDLES_LIMIT
from levtop.sources.scheduler import run_job
from levtop.sources.venue import Listing, history_windows
from levtop.store import HistoryStore
from sim_helpers import START_MS, load_fixture, running_sim

BTC = Listing("BTC", "BTC/USDT:USDT", "BTC-USDT-SWAP", 0.01)
ETH = Listing("ETH", "ETH/USDT:USDT", "ETH-USDT-SWAP", 0.1)
WATCHED = ("BTC", "ETH", "SOL")
CONTRACT_SIZES = {"BTC": 0.01, "ETH": 0.1, "SOL": 1.0}
FIVE_MIN = 5 * MINUTE

OI_HIST_ROUTE = "/api/v5/rubik/stat/contracts/open-interest-history"
LS_ROUTE = "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract"


def okx(ts: int, asset: str, metric: str, value: float) -> Sample:
    return Sample(ts, "okx", asset, metric, value)


def assert_samples(actual: list[Sample], expected: list[Sample]) -> None:
    assert [s[:4] for s in actual] == [s[:4] for s in expected]
    for got, want in zip(actual, expected):
        assert got.value == pytest.approx(want.value, rel=1e-12, abs=1e-18), got


# ============================================================================ real payloads


def test_recorded_open_interest_2024_is_contracts_times_ct_val():
    payload = load_fixture("ccxt_static_responses/okx_public_open-interest_BTC-USDT-SWAP_2024-10-12.json")
    # oi 2663107.29999999861 contracts x 0.01 BTC = 26631.0729999999861 BTC (= the oiCcy field).
    assert_samples(parse.parse_open_interest(payload, [BTC]), [
        okx(1728728314766, "BTC", "oi_base", 26631.0729999999861),
        okx(1728728314766, "BTC", "oi_usd", 1676426045.349999124995),
    ])


def test_recorded_open_interest_2022_has_no_watched_linear_swap():
    messages = load_fixture("crypto_msg_parser_captures/okx_open_interest_raw_messages.json")
    assert len(messages) == 6
    # Inverse swaps (BTC-USD-SWAP: contracts of 100 USD), futures and options: none is a watched
    # USDT-margined perpetual, so nothing is read from them (and nothing fails on them).
    for message in messages:
        assert parse.parse_open_interest(message["raw"], [BTC, ETH]) == []
    # A watched row of that era (no oiUsd yet) gets its USD value from the latest mark price.
    linear = {"code": "0", "msg": "", "data": [dict(messages[4]["raw"]["data"][0], instId="BTC-USDT-SWAP")]}
    assert_samples(parse.parse_open_interest(linear, [BTC], {"BTC": 29_700.0}), [
        okx(1654348739678, "BTC", "oi_base", 40930.58),
        okx(1654348739678, "BTC", "oi_usd", 40930.58 * 29_700.0),
    ])
    assert [s.metric for s in parse.parse_open_interest(linear, [BTC])] == ["oi_base"]


def test_recorded_funding_rate_frames_2022():
    messages = load_fixture("crypto_msg_parser_captures/okx_funding_rate_raw_messages.json")
    inverse, linear = (m["raw"] for m in messages)
    assert parse.parse_funding_rates(inverse, [BTC], fallback_ts=1) == []
    # No nextFundingTime in 2022 frames: the 8h default; no ts either: the venue's server time.
    assert_samples(parse.parse_funding_rates(linear, [BTC], fallback_ts=1646320000000), [
        okx(1646320000000, "BTC", "funding_8h", 0.0001534702159002),
    ])
    assert parse.funding_intervals_h(linear, [BTC]) == {"BTC": 8.0}
    with pytest.raises(MalformedPayload, match="ts missing"):
        parse.parse_funding_rates(linear, [BTC])


def test_nautilus_funding_rate_frame():
    frame = load_fixture("nautilus_fixtures/okx__ws_funding_rate.json")
    # nextFundingTime - fundingTime = 1744619149506 - 1744590349506 = 28,800,000 ms = 8h.
    assert parse.funding_intervals_h(frame, [BTC]) == {"BTC": 8.0}
    assert_samples(parse.parse_funding_rates(frame, [BTC]), [okx(1744590349506, "BTC", "funding_8h", 0.0001)])
    four_hourly = {"data": [dict(frame["data"][0], nextFundingTime=str(1744590349506 + 4 * HOUR))]}
    assert_samples(parse.parse_funding_rates(four_hourly, [BTC]), [okx(1744590349506, "BTC", "funding_8h", 0.0002)])


def test_nautilus_funding_rate_history():
    payload = load_fixture("nautilus_fixtures/okx__http_get_funding_rate_history.json")
    # Oldest first; the newer row is 8h after the older one, the oldest takes the given interval.
    assert_samples(parse.parse_funding_history(payload, BTC), [
        okx(1704038400000, "BTC", "funding_8h", -0.0000236017),
        okx(1704067200000, "BTC", "funding_8h", 0.0001515032),
    ])
    assert_samples(parse.parse_funding_history(payload, BTC, interval_h=4.0), [
        okx(1704038400000, "BTC", "funding_8h", -0.0000472034),
        okx(1704067200000, "BTC", "funding_8h", 0.0001515032),
    ])
    with pytest.raises(MalformedPayload, match="instId"):
        parse.parse_funding_history(payload, ETH)


def test_nautilus_mark_price():
    payload = load_fixture("nautilus_fixtures/okx__http_get_mark_price.json")
    assert_samples(parse.parse_mark_prices(payload, [BTC, ETH]), [okx(1744590349506, "BTC", "price", 84660.1)])


# ============================================================================ strictness


@pytest.mark.parametrize(("row", "message"), [
    ({"instId": "BTC-USDT-SWAP", "oiUsd": "1", "ts": "1700000000000"}, "oi missing"),
    ({"instId": "BTC-USDT-SWAP", "oi": {"value": "5"}, "oiUsd": "1", "ts": "1700000000000"}, "oi is dict"),
    ({"instId": "BTC-USDT-SWAP", "oi": "NaN", "oiUsd": "1", "ts": "1700000000000"}, "not finite"),
    ({"instId": "BTC-USDT-SWAP", "oi": "abc", "oiUsd": "1", "ts": "1700000000000"}, "not a number"),
    ({"instId": "BTC-USDT-SWAP", "oi": "-1", "oiUsd": "1", "ts": "1700000000000"}, "negative"),
    ({"instId": "BTC-USDT-SWAP", "oi": "5", "oiUsd": "1e400", "ts": "1700000000000"}, "oiUsd .* not finite"),
    ({"instId": "BTC-USDT-SWAP", "oi": "5", "oiUsd": [], "ts": "1700000000000"}, "oiUsd is list"),
    ({"instId": "BTC-USDT-SWAP", "oi": "5", "oiUsd": "1", "ts": "soon"}, "ts"),
])
def test_a_bad_watched_row_is_malformed_never_zero(row, message):
    with pytest.raises(MalformedPayload, match=message):
        parse.parse_open_interest({"code": "0", "msg": "", "data": [row]}, [BTC])


def test_an_empty_oi_usd_is_derived_from_the_mark_never_zero():
    row = {"instId": "BTC-USDT-SWAP", "oi": "250", "oiCcy": "2.5", "oiUsd": "", "ts": "1700000000000"}
    body = {"code": "0", "msg": "", "data": [row]}
    assert_samples(parse.parse_open_interest(body, [BTC], {"BTC": 40_000.0}), [
        okx(1700000000000, "BTC", "oi_base", 2.5),
        okx(1700000000000, "BTC", "oi_usd", 100_000.0),
    ])
    assert [s.metric for s in parse.parse_open_interest(body, [BTC])] == ["oi_base"]


def test_bodies_that_are_not_okx_envelopes_are_malformed():
    for body in ("<html>", [], {"code": "0", "msg": ""}, {"code": "50011", "data": []}, {"data": {"x": 1}}):
        with pytest.raises(MalformedPayload):
            parse.parse_mark_prices(body, [BTC])


def test_candles_keep_only_confirmed_hours_at_the_bucket_end():
    payload = {"code": "0", "msg": "", "data": [
        ["1700003600000", "1", "1", "1", "1", "10", "0.1", "2500.5", "0"],
        ["1700000000000", "1", "1", "1", "1", "10", "0.1", "1234.5", "1"],
    ]}
    assert parse.parse_candles(payload, "BTC", "perp_volume_usd") == [okx(1700003600000, "BTC", "perp_volume_usd", 1234.5)]
    with pytest.raises(MalformedPayload, match="confirm"):
        parse.parse_candles({"data": [["1700000000000", "1", "1", "1", "1", "10", "0.1", "1", "yes"]]}, "BTC", "x")


def test_liquidation_sides_and_notionals():
    frame = {"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [
        {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "details": [
            {"bkLoss": "0", "bkPx": "60000.0", "ccy": "", "posSide": "long", "side": "sell", "sz": "12", "ts": "1700000000100"},
            {"bkLoss": "0", "bkPx": "61000.0", "ccy": "", "posSide": "short", "side": "buy", "sz": "3", "ts": "1700000000200"},
        ]},
        {"instId": "DOGE-USDT-SWAP", "instType": "SWAP", "details": [
            {"bkPx": "0.1", "posSide": "long", "side": "sell", "sz": "5", "ts": "1700000000300"},
        ]},
    ]}
    # 12 contracts x 0.01 BTC x 60000 = 7200 USD of longs sold; 3 x 0.01 x 61000 = 1830 of shorts bought.
    assert_samples(parse.parse_liquidations(frame, [BTC]), [
        okx(1700000000100, "BTC", "liq_long_usd", 7200.0),
        okx(1700000000200, "BTC", "liq_short_usd", 1830.0),
    ])
    contradiction = {"data": [{"instId": "BTC-USDT-SWAP", "details": [dict(frame["data"][0]["details"][0], posSide="short")]}]}
    with pytest.raises(MalformedPayload, match="posSide"):
        parse.parse_liquidations(contradiction, [BTC])
    same_ms = [okx(5, "BTC", "liq_long_usd", 1.0), okx(5, "BTC", "liq_long_usd", 2.0), okx(5, "BTC", "liq_short_usd", 4.0)]
    assert parse.summed_by_time(same_ms) == [okx(5, "BTC", "liq_long_usd", 3.0), okx(5, "BTC", "liq_short_usd", 4.0)]


def test_instrument_listings_take_live_linear_usdt_swaps_only():
    rows = [
        {"instId": "BTC-USDT-SWAP", "ctType": "linear", "settleCcy": "USDT", "state": "live", "ctVal": "0.01", "ctValCcy": "BTC"},
        {"instId": "ETH-USDT-SWAP", "ctType": "linear", "settleCcy": "USDT", "state": "suspend", "ctVal": "0.1", "ctValCcy": "ETH"},
        {"instId": "BTC-USD-SWAP", "ctType": "inverse", "settleCcy": "BTC", "state": "live", "ctVal": "100", "ctValCcy": "USD"},
    ]
    assert parse.instrument_listings(rows, ["BTC", "ETH", "XRP"]) == {"BTC": BTC}
    with pytest.raises(MalformedPayload, match="ctVal"):
        parse.instrument_listings([dict(rows[0], ctVal="0")], ["BTC"])


# ============================================================================ against the simulator


@asynccontextmanager
async def okx_in_sim(assets=WATCHED, **sim_kwargs: Any) -> AsyncIterator[tuple[Any, OkxVenue, list[Sample], HealthBoard]]:
    async with running_sim(**sim_kwargs) as sim:
        stored: list[Sample] = []
        health = HealthBoard()
        venue = OkxVenue(sim.base_url, sim.ws_url, assets, stored.extend, health, timeout_s=5.0)
        try:
            await venue.start()
            yield sim, venue, stored, health
        finally:
            await venue.close()


def okx_requests(sim, route: str | None = None) -> int:
    requests = sim.stats.to_json()["requests"].get("okx", {})
    return requests.get(route, 0) if route else sum(requests.values())


async def test_start_finds_the_swaps_and_every_job_stores_plausible_samples():
    async with okx_in_sim(assets=("BTC", "ETH", "SOL", "XRP")) as (sim, venue, stored, _):
        assert sorted(venue.listings) == ["BTC", "ETH", "SOL"] and venue.unlisted == ["XRP"]
        assert {a: l.contract_size for a, l in venue.listings.items()} == CONTRACT_SIZES
        assert venue.listings["ETH"].venue_id == "ETH-USDT-SWAP" and venue.listings["ETH"].symbol == "ETH/USDT:USDT"
        jobs = {job.endpoint: job for job in venue.poll_jobs({"tickers": 30.0, "history": 300.0, "funding_history": 3600.0})}
        assert set(jobs) == {"fundingRate", "markPrice", "openInterest", "oiHist", "lsRatio", "topLsRatio",
                             "fundingHist", "candles", "spotCandles"}
        assert jobs["fundingRate"].interval_s == 30.0 and jobs["oiHist"].interval_s == 300.0
        assert jobs["candles"].interval_s == 3600.0 and jobs["fundingHist"].interval_s == 3600.0  # hourly bars

        by_job: dict[str, list[Sample]] = {}
        for endpoint in ("markPrice", "fundingRate", "openInterest", "oiHist", "lsRatio", "fundingHist", "candles"):
            stored.clear()
            before = sim.clock.now_ms()
            count = await jobs[endpoint].fetch()
            after = sim.clock.now_ms()
            assert count == len(stored) > 0, endpoint
            assert {s.asset for s in stored} == set(WATCHED) and {s.venue for s in stored} == {"okx"}
            # Data time, not the wall clock (the simulator runs at 600x, months from today).
            assert all(START_MS - 35 * DAY < s.ts <= after for s in stored), endpoint
            if endpoint in ("markPrice", "fundingRate", "openInterest"):
                assert all(before <= s.ts <= after for s in stored), endpoint
            by_job[endpoint] = list(stored)
        assert venue.server_time_ms is not None and abs(venue.server_time_ms - sim.clock.now_ms()) < HOUR
        assert abs(venue.server_time_ms - time.time() * 1000) > DAY

        for s in by_job["markPrice"]:
            assert s.metric == "price"
            assert s.value == pytest.approx(sim.market.tick(s.asset, "okx", s.ts).mark_price, rel=1e-3)
        for s in by_job["fundingRate"]:
            tick = sim.market.tick(s.asset, "okx", s.ts)
            assert s.metric == "funding_8h" and tick.funding_interval_h == 8
            assert s.value == pytest.approx(tick.funding_rate, abs=1e-9)
        current = {(s.asset, s.metric): s for s in by_job["openInterest"]}
        assert set(current) == {(a, m) for a in WATCHED for m in ("oi_base", "oi_usd")}
        for asset in WATCHED:
            base, usd = current[(asset, "oi_base")], current[(asset, "oi_usd")]
            tick = sim.market.tick(asset, "okx", base.ts)
            assert base.value == pytest.approx(tick.oi_base, rel=1e-4)
            assert usd.value == pytest.approx(tick.oi_base * tick.mark_price, rel=1e-4)
        for s in by_job["oiHist"]:
            assert s.metric in ("oi_base", "oi_usd") and s.ts % FIVE_MIN == 0
            _, coins, usd = sim.market.oi_history(s.asset, "okx", s.ts, s.ts, FIVE_MIN)[0]
            assert s.value == pytest.approx(coins if s.metric == "oi_base" else usd, rel=1e-4)
        assert len(by_job["oiHist"]) == 2 * 12 * 3
        assert all(s.metric == "long_short_ratio" and 0.2 < s.value < 5 for s in by_job["lsRatio"])
        assert all(s.metric == "funding_8h" and s.ts % (8 * HOUR) == 0 and abs(s.value) < 0.01 for s in by_job["fundingHist"])
        now = sim.clock.now_ms()
        for s in by_job["candles"]:
            # The bucket END of a closed hour, and the venue's quote volume of that hour.
            assert s.metric == "perp_volume_usd" and s.ts % HOUR == 0 and s.ts <= now
            model = sim.market.candles(s.asset, "okx", s.ts - HOUR, s.ts - 1, HOUR)
            assert s.value == pytest.approx(model[0][6], rel=1e-6)
        assert len(by_job["candles"]) == 3 * 3

        # What the simulator does not serve is N/A, not an endless error: the top traders'
        # ratio (404 there) and the spot pairs (OKX's 51001 there); where it does serve them,
        # they must parse into their metrics.
        for endpoint, metric in (("topLsRatio", "top_long_short_ratio"), ("spotCandles", "spot_volume_usd")):
            stored.clear()
            try:
                await jobs[endpoint].fetch()
            except NotListed:
                assert stored == []
                with pytest.raises(NotListed):
                    await jobs[endpoint].fetch()
            else:
                assert stored and {s.metric for s in stored} == {metric}


async def test_backfill_fills_30_days_within_the_row_limits_then_only_the_gap():
    async with okx_in_sim() as (sim, venue, _, _health):
        store = HistoryStore(retention_ms=90 * DAY)
        venue.sink = store.append
        # The simulator checks the limits; ccxt's rate limiter (OKX: 5 rubik requests per 2 s)
        # would only make this test slow.
        venue.exchange.enableRateLimit = False
        limits: list[int] = []
        call = venue.call

        async def recording_call(method, params=None):
            if params and "limit" in params:
                limits.append(int(params["limit"]))
            return await call(method, params)

        venue.call = recording_call
        now = sim.clock.now_ms()
        stored = await venue.backfill(store.newest, now, 30 * DAY)
        assert stored > 0 and max(limits) <= STAT_LIMIT

        floor = now - 30 * DAY
        for asset in WATCHED:
            for metric in ("oi_base", "oi_usd", "long_short_ratio"):
                ts = store.series_frame("okx", asset, metric)["ts"].to_list()
                assert ts[0] - floor < FIVE_MIN and now - ts[-1] < 2 * FIVE_MIN, (asset, metric)
                assert all(b - a == FIVE_MIN for a, b in zip(ts, ts[1:])), f"a missing 5-minute point in {asset} {metric}"
            oi = store.series_frame("okx", asset, "oi_base")
            model = sim.market.oi_history(asset, "okx", oi["ts"][100], oi["ts"][100], FIVE_MIN)[0][1]
            assert oi["value"][100] == pytest.approx(model, rel=1e-4)
            funding = store.series_frame("okx", asset, "funding_8h")["ts"].to_list()
            assert all(b - a == 8 * HOUR for a, b in zip(funding, funding[1:])) and len(funding) in (89, 90, 91)
            volume = store.series_frame("okx", asset, "perp_volume_usd")["ts"].to_list()
            assert all(b - a == HOUR for a, b in zip(volume, volume[1:])) and volume[-1] <= now
            assert volume[0] - floor < HOUR and now - volume[-1] < HOUR
        # One request per window of 100 five-minute points, per asset and series: no more.
        windows = len(list(history_windows(floor, now, FIVE_MIN, STAT_LIMIT)))
        assert windows == 87
        assert okx_requests(sim, OI_HIST_ROUTE) == 3 * windows
        assert okx_requests(sim, LS_ROUTE) == 3 * windows
        candle_windows = len(list(history_windows(floor - HOUR, now - HOUR, HOUR, HISTORY_CANDLES_LIMIT)))
        # Perp and spot candles for each of the three assets.
        assert okx_requests(sim, "/api/v5/market/history-candles") <= 2 * 3 * candle_windows + 3

        # Right after: only the gap (a few sim minutes) is fetched, one request per series.
        sim.stats.reset()
        held = {asset: store.newest("okx", asset, "oi_base") for asset in WATCHED}
        later = sim.clock.now_ms()
        again = await venue.backfill(store.newest, later, 30 * DAY)
        # Sim time keeps running during the backfill (600x): count the gap to when it ended.
        later = max(later, sim.clock.now_ms())
        assert okx_requests(sim, OI_HIST_ROUTE) == 3 and okx_requests(sim, LS_ROUTE) == 3
        assert okx_requests(sim) <= 3 * 6
        # OI, long/short and top-trader points for the gap, plus a few funding and candle rows.
        assert again < 3 * 3 * ((later - now) // FIVE_MIN + 2) + 3 * 10
        for asset in WATCHED:
            ts = store.series_frame("okx", asset, "oi_base")["ts"].to_list()
            assert all(b - a == FIVE_MIN for a, b in zip(ts, ts[1:]))
            assert ts[-1] >= held[asset]


async def test_a_restart_backfills_only_what_the_store_lacks():
    async with okx_in_sim(assets=("BTC",)) as (sim, venue, _, _health):
        venue.exchange.enableRateLimit = False
        store = HistoryStore(retention_ms=90 * DAY)
        venue.sink = store.append
        now = sim.clock.now_ms()
        # The store already holds everything up to two hours ago (as after a restart).
        two_hours_ago = now - 2 * HOUR
        first = OkxVenue(sim.base_url, sim.ws_url, ("BTC",), store.append, HealthBoard())
        first.exchange = venue.exchange
        first.listings = venue.listings
        await first.backfill(store.newest, two_hours_ago, DAY)
        sim.stats.reset()
        await venue.backfill(store.newest, now, DAY)
        # Two hours of 5-minute points fit in one request per series.
        assert okx_requests(sim, OI_HIST_ROUTE) == 1 and okx_requests(sim, LS_ROUTE) == 1
        ts = store.series_frame("okx", "BTC", "oi_base")["ts"].to_list()
        assert all(b - a == FIVE_MIN for a, b in zip(ts, ts[1:])) and now - ts[-1] < 2 * FIVE_MIN


async def test_liquidations_arrive_with_sides_and_notionals_of_the_model():
    async with okx_in_sim(speed=1200.0) as (sim, venue, _, _health):
        received: list[Sample] = []
        for _ in range(6):
            received.extend(await asyncio.wait_for(venue.watch_once(), 20))
            if len(received) >= 25:
                break
        assert len(received) >= 10
        keys = [(s.ts, s.asset, s.metric) for s in received]
        assert len(keys) == len(set(keys)), "an event was stored twice"
        assert {s.asset for s in received} <= set(WATCHED) and {s.venue for s in received} == {"okx"}
        first, last = min(s.ts for s in received), max(s.ts for s in received)
        expected: dict[tuple[int, str, str], float] = {}
        for asset in WATCHED:
            size = CONTRACT_SIZES[asset]
            for event in sim.market.liquidations(asset, "okx", first, last + 1):
                metric = "liq_long_usd" if event.side == "long" else "liq_short_usd"
                contracts = max(round(event.qty / size, 2), 0.01)
                key = (event.ts, asset, metric)
                expected[key] = expected.get(key, 0.0) + contracts * size * event.price
        # Every modelled liquidation of the window arrived once, on its side, at its notional.
        assert set(expected) == set(keys)
        for s in received:
            assert s.value == pytest.approx(expected[(s.ts, s.asset, s.metric)], rel=2e-3)
        assert venue.server_time_ms == last


def _liquidation_frame(*entries: tuple[str, int, str, str, str]) -> dict:
    return {"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [
        {"instId": inst_id, "instType": "SWAP", "details": [{"ts": str(ts), "side": side, "sz": sz, "bkPx": px}]}
        for inst_id, ts, side, sz, px in entries]}


class _Client:
    def resolve(self, result: Any, message_hash: str) -> None:
        pass


async def test_every_frame_between_two_reads_is_kept_once_and_replays_add_nothing():
    async with okx_in_sim(speed=1200.0) as (sim, venue, stored, _):
        await asyncio.wait_for(venue.watch_once(), 20)  # the stream is up and its frames captured
        t = 1_600_000_000_000
        first = _liquidation_frame(("BTC-USDT-SWAP", t, "sell", "3", "50000"), ("XRP-USDT-SWAP", t, "sell", "1", "1"))
        second = _liquidation_frame(("ETH-USDT-SWAP", t + 1, "buy", "2", "3000"),
                                    ("BTC-USDT-SWAP", t, "sell", "1", "50000"))
        # Several frames arrive while no watch is pending; a reconnect replays the first one.
        for frame in (first, second, first):
            venue.exchange.handle_liquidation(_Client(), frame)
        samples = await asyncio.wait_for(venue.watch_once(), 5)
        assert_samples([s for s in samples if s.ts < t + 1000], [
            okx(t, "BTC", "liq_long_usd", (3 + 1) * 0.01 * 50000),  # same ms: added, each once
            okx(t + 1, "ETH", "liq_short_usd", 2 * 0.1 * 3000),
        ])
        bad = _liquidation_frame(("BTC-USDT-SWAP", t + 2, "sell", "x", "50000"),
                                 ("BTC-USDT-SWAP", t + 3, "buy", "1", "50000"))
        venue.exchange.handle_liquidation(_Client(), bad)
        stored.clear()
        with pytest.raises(MalformedPayload, match="sz"):
            await asyncio.wait_for(venue.watch_once(), 5)
        assert [s[:4] for s in stored if s.ts < t + 1000] == [(t + 3, "okx", "BTC", "liq_short_usd")]


# ============================================================================ faults


async def test_a_429_with_retry_after_bans_the_venue_and_nothing_reaches_it_meanwhile():
    async with okx_in_sim(assets=("BTC",)) as (sim, venue, stored, health):
        jobs = {job.endpoint: job for job in venue.poll_jobs({})}
        sim.faults.add(rule_from_dict({"venue": "okx", "route": "/api/v5/public/funding-rate", "kind": "status",
                                       "status": 429, "retry_after_s": 3}))
        runner = asyncio.create_task(run_job(jobs["fundingRate"], venue.gate, health))
        try:
            for _ in range(100):
                if venue.gate.remaining() > 0:
                    break
                await asyncio.sleep(0.05)
            assert 1.5 < venue.gate.remaining() <= 3.0
            assert health.source("okx").status == Status.DOWN
            assert "rate limited (HTTP 429, Retry-After 3s)" in health.source("okx").error
            sim.faults.clear()
            served = okx_requests(sim)
            other = asyncio.create_task(jobs["markPrice"].fetch())
            await asyncio.sleep(1.0)
            assert not other.done() and okx_requests(sim) == served
            assert await asyncio.wait_for(other, 10) == 1
            assert okx_requests(sim) > served
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        assert all(s.metric == "price" for s in stored)


@pytest.mark.parametrize(("endpoint", "route", "fault", "error"), [
    ("openInterest", "/api/v5/public/open-interest", {"kind": "status", "status": 503}, FetchError),
    ("markPrice", "/api/v5/public/mark-price", {"kind": "malformed"}, MalformedPayload),
    ("openInterest", "/api/v5/public/open-interest", {"kind": "drop_field", "field": "oi"}, MalformedPayload),
    ("fundingRate", "/api/v5/public/funding-rate", {"kind": "wrong_type", "field": "fundingRate"}, MalformedPayload),
    ("oiHist", OI_HIST_ROUTE, {"kind": "drop_field", "field": "data"}, MalformedPayload),
    ("candles", "/api/v5/market/candles", {"kind": "truncate"}, MalformedPayload),
])
async def test_bad_answers_raise_and_store_nothing(endpoint, route, fault, error):
    async with okx_in_sim(assets=("BTC", "ETH")) as (sim, venue, stored, _):
        job = next(job for job in venue.poll_jobs({}) if job.endpoint == endpoint)
        sim.faults.add(rule_from_dict({"venue": "okx", "route": route, **fault}))
        with pytest.raises(error):
            await job.fetch()
        assert stored == []
        sim.faults.clear()
        assert await job.fetch() > 0 and stored


async def test_a_malformed_liquidation_is_reported_and_not_stored():
    async with okx_in_sim(speed=1200.0) as (sim, venue, stored, _):
        sim.faults.add(rule_from_dict({"venue": "okx", "route": "ws:liquidation-orders", "kind": "wrong_type", "field": "bkPx"}))
        with pytest.raises(MalformedPayload, match="bkPx"):
            for _ in range(5):
                await asyncio.wait_for(venue.watch_once(), 20)
        assert stored == []
        sim.faults.clear()
        # Later events flow again; the bad entries stay reported once, never stored.
        samples: list[Sample] = []
        for _ in range(10):
            samples = await asyncio.wait_for(venue.watch_once(), 20)
            if samples:
                break
        assert samples and all(s.value > 0 and math.isfinite(s.value) for s in samples)
