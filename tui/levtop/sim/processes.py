"""The driving processes of one asset, precomputed at 1-minute resolution.

Everything a venue shows is derived from these arrays plus small per-venue deviations, so a
lookup is an index and a few multiplications. Prices are float64; the rest float32, which keeps
an 80-day asset at about 10 MB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from levtop.model import DAY, HOUR, MINUTE
from levtop.sim.liquidations import liquidation_intensity
from levtop.sim.numeric import decay_for_half_life, ou_filter, stationary_ou
from levtop.sim.profiles import VENUE_PROFILES, AssetProfile, VenueProfile, rng_for, round_level_step
from levtop.sim.scenarios import Scenario, Shock, interpolate

MINUTES_PER_DAY = DAY // MINUTE
MARKET_STREAM = "market-factor"

# Half-lives (in minutes) of the noise processes: how long a deviation takes to fade.
PRICE_REVERSION_MIN = 1.5 * MINUTES_PER_DAY   # price wanders around the scenario's trend
VOL_CLUSTER_HOURS = 12.0                      # calm and busy stretches
OI_NOISE_MIN = 8 * 60
PREMIUM_NOISE_MIN = 3 * 60
LONGS_NOISE_MIN = 12 * 60

VOL_CLUSTER_STD = 0.25
OI_NOISE_STD = 0.005
PREMIUM_NOISE_STD = 0.00012
LONGS_NOISE_STD = 0.012
STUDENT_T_DF = 5.0


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def shock_price_offset(shock: Shock, hours: np.ndarray, beta: float) -> np.ndarray:
    """Log-price offset of a flush: a waterfall to an undershooting wick, then a partial bounce."""
    settled = beta * math.log(1.0 - shock.price_drop)
    u = (hours - shock.at_h) / shock.duration_h
    waterfall = (1.0 + shock.wick) * _smoothstep(u)
    bounce = shock.wick * _smoothstep(u - 1.0)
    return settled * (waterfall - bounce)


def shock_oi_offset(shock: Shock, hours: np.ndarray) -> np.ndarray:
    """Log coin-OI offset: three quarters closed in the waterfall, the rest cut over the bleed."""
    total = math.log(1.0 - shock.oi_drop)
    forced = 0.75 * _smoothstep((hours - shock.at_h) / shock.duration_h)
    bleed = 0.25 * _smoothstep((hours - shock.at_h - shock.duration_h) / shock.oi_bleed_h)
    return total * (forced + bleed)


def shock_liquidation_boost(shock: Shock, hours: np.ndarray) -> np.ndarray:
    """Extra liquidations per unit of price move while forced selling feeds on itself."""
    u = (hours - shock.at_h) / shock.duration_h
    inside = np.clip(1.0 - np.abs(u - 0.6) / 0.9, 0.0, 1.0)
    return (shock.liquidation_boost - 1.0) * inside


@dataclass(frozen=True)
class MarketFactor:
    """Noise shared by every asset: crypto moves together."""

    returns: np.ndarray
    """Unit-variance fat-tailed minute shocks."""
    vol_cluster: np.ndarray
    """Multiplier of volatility, mean about 1, slowly varying."""


def market_factor(seed: int, minutes: int) -> MarketFactor:
    rng = rng_for(seed, MARKET_STREAM)
    t = rng.standard_t(STUDENT_T_DF, minutes) / math.sqrt(STUDENT_T_DF / (STUDENT_T_DF - 2.0))
    hours = minutes // 60 + 2
    log_vol = stationary_ou(rng, hours, VOL_CLUSTER_HOURS, VOL_CLUSTER_STD)
    cluster = np.exp(np.interp(np.arange(minutes) / 60.0, np.arange(hours), log_vol) - VOL_CLUSTER_STD**2 / 2)
    return MarketFactor(t, cluster)


@dataclass(frozen=True)
class VenueDeviations:
    """Slow per-venue departures from the asset-wide processes, at hourly resolution."""

    oi_share: np.ndarray
    premium: np.ndarray
    long_account: np.ndarray
    top_account: np.ndarray

    @staticmethod
    def build(seed: int, asset: str, venue: str, hours: int) -> "VenueDeviations":
        rng = rng_for(seed, asset, venue, "venue-deviations")
        return VenueDeviations(
            oi_share=stationary_ou(rng, hours, 48.0, 0.04).astype(np.float32),
            premium=stationary_ou(rng, hours, 4.0, 0.00004).astype(np.float32),
            long_account=stationary_ou(rng, hours, 12.0, 0.012).astype(np.float32),
            top_account=stationary_ou(rng, hours, 24.0, 0.02).astype(np.float32),
        )

    @staticmethod
    def at(series: np.ndarray, minute_index: np.ndarray) -> np.ndarray:
        """Linear interpolation of an hourly series at minute indices."""
        return np.interp(minute_index / 60.0, np.arange(series.size), series)


@dataclass(frozen=True)
class AssetPaths:
    """One asset's market, minute by minute from ``first_ms``."""

    profile: AssetProfile
    first_ms: int
    price: np.ndarray
    """Index price at the close of each minute (float64)."""
    wick_up: np.ndarray
    wick_down: np.ndarray
    """Candle wicks as fractions beyond max(open, close) and min(open, close)."""
    premium: np.ndarray
    premium_cumsum: np.ndarray
    """Prefix sums with a leading zero, for interval means of the premium."""
    oi_base: np.ndarray
    """Aggregate coin open interest across venues."""
    long_account: np.ndarray
    perp_volume_cumsum: np.ndarray
    perp_quote_cumsum: np.ndarray
    spot_quote_cumsum: np.ndarray
    liq_long_usd: np.ndarray
    liq_short_usd: np.ndarray
    """Expected USD liquidated per minute, all venues together."""
    venues: dict[str, VenueDeviations]

    @property
    def minutes(self) -> int:
        return int(self.price.size)

    def venue_profile(self, venue: str) -> VenueProfile:
        return VENUE_PROFILES[venue]


def _price_path(scenario: Scenario, profile: AssetProfile, hours: np.ndarray, factor: MarketFactor,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log close, minute-return shocks in units of sigma, daily vol) of the index price."""
    vol = interpolate(scenario.vol, hours) * profile.beta
    own = rng.standard_t(STUDENT_T_DF, hours.size) / math.sqrt(STUDENT_T_DF / (STUDENT_T_DF - 2.0))
    mix = math.sqrt(1.0 - profile.idiosyncratic**2) * factor.returns + profile.idiosyncratic * own
    sigma_minute = vol / math.sqrt(MINUTES_PER_DAY) * factor.vol_cluster
    deviation = ou_filter(sigma_minute * mix, decay_for_half_life(PRICE_REVERSION_MIN))
    trend = np.cumsum(interpolate(scenario.drift, hours) * profile.beta / MINUTES_PER_DAY)
    for shock in scenario.shocks:
        trend += shock_price_offset(shock, hours, profile.beta)
    return math.log(profile.price) + trend + deviation, mix, sigma_minute


def _oi_path(scenario: Scenario, profile: AssetProfile, hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    log_oi = np.cumsum(interpolate(scenario.oi_growth, hours) / MINUTES_PER_DAY)
    for shock in scenario.shocks:
        log_oi += shock_oi_offset(shock, hours)
    log_oi += stationary_ou(rng, hours.size, OI_NOISE_MIN, OI_NOISE_STD)
    return profile.oi_coins * np.exp(log_oi)


def _long_account(scenario: Scenario, profile: AssetProfile, hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Alts' crowds lean harder in both directions.
    lean = 1.0 + 0.3 * (profile.beta - 1.0)
    base = 0.5 + (interpolate(scenario.long_account, hours) - 0.5) * lean
    return np.clip(base + stationary_ou(rng, hours.size, LONGS_NOISE_MIN, LONGS_NOISE_STD), 0.2, 0.85)


def _intraday(ts: np.ndarray) -> np.ndarray:
    """Activity over the UTC day: quiet in the Asian night, busiest when the US opens."""
    hour_of_day = (ts % DAY) / HOUR
    return 1.0 + 0.3 * np.sin(2.0 * math.pi * (hour_of_day - 8.0) / 24.0)


def _prefix_sum(values: np.ndarray) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(values, dtype=np.float64)))


def build_asset_paths(scenario: Scenario, profile: AssetProfile, seed: int, first_ms: int, start_ms: int,
                      minutes: int, factor: MarketFactor, venues: tuple[str, ...]) -> AssetPaths:
    rng = rng_for(seed, profile.symbol, "paths")
    ts = first_ms + np.arange(minutes, dtype=np.int64) * MINUTE
    hours = (ts - start_ms) / HOUR

    log_close, shocks, sigma_minute = _price_path(scenario, profile, hours, factor, rng)
    price = np.exp(log_close)
    wick_up = (np.abs(rng.standard_normal(minutes)) * sigma_minute * 0.6).astype(np.float32)
    wick_down = (np.abs(rng.standard_normal(minutes)) * sigma_minute * 0.6).astype(np.float32)

    premium = interpolate(scenario.premium, hours) * profile.premium_scale
    premium += stationary_ou(rng, minutes, PREMIUM_NOISE_MIN, PREMIUM_NOISE_STD * profile.premium_scale)
    oi_base = _oi_path(scenario, profile, hours, rng)
    long_account = _long_account(scenario, profile, hours, rng)

    activity = interpolate(scenario.activity, hours)
    busy = activity * _intraday(ts) * (0.55 + 0.45 * np.abs(shocks) / 0.8)
    perp_volume = profile.perp_volume_coins_day / MINUTES_PER_DAY * busy * rng.lognormal(-0.045, 0.3, minutes)
    spot_quote = perp_volume * price * profile.spot_volume_ratio * rng.lognormal(-0.045, 0.3, minutes)

    open_ = np.concatenate(([price[0]], price[:-1]))
    high = np.maximum(open_, price) * (1.0 + wick_up)
    low = np.minimum(open_, price) * (1.0 - wick_down)
    boost = np.ones(minutes)
    for shock in scenario.shocks:
        boost += shock_liquidation_boost(shock, hours)
    liq_long, liq_short = liquidation_intensity(
        log_low=np.log(low),
        log_high=np.log(high),
        oi_usd=oi_base * price,
        leverage=oi_base / profile.oi_coins,
        long_account=long_account,
        activity=activity,
        boost=boost,
        round_step=round_level_step(profile.price),
        low=low,
        high=high,
    )
    hour_count = minutes // 60 + 2
    return AssetPaths(
        profile=profile,
        first_ms=first_ms,
        price=price,
        wick_up=wick_up,
        wick_down=wick_down,
        premium=premium.astype(np.float32),
        premium_cumsum=_prefix_sum(premium),
        oi_base=oi_base.astype(np.float32),
        long_account=long_account.astype(np.float32),
        perp_volume_cumsum=_prefix_sum(perp_volume),
        perp_quote_cumsum=_prefix_sum(perp_volume * price),
        spot_quote_cumsum=_prefix_sum(spot_quote),
        liq_long_usd=liq_long.astype(np.float32),
        liq_short_usd=liq_short.astype(np.float32),
        venues={v: VenueDeviations.build(seed, profile.symbol, v, hour_count) for v in venues},
    )
