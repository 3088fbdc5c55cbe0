"""OKX v5 USDT-margined perpetual swaps: the live source.

Batch endpoints carry every swap in one call: funding (``/public/funding-rate?instId=ANY``),
open interest (``/public/open-interest?instType=SWAP``) and mark prices
(``/public/mark-price?instType=SWAP``). History comes per instrument from the rubik statistics
(5-minute OI and long/short ratios), ``/public/funding-rate-history`` and hourly candles.
Liquidations stream on the public ``liquidation-orders`` channel (all swaps in one
subscription, filtered to the watched listings).

Raw endpoints go through ccxt's implicit API (its rate limiter, error mapping and URL
pointing); the pure parsers in ``okx_parse`` turn the bodies into samples.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping

from levtop.config import DEFAULT_POLL_S
from levtop.model import HOUR, MINUTE, Sample
from levtop.sources import okx_parse as parse
from levtop.sources.errors import FetchError, MalformedPayload, NotListed
from levtop.sources.scheduler import Job
from levtop.sources.venue import Listing, NewestLookup, Venue, history_windows

log = logging.getLogger(__name__)

STAT_PERIOD = "5m"
STAT_MS = 5 * MINUTE
CANDLE_BAR = "1H"
# OKX's documented row limits: 100 per rubik statistics request, 100 per funding history page,
# 100 per history-candles page (the recent /market/candles takes 300, but keeps only 1,440 bars).
STAT_LIMIT = 100
FUNDING_LIMIT = 100
HISTORY_CANDLES_LIMIT = 100
# The polling jobs read the latest few points: an hour of 5-minute statistics, enough settlements
# for a day of 4-hour funding, the last few candles. Overlap is harmless (the store keeps one
# value per ts); a longer gap is the backfill's job.
RECENT_STAT_ROWS = 12
RECENT_FUNDING_ROWS = 6
RECENT_CANDLES = 4
# A runaway guard for the paging inside one window (a venue that ignores its bounds).
MAX_PAGES_PER_WINDOW = 20


@dataclass(frozen=True)
class History:
    """One history endpoint: how to page it and what its rows mean."""

    name: str  # the job's endpoint name, and the key of the history cursor
    method: str  # ccxt implicit method
    endpoint: str  # OKX's path tail, for error messages
    limit: int
    bounds: str  # "begin_end": rubik, inclusive bounds; "before_after": exclusive cursors
    offset_ms: int = 0  # sample ts minus row time (candles: stored at the bucket end)


OI_HISTORY = History("oiHist", "public_get_rubik_stat_contracts_open_interest_history",
                     "open-interest-history", STAT_LIMIT, "begin_end")
LS_RATIO = History("lsRatio", "public_get_rubik_stat_contracts_long_short_account_ratio_contract",
                   "long-short-account-ratio-contract", STAT_LIMIT, "begin_end")
TOP_LS_RATIO = History("topLsRatio", "public_get_rubik_stat_contracts_long_short_position_ratio_contract_top_trader",
                       "long-short-position-ratio-contract-top-trader", STAT_LIMIT, "begin_end")
FUNDING_HISTORY = History("fundingHist", "public_get_public_funding_rate_history",
                          "funding-rate-history", FUNDING_LIMIT, "before_after")
PERP_CANDLES = History("candles", "public_get_market_history_candles", "history-candles",
                       HISTORY_CANDLES_LIMIT, "before_after", offset_ms=HOUR)
SPOT_CANDLES = History("spotCandles", "public_get_market_history_candles", "history-candles",
                       HISTORY_CANDLES_LIMIT, "before_after", offset_ms=HOUR)
RECENT_CANDLES_METHOD = "public_get_market_candles"

# The metrics each history series stores (its backfill starts after the oldest newest of them).
SERIES_METRICS = {
    OI_HISTORY.name: ("oi_base", "oi_usd"),
    LS_RATIO.name: ("long_short_ratio",),
    TOP_LS_RATIO.name: ("top_long_short_ratio",),
    FUNDING_HISTORY.name: ("funding_8h",),
    PERP_CANDLES.name: ("perp_volume_usd",),
    SPOT_CANDLES.name: ("spot_volume_usd",),
}

Parser = Callable[[Any], list[Sample]]


def _not_served(exc: BaseException) -> bool:
    """Whether a failed call means the endpoint does not exist here (HTTP 404), as opposed to
    the venue being down: ccxt maps 404 to ExchangeNotAvailable, so the status is in the text."""
    cause = exc.__cause__ or exc
    return " 404 " in f" {cause} "


def _unknown_instrument(exc: BaseException) -> bool:
    """OKX's 51001 "Instrument ID does not exist" (ccxt's BadSymbol)."""
    cause = exc.__cause__ or exc
    return type(cause).__name__ == "BadSymbol" or "51001" in str(cause)


class OkxVenue(Venue):
    name = "okx"
    ccxt_id = "okx"
    # Load only the swaps: the spot, futures and option lists are large and unused (spot candles
    # are read by instrument id through the raw API, which needs no market).
    ccxt_options = {"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server_time_ms: int | None = None
        self.funding_interval_h: dict[str, float] = {}
        self.mark_prices: dict[str, float] = {}
        self.top_traders_served = True
        self.spot_unlisted: set[str] = set()
        self._received: list[Any] = []
        """liquidation-orders frames taken from the stream, not yet turned into samples."""
        self._capturing: Any = None
        """The ccxt instance whose liquidation handler feeds ``_received``."""

    # -- listings ------------------------------------------------------------------------------

    async def load_listings(self) -> dict[str, Listing]:
        # ccxt's markets come from /public/instruments?instType=SWAP, and the liquidation stream
        # needs them loaded anyway; the listings are read from the raw rows they keep.
        markets = await self.exchange.load_markets()
        rows = [market["info"] for market in markets.values() if market.get("swap")]
        return parse.instrument_listings(rows, self.assets)

    # -- storing ----------------------------------------------------------------------------------

    def _saw(self, samples: list[Sample]) -> None:
        if samples:
            newest = max(sample.ts for sample in samples)
            if self.server_time_ms is None or newest > self.server_time_ms:
                self.server_time_ms = newest

    def _store(self, samples: list[Sample]) -> int:
        self._saw(samples)
        return self.emit(samples)

    # -- batch jobs ----------------------------------------------------------------------------

    async def fetch_funding_rates(self) -> int:
        payload = await self.call("public_get_public_funding_rate", {"instId": "ANY"})
        listings = self.listings.values()
        samples = parse.parse_funding_rates(payload, listings, fallback_ts=self.server_time_ms)
        self.funding_interval_h.update(parse.funding_intervals_h(payload, listings))
        return self._store(samples)

    async def fetch_mark_prices(self) -> int:
        payload = await self.call("public_get_public_mark_price", {"instType": "SWAP"})
        samples = parse.parse_mark_prices(payload, self.listings.values())
        self.mark_prices.update({sample.asset: sample.value for sample in samples})
        return self._store(samples)

    async def fetch_open_interest(self) -> int:
        payload = await self.call("public_get_public_open_interest", {"instType": "SWAP"})
        return self._store(parse.parse_open_interest(payload, self.listings.values(), self.mark_prices))

    # -- per-instrument jobs: the latest few points ----------------------------------------------

    def _parser(self, history: History, listing: Listing) -> Parser:
        if history is OI_HISTORY:
            return lambda payload: parse.parse_oi_history(payload, listing)
        if history is LS_RATIO:
            return lambda payload: parse.parse_ratio_history(payload, listing, "long_short_ratio", LS_RATIO.endpoint)
        if history is TOP_LS_RATIO:
            return lambda payload: parse.parse_ratio_history(payload, listing, "top_long_short_ratio",
                                                             TOP_LS_RATIO.endpoint)
        if history is FUNDING_HISTORY:
            interval_h = self.funding_interval_h.get(listing.asset, parse.DEFAULT_FUNDING_INTERVAL_H)
            return lambda payload: parse.parse_funding_history(payload, listing, interval_h)
        if history is PERP_CANDLES:
            return lambda payload: parse.parse_candles(payload, listing.asset, "perp_volume_usd")
        return lambda payload: parse.parse_candles(payload, listing.asset, "spot_volume_usd")

    def _inst_id(self, history: History, listing: Listing) -> str:
        return parse.spot_inst_id(listing.asset) if history is SPOT_CANDLES else listing.venue_id

    def _base_params(self, history: History, listing: Listing) -> dict[str, str]:
        params = {"instId": self._inst_id(history, listing)}
        if history.bounds == "begin_end":
            params["period"] = STAT_PERIOD
        elif history in (PERP_CANDLES, SPOT_CANDLES):
            params["bar"] = CANDLE_BAR
        return params

    def _step_ms(self, history: History, listing: Listing) -> int:
        if history is FUNDING_HISTORY:
            return int(self.funding_interval_h.get(listing.asset, parse.DEFAULT_FUNDING_INTERVAL_H) * HOUR)
        if history.bounds == "begin_end":
            return STAT_MS
        return HOUR

    async def _poll_recent(self, history: History, rows: int, method: str | None = None) -> int:
        stored = 0
        for listing in self._listings_for(history):
            step_ms = self._step_ms(history, listing)
            # Enough rows to reach back to the cursor: a poll after a pause still joins on.
            limit = self.cursors.rows_to_join(listing.asset, history.name, self.server_time_ms or 0, step_ms,
                                              rows, history.limit)
            params = dict(self._base_params(history, listing), limit=str(limit))
            try:
                payload = await self.call(method or history.method, params)
            except FetchError as exc:
                if not self._mark_unavailable(history, listing, exc):
                    raise
                if history is TOP_LS_RATIO:
                    raise NotListed("top traders' long/short ratio is not served") from exc
                continue
            samples = self._parser(history, listing)(payload)
            self.cursors.polled(listing.asset, history.name, samples, step_ms)
            stored += self._store(samples)
        if history is SPOT_CANDLES and not self._listings_for(history):
            raise NotListed("okx lists none of the watched assets' spot pairs")
        return stored

    def _listings_for(self, history: History) -> list[Listing]:
        if history is SPOT_CANDLES:
            return [listing for asset, listing in self.listings.items() if asset not in self.spot_unlisted]
        return list(self.listings.values())

    def _mark_unavailable(self, history: History, listing: Listing, exc: FetchError) -> bool:
        """Remember what OKX (or the stand-in) does not offer, so it is not asked again."""
        if history is SPOT_CANDLES and _unknown_instrument(exc):
            log.info("okx has no %s spot pair: spot volume is N/A", listing.asset)
            self.spot_unlisted.add(listing.asset)
            return True
        if history is TOP_LS_RATIO and _not_served(exc):
            log.info("okx top traders' ratio is not served here: N/A")
            self.top_traders_served = False
            return True
        return False

    async def fetch_oi_history(self) -> int:
        return await self._poll_recent(OI_HISTORY, RECENT_STAT_ROWS)

    async def fetch_long_short(self) -> int:
        return await self._poll_recent(LS_RATIO, RECENT_STAT_ROWS)

    async def fetch_top_long_short(self) -> int:
        if not self.top_traders_served:
            raise NotListed("top traders' long/short ratio is not served")
        return await self._poll_recent(TOP_LS_RATIO, RECENT_STAT_ROWS)

    async def fetch_funding_history(self) -> int:
        return await self._poll_recent(FUNDING_HISTORY, RECENT_FUNDING_ROWS)

    async def fetch_perp_candles(self) -> int:
        return await self._poll_recent(PERP_CANDLES, RECENT_CANDLES, RECENT_CANDLES_METHOD)

    async def fetch_spot_candles(self) -> int:
        return await self._poll_recent(SPOT_CANDLES, RECENT_CANDLES, RECENT_CANDLES_METHOD)

    def poll_jobs(self, poll_s: Mapping[str, float]) -> list[Job]:
        def every(key: str) -> float:
            return float(poll_s.get(key, DEFAULT_POLL_S[key]))

        tickers, history, funding, candles = every("tickers"), every("history"), every("funding_history"), every("candles")
        jobs: list[tuple[str, float, Callable[[], Awaitable[int]]]] = [
            ("fundingRate", tickers, self.fetch_funding_rates),
            ("markPrice", tickers, self.fetch_mark_prices),
            # OKX's OI batch covers every swap in one call: no per-symbol open_interest job.
            ("openInterest", tickers, self.fetch_open_interest),
            (OI_HISTORY.name, history, self.fetch_oi_history),
            (LS_RATIO.name, history, self.fetch_long_short),
            (TOP_LS_RATIO.name, history, self.fetch_top_long_short),
            (FUNDING_HISTORY.name, funding, self.fetch_funding_history),
            (PERP_CANDLES.name, candles, self.fetch_perp_candles),
            (SPOT_CANDLES.name, candles, self.fetch_spot_candles),
        ]
        return [Job(self.name, endpoint, interval, fetch) for endpoint, interval, fetch in jobs]

    # -- backfill --------------------------------------------------------------------------------

    def _start(self, newest: NewestLookup, asset: str, series: str, now_ms: int, window_ms: int) -> int:
        """Where a series' backfill starts: after what the store holds (the oldest newest of the
        series' metrics), or after this process's contiguous history when that is older."""
        stored_start = min(self.since(newest, asset, metric, now_ms, window_ms) for metric in SERIES_METRICS[series])
        return self.cursors.start(asset, series, stored_start, now_ms, window_ms)

    def _bounds(self, history: History, lo: int, upper: int) -> dict[str, str]:
        if history.bounds == "begin_end":
            # Rubik statistics: begin and end are inclusive.
            return {"begin": str(lo), "end": str(upper)}
        # Candles and funding history: "before" = newer than, "after" = older than (exclusive).
        return {"before": str(lo - 1), "after": str(upper + 1)}

    async def _history_window(self, history: History, listing: Listing, lo: int, hi: int, step_ms: int) -> list[Sample]:
        """Every row with lo <= row time <= hi. Pages come newest first; a full page whose oldest
        row still leaves room for an older one below it is continued under that row (so an
        unexpectedly dense series, e.g. a symbol funding every 4h, is never cut short)."""
        parser = self._parser(history, listing)
        found: dict[tuple[int, str], Sample] = {}
        upper = hi
        for _ in range(MAX_PAGES_PER_WINDOW):
            params = {**self._base_params(history, listing), "limit": str(history.limit),
                      **self._bounds(history, lo, upper)}
            payload = await self.call(history.method, params)
            times = parse.row_times(payload, history.endpoint)
            for sample in parser(payload):
                if lo <= sample.ts - history.offset_ms <= upper:
                    found[(sample.ts, sample.metric)] = sample
            if len(times) < history.limit:
                break
            oldest = min(times)
            if oldest - step_ms < lo or oldest > upper:
                break
            upper = oldest - 1
        return [found[key] for key in sorted(found)]

    async def _backfill_series(self, history: History, listing: Listing, newest: NewestLookup,
                               now_ms: int, window_ms: int) -> int:
        """Fill one series from its start up to now, window by window, oldest first: stopped
        half way, the store holds a contiguous stretch and the next backfill resumes after it."""
        start = self._start(newest, listing.asset, history.name, now_ms, window_ms)
        # Candles are fetched by open time: a bucket ending at or after ``start`` opened an hour
        # before, and only a bucket that has closed by now is complete.
        lo, hi = start - history.offset_ms, now_ms - history.offset_ms
        step_ms = self._step_ms(history, listing)
        stored = 0
        for window_lo, window_hi in history_windows(lo, hi, step_ms, history.limit):
            samples = await self._history_window(history, listing, window_lo, window_hi, step_ms)
            self.cursors.paged(listing.asset, history.name, samples)
            stored += self._store(samples)
        return stored

    async def backfill(self, newest: NewestLookup, now_ms: int, window_ms: int) -> int:
        stored = 0
        series = [OI_HISTORY, LS_RATIO, TOP_LS_RATIO, FUNDING_HISTORY, PERP_CANDLES, SPOT_CANDLES]
        for listing in self.listings.values():
            for history in series:
                if history is TOP_LS_RATIO and not self.top_traders_served:
                    continue
                if not any(self.wants(metric) for metric in SERIES_METRICS[history.name]):
                    continue
                if history is SPOT_CANDLES and listing.asset in self.spot_unlisted:
                    continue
                try:
                    stored += await self._backfill_series(history, listing, newest, now_ms, window_ms)
                except FetchError as exc:
                    if not self._mark_unavailable(history, listing, exc):
                        raise
        return stored

    # -- liquidations ----------------------------------------------------------------------------

    async def watch_once(self) -> list[Sample]:
        """The liquidations of the watched swaps received since the last call, new ones only."""
        if not self.listings:
            raise NotListed("okx lists none of the watched assets")
        if self.exchange.markets is None:
            await self.exchange.load_markets()
        self._capture_liquidation_frames()
        if not self._received:
            await self.exchange.watch_liquidations_for_symbols([listing.symbol for listing in self.listings.values()])
        frames, self._received = self._received, []
        events, problem = parse.liquidation_frame_events(frames, self.listings.values())
        samples = parse.summed_by_time(sample for key, sample in events if self.fresh(key))
        self._saw(samples)
        if problem is not None:
            # The good events of the batch are kept; the stream loop reports the bad one.
            self.emit(samples)
            raise problem
        return samples

    def _capture_liquidation_frames(self) -> None:
        """Take every ``liquidation-orders`` frame as ccxt receives it, to be parsed here once.

        ccxt resolves a watch with the first entry of a frame and keeps the rest in a bounded
        cache (1,000), which had to be read whole and compared on every message to find what was
        new; frames taken here are each parsed once, and none is lost between two watches."""
        exchange = self.exchange
        if exchange is self._capturing:
            return

        def capture(client: Any, message: Any) -> None:
            self._received.append(message)
            # Wakes the pending watch, as ccxt's own handler would (it waits on one per symbol).
            client.resolve(message, "liquidations")
            for listing in self.listings.values():
                client.resolve(message, f"liquidations::{listing.symbol}")

        exchange.handle_liquidation = capture
        self._capturing = exchange
