"""Bybit v5, linear USDT perpetuals (plus spot tickers and klines for spot volume), and the
public linear stream's ``allLiquidation.<symbol>`` topic.

Shapes follow the recorded instruments-info and the official samples in ``shared/fixtures/bybit_*``:
every body is ``{"retCode", "retMsg", "result", "retExtInfo", "time"}`` with numbers as strings;
bad parameters answer HTTP 200 with ``retCode`` 10001. History lists come newest first.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Mapping
from urllib.parse import quote, unquote

from aiohttp import web

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

VENUE = "bybit"
QUOTE = "USDT"
LAUNCH_MS = 1584230400000
STAT_INTERVALS = {
    "5min": 5 * MINUTE_MS,
    "15min": 15 * MINUTE_MS,
    "30min": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "4h": 4 * HOUR_MS,
    "1d": DAY_MS,
}
KLINE_INTERVALS = {
    "1": MINUTE_MS,
    "3": 3 * MINUTE_MS,
    "5": 5 * MINUTE_MS,
    "15": 15 * MINUTE_MS,
    "30": 30 * MINUTE_MS,
    "60": HOUR_MS,
    "120": 2 * HOUR_MS,
    "240": 4 * HOUR_MS,
    "360": 6 * HOUR_MS,
    "720": 12 * HOUR_MS,
    "D": DAY_MS,
    "W": 7 * DAY_MS,
}


# ----------------------------------------------------------------------------- envelope, errors


def envelope(result: Any, now: int, code: int = 0, msg: str = "OK") -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now}


def error(ctx: SimContext, code: int, msg: str, status: int = 200) -> VenueError:
    return VenueError(VenueReply(envelope({}, ctx.now_ms(), code, msg), status=status))


def param_error(exc: ParamError, now: int) -> VenueReply:
    detail = f"{exc.name} is required" if exc.problem == "missing" else f"{exc.name} invalid"
    return VenueReply(envelope({}, now, 10001, f"params error: {detail}"))


def status_reply(status: int, now: int) -> VenueReply:
    if status in (403, 429):
        return VenueReply(envelope({}, now, 10006, "Too many visits. Exceeded the API Rate Limit."), status=status)
    return VenueReply(None, status=status)


# ----------------------------------------------------------------------------- symbols


def symbol_of(asset: str) -> str:
    return f"{asset}{QUOTE}"


def asset_of(ctx: SimContext, symbol: str) -> str:
    for asset in ctx.assets:
        if symbol_of(asset) == symbol:
            return asset
    raise error(ctx, 10001, "params error: symbol invalid")


def category_param(ctx: SimContext, query: Mapping[str, str], served: tuple[str, ...] = ("linear",)) -> str:
    """The ``category``; one the route does not list here has no instruments, so no symbol in it."""
    category = required(query, "category")
    if category not in ("linear", "inverse", "spot", "option"):
        raise error(ctx, 10001, "params error: Category is invalid")
    if category not in served and query.get("symbol"):
        raise error(ctx, 10001, "params error: symbol invalid")
    return category


def _cursor(ts: int) -> str:
    # Bybit's cursors are opaque url-encoded "lastid=...&lasttime=<seconds>" strings.
    return quote(f"lastid={ts // 1000}&lasttime={ts // 1000}", safe="")


def _cursor_end(ctx: SimContext, query: Mapping[str, str]) -> int | None:
    cursor = query.get("cursor")
    if not cursor:
        return None
    fields = dict(part.split("=", 1) for part in unquote(cursor).split("&") if "=" in part)
    try:
        return int(fields["lasttime"]) * 1000 - 1
    except (KeyError, ValueError):
        raise error(ctx, 10001, "params error: cursor invalid") from None


# ----------------------------------------------------------------------------- market routes


def _linear_instrument(ctx: SimContext, asset: str, funding_interval_h: int) -> dict[str, Any]:
    spec = instrument_spec(ctx, asset)
    reference = ctx.market.tick(asset, VENUE, ctx.market.start_ms).mark_price
    max_qty = plain(max(100.0, round(10_000_000 / reference, -1)), spec.qty_places)
    return {
        "symbol": symbol_of(asset),
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": asset,
        "quoteCoin": QUOTE,
        "launchTime": str(LAUNCH_MS),
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(spec.price_places),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {
            "minPrice": spec.price(spec.tick_size),
            "maxPrice": spec.price(round(reference * 30, spec.price_places)),
            "tickSize": spec.price(spec.tick_size),
        },
        "lotSizeFilter": {
            "maxOrderQty": max_qty,
            "minOrderQty": spec.qty(spec.qty_step),
            "qtyStep": spec.qty(spec.qty_step),
            "postOnlyMaxOrderQty": max_qty,
            "maxMktOrderQty": plain(float(max_qty) / 10, spec.qty_places),
            "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": funding_interval_h * 60,
        "settleCoin": QUOTE,
        "copyTrading": "both",
        "upperFundingRate": "0.005",
        "lowerFundingRate": "-0.005",
        "isPreListing": False,
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
        "displayName": "",
        "symbolType": "",
        "forbidUplWithdrawal": False,
        "symbolId": 5 + ctx.assets.index(asset),
    }


def _spot_instrument(ctx: SimContext, asset: str) -> dict[str, Any]:
    spec = instrument_spec(ctx, asset)
    return {
        "symbol": symbol_of(asset),
        "baseCoin": asset,
        "quoteCoin": QUOTE,
        "innovation": "0",
        "status": "Trading",
        "marginTrading": "utaOnly",
        "stTag": "0",
        "lotSizeFilter": {
            "basePrecision": fixed(spec.qty_step / 1000, spec.qty_places + 3),
            "quotePrecision": "0.0000001",
            "minOrderQty": fixed(spec.qty_step, spec.qty_places),
            "maxOrderQty": "8000",
            "minOrderAmt": "5",
            "maxOrderAmt": "8000000",
        },
        "priceFilter": {"tickSize": spec.price(spec.tick_size)},
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
    }


def instruments_info(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    category = category_param(ctx, query, ("linear", "spot"))
    limit_param(query, "limit", 500, 1000)
    status = query.get("status")
    assets = list(ctx.assets)
    if query.get("symbol"):
        assets = [asset_of(ctx, query["symbol"])]
    if query.get("baseCoin"):
        assets = [a for a in assets if a == query["baseCoin"]]
    if status not in (None, "", "Trading"):
        assets = []  # nothing here is pre-launch, settling or delivering
    if category == "linear":
        rows = [_linear_instrument(ctx, a, ctx.market.tick(a, VENUE, now).funding_interval_h) for a in assets]
    elif category == "spot":
        rows = [_spot_instrument(ctx, a) for a in assets]
    else:
        rows = []
    result: dict[str, Any] = {"category": category, "list": rows}
    if category != "spot":
        result["nextPageCursor"] = ""
    return VenueReply(envelope(result, now))


def _linear_ticker(ctx: SimContext, asset: str, now: int) -> dict[str, Any]:
    tick = ctx.market.tick(asset, VENUE, now)
    spec = instrument_spec(ctx, asset)
    hour_ago = ctx.market.tick(asset, VENUE, now - HOUR_MS).last_price
    return {
        "symbol": symbol_of(asset),
        "lastPrice": spec.price(tick.last_price),
        "indexPrice": spec.price(tick.index_price),
        "markPrice": spec.price(tick.mark_price),
        "prevPrice24h": spec.price(tick.open_24h),
        "price24hPcnt": fixed(tick.last_price / tick.open_24h - 1 if tick.open_24h else 0.0, 6),
        "highPrice24h": spec.price(tick.high_24h),
        "lowPrice24h": spec.price(tick.low_24h),
        "prevPrice1h": spec.price(hour_ago),
        "openInterest": spec.qty(tick.oi_base),
        "openInterestValue": fixed(tick.oi_base * tick.mark_price, 2),
        "turnover24h": fixed(tick.volume_quote_24h, 4),
        "volume24h": fixed(tick.volume_base_24h, 4),
        "fundingRate": plain(tick.funding_rate, 8),
        "nextFundingTime": str(tick.next_funding_ts),
        "predictedDeliveryPrice": "",
        "basisRate": "",
        "deliveryFeeRate": "",
        "deliveryTime": "0",
        "ask1Size": spec.qty(spec.qty_step * 120),
        "bid1Price": spec.price(tick.last_price - spec.tick_size),
        "ask1Price": spec.price(tick.last_price),
        "bid1Size": spec.qty(spec.qty_step * 240),
        "basis": "",
        "preOpenPrice": "",
        "preQty": "",
        "curPreListingPhase": "",
        "fundingIntervalHour": str(tick.funding_interval_h),
        "basisRateYear": "",
        "fundingCap": "0.005",
    }


def _spot_ticker(ctx: SimContext, asset: str, now: int) -> dict[str, Any]:
    tick = ctx.market.tick(asset, VENUE, now)
    spec = instrument_spec(ctx, asset)
    last = tick.index_price
    return {
        "symbol": symbol_of(asset),
        "bid1Price": spec.price(last - spec.tick_size),
        "bid1Size": spec.qty(spec.qty_step * 50),
        "ask1Price": spec.price(last),
        "ask1Size": spec.qty(spec.qty_step * 30),
        "lastPrice": spec.price(last),
        "prevPrice24h": spec.price(tick.open_24h),
        "price24hPcnt": fixed(last / tick.open_24h - 1 if tick.open_24h else 0.0, 4),
        "highPrice24h": spec.price(max(tick.high_24h, last)),
        "lowPrice24h": spec.price(min(tick.low_24h, last)),
        "turnover24h": fixed(tick.spot_volume_quote_24h, 8),
        "volume24h": fixed(tick.spot_volume_quote_24h / last if last else 0.0, 8),
        "usdIndexPrice": spec.price(tick.index_price),
    }


def tickers(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    category = category_param(ctx, query, ("linear", "spot"))
    assets = [asset_of(ctx, query["symbol"])] if query.get("symbol") else list(ctx.assets)
    if query.get("baseCoin"):
        assets = [a for a in assets if a == query["baseCoin"]]
    if category == "linear":
        rows = [_linear_ticker(ctx, a, now) for a in assets]
    elif category == "spot":
        rows = [_spot_ticker(ctx, a, now) for a in assets]
    else:
        rows = []
    return VenueReply(envelope({"category": category, "list": rows}, now))


def _newest_first_window(
    ctx: SimContext, query: Mapping[str, str], step: int, limit: int
) -> tuple[int, int]:
    now = ctx.now_ms()
    start, end = opt_int(query, "startTime"), opt_int(query, "endTime")
    cursor_end = _cursor_end(ctx, query)
    if cursor_end is not None:
        end = cursor_end if end is None else min(end, cursor_end)
    # Bybit honours startTime only together with endTime; alone it is ignored (newest rows).
    if end is None:
        start = None
    return window(start, end, limit, step, now, from_start=False)


def _page(rows: list, limit: int, more_before: bool) -> tuple[list, str]:
    rows = sorted(rows, key=lambda r: r[0], reverse=True)[:limit]
    cursor = _cursor(rows[-1][0]) if rows and more_before else ""
    return rows, cursor


def open_interest(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    category_param(ctx, query)
    asset = asset_of(ctx, required(query, "symbol"))
    interval = required(query, "intervalTime")
    if interval not in STAT_INTERVALS:
        raise error(ctx, 10001, "params error: intervalTime invalid")
    step = STAT_INTERVALS[interval]
    limit = limit_param(query, "limit", 50, 200)
    lo, hi = _newest_first_window(ctx, query, step, limit)
    rows = ctx.market.oi_history(asset, VENUE, lo, hi, step) if lo <= hi else []
    rows, cursor = _page(rows, limit, more_before=lo > ctx.market.first_ms)
    spec = instrument_spec(ctx, asset)
    return VenueReply(
        envelope(
            {
                "symbol": symbol_of(asset),
                "category": "linear",
                "list": [
                    {
                        "openInterest": fixed(oi_base, 8),
                        "singleOpenInterest": spec.qty(oi_base / 2),
                        "timestamp": str(ts),
                    }
                    for ts, oi_base, _oi_usd in rows
                ],
                "nextPageCursor": cursor,
            },
            now,
        )
    )


def account_ratio(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    category_param(ctx, query)
    asset = asset_of(ctx, required(query, "symbol"))
    period = required(query, "period")
    if period not in STAT_INTERVALS:
        raise error(ctx, 10001, "params error: period invalid")
    step = STAT_INTERVALS[period]
    limit = limit_param(query, "limit", 50, 500)
    lo, hi = _newest_first_window(ctx, query, step, limit)
    rows = ctx.market.long_short_history(asset, VENUE, lo, hi, step) if lo <= hi else []
    rows, cursor = _page(rows, limit, more_before=lo > ctx.market.first_ms)
    return VenueReply(
        envelope(
            {
                "list": [
                    {
                        "symbol": symbol_of(asset),
                        "buyRatio": plain(round(long_account, 4), 4),
                        "sellRatio": plain(round(1.0 - long_account, 4), 4),
                        "timestamp": str(ts),
                    }
                    for ts, _ratio, long_account in rows
                ],
                "nextPageCursor": cursor,
            },
            now,
        )
    )


def funding_history(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    category_param(ctx, query)
    asset = asset_of(ctx, required(query, "symbol"))
    limit = limit_param(query, "limit", 200, 200)
    start, end = opt_int(query, "startTime"), opt_int(query, "endTime")
    if start is not None and end is None:
        raise error(ctx, 10001, "params error: endTime is required when startTime is given")
    interval_ms = ctx.market.tick(asset, VENUE, now).funding_interval_h * HOUR_MS
    lo, hi = window(start, end, limit, interval_ms, now, from_start=False)
    rows = ctx.market.funding_history(asset, VENUE, lo, hi) if lo <= hi else []
    rows = sorted(rows, reverse=True)[:limit]
    return VenueReply(
        envelope(
            {
                "category": "linear",
                "list": [
                    {"symbol": symbol_of(asset), "fundingRate": plain(rate, 8), "fundingRateTimestamp": str(ts)}
                    for ts, rate in rows
                ],
            },
            now,
        )
    )


def kline(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    category = category_param(ctx, query, ("linear", "spot"))
    asset = asset_of(ctx, required(query, "symbol"))
    interval = required(query, "interval")
    if interval not in KLINE_INTERVALS:
        raise error(ctx, 10001, "params error: interval invalid")
    step = KLINE_INTERVALS[interval]
    limit = limit_param(query, "limit", 200, 1000)
    start, end = opt_int(query, "start"), opt_int(query, "end")
    lo, hi = window(start, end, limit, step, now, from_start=end is None)
    # Same row layout for both categories; a spot pair's volume and turnover are the spot book's.
    candles = candles_in(ctx, asset, VENUE, lo, hi, step, spot=category == "spot")
    candles = candles[:limit] if (start is not None and end is None) else candles[-limit:]
    spec = instrument_spec(ctx, asset)
    rows = [
        [str(ts), spec.price(o), spec.price(h), spec.price(low), spec.price(c), spec.qty(vb), fixed(vq, 4)]
        for ts, o, h, low, c, vb, vq in reversed(candles)
    ]
    return VenueReply(envelope({"symbol": symbol_of(asset), "category": category, "list": rows}, now))


def server_time(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    return VenueReply(envelope({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}, now))


# ----------------------------------------------------------------------------- websocket


def liquidation_frame(ctx: SimContext, asset: str, events: list[Any], now: int) -> dict[str, Any]:
    spec = instrument_spec(ctx, asset)
    return {
        "topic": f"allLiquidation.{symbol_of(asset)}",
        "type": "snapshot",
        "ts": now,
        "data": [
            {
                "T": event.ts,
                "s": symbol_of(asset),
                # Bybit names the side of the liquidated POSITION: "Buy" = a long was liquidated.
                "S": "Buy" if event.side == "long" else "Sell",
                "v": spec.qty(event.qty),
                "p": spec.price(event.price),
            }
            for event in events
        ],
    }


async def public_stream(ctx: SimContext, request: web.Request, ws: web.WebSocketResponse, sender: StreamSender) -> None:
    """``/v5/public/linear``: subscribe/unsubscribe by topic, app-level ping answered with pong."""
    category = request.path.rsplit("/", 1)[-1]
    conn_id = str(uuid.uuid4())
    topics: list[str] = []

    def subscribed_assets() -> list[str]:
        return [a for a in ctx.assets if f"allLiquidation.{symbol_of(a)}" in topics]

    async def emit(events: list[Any], now: int) -> bool:
        by_asset: dict[str, list[Any]] = {}
        for event in events:
            by_asset.setdefault(event.asset, []).append(event)
        for asset, group in by_asset.items():
            frame = liquidation_frame(ctx, asset, group, now)
            if not await sender.send(frame["topic"], frame):
                return False
        return True

    pump = asyncio.create_task(pump_liquidations(ctx, VENUE, ws, subscribed_assets, emit))
    try:
        async for _raw, message in read_json_messages(ws, lambda data: sender.pong(data, topics)):
            if not isinstance(message, dict):
                await sender.reply({"success": False, "ret_msg": "Invalid request", "conn_id": conn_id, "op": ""}, topics)
                continue
            op, req_id = message.get("op"), message.get("req_id")
            ack: dict[str, Any] = {"success": True, "ret_msg": "", "conn_id": conn_id, "op": op}
            if req_id is not None:
                ack = {"success": True, "ret_msg": "", "conn_id": conn_id, "req_id": req_id, "op": op}
            if op == "ping":
                ack["ret_msg"] = "pong"
                await sender.reply(ack, topics)
            elif op in ("subscribe", "unsubscribe"):
                args = message.get("args") or []
                invalid = [
                    t
                    for t in args
                    if not isinstance(t, str)
                    or (category == "linear" and t.startswith("allLiquidation.")
                        and t.split(".", 1)[1] not in {symbol_of(a) for a in ctx.assets})
                ]
                if invalid:
                    ack["success"] = False
                    ack["ret_msg"] = f"Invalid topic :[{invalid[0]}]"
                elif op == "subscribe":
                    topics.extend(t for t in args if t not in topics)
                else:
                    for t in args:
                        if t in topics:
                            topics.remove(t)
                await sender.reply(ack, topics)
            else:
                ack["success"] = False
                ack["ret_msg"] = f"Unknown op: {op}"
                await sender.reply(ack, topics)
    finally:
        pump.cancel()


def api() -> VenueApi:
    rest = (
        RestRoute("/v5/market/instruments-info", instruments_info),
        RestRoute("/v5/market/tickers", tickers),
        RestRoute("/v5/market/open-interest", open_interest),
        RestRoute("/v5/market/account-ratio", account_ratio),
        RestRoute("/v5/market/funding/history", funding_history),
        RestRoute("/v5/market/kline", kline),
        RestRoute("/v5/market/time", server_time),
    )
    ws = tuple(WsRoute(f"/v5/public/{category}", public_stream) for category in ("linear", "spot", "inverse", "option"))
    return VenueApi(VENUE, rest, ws, param_error, status_reply)
