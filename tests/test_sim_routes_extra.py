"""The routes levtop's live sources call that the simulator once lacked or answered wrongly:
Binance ``/fapi/v1/fundingInfo`` and spot ``/api/v3/klines``, Bybit spot klines, OKX's top
traders' position ratio and OKX spot-pair candles. Spot volumes must be the model's SPOT
volumes (not the perp's), and nothing may come from past the sim clock's now."""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
import numpy as np
import pytest

from levtop.sim.venues import binance as binance_sim
from sim_helpers import ASSETS, make_exchange, running_sim

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
FIVE_MIN = 5 * MINUTE
TOP_TRADER_PATH = "/api/v5/rubik/stat/contracts/long-short-position-ratio-contract-top-trader"
ACCOUNT_RATIO_PATH = "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract"


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, object]:
    async with session.get(url) as response:
        return response.status, await response.json()


def _model_spot_and_perp(sim, asset: str, venue: str, opens: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(spot, perp) USDT traded in the hours opening at ``opens``, from the model's buckets."""
    perp, spot = sim.market.volume_buckets(asset, venue, np.asarray(opens, dtype=np.int64) + HOUR, HOUR)
    return spot, perp


# ============================================================================ Binance fundingInfo


async def test_binance_funding_info_lists_no_symbol_while_all_settle_every_8h():
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        assert all(sim.market.tick(a, "binance", sim.clock.now_ms()).funding_interval_h == 8 for a in ASSETS)
        status, body = await _get(session, sim.base_url + "/fapi/v1/fundingInfo")
    assert (status, body) == (200, [])


def test_binance_funding_info_lists_only_adjusted_symbols_in_the_real_shape():
    hours = {"BTC": 8, "ETH": 8, "SOL": 4}
    market = SimpleNamespace(assets=ASSETS, tick=lambda asset, venue, ts: SimpleNamespace(funding_interval_h=hours[asset]))
    ctx = SimpleNamespace(market=market, assets=ASSETS, now_ms=lambda: 1_780_000_800_000)
    reply = binance_sim.funding_info(ctx, {})
    assert reply.status == 200
    assert reply.payload == [
        {"symbol": "SOLUSDT", "adjustedFundingRateCap": "0.02500000", "adjustedFundingRateFloor": "-0.02500000",
         "fundingIntervalHours": 4, "disclaimer": False}
    ]


async def test_ccxt_reads_binance_funding_info():
    async with running_sim() as sim:
        exchange = make_exchange("binanceusdm", sim, enableRateLimit=False)
        try:
            assert await exchange.fapiPublicGetFundingInfo() == []
        finally:
            await exchange.close()


# ============================================================================ Binance spot klines


async def test_binance_spot_klines_have_the_kline_layout_and_spot_volumes():
    async with running_sim(speed=1.0) as sim, aiohttp.ClientSession() as session:
        now = sim.clock.now_ms()
        status, spot = await _get(session, sim.base_url + "/api/v3/klines?symbol=ETHUSDT&interval=1h&limit=6")
        _, perp = await _get(session, sim.base_url + "/fapi/v1/klines?symbol=ETHUSDT&interval=1h&limit=6")
    assert status == 200 and len(spot) == 6
    for row in spot:
        assert len(row) == 12
        assert [type(v) for v in row] == [int, str, str, str, str, str, int, str, int, str, str, str]
        assert row[6] == row[0] + HOUR - 1 and row[11] == "0"
        o, h, low, c = (float(v) for v in row[1:5])
        assert low <= min(o, c) <= max(o, c) <= h
        assert low <= float(row[7]) / float(row[5]) <= h  # the hour's VWAP is inside its range
    assert [r[0] for r in spot] == [r[0] for r in perp]
    assert spot[-1][0] <= now < spot[-1][0] + HOUR  # the newest is the open hour, none later
    closed = [r for r in spot if r[0] + HOUR <= now]
    model_spot, model_perp = _model_spot_and_perp(sim, "ETH", "binance", [r[0] for r in closed])
    assert [float(r[7]) for r in closed] == pytest.approx(model_spot, rel=1e-6)
    assert [float(r[7]) for r in perp[: len(closed)]] == pytest.approx(model_perp, rel=1e-6)
    assert all(abs(s - p) > 0.01 * p for s, p in zip(model_spot, model_perp))
    # Spot trades at the index, the perp at its mark give or take: close, but not the same book.
    assert float(spot[-2][4]) == pytest.approx(float(perp[-2][4]), rel=0.01)


async def test_binance_spot_klines_limits_windows_and_errors():
    async with running_sim(speed=1.0) as sim, aiohttp.ClientSession() as session:
        now = sim.clock.now_ms()
        base = sim.base_url + "/api/v3/klines?symbol=BTCUSDT"
        _, rows = await _get(session, base + "&interval=5m")
        assert len(rows) == 500  # the default
        _, rows = await _get(session, base + "&interval=1m&limit=5000")
        assert len(rows) == 1000  # spot's cap (futures: 1500)
        start = now - 2 * DAY + 1
        _, rows = await _get(session, base + f"&interval=1h&startTime={start}&limit=5")
        first_open = -(-start // HOUR) * HOUR
        assert [r[0] for r in rows] == [first_open + i * HOUR for i in range(5)]  # the first 5 from the start
        _, rows = await _get(session, base + f"&interval=1h&endTime={now + 5 * DAY}&limit=3")
        assert len(rows) == 3 and rows[-1][0] <= now  # never from the future
        _, rows = await _get(session, base + f"&interval=1h&startTime={now + HOUR}")
        assert rows == []
        status, body = await _get(session, base + "&interval=7m")
        assert (status, body) == (400, {"code": -1120, "msg": "Invalid interval."})
        status, body = await _get(session, sim.base_url + "/api/v3/klines?symbol=NOPEUSDT&interval=1h")
        assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})
        status, body = await _get(session, base)
        assert status == 400 and body["code"] == -1102


async def test_ccxt_reads_binance_spot_klines():
    async with running_sim() as sim:
        exchange = make_exchange("binanceusdm", sim, enableRateLimit=False)
        try:
            rows = await exchange.publicGetKlines({"symbol": "SOLUSDT", "interval": "1h", "limit": 3})
            assert len(rows) == 3 and all(float(r[7]) > 0 for r in rows)
        finally:
            await exchange.close()


# ============================================================================ Bybit spot kline


async def test_bybit_spot_kline_serves_spot_volume_in_the_linear_shape():
    async with running_sim(speed=1.0) as sim, aiohttp.ClientSession() as session:
        now = sim.clock.now_ms()
        base = sim.base_url + "/v5/market/kline?symbol=SOLUSDT&interval=60&limit=5&category="
        _, spot = await _get(session, base + "spot")
        _, linear = await _get(session, base + "linear")
    assert spot["retCode"] == 0 and spot["result"]["category"] == "spot" and spot["result"]["symbol"] == "SOLUSDT"
    rows, perp_rows = spot["result"]["list"], linear["result"]["list"]
    assert len(rows) == 5 and [r[0] for r in rows] == [r[0] for r in perp_rows]
    assert all(len(r) == 7 and all(isinstance(v, str) for v in r) for r in rows)
    assert int(rows[0][0]) > int(rows[-1][0]) and int(rows[0][0]) <= now  # newest first, none later than now
    closed = [r for r in rows if int(r[0]) + HOUR <= now]
    model_spot, model_perp = _model_spot_and_perp(sim, "SOL", "bybit", [int(r[0]) for r in closed])
    assert [float(r[6]) for r in closed] == pytest.approx(model_spot, rel=1e-6)
    assert [float(r[6]) for r in perp_rows[-len(closed):]] == pytest.approx(model_perp, rel=1e-6)
    assert all(abs(s - p) > 0.01 * p for s, p in zip(model_spot, model_perp))
    for r in closed:  # volume in coins, turnover in USDT: their ratio is a price within the candle
        assert float(r[3]) <= float(r[6]) / float(r[5]) <= float(r[2])


async def test_bybit_kline_refuses_a_symbol_in_a_category_it_does_not_list():
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        status, body = await _get(session, sim.base_url + "/v5/market/kline?category=inverse&symbol=BTCUSDT&interval=60")
    assert status == 200 and body["retCode"] == 10001 and body["result"] == {}


# ============================================================================ OKX top traders


async def test_okx_top_trader_position_ratio_is_the_models_top_ratio_newest_first():
    async with running_sim(speed=1.0) as sim, aiohttp.ClientSession() as session:
        now = sim.clock.now_ms()
        base = sim.base_url + TOP_TRADER_PATH + "?instId=ETH-USDT-SWAP"
        status, body = await _get(session, base + "&period=5m&limit=6")
        accounts_url = base.replace(TOP_TRADER_PATH, ACCOUNT_RATIO_PATH) + "&period=5m&limit=6"
        _, accounts = await _get(session, accounts_url)
    assert status == 200 and body["code"] == "0" and body["msg"] == ""
    rows = body["data"]
    assert len(rows) == 6 and all(len(r) == 2 and all(isinstance(v, str) for v in r) for r in rows)
    times = [int(r[0]) for r in rows]
    assert times == sorted(times, reverse=True) and times[0] <= now and all(t % FIVE_MIN == 0 for t in times)
    history = sim.market.long_short_history("ETH", "okx", times[-1], times[0], FIVE_MIN, top=True)
    model = {ts: ratio for ts, ratio, _ in history}
    assert [float(r[1]) for r in rows] == pytest.approx([model[t] for t in times], abs=1e-4)
    assert [r[1] for r in rows] != [r[1] for r in accounts["data"]]  # top traders, not all accounts


async def test_okx_top_trader_ratio_windows_limits_and_errors():
    async with running_sim(speed=1.0) as sim, aiohttp.ClientSession() as session:
        now = sim.clock.now_ms()
        base = sim.base_url + TOP_TRADER_PATH + "?instId=BTC-USDT-SWAP"
        _, body = await _get(session, base + "&limit=500")
        assert len(body["data"]) == 100  # default period 5m, capped at 100 rows
        begin, end = now - 3 * DAY, now - 2 * DAY
        _, body = await _get(session, base + f"&period=1H&begin={begin}&end={end}")
        times = [int(r[0]) for r in body["data"]]
        assert times and all(begin <= t <= end for t in times) and times[0] - times[1] == HOUR
        _, body = await _get(session, base + f"&period=5m&end={now + DAY}&limit=2")
        assert int(body["data"][0][0]) <= now  # never from the future
        status, body = await _get(session, sim.base_url + TOP_TRADER_PATH)
        assert (status, body) == (400, {"code": "50014", "msg": "Parameter instId can not be empty", "data": []})
        status, body = await _get(session, sim.base_url + TOP_TRADER_PATH + "?instId=NOPE-USDT-SWAP")
        assert body == {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
        status, body = await _get(session, base + "&period=7m")
        assert status == 400 and body["code"] == "51000"


async def test_ccxt_reads_okx_top_trader_ratio():
    async with running_sim() as sim:
        exchange = make_exchange("okx", sim, enableRateLimit=False)
        try:
            body = await exchange.public_get_rubik_stat_contracts_long_short_position_ratio_contract_top_trader(
                {"instId": "SOL-USDT-SWAP", "period": "5m", "limit": "3"})
            assert body["code"] == "0" and len(body["data"]) == 3
        finally:
            await exchange.close()


# ============================================================================ OKX spot candles


@pytest.mark.parametrize("path", ["/api/v5/market/candles", "/api/v5/market/history-candles"])
async def test_okx_spot_pair_candles_carry_spot_volume(path):
    async with running_sim(speed=1.0) as sim, aiohttp.ClientSession() as session:
        now = sim.clock.now_ms()
        base = sim.base_url + path + "?bar=1H&limit=5&instId="
        status, spot = await _get(session, base + "BTC-USDT")
        _, swap = await _get(session, base + "BTC-USDT-SWAP")
    assert status == 200 and spot["code"] == "0"
    rows, swap_rows = spot["data"], swap["data"]
    assert len(rows) == 5 and [r[0] for r in rows] == [r[0] for r in swap_rows]
    assert all(len(r) == 9 and all(isinstance(v, str) for v in r) for r in rows)
    assert int(rows[0][0]) <= now and int(rows[0][0]) > int(rows[-1][0])
    assert rows[0][8] == "0" and {r[8] for r in rows[1:]} == {"1"}
    closed = [r for r in rows if r[8] == "1"]
    model_spot, model_perp = _model_spot_and_perp(sim, "BTC", "okx", [int(r[0]) for r in closed])
    assert [float(r[7]) for r in closed] == pytest.approx(model_spot, rel=1e-6)  # volCcyQuote
    assert [float(r[6]) for r in closed] == pytest.approx(model_spot, rel=1e-6)  # volCcy: USDT on spot
    assert [float(r[7]) for r in swap_rows[1:]] == pytest.approx(model_perp, rel=1e-6)
    assert all(abs(s - p) > 0.01 * p for s, p in zip(model_spot, model_perp))
    for r in closed:  # vol in BTC: the quote volume over it is a price within the candle
        assert float(r[3]) <= float(r[7]) / float(r[5]) <= float(r[2])


async def test_okx_candles_still_refuse_an_unknown_instrument():
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        for inst in ("NOPE-USDT", "BTC-USDC", "BTC-USDT-SWAP-X"):
            _, body = await _get(session, sim.base_url + f"/api/v5/market/candles?instId={inst}")
            assert body == {"code": "51001", "msg": "Instrument ID does not exist", "data": []}, inst


# ============================================================================ through the live sources


def _stored_volumes(samples, metric: str) -> dict[tuple[str, int], float]:
    return {(s.asset, s.ts): s.value for s in samples if s.metric == metric}


def _assert_spot_is_the_models_spot(sim, venue: str, samples) -> None:
    """Stored spot volumes (at each hour's END) are the model's spot volumes, not the perp's."""
    spot = _stored_volumes(samples, "spot_volume_usd")
    assert {asset for asset, _ in spot} == set(ASSETS)
    for (asset, end), value in spot.items():
        model_perp, model_spot = sim.market.volume_buckets(asset, venue, np.asarray([end]), HOUR)
        assert value == pytest.approx(model_spot[0], rel=1e-6), (asset, end)
        assert abs(value - model_perp[0]) > 0.01 * model_perp[0], (asset, end)


async def test_the_live_sources_store_the_models_spot_volume_and_okx_top_trader_ratios():
    from levtop.sources.binance import SPOT_KLINES, BinanceVenue
    from levtop.sources.bybit import BybitVenue
    from levtop.sources.health import HealthBoard
    from levtop.sources.okx import OkxVenue

    async with running_sim() as sim:
        stored: list = []
        binance = BinanceVenue(sim.base_url, sim.ws_url, ASSETS, stored.extend, HealthBoard(),
                               extra_origins={"https://api.binance.com": sim.base_url}, timeout_s=5.0)
        bybit = BybitVenue(sim.base_url, sim.ws_url, ASSETS, stored.extend, HealthBoard(), timeout_s=5.0)
        okx = OkxVenue(sim.base_url, sim.ws_url, ASSETS, stored.extend, HealthBoard(), timeout_s=5.0)
        try:
            for venue, fetch in ((binance, lambda: binance.fetch_latest_klines(SPOT_KLINES)),
                                 (bybit, bybit.fetch_klines), (okx, okx.fetch_spot_candles)):
                await venue.start()
                stored.clear()
                assert await fetch() > 0, venue.name
                _assert_spot_is_the_models_spot(sim, venue.name, stored)
            # fundingInfo answered (it once was a 404, logged as a failure): nothing adjusted.
            assert not binance._funding_info_failed and binance.funding_hours == {}
            stored.clear()
            assert await okx.fetch_top_long_short() > 0 and okx.top_traders_served
            tops = [s for s in stored if s.metric == "top_long_short_ratio"]
            assert {s.asset for s in tops} == set(ASSETS)
            for s in tops:
                _, ratio, _ = sim.market.long_short_history(s.asset, "okx", s.ts, s.ts, FIVE_MIN, top=True)[0]
                assert s.value == pytest.approx(ratio, abs=1e-4)
        finally:
            for venue in (binance, bybit, okx):
                await venue.close()
