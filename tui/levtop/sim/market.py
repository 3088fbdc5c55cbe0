"""The simulated market: what every venue would report for every asset, minute by minute.

A :class:`Market` precomputes each asset's driving processes at 1-minute resolution from the
scenario and the seed (see :mod:`levtop.sim.processes`), and derives each venue's view on
demand: a small premium difference, a slowly drifting share of open interest, its own crowd's
long/short lean. Identical (scenario, seed, assets, start_ms) give identical answers, in any
process. Queries outside ``[first_ms, end_ms]`` clamp to it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from levtop.model import DAY, HOUR, MINUTE
from levtop.sim.liquidations import EventBatch, Liquidation, generate_events
from levtop.sim.macro import MacroSeries
from levtop.sim.processes import AssetPaths, VenueDeviations, build_asset_paths, market_factor
from levtop.sim.profiles import VENUE_PROFILES, asset_profile, rng_for, round_level_step
from levtop.sim.profiles import VENUES as _VENUES
from levtop.sim.profiles import contract_size as _contract_size
from levtop.sim.scenarios import SCENARIO_NAMES, scenario as load_scenario

__all__ = ["SCENARIOS", "VENUES", "Liquidation", "Tick", "Market", "VenueLevels", "funding_from_premium"]

SCENARIOS: tuple[str, ...] = SCENARIO_NAMES
VENUES: tuple[str, ...] = _VENUES

FUNDING_INTERVAL_H = 8
FUNDING_INTERVAL = FUNDING_INTERVAL_H * HOUR
INTEREST_RATE = 0.0001
"""The interest component of funding per interval: 0.01%/8h when perps trade at the index."""
PREMIUM_CLAMP = 0.0005
FUNDING_CAP = 0.003
LIQUIDATION_CACHE_DAYS = 512
TICK_CACHE_SIZE = 4096
BLOCK_MINUTES = 1440
"""The derived per-minute values of a venue (its levels, its minute candles) are computed a block
of this many minutes at a time and kept: a server asks for the same and neighbouring minutes
all the time (every poll, every symbol, the 24h stats of every ticker)."""
BLOCK_CACHE_SIZE = 64
"""Blocks kept, least recently used dropped: the live edge and its previous day for every
(asset, venue) and kind, with room for a backfill's walk through history."""
MAX_GATHER_BLOCKS = 4
"""A query spanning more blocks than this (bulk history) is computed directly, not cached."""
PREMIUM = 3
"""The premium's position in ``VenueLevels``."""


def funding_from_premium(mean_premium: np.ndarray | float) -> np.ndarray:
    """Binance's formula: premium plus the interest gap clamped to +-0.05%, capped.

    This is what keeps funding pinned at exactly 0.01% while perps trade close to the index.
    """
    p = np.asarray(mean_premium, dtype=np.float64)
    rate = p + np.clip(INTEREST_RATE - p, -PREMIUM_CLAMP, PREMIUM_CLAMP)
    return np.clip(rate, -FUNDING_CAP, FUNDING_CAP)


@dataclass(frozen=True)
class Tick:
    """One venue's view of one asset, as of one minute."""

    ts: int
    mark_price: float
    index_price: float
    last_price: float
    oi_base: float
    funding_rate: float
    funding_interval_h: int
    next_funding_ts: int
    long_short_ratio: float
    long_account: float
    top_long_short_ratio: float
    top_long_account: float
    volume_base_24h: float
    volume_quote_24h: float
    spot_volume_quote_24h: float
    high_24h: float
    low_24h: float
    open_24h: float


class VenueLevels(NamedTuple):
    """Level values of one venue at a set of minutes (parallel arrays)."""

    index_price: np.ndarray
    mark_price: np.ndarray
    last_price: np.ndarray
    premium: np.ndarray
    oi_base: np.ndarray
    long_account: np.ndarray
    top_long_account: np.ndarray


def _ratio(long_account: np.ndarray) -> np.ndarray:
    return long_account / (1.0 - long_account)


def _last_price_jitter(minute_index: np.ndarray) -> np.ndarray:
    """A deterministic +-1.5 bp difference between last trade and mark, from the minute number."""
    h = (minute_index.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(1000)
    return (h.astype(np.float64) / 1000.0 - 0.5) * 0.0003


class Market:
    def __init__(self, scenario: str = "recovery", seed: int = 1,
                 assets: Sequence[str] = ("BTC", "ETH", "SOL"), start_ms: int | None = None,
                 history_days: int = 35, horizon_days: int = 45) -> None:
        story = load_scenario(scenario)
        if history_days < 1 or horizon_days < 0:
            raise ValueError("history_days must be >= 1 and horizon_days >= 0")
        if start_ms is None:
            start_ms = int(time.time() * 1000)
        self.scenario: str = scenario
        self.seed: int = seed
        self.assets: tuple[str, ...] = tuple(dict.fromkeys(a.upper() for a in assets))
        self.venues: tuple[str, ...] = VENUES
        self.start_ms: int = int(start_ms) - int(start_ms) % MINUTE
        self.first_ms: int = self.start_ms - history_days * DAY
        self.end_ms: int = self.start_ms + horizon_days * DAY
        self._minutes = (self.end_ms - self.first_ms) // MINUTE + 1
        factor = market_factor(seed, self._minutes)
        self._paths: dict[str, AssetPaths] = {
            asset: build_asset_paths(story, asset_profile(asset), seed, self.first_ms, self.start_ms,
                                     self._minutes, factor, self.venues)
            for asset in self.assets
        }
        self._macro = MacroSeries.build(story, seed, self.first_ms, self.end_ms, self.start_ms)
        self._liquidation_days: OrderedDict[tuple[str, str, int], EventBatch] = OrderedDict()
        self._ticks: OrderedDict[tuple[str, str, int], Tick] = OrderedDict()
        self._blocks: OrderedDict[tuple[str, str, str, int], tuple[np.ndarray, ...]] = OrderedDict()

    # -- time -------------------------------------------------------------------------------

    def clamp(self, ts: int) -> int:
        return min(max(int(ts), self.first_ms), self.end_ms)

    def minute_index(self, ts: np.ndarray | int) -> np.ndarray | int:
        """Index of the modelled minute containing each ts, clamped to the modelled range."""
        if type(ts) is int:  # one time, asked by every request: plain arithmetic, no arrays
            return min(max((ts - self.first_ms) // MINUTE, 0), self._minutes - 1)
        offset = np.asarray(ts, dtype=np.int64) - self.first_ms
        return np.clip(offset // MINUTE, 0, self._minutes - 1)

    def _grid(self, start_ms: int, end_ms: int, step_ms: int) -> np.ndarray:
        """Multiples of ``step_ms`` in [start_ms, end_ms] within the modelled range."""
        if step_ms <= 0:
            raise ValueError("period must be positive")
        lo = max(int(start_ms), self.first_ms)
        hi = min(int(end_ms), self.end_ms)
        first = -(-lo // step_ms) * step_ms
        if first > hi:
            return np.empty(0, dtype=np.int64)
        return np.arange(first, hi + 1, step_ms, dtype=np.int64)

    # -- per venue levels -------------------------------------------------------------------

    def _asset(self, asset: str) -> AssetPaths:
        try:
            return self._paths[asset]
        except KeyError:
            raise KeyError(f"asset {asset!r} is not simulated (have {', '.join(self.assets)})") from None

    def _venue(self, paths: AssetPaths, venue: str) -> VenueDeviations:
        try:
            return paths.venues[venue]
        except KeyError:
            raise KeyError(f"venue {venue!r} is not simulated (have {', '.join(self.venues)})") from None

    def _oi_share(self, paths: AssetPaths, venue: str, idx: np.ndarray) -> np.ndarray:
        """The venue's share of aggregate OI; shares of all venues sum to one."""
        weights = {
            v: VENUE_PROFILES[v].oi_share * np.exp(VenueDeviations.at(dev.oi_share, idx))
            for v, dev in paths.venues.items()
        }
        return weights[venue] / sum(weights.values())

    def venue_premium(self, asset: str, venue: str, idx: np.ndarray) -> np.ndarray:
        paths = self._asset(asset)
        dev = self._venue(paths, venue)
        return (paths.premium[idx].astype(np.float64) + VENUE_PROFILES[venue].premium_offset
                + VenueDeviations.at(dev.premium, idx))

    def venue_levels(self, asset: str, venue: str, ts: np.ndarray | int) -> VenueLevels:
        """Prices, OI and crowd positioning of a venue as of the minutes containing ``ts``."""
        idx = self.minute_index(np.atleast_1d(ts))
        return VenueLevels(*self._gathered(asset, venue, "levels", idx))

    def _levels_at(self, asset: str, venue: str, idx: np.ndarray) -> VenueLevels:
        paths = self._asset(asset)
        dev = self._venue(paths, venue)
        profile = VENUE_PROFILES[venue]
        index_price = paths.price[idx] * (1.0 + profile.index_offset)
        premium = self.venue_premium(asset, venue, idx)
        mark = paths.price[idx] * (1.0 + premium)
        last = self._last_prices(paths, premium, idx)
        longs = np.clip(paths.long_account[idx] + profile.long_bias + VenueDeviations.at(dev.long_account, idx),
                        0.15, 0.88)
        # Top traders lean the same way as the crowd, less hard, and on their own schedule.
        top = np.clip(0.5 + 0.6 * (paths.long_account[idx] - 0.5) + profile.top_bias
                      + VenueDeviations.at(dev.top_account, idx), 0.15, 0.88)
        oi = paths.oi_base[idx].astype(np.float64) * self._oi_share(paths, venue, idx)
        return VenueLevels(index_price, mark, last, premium, oi, longs, top)

    @staticmethod
    def _last_prices(paths: AssetPaths, premium: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Last traded price: the mark (index plus the venue's premium) give or take a tick."""
        return paths.price[idx] * (1.0 + premium) * (1.0 + _last_price_jitter(idx))

    def _minute_candles(self, asset: str, venue: str, a: int, b: int,
                        spot: bool = False) -> tuple[np.ndarray, ...]:
        """(open, high, low, close, volume_base, volume_quote) of minutes a..b-1 of a venue's
        perp, or with ``spot`` of its USDT spot pair."""
        return tuple(self._span(asset, venue, "spot" if spot else "perp", a, b))

    def _candles_between(self, asset: str, venue: str, a: int, b: int,
                         spot: bool = False) -> tuple[np.ndarray, ...]:
        """What ``_minute_candles`` gives, computed (each minute's open is the close before it)."""
        paths = self._asset(asset)
        idx = np.arange(max(a - 1, 0), b)
        closes = self._spot_prices(paths, venue, idx) if spot else self._last_prices(
            paths, self.venue_premium(asset, venue, idx), idx)
        opens = np.concatenate(([closes[0]], closes[:-1]))
        if a > 0:
            closes, opens = closes[1:], opens[1:]
        idx = idx[idx >= a]
        high = np.maximum(opens, closes) * (1.0 + paths.wick_up[idx])
        low = np.minimum(opens, closes) * (1.0 - paths.wick_down[idx])
        if spot:
            vol_quote = np.diff(paths.spot_quote_cumsum[a:b + 1]) * VENUE_PROFILES[venue].spot_volume_share
            # Each minute's coins at that minute's price, so a candle's VWAP stays inside its range.
            return opens, high, low, closes, vol_quote / closes, vol_quote
        share = VENUE_PROFILES[venue].perp_volume_share
        vol_base = np.diff(paths.perp_volume_cumsum[a:b + 1]) * share
        vol_quote = np.diff(paths.perp_quote_cumsum[a:b + 1]) * share
        return opens, high, low, closes, vol_base, vol_quote

    def _spot_prices(self, paths: AssetPaths, venue: str, idx: np.ndarray) -> np.ndarray:
        """The spot pair's price: the venue's index, as the spot tickers report it (the index is
        built from spot books, so no premium and no perp trade jitter)."""
        self._venue(paths, venue)
        return paths.price[idx] * (1.0 + VENUE_PROFILES[venue].index_offset)

    # -- the contract -----------------------------------------------------------------------

    def contract_size(self, asset: str, venue: str) -> float:
        return _contract_size(asset, venue)

    def tick(self, asset: str, venue: str, ts: int) -> Tick:
        # Servers ask for the same minute many times (every poll, every symbol list).
        key = (asset, venue, int(self.minute_index(ts)))
        cached = self._ticks.get(key)
        if cached is None:
            cached = self._ticks[key] = self._compute_tick(asset, venue, key[2])
            if len(self._ticks) > TICK_CACHE_SIZE:
                self._ticks.popitem(last=False)
        return cached

    def _compute_tick(self, asset: str, venue: str, i: int) -> Tick:
        paths = self._asset(asset)
        minute_ts = self.first_ms + i * MINUTE
        levels = self.venue_levels(asset, venue, minute_ts)
        interval_start = minute_ts - minute_ts % FUNDING_INTERVAL
        funding = self._running_funding(asset, venue, interval_start, i)
        day_ago = max(i - 24 * 60 + 1, 0)
        opens, high, low, _, _, _ = self._minute_candles(asset, venue, day_ago, i + 1)
        base_share = VENUE_PROFILES[venue].perp_volume_share
        spot_share = VENUE_PROFILES[venue].spot_volume_share
        return Tick(
            ts=minute_ts,
            mark_price=float(levels.mark_price[0]),
            index_price=float(levels.index_price[0]),
            last_price=float(levels.last_price[0]),
            oi_base=float(levels.oi_base[0]),
            funding_rate=funding,
            funding_interval_h=FUNDING_INTERVAL_H,
            next_funding_ts=interval_start + FUNDING_INTERVAL,
            long_short_ratio=float(_ratio(levels.long_account[0])),
            long_account=float(levels.long_account[0]),
            top_long_short_ratio=float(_ratio(levels.top_long_account[0])),
            top_long_account=float(levels.top_long_account[0]),
            volume_base_24h=float(paths.perp_volume_cumsum[i + 1] - paths.perp_volume_cumsum[day_ago]) * base_share,
            volume_quote_24h=float(paths.perp_quote_cumsum[i + 1] - paths.perp_quote_cumsum[day_ago]) * base_share,
            spot_volume_quote_24h=float(paths.spot_quote_cumsum[i + 1] - paths.spot_quote_cumsum[day_ago]) * spot_share,
            high_24h=float(high.max()),
            low_24h=float(low.min()),
            open_24h=float(opens[0]),
        )

    def _running_funding(self, asset: str, venue: str, interval_start: int, i: int) -> float:
        """The predicted rate: the formula on the mean premium of the interval so far."""
        i0 = int(self.minute_index(interval_start))
        premium = self._premium(asset, venue, np.arange(i0, i + 1))
        return float(funding_from_premium(premium.mean()))

    def _premium(self, asset: str, venue: str, idx: np.ndarray) -> np.ndarray:
        """``venue_premium`` at the contiguous minute indices ``idx``, from the cached blocks."""
        return self._span(asset, venue, "levels", int(idx[0]), int(idx[-1]) + 1, (PREMIUM,))[0]

    # -- blocks of minutes ------------------------------------------------------------------
    # Every derived value is computed element by element from its own minute (a candle's open
    # from the minute before), so a value read from a block is the very float a direct
    # computation gives, and cached and direct answers are identical.

    def _block(self, asset: str, venue: str, kind: str, k: int) -> tuple[np.ndarray, ...]:
        """The arrays of one kind ("levels", "perp" or "spot" candles) for minutes
        ``[k * BLOCK_MINUTES, (k + 1) * BLOCK_MINUTES)``, computed once, read-only."""
        key = (asset, venue, kind, k)
        block = self._blocks.get(key)
        if block is not None:
            self._blocks.move_to_end(key)
            return block
        lo = k * BLOCK_MINUTES
        block = self._computed(asset, venue, kind, lo, min(lo + BLOCK_MINUTES, self._minutes))
        for array in block:
            array.flags.writeable = False  # callers get views of it
        self._blocks[key] = block
        if len(self._blocks) > BLOCK_CACHE_SIZE:
            self._blocks.popitem(last=False)
        return block

    def _computed(self, asset: str, venue: str, kind: str, a: int, b: int,
                  idx: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """The arrays of ``kind`` for minutes [a, b) (levels: or at ``idx``), computed directly."""
        if kind == "levels":
            return tuple(self._levels_at(asset, venue, np.arange(a, b) if idx is None else idx))
        return self._candles_between(asset, venue, a, b, spot=kind == "spot")

    def _span(self, asset: str, venue: str, kind: str, a: int, b: int,
              fields: Sequence[int] | None = None) -> list[np.ndarray]:
        """The arrays (or those at positions ``fields``) of ``kind`` for minutes [a, b)."""
        if b <= a:
            count = len(VenueLevels._fields) if kind == "levels" else 6
            return [np.empty(0) for _ in range(count if fields is None else len(fields))]
        first, last = a // BLOCK_MINUTES, (b - 1) // BLOCK_MINUTES
        if last - first >= MAX_GATHER_BLOCKS:
            arrays = self._computed(asset, venue, kind, a, b)
            return list(arrays) if fields is None else [arrays[f] for f in fields]
        parts: list[list[np.ndarray]] = []
        for k in range(first, last + 1):
            block = self._block(asset, venue, kind, k)
            base = k * BLOCK_MINUTES
            cut = slice(max(a, base) - base, min(b, base + BLOCK_MINUTES) - base)
            parts.append([array[cut] for array in (block if fields is None else [block[f] for f in fields])])
        if len(parts) == 1:
            return parts[0]
        return [np.concatenate(pieces) for pieces in zip(*parts)]

    def _gathered(self, asset: str, venue: str, kind: str, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        """The level arrays at any minute indices ``idx`` (in range)."""
        if idx.size == 0:
            return self._computed(asset, venue, kind, 0, 0, idx)
        first, last = int(idx.min()) // BLOCK_MINUTES, int(idx.max()) // BLOCK_MINUTES
        if last - first >= MAX_GATHER_BLOCKS:
            return self._computed(asset, venue, kind, 0, 0, idx)
        if first == last:
            block = self._block(asset, venue, kind, first)
            return tuple(array[idx - first * BLOCK_MINUTES] for array in block)
        span = self._span(asset, venue, kind, first * BLOCK_MINUTES, (last + 1) * BLOCK_MINUTES)
        return tuple(array[idx - first * BLOCK_MINUTES] for array in span)

    def candles(self, asset: str, venue: str, start_ms: int, end_ms: int, interval_ms: int,
                spot: bool = False) -> list[tuple[int, float, float, float, float, float, float]]:
        """(open ts, o, h, l, c, volume_base, volume_quote) per interval of the venue's perp, or
        with ``spot`` of its USDT spot pair (the model's spot volume, priced at the index)."""
        if interval_ms <= 0 or interval_ms % MINUTE:
            raise ValueError("candle interval must be a positive multiple of one minute")
        opens_ts = np.arange(-(-int(start_ms) // interval_ms) * interval_ms, int(end_ms) + 1, interval_ms,
                             dtype=np.int64)
        last_minute = min(int(end_ms), self.end_ms)
        opens_ts = opens_ts[(opens_ts + interval_ms > self.first_ms) & (opens_ts <= last_minute)]
        if opens_ts.size == 0:
            return []
        a = int(self.minute_index(max(int(opens_ts[0]), self.first_ms)))
        b = int(self.minute_index(last_minute)) + 1
        o, h, l, c, vb, vq = self._minute_candles(asset, venue, a, b, spot)
        minute_ts = self.first_ms + np.arange(a, b, dtype=np.int64) * MINUTE
        bucket = (minute_ts - opens_ts[0]) // interval_ms
        starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        ends = np.r_[starts[1:], bucket.size] - 1
        rows = zip(
            opens_ts[0] + bucket[starts] * interval_ms,
            o[starts],
            np.maximum.reduceat(h, starts),
            np.minimum.reduceat(l, starts),
            c[ends],
            np.add.reduceat(vb, starts),
            np.add.reduceat(vq, starts),
        )
        return [(int(t), float(op), float(hi), float(lo), float(cl), float(v), float(q))
                for t, op, hi, lo, cl, v, q in rows]

    def oi_history(self, asset: str, venue: str, start_ms: int, end_ms: int,
                   period_ms: int) -> list[tuple[int, float, float]]:
        ts = self._grid(start_ms, end_ms, period_ms)
        if ts.size == 0:
            return []
        levels = self.venue_levels(asset, venue, ts)
        usd = levels.oi_base * levels.mark_price
        return [(int(t), float(o), float(u)) for t, o, u in zip(ts, levels.oi_base, usd)]

    def long_short_history(self, asset: str, venue: str, start_ms: int, end_ms: int, period_ms: int,
                           top: bool = False) -> list[tuple[int, float, float]]:
        ts = self._grid(start_ms, end_ms, period_ms)
        if ts.size == 0:
            return []
        levels = self.venue_levels(asset, venue, ts)
        longs = levels.top_long_account if top else levels.long_account
        return [(int(t), float(r), float(x)) for t, r, x in zip(ts, _ratio(longs), longs)]

    def funding_history(self, asset: str, venue: str, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        times, rates = self.funding_settlements(asset, venue, start_ms, end_ms)
        return [(int(t), float(r)) for t, r in zip(times, rates)]

    def funding_settlements(self, asset: str, venue: str, start_ms: int,
                            end_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """Settlement times in [start_ms, end_ms] after the first modelled minute, and their rates."""
        times = self._grid(max(int(start_ms), self.first_ms + 1), end_ms, FUNDING_INTERVAL)
        if times.size == 0:
            return times, np.empty(0)
        lo = int(self.minute_index(times[0] - FUNDING_INTERVAL))
        hi = int(self.minute_index(times[-1] - MINUTE)) + 1
        premium = self._premium(asset, venue, np.arange(lo, hi))
        prefix = np.concatenate(([0.0], np.cumsum(premium)))
        # Each settlement pays on the premium averaged over the interval it closes.
        a = self.minute_index(times - FUNDING_INTERVAL) - lo
        b = self.minute_index(times - MINUTE) - lo + 1
        return times, funding_from_premium((prefix[b] - prefix[a]) / (b - a))

    def liquidation_batch(self, asset: str, venue: str, start_ms: int, end_ms: int) -> EventBatch:
        """Liquidation orders with start_ms <= ts < end_ms as parallel arrays, sorted by ts."""
        lo = max(int(start_ms), self.first_ms)
        hi = min(int(end_ms), self.end_ms + MINUTE)
        if hi <= lo:
            return EventBatch.empty()
        days = range(lo // DAY, (hi - 1) // DAY + 1)
        # Each day cut to the window first: a stream asks for a fraction of a second of a day
        # five times a second, and concatenating whole days copied them every time.
        parts = [self._liquidation_day(asset, venue, d).window(lo, hi) for d in days]
        return parts[0] if len(parts) == 1 else EventBatch.concat(parts)

    def liquidations(self, asset: str, venue: str, start_ms: int, end_ms: int) -> list[Liquidation]:
        batch = self.liquidation_batch(asset, venue, start_ms, end_ms)
        # tolist() converts in C, to the same Python ints and floats as int() and float() each.
        return [
            Liquidation(t, asset, venue, "long" if is_long else "short", p, q)
            for t, is_long, p, q in zip(batch.ts.tolist(), batch.is_long.tolist(), batch.price.tolist(),
                                        batch.qty.tolist())
        ]

    def _liquidation_day(self, asset: str, venue: str, day: int) -> EventBatch:
        key = (asset, venue, day)
        cached = self._liquidation_days.get(key)
        if cached is not None:
            self._liquidation_days.move_to_end(key)
            return cached
        batch = self._generate_liquidation_day(asset, venue, day)
        self._liquidation_days[key] = batch
        if len(self._liquidation_days) > LIQUIDATION_CACHE_DAYS:
            self._liquidation_days.popitem(last=False)
        return batch

    def _generate_liquidation_day(self, asset: str, venue: str, day: int) -> EventBatch:
        paths = self._asset(asset)
        self._venue(paths, venue)
        a = max(day * DAY, self.first_ms)
        b = min((day + 1) * DAY, self.end_ms + MINUTE)
        if b <= a:
            return EventBatch.empty()
        ia, ib = int(self.minute_index(a)), int(self.minute_index(b - MINUTE)) + 1
        _, high, low, _, _, _ = self._minute_candles(asset, venue, ia, ib)
        share = VENUE_PROFILES[venue].liquidation_share
        lot = paths.profile.lot if venue != "okx" else max(paths.profile.lot, self.contract_size(asset, venue))
        return generate_events(
            rng=rng_for(self.seed, asset, venue, "liquidations", day),
            minute_ts=self.first_ms + np.arange(ia, ib, dtype=np.int64) * MINUTE,
            long_usd=paths.liq_long_usd[ia:ib].astype(np.float64) * share,
            short_usd=paths.liq_short_usd[ia:ib].astype(np.float64) * share,
            low=low,
            high=high,
            mean_usd=paths.profile.liquidation_mean_usd,
            lot=lot,
            round_step=round_level_step(paths.profile.price),
        )

    def fear_greed_history(self, end_ms: int, days: int) -> list[tuple[int, int, str]]:
        return self._macro.fear_greed_history(min(int(end_ms), self.end_ms), days)

    def stablecoin_history(self, end_ms: int) -> list[tuple[int, float]]:
        return self._macro.stablecoin_history(min(int(end_ms), self.end_ms))

    # -- bulk access for samples ------------------------------------------------------------

    def volume_buckets(self, asset: str, venue: str, bucket_ends: np.ndarray,
                       bucket_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """(perp, spot) USD traded in the minutes of (end - bucket_ms, end] buckets."""
        paths = self._asset(asset)
        self._venue(paths, venue)
        a = self.minute_index(bucket_ends - bucket_ms)
        b = self.minute_index(bucket_ends)
        perp = (paths.perp_quote_cumsum[b] - paths.perp_quote_cumsum[a]) * VENUE_PROFILES[venue].perp_volume_share
        spot = (paths.spot_quote_cumsum[b] - paths.spot_quote_cumsum[a]) * VENUE_PROFILES[venue].spot_volume_share
        return perp, spot

    def macro(self) -> MacroSeries:
        return self._macro
