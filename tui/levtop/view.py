"""What each panel shows, computed from the store: plain data, no Textual.

sources -> store -> signals -> **view** -> widgets. ``build_view`` reads the store once per
refresh and returns frozen dataclasses; panels only format them. "Now" is the data time (the
newest sample), so the demo, a replay and live data all behave the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from levtop.model import ALL_ASSETS, DAY, HOUR, MARKET, VENUES
from levtop.series import Series
from levtop.signals import (
    GATE_SIGNALS,
    Signal,
    Thresholds,
    Verdict,
    aggregate_peak,
    evaluate_inputs,
    inputs_from_series,
)
from levtop.sources.health import SourceHealth
from levtop.store import HistoryStore

CHART_WINDOWS_MS = {"1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
FUNDING_INTERVAL_MS = 8 * HOUR
CHART_POINTS = 240
"""Points per chart line after downsampling: more than any terminal has columns."""
HISTORY_SPAN = CHART_WINDOWS_MS["30d"]
"""The span of the Sentiment and Flows charts, whatever the app's chart window."""

FEAR_GREED_CLASSES = ((24, "Extreme Fear"), (45, "Fear"), (55, "Neutral"), (75, "Greed"), (100, "Extreme Greed"))


@dataclass(frozen=True)
class Line:
    """One chart line: times (ms) and values, already downsampled."""

    ts: tuple[int, ...]
    values: tuple[float, ...]

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None


@dataclass(frozen=True)
class WatchRow:
    asset: str
    phase: str
    green: bool
    price: float | None
    oi_change_24h: float | None


@dataclass(frozen=True)
class VenueOI:
    usd: float | None
    base: float | None
    share: float | None


@dataclass(frozen=True)
class OpenInterestView:
    total_usd: float | None
    total_base: float | None
    venues: dict[str, VenueOI]
    change_24h: float | None
    change_7d: float | None
    drawdown_30d: float | None
    """Aggregate USD OI now vs its 30-day peak (negative below the peak)."""
    rebuild: float | None
    """Coin OI now vs the trough of the latest flush (positive: rebuilding)."""
    rebuild_since: int | None
    lines: dict[str, Line]
    """USD OI per venue over the chart window."""


@dataclass(frozen=True)
class VenueFunding:
    rate_8h: float | None
    next_funding_ts: int | None


@dataclass(frozen=True)
class FundingView:
    weighted_8h: float | None
    apr: float | None
    venues: dict[str, VenueFunding]
    neutral_low: float
    neutral_high: float
    lines: dict[str, Line]


@dataclass(frozen=True)
class LongShortView:
    global_ratio: dict[str, float | None]
    top_ratio: dict[str, float | None]
    lines: dict[str, Line]
    top_lines: dict[str, Line]


@dataclass(frozen=True)
class LiquidationEvent:
    ts: int
    venue: str
    side: str  # "long" (a long was liquidated) or "short"
    usd: float
    price: float | None


@dataclass(frozen=True)
class LiquidationsView:
    tape: tuple[LiquidationEvent, ...]
    """Newest first."""
    long_1h: float
    short_1h: float
    long_24h: float
    short_24h: float
    largest_24h: LiquidationEvent | None
    cascade_multiple: float | None
    """Last hour vs the hourly median (the liquidations signal's value)."""
    cascade_state: str
    hourly: Line
    """Total liquidated per hour over the chart window."""
    notes: dict[str, str]
    """Per venue, what to know about its figures (Binance: a lower bound)."""
    elevated: float = 2.0
    cascade: float = 5.0
    """The configured marks of the cascade meter (multiples of the hourly median)."""
    has_data: bool = False
    """False when no venue has reported any liquidation: zero totals then mean 'no data'."""
    min_baseline_hours: float = 24.0
    """The stream history the hourly median needs before the meter reads."""


@dataclass(frozen=True)
class SentimentView:
    value: float | None
    label: str | None
    line: Line
    fear_max: float = 45.0
    greed_above: float = 60.0
    """The configured fear and greed zones."""


@dataclass(frozen=True)
class FlowsView:
    supply_usd: float | None
    change_7d: float | None
    change_14d: float | None
    supply_line: Line
    spot_volume_24h: float | None
    perp_volume_24h: float | None

    @property
    def spot_share(self) -> float | None:
        if self.spot_volume_24h is None or self.perp_volume_24h is None:
            return None
        total = self.spot_volume_24h + self.perp_volume_24h
        return self.spot_volume_24h / total if total > 0 else None


@dataclass(frozen=True)
class AssetView:
    asset: str
    now: int | None
    verdict: Verdict | None
    open_interest: OpenInterestView
    funding: FundingView
    long_short: LongShortView
    liquidations: LiquidationsView
    sentiment: SentimentView
    flows: FlowsView

    @property
    def gate(self) -> list[Signal]:
        if self.verdict is None:
            return []
        return [self.verdict.signals[name] for name in GATE_SIGNALS]


@dataclass(frozen=True)
class MarketView:
    now: int | None
    window: str
    watchlist: tuple[WatchRow, ...]
    selected: AssetView
    health: dict[str, SourceHealth] = field(default_factory=dict)
    chart_windows: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per chart window ("1d", "7d", "30d"), the (start, end) its charts show: see ``chart_window``."""
    verdicts: dict[str, Verdict | None] = field(default_factory=dict)
    """The verdict of each asset evaluated in this build (the alerts read them)."""


# ---------------------------------------------------------------------------------------------


def fear_greed_label(value: float | None) -> str | None:
    if value is None:
        return None
    for bound, label in FEAR_GREED_CLASSES:
        if value <= bound:
            return label
    return FEAR_GREED_CLASSES[-1][1]


def chart_window(now: int, span_ms: int) -> tuple[int, int]:
    """The time range a chart of ``span_ms`` shows: it ends at the first bucket boundary (a
    CHART_POINTS-th of the span) at or after ``now``. So it moves a whole bucket at a time, and
    an unchanged series gives the same Line, and a chart the same picture, until a sample
    arrives or a bucket passes: a chart is not redrawn for each tick of the data clock."""
    bucket = max(1, span_ms // CHART_POINTS)
    end = -(-now // bucket) * bucket
    return end - span_ms, end


def downsample(series: Series, window: tuple[int, int], now: int, points: int = CHART_POINTS) -> Line:
    """The series within ``window`` up to ``now``, thinned to at most ``points`` (the last value
    per bucket; buckets split the whole window, so they stay put while ``now`` moves)."""
    start, end = window
    a = int(np.searchsorted(series.ts, start, side="left"))
    b = int(np.searchsorted(series.ts, now, side="right"))
    ts, values = series.ts[a:b], series.values[a:b]
    if ts.size > points:
        edges = np.linspace(start, end, points + 1)
        bucket = np.clip(np.searchsorted(edges, ts, side="right") - 1, 0, points - 1)
        last = np.flatnonzero(np.r_[bucket[1:] != bucket[:-1], True])
        ts, values = ts[last], values[last]
    return Line(tuple(int(t) for t in ts), tuple(float(v) for v in values))


def hourly_totals(parts: Sequence[Series], start: int, end: int) -> Line:
    """Sum per hour of the parts together, hours ending in (start, end]. Each part is summed on
    its own: merging them first sorted every event of the history again on every refresh."""
    first = -(-start // HOUR) * HOUR
    ends = np.arange(first, end + 1, HOUR, dtype=np.int64)
    if ends.size == 0:
        return Line((), ())
    totals = sum(part.window_sum(ends - HOUR, ends) for part in parts)
    return Line(tuple(int(t) for t in ends), tuple(float(v) for v in totals))


def _empty() -> Series:
    return Series(np.empty(0, np.int64), np.empty(0))


class ViewBuilder:
    """Builds a MarketView from a store; one per app, called on each refresh."""

    def __init__(self, thresholds: Thresholds | None = None):
        self.thresholds = thresholds or Thresholds()
        self._rows: dict[str, WatchRow] = {}
        """The last row of each asset built in turns (``others_per_build``)."""
        self._turn = 0

    def build(self, store: HistoryStore, watchlist: Sequence[str], selected: str, window: str = "7d",
              health: Mapping[str, SourceHealth] | None = None,
              next_funding: Mapping[tuple[str, str], int] | None = None,
              notes: Mapping[str, str] | None = None, now: int | None = None) -> MarketView:
        return self.build_from_series(store.series_map(watchlist), now if now is not None else store.newest_ts,
                                      watchlist, selected, window, health, next_funding, notes)

    def build_from_series(self, series: Mapping[tuple[str, str, str], Series], now: int | None,
                          watchlist: Sequence[str], selected: str, window: str = "7d",
                          health: Mapping[str, SourceHealth] | None = None,
                          next_funding: Mapping[tuple[str, str], int] | None = None,
                          notes: Mapping[str, str] | None = None, *,
                          others_per_build: int | None = None) -> MarketView:
        """The same from a snapshot of the store's series: safe to run in a worker thread while
        the store keeps receiving samples (series are immutable arrays).

        With ``others_per_build``, the selected asset is evaluated and only that many of the
        others, in turn; the rest of the watchlist keeps its last rows. An evaluation is most of a
        build: the app's refreshes then cost two of them, not one per asset of the watchlist.
        Without, every asset is evaluated (and no row is kept)."""
        due = self._due(watchlist, selected, others_per_build)
        rows = []
        selected_verdict = None
        verdicts: dict[str, Verdict | None] = {}
        for asset in watchlist:
            if asset in due:
                row, verdict = self._watch_row(series, asset, now)
                verdicts[asset] = verdict
                if others_per_build is not None:
                    self._rows[asset] = row
                if asset == selected:
                    selected_verdict = verdict
            else:
                row = self._rows[asset]
            rows.append(row)
        view = self.asset_view(series, selected, now, selected_verdict, window, next_funding or {}, notes or {})
        charts = {} if now is None else {name: chart_window(now, span) for name, span in CHART_WINDOWS_MS.items()}
        return MarketView(now, window, tuple(rows), view, dict(health or {}), charts, verdicts)

    def _due(self, watchlist: Sequence[str], selected: str, others: int | None) -> set[str]:
        """The assets to evaluate now: all, or the selected one, those without a row yet and the
        next ``others`` of the rest in turn."""
        if others is None:
            return set(watchlist)
        rest = [asset for asset in watchlist if asset != selected]
        turn = {rest[(self._turn + i) % len(rest)] for i in range(min(others, len(rest)))} if rest else set()
        self._turn += others
        return {selected, *turn, *(asset for asset in watchlist if asset not in self._rows)}

    def _watch_row(self, series: Mapping[tuple[str, str, str], Series], asset: str,
                   now: int | None) -> tuple[WatchRow, Verdict | None]:
        verdict = evaluate_inputs(inputs_from_series(asset, series), [now], self.thresholds)[0] \
            if now is not None else None
        oi_change = verdict.signals["oi_rebuild"].value if verdict else None
        row = WatchRow(asset, verdict.phase if verdict else "UNKNOWN", bool(verdict and verdict.green),
                       _latest_price(series, asset, now), oi_change)
        return row, verdict

    def asset_view(self, series: Mapping[tuple[str, str, str], Series], asset: str, now: int | None,
                   verdict: Verdict | None, window: str, next_funding: Mapping[tuple[str, str], int],
                   notes: Mapping[str, str]) -> AssetView:
        span = CHART_WINDOWS_MS[window]
        t = now if now is not None else 0
        start = t - span
        chart = chart_window(t, span)

        def get(venue: str, metric: str, a: str = asset) -> Series:
            return series.get((venue, a, metric), _empty())

        def asof(venue: str, metric: str, max_age: int = 6 * HOUR, a: str = asset) -> float | None:
            s = get(venue, metric, a)
            v = s.asof(np.array([t]), max_age)[0] if len(s) else np.nan
            return None if np.isnan(v) else float(v)

        venues = [v for v in VENUES if any((v, asset, m) in series for m in ("oi_usd", "funding_8h", "price"))]
        th = self.thresholds
        return AssetView(
            asset, now, verdict,
            self._open_interest(inputs_from_series(asset, series), get, asof, venues, t, chart, verdict),
            self._funding(get, asof, venues, t, chart, verdict, next_funding, asset, th),
            self._long_short(get, asof, venues, chart, t),
            self._liquidations(get, asof, venues, t, start, verdict, notes, asset),
            self._sentiment(get, asof, t),
            self._flows(get, asof, venues, t),
        )

    # -- panels --------------------------------------------------------------------------------

    def _open_interest(self, inputs, get, asof, venues, t, chart, verdict) -> OpenInterestView:
        per_venue = {v: (asof(v, "oi_usd"), asof(v, "oi_base")) for v in venues}
        usd_values = [u for u, _ in per_venue.values() if u is not None]
        base_values = [b for _, b in per_venue.values() if b is not None]
        total_usd = sum(usd_values) if usd_values else None
        total_base = sum(base_values) if base_values else None
        shares = {
            v: VenueOI(u, b, (u / total_usd) if (u is not None and total_usd) else None)
            for v, (u, b) in per_venue.items()
        }

        def total_at(ts: int) -> float | None:
            values = [get(v, "oi_usd").asof(np.array([ts]), 6 * HOUR)[0] for v in venues]
            values = [x for x in values if not np.isnan(x)]
            return sum(values) if len(values) == len(usd_values) and values else None

        def change(window_ms: int) -> float | None:
            then = total_at(t - window_ms)
            return total_usd / then - 1 if (then and total_usd is not None) else None

        lines = {v: downsample(get(v, "oi_usd"), chart, t) for v in venues}
        peak = aggregate_peak(inputs, "oi_usd", t - 30 * DAY, t, self.thresholds) if total_usd else None
        drawdown = (total_usd / peak - 1) if (peak and total_usd is not None) else None
        rebuild = rebuild_since = None
        flush = verdict.flush if verdict else None
        if flush is not None and flush.trough:
            coins = total_base if total_base is not None else total_usd
            if coins is not None:
                rebuild = coins / flush.trough - 1
                rebuild_since = flush.trough_ts
        return OpenInterestView(total_usd, total_base, shares, change(DAY), change(7 * DAY), drawdown,
                                rebuild, rebuild_since, lines)

    def _funding(self, get, asof, venues, t, chart, verdict, next_funding, asset, th) -> FundingView:
        weighted = verdict.signals["funding"].value if verdict else None
        # Binance, Bybit and OKX settle at 00:00, 08:00 and 16:00 UTC unless a venue says otherwise.
        default_next = (t // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
        rates = {v: VenueFunding(asof(v, "funding_8h", 24 * HOUR), next_funding.get((v, asset), default_next))
                 for v in venues}
        lines = {v: downsample(get(v, "funding_8h"), chart, t) for v in venues}
        apr = weighted * 3 * 365 if weighted is not None else None
        return FundingView(weighted, apr, rates, th.funding_neutral_low, th.funding_neutral_high, lines)

    def _long_short(self, get, asof, venues, chart, t) -> LongShortView:
        return LongShortView(
            {v: asof(v, "long_short_ratio") for v in venues},
            {v: asof(v, "top_long_short_ratio") for v in venues if len(get(v, "top_long_short_ratio"))},
            {v: downsample(get(v, "long_short_ratio"), chart, t) for v in venues},
            {v: downsample(get(v, "top_long_short_ratio"), chart, t) for v in venues
             if len(get(v, "top_long_short_ratio"))},
        )

    def _liquidations(self, get, asof, venues, t, start, verdict, notes, asset) -> LiquidationsView:
        events: list[LiquidationEvent] = []
        sums = {"long_1h": 0.0, "short_1h": 0.0, "long_24h": 0.0, "short_24h": 0.0}
        parts = []
        largest = None
        for v in venues:
            prices = get(v, "price")
            for side in ("long", "short"):
                s = get(v, f"liq_{side}_usd")
                if not len(s):
                    continue
                parts.append(s)
                sums[f"{side}_1h"] += float(s.window_sum(np.array([t - HOUR]), np.array([t]))[0])
                sums[f"{side}_24h"] += float(s.window_sum(np.array([t - DAY]), np.array([t]))[0])
                a = int(np.searchsorted(s.ts, t - DAY, side="right"))
                b = int(np.searchsorted(s.ts, t, side="right"))
                if b > a:
                    k = a + int(np.argmax(s.values[a:b]))
                    candidate = (float(s.values[k]), int(s.ts[k]), v, side)
                    if largest is None or candidate[0] > largest[0]:
                        largest = candidate
                tape = slice(max(a, b - 40), b)
                at = prices.asof(s.ts[tape], HOUR) if len(prices) else np.full(b - tape.start, np.nan)
                events += [LiquidationEvent(int(ts), v, side, float(usd), None if np.isnan(price) else float(price))
                           for ts, usd, price in zip(s.ts[tape], s.values[tape], at)]
        events.sort(key=lambda e: e.ts, reverse=True)
        largest_event = None
        if largest is not None:
            usd, ts, v, side = largest
            price = get(v, "price").asof(np.array([ts]), HOUR)[0] if len(get(v, "price")) else np.nan
            largest_event = LiquidationEvent(ts, v, side, usd, None if np.isnan(price) else float(price))
        hourly = hourly_totals(parts, start, t) if parts else Line((), ())
        signal = verdict.signals["liquidations"] if verdict else None
        return LiquidationsView(
            tuple(events[:40]), sums["long_1h"], sums["short_1h"], sums["long_24h"], sums["short_24h"],
            largest_event, signal.value if signal else None, signal.state if signal else "unknown",
            hourly, {v: n for v, n in notes.items() if v in venues},
            self.thresholds.liquidations_elevated, self.thresholds.liquidations_cascade, bool(parts),
            self.thresholds.liquidations_min_baseline_hours,
        )

    def _sentiment(self, get, asof, t) -> SentimentView:
        value = asof(MARKET, "fear_greed", 72 * HOUR, ALL_ASSETS)
        line = downsample(get(MARKET, "fear_greed", ALL_ASSETS), chart_window(t, HISTORY_SPAN), t)
        th = self.thresholds
        return SentimentView(value, fear_greed_label(value), line, th.sentiment_fear_max, th.sentiment_greed_above)

    def _flows(self, get, asof, venues, t) -> FlowsView:
        supply = get(MARKET, "stablecoin_supply_usd", ALL_ASSETS)
        now_value = asof(MARKET, "stablecoin_supply_usd", 72 * HOUR, ALL_ASSETS)

        def change(days: int) -> float | None:
            if now_value is None or not len(supply):
                return None
            then = supply.asof(np.array([t - days * DAY]), 72 * HOUR)[0]
            return None if np.isnan(then) or then <= 0 else now_value / float(then) - 1

        def volume(metric: str) -> float | None:
            parts = [get(v, metric) for v in venues if len(get(v, metric))]
            if not parts:
                return None
            return float(sum(p.window_sum(np.array([t - DAY]), np.array([t]))[0] for p in parts))

        return FlowsView(now_value, change(7), change(14),
                         downsample(supply, chart_window(t, HISTORY_SPAN), t),
                         volume("spot_volume_usd"), volume("perp_volume_usd"))


def _latest_price(series, asset: str, now: int | None) -> float | None:
    if now is None:
        return None
    for venue in (*VENUES, MARKET):
        s = series.get((venue, asset, "price"))
        if s is not None and len(s):
            v = s.asof(np.array([now]), 6 * HOUR)[0]
            if not np.isnan(v):
                return float(v)
    return None
