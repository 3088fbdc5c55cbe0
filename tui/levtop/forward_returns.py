"""Forward returns after RESTART and TRAP entries: what the asset's price did 7 and 30 days on.

Pure numpy over the engine's price series: no I/O, no clock. An entry is the first step of each
run of consecutive steps in one of the entry phases; its return over a horizon h is
``price(entry + h) / price(entry) - 1``, both prices as-of (design.md section 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from levtop.model import DAY, MARKET
from levtop.series import Series
from levtop.signals import RESTART, TRAP

ENTRY_PHASES: tuple[str, ...] = (RESTART, TRAP)
HORIZONS: tuple[tuple[str, int], ...] = (("7d", 7 * DAY), ("30d", 30 * DAY))

# Signals want a price at most 6h old, but a forward return only needs the close nearest the
# target: a dataset of daily closes (the FTX episode) must still give returns at 4h steps,
# while a price that stopped days before the target is no price for it.
PRICE_MAX_AGE = DAY

DATA_ENDS = "data ends"
NO_PRICE = "no price"


@dataclass(frozen=True)
class Entry:
    ts: int
    phase: str
    price: float | None
    returns: dict[str, float | None]
    """Horizon name ("7d", "30d") -> return as a fraction, None when it cannot be computed."""
    missing: dict[str, str | None]
    """Horizon name -> why its return is None (DATA_ENDS or NO_PRICE), None when it is there."""


@dataclass(frozen=True)
class HorizonStats:
    count: int
    """Entries that have this horizon's return; the figures below are over these."""
    mean: float | None
    median: float | None
    hit_rate: float | None
    """Share of those returns above zero."""


@dataclass(frozen=True)
class PhaseSummary:
    phase: str
    entries: int
    horizons: dict[str, HorizonStats]


@dataclass(frozen=True)
class ForwardReport:
    asset: str
    price_source: str | None
    """"market" or the venues whose prices are averaged; None when the asset has no price."""
    entries: list[Entry]
    summaries: list[PhaseSummary]


def entry_steps(times: Sequence[int], phases: Sequence[str],
                wanted: Sequence[str] = ENTRY_PHASES) -> list[tuple[int, str]]:
    """(ts, phase) of the first step of each run of consecutive steps in one wanted phase.

    A RESTART run followed at once by a TRAP run is two entries: the phase changed.
    """
    entries: list[tuple[int, str]] = []
    previous: str | None = None
    for ts, phase in zip(times, phases):
        if phase in wanted and phase != previous:
            entries.append((int(ts), phase))
        previous = phase
    return entries


def price_at(prices: Mapping[str, Series], times: np.ndarray) -> np.ndarray:
    """The asset's price as-of each time: a ``market`` series alone when there is one (the
    dataset's own aggregate), else the mean of the venues' prices; NaN where none is fresh."""
    times = np.asarray(times, dtype=np.int64)
    series = [prices[MARKET]] if MARKET in prices else [prices[v] for v in sorted(prices)]
    if not series:
        return np.full(times.shape, np.nan)
    stacked = np.vstack([s.asof(times, PRICE_MAX_AGE) for s in series])
    present = ~np.isnan(stacked)
    counts = present.sum(axis=0)
    totals = np.where(present, stacked, 0.0).sum(axis=0)
    return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)


def price_source(prices: Mapping[str, Series]) -> str | None:
    if MARKET in prices:
        return MARKET
    venues = sorted(v for v, s in prices.items() if len(s))
    if not venues:
        return None
    return venues[0] if len(venues) == 1 else "mean of " + ", ".join(venues)


def _stats(values: list[float]) -> HorizonStats:
    if not values:
        return HorizonStats(0, None, None, None)
    array = np.array(values, dtype=np.float64)
    return HorizonStats(len(values), float(array.mean()), float(np.median(array)),
                        float((array > 0).sum() / array.size))


def summarize(entries: Sequence[Entry], phases: Sequence[str] = ENTRY_PHASES) -> list[PhaseSummary]:
    """Per entry phase: how many entries, and per horizon the mean, median and hit rate of the
    returns that exist (an entry too close to the end of the data counts for 7d, not for 30d)."""
    summaries = []
    for phase in phases:
        own = [e for e in entries if e.phase == phase]
        horizons = {name: _stats([e.returns[name] for e in own if e.returns[name] is not None])
                    for name, _ in HORIZONS}
        summaries.append(PhaseSummary(phase, len(own), horizons))
    return summaries


def forward_returns(asset: str, times: Sequence[int], phases: Sequence[str],
                    prices: Mapping[str, Series], data_end: int) -> ForwardReport:
    """Entries of ``phases`` (one per step time) with their 7d and 30d forward returns.

    ``prices`` are the asset's price series per venue (the engine's ``venues("price")``), and
    ``data_end`` the time of the dataset's last sample: a target after it is "data ends", not a
    loss of price, since the price may well continue outside what was recorded.
    """
    found = entry_steps(times, phases)
    starts = np.array([ts for ts, _ in found], dtype=np.int64)
    entry_prices = price_at(prices, starts)
    later = {name: price_at(prices, starts + span) for name, span in HORIZONS}
    entries = []
    for i, (ts, phase) in enumerate(found):
        p0 = entry_prices[i]
        returns: dict[str, float | None] = {}
        missing: dict[str, str | None] = {}
        for name, span in HORIZONS:
            p1 = later[name][i]
            if ts + span > data_end:
                returns[name], missing[name] = None, DATA_ENDS
            elif np.isnan(p0) or np.isnan(p1) or p0 == 0:
                returns[name], missing[name] = None, NO_PRICE
            else:
                returns[name], missing[name] = float(p1 / p0 - 1.0), None
        entries.append(Entry(ts, phase, None if np.isnan(p0) else float(p0), returns, missing))
    return ForwardReport(asset, price_source(prices), entries, summarize(entries))
