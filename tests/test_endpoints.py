"""point_exchange and point_url swap only scheme, host and port of every ccxt URL."""

from __future__ import annotations

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from levtop.sources.endpoints import (
    FEAR_GREED_URL,
    STABLECOINS_URL,
    api_origins,
    point_exchange,
    point_url,
    real_base_urls,
)

REST = "http://127.0.0.1:8787"
WS = "ws://127.0.0.1:8787"


def _all_urls(node):
    if isinstance(node, str):
        if "://" in node:
            yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _all_urls(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _all_urls(value)


def test_point_url_keeps_path_query_and_fragment():
    assert point_url("https://fapi.binance.com/fapi/v1/premiumIndex?symbol=BTCUSDT#x", REST, WS) == (
        "http://127.0.0.1:8787/fapi/v1/premiumIndex?symbol=BTCUSDT#x"
    )
    assert point_url("wss://stream.binance.com:9443/ws", REST, WS) == "ws://127.0.0.1:8787/ws"
    assert point_url("https://api.{hostname}/v5", "https://proxy.example:4443", WS) == "https://proxy.example:4443/v5"
    assert point_url(FEAR_GREED_URL + "?limit=2", REST, WS) == "http://127.0.0.1:8787/fng/?limit=2"
    assert point_url(STABLECOINS_URL, REST, WS) == "http://127.0.0.1:8787/stablecoincharts/all"


@pytest.mark.parametrize("bad", ["127.0.0.1:8787", "http://127.0.0.1:8787/prefix", "http://h/?q=1", "http://"])
def test_point_url_rejects_bases_that_are_not_bare_origins(bad):
    with pytest.raises(ValueError):
        point_url("https://fapi.binance.com/fapi/v1", bad, WS)


def test_point_url_rejects_relative_urls():
    with pytest.raises(ValueError):
        point_url("/fapi/v1/time", REST, WS)


@pytest.mark.parametrize("module", [ccxt_async, ccxt_pro], ids=["async", "pro"])
@pytest.mark.parametrize("ccxt_id", ["binanceusdm", "bybit", "okx"])
async def test_point_exchange_rewrites_every_api_url_and_keeps_paths(module, ccxt_id):
    pristine = getattr(module, ccxt_id)()
    exchange = getattr(module, ccxt_id)()
    try:
        before = list(_all_urls(pristine.urls["api"]))
        point_exchange(exchange, REST, WS)
        after = list(_all_urls(exchange.urls["api"]))
        assert len(after) == len(before) > 0
        for old, new in zip(before, after):
            expected_base = WS if old.startswith(("ws://", "wss://")) else REST
            assert new.startswith(expected_base)
            old_path = old.split("://", 1)[1].split("/", 1)[1] if "/" in old.split("://", 1)[1] else ""
            assert new == f"{expected_base}/{old_path}" if old_path else new == expected_base
        assert api_origins(exchange) <= {REST, WS}
        if module is ccxt_pro:
            assert WS in api_origins(exchange)
    finally:
        await pristine.close()
        await exchange.close()


async def test_point_exchange_changes_the_urls_ccxt_requests():
    exchange = ccxt_async.okx()
    try:
        point_exchange(exchange, REST, WS)
        signed = exchange.sign("public/funding-rate", "public", "GET", {})
        assert signed["url"] == "http://127.0.0.1:8787/api/v5/public/funding-rate"
    finally:
        await exchange.close()


def test_point_exchange_refuses_an_object_without_api_urls():
    class NotAnExchange:
        urls: dict = {}

    with pytest.raises(ValueError):
        point_exchange(NotAnExchange(), REST, WS)


async def test_real_base_urls_match_ccxt_defaults():
    origins = real_base_urls()
    assert set(origins) == {"binance", "bybit", "okx", "fear_greed", "stablecoins"}
    for ccxt_id, venue in (("binanceusdm", "binance"), ("bybit", "bybit"), ("okx", "okx")):
        exchange = getattr(ccxt_pro, ccxt_id)()
        try:
            used = api_origins(exchange)
        finally:
            await exchange.close()
        for origin in origins[venue]["rest"] + origins[venue]["ws"]:
            assert origin in used, f"{origin} is not among {ccxt_id}'s urls"
    # A copy: callers may change it without touching the module's table.
    origins["binance"]["rest"] = ()
    assert real_base_urls()["binance"]["rest"]
