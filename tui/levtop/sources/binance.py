"""Binance USDⓈ-M futures: funding and mark price for every symbol in one call (premiumIndex),
open interest per symbol, 5-minute OI and long/short history (30 days), settled funding, hourly
perp and spot klines, and liquidations from the all-market ``!forceOrder@arr`` stream.

Requests go through the venue's one ccxt instance (its rate limiter and error mapping) as raw
implicit calls; the payloads are parsed by the pure functions of ``binance_parse``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Mapping

from levtop.config import DEFAULT_POLL_S
from levtop.model import DAY, HOUR, MINUTE, Sample
from levtop.sources.binance_parse import (
    DEFAULT_FUNDING_HOURS,
    force_order_events,
    listings_from_symbols,
    parse_funding_history,
    parse_funding_info,
    parse_klines,
    parse_long_short,
    parse_oi_history,
    parse_open_interest,
    parse_premium_index,
    parse_server_time,
)
from levtop.sources.errors import FetchError, NotListed
from levtop.sources.scheduler import Job
from levtop.sources.venue import Listing, NewestLookup, Venue, history_windows

log = logging.getLogger(__name__)

STATS_PERIOD = "5m"
STATS_PERIOD_MS = 5 * MINUTE
STATS_ROWS = 500
"""Binance's row limit on /futures/data."""
STATS_LOOKBACK_MS = 30 * DAY
"""/futures/data keeps only the last 30 days; an older startTime is refused (HTTP 400)."""
STATS_FLOOR_MARGIN_MS = 2 * STATS_PERIOD_MS
"""Kept clear of the 30-day edge, which moves on while the request travels."""
FUNDING_ROWS = 1000
PERP_KLINE_ROWS = 1500
SPOT_KLINE_ROWS = 1000
LATEST_STATS_POINTS = 12
"""What a history poll asks for at least: the last hour of 5-minute points (more when its
cursor is further behind; a gap beyond one page is left to a backfill)."""
LATEST_FUNDINGS = 3
LATEST_KLINES = 3
MARK_MAX_AGE_MS = 5 * MINUTE
"""How old the latest mark may be to price the current open interest in USD."""


@dataclass(frozen=True)
class StatsSeries:
    """One /futures/data statistic: its job name, ccxt method, and the metric a backfill of it
    continues from."""

    endpoint: str
    method: str
    metric: str
    parse: Callable[[Any, str], list[Sample]]


STATS_SERIES: tuple[StatsSeries, ...] = (
    StatsSeries("oiHist", "fapiDataGetOpenInterestHist", "oi_base", parse_oi_history),
    StatsSeries("lsRatio", "fapiDataGetGlobalLongShortAccountRatio", "long_short_ratio",
                partial(parse_long_short, metric="long_short_ratio", endpoint="globalLongShortAccountRatio")),
    StatsSeries("topLsRatio", "fapiDataGetTopLongShortPositionRatio", "top_long_short_ratio",
                partial(parse_long_short, metric="top_long_short_ratio", endpoint="topLongShortPositionRatio")),
)


@dataclass(frozen=True)
class KlineSource:
    endpoint: str
    method: str
    metric: str
    rows: int


PERP_KLINES = KlineSource("klines", "fapiPublicGetKlines", "perp_volume_usd", PERP_KLINE_ROWS)
SPOT_KLINES = KlineSource("spotKlines", "publicGetKlines", "spot_volume_usd", SPOT_KLINE_ROWS)


def _is_bad_symbol(exc: BaseException) -> bool:
    """Binance's -1121 "Invalid symbol" (ccxt BadSymbol): the pair does not exist there."""
    import ccxt  # lazy: loaded by now, since the call that failed went through ccxt

    cause = exc.__cause__ or exc
    return isinstance(cause, ccxt.BadSymbol)


ROUTED_KEYS = frozenset({"stream", "data", "event", "status", "error", "id"})
"""Keys by which ccxt's Binance router would treat a frame as more than a bare event."""


class BinanceVenue(Venue):
    name = "binance"
    ccxt_id = "binanceusdm"
    # Load only the USDⓈ-M markets (one GET /fapi/v1/exchangeInfo): levtop never trades, and the
    # spot/inverse market lists would be requests to hosts it does not otherwise use.
    ccxt_options = {"fetchMarkets": {"types": ["linear"]}, "defaultType": "swap", "defaultSubType": "linear"}
    liquidation_note = "lower bound: Binance sends at most one liquidation per symbol per second"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.server_time_ms: int | None = None
        self.funding_hours: dict[str, float] = {}
        """Funding interval per venue symbol, where Binance adjusted it (8h otherwise)."""
        self.marks: dict[str, tuple[int, float]] = {}
        """The latest (ts, mark price) per asset, to price open interest in USD."""
        self.spot_unlisted: set[str] = set()
        self._funding_info_failed = False
        self._received: list[Any] = []
        """forceOrder frames taken from the stream, not yet turned into samples."""
        self._capturing: Any = None
        """The ccxt instance whose liquidation handler feeds ``_received``."""

    # -- lookups ---------------------------------------------------------------------------------

    @property
    def assets_by_id(self) -> dict[str, str]:
        return {listing.venue_id: listing.asset for listing in self.listings.values()}

    # -- calls -----------------------------------------------------------------------------------

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """The base call, plus the ban applied at once: a 418/429 stops every task of this venue
        (backfill included, which runs outside the scheduler) for the Retry-After."""
        try:
            return await super().call(method, params)
        except FetchError as exc:
            if exc.ban_s is not None:
                self.gate.ban(exc.ban_s)
            raise

    def _saw(self, samples: list[Sample]) -> None:
        """Track the newest server time and the latest marks from parsed samples."""
        for s in samples:
            if self.server_time_ms is None or s.ts > self.server_time_ms:
                self.server_time_ms = s.ts
            if s.metric == "price":
                previous = self.marks.get(s.asset)
                if previous is None or s.ts >= previous[0]:
                    self.marks[s.asset] = (s.ts, s.value)

    async def server_now(self) -> int:
        """Binance's clock now (GET /fapi/v1/time)."""
        now = parse_server_time(await self.call("fapiPublicGetTime"))
        self.server_time_ms = max(now, self.server_time_ms or now)
        return now

    # -- lifecycle -------------------------------------------------------------------------------

    async def load_listings(self) -> dict[str, Listing]:
        # ccxt.pro needs its markets for the liquidation stream anyway: one exchangeInfo serves both.
        markets = await self.exchange.load_markets()
        return listings_from_symbols([market.get("info") for market in markets.values()], self.assets)

    async def start(self) -> None:
        await super().start()
        if not self.listings:
            return
        await self.refresh_funding_intervals()
        # The pipeline backfills up to the venue's server time: know it before any poll.
        await self.server_now()

    async def refresh_funding_intervals(self) -> None:
        """Re-read the adjusted funding intervals. Best effort: when fundingInfo fails, the last
        known intervals (8h by default) stay, and the polls go on."""
        try:
            self.funding_hours = parse_funding_info(await self.call("fapiPublicGetFundingInfo"))
        except FetchError as exc:
            level = logging.DEBUG if self._funding_info_failed else logging.WARNING
            log.log(level, "binance fundingInfo failed (%s); keeping the known funding intervals", exc.message)
            self._funding_info_failed = True
            return
        self._funding_info_failed = False

    # -- polls -----------------------------------------------------------------------------------

    def poll_jobs(self, poll_s: Mapping[str, float]) -> list[Job]:
        if not self.listings:
            return []
        every = {**DEFAULT_POLL_S, **poll_s}
        return [
            Job(self.name, "premiumIndex", every["tickers"], self.fetch_tickers),
            Job(self.name, "openInterest", every["open_interest"], self.fetch_open_interest),
            *(Job(self.name, s.endpoint, every["history"], partial(self.fetch_latest_stats, s)) for s in STATS_SERIES),
            Job(self.name, "fundingRate", every["funding_history"], self.fetch_latest_funding),
            Job(self.name, PERP_KLINES.endpoint, every["candles"], partial(self.fetch_latest_klines, PERP_KLINES)),
            Job(self.name, SPOT_KLINES.endpoint, every["candles"], partial(self.fetch_latest_klines, SPOT_KLINES)),
        ]

    async def premium_index(self) -> list[Sample]:
        """Mark price and current funding of every watched symbol: one call for all."""
        samples = parse_premium_index(await self.call("fapiPublicGetPremiumIndex"), self.assets_by_id, self.funding_hours)
        self._saw(samples)
        return samples

    async def fetch_tickers(self) -> int:
        return self.emit(await self.premium_index())

    def _funding_interval_ms(self, listing: Listing) -> int:
        return int(self.funding_hours.get(listing.venue_id, DEFAULT_FUNDING_HOURS) * HOUR)

    def _marks_stale(self) -> bool:
        reference = self.server_time_ms or 0
        return any(
            (mark := self.marks.get(asset)) is None or mark[0] < reference - MARK_MAX_AGE_MS
            for asset in self.listings
        )

    async def fetch_open_interest(self) -> int:
        """Current OI per symbol (Binance has no batch for it), priced with the latest mark."""
        samples: list[Sample] = []
        if self._marks_stale():
            samples += await self.premium_index()
        for listing in self.listings.values():
            payload = await self.call("fapiPublicGetOpenInterest", {"symbol": listing.venue_id})
            mark = self.marks.get(listing.asset)
            samples += parse_open_interest(payload, {listing.venue_id: listing.asset}, mark[1] if mark else None)
        self._saw(samples)
        return self.emit(samples)

    async def fetch_latest_stats(self, series: StatsSeries) -> int:
        """The last hour of one 5-minute statistic, per symbol; all symbols or nothing is stored."""
        samples: list[Sample] = []
        for listing in self.listings.values():
            rows = self._rows_to_join(listing, series.endpoint, STATS_PERIOD_MS, LATEST_STATS_POINTS, STATS_ROWS)
            params = {"symbol": listing.venue_id, "period": STATS_PERIOD, "limit": rows}
            parsed = series.parse(await self.call(series.method, params), listing.asset)
            samples += self._polled(parsed, listing.asset, series.endpoint, STATS_PERIOD_MS)
        return self.emit(samples)

    async def fetch_latest_funding(self) -> int:
        """The last few settled rates per symbol, after refreshing the funding intervals."""
        await self.refresh_funding_intervals()
        samples: list[Sample] = []
        for listing in self.listings.values():
            step_ms = self._funding_interval_ms(listing)
            rows = self._rows_to_join(listing, "fundingRate", step_ms, LATEST_FUNDINGS, FUNDING_ROWS)
            payload = await self.call("fapiPublicGetFundingRate", {"symbol": listing.venue_id, "limit": rows})
            parsed = parse_funding_history(payload, {listing.venue_id: listing.asset}, self.funding_hours)
            samples += self._polled(parsed, listing.asset, "fundingRate", step_ms)
        return self.emit(samples)

    async def fetch_latest_klines(self, source: KlineSource) -> int:
        """The volume of the last closed hours per symbol."""
        listings = self._kline_listings(source)
        if not listings:
            raise NotListed(f"none of {', '.join(self.listings)} has a USDT spot pair on Binance")
        now = await self.server_now()
        samples: list[Sample] = []
        for listing in listings:
            rows = self._rows_to_join(listing, source.endpoint, HOUR, LATEST_KLINES, source.rows)
            params = {"symbol": listing.venue_id, "interval": "1h", "limit": rows}
            payload = await self._kline_call(source, listing, params)
            if payload is not None:
                parsed = parse_klines(payload, listing.asset, source.metric, now, source.endpoint)
                samples += self._polled(parsed, listing.asset, source.endpoint, HOUR)
        return self.emit(samples)

    def _kline_listings(self, source: KlineSource) -> list[Listing]:
        if source is SPOT_KLINES:
            return [listing for listing in self.listings.values() if listing.asset not in self.spot_unlisted]
        return list(self.listings.values())

    async def _kline_call(self, source: KlineSource, listing: Listing, params: dict[str, Any]) -> Any:
        """Klines, or None for a spot pair Binance does not list (remembered: never asked again)."""
        try:
            return await self.call(source.method, params)
        except FetchError as exc:
            if source is SPOT_KLINES and _is_bad_symbol(exc):
                log.info("binance: no spot pair %s; %s spot volume is N/A", listing.venue_id, listing.asset)
                self.spot_unlisted.add(listing.asset)
                return None
            raise

    def _rows_to_join(self, listing: Listing, endpoint: str, step_ms: int, least: int, most: int) -> int:
        return self.cursors.rows_to_join(listing.asset, endpoint, self.server_time_ms or 0, step_ms, least, most)

    def _polled(self, samples: list[Sample], asset: str, endpoint: str, step_ms: int) -> list[Sample]:
        self._saw(samples)
        self.cursors.polled(asset, endpoint, samples, step_ms)
        return samples

    def _paged(self, samples: list[Sample], asset: str, endpoint: str) -> list[Sample]:
        self._saw(samples)
        self.cursors.paged(asset, endpoint, samples)
        return samples

    # -- backfill --------------------------------------------------------------------------------

    async def backfill(self, newest: NewestLookup, now_ms: int, window_ms: int) -> int:
        """History of every series from just after what is stored (or ``window_ms`` back) to
        ``now_ms``, in pages within Binance's row limits. A failing series does not stop the
        others (its error is raised at the end); a ban stops everything at once."""
        server_now = await self.server_now()
        stored = 0
        failures: list[FetchError] = []
        for listing in self.listings.values():
            steps = [partial(self._backfill_stats, s) for s in STATS_SERIES if self.wants(s.metric)]
            if self.wants("funding_8h"):
                steps.append(self._backfill_funding)
            if self.wants(PERP_KLINES.metric):
                steps.append(partial(self._backfill_klines, PERP_KLINES))
            if listing.asset not in self.spot_unlisted and self.wants(SPOT_KLINES.metric):
                steps.append(partial(self._backfill_klines, SPOT_KLINES))
            for step in steps:
                try:
                    stored += await step(listing, newest, now_ms, window_ms, server_now)
                except FetchError as exc:
                    if exc.ban_s is not None:
                        raise
                    log.warning("binance backfill of %s failed: %s", listing.asset, exc.message)
                    failures.append(exc)
        if failures:
            first = failures[0]
            raise type(first)(f"backfill: {first.message}" + (f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""))
        return stored

    def _start(self, newest: NewestLookup, asset: str, endpoint: str, metric: str, now_ms: int, window_ms: int) -> int:
        """Just after the newest gapless history point, else after what is stored."""
        return self.cursors.start(asset, endpoint, self.since(newest, asset, metric, now_ms, window_ms), now_ms, window_ms)

    async def _backfill_stats(self, series: StatsSeries, listing: Listing, newest: NewestLookup,
                              now_ms: int, window_ms: int, server_now: int) -> int:
        start = self._start(newest, listing.asset, series.endpoint, series.metric, now_ms, window_ms)
        if start < server_now - STATS_LOOKBACK_MS + DAY:
            # Near the 30-day edge, which moves with Binance's clock: take a fresh reading.
            server_now = await self.server_now()
        start = max(start, server_now - STATS_LOOKBACK_MS + STATS_FLOOR_MARGIN_MS)
        stored = 0
        for lo, hi in history_windows(start, now_ms, STATS_PERIOD_MS, STATS_ROWS):
            params = {"symbol": listing.venue_id, "period": STATS_PERIOD, "startTime": lo, "endTime": hi, "limit": STATS_ROWS}
            samples = [s for s in series.parse(await self.call(series.method, params), listing.asset) if lo <= s.ts <= hi]
            stored += self.emit(self._paged(samples, listing.asset, series.endpoint))
        return stored

    async def _backfill_funding(self, listing: Listing, newest: NewestLookup, now_ms: int, window_ms: int,
                                server_now: int) -> int:
        start = self._start(newest, listing.asset, "fundingRate", "funding_8h", now_ms, window_ms)
        stored = 0
        for lo, hi in history_windows(start, now_ms, self._funding_interval_ms(listing), FUNDING_ROWS):
            params = {"symbol": listing.venue_id, "startTime": lo, "endTime": hi, "limit": FUNDING_ROWS}
            parsed = parse_funding_history(await self.call("fapiPublicGetFundingRate", params),
                                           {listing.venue_id: listing.asset}, self.funding_hours)
            samples = [s for s in parsed if lo <= s.ts <= hi]
            stored += self.emit(self._paged(samples, listing.asset, "fundingRate"))
        return stored

    async def _backfill_klines(self, source: KlineSource, listing: Listing, newest: NewestLookup,
                               now_ms: int, window_ms: int, server_now: int) -> int:
        # Samples sit at the hour's END: the first wanted hour opens an hour before the start,
        # and the last closed one opened an hour before now.
        start = self._start(newest, listing.asset, source.endpoint, source.metric, now_ms, window_ms)
        closed_by = min(now_ms, server_now)
        stored = 0
        for lo, hi in history_windows(start - HOUR, closed_by - HOUR, HOUR, source.rows):
            params = {"symbol": listing.venue_id, "interval": "1h", "startTime": lo, "endTime": hi, "limit": source.rows}
            payload = await self._kline_call(source, listing, params)
            if payload is None:
                return stored
            parsed = parse_klines(payload, listing.asset, source.metric, closed_by, source.endpoint)
            samples = [s for s in parsed if s.ts >= start]
            stored += self.emit(self._paged(samples, listing.asset, source.endpoint))
        return stored

    # -- liquidations ----------------------------------------------------------------------------

    async def watch_once(self) -> list[Sample]:
        """The liquidations of the watched symbols received since the last call, from the
        all-market stream (one stream for every symbol, filtered here), new ones only."""
        if not self.exchange.markets:
            await self.exchange.load_markets()
        self._capture_force_orders()
        if not self._received:
            await self.exchange.watch_liquidations_for_symbols([])
        frames, self._received = self._received, []
        events, problem = force_order_events(frames, self.assets_by_id)
        fresh = [sample for key, sample in events if self.fresh(key)]
        self._saw(fresh)
        if problem is not None:
            self.emit(fresh)  # the good ones are stored; the stream's health shows the bad one
            raise problem
        return fresh

    def _capture_force_orders(self) -> None:
        """Take every forceOrder frame as ccxt receives it, to be parsed here. ccxt resolves a
        watch with a single event, and only while one is pending: the others of a batch of
        frames (it handles all buffered frames in one go) and any between two watches reach its
        bounded cache only, so a cascade of thousands a second would be undercounted; and its
        parsing costs eight times ours (``force_order_events``, tested on the recorded frames)."""
        exchange = self.exchange
        if exchange is self._capturing:
            return

        def capture(client: Any, message: Any) -> None:
            self._received.append(message)
            client.resolve(message, "liquidations")  # wakes the pending watch, as ccxt's own would

        route = exchange.handle_message

        def handle_message(client: Any, message: Any) -> None:
            # A bare forceOrder event goes straight to ``capture``: ccxt's router unwraps four
            # envelopes and builds a table of 60 bound methods for every frame, most of the cost
            # of a cascade's thousands a second. Anything else takes ccxt's way.
            if type(message) is dict and message.get("e") == "forceOrder" and ROUTED_KEYS.isdisjoint(message):
                capture(client, message)
            else:
                route(client, message)

        exchange.handle_liquidation = capture
        exchange.handle_message = handle_message  # read when ccxt makes the socket's client
        self._capturing = exchange
