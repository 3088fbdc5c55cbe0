"""What every exchange venue shares: one ccxt instance, URL pointing, error mapping, polling
jobs, backfill and the liquidation stream loop.

A venue module (``binance.py``, ``bybit.py``, ``okx.py``) subclasses ``Venue`` and supplies the
venue's own calls and parsers. Parsers are pure functions of raw payloads (tested against the
real recorded responses in ../shared/fixtures); ccxt carries the requests: its rate limiter (one
instance per venue, shared by every task), its error mapping, and ccxt.pro's websockets.

ccxt is imported lazily, in ``start()``, so nothing on the first frame's path waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from levtop.model import DAY, HOUR, MINUTE, Sample
from levtop.sources.cursor import HistoryCursors
from levtop.sources.errors import FetchError, classify
from levtop.sources.health import HealthBoard
from levtop.sources.scheduler import Backoff, Job, SourceGate

log = logging.getLogger(__name__)

Sink = Callable[[list[Sample]], None]
NewestLookup = Callable[[str, str, str], "int | None"]
"""(venue, asset, metric) -> newest stored ts, or None."""

LIQUIDATION_STREAM = "liquidations"
STREAM_KEEPALIVE_S = 20.0
"""How often the liquidation socket is pinged. A socket that has said nothing (no data, no pong)
for 1.5 keepalives shows DOWN; ccxt drops and reconnects it after two."""


@dataclass(frozen=True)
class Listing:
    """One watched asset's USDT-margined perpetual on a venue."""

    asset: str
    symbol: str  # ccxt unified symbol, e.g. "BTC/USDT:USDT"
    venue_id: str  # the venue's own id, e.g. "BTCUSDT" or "BTC-USDT-SWAP"
    contract_size: float  # coins per contract (1.0 where quantities are already in coins)


def point_by_origin(exchange: Any, choose: Callable[[str, bool], str]) -> None:
    """Rewrite every URL in ``exchange.urls['api']`` to the base ``choose(origin, is_ws)`` gives.

    Only scheme, host and port change; the venue's own paths stay, so a proxy, a testnet or
    the simulator can stand in for any origin.
    """
    hostname = getattr(exchange, "hostname", None) or ""

    def rewrite(node: Any) -> Any:
        if isinstance(node, str) and "://" in node:
            parts = urlsplit(node.replace("{hostname}", hostname))
            is_ws = parts.scheme in ("ws", "wss")
            base = urlsplit(choose(f"{parts.scheme}://{parts.netloc}", is_ws))
            return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))
        if isinstance(node, dict):
            return {k: rewrite(v) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    exchange.urls["api"] = rewrite(exchange.urls["api"])


def _make_json_strict(exchange: Any, venue: str) -> None:
    """Make a body that looks like JSON but does not parse raise BadResponse.

    ccxt returns such a body as text, which its unified parsers turn into empty results (an
    empty market list, records of None) instead of an error. HTML error pages are left alone so
    that HTTP statuses still map to their exceptions.
    """
    import ccxt

    lenient = exchange.parse_json

    def strict(http_response: Any) -> Any:
        parsed = lenient(http_response)
        if parsed is None and isinstance(http_response, str) and http_response.lstrip()[:1] in ("{", "["):
            raise ccxt.BadResponse(f"{venue}: malformed JSON ({len(http_response)} bytes)")
        return parsed

    exchange.parse_json = strict


class RecentKeys:
    """A bounded memory of recently seen keys, to drop duplicate stream events."""

    def __init__(self, capacity: int = 20_000):
        self.capacity = capacity
        self._keys: OrderedDict[Any, None] = OrderedDict()

    def seen(self, key: Any) -> bool:
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
        return False


class Venue:
    """Base of the exchange venues. Subclasses set ``name`` and ``ccxt_id`` and implement the
    ``load_listings``, ``poll_jobs``, ``backfill`` and ``watch_once`` hooks."""

    name: str = ""
    ccxt_id: str = ""
    ccxt_options: dict[str, Any] = {}
    liquidation_note: str | None = None
    """Said next to the venue's liquidation totals (Binance: a lower bound)."""

    def __init__(self, rest: str, ws: str, assets: Sequence[str], sink: Sink, health: HealthBoard,
                 extra_origins: Mapping[str, str] | None = None, timeout_s: float = 15.0,
                 rate_limit: bool = True):
        self.rest = rest.rstrip("/")
        self.ws = ws.rstrip("/")
        self.extra_origins = dict(extra_origins or {})
        self.assets = tuple(assets)
        self.sink = sink
        self.health = health
        self.timeout_s = timeout_s
        self.rate_limit = rate_limit
        self.gate = SourceGate()
        self.exchange: Any = None
        self.listings: dict[str, Listing] = {}
        self.unlisted: list[str] = []
        self.server_time_ms: int | None = None
        """The venue's newest server time seen in any payload: "now" for backfills."""
        self.backfill_only: frozenset[str] | None = None
        """When set, backfills fetch only the history of these metrics (a quick snapshot)."""
        self.cursors = HistoryCursors()
        self.stream_keepalive_s = STREAM_KEEPALIVE_S
        self._seen = RecentKeys()

    # -- lifecycle -----------------------------------------------------------------------------

    def _choose_base(self, origin: str, is_ws: bool) -> str:
        if origin in self.extra_origins:
            return self.extra_origins[origin]
        return self.ws if is_ws else self.rest

    def make_exchange(self) -> Any:
        # Lazy, kept off the first frame; and only this venue's exchange, not ccxt's hundred.
        from levtop.sources.ccxt_loader import exchange_class

        exchange = exchange_class(self.ccxt_id)({
            "enableRateLimit": self.rate_limit,
            "timeout": int(self.timeout_s * 1000),
            "options": dict(self.ccxt_options),
        })
        point_by_origin(exchange, self._choose_base)
        _make_json_strict(exchange, self.name)
        self._apply_keepalive(exchange)
        return exchange

    def set_stream_keepalive(self, seconds: float) -> None:
        """Ping the liquidation socket every ``seconds`` (sockets opened from now on)."""
        self.stream_keepalive_s = seconds
        if self.exchange is not None:
            self._apply_keepalive(self.exchange)

    def _apply_keepalive(self, exchange: Any) -> None:
        # Binance's default is 3 minutes (its server pings us); a silent socket would then go
        # unnoticed for 6. Every venue answers a ping, so ask often enough to see a stall.
        exchange.streaming = {**(exchange.streaming or {}), "keepAlive": int(self.stream_keepalive_s * 1000)}

    async def start(self) -> None:
        """Create the ccxt instance and find the watched assets' perpetuals."""
        if self.exchange is None:
            self.exchange = self.make_exchange()
        listings = await self.call_unified(self.load_listings)
        if not listings:
            # Every venue lists BTC; an empty answer is a broken response, so retry rather than
            # marking the assets unlisted for good.
            raise FetchError(f"no perpetual found for {', '.join(self.assets)} (empty market list)")
        self.listings = {a: listings[a] for a in self.assets if a in listings}
        self.unlisted = [a for a in self.assets if a not in listings]

    async def close(self) -> None:
        if self.exchange is not None:
            try:
                await self.exchange.close()
            except Exception:  # noqa: BLE001 - closing must never raise during shutdown
                log.debug("closing %s failed", self.name, exc_info=True)

    # -- calls ---------------------------------------------------------------------------------

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """A raw (implicit) ccxt API call, errors mapped to FetchError with Retry-After."""
        await self.gate.wait()
        fn = getattr(self.exchange, method)
        try:
            return await fn(params or {})
        except Exception as exc:  # noqa: BLE001
            raise self._mapped(exc) from exc

    async def call_unified(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        await self.gate.wait()
        try:
            return await fn()
        except FetchError as failure:
            if failure.ban_s is not None:
                self.gate.ban(failure.ban_s)
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._mapped(exc) from exc

    def _mapped(self, exc: BaseException) -> FetchError:
        headers = getattr(self.exchange, "last_response_headers", None)
        failure = classify(exc, headers)
        if failure.ban_s is not None:
            # Ban here, not only in the poll loop: a backfill that gets a 429 must hold back
            # every other task of this venue too.
            self.gate.ban(failure.ban_s)
        return failure

    async def ensure_server_time(self) -> int:
        """The venue's clock: from the newest payload, or asked for (ccxt's fetch_time).

        Backfills run up to this time, never the local clock: under the simulator, or with a
        skewed local clock, "now" is the venue's."""
        if self.server_time_ms is None:
            self.server_time_ms = int(await self.call_unified(self.exchange.fetch_time))
        return self.server_time_ms

    def emit(self, samples: list[Sample]) -> int:
        if samples:
            self.sink(samples)
        return len(samples)

    # -- hooks for subclasses ------------------------------------------------------------------

    async def load_listings(self) -> dict[str, Listing]:
        raise NotImplementedError

    def poll_jobs(self, poll_s: Mapping[str, float]) -> list[Job]:
        raise NotImplementedError

    async def backfill(self, newest: NewestLookup, now_ms: int, window_ms: int) -> int:
        """Fill history from the history endpoints, from what is stored (or ``window_ms`` back)
        up to ``now_ms``; returns the samples stored."""
        raise NotImplementedError

    async def watch_once(self) -> list[Sample]:
        """Wait for the next batch of liquidations and return them as samples (new ones only)."""
        raise NotImplementedError

    # -- shared machinery ----------------------------------------------------------------------

    def wants(self, metric: str) -> bool:
        """Whether a backfill should fetch this metric's history."""
        return self.backfill_only is None or metric in self.backfill_only

    def since(self, newest: NewestLookup, asset: str, metric: str, now_ms: int, window_ms: int) -> int:
        """Where a backfill of one series starts: just after what is stored, within the window."""
        stored = newest(self.name, asset, metric)
        floor = now_ms - window_ms
        return floor if stored is None or stored < floor else stored + 1

    def fresh(self, key: Any) -> bool:
        """False when a stream event was already seen (reconnects replay recent events)."""
        return not self._seen.seen(key)

    async def stream_liquidations(self, *, reconnect_cap_s: float = 60.0) -> None:
        """Receive liquidations until cancelled; reconnect with backoff after any failure."""
        backoff = Backoff(base=1.0, cap=reconnect_cap_s)
        # Quiet markets can go an hour without a liquidation on the watched assets; only a
        # longer silence means the stream is stale.
        self.health.register(self.name, LIQUIDATION_STREAM, interval_s=3600.0)
        watchdog = asyncio.ensure_future(self._watch_stream_silence())
        try:
            await self._receive_liquidations(backoff)
        finally:
            watchdog.cancel()

    async def _receive_liquidations(self, backoff: Backoff) -> None:
        while True:
            try:
                samples = await self.watch_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a stream error is a normal event
                failure = exc if isinstance(exc, FetchError) else self._mapped(exc)
                self.health.failed(self.name, LIQUIDATION_STREAM, f"stream: {failure.message}")
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            self.health.ok(self.name, LIQUIDATION_STREAM)
            self.emit(samples)

    def _open_stream_clients(self) -> list[Any]:
        clients = list((getattr(self.exchange, "clients", None) or {}).values())
        return [c for c in clients if getattr(c, "connection", None) is not None and not c.connection.closed]

    def stream_silence_s(self, now_ms: int) -> float | None:
        """Seconds since an open liquidation socket last said anything (a data frame, an ack, a
        pong, a server ping) or, if it said nothing yet, since it connected; None while no
        socket is open."""
        heard = [c.last_message_at or c.connectionEstablished for c in self._open_stream_clients()]
        heard = [t for t in heard if t is not None]
        return None if not heard else max(0.0, (now_ms - max(heard)) / 1000)

    def stream_heard_since_connect(self) -> bool:
        """Whether an open socket has received a frame since it connected (a reconnect alone,
        to a server that still says nothing, is no sign of life)."""
        return any(c.last_message_at is not None and c.last_message_at >= (c.connectionEstablished or 0)
                   for c in self._open_stream_clients())

    async def _watch_stream_silence(self) -> None:
        """Show a silent socket (a stalled stream: no data and no answer to pings) as DOWN before
        ccxt gives up on it, and LIVE again once it speaks; a quiet market (pongs, no
        liquidations) is not silence."""
        flagged = False
        while True:
            await asyncio.sleep(self.stream_keepalive_s / 4)
            silence = self.stream_silence_s(int(time.time() * 1000))
            if silence is not None and silence > 1.5 * self.stream_keepalive_s:
                self.health.failed(self.name, LIQUIDATION_STREAM,
                                   f"stream: silent for {silence:.0f} s (no data, no answer to pings)")
                flagged = True
            elif flagged and silence is not None and silence < self.stream_keepalive_s \
                    and self.stream_heard_since_connect():
                self.health.ok(self.name, LIQUIDATION_STREAM)
                flagged = False


def history_windows(start_ms: int, end_ms: int, period_ms: int, rows: int) -> Iterable[tuple[int, int]]:
    """Split [start, end] into request windows of at most ``rows`` points of ``period_ms``."""
    span = period_ms * rows
    t = start_ms
    while t <= end_ms:
        yield t, min(end_ms, t + span - 1)
        t += span


__all__ = [
    "DAY", "HOUR", "MINUTE", "Listing", "LIQUIDATION_STREAM", "NewestLookup", "RecentKeys", "Sink",
    "Venue", "history_windows", "point_by_origin",
]
