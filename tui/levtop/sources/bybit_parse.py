"""Pure parsers of Bybit v5 payloads (REST bodies and public stream frames) into samples.

Every function takes the payload exactly as Bybit sends it (decoded JSON) and returns samples or
plain facts; nothing here does I/O or reads a clock, so the real recorded payloads in
``../shared/fixtures/bybit_*`` can be fed straight in. Timestamps are Bybit's own: the body's
``time`` for current values, each row's ``timestamp`` / kline start / event ``T`` for history.

Validation is strict: a missing field, a wrong JSON type, a non-numeric or non-finite number
raises ``MalformedPayload`` naming the endpoint and the field, so nothing half-read is stored.
Bybit sends numbers as strings; integers (``time``, ``fundingInterval``) as JSON numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from levtop.model import HOUR, Sample
from levtop.sources.errors import FetchError, MalformedPayload
from levtop.sources.venue import Listing

VENUE = "bybit"
QUOTE = "USDT"
DEFAULT_FUNDING_HOURS = 8.0
LINEAR = "linear"
INVERSE = "inverse"

PriceAt = Callable[[int], "float | None"]
"""ts -> the price to value open interest at, or None when unknown."""


@dataclass(frozen=True)
class Instrument:
    """A USDT-margined linear perpetual as instruments-info describes it."""

    asset: str
    symbol: str
    funding_interval_h: float


# ----------------------------------------------------------------------------- field readers


def _where(endpoint: str, field: str) -> str:
    return f"bybit {endpoint}: {field}"


def _field(obj: Any, key: str, endpoint: str) -> Any:
    if not isinstance(obj, dict):
        raise MalformedPayload(f"{_where(endpoint, key)}: expected an object, got {type(obj).__name__}")
    if key not in obj:
        raise MalformedPayload(f"{_where(endpoint, key)} missing")
    return obj[key]


def _number(obj: Any, key: str, endpoint: str) -> float:
    """A finite number sent as a numeric string (Bybit's style) or a JSON number."""
    raw = _field(obj, key, endpoint)
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise MalformedPayload(f"{_where(endpoint, key)}: expected a number, got {type(raw).__name__}")
    try:
        value = float(raw)
    except ValueError:
        raise MalformedPayload(f"{_where(endpoint, key)}: not a number ({str(raw)[:20]!r})") from None
    if not math.isfinite(value):
        raise MalformedPayload(f"{_where(endpoint, key)}: not finite ({raw!r})")
    return value


def _positive(obj: Any, key: str, endpoint: str) -> float:
    value = _number(obj, key, endpoint)
    if value <= 0:
        raise MalformedPayload(f"{_where(endpoint, key)}: expected > 0, got {value:g}")
    return value


def _non_negative(obj: Any, key: str, endpoint: str) -> float:
    value = _number(obj, key, endpoint)
    if value < 0:
        raise MalformedPayload(f"{_where(endpoint, key)}: expected >= 0, got {value:g}")
    return value


def _ms(raw: Any, what: str) -> int:
    """Milliseconds since the epoch from an integer or a string of digits."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise MalformedPayload(f"{what}: expected a timestamp, got {type(raw).__name__}")
    if isinstance(raw, str) and not raw.isdigit():
        raise MalformedPayload(f"{what}: not a timestamp ({raw[:20]!r})")
    value = int(raw)
    if value <= 0:
        raise MalformedPayload(f"{what}: not a timestamp ({value})")
    return value


def _timestamp(obj: Any, key: str, endpoint: str) -> int:
    return _ms(_field(obj, key, endpoint), _where(endpoint, key))


def _string(obj: Any, key: str, endpoint: str) -> str:
    raw = _field(obj, key, endpoint)
    if not isinstance(raw, str):
        raise MalformedPayload(f"{_where(endpoint, key)}: expected a string, got {type(raw).__name__}")
    return raw


def _list(obj: Any, key: str, endpoint: str) -> list:
    raw = _field(obj, key, endpoint)
    if not isinstance(raw, list):
        raise MalformedPayload(f"{_where(endpoint, key)}: expected a list, got {type(raw).__name__}")
    return raw


# ----------------------------------------------------------------------------- envelope


def result_of(payload: Any, endpoint: str) -> dict:
    """The ``result`` object of a v5 REST body, after checking ``retCode`` is 0."""
    code = _field(payload, "retCode", endpoint)
    if isinstance(code, bool) or not isinstance(code, int):
        raise MalformedPayload(f"{_where(endpoint, 'retCode')}: expected an integer, got {type(code).__name__}")
    if code != 0:
        message = payload.get("retMsg")
        raise FetchError(f"bybit {endpoint}: error {code} {message if isinstance(message, str) else ''}".strip())
    result = _field(payload, "result", endpoint)
    if not isinstance(result, dict):
        raise MalformedPayload(f"{_where(endpoint, 'result')}: expected an object, got {type(result).__name__}")
    return result


def server_time(payload: Any, endpoint: str) -> int:
    """The body's ``time``: Bybit's clock when it answered (ms)."""
    return _timestamp(payload, "time", endpoint)


def rows_of(payload: Any, endpoint: str) -> list:
    return _list(result_of(payload, endpoint), "list", endpoint)


def _category(result: dict, endpoint: str, default: str = LINEAR) -> str:
    # History bodies name their category (open-interest) or leave it out (account-ratio).
    category = result.get("category", default)
    if category not in (LINEAR, INVERSE):
        raise MalformedPayload(f"{_where(endpoint, 'category')}: expected linear or inverse, got {category!r}")
    return category


# ----------------------------------------------------------------------------- instruments


def parse_instruments(payload: Any) -> dict[str, Instrument]:
    """instruments-info?category=linear -> the trading USDT-margined perpetuals, by base asset.

    USDC perpetuals (``BTCPERP``) and dated futures (``BTCUSDT-25SEP26``) are left out: levtop
    follows each asset's USDT perpetual. ``fundingInterval`` is in minutes.
    """
    endpoint = "instruments-info"
    found: dict[str, Instrument] = {}
    for row in rows_of(payload, endpoint):
        if _string(row, "contractType", endpoint) != "LinearPerpetual":
            continue
        if _string(row, "status", endpoint) != "Trading":
            continue
        if _string(row, "quoteCoin", endpoint) != QUOTE or _string(row, "settleCoin", endpoint) != QUOTE:
            continue
        asset = _string(row, "baseCoin", endpoint).upper()
        minutes = _number(row, "fundingInterval", endpoint)
        hours = minutes / 60 if minutes > 0 else DEFAULT_FUNDING_HOURS
        found[asset] = Instrument(asset, _string(row, "symbol", endpoint), hours)
    return found


def parse_spot_symbols(payload: Any) -> dict[str, str]:
    """instruments-info?category=spot -> asset -> its trading USDT spot pair."""
    endpoint = "instruments-info (spot)"
    found: dict[str, str] = {}
    for row in rows_of(payload, endpoint):
        if _string(row, "quoteCoin", endpoint) != QUOTE or _string(row, "status", endpoint) != "Trading":
            continue
        found[_string(row, "baseCoin", endpoint).upper()] = _string(row, "symbol", endpoint)
    return found


# ----------------------------------------------------------------------------- tickers


def funding_8h(rate: float, interval_h: float) -> float:
    """A funding rate paid every ``interval_h`` hours, normalized to 8 hours."""
    return rate * 8.0 / interval_h


def _interval_hours(row: dict, fallback: float, endpoint: str) -> float:
    # Tickers carry the live interval (Bybit shortens it for volatile symbols); instruments-info,
    # read at start, is the fallback.
    if "fundingIntervalHour" not in row:
        return fallback
    return _positive(row, "fundingIntervalHour", endpoint)


def ticker_samples(row: dict, asset: str, ts: int, category: str, interval_h: float, endpoint: str) -> list[Sample]:
    """One ticker row (REST list item or stream snapshot) -> price, funding_8h, oi_base, oi_usd.

    Linear contracts count open interest in coins (``openInterest``) and give its USD value
    (``openInterestValue``). Inverse contracts are 1 USD each: ``openInterest`` is USD and the
    coin amount lands in ``openInterestValue``.
    """
    mark = _positive(row, "markPrice", endpoint)
    rate = _number(row, "fundingRate", endpoint)
    hours = _interval_hours(row, interval_h, endpoint)
    contracts = _non_negative(row, "openInterest", endpoint)
    value = _non_negative(row, "openInterestValue", endpoint)
    oi_base, oi_usd = (value, contracts) if category == INVERSE else (contracts, value)
    return [
        Sample(ts, VENUE, asset, "price", mark),
        Sample(ts, VENUE, asset, "funding_8h", funding_8h(rate, hours)),
        Sample(ts, VENUE, asset, "oi_base", oi_base),
        Sample(ts, VENUE, asset, "oi_usd", oi_usd),
    ]


def parse_tickers(payload: Any, assets: Mapping[str, str],
                  funding_hours: Mapping[str, float] | None = None) -> list[Sample]:
    """tickers?category=linear|inverse -> samples of the symbols in ``assets`` (symbol -> asset),
    at the body's ``time``. Rows of other symbols are not read."""
    endpoint = "tickers"
    ts = server_time(payload, endpoint)
    result = result_of(payload, endpoint)
    category = _category(result, endpoint)
    hours = funding_hours or {}
    samples: list[Sample] = []
    for row in _list(result, "list", endpoint):
        asset = assets.get(_string(row, "symbol", endpoint))
        if asset is not None:
            interval = hours.get(row["symbol"], DEFAULT_FUNDING_HOURS)
            samples.extend(ticker_samples(row, asset, ts, category, interval, endpoint))
    return samples


def ticker_funding_hours(payload: Any) -> dict[str, float]:
    """symbol -> the funding interval in hours the tickers body states (where it states one)."""
    endpoint = "tickers"
    found: dict[str, float] = {}
    for row in rows_of(payload, endpoint):
        if isinstance(row, dict) and "fundingIntervalHour" in row:
            found[_string(row, "symbol", endpoint)] = _positive(row, "fundingIntervalHour", endpoint)
    return found


# Delta frames of the tickers stream carry only what changed: each field maps on its own.
_DELTA_FIELDS = {"markPrice": "price", "openInterest": "oi_base", "openInterestValue": "oi_usd"}


def parse_ticker_message(message: Any, assets: Mapping[str, str],
                         funding_hours: Mapping[str, float] | None = None) -> list[Sample]:
    """A ``tickers.<symbol>`` stream frame of a linear perpetual -> samples at the frame's ``ts``.

    A snapshot must carry every field; a delta gives the fields it carries (funding only with
    its rate present)."""
    endpoint = "tickers stream"
    topic = _string(message, "topic", endpoint)
    if not topic.startswith("tickers."):
        raise MalformedPayload(f"{_where(endpoint, 'topic')}: not a tickers topic ({topic[:40]!r})")
    kind = _string(message, "type", endpoint)
    ts = _timestamp(message, "ts", endpoint)
    data = _field(message, "data", endpoint)
    asset = assets.get(_string(data, "symbol", endpoint))
    if asset is None:
        return []
    interval = (funding_hours or {}).get(data["symbol"], DEFAULT_FUNDING_HOURS)
    if kind == "snapshot":
        return ticker_samples(data, asset, ts, LINEAR, interval, endpoint)
    if kind != "delta":
        raise MalformedPayload(f"{_where(endpoint, 'type')}: expected snapshot or delta, got {kind!r}")
    samples = []
    for key, metric in _DELTA_FIELDS.items():
        if key in data:
            read = _positive if metric == "price" else _non_negative
            samples.append(Sample(ts, VENUE, asset, metric, read(data, key, endpoint)))
    if "fundingRate" in data:
        hours = _interval_hours(data, interval, endpoint)
        samples.append(Sample(ts, VENUE, asset, "funding_8h", funding_8h(_number(data, "fundingRate", endpoint), hours)))
    return samples


# ----------------------------------------------------------------------------- history


def parse_open_interest(payload: Any, asset: str, price_at: PriceAt | None = None) -> list[Sample]:
    """open-interest (5-minute history) -> oi_base (linear: coins) or oi_usd (inverse: USD),
    oldest first. ``price_at`` supplies the other unit where a price is known for the row's ts."""
    endpoint = "open-interest"
    result = result_of(payload, endpoint)
    category = _category(result, endpoint)
    samples: list[Sample] = []
    for row in _list(result, "list", endpoint):
        ts = _timestamp(row, "timestamp", endpoint)
        amount = _non_negative(row, "openInterest", endpoint)
        price = price_at(ts) if price_at is not None else None
        if category == LINEAR:
            samples.append(Sample(ts, VENUE, asset, "oi_base", amount))
            if price is not None:
                samples.append(Sample(ts, VENUE, asset, "oi_usd", amount * price))
        else:
            samples.append(Sample(ts, VENUE, asset, "oi_usd", amount))
            if price is not None:
                samples.append(Sample(ts, VENUE, asset, "oi_base", amount / price))
    return sorted(samples)


def parse_account_ratio(payload: Any, asset: str) -> list[Sample]:
    """account-ratio -> long_short_ratio = buyRatio / sellRatio (shares of accounts), oldest first."""
    endpoint = "account-ratio"
    samples: list[Sample] = []
    for row in rows_of(payload, endpoint):
        ts = _timestamp(row, "timestamp", endpoint)
        buy = _non_negative(row, "buyRatio", endpoint)
        sell = _non_negative(row, "sellRatio", endpoint)
        if buy > 1 or sell > 1:
            raise MalformedPayload(f"{_where(endpoint, 'buyRatio')}: shares above 1 ({buy:g}/{sell:g})")
        if sell == 0:
            continue  # no short account at all: the ratio is undefined, not infinite
        samples.append(Sample(ts, VENUE, asset, "long_short_ratio", buy / sell))
    return sorted(samples)


def parse_funding_history(payload: Any, asset: str, interval_h: float = DEFAULT_FUNDING_HOURS) -> list[Sample]:
    """funding/history -> settled funding_8h at each settlement time, oldest first."""
    endpoint = "funding/history"
    samples = [
        Sample(_timestamp(row, "fundingRateTimestamp", endpoint), VENUE, asset, "funding_8h",
               funding_8h(_number(row, "fundingRate", endpoint), interval_h))
        for row in rows_of(payload, endpoint)
    ]
    return sorted(samples)


def _kline_rows(payload: Any) -> list[tuple[int, float, float]]:
    """(start, open, turnover) of each kline row ``[start, open, high, low, close, volume, turnover]``."""
    endpoint = "kline"
    rows = []
    for i, row in enumerate(rows_of(payload, endpoint)):
        if not isinstance(row, list) or len(row) < 7:
            raise MalformedPayload(f"{_where(endpoint, f'list[{i}]')}: expected 7 fields")
        fields = dict(zip(("start", "open", "high", "low", "close", "volume", "turnover"), row))
        rows.append((_timestamp(fields, "start", endpoint), _positive(fields, "open", endpoint),
                     _non_negative(fields, "turnover", endpoint)))
    return rows


def parse_klines(payload: Any, asset: str, metric: str, interval_ms: int = HOUR) -> list[Sample]:
    """kline -> the quote volume (``turnover``) of each CLOSED candle, at the candle's END
    (start + interval), oldest first. The open candle (end after the body's ``time``) is left out:
    its volume is still growing."""
    now = server_time(payload, "kline")
    return sorted(
        Sample(start + interval_ms, VENUE, asset, metric, turnover)
        for start, _open, turnover in _kline_rows(payload)
        if start + interval_ms <= now
    )


def kline_opens(payload: Any) -> dict[int, float]:
    """candle start -> its open price: the last traded price at that time, to value OI history."""
    return {start: open_ for start, open_, _turnover in _kline_rows(payload)}


# ----------------------------------------------------------------------------- liquidations


def liquidation_metric(position_side: str) -> str:
    """Bybit's allLiquidation ``S`` is the side of the liquidated POSITION: ``Buy`` means a long
    was liquidated (the exchange sold it), ``Sell`` a short (the exchange bought it back)."""
    if position_side == "Buy":
        return "liq_long_usd"
    if position_side == "Sell":
        return "liq_short_usd"
    raise MalformedPayload(f"{_where('allLiquidation', 'S')}: expected Buy or Sell, got {position_side!r}")


def parse_liquidation(item: Any, asset: str, contract_size: float = 1.0) -> Sample:
    """One allLiquidation event ``{T, s, S, v, p}`` -> its notional in USD at its own time."""
    endpoint = "allLiquidation"
    metric = liquidation_metric(_string(item, "S", endpoint))
    qty = _positive(item, "v", endpoint)
    price = _positive(item, "p", endpoint)
    return Sample(_timestamp(item, "T", endpoint), VENUE, asset, metric, qty * price * contract_size)


def parse_all_liquidation(message: Any, assets: Mapping[str, str], contract_size: float = 1.0) -> list[Sample]:
    """An ``allLiquidation.<symbol>`` frame -> samples of the symbols in ``assets``."""
    endpoint = "allLiquidation"
    topic = _string(message, "topic", endpoint)
    if not topic.startswith("allLiquidation."):
        raise MalformedPayload(f"{_where(endpoint, 'topic')}: not an allLiquidation topic ({topic[:40]!r})")
    samples = []
    for item in _list(message, "data", endpoint):
        asset = assets.get(_string(item, "s", endpoint))
        if asset is not None:
            samples.append(parse_liquidation(item, asset, contract_size))
    return samples


def liquidation_frame_events(frames: Iterable[Any], by_symbol: Mapping[str, Listing]
                             ) -> tuple[list[tuple[tuple, Sample]], MalformedPayload | None]:
    """(dedupe key, sample) for every event of watched symbols in some ``allLiquidation.<symbol>``
    frames, and the first problem met. A malformed event (or frame) is skipped and reported; the
    good ones around it are kept. The key is the event's own fields ``(s, T, S, v, p)``."""
    endpoint = "allLiquidation"
    events: list[tuple[tuple, Sample]] = []
    problem: MalformedPayload | None = None
    for frame in frames:
        try:
            items = _list(frame, "data", endpoint)
        except MalformedPayload as exc:
            problem = problem or exc
            continue
        for item in items:
            if not isinstance(item, dict):
                problem = problem or MalformedPayload(f"{_where(endpoint, 'data')}: event is {type(item).__name__}")
                continue
            symbol = item.get("s")
            listing = by_symbol.get(symbol) if isinstance(symbol, str) else None
            if listing is None:  # another symbol's event
                continue
            try:
                sample = parse_liquidation(item, listing.asset, listing.contract_size)
            except MalformedPayload as exc:
                problem = problem or exc
                continue
            # Validated above: every field of the key is a string or a number.
            events.append(((symbol, item["T"], item["S"], item["v"], item["p"]), sample))
    return events, problem


def merge_same_time(samples: Iterable[Sample]) -> list[Sample]:
    """Sum additive samples that share (ts, asset, metric): the store keeps one value per ts, so
    two liquidations in the same millisecond must arrive as their total."""
    totals: dict[tuple[int, str, str, str], float] = {}
    for s in samples:
        key = (s.ts, s.venue, s.asset, s.metric)
        totals[key] = totals.get(key, 0.0) + s.value
    return [Sample(ts, venue, asset, metric, value) for (ts, venue, asset, metric), value in sorted(totals.items())]
