"""The real ccxt clients (async and pro), pointed at the simulator, parse every method levtop
uses on binanceusdm, bybit and okx, with plausible values."""

from __future__ import annotations

import asyncio

import pytest

from sim_helpers import CCXT_IDS, SYMBOL, VENUE_OF, make_exchange, running_sim

HOUR = 3_600_000
DAY = 24 * HOUR
# Bybit wants its own period names for long/short history; the others take ccxt timeframes.
LONG_SHORT_TIMEFRAME = {"binanceusdm": "5m", "bybit": "5min", "okx": "5m"}


@pytest.mark.parametrize("ccxt_id", CCXT_IDS)
async def test_ccxt_parses_every_method_levtop_uses(ccxt_id):
    async with running_sim() as sim:
        exchange = make_exchange(ccxt_id, sim, enableRateLimit=False)
        try:
            markets = await exchange.load_markets()
            assert set(markets) == {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"}
            assert all(m["swap"] and m["linear"] for m in markets.values())
            now = sim.clock.now_ms()
            tick = sim.market.tick("BTC", VENUE_OF[ccxt_id], now)

            rates = await exchange.fetch_funding_rates()
            assert set(rates) == set(markets)
            assert rates[SYMBOL]["fundingRate"] == pytest.approx(tick.funding_rate, abs=2e-5)
            assert rates[SYMBOL]["fundingTimestamp"] > now - 8 * HOUR
            rate = await exchange.fetch_funding_rate(SYMBOL)
            assert rate["fundingRate"] == pytest.approx(rates[SYMBOL]["fundingRate"], abs=2e-5)

            oi = await exchange.fetch_open_interest(SYMBOL)
            coins = oi["openInterestAmount"] * (markets[SYMBOL]["contractSize"] or 1)
            assert coins == pytest.approx(tick.oi_base, rel=0.02)
            if ccxt_id == "okx":
                all_oi = await exchange.fetch_open_interests()
                assert set(all_oi) == set(markets)

            history = await exchange.fetch_open_interest_history(SYMBOL, "1h", limit=24)
            assert len(history) == 24
            assert all(a["timestamp"] < b["timestamp"] for a, b in zip(history, history[1:]))
            assert history[-1]["timestamp"] <= now
            assert all(h["openInterestAmount"] and h["openInterestAmount"] > 0 for h in history)
            since = now - 2 * DAY
            dated = await exchange.fetch_open_interest_history(SYMBOL, "1h", since=since, limit=10)
            assert dated and all(since <= h["timestamp"] <= now for h in dated)

            ratios = await exchange.fetch_long_short_ratio_history(SYMBOL, LONG_SHORT_TIMEFRAME[ccxt_id], limit=12)
            assert ratios and all(0.1 < r["longShortRatio"] < 10 for r in ratios)
            assert max(r["timestamp"] for r in ratios) <= now

            fundings = await exchange.fetch_funding_rate_history(SYMBOL, since=now - 3 * DAY, limit=9)
            assert 8 <= len(fundings) <= 9
            assert all(abs(f["fundingRate"]) < 0.01 and f["timestamp"] % (8 * HOUR) == 0 for f in fundings)

            candles = await exchange.fetch_ohlcv(SYMBOL, "1h", limit=5)
            assert len(candles) == 5 and candles[-1][0] <= now < candles[-1][0] + HOUR
            assert all(low <= min(o, c) <= max(o, c) <= high for _, o, high, low, c, _ in candles)
            assert candles[-1][4] == pytest.approx(tick.last_price, rel=0.01)

            tickers = await exchange.fetch_tickers()
            assert set(tickers) == set(markets)
            ticker = await exchange.fetch_ticker(SYMBOL)
            assert ticker["last"] == pytest.approx(tick.last_price, rel=0.01)
        finally:
            await exchange.close()


@pytest.mark.parametrize("ccxt_id", CCXT_IDS)
async def test_history_is_never_from_the_future(ccxt_id):
    async with running_sim(speed=1.0) as sim:
        exchange = make_exchange(ccxt_id, sim, enableRateLimit=False)
        try:
            await exchange.load_markets()
            now = sim.clock.now_ms()
            candles = await exchange.fetch_ohlcv(SYMBOL, "1m", since=now - 10 * 60_000, limit=100)
            assert candles and candles[-1][0] <= now
            # The open candle is partial: it closes at the last traded price, not at its future close.
            assert candles[-1][4] == pytest.approx(sim.market.tick("BTC", VENUE_OF[ccxt_id], now).last_price, rel=1e-3)
            fundings = await exchange.fetch_funding_rate_history(SYMBOL, since=now - DAY)
            assert all(f["timestamp"] <= now for f in fundings)
        finally:
            await exchange.close()


async def _first_liquidations(ccxt_id, sim):
    exchange = make_exchange(ccxt_id, sim, pro=True)
    try:
        await exchange.load_markets()
        if ccxt_id == "bybit":
            # ccxt's bybit has no watchLiquidationsForSymbols: one allLiquidation topic per symbol.
            return await asyncio.wait_for(exchange.watch_liquidations(SYMBOL), 30)
        if ccxt_id == "binanceusdm":
            return await asyncio.wait_for(exchange.watch_liquidations_for_symbols([]), 30)
        return await asyncio.wait_for(exchange.watch_liquidations_for_symbols([SYMBOL, "ETH/USDT:USDT"]), 30)
    finally:
        await exchange.close()


async def test_ccxt_pro_receives_liquidations_from_all_three_streams():
    async with running_sim(speed=1200.0) as sim:
        results = await asyncio.gather(*(_first_liquidations(ccxt_id, sim) for ccxt_id in CCXT_IDS))
        now = sim.clock.now_ms()
        for ccxt_id, liquidations in zip(CCXT_IDS, results):
            assert liquidations, ccxt_id
            for liquidation in liquidations:
                assert liquidation["symbol"] in ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
                assert liquidation["contracts"] > 0 and liquidation["price"] > 0
                assert liquidation["side"] in ("buy", "sell")
                assert sim.market.start_ms <= liquidation["timestamp"] <= now
        messages = sim.stats.to_json()["messages_by_venue"]
        assert set(messages) == {"binance", "bybit", "okx"}


async def test_binance_per_symbol_stream_matches_the_model():
    async with running_sim(speed=1200.0) as sim:
        exchange = make_exchange("binanceusdm", sim, pro=True)
        try:
            await exchange.load_markets()
            received = await asyncio.wait_for(exchange.watch_liquidations(SYMBOL), 30)
        finally:
            await exchange.close()
        event = received[0]
        model = sim.market.liquidations("BTC", "binance", event["timestamp"], event["timestamp"] + 1)
        assert model, "the stream sent an event the model does not have"
        assert event["price"] == pytest.approx(model[-1].price, rel=1e-3)
        # Binance sends a forced SELL for a liquidated long.
        assert event["side"] == ("sell" if model[-1].side == "long" else "buy")
        assert sim.stats.messages("binance", "btcusdt@forceOrder") >= 1
