"""Binance USDⓈ-M source: the pure parsers against the real recorded payloads in
../shared/fixtures, then the venue against the simulator through the real ccxt client (polls,
30-day backfill with row limits and restart continuity, liquidations, faults and bans)."""

from __future__ import annotations

import asyncio
import copy
import math

import numpy as np
import pytest

from levtop.model import DAY, HOUR, MINUTE, Sample
from levtop.sim.faults import rule_from_dict
from levtop.sim.venues import binance as binance_sim
from levtop.sim.venues.common import spec_for_price
from levtop.sources.binance import STATS_ROWS, BinanceVenue
from levtop.sources.binance_parse import (
    force_order_event,
    force_order_events,
    listings_from_symbols,
    parse_exchange_info,
    parse_force_order,
    parse_funding_history,
    parse_funding_info,
    parse_klines,
    parse_long_short,
    parse_mark_price_update,
    parse_oi_history,
    parse_open_interest,
    parse_premium_index,
)
from levtop.sources.errors import FetchError, MalformedPayload, NotListed
from levtop.sources.health import HealthBoard
from levtop.sources.venue import Listing
from levtop.store import HistoryStore
from sim_helpers import ASSETS, START_MS, load_fixture, running_sim

B = "binance"
BTC_IDS = {"BTCUSDT": "BTC", "ETHUSDT": "ETH"}
SPOT_KLINES_SERVED = any(route.path == "/api/v3/klines" for route in binance_sim.api().rest)


# ============================================================================ conformance


def test_premium_index_all_and_single():
    expected = [
        Sample(1597370495002, B, "BTC", "price", 11793.63104562),
        Sample(1597370495002, B, "BTC", "funding_8h", 0.00038246),
    ]
    assert parse_premium_index(load_fixture("binance_docs/premiumIndex_all.json"), BTC_IDS) == expected
    assert parse_premium_index(load_fixture("binance_docs/premiumIndex_single.json"), BTC_IDS) == expected
    # A symbol on a 4-hour interval pays twice per 8 hours.
    four_hours = parse_premium_index(load_fixture("binance_docs/premiumIndex_all.json"), BTC_IDS, {"BTCUSDT": 4})
    assert four_hours[1].value == pytest.approx(0.00076492, rel=1e-12)
    # Not watched: not read.
    assert parse_premium_index(load_fixture("binance_docs/premiumIndex_all.json"), {"ETHUSDT": "ETH"}) == []


def test_open_interest_docs_sample():
    payload = load_fixture("binance_docs/openInterest.json")
    assert parse_open_interest(payload, BTC_IDS) == [Sample(1589437530011, B, "BTC", "oi_base", 10659.509)]
    priced = parse_open_interest(payload, BTC_IDS, mark_price=11793.63104562)
    assert priced[1].metric == "oi_usd" and priced[1].ts == 1589437530011
    assert priced[1].value == pytest.approx(125714316.27346581, rel=1e-12)


def test_open_interest_real_captures():
    captures = {c["test_fn"]: c["raw"] for c in load_fixture("crypto_msg_parser_captures/binance_open_interest_raw_messages.json")}
    assert parse_open_interest(captures["linear_swap"], {"BTCUSDT": "BTC"}) == [
        Sample(1654336844754, B, "BTC", "oi_base", 84617.188)
    ]
    # A quarterly future and the coin-margined contracts are not the USDT perpetual: never stored as it.
    for name in ("linear_future", "inverse_swap", "inverse_future"):
        with pytest.raises(MalformedPayload, match="openInterest.symbol"):
            parse_open_interest(captures[name], {"BTCUSDT": "BTC"})


def test_open_interest_history_docs_sample():
    assert parse_oi_history(load_fixture("binance_docs/openInterestHist.json"), "BTC") == [
        Sample(1583127900000, B, "BTC", "oi_base", 20403.637),
        Sample(1583127900000, B, "BTC", "oi_usd", 150570784.07809979),
        Sample(1583128200000, B, "BTC", "oi_base", 20401.367),
        Sample(1583128200000, B, "BTC", "oi_usd", 149940752.14464448),
    ]


def test_long_short_docs_samples():
    glob = parse_long_short(load_fixture("binance_docs/globalLongShortAccountRatio.json"), "BTC",
                            metric="long_short_ratio", endpoint="globalLongShortAccountRatio")
    assert glob == [Sample(1583139600000, B, "BTC", "long_short_ratio", 0.196),
                    Sample(1583139900000, B, "BTC", "long_short_ratio", 1.9559)]
    top = parse_long_short(load_fixture("binance_docs/topLongShortPositionRatio.json"), "BTC",
                           metric="top_long_short_ratio", endpoint="topLongShortPositionRatio")
    assert top == [Sample(1583139600000, B, "BTC", "top_long_short_ratio", 1.4342),
                   Sample(1583139900000, B, "BTC", "top_long_short_ratio", 1.4337)]


def test_funding_history_docs_sample():
    assert parse_funding_history(load_fixture("binance_docs/fundingRate.json"), BTC_IDS) == [
        Sample(1570608000000, B, "BTC", "funding_8h", -0.0375),
        Sample(1570636800000, B, "BTC", "funding_8h", 0.0001),
    ]


def test_force_order_docs_sample_is_a_long_liquidated():
    # A forced SELL closes a long: 0.014 BTC at an average 9910 = 138.74 USD.
    samples = parse_force_order(load_fixture("binance_docs/ws_forceOrder_arr.json"), BTC_IDS)
    assert samples == [Sample(1568014460893, B, "BTC", "liq_long_usd", pytest.approx(138.74, rel=1e-12))]
    wrapped = {"stream": "!forceOrder@arr", "data": load_fixture("binance_docs/ws_forceOrder_arr.json")}
    assert parse_force_order(wrapped, BTC_IDS) == samples
    assert parse_force_order(load_fixture("binance_docs/ws_forceOrder_arr.json"), {"ETHUSDT": "ETH"}) == []


def test_mark_price_stream_real_captures():
    captures = {c["test_fn"]: c["raw"] for c in load_fixture("crypto_msg_parser_captures/binance_funding_rate_raw_messages.json")}
    assert parse_mark_price_update(captures["linear_swap"], BTC_IDS) == [
        Sample(1617308820003, B, "BTC", "price", 58940.14924532),
        Sample(1617308820003, B, "BTC", "funding_8h", 0.00058455),
    ]
    assert parse_mark_price_update(captures["linear_swap_all"], BTC_IDS) == [
        Sample(1617309024002, B, "BTC", "price", 59022.53514719),
        Sample(1617309024002, B, "BTC", "funding_8h", 0.00058959),
        Sample(1617309024002, B, "ETH", "price", 1981.1570442),
        Sample(1617309024002, B, "ETH", "funding_8h", 0.00059142),
    ]
    # Coin-margined perpetuals (BTCUSD_PERP) are not the USDT perpetuals levtop watches.
    assert parse_mark_price_update(captures["inverse_swap"], BTC_IDS) == []
    assert parse_mark_price_update(captures["inverse_swap_all"], BTC_IDS) == []


@pytest.mark.parametrize("relative", [
    "binance_fapi/exchangeInfo_2021-07-21_trimmed_BTC_ETH.json",
    "nautilus_fixtures/binance__http_futures_market_exchange_info.json",
])
def test_exchange_info_real_recordings(relative):
    listings = parse_exchange_info(load_fixture(relative), ["BTC", "ETH", "SOL"])
    # The quarterly BTCUSDT_2xxxxx of the same base is not the perpetual; SOL is not in the recording.
    assert listings == {
        "BTC": Listing("BTC", "BTC/USDT:USDT", "BTCUSDT", 1.0),
        "ETH": Listing("ETH", "ETH/USDT:USDT", "ETHUSDT", 1.0),
    }


def test_exchange_info_skips_symbols_not_trading():
    payload = copy.deepcopy(load_fixture("binance_fapi/exchangeInfo_2021-07-21_trimmed_BTC_ETH.json"))
    for entry in payload["symbols"]:
        if entry["symbol"] == "ETHUSDT":
            entry["status"] = "SETTLING"
    assert set(parse_exchange_info(payload, ["BTC", "ETH"])) == {"BTC"}


def test_funding_info_and_klines_shapes():
    # The documented shape of GET /fapi/v1/fundingInfo (only symbols with adjusted intervals).
    info = [{"symbol": "BLZUSDT", "adjustedFundingRateCap": "0.02500000", "adjustedFundingRateFloor": "-0.02500000",
             "fundingIntervalHours": 4, "disclaimer": False}]
    assert parse_funding_info(info) == {"BLZUSDT": 4.0}
    with pytest.raises(MalformedPayload, match="fundingIntervalHours"):
        parse_funding_info([{"symbol": "BLZUSDT", "fundingIntervalHours": 0}])
    # Hourly klines: quote volume (index 7) of CLOSED hours at the hour's end.
    rows = [
        [1780000000000 - HOUR, "1", "2", "0.5", "1.5", "10", 1780000000000 - 1, "12345.5", 3, "5", "6000", "0"],
        [1780000000000, "1", "2", "0.5", "1.5", "10", 1780000000000 + HOUR - 1, "999.0", 3, "5", "500", "0"],
    ]
    assert parse_klines(rows, "BTC", "perp_volume_usd", now_ms=1780000000000 + 10 * MINUTE) == [
        Sample(1780000000000, B, "BTC", "perp_volume_usd", 12345.5)
    ]


def _without(payload, key):
    rows = copy.deepcopy(payload)
    for row in rows if isinstance(rows, list) else [rows]:
        row.pop(key)
    return rows


def _with(payload, key, value):
    rows = copy.deepcopy(payload)
    for row in rows if isinstance(rows, list) else [rows]:
        row[key] = value
    return rows


@pytest.mark.parametrize(("make_payload", "parse", "message"), [
    (lambda p: _without(p, "markPrice"), lambda x: parse_premium_index(x, BTC_IDS), "markPrice"),
    (lambda p: _with(p, "markPrice", "NaN"), lambda x: parse_premium_index(x, BTC_IDS), "markPrice"),
    (lambda p: _with(p, "lastFundingRate", None), lambda x: parse_premium_index(x, BTC_IDS), "lastFundingRate"),
    (lambda p: _with(p, "time", "not-a-number"), lambda x: parse_premium_index(x, BTC_IDS), "time"),
    (lambda p: _with(p, "symbol", {"value": "BTCUSDT"}), lambda x: parse_premium_index(x, BTC_IDS), "symbol"),
    (lambda p: '[{"symbol":"BTCUSDT"', lambda x: parse_premium_index(x, BTC_IDS), "premiumIndex"),
])
def test_malformed_premium_index_raises(make_payload, parse, message):
    with pytest.raises(MalformedPayload, match=message):
        parse(make_payload(load_fixture("binance_docs/premiumIndex_all.json")))


@pytest.mark.parametrize(("relative", "parse", "key", "value"), [
    ("binance_docs/openInterestHist.json", lambda x: parse_oi_history(x, "BTC"), "sumOpenInterest", None),
    ("binance_docs/openInterestHist.json", lambda x: parse_oi_history(x, "BTC"), "sumOpenInterestValue", "inf"),
    ("binance_docs/openInterestHist.json", lambda x: parse_oi_history(x, "BTC"), "timestamp", 1.5),
    ("binance_docs/openInterest.json", lambda x: parse_open_interest(x, BTC_IDS), "openInterest", "-1"),
    ("binance_docs/fundingRate.json", lambda x: parse_funding_history(x, BTC_IDS), "fundingRate", True),
    ("binance_docs/globalLongShortAccountRatio.json",
     lambda x: parse_long_short(x, "BTC", metric="long_short_ratio", endpoint="globalLongShortAccountRatio"),
     "longShortRatio", ""),
])
def test_malformed_history_rows_raise(relative, parse, key, value):
    fixture = load_fixture(relative)
    with pytest.raises(MalformedPayload, match=key):
        parse(_without(fixture, key))
    with pytest.raises(MalformedPayload, match=key):
        parse(_with(fixture, key, value))


def _force_order(symbol: str, side: str, qty: str, price: str, ts: int = 1000) -> dict:
    return {"e": "forceOrder", "E": ts + 2, "o": {"s": symbol, "S": side, "o": "LIMIT", "f": "IOC", "q": qty,
                                                  "p": price, "ap": price, "X": "FILLED", "l": qty, "z": qty, "T": ts}}


def test_force_order_frames_are_filtered_priced_and_a_bad_one_skipped():
    frames = [
        _force_order("BTCUSDT", "SELL", "0.5", "60000"),
        {"stream": "!forceOrder@arr", "data": _force_order("DOGEUSDT", "BUY", "10", "0.1")},
        _force_order("BTCUSDT", "SELL", "0.25", "60000"),  # the same millisecond: the store adds them up
        _force_order("BTCUSDT", "HOLD", "1", "60000"),
        _force_order("BTCUSDT", "BUY", "1", "60000", ts=1001),
    ]
    events, problem = force_order_events(frames, BTC_IDS)
    assert [s for _, s in events] == [Sample(1000, B, "BTC", "liq_long_usd", 30000.0), Sample(1000, B, "BTC", "liq_long_usd", 15000.0),
                                      Sample(1001, B, "BTC", "liq_short_usd", 60000.0)]
    assert events[0][0] == ("BTCUSDT", 1000, "sell", 0.5, 60000.0)
    assert isinstance(problem, MalformedPayload) and "'hold'" in str(problem)
    with pytest.raises(MalformedPayload, match="forceOrder.o.l"):
        force_order_event(_force_order("BTCUSDT", "SELL", "-1", "60000"), BTC_IDS)


def test_listings_leave_out_what_is_not_a_usdt_perpetual():
    symbols = [
        {"symbol": "BTCUSDC", "baseAsset": "BTC", "quoteAsset": "USDC", "marginAsset": "USDC", "contractType": "PERPETUAL", "status": "TRADING"},
        {"symbol": "BTCUSDT_260925", "baseAsset": "BTC", "quoteAsset": "USDT", "marginAsset": "USDT", "contractType": "CURRENT_QUARTER", "status": "TRADING"},
        {"symbol": "BTCUSDT", "baseAsset": "BTC", "quoteAsset": "USDT", "marginAsset": "USDT", "contractType": "PERPETUAL", "status": "TRADING"},
    ]
    assert listings_from_symbols(symbols, ["BTC", "DOGE"]) == {"BTC": Listing("BTC", "BTC/USDT:USDT", "BTCUSDT", 1.0)}


# ============================================================================ against the simulator


class Recorder:
    """The sink: every batch the venue emits."""

    def __init__(self):
        self.batches: list[list[Sample]] = []

    def __call__(self, samples: list[Sample]) -> None:
        self.batches.append(list(samples))

    @property
    def samples(self) -> list[Sample]:
        return [s for batch in self.batches for s in batch]


def make_venue(sim, sink, assets=ASSETS) -> BinanceVenue:
    return BinanceVenue(sim.base_url, sim.ws_url, assets, sink, HealthBoard(),
                        extra_origins={"https://api.binance.com": sim.base_url}, timeout_s=5.0)


def requests(sim) -> dict[str, int]:
    return sim.stats.to_json()["requests"].get("binance", {})


async def test_start_finds_the_perpetuals_with_one_market_request():
    async with running_sim() as sim:
        venue = make_venue(sim, Recorder(), assets=("BTC", "ETH", "SOL", "DOGE"))
        try:
            await venue.start()
            assert set(venue.listings) == {"BTC", "ETH", "SOL"}
            assert venue.listings["SOL"] == Listing("SOL", "SOL/USDT:USDT", "SOLUSDT", 1.0)
            assert venue.unlisted == ["DOGE"]
            assert requests(sim)["/fapi/v1/exchangeInfo"] == 1
            # The server time is known before any poll (the pipeline backfills up to it): sim time.
            assert START_MS <= venue.server_time_ms <= sim.clock.now_ms()
            assert venue.liquidation_note.startswith("lower bound")
        finally:
            await venue.close()


async def test_every_poll_job_stores_plausible_samples_at_sim_time():
    async with running_sim() as sim:
        sink = Recorder()
        venue = make_venue(sim, sink)
        try:
            await venue.start()
            jobs = {job.endpoint: job for job in venue.poll_jobs({"tickers": 30.0, "history": 300.0})}
            assert set(jobs) == {"premiumIndex", "openInterest", "oiHist", "lsRatio", "topLsRatio", "fundingRate",
                                 "klines", "spotKlines"}
            assert jobs["premiumIndex"].interval_s == 30.0 and jobs["oiHist"].interval_s == 300.0
            assert jobs["klines"].interval_s == 3600.0 and jobs["fundingRate"].interval_s == 3600.0  # hourly bars
            expected = {
                "premiumIndex": {"price", "funding_8h"},
                "openInterest": {"oi_base", "oi_usd"},
                "oiHist": {"oi_base", "oi_usd"},
                "lsRatio": {"long_short_ratio"},
                "topLsRatio": {"top_long_short_ratio"},
                "fundingRate": {"funding_8h"},
                "klines": {"perp_volume_usd"},
            }
            for endpoint, metrics in expected.items():
                before = len(sink.samples)
                count = await jobs[endpoint].fetch()
                got = sink.samples[before:]
                now = sim.clock.now_ms()
                assert count == len(got) > 0, endpoint
                assert {s.metric for s in got} == metrics, endpoint
                assert {s.asset for s in got} == set(ASSETS), endpoint
                # Sim time, never the wall clock: within the served history and not in the future.
                assert all(now - 31 * DAY <= s.ts <= now for s in got), endpoint
                assert all(s.venue == B and math.isfinite(s.value) for s in got), endpoint
            if SPOT_KLINES_SERVED:
                assert await jobs["spotKlines"].fetch() > 0
            else:
                with pytest.raises(FetchError, match="api/v3/klines"):
                    await jobs["spotKlines"].fetch()

            by = {(s.asset, s.metric): s for s in sink.samples}  # the latest of each
            for asset in ASSETS:
                price = by[(asset, "price")]
                tick = sim.market.tick(asset, B, price.ts)
                assert price.value == pytest.approx(tick.mark_price, rel=1e-6)
                funding = [s for s in sink.batches[0] if s.asset == asset and s.metric == "funding_8h"][0]
                assert funding.value == pytest.approx(sim.market.tick(asset, B, funding.ts).funding_rate, abs=1e-8)
            oi = [s for s in sink.samples if s.metric in ("oi_base", "oi_usd") and s.ts % (5 * MINUTE)]
            current = {(s.asset, s.metric): s for s in oi}  # the current OI (not on the 5-minute grid)
            for asset in ASSETS:
                coins, usd = current[(asset, "oi_base")], current[(asset, "oi_usd")]
                assert coins.value == pytest.approx(sim.market.tick(asset, B, coins.ts).oi_base, rel=1e-3)
                assert usd.value == pytest.approx(coins.value * venue.marks[asset][1], rel=1e-12)
                assert 0.9 < usd.value / (coins.value * sim.market.tick(asset, B, coins.ts).mark_price) < 1.1
            ratios = [s.value for s in sink.samples if "long_short" in s.metric]
            assert all(0.1 < r < 10 for r in ratios)
            fundings = [s for s in sink.samples if s.metric == "funding_8h" and s.ts % (8 * HOUR) == 0]
            assert len(fundings) == 3 * len(ASSETS) and all(abs(f.value) < 0.01 for f in fundings)
            volumes = [s for s in sink.samples if s.metric == "perp_volume_usd"]
            assert all(s.ts % HOUR == 0 and s.ts <= venue.server_time_ms and s.value > 0 for s in volumes)
        finally:
            await venue.close()


async def test_funding_intervals_from_funding_info_normalize_to_8h():
    async with running_sim() as sim:
        sink = Recorder()
        venue = make_venue(sim, sink)
        real_call = venue.call

        async def call(method, params=None):
            if method == "fapiPublicGetFundingInfo":
                return [{"symbol": "SOLUSDT", "adjustedFundingRateCap": "0.03", "adjustedFundingRateFloor": "-0.03",
                         "fundingIntervalHours": 4, "disclaimer": False}]
            return await real_call(method, params)

        venue.call = call
        try:
            await venue.start()
            assert venue.funding_hours == {"SOLUSDT": 4.0}
            await venue.fetch_tickers()
            funding = {s.asset: s for s in sink.samples if s.metric == "funding_8h"}
            rate = sim.market.tick("SOL", B, funding["SOL"].ts).funding_rate
            assert funding["SOL"].value == pytest.approx(rate * 2, abs=1e-8)
            assert funding["BTC"].value == pytest.approx(sim.market.tick("BTC", B, funding["BTC"].ts).funding_rate, abs=1e-8)
        finally:
            await venue.close()


async def backfill(venue: BinanceVenue, store: HistoryStore, now_ms: int, window_ms: int) -> None:
    """A backfill; while the simulator serves no spot klines, the one error it may raise is theirs
    (every other series is filled all the same)."""
    if SPOT_KLINES_SERVED:
        await venue.backfill(store.newest, now_ms, window_ms)
        return
    with pytest.raises(FetchError, match="api/v3/klines"):
        await venue.backfill(store.newest, now_ms, window_ms)


def _grid_complete(store: HistoryStore, asset: str, metric: str, step: int) -> tuple[int, int]:
    """(first, last) grid ts of a series; asserts every step between them is present."""
    ts = store.series(B, asset, metric).ts
    grid = ts[ts % step == 0]
    assert len(grid) > 1, (asset, metric)
    assert np.all(np.diff(grid) == step), f"{asset} {metric}: {int(np.sum(np.diff(grid) != step))} gaps"
    return int(grid[0]), int(grid[-1])


async def test_backfill_30_days_paged_then_only_the_gap():
    async with running_sim() as sim:
        store = HistoryStore()
        venue = make_venue(sim, store.append)
        try:
            await venue.start()
            # ccxt's own throttle is not under test here; without it the 170 pages take a second.
            venue.exchange.enableRateLimit = False
            sim.stats.reset()
            now = venue.server_time_ms
            await backfill(venue, store, now, 30 * DAY)
            after = sim.clock.now_ms()
            served = requests(sim)
            for asset in ASSETS:
                first, last = _grid_complete(store, asset, "oi_base", 5 * MINUTE)
                _grid_complete(store, asset, "oi_usd", 5 * MINUTE)
                _grid_complete(store, asset, "long_short_ratio", 5 * MINUTE)
                _grid_complete(store, asset, "top_long_short_ratio", 5 * MINUTE)
                # The whole 30 days Binance keeps (less the 10 minutes kept from its moving edge, and
                # the grid step), up to now.
                assert now - 30 * DAY <= first <= after - 30 * DAY + 15 * MINUTE
                assert now - 5 * MINUTE < last <= now
                _, last_hour = _grid_complete(store, asset, "perp_volume_usd", HOUR)
                assert now - 2 * HOUR < last_hour <= now  # closed hours only, ts = the hour's end
                f_first, f_last = _grid_complete(store, asset, "funding_8h", 8 * HOUR)
                assert f_first - 8 * HOUR < now - 30 * DAY and now - 8 * HOUR < f_last <= now
            points = 30 * DAY // (5 * MINUTE)
            pages = -(-points // STATS_ROWS)
            for route in ("openInterestHist", "globalLongShortAccountRatio", "topLongShortPositionRatio"):
                # 500 rows per request: 18 pages of 5-minute points per asset, no more.
                assert len(ASSETS) * pages <= served[f"/futures/data/{route}"] <= len(ASSETS) * (pages + 1)
            assert served["/fapi/v1/fundingRate"] == len(ASSETS)
            assert served["/fapi/v1/klines"] == len(ASSETS)
            oi_points = len(store.series(B, "BTC", "oi_base"))

            # A restart right after: a new venue, the same store; only the gap is fetched.
            venue2 = make_venue(sim, store.append)
            try:
                await venue2.start()
                sim.stats.reset()
                newest_before = store.newest(B, "BTC", "oi_base")
                await backfill(venue2, store, venue2.server_time_ms, 30 * DAY)
                gap = requests(sim)
                assert gap["/futures/data/openInterestHist"] == len(ASSETS)
                assert gap["/futures/data/globalLongShortAccountRatio"] == len(ASSETS)
                _grid_complete(store, "BTC", "oi_base", 5 * MINUTE)
                added = len(store.series(B, "BTC", "oi_base")) - oi_points
                assert 0 < added <= (venue2.server_time_ms - newest_before) // (5 * MINUTE) + 1
            finally:
                await venue2.close()
        finally:
            await venue.close()


async def test_gap_after_polls_is_filled_from_the_last_history_point():
    """After an outage the polls store current values first; the recovery backfill still fills
    the 5-minute history from where it stopped."""
    async with running_sim() as sim:
        store = HistoryStore()
        venue = make_venue(sim, store.append, assets=("BTC",))
        try:
            await venue.start()
            venue.exchange.enableRateLimit = False
            await backfill(venue, store, venue.server_time_ms, 2 * DAY)
            _, last = _grid_complete(store, "BTC", "oi_base", 5 * MINUTE)
            await asyncio.sleep(2.0)  # 20 sim minutes pass (the "outage")
            await venue.fetch_open_interest()  # the first poll after it stores the current OI
            assert store.newest(B, "BTC", "oi_base") > last + 15 * MINUTE
            await backfill(venue, store, venue.server_time_ms, 2 * DAY)
            _, refilled = _grid_complete(store, "BTC", "oi_base", 5 * MINUTE)
            assert refilled >= last + 15 * MINUTE
        finally:
            await venue.close()


async def test_liquidations_match_the_model_and_are_filtered():
    async with running_sim(speed=1200.0) as sim:
        venue = make_venue(sim, Recorder(), assets=("BTC", "ETH"))
        try:
            await venue.start()
            received: list[Sample] = []
            deadline = asyncio.get_running_loop().time() + 25
            while len(received) < 6 and asyncio.get_running_loop().time() < deadline:
                received += await asyncio.wait_for(venue.watch_once(), 25)
            assert len(received) >= 6
            for sample in received:
                assert sample.asset in ("BTC", "ETH") and sample.venue == B
                events = sim.market.liquidations(sample.asset, B, sample.ts, sample.ts + 1)
                assert events, f"no model liquidation at {sample.ts}"
                event = events[-1]  # Binance pushes the latest of each second
                assert sample.metric == ("liq_long_usd" if event.side == "long" else "liq_short_usd")
                spec = spec_for_price(sim.market.tick(sample.asset, B, sim.market.start_ms).mark_price)
                notional = float(spec.qty(event.qty)) * float(spec.price(event.price))
                assert sample.value == pytest.approx(notional, rel=1e-9)
            # The all-market stream carried SOL too; the venue kept only the watched symbols.
            span = (received[0].ts, received[-1].ts + 1)
            assert sim.market.liquidations("SOL", B, *span)
            assert sim.stats.messages(B, "!forceOrder@arr") > len(received)
            # A replayed event (as after a reconnect) is not counted twice.
            first = received[0]
            replay = binance_sim.force_order_event(sim._ctx, sim.market.liquidations(first.asset, B, first.ts, first.ts + 1)[-1], 0)
            key, _ = force_order_event(replay, venue.assets_by_id)
            assert venue.fresh(key) is False
        finally:
            await venue.close()


# ============================================================================ faults


@pytest.mark.parametrize("status", [429, 418])
async def test_rate_limit_bans_the_venue_for_retry_after(status):
    async with running_sim() as sim:
        sink = Recorder()
        venue = make_venue(sim, sink)
        try:
            await venue.start()
            sim.faults.add(rule_from_dict({"venue": B, "route": "/fapi/v1/premiumIndex", "kind": "status",
                                           "status": status, "retry_after_s": 2}))
            with pytest.raises(FetchError, match="rate limited") as raised:
                await venue.fetch_tickers()
            assert raised.value.ban_s == 2
            assert 1.0 < venue.gate.remaining() <= 2.0
            sim.faults.clear()
            sim.stats.reset()
            # Every job of the venue waits out the ban: no request reaches Binance meanwhile.
            pending = [asyncio.create_task(venue.fetch_tickers()), asyncio.create_task(venue.fetch_open_interest())]
            await asyncio.sleep(0.8)
            assert requests(sim) == {} and not any(t.done() for t in pending)
            counts = await asyncio.gather(*pending)
            assert all(n > 0 for n in counts) and venue.gate.remaining() == 0
        finally:
            await venue.close()


async def test_a_ban_stops_the_backfill_at_once():
    async with running_sim() as sim:
        store = HistoryStore()
        venue = make_venue(sim, store.append)
        try:
            await venue.start()
            sim.faults.add(rule_from_dict({"venue": B, "route": "/futures/data/*", "kind": "status", "status": 429,
                                           "retry_after_s": 30}))
            sim.stats.reset()
            with pytest.raises(FetchError, match="rate limited"):
                await venue.backfill(store.newest, venue.server_time_ms, 30 * DAY)
            served = requests(sim)
            assert sum(n for route, n in served.items() if route.startswith("/futures/data/")) == 1
            assert venue.gate.remaining() > 25
        finally:
            await venue.close()


FAULTS = [
    # (route, fault fields, job endpoint, expected error)
    ("/fapi/v1/openInterest", {"kind": "status", "status": 503}, "openInterest", FetchError),
    ("/futures/data/openInterestHist", {"kind": "status", "status": 502}, "oiHist", FetchError),
    ("/fapi/v1/premiumIndex", {"kind": "malformed"}, "premiumIndex", MalformedPayload),
    ("/fapi/v1/premiumIndex", {"kind": "truncate"}, "premiumIndex", MalformedPayload),
    ("/fapi/v1/premiumIndex", {"kind": "drop_field", "field": "markPrice"}, "premiumIndex", MalformedPayload),
    ("/fapi/v1/premiumIndex", {"kind": "wrong_type", "field": "time"}, "premiumIndex", MalformedPayload),
    ("/fapi/v1/openInterest", {"kind": "drop_field", "field": "openInterest"}, "openInterest", MalformedPayload),
    ("/fapi/v1/openInterest", {"kind": "wrong_type", "field": "symbol"}, "openInterest", MalformedPayload),
    ("/futures/data/openInterestHist", {"kind": "wrong_type", "field": "sumOpenInterest"}, "oiHist", MalformedPayload),
    ("/futures/data/globalLongShortAccountRatio", {"kind": "drop_field", "field": "longShortRatio"}, "lsRatio", MalformedPayload),
    ("/futures/data/topLongShortPositionRatio", {"kind": "wrong_type", "field": "timestamp"}, "topLsRatio", MalformedPayload),
    ("/fapi/v1/fundingRate", {"kind": "wrong_type", "field": "fundingRate"}, "fundingRate", MalformedPayload),
    ("/fapi/v1/klines", {"kind": "malformed"}, "klines", MalformedPayload),
]


@pytest.mark.parametrize(("route", "fault", "endpoint", "expected"), FAULTS)
async def test_faults_raise_and_store_nothing(route, fault, endpoint, expected):
    async with running_sim() as sim:
        sink = Recorder()
        venue = make_venue(sim, sink)
        try:
            await venue.start()
            await venue.premium_index()  # fresh marks, so the OI job makes only its own requests
            sim.faults.add(rule_from_dict({"venue": B, "route": route, **fault}))
            job = next(j for j in venue.poll_jobs({}) if j.endpoint == endpoint)
            with pytest.raises(expected) as raised:
                await job.fetch()
            assert raised.value.message and raised.value.ban_s is None
            assert sink.samples == []
            assert sim.faults.rules()[0].fired >= 1
        finally:
            await venue.close()


async def test_a_spot_pair_binance_does_not_list_is_left_out_for_good():
    import ccxt

    async with running_sim() as sim:
        sink = Recorder()
        venue = make_venue(sim, sink, assets=("BTC",))
        asked: list[str] = []

        async def call(method, params=None):
            if method == "publicGetKlines":
                asked.append(params["symbol"])
                try:
                    raise ccxt.BadSymbol('binanceusdm {"code":-1121,"msg":"Invalid symbol."}')
                except ccxt.BadSymbol as exc:
                    raise FetchError("unknown symbol") from exc
            return await BinanceVenue.call(venue, method, params)

        venue.call = call
        try:
            await venue.start()
            spot = next(j for j in venue.poll_jobs({}) if j.endpoint == "spotKlines")
            assert await spot.fetch() == 0 and venue.spot_unlisted == {"BTC"}
            with pytest.raises(NotListed):
                await spot.fetch()
            assert asked == ["BTCUSDT"]  # asked once, never again
        finally:
            await venue.close()
