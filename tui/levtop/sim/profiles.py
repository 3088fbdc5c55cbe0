"""What distinguishes assets and venues in the simulated market: sizes, shares, biases."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

VENUES: tuple[str, ...] = ("binance", "bybit", "okx")


@dataclass(frozen=True)
class AssetProfile:
    symbol: str
    price: float
    """Index price at the first modelled minute, before the scenario moves it."""
    oi_coins: float
    """Aggregate open interest across venues at the first modelled minute, in coins."""
    beta: float
    """Sensitivity to the market factor; scales drift, volatility and shocks."""
    idiosyncratic: float
    """Share of the asset's own noise in its returns (0: moves exactly with the market)."""
    premium_scale: float
    """Alts' perps run hotter and colder than BTC's."""
    perp_volume_coins_day: float
    spot_volume_ratio: float
    """Spot USD volume as a fraction of perp USD volume."""
    liquidation_mean_usd: float
    """Mean size of one liquidation order in calm conditions."""
    lot: float
    """Order quantity step (coins) on venues that quote quantities in coins."""


ASSET_PROFILES: dict[str, AssetProfile] = {
    p.symbol: p
    for p in (
        AssetProfile("BTC", 66_500.0, 128_000.0, 1.0, 0.3, 1.0, 340_000.0, 0.22, 9_000.0, 0.001),
        AssetProfile("ETH", 3_250.0, 1_500_000.0, 1.2, 0.45, 1.15, 4_400_000.0, 0.25, 6_000.0, 0.001),
        AssetProfile("SOL", 148.0, 13_500_000.0, 1.5, 0.55, 1.3, 42_000_000.0, 0.3, 3_500.0, 0.1),
    )
}

OKX_CONTRACT_SIZES: dict[str, float] = {"BTC": 0.01, "ETH": 0.1, "SOL": 1.0}


def asset_profile(symbol: str) -> AssetProfile:
    """The profile of a known asset, or a plausible mid-cap derived from the symbol's checksum."""
    known = ASSET_PROFILES.get(symbol)
    if known is not None:
        return known
    code = zlib.crc32(symbol.encode())
    price = float(10 ** ((code % 5) - 1)) * (1.0 + (code >> 8) % 90 / 10.0)
    oi_usd = 150e6 + (code >> 16) % 600 * 1e6
    return AssetProfile(
        symbol=symbol,
        price=price,
        oi_coins=oi_usd / price,
        beta=1.7,
        idiosyncratic=0.6,
        premium_scale=1.4,
        perp_volume_coins_day=oi_usd * 4.0 / price,
        spot_volume_ratio=0.3,
        liquidation_mean_usd=1_500.0,
        lot=round_lot(price),
    )


def round_lot(price: float) -> float:
    """A quantity step worth roughly one to ten dollars."""
    return float(10 ** math.floor(math.log10(10.0 / price))) if price > 0 else 1.0


def round_level_step(price: float) -> float:
    """Spacing of the round numbers traders put their stops at: 1000 for BTC, 100 for ETH."""
    return float(10 ** (math.floor(math.log10(price)) - 1))


def contract_size(asset: str, venue: str) -> float:
    """Coins per contract; 1.0 means the venue quotes quantities in coins."""
    if venue == "okx":
        return OKX_CONTRACT_SIZES.get(asset, 1.0)
    return 1.0


@dataclass(frozen=True)
class VenueProfile:
    name: str
    oi_share: float
    perp_volume_share: float
    spot_volume_share: float
    liquidation_share: float
    premium_offset: float
    """Persistent difference of this venue's perp premium (its crowd pays a little more or less)."""
    long_bias: float
    """Added to the fraction of accounts long: Binance's retail leans long."""
    top_bias: float
    index_offset: float
    """Each venue's index uses its own basket of spot prices."""


VENUE_PROFILES: dict[str, VenueProfile] = {
    v.name: v
    for v in (
        VenueProfile("binance", 0.52, 0.50, 0.60, 0.40, 0.00002, 0.02, 0.01, 0.00003),
        VenueProfile("bybit", 0.32, 0.30, 0.18, 0.40, 0.00005, 0.0, -0.01, -0.00002),
        VenueProfile("okx", 0.16, 0.20, 0.22, 0.20, -0.00003, -0.015, 0.015, 0.00001),
    )
}


def seed_key(value: int | str) -> int:
    """A stable non-negative integer for a seed part (Python's hash() is salted per process)."""
    if isinstance(value, str):
        return zlib.crc32(value.encode())
    return int(value) % (1 << 64)


def rng_for(seed: int, *parts: int | str) -> np.random.Generator:
    """A generator determined only by the seed and the named stream, in any process."""
    return np.random.default_rng([seed_key(seed), *(seed_key(p) for p in parts)])
