"""Pure parsers of Binance USDⓈ-M payloads (REST bodies and websocket frames) into Samples.

Each function takes the payload exactly as Binance sends it (decoded JSON) and returns samples,
or raises MalformedPayload naming the endpoint and the field. Nothing here reads a clock: every
``ts`` is one of Binance's own time fields. Conformance tests feed these the real recorded
payloads in ../shared/fixtures/binance_*.

Units (design.md section 2): USDⓈ-M quantities are in base coins (contract size 1), so
``openInterest`` and ``sumOpenInterest`` are coins; funding is normalized to 8 hours with the
symbol's funding interval.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from levtop.model import HOUR, Sample
from levtop.sources.errors import MalformedPayload
from levtop.sources.venue import Listing

VENUE = "binance"
QUOTE = "USDT"
DEFAULT_FUNDING_HOURS = 8.0
# USDⓈ-M orders and open interest are counted in base coins: one contract is one coin.
COINS_PER_CONTRACT = 1.0

# Indexes of the fields levtop reads in a kline row (a JSON array).
KLINE_OPEN_TIME = 0
KLINE_QUOTE_VOLUME = 7


# -- strict field readers -----------------------------------------------------------------------


def number(value: Any, where: str) -> float:
    """A finite number from a JSON number or a numeric string (Binance sends decimals as strings)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MalformedPayload(f"{where}: expected a number, got {type(value).__name__}")
    try:
        result = float(value)
    except ValueError:
        raise MalformedPayload(f"{where}: not a number ({str(value)[:20]!r})") from None
    if not math.isfinite(result):
        raise MalformedPayload(f"{where}: not a finite number ({value!r})")
    return result


def non_negative(value: Any, where: str) -> float:
    result = number(value, where)
    if result < 0:
        raise MalformedPayload(f"{where}: negative ({value!r})")
    return result


def positive(value: Any, where: str) -> float:
    result = number(value, where)
    if result <= 0:
        raise MalformedPayload(f"{where}: not positive ({value!r})")
    return result


def timestamp(value: Any, where: str) -> int:
    """Epoch milliseconds: an integer, or a string of digits (the /futures/data doc samples)."""
    if isinstance(value, bool):
        raise MalformedPayload(f"{where}: expected a time in ms, got bool")
    if isinstance(value, int):
        result = value
    elif isinstance(value, str) and value.isdigit():
        result = int(value)
    else:
        raise MalformedPayload(f"{where}: expected a time in ms, got {str(value)[:20]!r}")
    if result <= 0:
        raise MalformedPayload(f"{where}: time {result} is not after 1970")
    return result


def text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"{where}: expected a non-empty string")
    return value


def field(row: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in row:
        raise MalformedPayload(f"{where}: missing '{name}'")
    return row[name]


def objects(payload: Any, where: str) -> list[dict[str, Any]]:
    """A JSON array of objects (ccxt hands over the raw text when the body is not JSON)."""
    if not isinstance(payload, list):
        raise MalformedPayload(f"{where}: expected an array, got {type(payload).__name__}")
    for i, row in enumerate(payload):
        if not isinstance(row, dict):
            raise MalformedPayload(f"{where}[{i}]: expected an object, got {type(row).__name__}")
    return payload


def an_object(payload: Any, where: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise MalformedPayload(f"{where}: expected an object, got {type(payload).__name__}")
    return payload


def funding_8h(rate: float, interval_hours: float) -> float:
    """A funding rate per interval, normalized to 8 hours."""
    return rate * 8.0 / interval_hours


# -- markets ------------------------------------------------------------------------------------


def listings_from_symbols(symbols: Iterable[Any], assets: Iterable[str]) -> dict[str, Listing]:
    """The trading USDT-margined perpetual of each asset in exchangeInfo's ``symbols`` entries."""
    wanted = set(assets)
    found: dict[str, Listing] = {}
    for i, entry in enumerate(symbols):
        where = f"exchangeInfo.symbols[{i}]"
        entry = an_object(entry, where)
        base = text(field(entry, "baseAsset", where), f"{where}.baseAsset")
        if base not in wanted:
            continue
        if (field(entry, "contractType", where) != "PERPETUAL"
                or field(entry, "quoteAsset", where) != QUOTE
                or field(entry, "marginAsset", where) != QUOTE
                or field(entry, "status", where) != "TRADING"):
            continue  # a quarterly future, a USDC perp, or a symbol not trading (delisted, settling)
        venue_id = text(field(entry, "symbol", where), f"{where}.symbol")
        found[base] = Listing(base, f"{base}/{QUOTE}:{QUOTE}", venue_id, COINS_PER_CONTRACT)
    return found


def parse_exchange_info(payload: Any, assets: Iterable[str]) -> dict[str, Listing]:
    """Listings from a whole GET /fapi/v1/exchangeInfo body."""
    body = an_object(payload, "exchangeInfo")
    return listings_from_symbols(objects(field(body, "symbols", "exchangeInfo"), "exchangeInfo.symbols"), assets)


def parse_server_time(payload: Any, where: str = "time") -> int:
    """GET /fapi/v1/time (and /api/v3/time): ``{"serverTime": ms}``."""
    body = an_object(payload, where)
    return timestamp(field(body, "serverTime", where), f"{where}.serverTime")


def parse_funding_info(payload: Any) -> dict[str, float]:
    """GET /fapi/v1/fundingInfo: symbol -> funding interval in hours, for the symbols whose
    interval or caps Binance adjusted (every other symbol settles every 8 hours)."""
    hours: dict[str, float] = {}
    for i, row in enumerate(objects(payload, "fundingInfo")):
        where = f"fundingInfo[{i}]"
        symbol = text(field(row, "symbol", where), f"{where}.symbol")
        hours[symbol] = positive(field(row, "fundingIntervalHours", where), f"{where}.fundingIntervalHours")
    return hours


# -- funding and mark price ----------------------------------------------------------------------


def _price_and_funding(ts: int, asset: str, mark: float, rate: float, interval_hours: float) -> list[Sample]:
    return [
        Sample(ts, VENUE, asset, "price", mark),
        Sample(ts, VENUE, asset, "funding_8h", funding_8h(rate, interval_hours)),
    ]


def parse_premium_index(payload: Any, assets_by_id: Mapping[str, str],
                        funding_hours: Mapping[str, float] | None = None) -> list[Sample]:
    """GET /fapi/v1/premiumIndex (an array without ``symbol``, one object with it): mark price
    and the current funding rate of the watched symbols, at the server ``time``.

    ``nextFundingTime`` is the NEXT settlement, not the time the values refer to."""
    rows = [payload] if isinstance(payload, dict) else objects(payload, "premiumIndex")
    hours = funding_hours or {}
    samples: list[Sample] = []
    for i, row in enumerate(rows):
        where = f"premiumIndex[{i}]"
        symbol = field(row, "symbol", where)
        asset = assets_by_id.get(symbol) if isinstance(symbol, str) else None
        if asset is None:
            text(symbol, f"{where}.symbol")
            continue  # another symbol of the batch: not watched, not read
        ts = timestamp(field(row, "time", where), f"{where}.time")
        mark = positive(field(row, "markPrice", where), f"{where}.markPrice")
        rate = number(field(row, "lastFundingRate", where), f"{where}.lastFundingRate")
        samples += _price_and_funding(ts, asset, mark, rate, hours.get(symbol, DEFAULT_FUNDING_HOURS))
    return samples


def parse_mark_price_update(frame: Any, assets_by_id: Mapping[str, str],
                            funding_hours: Mapping[str, float] | None = None) -> list[Sample]:
    """A ``<symbol>@markPrice`` or ``!markPrice@arr`` websocket frame (raw, or wrapped by a
    combined stream as ``{"stream", "data"}``): ``p`` mark price, ``r`` funding rate, at ``E``."""
    if isinstance(frame, dict) and "stream" in frame and "data" in frame:
        frame = frame["data"]
    events = [frame] if isinstance(frame, dict) else objects(frame, "markPriceUpdate")
    hours = funding_hours or {}
    samples: list[Sample] = []
    for i, event in enumerate(events):
        where = f"markPriceUpdate[{i}]"
        if field(event, "e", where) != "markPriceUpdate":
            raise MalformedPayload(f"{where}.e: not a markPriceUpdate event")
        symbol = text(field(event, "s", where), f"{where}.s")
        asset = assets_by_id.get(symbol)
        if asset is None:
            continue
        ts = timestamp(field(event, "E", where), f"{where}.E")
        mark = positive(field(event, "p", where), f"{where}.p")
        rate = number(field(event, "r", where), f"{where}.r")
        samples += _price_and_funding(ts, asset, mark, rate, hours.get(symbol, DEFAULT_FUNDING_HOURS))
    return samples


def parse_funding_history(payload: Any, assets_by_id: Mapping[str, str],
                          funding_hours: Mapping[str, float] | None = None) -> list[Sample]:
    """GET /fapi/v1/fundingRate: settled rates at their ``fundingTime``."""
    hours = funding_hours or {}
    samples: list[Sample] = []
    for i, row in enumerate(objects(payload, "fundingRate")):
        where = f"fundingRate[{i}]"
        symbol = text(field(row, "symbol", where), f"{where}.symbol")
        asset = assets_by_id.get(symbol)
        if asset is None:
            continue
        ts = timestamp(field(row, "fundingTime", where), f"{where}.fundingTime")
        rate = number(field(row, "fundingRate", where), f"{where}.fundingRate")
        samples.append(Sample(ts, VENUE, asset, "funding_8h", funding_8h(rate, hours.get(symbol, DEFAULT_FUNDING_HOURS))))
    return samples


# -- open interest -------------------------------------------------------------------------------


def parse_open_interest(payload: Any, assets_by_id: Mapping[str, str], mark_price: float | None = None) -> list[Sample]:
    """GET /fapi/v1/openInterest?symbol=: coins at ``time``. Binance gives no USD value here:
    ``oi_usd`` is the coins times ``mark_price`` (the latest mark), when one is given."""
    body = an_object(payload, "openInterest")
    symbol = text(field(body, "symbol", "openInterest"), "openInterest.symbol")
    asset = assets_by_id.get(symbol)
    if asset is None:
        raise MalformedPayload(f"openInterest.symbol: {symbol!r} is not a watched USDT perpetual")
    ts = timestamp(field(body, "time", "openInterest"), "openInterest.time")
    coins = non_negative(field(body, "openInterest", "openInterest"), "openInterest.openInterest") * COINS_PER_CONTRACT
    samples = [Sample(ts, VENUE, asset, "oi_base", coins)]
    if mark_price is not None:
        samples.append(Sample(ts, VENUE, asset, "oi_usd", coins * mark_price))
    return samples


def parse_oi_history(payload: Any, asset: str) -> list[Sample]:
    """GET /futures/data/openInterestHist: ``sumOpenInterest`` coins and ``sumOpenInterestValue``
    USD per period, at ``timestamp`` (the period's time)."""
    samples: list[Sample] = []
    for i, row in enumerate(objects(payload, "openInterestHist")):
        where = f"openInterestHist[{i}]"
        ts = timestamp(field(row, "timestamp", where), f"{where}.timestamp")
        coins = non_negative(field(row, "sumOpenInterest", where), f"{where}.sumOpenInterest")
        usd = non_negative(field(row, "sumOpenInterestValue", where), f"{where}.sumOpenInterestValue")
        samples.append(Sample(ts, VENUE, asset, "oi_base", coins * COINS_PER_CONTRACT))
        samples.append(Sample(ts, VENUE, asset, "oi_usd", usd))
    return samples


# -- long/short ----------------------------------------------------------------------------------


def parse_long_short(payload: Any, asset: str, metric: str, endpoint: str) -> list[Sample]:
    """GET /futures/data/globalLongShortAccountRatio (``long_short_ratio``) or
    topLongShortPositionRatio (``top_long_short_ratio``): ``longShortRatio`` at ``timestamp``."""
    samples: list[Sample] = []
    for i, row in enumerate(objects(payload, endpoint)):
        where = f"{endpoint}[{i}]"
        ts = timestamp(field(row, "timestamp", where), f"{where}.timestamp")
        ratio = non_negative(field(row, "longShortRatio", where), f"{where}.longShortRatio")
        samples.append(Sample(ts, VENUE, asset, metric, ratio))
    return samples


# -- volume --------------------------------------------------------------------------------------


def parse_klines(payload: Any, asset: str, metric: str, now_ms: int, endpoint: str = "klines") -> list[Sample]:
    """GET /fapi/v1/klines or /api/v3/klines, interval 1h: the quote volume (index 7) of each
    CLOSED hour, at the bucket's end (open time + 1h). The open hour is still filling: skipped."""
    if not isinstance(payload, list):
        raise MalformedPayload(f"{endpoint}: expected an array, got {type(payload).__name__}")
    samples: list[Sample] = []
    for i, row in enumerate(payload):
        where = f"{endpoint}[{i}]"
        if not isinstance(row, list) or len(row) <= KLINE_QUOTE_VOLUME:
            raise MalformedPayload(f"{where}: expected an array of at least {KLINE_QUOTE_VOLUME + 1} fields")
        end = timestamp(row[KLINE_OPEN_TIME], f"{where}[{KLINE_OPEN_TIME}] open time") + HOUR
        volume = non_negative(row[KLINE_QUOTE_VOLUME], f"{where}[{KLINE_QUOTE_VOLUME}] quote volume")
        if end <= now_ms:
            samples.append(Sample(end, VENUE, asset, metric, volume))
    return samples


# -- liquidations --------------------------------------------------------------------------------


def liquidation_sample(ts: int, asset: str, side: str, contracts: float, price: float,
                       contract_size: float, where: str) -> Sample:
    """A forced SELL closes a long (``liq_long_usd``); a forced BUY closes a short."""
    if side == "sell":
        metric = "liq_long_usd"
    elif side == "buy":
        metric = "liq_short_usd"
    else:
        raise MalformedPayload(f"{where}: side {side!r} is neither buy nor sell")
    return Sample(ts, VENUE, asset, metric, contracts * price * contract_size)


def parse_force_order(frame: Any, assets_by_id: Mapping[str, str]) -> list[Sample]:
    """A ``!forceOrder@arr`` / ``<symbol>@forceOrder`` frame (raw or combined-stream wrapped):
    the notional filled (``l`` × average price ``ap``) at the trade time ``T``."""
    event = force_order_event(frame, assets_by_id)
    return [] if event is None else [event[1]]


def force_order_event(frame: Any, assets_by_id: Mapping[str, str]) -> tuple[tuple, Sample] | None:
    """A forceOrder frame as (dedupe key, sample); None for a symbol not watched."""
    if isinstance(frame, dict) and "stream" in frame and "data" in frame:
        frame = frame["data"]
    event = an_object(frame, "forceOrder")
    if field(event, "e", "forceOrder") != "forceOrder":
        raise MalformedPayload("forceOrder.e: not a forceOrder event")
    order = an_object(field(event, "o", "forceOrder"), "forceOrder.o")
    symbol = text(field(order, "s", "forceOrder.o"), "forceOrder.o.s")
    asset = assets_by_id.get(symbol)
    if asset is None:
        return None
    side = text(field(order, "S", "forceOrder.o"), "forceOrder.o.S").lower()
    ts = timestamp(field(order, "T", "forceOrder.o"), "forceOrder.o.T")
    qty = positive(field(order, "l", "forceOrder.o"), "forceOrder.o.l")
    price = positive(field(order, "ap", "forceOrder.o"), "forceOrder.o.ap")
    sample = liquidation_sample(ts, asset, side, qty, price, COINS_PER_CONTRACT, "forceOrder.o.S")
    return (symbol, ts, side, qty, price), sample


def force_order_events(frames: Iterable[Any], assets_by_id: Mapping[str, str]
                       ) -> tuple[list[tuple[tuple, Sample]], MalformedPayload | None]:
    """Every frame's (dedupe key, sample) for the watched symbols, and the first problem: a
    malformed frame is skipped, never the good ones around it."""
    events: list[tuple[tuple, Sample]] = []
    problem: MalformedPayload | None = None
    for frame in frames:
        try:
            event = force_order_event(frame, assets_by_id)
        except MalformedPayload as exc:
            problem = problem or exc
            continue
        if event is not None:
            events.append(event)
    return events, problem
