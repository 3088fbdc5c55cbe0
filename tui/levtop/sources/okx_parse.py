"""Pure parsers of OKX v5 public payloads into samples (no I/O, no clock).

Every OKX REST body is ``{"code": "0", "msg": "", "data": [...]}`` with numbers as strings;
websocket frames are ``{"arg": {...}, "data": [...]}``. Sizes and open interest are in
CONTRACTS of ``ctVal`` coins each (BTC-USDT-SWAP: 0.01 BTC), so every amount is converted with
the listing's contract size. Only the watched listings' rows are read (and validated): one odd
row of an instrument levtop does not watch never costs the watched ones their data.

``ts`` is always the venue's own time field (never the local clock): under the simulator the
clock runs 600x faster, and "now" is the time of the data.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from levtop.model import HOUR, Sample
from levtop.sources.errors import MalformedPayload
from levtop.sources.venue import Listing

VENUE = "okx"
QUOTE = "USDT"
DEFAULT_FUNDING_INTERVAL_H = 8.0
# OKX settles funding every 1, 2, 4 or 8 hours; anything outside (0, 24h] is not a funding interval.
MAX_FUNDING_INTERVAL_MS = 24 * HOUR
CANDLE_MS = HOUR
CANDLE_CONFIRMED = "1"

# The positions of the fields in OKX's array rows.
RUBIK_TS, RUBIK_OI_CONTRACTS, RUBIK_OI_USD = 0, 1, 3
RUBIK_RATIO = 1
CANDLE_TS, CANDLE_QUOTE_VOLUME, CANDLE_CONFIRM = 0, 7, 8


# ----------------------------------------------------------------------------- validation


def _fail(endpoint: str, message: str) -> MalformedPayload:
    return MalformedPayload(f"okx {endpoint}: {message}")


def data_rows(payload: Any, endpoint: str) -> list[Any]:
    """The ``data`` list of a REST body or a websocket frame; a REST error code is malformed
    here (ccxt raises on it before, so reaching this means the body is not what OKX documents)."""
    if not isinstance(payload, dict):
        raise _fail(endpoint, f"expected an object, got {type(payload).__name__}")
    if "code" in payload and payload["code"] != "0":
        raise _fail(endpoint, f"error code {payload['code']!r}")
    rows = payload.get("data")
    if not isinstance(rows, list):
        raise _fail(endpoint, "data missing or not a list")
    return rows


def _field(row: Any, name: str, endpoint: str) -> Any:
    if not isinstance(row, dict):
        raise _fail(endpoint, f"row is {type(row).__name__}, expected an object")
    if name not in row:
        raise _fail(endpoint, f"{name} missing")
    return row[name]


def _number(value: Any, name: str, endpoint: str) -> float:
    """A finite number, given as OKX's decimal string (or a JSON number)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _fail(endpoint, f"{name} is {type(value).__name__}, expected a number")
    try:
        number = float(value)
    except ValueError:
        raise _fail(endpoint, f"{name} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise _fail(endpoint, f"{name} {value!r} is not finite")
    return number


def _positive(value: Any, name: str, endpoint: str) -> float:
    number = _number(value, name, endpoint)
    if number <= 0:
        raise _fail(endpoint, f"{name} {value!r} is not positive")
    return number


def _non_negative(value: Any, name: str, endpoint: str) -> float:
    number = _number(value, name, endpoint)
    if number < 0:
        raise _fail(endpoint, f"{name} {value!r} is negative")
    return number


def _ms(value: Any, name: str, endpoint: str) -> int:
    """A millisecond timestamp (OKX sends them as strings of digits)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _fail(endpoint, f"{name} is {type(value).__name__}, expected a timestamp")
    text = str(value)
    if not text.isdigit() or int(text) <= 0:
        raise _fail(endpoint, f"{name} {value!r} is not a timestamp")
    return int(text)


def _array_row(row: Any, width: int, endpoint: str) -> Sequence[Any]:
    if not isinstance(row, list) or len(row) < width:
        raise _fail(endpoint, f"row {row!r} is not an array of at least {width} fields")
    return row


def _by_inst_id(listings: Iterable[Listing]) -> dict[str, Listing]:
    return {listing.venue_id: listing for listing in listings}


def _watched_rows(payload: Any, listings: Iterable[Listing], endpoint: str) -> list[tuple[Listing, dict]]:
    """(listing, row) for the rows of watched instruments, in payload order."""
    by_id = _by_inst_id(listings)
    out = []
    for row in data_rows(payload, endpoint):
        inst_id = _field(row, "instId", endpoint)
        if isinstance(inst_id, str) and inst_id in by_id:
            out.append((by_id[inst_id], row))
    return out


# ----------------------------------------------------------------------------- instruments


def swap_inst_id(asset: str) -> str:
    """The USDT-margined perpetual of ``asset``: ``BTC-USDT-SWAP``."""
    return f"{asset}-{QUOTE}-SWAP"


def spot_inst_id(asset: str) -> str:
    return f"{asset}-{QUOTE}"


def instrument_listings(rows: Iterable[Any], assets: Iterable[str]) -> dict[str, Listing]:
    """The watched assets' live linear USDT swaps from ``/api/v5/public/instruments`` rows,
    keyed by asset. An asset without one is simply absent (the pipeline shows it as N/A)."""
    endpoint = "instruments"
    wanted = {swap_inst_id(asset): asset for asset in assets}
    listings: dict[str, Listing] = {}
    for row in rows:
        inst_id = _field(row, "instId", endpoint)
        asset = wanted.get(inst_id) if isinstance(inst_id, str) else None
        if asset is None:
            continue
        if (row.get("ctType"), row.get("settleCcy"), row.get("state")) != ("linear", QUOTE, "live"):
            continue
        # ctVal counts ctValCcy per contract; levtop's coins are the base asset.
        if _field(row, "ctValCcy", endpoint) != asset:
            raise _fail(endpoint, f"{inst_id} ctValCcy {row['ctValCcy']!r} is not {asset}")
        contract_size = _positive(_field(row, "ctVal", endpoint), "ctVal", endpoint)
        listings[asset] = Listing(asset, f"{asset}/{QUOTE}:{QUOTE}", inst_id, contract_size)
    return listings


# ----------------------------------------------------------------------------- current values


def funding_interval_h(row: Mapping[str, Any], endpoint: str = "funding-rate") -> float:
    """Hours between ``fundingTime`` (this period's settlement) and ``nextFundingTime`` (the
    one after); 8 when the row has no next time (older frames do not carry it)."""
    next_time = row.get("nextFundingTime")
    if next_time is None or next_time == "":
        return DEFAULT_FUNDING_INTERVAL_H
    settles = _ms(_field(row, "fundingTime", endpoint), "fundingTime", endpoint)
    interval_ms = _ms(next_time, "nextFundingTime", endpoint) - settles
    if not 0 < interval_ms <= MAX_FUNDING_INTERVAL_MS:
        raise _fail(endpoint, f"funding interval of {interval_ms} ms is implausible")
    return interval_ms / HOUR


def funding_intervals_h(payload: Any, listings: Iterable[Listing]) -> dict[str, float]:
    """The funding interval of each watched asset in a funding-rate body, in hours."""
    return {listing.asset: funding_interval_h(row) for listing, row in _watched_rows(payload, listings, "funding-rate")}


def parse_funding_rates(payload: Any, listings: Iterable[Listing], fallback_ts: int | None = None) -> list[Sample]:
    """``funding_8h`` of each watched swap from ``/public/funding-rate?instId=ANY`` (or a
    ``funding-rate`` channel frame): the current period's rate, normalized to 8 hours.

    ``ts`` is the row's ``ts`` (when OKX computed it). Frames recorded before OKX added that
    field have none: ``fallback_ts`` (the venue's newest server time) stands in, and without
    one the row is malformed rather than dated by a guess."""
    endpoint = "funding-rate"
    samples = []
    for listing, row in _watched_rows(payload, listings, endpoint):
        rate = _number(_field(row, "fundingRate", endpoint), "fundingRate", endpoint)
        if "ts" in row:
            ts = _ms(row["ts"], "ts", endpoint)
        elif fallback_ts is not None:
            ts = fallback_ts
        else:
            raise _fail(endpoint, "ts missing")
        value = rate * 8.0 / funding_interval_h(row, endpoint)
        samples.append(Sample(ts, VENUE, listing.asset, "funding_8h", value))
    return samples


def parse_mark_prices(payload: Any, listings: Iterable[Listing]) -> list[Sample]:
    """``price`` (mark) of each watched swap from ``/public/mark-price?instType=SWAP``."""
    endpoint = "mark-price"
    return [
        Sample(_ms(_field(row, "ts", endpoint), "ts", endpoint), VENUE, listing.asset, "price",
               _positive(_field(row, "markPx", endpoint), "markPx", endpoint))
        for listing, row in _watched_rows(payload, listings, endpoint)
    ]


def parse_open_interest(payload: Any, listings: Iterable[Listing],
                        mark_prices: Mapping[str, float] | None = None) -> list[Sample]:
    """``oi_base`` (contracts x ctVal) and ``oi_usd`` of each watched swap from
    ``/public/open-interest?instType=SWAP``. Bodies from before OKX added ``oiUsd`` (2022) get
    their USD value from the latest mark price, when one is known; never a guessed zero."""
    endpoint = "open-interest"
    marks = mark_prices or {}
    samples = []
    for listing, row in _watched_rows(payload, listings, endpoint):
        ts = _ms(_field(row, "ts", endpoint), "ts", endpoint)
        contracts = _non_negative(_field(row, "oi", endpoint), "oi", endpoint)
        coins = contracts * listing.contract_size
        samples.append(Sample(ts, VENUE, listing.asset, "oi_base", coins))
        # OKX writes "" where a field does not apply: no USD value, as when the field is absent.
        if row.get("oiUsd") not in (None, ""):
            usd = _non_negative(row["oiUsd"], "oiUsd", endpoint)
        elif listing.asset in marks:
            usd = coins * marks[listing.asset]
        else:
            continue
        samples.append(Sample(ts, VENUE, listing.asset, "oi_usd", usd))
    return samples


# ----------------------------------------------------------------------------- history


def row_times(payload: Any, endpoint: str) -> list[int]:
    """The time of every row of a history body (newest first, as OKX sends them): the first
    field of array rows (rubik statistics, candles), ``fundingTime`` of funding history."""
    times = []
    for row in data_rows(payload, endpoint):
        if isinstance(row, dict):
            times.append(_ms(_field(row, "fundingTime", endpoint), "fundingTime", endpoint))
        else:
            times.append(_ms(_array_row(row, 1, endpoint)[0], "ts", endpoint))
    return times


def parse_oi_history(payload: Any, listing: Listing) -> list[Sample]:
    """``oi_base`` and ``oi_usd`` from ``/rubik/stat/contracts/open-interest-history`` rows
    ``[ts, oi (contracts), oiCcy (coins), oiUsd]``."""
    endpoint = "open-interest-history"
    samples = []
    for raw in data_rows(payload, endpoint):
        row = _array_row(raw, 2, endpoint)
        ts = _ms(row[RUBIK_TS], "ts", endpoint)
        coins = _non_negative(row[RUBIK_OI_CONTRACTS], "oi", endpoint) * listing.contract_size
        samples.append(Sample(ts, VENUE, listing.asset, "oi_base", coins))
        if len(row) > RUBIK_OI_USD:
            usd = _non_negative(row[RUBIK_OI_USD], "oiUsd", endpoint)
            samples.append(Sample(ts, VENUE, listing.asset, "oi_usd", usd))
    return samples


def parse_ratio_history(payload: Any, listing: Listing, metric: str,
                        endpoint: str = "long-short-account-ratio-contract") -> list[Sample]:
    """A long/short ratio series from rubik rows ``[ts, ratio]``: ``long_short_ratio`` from the
    accounts endpoint, ``top_long_short_ratio`` from the top traders' positions endpoint."""
    samples = []
    for raw in data_rows(payload, endpoint):
        row = _array_row(raw, 2, endpoint)
        ts = _ms(row[RUBIK_TS], "ts", endpoint)
        samples.append(Sample(ts, VENUE, listing.asset, metric, _positive(row[RUBIK_RATIO], "ratio", endpoint)))
    return samples


def parse_funding_history(payload: Any, listing: Listing,
                          interval_h: float = DEFAULT_FUNDING_INTERVAL_H) -> list[Sample]:
    """Settled ``funding_8h`` from ``/public/funding-rate-history`` at each ``fundingTime``.

    A row's interval is the gap to the previous settlement in the same body (so a symbol that
    moved from 8h to 4h is normalized right on both sides); the oldest row, with no previous
    one, takes ``interval_h`` (the symbol's current interval)."""
    endpoint = "funding-rate-history"
    rows = []
    for row in data_rows(payload, endpoint):
        inst_id = _field(row, "instId", endpoint)
        if inst_id != listing.venue_id:
            raise _fail(endpoint, f"instId {inst_id!r} is not {listing.venue_id}")
        ts = _ms(_field(row, "fundingTime", endpoint), "fundingTime", endpoint)
        rows.append((ts, _number(_field(row, "fundingRate", endpoint), "fundingRate", endpoint)))
    rows.sort()
    samples = []
    for i, (ts, rate) in enumerate(rows):
        gap = ts - rows[i - 1][0] if i else 0
        hours = gap / HOUR if 0 < gap <= MAX_FUNDING_INTERVAL_MS else interval_h
        samples.append(Sample(ts, VENUE, listing.asset, "funding_8h", rate * 8.0 / hours))
    return samples


def parse_candles(payload: Any, asset: str, metric: str, endpoint: str = "candles") -> list[Sample]:
    """Quote volume (``volCcyQuote``, USDT) of CLOSED 1-hour candles, at the bucket END (open
    time + 1h); the candle still being printed (``confirm`` = "0") is left out.
    Rows: ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]``."""
    samples = []
    for raw in data_rows(payload, endpoint):
        row = _array_row(raw, CANDLE_CONFIRM + 1, endpoint)
        confirm = row[CANDLE_CONFIRM]
        if confirm not in ("0", "1"):
            raise _fail(endpoint, f"confirm {confirm!r} is neither '0' nor '1'")
        opened = _ms(row[CANDLE_TS], "ts", endpoint)
        volume = _non_negative(row[CANDLE_QUOTE_VOLUME], "volCcyQuote", endpoint)
        if confirm == CANDLE_CONFIRMED:
            samples.append(Sample(opened + CANDLE_MS, VENUE, asset, metric, volume))
    return samples


# ----------------------------------------------------------------------------- liquidations


def liquidation_events(entry: Any, listings: Iterable[Listing]) -> list[tuple[tuple, Sample]]:
    """(dedupe key, sample) for each detail of one ``liquidation-orders`` data entry of a watched
    swap. ``side`` is the closing order: a SELL closes a liquidated LONG (``liq_long_usd``), a
    BUY a liquidated short. Notional = ``sz`` (contracts) x ctVal x ``bkPx`` (bankruptcy price)."""
    return _entry_events(entry, _by_inst_id(listings))


def _entry_events(entry: Any, by_id: Mapping[str, Listing]) -> list[tuple[tuple, Sample]]:
    endpoint = "liquidation-orders"
    inst_id = _field(entry, "instId", endpoint)
    listing = by_id.get(inst_id) if isinstance(inst_id, str) else None
    if listing is None:
        return []
    details = _field(entry, "details", endpoint)
    if not isinstance(details, list):
        raise _fail(endpoint, "details is not a list")
    events = []
    for detail in details:
        side = _field(detail, "side", endpoint)
        if side not in ("buy", "sell"):
            raise _fail(endpoint, f"side {side!r} is neither buy nor sell")
        long_liquidated = side == "sell"
        # posSide is "net" in net mode; when it names a side, it must be the one the order closes.
        pos_side = detail.get("posSide")
        if pos_side in ("long", "short") and (pos_side == "long") != long_liquidated:
            raise _fail(endpoint, f"posSide {pos_side!r} does not match side {side!r}")
        ts = _ms(_field(detail, "ts", endpoint), "ts", endpoint)
        contracts = _positive(_field(detail, "sz", endpoint), "sz", endpoint)
        price = _positive(_field(detail, "bkPx", endpoint), "bkPx", endpoint)
        metric = "liq_long_usd" if long_liquidated else "liq_short_usd"
        key = (VENUE, inst_id, ts, side, detail["sz"], detail["bkPx"])
        events.append((key, Sample(ts, VENUE, listing.asset, metric, contracts * listing.contract_size * price)))
    return events


def parse_liquidations(frame: Any, listings: Iterable[Listing]) -> list[Sample]:
    """Every watched liquidation of one ``liquidation-orders`` frame, as samples."""
    listings = list(listings)
    entries = data_rows(frame, "liquidation-orders")
    return [sample for entry in entries for _, sample in liquidation_events(entry, listings)]


def liquidation_frame_events(frames: Iterable[Any], listings: Iterable[Listing]
                             ) -> tuple[list[tuple[tuple, Sample]], MalformedPayload | None]:
    """(dedupe key, sample) for every watched liquidation of some ``liquidation-orders`` frames,
    and the first problem met. A malformed entry (or frame) is skipped whole and reported; the
    good entries around it are kept, so one bad event never costs the others."""
    by_id = _by_inst_id(listings)
    events: list[tuple[tuple, Sample]] = []
    problem: MalformedPayload | None = None
    for frame in frames:
        try:
            entries = data_rows(frame, "liquidation-orders")
        except MalformedPayload as exc:
            problem = problem or exc
            continue
        for entry in entries:
            try:
                events.extend(_entry_events(entry, by_id))
            except MalformedPayload as exc:
                problem = problem or exc
    return events, problem


def summed_by_time(samples: Iterable[Sample]) -> list[Sample]:
    """Additive samples with the same (ts, asset, metric) added into one: the store keeps one
    value per series and ts, so two liquidations in the same millisecond must arrive summed."""
    totals: dict[tuple[int, str, str, str], float] = {}
    for sample in samples:
        key = (sample.ts, sample.venue, sample.asset, sample.metric)
        totals[key] = totals.get(key, 0.0) + sample.value
    return [Sample(ts, venue, asset, metric, value) for (ts, venue, asset, metric), value in sorted(totals.items())]
