"""Bybit v5 linear: the parsers against the real recorded payloads and documentation samples in
../shared/fixtures, and the venue against the simulator through the real ccxt client (jobs,
30-day backfill and its gap-only restart, the allLiquidation stream, faults)."""

from __future__ import annotations

import asyncio
import copy
import json
import math
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest

from levtop.model import DAY, HOUR, MINUTE, Sample
from levtop.sim.faults import rule_from_dict
from levtop.sources import bybit_parse as parse
from levtop.sources.bybit import BybitVenue
from levtop.sources.errors import FetchError, MalformedPayload
from levtop.sources.health import HealthBoard
from levtop.sources.scheduler import run_job
from levtop.store import HistoryStore
from sim_helpers import ASSETS, START_MS, fixture_path, load_fixture, running_sim

POLL_S = {"tickers": 60.0, "open_interest": 60.0, "history": 300.0, "funding_history": 3600.0}


def sample(ts: int, asset: str, metric: str, value: float) -> Sample:
    return Sample(ts, "bybit", asset, metric, value)


def assert_samples(got: list[Sample], expected: list[Sample]) -> None:
    assert [(s.ts, s.venue, s.asset, s.metric) for s in got] == [(e.ts, e.venue, e.asset, e.metric) for e in expected]
    for g, e in zip(got, expected):
        assert g.value == pytest.approx(e.value, rel=1e-12), (g, e)


# ============================================================================ conformance


def test_real_instruments_list_the_usdt_perpetuals_with_their_funding_intervals():
    payload = load_fixture("bybit_recorded/v5_market_instruments-info_linear_2026-08-09.json")
    instruments = parse.parse_instruments(payload)
    # 800 rows: 692 trading USDT perpetuals, 68 USDC perpetuals (BTCPERP...), 40 dated futures.
    assert len(instruments) == 692
    assert instruments["BTC"] == parse.Instrument("BTC", "BTCUSDT", 8.0)
    assert instruments["ETH"] == parse.Instrument("ETH", "ETHUSDT", 8.0)
    assert instruments["SOL"] == parse.Instrument("SOL", "SOLUSDT", 8.0)
    assert instruments["0G"] == parse.Instrument("0G", "0GUSDT", 4.0)  # fundingInterval 240 minutes
    assert {i.funding_interval_h for i in instruments.values()} == {1.0, 4.0, 8.0}
    assert all(i.symbol.endswith("USDT") for i in instruments.values())
    assert parse.server_time(payload, "instruments-info") == 1786310817197


def test_real_ticker_stream_snapshots_and_deltas():
    path = fixture_path("bybit_recorded/ws_v5_tickers_linear_2026-08-09.jsonl")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    # Two connections were recorded: BYBIT.ws.2 is the linear stream (snapshot + deltas with
    # markPrice, OI, funding); BYBIT.ws.3 is the SPOT stream (snapshots only, no mark price or OI).
    messages = [r["msg"] for r in records if r["conn"] == "BYBIT.ws.2"]
    spot = [r["msg"] for r in records if r["conn"] == "BYBIT.ws.3"]
    assert len(messages) == 758 and len(spot) == 81
    assets = {"BTCUSDT": "BTC", "ETHUSDT": "ETH", "SOLUSDT": "SOL", "DOGEUSDT": "DOGE"}
    hours = dict.fromkeys(assets, 8.0)
    parsed = [parse.parse_ticker_message(m, assets, hours) for m in messages]
    # One snapshot per symbol, each with the four metrics.
    snapshots = [p for m, p in zip(messages, parsed) if m["type"] == "snapshot"]
    assert len(snapshots) == 4 and all(len(p) == 4 for p in snapshots)
    for frame in spot:  # a spot ticker on the linear parser is not silently half-read
        with pytest.raises(MalformedPayload, match="markPrice missing"):
            parse.parse_ticker_message(frame, assets, hours)
    first = {m["topic"]: p for m, p in zip(messages, parsed) if m["type"] == "snapshot"}
    assert_samples(parsed[0], [
        sample(1786310817583, "BTC", "price", 65117.44),
        sample(1786310817583, "BTC", "funding_8h", 0.0001),
        sample(1786310817583, "BTC", "oi_base", 59891.732),
        sample(1786310817583, "BTC", "oi_usd", 3899996265.01),
    ])
    assert_samples(sorted(first["tickers.SOLUSDT"], key=lambda s: s.metric), [
        sample(1786310819280, "SOL", "funding_8h", 0.00000876),
        sample(1786310819280, "SOL", "oi_base", 6738053.9),
        sample(1786310819280, "SOL", "oi_usd", 520918947.01),
        sample(1786310819280, "SOL", "price", 77.310),
    ])
    # Deltas give only what they carry: the 2nd frame has markPrice and openInterestValue...
    assert_samples(parsed[2], [
        sample(1786310818183, "BTC", "price", 65117.43),
        sample(1786310818183, "BTC", "oi_usd", 3899995666.09),
    ])
    assert parsed[1] == []  # ...the 1st only the order book
    eth_oi = next(p for m, p in zip(messages, parsed) if m["type"] == "delta" and "openInterest" in m["data"])
    assert_samples(eth_oi, [
        sample(1786310824174, "ETH", "oi_base", 830089.25),
        sample(1786310824174, "ETH", "oi_usd", 1595904689.37),
    ])
    eth_funding = [s for m, p in zip(messages, parsed) if m["type"] == "delta" for s in p if s.metric == "funding_8h"]
    assert [(s.asset, s.value) for s in eth_funding] == [("ETH", 0.00004709), ("SOL", 0.00000952)]


@pytest.mark.parametrize(("relative", "expected"), [
    ("bybit_docs/ws_tickers_linear_perpetual.json",
     (1760325052630, 66666.60, -0.005, 492373.72, 32824881841.75)),
    ("nautilus_fixtures/bybit__ws_ticker_linear.json",
     (1673272861686, 17217.33, -0.000212, 68744.761, 1183601235.91)),
])
def test_documented_ticker_stream_snapshots(relative, expected):
    ts, price, funding, oi_base, oi_usd = expected
    got = parse.parse_ticker_message(load_fixture(relative), {"BTCUSDT": "BTC"})
    assert_samples(got, [sample(ts, "BTC", "price", price), sample(ts, "BTC", "funding_8h", funding),
                         sample(ts, "BTC", "oi_base", oi_base), sample(ts, "BTC", "oi_usd", oi_usd)])


def test_inverse_tickers_put_coins_in_open_interest_value():
    payload = load_fixture("bybit_docs/v5_market_tickers_inverse.json")
    got = parse.parse_tickers(payload, {"BTCUSD": "BTC"})
    # Inverse BTCUSD: openInterest "240113967" is in 1-USD contracts, openInterestValue "2089.79"
    # in BTC (240113967 / 114898.43 = 2089.8); ts is the body's time.
    assert_samples(got, [
        sample(1760352369814, "BTC", "price", 114898.43),
        sample(1760352369814, "BTC", "funding_8h", 0.0001),
        sample(1760352369814, "BTC", "oi_base", 2089.79),
        sample(1760352369814, "BTC", "oi_usd", 240113967.0),
    ])


def test_linear_tickers_and_the_funding_interval():
    payload = copy.deepcopy(load_fixture("bybit_docs/v5_market_tickers_inverse.json"))
    payload["result"]["category"] = "linear"
    row = payload["result"]["list"][0]
    row.update(symbol="ETHUSDT", openInterest="1000.5", openInterestValue="2000000", fundingIntervalHour="4")
    got = parse.parse_tickers(payload, {"ETHUSDT": "ETH"})
    assert [(s.metric, s.value) for s in got] == [
        ("price", 114898.43), ("funding_8h", pytest.approx(0.0002)), ("oi_base", 1000.5), ("oi_usd", 2000000.0)]
    # Without the field, the interval from instruments-info (else 8h) normalizes the rate.
    del row["fundingIntervalHour"]
    assert parse.parse_tickers(payload, {"ETHUSDT": "ETH"}, {"ETHUSDT": 1.0})[1].value == pytest.approx(0.0008)
    assert parse.parse_tickers(payload, {"ETHUSDT": "ETH"})[1].value == pytest.approx(0.0001)
    assert parse.parse_tickers(payload, {"BTCUSDT": "BTC"}) == []  # symbols not watched are not read


def test_open_interest_history_inverse_sample():
    payload = load_fixture("bybit_docs/v5_market_open-interest.json")
    got = parse.parse_open_interest(payload, "BTC")
    # category=inverse: openInterest is USD. Oldest first.
    assert_samples(got, [
        sample(1780617600000, "BTC", "oi_usd", 63942311.0),
        sample(1780704000000, "BTC", "oi_usd", 63942311.0),
        sample(1780790400000, "BTC", "oi_usd", 63910691.0),
        sample(1780876800000, "BTC", "oi_usd", 63910691.0),
        sample(1780963200000, "BTC", "oi_usd", 63910691.0),
    ])
    with_price = parse.parse_open_interest(payload, "BTC", lambda ts: 100_000.0)
    assert [s.value for s in with_price if s.metric == "oi_base"][0] == pytest.approx(639.42311)


def test_open_interest_history_linear_is_in_coins():
    payload = copy.deepcopy(load_fixture("bybit_docs/v5_market_open-interest.json"))
    payload["result"].update(category="linear", symbol="BTCUSDT")
    got = parse.parse_open_interest(payload, "BTC", {1780963200000: 50_000.0}.get)
    assert got[0] == sample(1780617600000, "BTC", "oi_base", 63942311.0)
    assert got[-2:] == [sample(1780963200000, "BTC", "oi_base", 63910691.0),
                        sample(1780963200000, "BTC", "oi_usd", 63910691.0 * 50_000.0)]
    assert len(got) == 6  # a USD value only where a price is known


def test_account_ratio_is_buy_over_sell():
    got = parse.parse_account_ratio(load_fixture("bybit_docs/v5_market_account-ratio.json"), "BTC")
    assert_samples(got, [
        sample(1696258800000, "BTC", "long_short_ratio", 0.4927 / 0.5073),  # 0.97122...
        sample(1696262400000, "BTC", "long_short_ratio", 0.49 / 0.51),  # 0.96078...
    ])


def test_funding_history_doc_and_nautilus_samples():
    doc = load_fixture("bybit_docs/v5_market_funding_history.json")
    assert parse.parse_funding_history(doc, "ETH") == [sample(1672041600000, "ETH", "funding_8h", 0.0001)]
    assert parse.parse_funding_history(doc, "ETH", 4.0)[0].value == pytest.approx(0.0002)  # 4h interval
    nautilus = load_fixture("nautilus_fixtures/bybit__http_get_funding_history.json")
    assert_samples(parse.parse_funding_history(nautilus, "BTC"), [
        sample(1709856000000, "BTC", "funding_8h", 0.00015),
        sample(1709884800000, "BTC", "funding_8h", 0.0001),
    ])


def test_all_liquidation_sample_sell_is_a_short_liquidated():
    message = load_fixture("bybit_docs/ws_allLiquidation.json")
    # S "Sell": a SHORT position was liquidated (forced buy); 20000 ROSE x 0.04499 = 899.8 USD.
    got = parse.parse_all_liquidation(message, {"ROSEUSDT": "ROSE"})
    assert_samples(got, [sample(1739502302929, "ROSE", "liq_short_usd", 899.8)])
    buy = copy.deepcopy(message)
    buy["data"][0]["S"] = "Buy"
    assert parse.parse_all_liquidation(buy, {"ROSEUSDT": "ROSE"})[0].metric == "liq_long_usd"
    assert parse.parse_all_liquidation(message, {"BTCUSDT": "BTC"}) == []


def test_klines_keep_closed_candles_at_their_end():
    # The documented kline shape: newest first, [start, open, high, low, close, volume, turnover].
    payload = {"retCode": 0, "retMsg": "OK", "time": 1_700_007_300_000, "retExtInfo": {},
               "result": {"category": "linear", "symbol": "BTCUSDT", "list": [
                   ["1700006400000", "100", "101", "99", "100.5", "3", "300.5"],  # open: ends after time
                   ["1700002800000", "99", "100", "98", "100", "2", "199.0"],
               ]}}
    assert parse.parse_klines(payload, "BTC", "perp_volume_usd") == [
        sample(1_700_006_400_000, "BTC", "perp_volume_usd", 199.0)]
    assert parse.kline_opens(payload) == {1700006400000: 100.0, 1700002800000: 99.0}


def _tickers_doc() -> dict:
    return copy.deepcopy(load_fixture("bybit_docs/v5_market_tickers_inverse.json"))


def _row(payload: dict) -> dict:
    return payload["result"]["list"][0]


@pytest.mark.parametrize("damage", [
    lambda p: _row(p).pop("markPrice"),
    lambda p: _row(p).pop("openInterestValue"),
    lambda p: _row(p).update(fundingRate={"value": "0.0001"}),
    lambda p: _row(p).update(openInterest="not-a-number"),
    lambda p: _row(p).update(markPrice="NaN"),
    lambda p: _row(p).update(openInterest="inf"),
    lambda p: _row(p).update(markPrice="-1"),
    lambda p: _row(p).update(fundingIntervalHour="0"),
    lambda p: p.pop("time"),
    lambda p: p.update(time="soon"),
    lambda p: p["result"].pop("list"),
    lambda p: p.update(result=[]),
])
def test_damaged_tickers_are_malformed(damage):
    payload = _tickers_doc()
    damage(payload)
    with pytest.raises(MalformedPayload, match="bybit"):
        parse.parse_tickers(payload, {"BTCUSD": "BTC"})


def test_an_error_code_is_a_fetch_error_and_a_non_object_is_malformed():
    payload = _tickers_doc()
    payload.update(retCode=10001, retMsg="params error: symbol invalid")
    with pytest.raises(FetchError, match="10001"):
        parse.parse_tickers(payload, {"BTCUSD": "BTC"})
    with pytest.raises(MalformedPayload):
        parse.parse_tickers("<html>502</html>", {"BTCUSD": "BTC"})


@pytest.mark.parametrize(("relative", "damage", "parser"), [
    ("bybit_docs/v5_market_account-ratio.json", lambda p: p["result"]["list"][0].pop("sellRatio"), parse.parse_account_ratio),
    ("bybit_docs/v5_market_account-ratio.json", lambda p: p["result"]["list"][1].update(buyRatio="1.5"), parse.parse_account_ratio),
    ("bybit_docs/v5_market_account-ratio.json", lambda p: p["result"]["list"][0].update(timestamp="x"), parse.parse_account_ratio),
    ("bybit_docs/v5_market_open-interest.json", lambda p: p["result"]["list"][3].pop("timestamp"), parse.parse_open_interest),
    ("bybit_docs/v5_market_open-interest.json", lambda p: p["result"]["list"][0].update(openInterest=True), parse.parse_open_interest),
    ("bybit_docs/v5_market_funding_history.json", lambda p: p["result"]["list"][0].update(fundingRate=""), parse.parse_funding_history),
])
def test_damaged_history_is_malformed(relative, damage, parser):
    payload = copy.deepcopy(load_fixture(relative))
    damage(payload)
    with pytest.raises(MalformedPayload):
        parser(payload, "BTC")


def test_damaged_liquidations_are_malformed():
    message = load_fixture("bybit_docs/ws_allLiquidation.json")
    for field, value in (("S", "Long"), ("v", "0"), ("p", None), ("T", "yesterday")):
        damaged = copy.deepcopy(message)
        damaged["data"][0][field] = value
        with pytest.raises(MalformedPayload):
            parse.parse_all_liquidation(damaged, {"ROSEUSDT": "ROSE"})


# ============================================================================ against the simulator


@asynccontextmanager
async def bybit_venue(sim: Any, sink: Any, assets: tuple[str, ...] = ASSETS, rate_limited: bool = True,
                      health: HealthBoard | None = None) -> AsyncIterator[BybitVenue]:
    venue = BybitVenue(sim.base_url, sim.ws_url, assets, sink, health or HealthBoard(), timeout_s=10.0)
    try:
        await venue.start()
        if not rate_limited:
            # ccxt spaces Bybit's market calls 100 ms apart (Bybit's limits); the simulator has
            # none, and a 30-day backfill is ~200 calls.
            venue.exchange.enableRateLimit = False
        yield venue
    finally:
        await venue.close()


def requests(sim: Any, route: str) -> int:
    return sim.stats.requests("bybit", route)


def _urls(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [u for v in node.values() for u in _urls(v)]
    if isinstance(node, list):
        return [u for v in node for u in _urls(v)]
    return [node] if isinstance(node, str) and "://" in node else []


async def test_start_finds_the_usdt_perpetuals_and_points_every_url_at_the_simulator():
    async with running_sim() as sim:
        async with bybit_venue(sim, [].extend, assets=("BTC", "ETH", "SOL", "DOGE")) as venue:
            assert sorted(venue.listings) == ["BTC", "ETH", "SOL"]
            assert venue.listings["ETH"].symbol == "ETH/USDT:USDT" and venue.listings["ETH"].venue_id == "ETHUSDT"
            assert venue.unlisted == ["DOGE"]
            assert venue.funding_hours == {"BTCUSDT": 8.0, "ETHUSDT": 8.0, "SOLUSDT": 8.0}
            urls = _urls(venue.exchange.urls["api"])
            assert urls and all(u.startswith((sim.base_url, sim.ws_url)) for u in urls)
            assert START_MS <= venue.server_time_ms <= sim.clock.now_ms()
            assert requests(sim, "/v5/market/instruments-info") == 1


async def test_every_job_stores_plausible_samples_at_sim_time():
    async with running_sim() as sim:
        stored: list[Sample] = []
        async with bybit_venue(sim, stored.extend) as venue:
            jobs = {job.endpoint: job for job in venue.poll_jobs(POLL_S)}
            # The batch tickers carry OI: no per-symbol open-interest poll.
            assert sorted(jobs) == ["accountRatio", "fundingHistory", "kline", "openInterest", "tickers"]
            assert jobs["tickers"].interval_s == 60.0 and jobs["kline"].interval_s == 3600.0
            by_job: dict[str, list[Sample]] = {}
            for name, job in jobs.items():
                before = sim.clock.now_ms()
                start = len(stored)
                assert await job.fetch() == len(stored) - start > 0
                by_job[name] = stored[start:]
                after = sim.clock.now_ms()
                assert all(s.venue == "bybit" and s.asset in ASSETS and math.isfinite(s.value) for s in by_job[name])
                # Data time, not the wall clock (months apart): every ts is at or before sim now.
                assert all(START_MS - 30 * DAY < s.ts <= after for s in by_job[name]), name
                if name == "tickers":
                    assert {s.ts for s in by_job[name]} == {venue.server_time_ms}
                    assert before <= venue.server_time_ms <= after
            assert requests(sim, "/v5/market/tickers") == 1

        now = sim.clock.now_ms()
        tickers = {(s.asset, s.metric): s for s in by_job["tickers"]}
        assert {m for _a, m in tickers} == {"price", "funding_8h", "oi_base", "oi_usd"}
        for asset in ASSETS:
            tick = sim.market.tick(asset, "bybit", tickers[asset, "price"].ts)
            assert tickers[asset, "price"].value == pytest.approx(tick.mark_price, rel=1e-3)
            assert tickers[asset, "oi_base"].value == pytest.approx(tick.oi_base, rel=1e-3)
            assert tickers[asset, "oi_usd"].value == pytest.approx(tick.oi_base * tick.mark_price, rel=1e-3)
            assert tickers[asset, "funding_8h"].value == pytest.approx(tick.funding_rate, abs=1e-8)
            assert abs(tickers[asset, "funding_8h"].value) < 0.01

        oi = [s for s in by_job["openInterest"] if s.metric == "oi_base"]
        assert len(oi) == 18 and all(s.ts % (5 * MINUTE) == 0 and now - s.ts < 60 * MINUTE for s in oi)
        for s in oi:
            (_ts, oi_base, _usd), = sim.market.oi_history(s.asset, "bybit", s.ts, s.ts, 5 * MINUTE)
            assert s.value == pytest.approx(oi_base, rel=1e-6)
        assert {s.metric for s in by_job["openInterest"]} == {"oi_base", "oi_usd"}  # priced at the last mark
        assert all(s.metric == "long_short_ratio" and 0.2 < s.value < 5 for s in by_job["accountRatio"])
        assert all(s.metric == "funding_8h" and s.ts % (8 * HOUR) == 0 for s in by_job["fundingHistory"])
        klines = by_job["kline"]
        assert {s.metric for s in klines} == {"perp_volume_usd", "spot_volume_usd"}
        # Closed candles only, stamped at their end.
        assert all(s.ts % HOUR == 0 and now - 4 * HOUR < s.ts <= now and s.value > 0 for s in klines)


def _series(store: HistoryStore, asset: str, metric: str) -> tuple[list[int], list[float]]:
    frame = store.series_frame("bybit", asset, metric)
    return frame["ts"].to_list(), frame["value"].to_list()


def _assert_gapless(ts: list[int], step: int, start: int, end: int) -> None:
    assert ts, "no points"
    assert all(b - a == step for a, b in zip(ts, ts[1:])), "a missing point"
    assert start <= ts[0] < start + step and end - step < ts[-1] <= end


async def test_backfill_30_days_then_a_restart_fetches_only_the_gap():
    async with running_sim() as sim:
        store = HistoryStore()
        async with bybit_venue(sim, store.append, rate_limited=False) as venue:
            sim.stats.reset()
            now = sim.clock.now_ms()
            assert await venue.backfill(store.newest, now, 30 * DAY) == len(store)
        # Bybit's row limits: 200 OI points (44 windows for 30 days of 5-minute data), 500
        # long/short points (18 windows), 200 settlements, 1000 candles, per symbol.
        assert requests(sim, "/v5/market/open-interest") == 3 * 44
        assert requests(sim, "/v5/market/account-ratio") == 3 * 18
        assert requests(sim, "/v5/market/funding/history") == 3
        assert requests(sim, "/v5/market/kline") == 3 * 2  # perp and spot
        floor = now - 30 * DAY
        for asset in ASSETS:
            ts, values = _series(store, asset, "oi_base")
            _assert_gapless(ts, 5 * MINUTE, floor, now)
            model = sim.market.oi_history(asset, "bybit", ts[0], ts[-1], 5 * MINUTE)
            assert [m[0] for m in model] == ts
            assert values == pytest.approx([m[1] for m in model], rel=1e-6)
            usd_ts, usd = _series(store, asset, "oi_usd")
            assert usd_ts == ts  # valued at the hourly candles' prices
            assert usd == pytest.approx([m[2] for m in model], rel=0.05)
            ratio_ts, ratios = _series(store, asset, "long_short_ratio")
            _assert_gapless(ratio_ts, 5 * MINUTE, floor, now)
            model_ratio = sim.market.long_short_history(asset, "bybit", ratio_ts[0], ratio_ts[-1], 5 * MINUTE)
            assert ratios == pytest.approx([m[1] for m in model_ratio], rel=2e-3)
            funding_ts, funding = _series(store, asset, "funding_8h")
            assert funding == pytest.approx([r for _t, r in sim.market.funding_history(asset, "bybit", floor, now)], abs=1e-8)
            _assert_gapless(funding_ts, 8 * HOUR, floor, now)
            spot_ts, spot_volumes = _series(store, asset, "spot_volume_usd")
            _assert_gapless(spot_ts, HOUR, floor, now)  # bucket ends, closed candles only
            assert all(v > 0 for v in spot_volumes)
            vol_ts, volumes = _series(store, asset, "perp_volume_usd")
            _assert_gapless(vol_ts, HOUR, floor, now)
            candles = sim.market.candles(asset, "bybit", vol_ts[0] - HOUR, vol_ts[-1] - 1, HOUR)
            assert [c[0] + HOUR for c in candles] == vol_ts
            assert volumes == pytest.approx([c[6] for c in candles], rel=1e-6)

        # A restart (new instance, same store) some sim minutes later asks only for the gap.
        await asyncio.sleep(1.0)
        sim.stats.reset()
        async with bybit_venue(sim, store.append, rate_limited=False) as venue:
            later = sim.clock.now_ms()
            assert await venue.backfill(store.newest, later, 30 * DAY) > 0
        assert requests(sim, "/v5/market/open-interest") == 3
        assert requests(sim, "/v5/market/account-ratio") == 3
        assert requests(sim, "/v5/market/funding/history") == 3
        assert requests(sim, "/v5/market/kline") == 6
        for asset in ASSETS:
            _assert_gapless(_series(store, asset, "oi_base")[0], 5 * MINUTE, floor, later)
            _assert_gapless(_series(store, asset, "long_short_ratio")[0], 5 * MINUTE, floor, later)
            _assert_gapless(_series(store, asset, "perp_volume_usd")[0], HOUR, floor, later)


async def test_liquidations_arrive_with_their_sides_and_notionals():
    async with running_sim(speed=1200.0) as sim:
        async with bybit_venue(sim, [].extend) as venue:
            received: list[Sample] = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 4.0
            while loop.time() < deadline or not received:
                received += await asyncio.wait_for(venue.watch_once(), 20)
            assert sim.stats.to_json()["ws_connections"]["bybit"] == 1  # one connection, three topics
        assert {s.metric for s in received} == {"liq_long_usd", "liq_short_usd"}
        assert len({(s.ts, s.asset, s.metric) for s in received}) == len(received)  # no duplicates
        for asset in ASSETS:
            mine = sorted((s.ts, s.metric, s.value) for s in received if s.asset == asset)
            assert mine, asset
            # Every event of the model between the first and last received is here, once, with
            # its side ("long" liquidated -> liq_long_usd) and notional (qty x price).
            expected: dict[tuple[int, str], float] = {}
            for event in sim.market.liquidations(asset, "bybit", mine[0][0], mine[-1][0] + 1):
                key = (event.ts, "liq_long_usd" if event.side == "long" else "liq_short_usd")
                expected[key] = expected.get(key, 0.0) + event.notional
            assert sorted(expected) == [(ts, metric) for ts, metric, _v in mine]
            for ts, metric, value in mine:
                assert value == pytest.approx(expected[ts, metric], rel=1e-3)


def _all_liquidation(symbol: str, *events: tuple[int, str, str, str]) -> dict:
    return {"topic": f"allLiquidation.{symbol}", "type": "snapshot", "ts": events[0][0],
            "data": [{"T": ts, "s": symbol, "S": side, "v": size, "p": price} for ts, side, size, price in events]}


class _Client:
    def resolve(self, result: Any, message_hash: str) -> None:
        pass


async def test_every_frame_between_two_reads_is_kept_once_and_replays_add_nothing():
    async with running_sim(speed=1200.0) as sim:
        stored: list[Sample] = []
        async with bybit_venue(sim, stored.extend) as venue:
            await asyncio.wait_for(venue.watch_once(), 20)  # subscribed, frames captured
            t = 1_600_000_000_000
            first = _all_liquidation("BTCUSDT", (t, "Buy", "0.5", "50000"), (t, "Buy", "0.25", "50000"))
            second = _all_liquidation("ETHUSDT", (t + 1, "Sell", "2", "3000"))
            for frame in (first, second, first):  # while no read is pending; then a replay
                venue.exchange.handle_liquidation(_Client(), frame)
            samples = await asyncio.wait_for(venue.watch_once(), 5)
            old = [(s.ts, s.asset, s.metric, s.value) for s in samples if s.ts < t + 1000]
            # Bybit's side is the liquidated position's: Buy = a long liquidated.
            assert old == [(t, "BTC", "liq_long_usd", pytest.approx(0.75 * 50000)),
                           (t + 1, "ETH", "liq_short_usd", pytest.approx(2 * 3000))]
            bad = _all_liquidation("SOLUSDT", (t + 2, "Buy", "-1", "100"), (t + 3, "Sell", "1", "100"))
            venue.exchange.handle_liquidation(_Client(), bad)
            with pytest.raises(MalformedPayload, match="v"):
                await asyncio.wait_for(venue.watch_once(), 5)
            assert [s[:4] for s in stored if s.ts < t + 1000] == [(t + 3, "bybit", "SOL", "liq_short_usd")]


async def test_a_429_with_retry_after_bans_the_venue_and_nothing_reaches_it_meanwhile():
    async with running_sim() as sim:
        stored: list[Sample] = []
        async with bybit_venue(sim, stored.extend) as venue:
            jobs = {job.endpoint: job for job in venue.poll_jobs(POLL_S)}
            rule = sim.faults.add(rule_from_dict({"venue": "bybit", "route": "/v5/market/tickers", "kind": "status",
                                                  "status": 429, "retry_after_s": 3}))
            with pytest.raises(FetchError) as raised:
                await jobs["tickers"].fetch()
            assert raised.value.ban_s == 3 and "429" in raised.value.message
            health = HealthBoard()
            runner = asyncio.create_task(run_job(jobs["tickers"], venue.gate, health))
            try:
                for _ in range(100):
                    if venue.gate.remaining() > 0:
                        break
                    await asyncio.sleep(0.02)
                assert venue.gate.remaining() > 2.0
                sim.faults.remove(rule.id)
                total = sim.stats.to_json()["requests_by_venue"]["bybit"]
                # Another job of the venue waits out the ban instead of calling.
                other = asyncio.create_task(jobs["accountRatio"].fetch())
                await asyncio.sleep(1.5)
                assert not other.done() and venue.gate.remaining() > 0
                assert sim.stats.to_json()["requests_by_venue"]["bybit"] == total
                assert stored == []
                assert await asyncio.wait_for(other, 10) > 0
                assert sim.stats.to_json()["requests_by_venue"]["bybit"] > total
            finally:
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)


FAULTS = [
    ("tickers", {"route": "/v5/market/tickers", "kind": "status", "status": 502}, FetchError),
    ("openInterest", {"route": "/v5/market/open-interest", "kind": "status", "status": 503}, FetchError),
    ("tickers", {"route": "/v5/market/tickers", "kind": "malformed"}, MalformedPayload),
    ("kline", {"route": "/v5/market/kline", "kind": "truncate"}, MalformedPayload),
    ("tickers", {"route": "/v5/market/tickers", "kind": "drop_field", "field": "markPrice"}, MalformedPayload),
    ("tickers", {"route": "/v5/market/tickers", "kind": "wrong_type", "field": "openInterest"}, MalformedPayload),
    ("tickers", {"route": "/v5/market/tickers", "kind": "drop_field", "field": "time"}, MalformedPayload),
    ("accountRatio", {"route": "/v5/market/account-ratio", "kind": "drop_field", "field": "buyRatio"}, MalformedPayload),
    ("openInterest", {"route": "/v5/market/open-interest", "kind": "wrong_type", "field": "timestamp"}, MalformedPayload),
    ("fundingHistory", {"route": "/v5/market/funding/history", "kind": "wrong_type", "field": "fundingRate"}, MalformedPayload),
    ("kline", {"route": "/v5/market/kline", "kind": "wrong_type", "field": "list"}, MalformedPayload),
]


@pytest.mark.parametrize(("endpoint", "fault", "expected"), FAULTS, ids=[f"{e}-{f['kind']}-{f.get('field', f.get('status', ''))}" for e, f, _x in FAULTS])
async def test_faulty_answers_raise_and_store_nothing(endpoint, fault, expected):
    async with running_sim() as sim:
        stored: list[Sample] = []
        async with bybit_venue(sim, stored.extend) as venue:
            job = next(j for j in venue.poll_jobs(POLL_S) if j.endpoint == endpoint)
            sim.faults.add(rule_from_dict({"venue": "bybit", **fault}))
            with pytest.raises(expected):
                await job.fetch()
            assert stored == []
            assert sim.stats.to_json()["faults_applied"]


class RecordingHealth(HealthBoard):
    def __init__(self) -> None:
        super().__init__()
        self.failures: list[str] = []

    def failed(self, source: str, endpoint: str, error: str) -> None:
        self.failures.append(f"{source}/{endpoint}: {error}")
        super().failed(source, endpoint, error)


async def test_the_stream_reconnects_after_a_drop_and_resubscribes_every_symbol():
    async with running_sim(speed=1200.0) as sim:
        stored: list[Sample] = []
        health = RecordingHealth()
        async with bybit_venue(sim, stored.extend, health=health) as venue:
            stream = asyncio.create_task(venue.stream_liquidations(reconnect_cap_s=1.0))
            try:
                while not stored:
                    await asyncio.sleep(0.1)
                sim.faults.add(rule_from_dict({"venue": "bybit", "route": "ws", "kind": "ws_drop", "duration_s": 0.5}))
                for _ in range(100):
                    if health.failures:
                        break
                    await asyncio.sleep(0.05)
                dropped_at = sim.clock.now_ms()
                await asyncio.sleep(3.0)
            finally:
                stream.cancel()
                await asyncio.gather(stream, return_exceptions=True)
        assert health.failures and health.failures[0].startswith("bybit/liquidations: stream")
        assert health.source("bybit").status.value == "LIVE"  # recovered
        assert sim.stats.to_json()["ws_connections"]["bybit"] >= 2
        after = {s.asset for s in stored if s.ts > dropped_at}
        assert after == set(ASSETS)  # all three topics subscribed again
        assert len({(s.ts, s.asset, s.metric) for s in stored}) == len(stored)
