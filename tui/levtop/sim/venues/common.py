"""What every venue emulator shares: the context handlers read, replies, parameter parsing,
history windows, number formatting, and the websocket sender that applies stream faults."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Mapping

from aiohttp import WSCloseCode, web

from levtop.sim.burst import BurstBoard
from levtop.sim.faults import apply_payload_faults, apply_text_faults

if TYPE_CHECKING:
    from levtop.sim.clock import SimClock
    from levtop.sim.faults import FaultSet
    from levtop.sim.market import Liquidation, Market
    from levtop.sim.stats import SimStats

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


@dataclass
class SimContext:
    """Everything a route handler may read. Handlers answer as of ``clock.now_ms()``."""

    market: "Market"
    clock: "SimClock"
    faults: "FaultSet"
    stats: "SimStats"
    # Real seconds between two checks of a stream for new liquidations.
    stream_poll_s: float = 0.2
    specs: dict[str, "InstrumentSpec"] = field(default_factory=dict)
    bursts: BurstBoard = field(default_factory=BurstBoard)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    @property
    def assets(self) -> tuple[str, ...]:
        return tuple(self.market.assets)


@dataclass
class VenueReply:
    payload: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class VenueError(Exception):
    """Raised by a handler to answer with the venue's own error body."""

    def __init__(self, reply: VenueReply) -> None:
        super().__init__(f"{reply.status} {reply.payload}")
        self.reply = reply


class ParamError(Exception):
    """A bad or missing query parameter; each venue turns it into its own error body."""

    def __init__(self, name: str, problem: str = "invalid") -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem  # "missing" or "invalid"


RestHandler = Callable[[SimContext, Mapping[str, str]], VenueReply]
WsHandler = Callable[[SimContext, web.Request, web.WebSocketResponse, "StreamSender"], Awaitable[None]]


@dataclass(frozen=True)
class RestRoute:
    path: str
    handler: RestHandler


@dataclass(frozen=True)
class WsRoute:
    path: str
    handler: WsHandler


@dataclass(frozen=True)
class VenueApi:
    """One venue's emulator: its REST routes, its websocket routes, and how it words a bad
    parameter and a gateway status (rate limit, outage)."""

    venue: str
    rest: tuple[RestRoute, ...]
    ws: tuple[WsRoute, ...]
    param_error: Callable[[ParamError, int], VenueReply]
    status_reply: Callable[[int, int], VenueReply]


# ----------------------------------------------------------------------------- parameters


def required(query: Mapping[str, str], name: str) -> str:
    value = query.get(name)
    if value is None or value == "":
        raise ParamError(name, "missing")
    return value


def opt_int(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ParamError(name) from None


def limit_param(query: Mapping[str, str], name: str, default: int, maximum: int, minimum: int = 1) -> int:
    """The venue's row limit: default when absent, an error below ``minimum``, capped at ``maximum``
    (the venues answer an over-large limit with their maximum)."""
    value = opt_int(query, name)
    if value is None:
        return default
    if value < minimum:
        raise ParamError(name)
    return min(value, maximum)


# ----------------------------------------------------------------------------- history windows


def window(
    start: int | None,
    end: int | None,
    limit: int,
    step_ms: int,
    now: int,
    *,
    from_start: bool,
    floor_ms: int | None = None,
) -> tuple[int, int]:
    """The inclusive time range ``[lo, hi]`` whose step-aligned rows a history request gets.

    Never past ``now``. With ``from_start`` and a start, the first ``limit`` rows from the start
    (Binance); otherwise the last ``limit`` rows up to the end (Bybit, OKX, Binance without a
    start). ``floor_ms`` is the oldest time the venue serves."""
    hi_cap = now if end is None else min(end, now)
    if from_start and start is not None:
        lo = start
        hi = min(hi_cap, start + limit * step_ms - 1)
    else:
        hi = hi_cap
        lo = hi - limit * step_ms + 1
        if start is not None:
            lo = max(lo, start)
    if floor_ms is not None:
        lo = max(lo, floor_ms)
    return lo, hi


def align_down(ts: int, step_ms: int) -> int:
    return ts - ts % step_ms


# ----------------------------------------------------------------------------- numbers


def fixed(value: float, places: int) -> str:
    """A decimal string with exactly ``places`` decimals, as the venues send numbers."""
    if not math.isfinite(value):
        raise ValueError(f"cannot format {value!r} as a venue number")
    text = f"{value:.{places}f}"
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text


def plain(value: float, max_places: int = 8) -> str:
    """A decimal string without trailing zeros ("0.0001", "20000", "0.04499")."""
    text = fixed(value, max_places)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True)
class InstrumentSpec:
    """Tick and lot sizes for an asset's USDT perp, scaled to its price like the venues do."""

    price_places: int
    qty_places: int

    @property
    def tick_size(self) -> float:
        return 10.0**-self.price_places

    @property
    def qty_step(self) -> float:
        return 10.0**-self.qty_places

    def price(self, value: float) -> str:
        return fixed(value, self.price_places)

    def qty(self, value: float) -> str:
        return fixed(value, self.qty_places)


def spec_for_price(reference_price: float) -> InstrumentSpec:
    if reference_price >= 10_000:
        return InstrumentSpec(price_places=1, qty_places=3)
    if reference_price >= 1_000:
        return InstrumentSpec(price_places=2, qty_places=3)
    if reference_price >= 100:
        return InstrumentSpec(price_places=2, qty_places=2)
    if reference_price >= 1:
        return InstrumentSpec(price_places=4, qty_places=0)
    return InstrumentSpec(price_places=6, qty_places=0)


def instrument_spec(ctx: SimContext, asset: str) -> InstrumentSpec:
    """The spec from the asset's price at launch, so it never changes while the sim runs."""
    spec = ctx.specs.get(asset)
    if spec is None:
        market = ctx.market
        spec = spec_for_price(market.tick(asset, "binance", market.start_ms).mark_price)
        ctx.specs[asset] = spec
    return spec


# ----------------------------------------------------------------------------- websockets


class StreamSender:
    """Sends frames on one websocket connection, applying the venue's stream faults and counting
    the messages per stream."""

    def __init__(self, ctx: SimContext, venue: str, ws: web.WebSocketResponse) -> None:
        self.ctx = ctx
        self.venue = venue
        self.ws = ws
        self.dropped = False

    def stalled(self, streams: Iterable[str]) -> bool:
        names = list(streams) or [""]
        return any(self.ctx.faults.stalled(self.venue, name) for name in names)

    async def send(self, stream: str, payload: Any) -> bool:
        """Send one data frame; False when the connection is gone (closed, or dropped by a fault)."""
        if self.ws.closed or self.dropped:
            return False
        if self.ctx.faults.stalled(self.venue, stream):
            # A stalled stream keeps its socket open and sends nothing; what it would have sent is lost.
            return True
        rules = self.ctx.faults.firing_for_message(self.venue, stream)
        for rule in rules:
            self.ctx.stats.count_fault(rule.kind)
            if rule.kind == "delay" and rule.delay_s:
                await asyncio.sleep(rule.delay_s)
        if any(rule.kind == "ws_drop" for rule in rules):
            self.dropped = True
            await self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"simulated drop")
            return False
        text = apply_text_faults(json.dumps(apply_payload_faults(payload, rules), separators=(",", ":")), rules)
        try:
            await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            return False
        self.ctx.stats.count_message(self.venue, stream)
        return True

    async def pong(self, data: bytes, streams: Iterable[str] = ()) -> None:
        """Answer a protocol ping, as the venues' servers do; a stalled stream answers nothing,
        so a client's keepalive can see the stall."""
        if self.ws.closed or self.dropped or self.stalled(streams):
            return
        try:
            await self.ws.pong(data)
        except (ConnectionError, RuntimeError):
            pass

    async def reply(self, payload: Any, streams: Iterable[str] = ()) -> None:
        """A control reply (subscription ack, pong): not a data message, silent while stalled."""
        if self.ws.closed or self.dropped or self.stalled(streams):
            return
        text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        try:
            await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            pass


async def pump_liquidations(
    ctx: SimContext,
    venue: str,
    ws: web.WebSocketResponse,
    assets: Callable[[], Iterable[str]],
    emit: Callable[[list["Liquidation"], int], Awaitable[bool]],
) -> None:
    """Push the venue's liquidations as the sim clock passes them: every ``stream_poll_s`` real
    seconds, the events with ``last < ts <= now`` of the currently subscribed assets."""
    last = ctx.now_ms()
    while not ws.closed:
        await asyncio.sleep(ctx.stream_poll_s)
        now = ctx.now_ms()
        if now <= last:
            continue
        events: list[Liquidation] = []
        for asset in assets():
            events.extend(ctx.market.liquidations(asset, venue, last + 1, now + 1))
        last = now
        if events:
            events.sort(key=lambda e: (e.ts, e.asset))
            if not await emit(events, now):
                return


async def read_json_messages(ws: web.WebSocketResponse, on_ping: Callable[[bytes], Awaitable[None]] | None = None):
    """Yield (raw text, decoded JSON or None) for each text frame until the socket closes;
    protocol pings go to ``on_ping`` (the socket is opened without aiohttp's autoping, so that a
    stall fault can silence pongs too)."""
    from aiohttp import WSMsgType

    async for message in ws:
        if message.type == WSMsgType.PING:
            if on_ping is not None:
                await on_ping(message.data)
            continue
        if message.type != WSMsgType.TEXT:
            if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                return
            continue
        try:
            decoded = json.loads(message.data)
        except ValueError:
            decoded = None
        yield message.data, decoded


def candles_in(ctx: SimContext, asset: str, venue: str, lo: int, hi: int, step_ms: int,
               spot: bool = False) -> list[tuple]:
    """Candles whose open time is in ``[lo, hi]``, each complete up to its close or up to now
    (the newest open candle is partial), oldest first; the perp's, or with ``spot`` the spot
    pair's."""
    if lo > hi:
        return []
    first_open = align_down(lo + step_ms - 1, step_ms)
    last_open = align_down(hi, step_ms)
    if first_open > last_open:
        return []
    # The market builds a candle from the minutes up to the end it is given: end at the last
    # candle's close (or now), not at ``hi``, so a candle opened before ``hi`` is not cut short.
    end = min(last_open + step_ms - 1, ctx.now_ms())
    return [row for row in ctx.market.candles(asset, venue, first_open, end, step_ms, spot=spot) if row[0] <= last_open]
