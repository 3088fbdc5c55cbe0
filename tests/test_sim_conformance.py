"""The emulators' payloads have the keys and JSON types of the real recorded samples in
../shared/fixtures (each test skips, naming the file, when ../shared is absent)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from sim_helpers import load_fixture, running_sim, shape_problems

# The Binance docs samples of /futures/data/* show "timestamp" as a string; the live API sends a
# number (fixtures/binance_docs/SOURCE.txt), which is what the emulator and ccxt follow.
DOC_TIMESTAMP_QUIRK = {"$[].timestamp": "doc sample sends a string, the live API a number"}

REST_CASES = [
    ("binance_fapi/exchangeInfo_2021-07-21_trimmed_BTC_ETH.json", "/fapi/v1/exchangeInfo", None, {}),
    ("nautilus_fixtures/binance__http_futures_market_exchange_info.json", "/fapi/v1/exchangeInfo", None, {}),
    ("binance_docs/premiumIndex_single.json", "/fapi/v1/premiumIndex?symbol=BTCUSDT", None, {}),
    ("binance_docs/premiumIndex_all.json", "/fapi/v1/premiumIndex", None, {}),
    ("binance_docs/openInterest.json", "/fapi/v1/openInterest?symbol=BTCUSDT", None, {}),
    ("crypto_msg_parser_captures/binance_open_interest_raw_messages.json", "/fapi/v1/openInterest?symbol=BTCUSDT", "linear_swap", {}),
    ("binance_docs/fundingRate.json", "/fapi/v1/fundingRate?symbol=BTCUSDT&limit=5", None, {}),
    ("binance_docs/openInterestHist.json", "/futures/data/openInterestHist?symbol=BTCUSDT&period=5m&limit=5", None, DOC_TIMESTAMP_QUIRK),
    ("binance_docs/globalLongShortAccountRatio.json", "/futures/data/globalLongShortAccountRatio?symbol=BTCUSDT&period=5m&limit=5", None, DOC_TIMESTAMP_QUIRK),
    ("binance_docs/topLongShortPositionRatio.json", "/futures/data/topLongShortPositionRatio?symbol=BTCUSDT&period=5m&limit=5", None, DOC_TIMESTAMP_QUIRK),
    ("binance_docs/topLongShortAccountRatio.json", "/futures/data/topLongShortAccountRatio?symbol=BTCUSDT&period=5m&limit=5", None, DOC_TIMESTAMP_QUIRK),
    ("bybit_recorded/v5_market_instruments-info_linear_2026-08-09.json", "/v5/market/instruments-info?category=linear&status=Trading&limit=1000", None, {}),
    ("bybit_docs/v5_market_tickers_inverse.json", "/v5/market/tickers?category=linear", None, {}),
    ("bybit_docs/v5_market_open-interest.json", "/v5/market/open-interest?category=linear&symbol=BTCUSDT&intervalTime=1d&limit=5", None, {}),
    ("bybit_docs/v5_market_account-ratio.json", "/v5/market/account-ratio?category=linear&symbol=BTCUSDT&period=1h&limit=2", None, {}),
    ("bybit_docs/v5_market_funding_history.json", "/v5/market/funding/history?category=linear&symbol=BTCUSDT&limit=2", None, {}),
    # nautilus' copy of this response lacks retExtInfo, which every live Bybit v5 body carries.
    ("nautilus_fixtures/bybit__http_get_funding_history.json", "/v5/market/funding/history?category=linear&symbol=BTCUSDT&limit=2", None,
     {"$.retExtInfo": "absent from nautilus' edited copy, present in Bybit's docs sample"}),
    ("ccxt_static_responses/okx_public_open-interest_BTC-USDT-SWAP_2024-10-12.json", "/api/v5/public/open-interest?instType=SWAP&instId=BTC-USDT-SWAP", None, {}),
    ("nautilus_fixtures/okx__http_get_funding_rate_history.json", "/api/v5/public/funding-rate-history?instId=BTC-USDT-SWAP&limit=2", None, {}),
    ("nautilus_fixtures/okx__http_get_mark_price.json", "/api/v5/public/mark-price?instType=SWAP&instId=BTC-USDT-SWAP", None, {}),
]


def _sample(relative: str, test_fn: str | None):
    document = load_fixture(relative)
    if test_fn is None:
        return document
    # crypto-msg-parser captures wrap each raw message with its test's name.
    return next(entry["raw"] for entry in document if entry["test_fn"] == test_fn)


@pytest.mark.parametrize(("fixture", "route", "test_fn", "allowed"), REST_CASES, ids=[c[0] for c in REST_CASES])
async def test_rest_payload_has_the_real_shape(fixture, route, test_fn, allowed):
    real = _sample(fixture, test_fn)
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        async with session.get(sim.base_url + route) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("application/json")
            emulated = await response.json()
    assert shape_problems(emulated, real, allowed=allowed) == []


WS_CASES = [
    ("binance_docs/ws_forceOrder_arr.json", "/ws/!forceOrder@arr", None),
    ("bybit_docs/ws_allLiquidation.json", "/v5/public/linear", {"op": "subscribe", "args": ["allLiquidation.BTCUSDT"]}),
]


@pytest.mark.parametrize(("fixture", "path", "subscribe"), WS_CASES, ids=[c[0] for c in WS_CASES])
async def test_stream_frame_has_the_real_shape(fixture, path, subscribe):
    real = load_fixture(fixture)
    async with running_sim(speed=3000.0) as sim, aiohttp.ClientSession() as session:
        async with session.ws_connect(sim.ws_url + path) as ws:
            if subscribe:
                await ws.send_str(json.dumps(subscribe))
            frame = None
            while frame is None:
                message = json.loads((await ws.receive(timeout=20)).data)
                if "topic" in message or "e" in message:
                    frame = message
    assert shape_problems(frame, real) == []


def test_shape_comparison_catches_a_wrong_type_and_a_missing_key():
    real = {"a": "1", "b": [{"c": 1}]}
    assert shape_problems({"a": 1, "b": [{"c": 1}]}, real) == ["$.a: emulator sends int, real sample has string"]
    assert shape_problems({"a": "1", "b": [{}]}, real) != []
    assert shape_problems({"a": "1", "b": [{"c": 2}]}, real) == []
