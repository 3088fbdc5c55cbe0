"""Forced liquidations: how many dollars are liquidated each minute, and the individual orders.

Liquidated notional per minute follows price through ranges: when price breaks below the lows
of the last 12 hours, the stops and liquidation levels of longs that accumulated there are hit
(and above the highs, shorts). The dollars hit per unit of move grow with leverage (coin OI
over its starting level), with crowding on that side, at round numbers where levels cluster, and
in a cascade, where forced selling moves price into the next levels. A small background of
liquidations of over-levered accounts runs all the time.

Individual orders are drawn per (seed, asset, venue, UTC day) from their own generator, so any
window query gives the same events however it is split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from levtop.sim.numeric import trailing_extreme

RANGE_WINDOW_MIN = 12 * 60
BACKGROUND_RATE = 2.6e-6
"""Fraction of OI (USD) liquidated per minute per side in a normal market."""
RANGE_BREAK_RATE = 0.04
"""Fraction of OI liquidated per unit of log-price beyond the 12h range, at starting leverage."""
ROUND_LEVEL_BOOST = 1.5
MAX_EVENTS_PER_MINUTE = 60.0
"""Beyond this rate per venue and side, orders get bigger rather than more numerous."""
SIZE_SIGMA = 1.3
"""Log-normal spread of order sizes: most are small, a few are whales."""
ROUND_LEVEL_SHARE = 0.5
"""Share of orders in a minute that crossed a round number that fill right at it."""

LONG, SHORT = "long", "short"


class Liquidation(NamedTuple):
    """One liquidation order. A NamedTuple: streams build thousands a second, and a frozen
    dataclass costs five times as much to make."""

    ts: int
    asset: str
    venue: str
    side: str
    """"long": a long position liquidated (the exchange SELLS); "short": a short liquidated (BUY)."""
    price: float
    qty: float
    """Base-asset units (coins)."""

    @property
    def notional(self) -> float:
        return self.price * self.qty


def _beyond_range(log_extreme: np.ndarray, window: int, below: bool) -> np.ndarray:
    """How far each minute's low (high) pushed past the previous ``window`` minutes' range."""
    previous = trailing_extreme(log_extreme, window, maximum=not below)
    previous = np.concatenate(([log_extreme[0]], previous[:-1]))
    excess = previous - log_extreme if below else log_extreme - previous
    return np.maximum(excess, 0.0)


def liquidation_intensity(*, log_low: np.ndarray, log_high: np.ndarray, oi_usd: np.ndarray,
                          leverage: np.ndarray, long_account: np.ndarray, activity: np.ndarray,
                          boost: np.ndarray, round_step: float, low: np.ndarray,
                          high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected USD of longs and of shorts liquidated per minute, all venues together."""
    crowd_long = long_account / 0.5
    crowd_short = (1.0 - long_account) / 0.5
    crossed_round = np.floor(low / round_step) != np.floor(high / round_step)
    levels = np.where(crossed_round, ROUND_LEVEL_BOOST, 1.0) * boost * leverage * RANGE_BREAK_RATE
    broke_low = _beyond_range(log_low, RANGE_WINDOW_MIN, below=True)
    broke_high = _beyond_range(log_high, RANGE_WINDOW_MIN, below=False)
    background = BACKGROUND_RATE * activity
    longs = oi_usd * (background * np.sqrt(crowd_long) + levels * crowd_long * broke_low)
    shorts = oi_usd * (background * np.sqrt(crowd_short) + levels * crowd_short * broke_high)
    return longs, shorts


@dataclass(frozen=True)
class EventBatch:
    """Liquidation orders as parallel arrays, sorted by time."""

    ts: np.ndarray
    is_long: np.ndarray
    price: np.ndarray
    qty: np.ndarray

    @staticmethod
    def empty() -> "EventBatch":
        return EventBatch(np.empty(0, np.int64), np.empty(0, bool), np.empty(0), np.empty(0))

    def __len__(self) -> int:
        return int(self.ts.size)

    def window(self, start_ms: int, end_ms: int) -> "EventBatch":
        a = int(np.searchsorted(self.ts, start_ms, side="left"))
        b = int(np.searchsorted(self.ts, end_ms, side="left"))
        return EventBatch(self.ts[a:b], self.is_long[a:b], self.price[a:b], self.qty[a:b])

    @staticmethod
    def concat(batches: list["EventBatch"]) -> "EventBatch":
        if not batches:
            return EventBatch.empty()
        return EventBatch(
            np.concatenate([b.ts for b in batches]),
            np.concatenate([b.is_long for b in batches]),
            np.concatenate([b.price for b in batches]),
            np.concatenate([b.qty for b in batches]),
        )


def _side_events(rng: np.random.Generator, minute_ts: np.ndarray, usd: np.ndarray, low: np.ndarray,
                 high: np.ndarray, mean_usd: float, lot: float, round_step: float, is_long: bool) -> EventBatch:
    mean_size = np.maximum(mean_usd, usd / MAX_EVENTS_PER_MINUTE)
    counts = rng.poisson(usd / mean_size)
    total = int(counts.sum())
    if total == 0:
        return EventBatch.empty()
    which = np.repeat(np.arange(minute_ts.size), counts)
    ts = minute_ts[which] + rng.integers(0, 60_000, total)
    size_usd = rng.lognormal(np.log(mean_size[which]) - SIZE_SIGMA**2 / 2, SIZE_SIGMA)
    lo, hi = low[which], high[which]
    # Longs are closed near the minute's low, shorts near its high.
    u = rng.random(total) ** 2
    price = lo + (hi - lo) * (u if is_long else 1.0 - u)
    # Stops cluster just beyond round numbers: a long's level sits right under one.
    level = np.ceil(lo / round_step) * round_step if is_long else np.floor(hi / round_step) * round_step
    at_level = (level >= lo) & (level <= hi) & (rng.random(total) < ROUND_LEVEL_SHARE)
    nudge = 1.0 - rng.random(total) * 0.0004 if is_long else 1.0 + rng.random(total) * 0.0004
    price = np.where(at_level, np.clip(level * nudge, lo, hi), price)
    qty = np.maximum(np.round(size_usd / price / lot), 1.0) * lot
    return EventBatch(ts.astype(np.int64), np.full(total, is_long), price, qty)


def generate_events(rng: np.random.Generator, minute_ts: np.ndarray, long_usd: np.ndarray,
                    short_usd: np.ndarray, low: np.ndarray, high: np.ndarray, mean_usd: float,
                    lot: float, round_step: float) -> EventBatch:
    """Liquidation orders for consecutive minutes of one venue, sorted by time."""
    longs = _side_events(rng, minute_ts, long_usd, low, high, mean_usd, lot, round_step, True)
    shorts = _side_events(rng, minute_ts, short_usd, low, high, mean_usd, lot, round_step, False)
    both = EventBatch.concat([longs, shorts])
    order = np.argsort(both.ts, kind="stable")
    qty_decimals = max(0, -math.floor(math.log10(lot))) if lot < 1 else 0
    return EventBatch(both.ts[order], both.is_long[order], both.price[order],
                      np.round(both.qty[order], qty_decimals + 2))
