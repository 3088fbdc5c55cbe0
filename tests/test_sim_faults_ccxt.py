"""Each fault kind surfaces in the real ccxt client as the exception (or stream error) the live
pipeline will see; faults posted at run time act on the next request and go away on DELETE."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import ccxt
import pytest

from levtop.sim.faults import rule_from_dict
from sim_helpers import CCXT_IDS, SYMBOL, VENUE_OF, make_exchange, running_sim

STATUS_CASES = [
    # (ccxt id, status, expected exception): Binance raises DDoSProtection for 418 and 429.
    ("binanceusdm", 429, ccxt.DDoSProtection),
    ("binanceusdm", 418, ccxt.DDoSProtection),
    ("bybit", 429, ccxt.RateLimitExceeded),
    ("okx", 429, ccxt.RateLimitExceeded),
    ("binanceusdm", 503, ccxt.ExchangeNotAvailable),
    ("bybit", 502, ccxt.ExchangeNotAvailable),
    ("okx", 500, ccxt.ExchangeNotAvailable),
    ("okx", 504, ccxt.RequestTimeout),
]


@pytest.mark.parametrize(("ccxt_id", "status", "expected"), STATUS_CASES)
async def test_status_faults_raise_the_ccxt_exception(ccxt_id, status, expected):
    async with running_sim() as sim:
        exchange = make_exchange(ccxt_id, sim)
        try:
            await exchange.load_markets()
            sim.faults.add(rule_from_dict({"venue": VENUE_OF[ccxt_id], "route": "*", "kind": "status", "status": status, "retry_after_s": 5}))
            with pytest.raises(expected) as raised:
                await exchange.fetch_funding_rates()
            # Every one of them is retryable.
            assert isinstance(raised.value, ccxt.NetworkError)
            assert exchange.last_response_headers.get("Retry-After") == "5"
        finally:
            await exchange.close()


@pytest.mark.parametrize("ccxt_id", CCXT_IDS)
async def test_delay_past_the_timeout_is_a_request_timeout(ccxt_id):
    async with running_sim() as sim:
        exchange = make_exchange(ccxt_id, sim, timeout=300)
        try:
            await exchange.load_markets()
            sim.faults.add(rule_from_dict({"venue": VENUE_OF[ccxt_id], "route": "*", "kind": "delay", "delay_s": 1.0}))
            with pytest.raises(ccxt.RequestTimeout):
                await exchange.fetch_open_interest(SYMBOL)
        finally:
            await exchange.close()


@pytest.mark.parametrize("ccxt_id", CCXT_IDS)
async def test_refuse_is_a_network_error_until_it_expires(ccxt_id):
    async with running_sim() as sim:
        exchange = make_exchange(ccxt_id, sim)
        try:
            await exchange.load_markets()
            sim.faults.add(rule_from_dict({"venue": VENUE_OF[ccxt_id], "route": "*", "kind": "refuse", "duration_s": 0.5}))
            with pytest.raises(ccxt.NetworkError):
                await exchange.fetch_ticker(SYMBOL)
            await asyncio.sleep(0.6)
            assert (await exchange.fetch_ticker(SYMBOL))["last"] > 0
        finally:
            await exchange.close()


@pytest.mark.parametrize("kind", ["malformed", "truncate"])
@pytest.mark.parametrize("ccxt_id", CCXT_IDS)
async def test_broken_bodies_reach_ccxt_as_invalid_json(ccxt_id, kind):
    """ccxt 4.5.90 raises no exception for a body that is not valid JSON: it hands the raw text to
    the parser, which yields empty results. The pipeline must treat that as a failed poll."""
    async with running_sim() as sim:
        exchange = make_exchange(ccxt_id, sim, enableLastHttpResponse=True, enableLastJsonResponse=True)
        try:
            await exchange.load_markets()
            sim.faults.add(rule_from_dict({"venue": VENUE_OF[ccxt_id], "route": "*", "kind": kind}))
            rates = await exchange.fetch_funding_rates()
            assert rates == {}
            assert exchange.last_json_response is None
            with pytest.raises(ValueError):
                json.loads(exchange.last_http_response)
        finally:
            await exchange.close()


FIELD_CASES = [
    ("binanceusdm", "lastFundingRate"),
    ("bybit", "fundingRate"),
    ("okx", "fundingRate"),
]


@pytest.mark.parametrize(("ccxt_id", "field"), FIELD_CASES)
@pytest.mark.parametrize("kind", ["drop_field", "wrong_type"])
async def test_missing_or_mistyped_fields_parse_as_none(ccxt_id, field, kind):
    async with running_sim() as sim:
        exchange = make_exchange(ccxt_id, sim)
        try:
            await exchange.load_markets()
            assert (await exchange.fetch_funding_rates())[SYMBOL]["fundingRate"] is not None
            sim.faults.add(rule_from_dict({"venue": VENUE_OF[ccxt_id], "route": "*", "kind": kind, "field": field}))
            rates = await exchange.fetch_funding_rates()
            assert rates[SYMBOL]["fundingRate"] is None
        finally:
            await exchange.close()


async def test_bad_parameters_get_the_venues_own_errors():
    async with running_sim() as sim:
        exchanges = {i: make_exchange(i, sim) for i in CCXT_IDS}
        try:
            with pytest.raises(ccxt.BadSymbol):
                await exchanges["binanceusdm"].fapipublic_get_openinterest({"symbol": "NOPEUSDT"})
            with pytest.raises(ccxt.BadRequest):
                await exchanges["binanceusdm"].fapidata_get_openinteresthist({"symbol": "BTCUSDT", "period": "7m"})
            with pytest.raises(ccxt.BadRequest):
                await exchanges["bybit"].public_get_v5_market_open_interest({"category": "linear", "symbol": "NOPEUSDT", "intervalTime": "5min"})
            with pytest.raises(ccxt.BadSymbol):
                await exchanges["okx"].public_get_public_open_interest({"instType": "SWAP", "instId": "NOPE-USDT-SWAP"})
            with pytest.raises(ccxt.BadRequest):
                await exchanges["okx"].public_get_public_funding_rate({})
        finally:
            for exchange in exchanges.values():
                await exchange.close()


async def test_posted_fault_acts_on_the_next_request_and_is_gone_after_delete():
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        exchange = make_exchange("okx", sim)
        try:
            await exchange.load_markets()
            rule = {"venue": "okx", "route": "/api/v5/public/*", "kind": "status", "status": 429}
            async with session.post(f"{sim.base_url}/_sim/faults", json=rule) as response:
                assert response.status == 201
                added = (await response.json())["added"]
            with pytest.raises(ccxt.RateLimitExceeded):
                await exchange.fetch_funding_rates()
            # Routes the glob does not match are untouched.
            assert await exchange.fetch_ohlcv(SYMBOL, "1h", limit=2)
            async with session.get(f"{sim.base_url}/_sim/faults") as response:
                listed = (await response.json())["faults"]
            assert [f["id"] for f in listed] == [added[0]["id"]] and listed[0]["fired"] == 1
            async with session.delete(f"{sim.base_url}/_sim/faults") as response:
                assert (await response.json())["removed"] == 1
            assert (await exchange.fetch_funding_rates())[SYMBOL]["fundingRate"] is not None
        finally:
            await exchange.close()


async def test_every_n_fires_on_every_nth_request_only():
    async with running_sim() as sim:
        exchange = make_exchange("bybit", sim)
        try:
            await exchange.load_markets()
            sim.faults.add(rule_from_dict({"venue": "bybit", "route": "/v5/market/tickers", "kind": "status", "status": 503, "every_n": 3}))
            outcomes = []
            for _ in range(6):
                try:
                    await exchange.fetch_ticker(SYMBOL)
                    outcomes.append("ok")
                except ccxt.ExchangeNotAvailable:
                    outcomes.append("503")
            assert outcomes == ["ok", "ok", "503", "ok", "ok", "503"]
        finally:
            await exchange.close()


async def test_ws_drop_closes_the_stream_with_a_network_error():
    async with running_sim(speed=1200.0) as sim:
        exchange = make_exchange("binanceusdm", sim, pro=True)
        try:
            await exchange.load_markets()
            assert await asyncio.wait_for(exchange.watch_liquidations_for_symbols([]), 30)
            sim.faults.add(rule_from_dict({"venue": "binance", "route": "ws", "kind": "ws_drop"}))
            # A watch pending when the stream drops fails; ccxt.pro does not retry by itself.
            with pytest.raises(ccxt.NetworkError, match="closed"):
                await asyncio.wait_for(exchange.watch_liquidations_for_symbols([]), 30)
            sim.faults.clear()
            # The next watch opens a new connection, and events flow again.
            assert await asyncio.wait_for(exchange.watch_liquidations_for_symbols([]), 30)
            assert sim.stats.to_json()["ws_connections"]["binance"] == 2
        finally:
            await exchange.close()


async def test_ws_stall_keeps_the_socket_open_and_sends_nothing_until_it_expires():
    async with running_sim(speed=1200.0) as sim, aiohttp.ClientSession() as session:
        sim.faults.add(rule_from_dict({"venue": "okx", "route": "ws", "kind": "ws_stall", "duration_s": 1.5}))
        async with session.ws_connect(f"{sim.ws_url}/ws/v5/public") as ws:
            await ws.send_str(json.dumps({"op": "subscribe", "args": [{"channel": "liquidation-orders", "instType": "SWAP"}]}))
            await ws.send_str("ping")
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=1.0)
            assert not ws.closed
            assert sim.stats.messages("okx", "liquidation-orders") == 0
            # After the stall, the stream flows again (pings are answered, liquidations arrive).
            await asyncio.sleep(0.6)
            await ws.send_str("ping")
            texts: list[str] = []
            while "pong" not in texts or not any(t.startswith('{"arg"') for t in texts):
                texts.append((await ws.receive(timeout=20)).data)
            assert sim.stats.messages("okx", "liquidation-orders") >= 1


async def test_stream_body_faults_and_handshake_status():
    async with running_sim(speed=1200.0) as sim, aiohttp.ClientSession() as session:
        sim.faults.add(rule_from_dict({"venue": "bybit", "route": "ws:allLiquidation.*", "kind": "wrong_type", "field": "p"}))
        async with session.ws_connect(f"{sim.ws_url}/v5/public/linear") as ws:
            await ws.send_str(json.dumps({"op": "subscribe", "req_id": "1", "args": ["allLiquidation.BTCUSDT"]}))
            frame = None
            while frame is None:
                message = json.loads((await ws.receive(timeout=20)).data)
                frame = message if "topic" in message else None
            assert all(entry["p"] == {"value": entry["p"]["value"]} for entry in frame["data"])
        sim.faults.add(rule_from_dict({"venue": "binance", "route": "ws", "kind": "status", "status": 429}))
        with pytest.raises(aiohttp.WSServerHandshakeError) as raised:
            await session.ws_connect(f"{sim.ws_url}/ws/!forceOrder@arr")
        assert raised.value.status == 429
