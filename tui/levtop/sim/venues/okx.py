"""OKX v5, USDT-margined perpetual swaps: public instruments, funding, open interest, the rubik
statistics ccxt calls, candles (of the swaps and their USDT spot pairs), tickers; and the public
stream's ``liquidation-orders`` channel.

Every body is ``{"code": "0", "msg": "", "data": [...]}`` with numbers as strings; open interest
and sizes are in contracts (``ctVal`` coins each). Bad parameters answer with OKX's own codes
(50014 missing, 51000 invalid, 51001 unknown instrument). History comes newest first.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Mapping

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
    align_down,
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

VENUE = "okx"
QUOTE = "USDT"
LIST_MS = 1606468572000
BARS = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1H": HOUR_MS,
    "2H": 2 * HOUR_MS,
    "4H": 4 * HOUR_MS,
    "6H": 6 * HOUR_MS,
    "12H": 12 * HOUR_MS,
    "1D": DAY_MS,
    "2D": 2 * DAY_MS,
    "3D": 3 * DAY_MS,
    "1W": 7 * DAY_MS,
}
# Bars of 6 hours and more also come aligned to UTC ("1Dutc"); the emulator's clock is UTC.
BARS.update({f"{name}utc": ms for name, ms in list(BARS.items()) if ms >= 6 * HOUR_MS})
STAT_PERIODS = {name: ms for name, ms in BARS.items() if ms >= 5 * MINUTE_MS}
CANDLES_RECENT_ROWS = 1440
# Swap sizes are in contracts, traded in lots of 0.01 contract.
CONTRACT_LOT = 0.01
CONTRACT_PLACES = 2


# ----------------------------------------------------------------------------- envelope, errors


def envelope(data: list[Any], code: str = "0", msg: str = "") -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


def error(code: str, msg: str, status: int = 200) -> VenueError:
    return VenueError(VenueReply(envelope([], code, msg), status=status))


def param_error(exc: ParamError, now: int) -> VenueReply:
    if exc.problem == "missing":
        return VenueReply(envelope([], "50014", f"Parameter {exc.name} can not be empty"), status=400)
    return VenueReply(envelope([], "51000", f"Parameter {exc.name} error"), status=400)


def status_reply(status: int, now: int) -> VenueReply:
    if status == 429:
        return VenueReply(envelope([], "50011", "Too Many Requests"), status=status)
    return VenueReply(None, status=status)


# ----------------------------------------------------------------------------- instruments


def inst_id(asset: str) -> str:
    return f"{asset}-{QUOTE}-SWAP"


def inst_family(asset: str) -> str:
    return f"{asset}-{QUOTE}"


def asset_of(ctx: SimContext, instrument: str) -> str:
    for asset in ctx.assets:
        if inst_id(asset) == instrument:
            return asset
    raise error("51001", "Instrument ID does not exist")


def swap_inst_type(query: Mapping[str, str], name: str = "instType") -> bool:
    """Whether the request is for swaps (others are valid types with nothing listed here)."""
    inst_type = required(query, name)
    if inst_type not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
        raise ParamError(name)
    return inst_type == "SWAP"


def _instrument(ctx: SimContext, asset: str) -> dict[str, Any]:
    spec = instrument_spec(ctx, asset)
    ct_val = ctx.market.contract_size(asset, VENUE)
    lot = CONTRACT_LOT
    return {
        "alias": "",
        "auctionEndTime": "",
        "baseCcy": "",
        "category": "1",
        "contTdSwTime": str(LIST_MS),
        "ctMult": "1",
        "ctType": "linear",
        "ctVal": plain(ct_val),
        "ctValCcy": asset,
        "expTime": "",
        "futureSettlement": False,
        "groupId": "1",
        "instFamily": inst_family(asset),
        "instId": inst_id(asset),
        "instIdCode": 10459 + ctx.assets.index(asset),
        "instType": "SWAP",
        "lever": "100",
        "listTime": str(LIST_MS),
        "lotSz": plain(lot),
        "maxIcebergSz": "100000000.0000000000000000",
        "maxLmtAmt": "20000000",
        "maxLmtSz": "100000000",
        "maxMktAmt": "",
        "maxMktSz": "12000",
        "maxStopSz": "12000",
        "maxTriggerSz": "100000000.0000000000000000",
        "maxTwapSz": "100000000.0000000000000000",
        "minSz": plain(lot),
        "openType": "",
        "optType": "",
        "quoteCcy": "",
        "ruleType": "normal",
        "settleCcy": QUOTE,
        "state": "live",
        "stk": "",
        "tickSz": plain(spec.tick_size, spec.price_places),
        "tradeQuoteCcyList": [],
        "uly": inst_family(asset),
    }


def _select_assets(ctx: SimContext, query: Mapping[str, str]) -> list[str]:
    assets = list(ctx.assets)
    if query.get("instId"):
        assets = [asset_of(ctx, query["instId"])]
    family = query.get("instFamily") or query.get("uly")
    if family:
        assets = [a for a in assets if inst_family(a) == family]
    return assets


def instruments(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    if not swap_inst_type(query):
        return VenueReply(envelope([]))
    return VenueReply(envelope([_instrument(ctx, a) for a in _select_assets(ctx, query)]))


def server_time(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    return VenueReply(envelope([{"ts": str(ctx.now_ms())}]))


# ----------------------------------------------------------------------------- public data


def _funding_row(ctx: SimContext, asset: str, now: int) -> dict[str, Any]:
    tick = ctx.market.tick(asset, VENUE, now)
    interval_ms = tick.funding_interval_h * HOUR_MS
    premium = (tick.mark_price - tick.index_price) / tick.index_price if tick.index_price else 0.0
    return {
        "formulaType": "withRate",
        "fundingRate": fixed(tick.funding_rate, 16),
        # OKX's fundingTime is the settlement of the current period; nextFundingTime the one after.
        "fundingTime": str(tick.next_funding_ts),
        "impactValue": "",
        "instId": inst_id(asset),
        "instType": "SWAP",
        "interestRate": "0.0001",
        "maxFundingRate": "0.0075",
        "method": "current_period",
        "minFundingRate": "-0.0075",
        "nextFundingRate": "",
        "nextFundingTime": str(tick.next_funding_ts + interval_ms),
        "premium": fixed(premium, 16),
        "settFundingRate": fixed(_last_settled_rate(ctx, asset, now, tick.funding_rate), 16),
        "settState": "settled",
        "sign": "",
        "ts": str(now),
    }


def _last_settled_rate(ctx: SimContext, asset: str, now: int, default: float) -> float:
    settled = ctx.market.funding_history(asset, VENUE, now - DAY_MS, now + 1)
    return settled[-1][1] if settled else default


def funding_rate(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    instrument = required(query, "instId")
    assets = list(ctx.assets) if instrument == "ANY" else [asset_of(ctx, instrument)]
    return VenueReply(envelope([_funding_row(ctx, a, now) for a in assets]))


def _before_after(query: Mapping[str, str]) -> tuple[int | None, int | None]:
    """OKX's pagination: ``before`` = newer than, ``after`` = older than (both exclusive)."""
    before, after = opt_int(query, "before"), opt_int(query, "after")
    start = None if before is None else before + 1
    end = None if after is None else after - 1
    return start, end


def funding_rate_history(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    asset = asset_of(ctx, required(query, "instId"))
    limit = limit_param(query, "limit", 100, 100)
    start, end = _before_after(query)
    interval_ms = ctx.market.tick(asset, VENUE, now).funding_interval_h * HOUR_MS
    lo, hi = window(start, end, limit, interval_ms, now, from_start=False)
    rows = ctx.market.funding_history(asset, VENUE, lo, hi) if lo <= hi else []
    rows = sorted(rows, reverse=True)[:limit]
    return VenueReply(
        envelope(
            [
                {
                    "instType": "SWAP",
                    "instId": inst_id(asset),
                    "fundingRate": fixed(rate, 10),
                    "realizedRate": fixed(rate, 5),
                    "fundingTime": str(ts),
                }
                for ts, rate in rows
            ]
        )
    )


def _oi_row(ctx: SimContext, asset: str, now: int) -> dict[str, Any]:
    tick = ctx.market.tick(asset, VENUE, now)
    ct_val = ctx.market.contract_size(asset, VENUE)
    return {
        "instId": inst_id(asset),
        "instType": "SWAP",
        "oi": fixed(tick.oi_base / ct_val, CONTRACT_PLACES),
        "oiCcy": fixed(tick.oi_base, 8),
        "oiUsd": fixed(tick.oi_base * tick.mark_price, 4),
        "ts": str(now),
    }


def open_interest(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    if not swap_inst_type(query):
        return VenueReply(envelope([]))
    return VenueReply(envelope([_oi_row(ctx, a, now) for a in _select_assets(ctx, query)]))


def mark_price(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    if not swap_inst_type(query):
        return VenueReply(envelope([]))
    rows = []
    for asset in _select_assets(ctx, query):
        spec = instrument_spec(ctx, asset)
        tick = ctx.market.tick(asset, VENUE, now)
        rows.append({"instType": "SWAP", "instId": inst_id(asset), "markPx": spec.price(tick.mark_price), "ts": str(now)})
    return VenueReply(envelope(rows))


# ----------------------------------------------------------------------------- rubik statistics


def _stat_window(ctx: SimContext, query: Mapping[str, str], default_period: str) -> tuple[int, int, int, int]:
    period = query.get("period") or default_period
    if period not in STAT_PERIODS:
        raise ParamError("period")
    step = STAT_PERIODS[period]
    limit = limit_param(query, "limit", 100, 100)
    begin, end = opt_int(query, "begin"), opt_int(query, "end")
    lo, hi = window(begin, end, limit, step, ctx.now_ms(), from_start=False)
    return step, limit, lo, hi


def open_interest_history(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    asset = asset_of(ctx, required(query, "instId"))
    step, limit, lo, hi = _stat_window(ctx, query, "5m")
    rows = ctx.market.oi_history(asset, VENUE, lo, hi, step) if lo <= hi else []
    ct_val = ctx.market.contract_size(asset, VENUE)
    return VenueReply(
        envelope(
            [
                [str(ts), fixed(oi_base / ct_val, CONTRACT_PLACES), fixed(oi_base, 8), fixed(oi_usd, 4)]
                for ts, oi_base, oi_usd in sorted(rows, reverse=True)[:limit]
            ]
        )
    )


def _ratio_contract(ctx: SimContext, query: Mapping[str, str], top: bool) -> VenueReply:
    """Rows ``[ts, ratio]`` of one swap, newest first: all accounts' long/short ratio, or with
    ``top`` the top traders' long/short position ratio."""
    asset = asset_of(ctx, required(query, "instId"))
    step, limit, lo, hi = _stat_window(ctx, query, "5m")
    rows = ctx.market.long_short_history(asset, VENUE, lo, hi, step, top=top) if lo <= hi else []
    return VenueReply(envelope([[str(ts), plain(round(ratio, 4), 4)] for ts, ratio, _ in sorted(rows, reverse=True)[:limit]]))


def long_short_account_ratio_contract(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    return _ratio_contract(ctx, query, top=False)


def long_short_position_ratio_contract_top_trader(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    return _ratio_contract(ctx, query, top=True)


def _asset_of_ccy(ctx: SimContext, query: Mapping[str, str]) -> str:
    ccy = required(query, "ccy")
    if ccy not in ctx.assets:
        raise error("51000", "Parameter ccy error", status=400)
    return ccy


def open_interest_volume(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    """Currency-level OI and volume in USD (``[ts, oiUsd, volUsd]``); no ``limit`` here."""
    asset = _asset_of_ccy(ctx, query)
    period = query.get("period") or "5m"
    if period not in STAT_PERIODS:
        raise ParamError("period")
    step = STAT_PERIODS[period]
    begin, end = opt_int(query, "begin"), opt_int(query, "end")
    lo, hi = window(begin, end, 1440, step, ctx.now_ms(), from_start=False)
    oi = ctx.market.oi_history(asset, VENUE, lo, hi, step) if lo <= hi else []
    candles = {row[0]: row for row in candles_in(ctx, asset, VENUE, lo, hi, step)}
    out = []
    for ts, _oi_base, oi_usd in sorted(oi, reverse=True):
        volume_usd = candles[ts][6] if ts in candles else 0.0
        out.append([str(ts), fixed(oi_usd, 4), fixed(volume_usd, 4)])
    return VenueReply(envelope(out))


def long_short_account_ratio(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    asset = _asset_of_ccy(ctx, query)
    period = query.get("period") or "5m"
    if period not in STAT_PERIODS:
        raise ParamError("period")
    step = STAT_PERIODS[period]
    begin, end = opt_int(query, "begin"), opt_int(query, "end")
    lo, hi = window(begin, end, 1440, step, ctx.now_ms(), from_start=False)
    rows = ctx.market.long_short_history(asset, VENUE, lo, hi, step) if lo <= hi else []
    return VenueReply(envelope([[str(ts), plain(round(ratio, 4), 4)] for ts, ratio, _ in sorted(rows, reverse=True)]))


# ----------------------------------------------------------------------------- market data


def _swap_or_spot_pair(ctx: SimContext, instrument: str) -> tuple[str, bool]:
    """(asset, is spot) of a market-data ``instId``: a swap (``BTC-USDT-SWAP``) or its USDT spot
    pair (``BTC-USDT``); anything else is OKX's 51001."""
    for asset in ctx.assets:
        if instrument == inst_family(asset):
            return asset, True
    return asset_of(ctx, instrument), False


def _candle_volumes(ctx: SimContext, asset: str, spot: bool, vb: float, vq: float) -> list[str]:
    """``[vol, volCcy, volCcyQuote]``: a swap counts contracts, then coins; a spot pair coins,
    then USDT. ``volCcyQuote`` is USDT on both."""
    if spot:
        return [fixed(vb, 8), fixed(vq, 4), fixed(vq, 4)]
    ct_val = ctx.market.contract_size(asset, VENUE)
    return [fixed(vb / ct_val, CONTRACT_PLACES), fixed(vb, 8), fixed(vq, 4)]


def _candles(ctx: SimContext, query: Mapping[str, str], recent_only: bool) -> VenueReply:
    now = ctx.now_ms()
    asset, spot = _swap_or_spot_pair(ctx, required(query, "instId"))
    bar = query.get("bar") or "1m"
    if bar not in BARS:
        raise ParamError("bar")
    step = BARS[bar]
    limit = limit_param(query, "limit", 100, 300)
    start, end = _before_after(query)
    lo, hi = window(start, end, limit, step, now, from_start=False)
    if recent_only:
        # /market/candles keeps only the latest 1,440 bars; older ones are on /history-candles.
        lo = max(lo, align_down(now, step) - (CANDLES_RECENT_ROWS - 1) * step)
    candles = candles_in(ctx, asset, VENUE, lo, hi, step, spot=spot)
    spec = instrument_spec(ctx, asset)
    current_open = align_down(now, step)
    rows = [
        [
            str(ts),
            spec.price(o),
            spec.price(h),
            spec.price(low),
            spec.price(c),
            *_candle_volumes(ctx, asset, spot, vb, vq),
            "0" if ts >= current_open else "1",
        ]
        for ts, o, h, low, c, vb, vq in sorted(candles, reverse=True)[:limit]
    ]
    return VenueReply(envelope(rows))


def candles(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    return _candles(ctx, query, recent_only=True)


def history_candles(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    return _candles(ctx, query, recent_only=False)


def _ticker_row(ctx: SimContext, asset: str, now: int, spot: bool) -> dict[str, Any]:
    tick = ctx.market.tick(asset, VENUE, now)
    spec = instrument_spec(ctx, asset)
    ct_val = ctx.market.contract_size(asset, VENUE)
    last = tick.index_price if spot else tick.last_price
    sod = ctx.market.tick(asset, VENUE, align_down(now, DAY_MS)).last_price
    sod8 = ctx.market.tick(asset, VENUE, align_down(now + 8 * HOUR_MS, DAY_MS) - 8 * HOUR_MS).last_price
    if spot:
        vol_base = tick.spot_volume_quote_24h / last if last else 0.0
        vol, vol_ccy = fixed(vol_base, 8), fixed(tick.spot_volume_quote_24h, 4)
    else:
        vol, vol_ccy = fixed(tick.volume_base_24h / ct_val, CONTRACT_PLACES), fixed(tick.volume_base_24h, 8)
    return {
        "instType": "SPOT" if spot else "SWAP",
        "instId": inst_family(asset) if spot else inst_id(asset),
        "last": spec.price(last),
        "lastSz": "1",
        "askPx": spec.price(last + spec.tick_size),
        "askSz": "120",
        "bidPx": spec.price(last),
        "bidSz": "96",
        "open24h": spec.price(tick.open_24h),
        "high24h": spec.price(max(tick.high_24h, last)),
        "low24h": spec.price(min(tick.low_24h, last)),
        "volCcy24h": vol_ccy,
        "vol24h": vol,
        "ts": str(now),
        "sodUtc0": spec.price(sod),
        "sodUtc8": spec.price(sod8),
    }


def tickers(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    inst_type = required(query, "instType")
    if inst_type not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
        raise ParamError("instType")
    if inst_type not in ("SWAP", "SPOT"):
        return VenueReply(envelope([]))
    assets = list(ctx.assets)
    family = query.get("instFamily") or query.get("uly")
    if family:
        assets = [a for a in assets if inst_family(a) == family]
    return VenueReply(envelope([_ticker_row(ctx, a, now, spot=inst_type == "SPOT") for a in assets]))


def ticker(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    now = ctx.now_ms()
    asset, spot = _swap_or_spot_pair(ctx, required(query, "instId"))
    return VenueReply(envelope([_ticker_row(ctx, asset, now, spot=spot)]))


# ----------------------------------------------------------------------------- websocket


def liquidation_entry(ctx: SimContext, event: Any) -> dict[str, Any]:
    spec = instrument_spec(ctx, event.asset)
    ct_val = ctx.market.contract_size(event.asset, VENUE)
    long_liquidated = event.side == "long"
    return {
        "details": [
            {
                "bkLoss": "0",
                "bkPx": spec.price(event.price),
                "ccy": "",
                "posSide": "long" if long_liquidated else "short",
                # The order side that closes the position: a long is closed by selling.
                "side": "sell" if long_liquidated else "buy",
                "sz": plain(max(event.qty / ct_val, CONTRACT_LOT), CONTRACT_PLACES),
                "ts": str(event.ts),
            }
        ],
        "instFamily": inst_family(event.asset),
        "instId": inst_id(event.asset),
        "instType": "SWAP",
        "uly": inst_family(event.asset),
    }


def _channel_key(arg: dict[str, Any]) -> str:
    return f"{arg.get('channel')}:{arg.get('instType') or arg.get('instId') or ''}"


async def public_stream(ctx: SimContext, request: web.Request, ws: web.WebSocketResponse, sender: StreamSender) -> None:
    """``/ws/v5/public``: ``"ping"`` answered with ``"pong"``; subscribe with ``args`` objects."""
    conn_id = uuid.uuid4().hex[:8]
    subscribed: dict[str, dict[str, Any]] = {}
    stream_name = "liquidation-orders"

    def liquidation_subscribed() -> bool:
        return any(a.get("channel") == stream_name and a.get("instType") == "SWAP" for a in subscribed.values())

    def subscribed_assets() -> list[str]:
        return list(ctx.assets) if liquidation_subscribed() else []

    async def emit(events: list[Any], now: int) -> bool:
        frame = {"arg": {"channel": stream_name, "instType": "SWAP"}, "data": [liquidation_entry(ctx, e) for e in events]}
        return await sender.send(stream_name, frame)

    def streams() -> list[str]:
        # A stall rule on the stream also silences this connection's acks and pongs.
        return [stream_name] if subscribed else []

    pump = asyncio.create_task(pump_liquidations(ctx, VENUE, ws, subscribed_assets, emit))
    try:
        async for raw, message in read_json_messages(ws, lambda data: sender.pong(data, streams())):
            if raw == "ping":
                await sender.reply("pong", streams())
                continue
            if not isinstance(message, dict) or message.get("op") not in ("subscribe", "unsubscribe"):
                await sender.reply({"event": "error", "code": "60012", "msg": f"Invalid request: {raw}", "connId": conn_id}, streams())
                continue
            op = message["op"]
            args = message.get("args")
            if not isinstance(args, list) or not args:
                await sender.reply({"event": "error", "code": "60012", "msg": f"Invalid request: {raw}", "connId": conn_id}, streams())
                continue
            for arg in args:
                if not isinstance(arg, dict) or arg.get("channel") != stream_name or not arg.get("instType"):
                    channel = arg.get("channel") if isinstance(arg, dict) else arg
                    await sender.reply(
                        {"event": "error", "code": "60018", "msg": f"Wrong URL or channel:{channel} doesn't exist.", "connId": conn_id},
                        streams(),
                    )
                    continue
                key = _channel_key(arg)
                if op == "subscribe":
                    subscribed[key] = arg
                else:
                    subscribed.pop(key, None)
                await sender.reply({"event": op, "arg": arg, "connId": conn_id}, streams())
    finally:
        pump.cancel()


def api() -> VenueApi:
    rest = (
        RestRoute("/api/v5/public/instruments", instruments),
        RestRoute("/api/v5/public/time", server_time),
        RestRoute("/api/v5/public/funding-rate", funding_rate),
        RestRoute("/api/v5/public/funding-rate-history", funding_rate_history),
        RestRoute("/api/v5/public/open-interest", open_interest),
        RestRoute("/api/v5/public/mark-price", mark_price),
        RestRoute("/api/v5/rubik/stat/contracts/open-interest-history", open_interest_history),
        RestRoute("/api/v5/rubik/stat/contracts/long-short-account-ratio-contract", long_short_account_ratio_contract),
        RestRoute("/api/v5/rubik/stat/contracts/long-short-position-ratio-contract-top-trader",
                  long_short_position_ratio_contract_top_trader),
        RestRoute("/api/v5/rubik/stat/contracts/open-interest-volume", open_interest_volume),
        RestRoute("/api/v5/rubik/stat/contracts/long-short-account-ratio", long_short_account_ratio),
        RestRoute("/api/v5/market/candles", candles),
        RestRoute("/api/v5/market/history-candles", history_candles),
        RestRoute("/api/v5/market/tickers", tickers),
        RestRoute("/api/v5/market/ticker", ticker),
    )
    ws = tuple(WsRoute(f"/ws/v5/{kind}", public_stream) for kind in ("public", "business"))
    return VenueApi(VENUE, rest, ws, param_error, status_reply)
