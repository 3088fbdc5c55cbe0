"""Binance USDⓈ-M futures (``/fapi``, ``/futures/data``), the spot endpoints levtop reads
(``/api/v3``) and the liquidation streams (``!forceOrder@arr``, ``<symbol>@forceOrder``).

Shapes follow the recorded exchangeInfo and the official samples in ``shared/fixtures/binance_*``:
numbers as strings except times and precisions; errors as ``{"code": -1121, "msg": ...}`` with
HTTP 400. The ``/futures/data`` statistics keep only the last 30 days and at most 500 rows.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Mapping

from aiohttp import web

from levtop.sim.burst import BurstEvent
from levtop.sim.venues.common import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    ParamError,
    RestRoute,
    SimContext,
    StreamSender,
    VenueApi,
    VenueError,
    VenueReply,
    WsRoute,
    candles_in,
    fixed,
    instrument_spec,
    limit_param,
    opt_int,
    plain,
    pump_liquidations,
    read_json_messages,
    required,
    window,
)

VENUE = "binance"
QUOTE = "USDT"
# Binance's far-future delivery date of perpetual contracts (2100-12-25).
PERPETUAL_DELIVERY_MS = 4133404800000
ONBOARD_MS = 1569398400000
STATS_DAYS = 30
# Symbols settle funding every 8 hours unless Binance adjusted them; only those are in fundingInfo,
# with their adjusted cap and floor (the values of Binance's documented sample).
STANDARD_FUNDING_HOURS = 8
ADJUSTED_FUNDING_CAP = "0.02500000"
ADJUSTED_FUNDING_FLOOR = "-0.02500000"
FUTURES_KLINE_LIMIT = 1500
SPOT_KLINE_LIMIT = 1000
STATS_PERIODS = {
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
}
KLINE_INTERVALS = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
}


# ----------------------------------------------------------------------------- errors


def error(code: int, msg: str, status: int = 400) -> VenueError:
    return VenueError(VenueReply({"code": code, "msg": msg}, status=status))


def param_error(exc: ParamError, now: int) -> VenueReply:
    if exc.problem == "missing":
        return VenueReply(
            {"code": -1102, "msg": f"Mandatory parameter '{exc.name}' was not sent, was empty/null, or malformed."},
            status=400,
        )
    return VenueReply({"code": -1130, "msg": f"Data sent for parameter '{exc.name}' is not valid."}, status=400)


def status_reply(status: int, now: int) -> VenueReply:
    if status == 429:
        return VenueReply(
            {
                "code": -1003,
                "msg": "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. "
                "Please use the websocket for live updates to avoid polling the API.",
            },
            status=status,
        )
    if status == 418:
        return VenueReply(
            {
                "code": -1003,
                "msg": f"Way too many requests; IP(127.0.0.1) banned until {now + 120_000}. "
                "Please use the websocket for live updates to avoid bans.",
            },
            status=status,
        )
    return VenueReply(None, status=status)


# ----------------------------------------------------------------------------- symbols


def symbol_of(asset: str) -> str:
    return f"{asset}{QUOTE}"


def asset_of(ctx: SimContext, symbol: str) -> str:
    for asset in ctx.assets:
        if symbol_of(asset) == symbol:
            return asset
    raise error(-1121, "Invalid symbol.")


def symbol_param(ctx: SimContext, query: Mapping[str, str]) -> str:
    return asset_of(ctx, required(query, "symbol"))


def optional_assets(ctx: SimContext, query: Mapping[str, str]) -> list[str]:
    symbol = query.get("symbol")
    if symbol:
        return [asset_of(ctx, symbol)]
    return list(ctx.assets)


# ----------------------------------------------------------------------------- /fapi/v1


def _filters(ctx: SimContext, asset: str) -> list[dict[str, Any]]:
    spec = instrument_spec(ctx, asset)
    reference = ctx.market.tick(asset, VENUE, ctx.market.start_ms).mark_price
    max_qty = plain(max(1000.0, round(20_000_000 / reference, -1)), spec.qty_places)
    return [
        {
            "minPrice": plain(spec.tick_size * 10, spec.price_places),
            "maxPrice": plain(round(reference * 20, spec.price_places), spec.price_places),
            "filterType": "PRICE_FILTER",
            "tickSize": spec.price(spec.tick_size),
        },
        {"stepSize": spec.qty(spec.qty_step), "filterType": "LOT_SIZE", "maxQty": max_qty, "minQty": spec.qty(spec.qty_step)},
        {
            "stepSize": spec.qty(spec.qty_step),
            "filterType": "MARKET_LOT_SIZE",
            "maxQty": max_qty,
            "minQty": spec.qty(spec.qty_step),
        },
        {"limit": 200, "filterType": "MAX_NUM_ORDERS"},
        {"limit": 10, "filterType": "MAX_NUM_ALGO_ORDERS"},
        {"notional": "5", "filterType": "MIN_NOTIONAL"},
        {"multiplierDown": "0.9500", "multiplierUp": "1.0500", "multiplierDecimal": "4", "filterType": "PERCENT_PRICE"},
    ]


def exchange_info(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    symbols = []
    for asset in ctx.assets:
        spec = instrument_spec(ctx, asset)
        symbols.append(
            {
                "symbol": symbol_of(asset),
                "pair": symbol_of(asset),
                "contractType": "PERPETUAL",
                "deliveryDate": PERPETUAL_DELIVERY_MS,
                "onboardDate": ONBOARD_MS,
                "status": "TRADING",
                "maintMarginPercent": "2.5000",
                "requiredMarginPercent": "5.0000",
                "baseAsset": asset,
                "quoteAsset": QUOTE,
                "marginAsset": QUOTE,
                "pricePrecision": spec.price_places,
                "quantityPrecision": spec.qty_places,
                "baseAssetPrecision": 8,
                "quotePrecision": 8,
                "underlyingType": "COIN",
                "underlyingSubType": [],
                "settlePlan": 0,
                "triggerProtect": "0.0500",
                "liquidationFee": "0.012500",
                "marketTakeBound": "0.05",
                "filters": _filters(ctx, asset),
                "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
            }
        )
    return VenueReply(
        {
            "timezone": "UTC",
            "serverTime": now,
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": QUOTE, "marginAvailable": True, "autoAssetExchange": "-10000"}]
            + [{"asset": a, "marginAvailable": True, "autoAssetExchange": "0"} for a in ctx.assets],
            "symbols": symbols,
        }
    )


def server_time(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    return VenueReply({"serverTime": ctx.now_ms()})


def _premium_index_row(ctx: SimContext, asset: str, now: int) -> dict[str, Any]:
    tick = ctx.market.tick(asset, VENUE, now)
    return {
        "symbol": symbol_of(asset),
        "markPrice": fixed(tick.mark_price, 8),
        "indexPrice": fixed(tick.index_price, 8),
        "estimatedSettlePrice": fixed(tick.index_price, 8),
        "lastFundingRate": fixed(tick.funding_rate, 8),
        "interestRate": "0.00010000",
        "nextFundingTime": tick.next_funding_ts,
        "time": now,
    }


def premium_index(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    symbol = query.get("symbol")
    if symbol:
        return VenueReply(_premium_index_row(ctx, asset_of(ctx, symbol), now))
    return VenueReply([_premium_index_row(ctx, asset, now) for asset in ctx.assets])


def open_interest(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    asset = symbol_param(ctx, query)
    now = ctx.now_ms()
    tick = ctx.market.tick(asset, VENUE, now)
    spec = instrument_spec(ctx, asset)
    return VenueReply({"openInterest": spec.qty(tick.oi_base), "symbol": symbol_of(asset), "time": now})


def funding_rate(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    assets = optional_assets(ctx, query)
    limit = limit_param(query, "limit", 100, 1000)
    start, end = opt_int(query, "startTime"), opt_int(query, "endTime")
    rows: list[tuple[int, str, float, float]] = []
    for asset in assets:
        interval_ms = ctx.market.tick(asset, VENUE, now).funding_interval_h * HOUR_MS
        lo, hi = window(start, end, limit, interval_ms, now, from_start=True)
        for funding_ts, rate in ctx.market.funding_history(asset, VENUE, lo, hi):
            rows.append((funding_ts, asset, rate, ctx.market.tick(asset, VENUE, funding_ts).mark_price))
    rows.sort(key=lambda r: (r[0], r[1]))
    rows = rows[:limit] if start is not None else rows[-limit:]
    return VenueReply(
        [
            {"symbol": symbol_of(asset), "fundingRate": fixed(rate, 8), "fundingTime": ts, "markPrice": fixed(mark, 8)}
            for ts, asset, rate, mark in rows
        ]
    )


def funding_info(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    """Only the symbols whose funding interval (and caps) Binance adjusted; every other symbol
    settles every 8 hours and is absent, so on the standard schedule the list is empty."""
    now = ctx.now_ms()
    rows = []
    for asset in ctx.assets:
        hours = ctx.market.tick(asset, VENUE, now).funding_interval_h
        if hours != STANDARD_FUNDING_HOURS:
            rows.append(
                {
                    "symbol": symbol_of(asset),
                    "adjustedFundingRateCap": ADJUSTED_FUNDING_CAP,
                    "adjustedFundingRateFloor": ADJUSTED_FUNDING_FLOOR,
                    "fundingIntervalHours": hours,
                    "disclaimer": False,
                }
            )
    return VenueReply(rows)


def _kline_candles(ctx: SimContext, query: Mapping[str, str], max_limit: int,
                   spot: bool = False) -> tuple[str, int, list[tuple]]:
    """(asset, interval, candles) of a klines request: the first ``limit`` candles from
    ``startTime``, else the last ``limit`` up to ``endTime`` (or now); futures and spot page
    alike and differ only in their row cap."""
    asset = symbol_param(ctx, query)
    interval = required(query, "interval")
    if interval not in KLINE_INTERVALS:
        raise error(-1120, "Invalid interval.")
    step = KLINE_INTERVALS[interval]
    limit = limit_param(query, "limit", 500, max_limit)
    start, end = opt_int(query, "startTime"), opt_int(query, "endTime")
    lo, hi = window(start, end, limit, step, ctx.now_ms(), from_start=True)
    candles = candles_in(ctx, asset, VENUE, lo, hi, step, spot=spot)
    return asset, step, candles[:limit] if start is not None else candles[-limit:]


def klines(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    asset, step, candles = _kline_candles(ctx, query, FUTURES_KLINE_LIMIT)
    spec = instrument_spec(ctx, asset)
    out = []
    for open_ts, o, h, low, c, volume_base, volume_quote in candles:
        trades = max(1, int(volume_quote / 25_000))
        out.append(
            [
                open_ts,
                spec.price(o),
                spec.price(h),
                spec.price(low),
                spec.price(c),
                spec.qty(volume_base),
                open_ts + step - 1,
                fixed(volume_quote, 5),
                trades,
                spec.qty(volume_base * 0.5),
                fixed(volume_quote * 0.5, 5),
                "0",
            ]
        )
    return VenueReply(out)


def _ticker_24hr_row(ctx: SimContext, asset: str, now: int) -> dict[str, Any]:
    tick = ctx.market.tick(asset, VENUE, now)
    spec = instrument_spec(ctx, asset)
    change = tick.last_price - tick.open_24h
    vwap = tick.volume_quote_24h / tick.volume_base_24h if tick.volume_base_24h else tick.last_price
    trades = max(1, int(tick.volume_quote_24h / 25_000))
    first_id = 1_000_000_000 + (now // 1000) * 7
    return {
        "symbol": symbol_of(asset),
        "priceChange": spec.price(change),
        "priceChangePercent": fixed(change / tick.open_24h * 100 if tick.open_24h else 0.0, 3),
        "weightedAvgPrice": spec.price(vwap),
        "lastPrice": spec.price(tick.last_price),
        "lastQty": spec.qty(spec.qty_step * 3),
        "openPrice": spec.price(tick.open_24h),
        "highPrice": spec.price(tick.high_24h),
        "lowPrice": spec.price(tick.low_24h),
        "volume": spec.qty(tick.volume_base_24h),
        "quoteVolume": fixed(tick.volume_quote_24h, 2),
        "openTime": now - DAY_MS,
        "closeTime": now,
        "firstId": first_id,
        "lastId": first_id + trades - 1,
        "count": trades,
    }


def ticker_24hr(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    symbol = query.get("symbol")
    if symbol:
        return VenueReply(_ticker_24hr_row(ctx, asset_of(ctx, symbol), now))
    return VenueReply([_ticker_24hr_row(ctx, asset, now) for asset in ctx.assets])


# ----------------------------------------------------------------------------- /futures/data


def _stats_window(ctx: SimContext, query: Mapping[str, str]) -> tuple[str, int, int, int, int]:
    asset = symbol_param(ctx, query)
    period = required(query, "period")
    if period not in STATS_PERIODS:
        raise ParamError("period")
    step = STATS_PERIODS[period]
    limit = limit_param(query, "limit", 30, 500)
    now = ctx.now_ms()
    start, end = opt_int(query, "startTime"), opt_int(query, "endTime")
    floor = now - STATS_DAYS * DAY_MS
    # Binance refuses a start older than the 30 days it keeps (HTTP 400), rather than clipping it.
    if start is not None and start < floor - step:
        raise error(-1130, "parameter 'startTime' is invalid.")
    if end is not None and end < floor:
        raise error(-1130, "parameter 'endTime' is invalid.")
    lo, hi = window(start, end, limit, step, now, from_start=True, floor_ms=floor)
    return asset, step, lo, hi, limit


def _bounded(rows: list, limit: int, query: Mapping[str, str]) -> list:
    return rows[:limit] if query.get("startTime") else rows[-limit:]


def open_interest_hist(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    asset, step, lo, hi, limit = _stats_window(ctx, query)
    # CoinMarketCap circulating supply, constant enough over 30 days for the emulator.
    supply = {"BTC": 19_800_000.0, "ETH": 120_400_000.0, "SOL": 470_000_000.0}.get(asset, 1_000_000_000.0)
    rows = _bounded(ctx.market.oi_history(asset, VENUE, lo, hi, step), limit, query)
    return VenueReply(
        [
            {
                "symbol": symbol_of(asset),
                "sumOpenInterest": fixed(oi_base, 8),
                "sumOpenInterestValue": fixed(oi_usd, 8),
                "CMCCirculatingSupply": plain(supply, 3),
                "timestamp": ts,
            }
            for ts, oi_base, oi_usd in rows
        ]
    )


def _long_short(ctx: SimContext, query: Mapping[str, str], top: bool) -> VenueReply:
    asset, step, lo, hi, limit = _stats_window(ctx, query)
    rows = _bounded(ctx.market.long_short_history(asset, VENUE, lo, hi, step, top=top), limit, query)
    return VenueReply(
        [
            {
                "symbol": symbol_of(asset),
                "longShortRatio": fixed(ratio, 4),
                "longAccount": fixed(long_account, 4),
                "shortAccount": fixed(1.0 - long_account, 4),
                "timestamp": ts,
            }
            for ts, ratio, long_account in rows
        ]
    )


def global_long_short_account_ratio(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    return _long_short(ctx, query, top=False)


def top_long_short_position_ratio(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    return _long_short(ctx, query, top=True)


def top_long_short_account_ratio(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    return _long_short(ctx, query, top=True)


# ----------------------------------------------------------------------------- /api/v3 (spot)


def _spot_symbols_param(ctx: SimContext, query: Mapping[str, str]) -> list[str]:
    if query.get("symbol"):
        return [asset_of(ctx, query["symbol"])]
    if query.get("symbols"):
        try:
            names = json.loads(query["symbols"])
        except ValueError:
            raise ParamError("symbols") from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ParamError("symbols")
        return [asset_of(ctx, n) for n in names]
    return list(ctx.assets)


def spot_exchange_info(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    symbols = []
    for asset in _spot_symbols_param(ctx, query):
        spec = instrument_spec(ctx, asset)
        symbols.append(
            {
                "symbol": symbol_of(asset),
                "status": "TRADING",
                "baseAsset": asset,
                "baseAssetPrecision": 8,
                "quoteAsset": QUOTE,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
                "icebergAllowed": True,
                "ocoAllowed": True,
                "otoAllowed": True,
                "quoteOrderQtyMarketAllowed": True,
                "allowTrailingStop": True,
                "cancelReplaceAllowed": True,
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": True,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": fixed(spec.tick_size, 8),
                        "maxPrice": "1000000.00000000",
                        "tickSize": fixed(spec.tick_size, 8),
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": fixed(spec.qty_step, 8),
                        "maxQty": "9000.00000000",
                        "stepSize": fixed(spec.qty_step, 8),
                    },
                    {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
                     "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
                ],
                "permissions": [],
                "permissionSets": [["SPOT", "MARGIN"]],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
            }
        )
    return VenueReply(
        {
            "timezone": "UTC",
            "serverTime": now,
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": symbols,
        }
    )


def _spot_ticker_row(ctx: SimContext, asset: str, now: int) -> dict[str, Any]:
    tick = ctx.market.tick(asset, VENUE, now)
    spec = instrument_spec(ctx, asset)
    # The spot book trades a hair off the perp; its 24h volume is the model's spot volume.
    last = tick.index_price
    volume_base = tick.spot_volume_quote_24h / last if last else 0.0
    change = last - tick.open_24h
    trades = max(1, int(tick.spot_volume_quote_24h / 15_000))
    first_id = 3_000_000_000 + (now // 1000) * 5
    return {
        "symbol": symbol_of(asset),
        "priceChange": fixed(change, 8),
        "priceChangePercent": fixed(change / tick.open_24h * 100 if tick.open_24h else 0.0, 3),
        "weightedAvgPrice": fixed((tick.high_24h + tick.low_24h + last) / 3, 8),
        "prevClosePrice": fixed(tick.open_24h, 8),
        "lastPrice": fixed(last, 8),
        "lastQty": fixed(spec.qty_step * 2, 8),
        "bidPrice": fixed(last - spec.tick_size, 8),
        "bidQty": fixed(spec.qty_step * 40, 8),
        "askPrice": fixed(last, 8),
        "askQty": fixed(spec.qty_step * 25, 8),
        "openPrice": fixed(tick.open_24h, 8),
        "highPrice": fixed(max(tick.high_24h, last), 8),
        "lowPrice": fixed(min(tick.low_24h, last), 8),
        "volume": fixed(volume_base, 8),
        "quoteVolume": fixed(tick.spot_volume_quote_24h, 8),
        "openTime": now - DAY_MS,
        "closeTime": now,
        "firstId": first_id,
        "lastId": first_id + trades - 1,
        "count": trades,
    }


def spot_ticker_24hr(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    assets = _spot_symbols_param(ctx, query)
    if query.get("symbol"):
        return VenueReply(_spot_ticker_row(ctx, assets[0], now))
    return VenueReply([_spot_ticker_row(ctx, asset, now) for asset in assets])


def spot_klines(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    """``/api/v3/klines``: the futures layout, spot's 1000-row cap and 8-decimal numbers; the
    pair trades at the index and its volumes are the model's SPOT volumes, not the perp's."""
    _asset, step, candles = _kline_candles(ctx, query, SPOT_KLINE_LIMIT, spot=True)
    out = []
    for open_ts, o, h, low, c, volume_base, volume_quote in candles:
        trades = max(1, int(volume_quote / 15_000))
        out.append(
            [
                open_ts,
                fixed(o, 8),
                fixed(h, 8),
                fixed(low, 8),
                fixed(c, 8),
                fixed(volume_base, 8),
                open_ts + step - 1,
                fixed(volume_quote, 8),
                trades,
                fixed(volume_base * 0.5, 8),
                fixed(volume_quote * 0.5, 8),
                "0",
            ]
        )
    return VenueReply(out)


# ----------------------------------------------------------------------------- websocket


ARR_STREAM = "!forceOrder@arr"


def _stream_asset(ctx: SimContext, stream: str) -> str | None:
    """The asset of ``<symbol>@forceOrder`` (symbols in lower case, as Binance wants them)."""
    if not stream.endswith("@forceOrder"):
        return None
    symbol = stream[: -len("@forceOrder")]
    for asset in ctx.assets:
        if symbol_of(asset).lower() == symbol:
            return asset
    return None


def force_order_event(ctx: SimContext, liquidation: Any, now: int) -> dict[str, Any]:
    spec = instrument_spec(ctx, liquidation.asset)
    limit = liquidation.price * (0.995 if liquidation.side == "long" else 1.005)
    return _force_order(liquidation, spec.qty(liquidation.qty), spec.price(limit), spec.price(liquidation.price), now)


def burst_force_order_event(event: BurstEvent, now: int) -> dict[str, Any]:
    """A burst's event with its quantity and price written exactly (they are binary fractions)."""
    return _force_order(event, repr(event.qty), repr(event.price), repr(event.price), now)


def _force_order(liquidation: Any, qty: str, limit: str, average: str, now: int) -> dict[str, Any]:
    # A long position liquidated is a forced SELL; a short, a forced BUY.
    return {
        "e": "forceOrder",
        "E": now,
        "o": {
            "s": symbol_of(liquidation.asset),
            "S": "SELL" if liquidation.side == "long" else "BUY",
            "o": "LIMIT",
            "f": "IOC",
            "q": qty,
            "p": limit,
            "ap": average,
            "X": "FILLED",
            "l": qty,
            "z": qty,
            "T": liquidation.ts,
        },
    }


async def liquidation_stream(
    ctx: SimContext, request: web.Request, ws: web.WebSocketResponse, sender: StreamSender
) -> None:
    """``/ws``, ``/ws/<stream>``, ``/stream?streams=a/b`` and the ``/market`` variants ccxt uses.

    Raw streams send the event itself; combined streams wrap it as ``{"stream", "data"}``. Binance
    pushes at most one liquidation per symbol per second (the latest), so this does too, except
    for a burst (``levtop.sim.burst``), which sends every event."""
    combined = request.path.endswith("/stream")
    subscriptions: list[str] = []
    named = request.match_info.get("streams", "")
    for name in named.split("/") if named else []:
        if "@" in name:
            subscriptions.append(name)
    for name in request.query.get("streams", "").split("/"):
        if name:
            subscriptions.append(name)

    def subscribed_assets() -> list[str]:
        if ARR_STREAM in subscriptions:
            return list(ctx.assets)
        return sorted({a for a in (_stream_asset(ctx, s) for s in subscriptions) if a})

    last_second: dict[str, int] = {}

    async def send(asset: str, payload: dict[str, Any]) -> int | None:
        """Frames sent for one event; None once the connection is gone."""
        sent = 0
        for stream in (ARR_STREAM, f"{symbol_of(asset).lower()}@forceOrder"):
            if stream not in subscriptions:
                continue
            frame = {"stream": stream, "data": payload} if combined else payload
            if not await sender.send(stream, frame):
                return None
            sent += 1
        return sent

    async def emit(events: list[Any], now: int) -> bool:
        latest: dict[tuple[str, int], Any] = {}
        for event in events:
            if not ctx.bursts.covers(VENUE, event.ts):  # a burst's span carries the burst alone
                latest[(event.asset, event.ts // 1000)] = event
        for (asset, second), event in sorted(latest.items(), key=lambda kv: kv[1].ts):
            if last_second.get(asset) == second:
                continue
            last_second[asset] = second
            if await send(asset, force_order_event(ctx, event, now)) is None:
                return False
        return True

    async def emit_burst(events: list[BurstEvent]) -> int:
        frames = 0
        now = ctx.now_ms()
        for event in events:
            sent = await send(event.asset, burst_force_order_event(event, now))
            if sent is None:
                break
            frames += sent
        return frames

    pump = asyncio.create_task(pump_liquidations(ctx, VENUE, ws, subscribed_assets, emit))
    ctx.bursts.listen(VENUE, emit_burst)
    try:
        async for _raw, message in read_json_messages(ws, lambda data: sender.pong(data, subscriptions)):
            if not isinstance(message, dict) or "method" not in message:
                await sender.reply({"error": {"code": 3, "msg": "Invalid JSON: expected an object with 'method'"}, "id": None})
                continue
            method, request_id = message.get("method"), message.get("id")
            params = message.get("params") or []
            if method == "SUBSCRIBE" and isinstance(params, list):
                for name in params:
                    if isinstance(name, str) and name not in subscriptions:
                        subscriptions.append(name)
                await sender.reply({"result": None, "id": request_id}, subscriptions)
            elif method == "UNSUBSCRIBE" and isinstance(params, list):
                for name in params:
                    if name in subscriptions:
                        subscriptions.remove(name)
                await sender.reply({"result": None, "id": request_id}, subscriptions)
            elif method == "LIST_SUBSCRIPTIONS":
                await sender.reply({"result": list(subscriptions), "id": request_id}, subscriptions)
            else:
                await sender.reply({"error": {"code": 1, "msg": f"Unknown method {method!r}"}, "id": request_id})
    finally:
        ctx.bursts.forget(VENUE, emit_burst)
        pump.cancel()


# ----------------------------------------------------------------------------- the API


def api() -> VenueApi:
    rest = (
        RestRoute("/fapi/v1/exchangeInfo", exchange_info),
        RestRoute("/fapi/v1/time", server_time),
        RestRoute("/fapi/v1/premiumIndex", premium_index),
        RestRoute("/fapi/v1/openInterest", open_interest),
        RestRoute("/fapi/v1/fundingRate", funding_rate),
        RestRoute("/fapi/v1/fundingInfo", funding_info),
        RestRoute("/fapi/v1/klines", klines),
        RestRoute("/fapi/v1/ticker/24hr", ticker_24hr),
        RestRoute("/futures/data/openInterestHist", open_interest_hist),
        RestRoute("/futures/data/globalLongShortAccountRatio", global_long_short_account_ratio),
        RestRoute("/futures/data/topLongShortPositionRatio", top_long_short_position_ratio),
        RestRoute("/futures/data/topLongShortAccountRatio", top_long_short_account_ratio),
        RestRoute("/api/v3/exchangeInfo", spot_exchange_info),
        RestRoute("/api/v3/time", server_time),
        RestRoute("/api/v3/ticker/24hr", spot_ticker_24hr),
        RestRoute("/api/v3/klines", spot_klines),
    )
    ws = tuple(
        WsRoute(path, liquidation_stream)
        for prefix in ("", "/market", "/public")
        for path in (f"{prefix}/ws", f"{prefix}/ws/{{streams}}", f"{prefix}/stream")
    )
    return VenueApi(VENUE, rest, ws, param_error, status_reply)
