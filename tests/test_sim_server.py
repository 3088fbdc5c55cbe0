"""The simulator server: one port for every venue, control routes, venue limits and windows,
the venues' error bodies, stats, and determinism for a seed."""

from __future__ import annotations

import aiohttp
import pytest

from levtop.sim.server import Simulator
from sim_helpers import START_MS, running_sim, shared_market

DAY = 86_400_000


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, object]:
    async with session.get(url) as response:
        if response.content_type != "application/json":
            return response.status, await response.text()
        return response.status, await response.json()


async def test_library_use_binds_loopback_on_a_free_port():
    async with Simulator(speed=600.0, port=0, market=shared_market(), start_ms=START_MS) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:") and sim.port and sim.port > 0
        assert sim.ws_url == sim.base_url.replace("http://", "ws://")
        assert sim.market is not None and sim.clock is not None
        async with aiohttp.ClientSession() as session:
            status, clock = await _get(session, sim.base_url + "/_sim/clock")
    assert status == 200
    assert clock["scenario"] == "recovery" and clock["speed"] == 600.0
    assert clock["now_ms"] >= START_MS


async def test_every_venue_is_served_on_one_port_under_its_real_paths():
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        for path in (
            "/fapi/v1/premiumIndex",
            "/futures/data/openInterestHist?symbol=ETHUSDT&period=1h",
            "/api/v3/ticker/24hr?symbol=SOLUSDT",
            "/v5/market/tickers?category=linear",
            "/api/v5/public/funding-rate?instId=ANY",
            "/api/v5/rubik/stat/contracts/open-interest-history?instId=SOL-USDT-SWAP&period=1H",
            "/fng/?limit=10",
            "/stablecoincharts/all",
        ):
            status, _ = await _get(session, sim.base_url + path)
            assert status == 200, path
        status, index = await _get(session, sim.base_url + "/_sim")
        assert set(index["routes"]) == {"binance", "bybit", "okx", "fear_greed", "stablecoins"}


async def test_binance_statistics_keep_30_days_and_500_rows():
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        now = sim.clock.now_ms()
        base = sim.base_url + "/futures/data/openInterestHist?symbol=BTCUSDT&period=5m"
        status, rows = await _get(session, base + "&limit=1000")
        assert status == 200 and len(rows) == 500
        assert rows[-1]["timestamp"] <= now and all(a["timestamp"] < b["timestamp"] for a, b in zip(rows, rows[1:]))
        status, rows = await _get(session, base.replace("5m", "1d") + "&limit=500")
        assert len(rows) <= 31 and rows[0]["timestamp"] >= now - 30 * DAY - DAY
        status, body = await _get(session, base + f"&startTime={now - 40 * DAY}")
        assert status == 400 and body["code"] == -1130
        status, rows = await _get(session, base + "&limit=30")
        assert len(rows) == 30


async def test_bybit_pages_back_with_its_cursor():
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        base = sim.base_url + "/v5/market/open-interest?category=linear&symbol=BTCUSDT&intervalTime=1h&limit=5"
        _, first = await _get(session, base)
        page = first["result"]["list"]
        assert len(page) == 5 and page[0]["timestamp"] > page[-1]["timestamp"]
        _, second = await _get(session, base + "&cursor=" + first["result"]["nextPageCursor"])
        older = second["result"]["list"]
        assert int(older[0]["timestamp"]) == int(page[-1]["timestamp"]) - 3_600_000


async def test_okx_history_is_newest_first_and_capped_at_100():
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        url = sim.base_url + "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract?instId=BTC-USDT-SWAP&period=5m&limit=500"
        _, body = await _get(session, url)
        rows = body["data"]
        assert len(rows) == 100 and int(rows[0][0]) > int(rows[-1][0])


async def test_venue_error_bodies():
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        status, body = await _get(session, sim.base_url + "/fapi/v1/klines?symbol=BTCUSDT&interval=7m")
        assert (status, body) == (400, {"code": -1120, "msg": "Invalid interval."})
        status, body = await _get(session, sim.base_url + "/fapi/v1/openInterest")
        assert status == 400 and body["code"] == -1102
        status, body = await _get(session, sim.base_url + "/v5/market/account-ratio?category=linear&symbol=BTCUSDT&period=2min")
        assert status == 200 and body["retCode"] == 10001 and body["result"] == {}
        status, body = await _get(session, sim.base_url + "/api/v5/market/candles?instId=NOPE-USDT-SWAP")
        assert body == {"code": "51001", "msg": "Instrument ID does not exist", "data": []}


async def test_stats_count_requests_per_route_and_reset():
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        for _ in range(3):
            await _get(session, sim.base_url + "/fapi/v1/premiumIndex")
        await _get(session, sim.base_url + "/fng/?limit=2")
        _, stats = await _get(session, sim.base_url + "/_sim/stats")
        assert stats["requests"]["binance"]["/fapi/v1/premiumIndex"] == 3
        assert stats["requests"]["fear_greed"]["/fng/"] == 1
        assert stats["requests_total"] == 4
        async with session.delete(sim.base_url + "/_sim/stats") as response:
            assert (await response.json())["requests_total"] == 0


async def test_fault_api_validates_and_deletes_by_id():
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        async with session.post(sim.base_url + "/_sim/faults", json={"venue": "okx", "route": "*", "kind": "nope"}) as response:
            assert response.status == 400 and "kind" in (await response.json())["error"]
        async with session.post(sim.base_url + "/_sim/faults", data="not json") as response:
            assert response.status == 400
        rules = {"fault": [{"venue": "stablecoins", "route": "/stablecoincharts/*", "kind": "status", "status": 500},
                           {"venue": "fear_greed", "route": "/fng/", "kind": "drop_field", "field": "value"}]}
        async with session.post(sim.base_url + "/_sim/faults", json=rules) as response:
            added = (await response.json())["added"]
        status, _ = await _get(session, sim.base_url + "/stablecoincharts/all")
        assert status == 500
        _, fng = await _get(session, sim.base_url + "/fng/?limit=3")
        assert all("value" not in entry for entry in fng["data"])
        async with session.delete(f"{sim.base_url}/_sim/faults/{added[0]['id']}") as response:
            assert response.status == 200
        async with session.delete(f"{sim.base_url}/_sim/faults/{added[0]['id']}") as response:
            assert response.status == 404
        status, _ = await _get(session, sim.base_url + "/stablecoincharts/all")
        assert status == 200


async def test_same_seed_and_start_serve_identical_history():
    paths = (
        "/futures/data/openInterestHist?symbol=BTCUSDT&period=1h&limit=100&endTime={end}",
        "/v5/market/account-ratio?category=linear&symbol=ETHUSDT&period=1h&limit=100&endTime={end}",
        "/api/v5/rubik/stat/contracts/open-interest-history?instId=SOL-USDT-SWAP&period=1H&end={end}",
        "/fapi/v1/fundingRate?symbol=BTCUSDT&endTime={end}",
    )
    end = START_MS - DAY
    bodies = []
    for seed in (5, 5, 6):
        async with running_sim(seed=seed, fresh_market=True) as sim, aiohttp.ClientSession() as session:
            served = [await _get(session, sim.base_url + p.format(end=end)) for p in paths]
            # Bybit stamps each body with the server time; the history itself must not vary.
            bodies.append([(status, {k: v for k, v in body.items() if k != "time"} if isinstance(body, dict) else body)
                           for status, body in served])
    assert all(status == 200 and body for status, body in bodies[0])
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


async def test_sentiment_shapes():
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        _, fng = await _get(session, sim.base_url + "/fng/?limit=7")
        assert len(fng["data"]) == 7 and "time_until_update" in fng["data"][0]
        assert all(isinstance(e["value"], str) and 0 <= int(e["value"]) <= 100 for e in fng["data"])
        assert int(fng["data"][0]["timestamp"]) * 1000 <= sim.clock.now_ms()
        _, all_days = await _get(session, sim.base_url + "/fng/?limit=0")
        assert len(all_days["data"]) >= 35
        _, chart = await _get(session, sim.base_url + "/stablecoincharts/all")
        assert int(chart[-1]["date"]) * 1000 <= sim.clock.now_ms()
        assert chart[-1]["totalCirculatingUSD"]["peggedUSD"] > 1e10


@pytest.mark.parametrize("host", ["127.0.0.1"])
async def test_stop_closes_open_streams(host):
    sim = Simulator(speed=600.0, host=host, port=0, market=shared_market(), start_ms=START_MS)
    await sim.start()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(sim.ws_url + "/ws/v5/public") as ws:
            await sim.stop()
            message = await ws.receive(timeout=5)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


async def test_binance_combined_stream_wraps_events_and_lists_subscriptions():
    async with running_sim(speed=1200.0) as sim, aiohttp.ClientSession() as session:
        async with session.ws_connect(sim.ws_url + "/stream?streams=btcusdt@forceOrder/ethusdt@forceOrder") as ws:
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 7})
            frame = None
            while frame is None:
                message = await ws.receive_json(timeout=20)
                if message.get("id") == 7:
                    assert message["result"] == ["btcusdt@forceOrder", "ethusdt@forceOrder"]
                elif "stream" in message:
                    frame = message
        assert frame["stream"] in ("btcusdt@forceOrder", "ethusdt@forceOrder")
        assert frame["data"]["e"] == "forceOrder" and frame["data"]["o"]["s"] in ("BTCUSDT", "ETHUSDT")
