"""The simulated market as levtop samples, at the granularity the live pipeline records.

Per venue and asset: every 5 minutes ``price`` (mark), ``oi_base``, ``oi_usd``,
``long_short_ratio`` and ``top_long_short_ratio``; ``funding_8h`` at every settlement; one
``liq_long_usd`` / ``liq_short_usd`` row per liquidation order; hourly ``perp_volume_usd`` and
``spot_volume_usd`` buckets. Market-wide (``venue="market"``, ``asset="*"``): daily
``fear_greed`` and ``stablecoin_supply_usd``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from levtop.model import ALL_ASSETS, HOUR, MARKET, MINUTE, SCHEMA, empty_frame
from levtop.sim.market import FUNDING_INTERVAL_H, Market

LEVEL_PERIOD = 5 * MINUTE
VOLUME_BUCKET = HOUR


def _block(ts: np.ndarray, venue: str, asset: str, metric: str, values: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": np.asarray(ts, dtype=np.int64),
            "venue": pl.repeat(venue, ts.size, eager=True, dtype=pl.String),
            "asset": pl.repeat(asset, ts.size, eager=True, dtype=pl.String),
            "metric": pl.repeat(metric, ts.size, eager=True, dtype=pl.String),
            "value": np.asarray(values, dtype=np.float64),
        },
        schema=SCHEMA,
    )


def _grid(market: Market, start_ms: int, end_ms: int, step: int) -> np.ndarray:
    lo = max(start_ms, market.first_ms)
    hi = min(end_ms, market.end_ms)
    first = -(-lo // step) * step
    return np.arange(first, hi + 1, step, dtype=np.int64) if first <= hi else np.empty(0, np.int64)


def _venue_blocks(market: Market, asset: str, venue: str, start_ms: int, end_ms: int) -> list[pl.DataFrame]:
    blocks: list[pl.DataFrame] = []
    ts = _grid(market, start_ms, end_ms, LEVEL_PERIOD)
    if ts.size:
        levels = market.venue_levels(asset, venue, ts)
        blocks += [
            _block(ts, venue, asset, "price", levels.mark_price),
            _block(ts, venue, asset, "oi_base", levels.oi_base),
            _block(ts, venue, asset, "oi_usd", levels.oi_base * levels.mark_price),
            _block(ts, venue, asset, "long_short_ratio", levels.long_account / (1.0 - levels.long_account)),
            _block(ts, venue, asset, "top_long_short_ratio",
                   levels.top_long_account / (1.0 - levels.top_long_account)),
        ]
    settle_ts, rates = market.funding_settlements(asset, venue, start_ms, end_ms)
    blocks.append(_block(settle_ts, venue, asset, "funding_8h", rates * 8.0 / FUNDING_INTERVAL_H))
    liq = market.liquidation_batch(asset, venue, start_ms, end_ms + 1)
    notional = liq.price * liq.qty
    blocks.append(_block(liq.ts[liq.is_long], venue, asset, "liq_long_usd", notional[liq.is_long]))
    blocks.append(_block(liq.ts[~liq.is_long], venue, asset, "liq_short_usd", notional[~liq.is_long]))
    # A bucket needs a full hour of modelled minutes behind it.
    bucket_ends = _grid(market, max(start_ms, market.first_ms + VOLUME_BUCKET), end_ms, VOLUME_BUCKET)
    perp, spot = market.volume_buckets(asset, venue, bucket_ends, VOLUME_BUCKET)
    blocks.append(_block(bucket_ends, venue, asset, "perp_volume_usd", perp))
    blocks.append(_block(bucket_ends, venue, asset, "spot_volume_usd", spot))
    return blocks


def _market_blocks(market: Market, start_ms: int, end_ms: int) -> list[pl.DataFrame]:
    macro = market.macro()
    keep = (macro.day_starts >= start_ms) & (macro.day_starts <= min(end_ms, market.end_ms))
    days = macro.day_starts[keep]
    return [
        _block(days, MARKET, ALL_ASSETS, "fear_greed", macro.fear_greed[keep].astype(np.float64)),
        _block(days, MARKET, ALL_ASSETS, "stablecoin_supply_usd", macro.stablecoin_supply[keep]),
    ]


def market_samples(market: Market, start_ms: int, end_ms: int) -> pl.DataFrame:
    """Every sample the live pipeline would record with ts in [start_ms, end_ms], sorted by ts."""
    start_ms, end_ms = int(start_ms), int(end_ms)
    if end_ms < start_ms:
        return empty_frame()
    blocks = [
        block
        for asset in market.assets
        for venue in market.venues
        for block in _venue_blocks(market, asset, venue, start_ms, end_ms)
    ]
    blocks += _market_blocks(market, start_ms, end_ms)
    frame = pl.concat([b for b in blocks if b.height], how="vertical")
    return frame.sort("ts", maintain_order=True)
