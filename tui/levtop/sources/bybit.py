"""Bybit v5, USDT-margined linear perpetuals, through ccxt's ``bybit`` (REST) and ccxt.pro
(the public linear stream's ``allLiquidation.<symbol>`` topics).

What each poll costs (one ccxt instance, its rate limiter shared by every task):
- ``tickers``: ONE call for every symbol; it carries mark price, funding rate and interval, and
  open interest in coins and USD, so Bybit needs no separate open-interest job.
- ``openInterest`` and ``accountRatio`` (5-minute history, the latest points) and ``kline``
  (hourly perp and spot volume): per symbol, Bybit has no batch for them.
- ``fundingHistory``: settled funding, per symbol.

Parsers live in ``bybit_parse`` (pure, tested against the real recorded payloads).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Mapping

from levtop.config import DEFAULT_POLL_S
from levtop.model import HOUR, MINUTE, Sample
from levtop.sources import bybit_parse as parse
from levtop.sources.errors import FetchError, MalformedPayload, NotListed
from levtop.sources.scheduler import Job
from levtop.sources.venue import Listing, NewestLookup, Venue, history_windows

STAT_PERIOD = "5min"  # Bybit's own period name for OI and account-ratio history (not "5m")
STAT_PERIOD_MS = 5 * MINUTE
KLINE_INTERVAL = "60"  # minutes: hourly candles
# Rows per request, Bybit's documented maximums.
OPEN_INTEREST_ROWS = 200
ACCOUNT_RATIO_ROWS = 500
FUNDING_ROWS = 200
KLINE_ROWS = 1000
# How many of the newest points a live poll asks for at least: enough to bridge a missed poll or
# two; more when the series' cursor is further behind (up to a page).
LATEST_STAT_ROWS = 6
LATEST_FUNDING_ROWS = 3
LATEST_KLINE_ROWS = 3
ACCOUNT_RATIO_FIRST_MS = 1_595_203_200_000  # 2020-07-20: the earliest start Bybit serves
INSTRUMENT_PAGES = 5  # instruments-info pages of 1000: far more than Bybit lists

# History cursor keys (see sources/cursor.py).
OI_SERIES = "openInterest"
RATIO_SERIES = "accountRatio"
FUNDING_SERIES = "fundingHistory"


def kline_series(category: str) -> str:
    return f"kline:{category}"


AssetFetch = Callable[[Listing], Awaitable[list[Sample]]]


class BybitVenue(Venue):
    name = "bybit"
    ccxt_id = "bybit"
    ccxt_options = {
        # Load only linear markets (what levtop watches): one instruments-info call, no spot,
        # inverse or option listings.
        "fetchMarkets": {"types": ["linear"]},
        "defaultType": "swap",
        "defaultSubType": "linear",
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.server_time_ms: int | None = None
        self.funding_hours: dict[str, float] = {}  # symbol -> hours between settlements
        self.spot_symbols: dict[str, str] | None = None  # asset -> spot pair, loaded when needed
        self.mark_prices: dict[str, float] = {}  # asset -> latest mark price (tickers)
        self._watches: dict[str, asyncio.Task] = {}
        self._received: list[Any] = []
        """allLiquidation frames taken from the stream, not yet turned into samples."""
        self._capturing: Any = None
        """The ccxt instance whose liquidation handler feeds ``_received``."""

    # -- helpers ---------------------------------------------------------------------------

    def _saw(self, payload: Any, endpoint: str) -> None:
        ts = parse.server_time(payload, endpoint)
        self.server_time_ms = ts if self.server_time_ms is None else max(self.server_time_ms, ts)

    async def _get(self, method: str, endpoint: str, params: dict[str, Any]) -> Any:
        """One REST call; its server time kept."""
        payload = await self.call(method, params)
        self._saw(payload, endpoint)
        return payload

    def _assets_by_symbol(self) -> dict[str, str]:
        return {listing.venue_id: asset for asset, listing in self.listings.items()}

    def _rows_to_join(self, listing: Listing, series: str, step_ms: int, least: int, most: int) -> int:
        return self.cursors.rows_to_join(listing.asset, series, self.server_time_ms or 0, step_ms, least, most)

    def _polled(self, listing: Listing, series: str, samples: list[Sample], step_ms: int) -> list[Sample]:
        self.cursors.polled(listing.asset, series, samples, step_ms)
        return samples

    def _hours(self, listing: Listing) -> float:
        return self.funding_hours.get(listing.venue_id, parse.DEFAULT_FUNDING_HOURS)

    async def _each_asset(self, fetch: AssetFetch) -> int:
        """Run ``fetch`` for every listing, storing each asset's samples as they come; one asset's
        failure does not keep the others from being stored, and is raised at the end."""
        if not self.listings:
            raise NotListed("bybit lists none of the watched assets")
        stored = 0
        failure: Exception | None = None
        for listing in self.listings.values():
            try:
                stored += self.emit(await fetch(listing))
            except FetchError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return stored

    # -- listings --------------------------------------------------------------------------

    async def load_listings(self) -> dict[str, Listing]:
        instruments: dict[str, parse.Instrument] = {}
        cursor = ""
        for _ in range(INSTRUMENT_PAGES):
            params: dict[str, Any] = {"category": "linear", "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            payload = await self._get("publicGetV5MarketInstrumentsInfo", "instruments-info", params)
            instruments.update(parse.parse_instruments(payload))
            cursor = payload["result"].get("nextPageCursor") or ""
            if not cursor:
                break
        self.funding_hours = {i.symbol: i.funding_interval_h for i in instruments.values()}
        return {
            asset: Listing(asset, f"{asset}/{parse.QUOTE}:{parse.QUOTE}", i.symbol, 1.0)
            for asset, i in instruments.items()
        }

    async def _spot_pairs(self) -> dict[str, str]:
        if self.spot_symbols is None:
            payload = await self._get("publicGetV5MarketInstrumentsInfo", "instruments-info",
                                      {"category": "spot"})
            self.spot_symbols = parse.parse_spot_symbols(payload)
        return self.spot_symbols

    # -- polling ---------------------------------------------------------------------------

    def poll_jobs(self, poll_s: Mapping[str, float]) -> list[Job]:
        history_s = poll_s["history"]
        return [
            Job(self.name, "tickers", poll_s["tickers"], self.fetch_tickers),
            Job(self.name, "openInterest", history_s, self.fetch_open_interest),
            Job(self.name, "accountRatio", history_s, self.fetch_account_ratio),
            Job(self.name, "fundingHistory", poll_s["funding_history"], self.fetch_funding_history),
            Job(self.name, "kline", poll_s.get("candles", DEFAULT_POLL_S["candles"]), self.fetch_klines),
        ]

    async def fetch_tickers(self) -> int:
        if not self.listings:
            raise NotListed("bybit lists none of the watched assets")
        payload = await self._get("publicGetV5MarketTickers", "tickers", {"category": "linear"})
        samples = parse.parse_tickers(payload, self._assets_by_symbol(), self.funding_hours)
        self.funding_hours.update(parse.ticker_funding_hours(payload))
        self.mark_prices.update({s.asset: s.value for s in samples if s.metric == "price"})
        return self.emit(samples)

    async def fetch_open_interest(self) -> int:
        async def latest(listing: Listing) -> list[Sample]:
            payload = await self._get("publicGetV5MarketOpenInterest", "open-interest", {
                "category": "linear", "symbol": listing.venue_id, "intervalTime": STAT_PERIOD,
                "limit": self._rows_to_join(listing, OI_SERIES, STAT_PERIOD_MS, LATEST_STAT_ROWS, OPEN_INTEREST_ROWS),
            })
            mark = self.mark_prices.get(listing.asset)
            # The latest mark price values the newest points in USD; none known yet: coins only.
            samples = parse.parse_open_interest(payload, listing.asset, None if mark is None else (lambda _ts: mark))
            return self._polled(listing, OI_SERIES, samples, STAT_PERIOD_MS)

        return await self._each_asset(latest)

    async def fetch_account_ratio(self) -> int:
        async def latest(listing: Listing) -> list[Sample]:
            payload = await self._get("publicGetV5MarketAccountRatio", "account-ratio", {
                "category": "linear", "symbol": listing.venue_id, "period": STAT_PERIOD,
                "limit": self._rows_to_join(listing, RATIO_SERIES, STAT_PERIOD_MS, LATEST_STAT_ROWS, ACCOUNT_RATIO_ROWS),
            })
            return self._polled(listing, RATIO_SERIES, parse.parse_account_ratio(payload, listing.asset), STAT_PERIOD_MS)

        return await self._each_asset(latest)

    async def fetch_funding_history(self) -> int:
        async def latest(listing: Listing) -> list[Sample]:
            step_ms = int(self._hours(listing) * HOUR)
            payload = await self._get("publicGetV5MarketFundingHistory", "funding/history", {
                "category": "linear", "symbol": listing.venue_id,
                "limit": self._rows_to_join(listing, FUNDING_SERIES, step_ms, LATEST_FUNDING_ROWS, FUNDING_ROWS),
            })
            samples = parse.parse_funding_history(payload, listing.asset, self._hours(listing))
            return self._polled(listing, FUNDING_SERIES, samples, step_ms)

        return await self._each_asset(latest)

    async def fetch_klines(self) -> int:
        spot = await self._spot_pairs()

        async def recent(listing: Listing, category: str, symbol: str, metric: str) -> list[Sample]:
            series = kline_series(category)
            rows = self._rows_to_join(listing, series, HOUR, LATEST_KLINE_ROWS, KLINE_ROWS)
            payload = await self._kline_page(category, symbol, {"limit": rows})
            return self._polled(listing, series, parse.parse_klines(payload, listing.asset, metric), HOUR)

        async def latest(listing: Listing) -> list[Sample]:
            samples = await recent(listing, "linear", listing.venue_id, "perp_volume_usd")
            if listing.asset in spot:
                samples += await recent(listing, "spot", spot[listing.asset], "spot_volume_usd")
            return samples

        return await self._each_asset(latest)

    async def _kline_page(self, category: str, symbol: str, extra: dict[str, Any]) -> Any:
        return await self._get("publicGetV5MarketKline", "kline",
                               {"category": category, "symbol": symbol, "interval": KLINE_INTERVAL, **extra})

    # -- backfill --------------------------------------------------------------------------

    async def backfill(self, newest: NewestLookup, now_ms: int, window_ms: int) -> int:
        stored = 0
        for listing in self.listings.values():
            stored += await self._backfill_asset(listing, newest, now_ms, window_ms)
        return stored

    async def _backfill_asset(self, listing: Listing, newest: NewestLookup, now_ms: int, window_ms: int) -> int:
        def since(series: str, metric: str) -> int:
            # After the newest gapless history point: live polls also write oi_base and
            # funding_8h at "now", so the store's newest alone would skip an outage's gap.
            stored_start = self.since(newest, listing.asset, metric, now_ms, window_ms)
            return self.cursors.start(listing.asset, series, stored_start, now_ms, window_ms)

        oi_since = since(OI_SERIES, "oi_base") if self.wants("oi_base") else now_ms
        perp_since = since(kline_series("linear"), "perp_volume_usd") if self.wants("perp_volume_usd") else now_ms
        # Perp candles also price the OI history in USD, so they reach back to the older start.
        stored, opens = await self._backfill_klines("linear", listing.venue_id, listing.asset, "perp_volume_usd",
                                                    min(oi_since, perp_since), perp_since, now_ms)
        spot = await self._spot_pairs() if self.wants("spot_volume_usd") else {}
        if listing.asset in spot:
            spot_since = since(kline_series("spot"), "spot_volume_usd")
            stored += (await self._backfill_klines("spot", spot[listing.asset], listing.asset, "spot_volume_usd",
                                                   spot_since, spot_since, now_ms))[0]
        if self.wants("oi_base"):
            stored += await self._backfill_open_interest(listing, oi_since, now_ms, opens)
        if self.wants("long_short_ratio"):
            ratio_since = max(since(RATIO_SERIES, "long_short_ratio"), ACCOUNT_RATIO_FIRST_MS)
            stored += await self._backfill_account_ratio(listing, ratio_since, now_ms)
        if self.wants("funding_8h"):
            stored += await self._backfill_funding(listing, since(FUNDING_SERIES, "funding_8h"), now_ms)
        return stored

    async def _backfill_klines(self, category: str, symbol: str, asset: str, metric: str,
                               fetch_from: int, store_from: int, now_ms: int) -> tuple[int, dict[int, float]]:
        """Hourly candles whose END is at or after ``fetch_from``; volumes stored from
        ``store_from`` on. Returns (stored, candle start -> open price)."""
        stored = 0
        opens: dict[int, float] = {}
        for lo, hi in history_windows(fetch_from - HOUR, now_ms, HOUR, KLINE_ROWS):
            payload = await self._kline_page(category, symbol, {"start": lo, "end": hi, "limit": KLINE_ROWS})
            opens.update(parse.kline_opens(payload))
            # Up to the backfill's now: an hour that closed while the pages were fetched is the
            # polls' to store, so one backfill covers exactly [start, now].
            samples = [s for s in parse.parse_klines(payload, asset, metric) if store_from <= s.ts <= now_ms]
            self.cursors.paged(asset, kline_series(category), samples)
            stored += self.emit(samples)
        return stored, opens

    async def _backfill_open_interest(self, listing: Listing, start: int, now_ms: int, opens: dict[int, float]) -> int:
        def price_at(ts: int) -> float | None:
            # The open of the hour containing ts: the last price known at ts from hourly candles.
            return opens.get(ts - ts % HOUR)

        stored = 0
        for lo, hi in history_windows(start, now_ms, STAT_PERIOD_MS, OPEN_INTEREST_ROWS):
            payload = await self._get("publicGetV5MarketOpenInterest", "open-interest", {
                "category": "linear", "symbol": listing.venue_id, "intervalTime": STAT_PERIOD,
                "startTime": lo, "endTime": hi, "limit": OPEN_INTEREST_ROWS,
            })
            samples = parse.parse_open_interest(payload, listing.asset, price_at)
            self.cursors.paged(listing.asset, OI_SERIES, samples)
            stored += self.emit(samples)
        return stored

    async def _backfill_account_ratio(self, listing: Listing, start: int, now_ms: int) -> int:
        stored = 0
        for lo, hi in history_windows(start, now_ms, STAT_PERIOD_MS, ACCOUNT_RATIO_ROWS):
            payload = await self._get("publicGetV5MarketAccountRatio", "account-ratio", {
                "category": "linear", "symbol": listing.venue_id, "period": STAT_PERIOD,
                "startTime": lo, "endTime": hi, "limit": ACCOUNT_RATIO_ROWS,
            })
            samples = parse.parse_account_ratio(payload, listing.asset)
            self.cursors.paged(listing.asset, RATIO_SERIES, samples)
            stored += self.emit(samples)
        return stored

    async def _backfill_funding(self, listing: Listing, start: int, now_ms: int) -> int:
        hours = self._hours(listing)
        stored = 0
        for lo, hi in history_windows(start, now_ms, int(hours * HOUR), FUNDING_ROWS):
            payload = await self._get("publicGetV5MarketFundingHistory", "funding/history", {
                "category": "linear", "symbol": listing.venue_id, "startTime": lo, "endTime": hi,
                "limit": FUNDING_ROWS,
            })
            samples = parse.parse_funding_history(payload, listing.asset, hours)
            self.cursors.paged(listing.asset, FUNDING_SERIES, samples)
            stored += self.emit(samples)
        return stored

    # -- liquidations ----------------------------------------------------------------------

    async def watch_once(self) -> list[Sample]:
        """The liquidations received since the last call, for every watched symbol.

        One ``allLiquidation.<symbol>`` subscription per listing (ccxt's bybit has no
        watchLiquidationsForSymbols), all on one connection. The per-symbol watches stay pending
        across calls; the frames themselves are taken from ccxt's handler as they arrive (ccxt
        resolves a watch with only the first event of a frame), each parsed once, here."""
        if not self.listings:
            raise NotListed("bybit lists none of the watched assets")
        if not self.exchange.markets:
            await self.call_unified(self.exchange.load_markets)
        self._capture_liquidation_frames()
        while True:
            self._ensure_watches()
            if not self._received:
                await asyncio.wait(self._watches.values(), return_when=asyncio.FIRST_COMPLETED)
            self._collect_finished_watches()
            samples = self._new_liquidations()
            if samples:
                return samples
            # Only replays, or other symbols' events: wait on.

    def _capture_liquidation_frames(self) -> None:
        """Take every allLiquidation frame as ccxt receives it, and wake its symbol's watch."""
        exchange = self.exchange
        if exchange is self._capturing:
            return

        def capture(client: Any, message: Any) -> None:
            self._received.append(message)
            topic = message.get("topic") if isinstance(message, dict) else None
            listing = self._by_topic().get(topic) if isinstance(topic, str) else None
            client.resolve(message, "liquidations")
            if listing is not None:
                client.resolve(message, f"liquidations::{listing.symbol}")
            else:
                # A frame levtop cannot place still wakes every watch, so its problem is reported.
                for each in self.listings.values():
                    client.resolve(message, f"liquidations::{each.symbol}")

        exchange.handle_liquidation = capture
        self._capturing = exchange

    def _by_topic(self) -> dict[str, Listing]:
        return {f"allLiquidation.{listing.venue_id}": listing for listing in self.listings.values()}

    def _ensure_watches(self) -> None:
        for listing in self.listings.values():
            if listing.symbol not in self._watches:
                self._watches[listing.symbol] = asyncio.ensure_future(
                    self.exchange.watch_liquidations(listing.symbol))

    def _collect_finished_watches(self) -> None:
        """Forget the finished watches (the next call renews them); raise the first failure."""
        failure: BaseException | None = None
        for symbol, task in list(self._watches.items()):
            if task.done():
                del self._watches[symbol]
                if not task.cancelled() and task.exception() is not None:
                    failure = failure or task.exception()
        if failure is not None:
            raise failure

    def _new_liquidations(self) -> list[Sample]:
        """Samples of the received frames' events of watched symbols; replays after a reconnect
        dropped. A malformed event is skipped, never stored: the good ones are stored here and
        the first problem raised, so the stream's health shows it."""
        frames, self._received = self._received, []
        by_symbol = {listing.venue_id: listing for listing in self.listings.values()}
        events, problem = parse.liquidation_frame_events(frames, by_symbol)
        merged = parse.merge_same_time(sample for key, sample in events if self.fresh(key))
        if merged:
            newest = max(s.ts for s in merged)
            self.server_time_ms = newest if self.server_time_ms is None else max(self.server_time_ms, newest)
        if problem is not None:
            self.emit(merged)
            raise problem
        return merged

    async def close(self) -> None:
        watches = list(self._watches.values())
        self._watches.clear()
        for task in watches:
            task.cancel()
        # Retrieve every outcome so no "exception was never retrieved" is logged at shutdown.
        await asyncio.gather(*watches, return_exceptions=True)
        await super().close()


__all__ = ["BybitVenue"]
