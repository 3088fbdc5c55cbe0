"""The data model: samples, metric names, venue and asset ids (design.md section 2).

Everything the engine knows is a sample ``(ts, venue, asset, metric, value)``:
``ts`` in integer milliseconds since the Unix epoch (UTC), the time the value refers to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Iterable, NamedTuple

if TYPE_CHECKING:
    import polars as pl

MS = 1
SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

VENUES: tuple[str, ...] = ("binance", "bybit", "okx")
MARKET = "market"
"""The venue of market-wide series (Fear & Greed, stablecoin supply, index prices)."""
ALL_ASSETS = "*"
"""The asset of market-wide series."""


class Kind(Enum):
    LEVEL = "level"
    """As-of: the value at t is the last observation with ts <= t."""
    ADDITIVE = "additive"
    """Summed over a window (t - w, t]."""


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    kind: Kind
    description: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("price", "USD", Kind.LEVEL, "perp mark or last/close price"),
        Metric("oi_base", "coins", Kind.LEVEL, "open interest in base-asset units"),
        Metric("oi_usd", "USD", Kind.LEVEL, "open interest notional"),
        Metric("funding_8h", "fraction", Kind.LEVEL, "funding rate normalized to 8 hours"),
        Metric("long_short_ratio", "ratio", Kind.LEVEL, "global accounts long/short"),
        Metric("top_long_short_ratio", "ratio", Kind.LEVEL, "top traders' positions long/short"),
        Metric("liq_long_usd", "USD", Kind.ADDITIVE, "notional of long positions liquidated"),
        Metric("liq_short_usd", "USD", Kind.ADDITIVE, "notional of short positions liquidated"),
        Metric("spot_volume_usd", "USD", Kind.ADDITIVE, "spot volume in the bucket ending at ts"),
        Metric("perp_volume_usd", "USD", Kind.ADDITIVE, "perp volume in the bucket ending at ts"),
        Metric("fear_greed", "0-100", Kind.LEVEL, "Crypto Fear & Greed Index"),
        Metric("stablecoin_supply_usd", "USD", Kind.LEVEL, "total stablecoin supply"),
    )
}

COLUMNS: tuple[str, ...] = ("ts", "venue", "asset", "metric", "value")


@cache
def polars_schema() -> dict[str, pl.DataType]:
    """The dtypes of COLUMNS. Built on first use, as ``SCHEMA`` is: importing polars takes a
    quarter of a second, which the config and the TUI's first frame need not wait for."""
    import polars as pl

    return {"ts": pl.Int64(), "venue": pl.String(), "asset": pl.String(), "metric": pl.String(),
            "value": pl.Float64()}


def __getattr__(name: str) -> object:
    if name == "SCHEMA":
        return polars_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

_VENUE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_ASSET_RE = re.compile(r"^[A-Z0-9]{1,20}$")


class Sample(NamedTuple):
    ts: int
    venue: str
    asset: str
    metric: str
    value: float


def is_valid_venue(venue: str) -> bool:
    return bool(_VENUE_RE.match(venue))


def is_valid_asset(asset: str) -> bool:
    return asset == ALL_ASSETS or bool(_ASSET_RE.match(asset))


def empty_frame() -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(schema=polars_schema())


def samples_frame(samples: Iterable[Sample]) -> pl.DataFrame:
    """A long frame with the dataset columns from samples."""
    import polars as pl

    rows = list(samples)
    if not rows:
        return empty_frame()
    ts, venue, asset, metric, value = zip(*rows)
    return pl.DataFrame(
        {"ts": ts, "venue": venue, "asset": asset, "metric": metric, "value": value},
        schema=polars_schema(),
    )


def frame_samples(frame: pl.DataFrame) -> list[Sample]:
    return [Sample(*row) for row in frame.select(COLUMNS).iter_rows()]
