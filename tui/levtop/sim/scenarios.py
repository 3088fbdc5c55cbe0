"""Scenario scripts: how the driving parameters of the market evolve around the launch time.

Every parameter is a piecewise-linear path of ``(hours after start_ms, value)`` keyframes, flat
before the first and after the last point, written for BTC; other assets scale it by their beta.
A :class:`Shock` is a leverage flush: a fast price drop that wipes out open interest and sets off
a liquidation cascade. Stories are anchored to ``start_ms`` so that a viewer who launches the
simulator sees the interesting part live soon after launch, with 35 days of plausible history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Keyframes = tuple[tuple[float, float], ...]


def interpolate(keyframes: Keyframes, hours: np.ndarray) -> np.ndarray:
    """The path's value at each time (hours after start), linear between keyframes."""
    xs = np.array([h for h, _ in keyframes], dtype=np.float64)
    ys = np.array([v for _, v in keyframes], dtype=np.float64)
    return np.interp(hours, xs, ys)


@dataclass(frozen=True)
class Shock:
    """A leverage flush: price falls, forced selling feeds on itself, open interest is wiped out."""

    at_h: float
    """Hours after start_ms when the slide begins."""
    price_drop: float
    """Fall of the BTC price from before the shock to where it settles (0.2 = -20%)."""
    duration_h: float
    """Time from the first slide to the trough (the waterfall)."""
    oi_drop: float
    """Fraction of coin open interest closed, forced or voluntary, by the end of the bleed."""
    oi_bleed_h: float
    """After the trough, positions keep being cut for this long."""
    liquidation_boost: float
    """Multiplier of liquidations per unit of price move during the waterfall."""
    wick: float = 0.08
    """The trough undershoots the settled level by this fraction of the drop, then bounces."""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    drift: Keyframes
    """Daily log drift of the price trend."""
    vol: Keyframes
    """Daily volatility of price noise."""
    oi_growth: Keyframes
    """Daily log growth of aggregate coin open interest."""
    premium: Keyframes
    """Perp premium over the index (fraction); funding follows from it."""
    long_account: Keyframes
    """Fraction of accounts long (0.5 is balanced; 0.67 is a long/short ratio of 2)."""
    fear_greed: Keyframes
    """Crypto Fear & Greed Index target."""
    stablecoin_growth: Keyframes
    """Daily log growth of total stablecoin supply."""
    activity: Keyframes
    """Trading activity relative to a normal day (volumes, background liquidations)."""
    shocks: tuple[Shock, ...] = ()
    fear_greed_noise: float = 3.5
    """Standard deviation of the index around its target (points)."""


# Shared pieces. Hours are relative to start_ms; the history begins 35 days (840 h) earlier.
_HISTORY_START = -24.0 * 60

# A calm month, then two weeks of leverage building up to an overheated top at launch.
_BUILD_UP_DRIFT: Keyframes = ((_HISTORY_START, 0.001), (-432, 0.001), (-400, 0.009), (-96, 0.008), (-12, 0.004))
_BUILD_UP_VOL: Keyframes = ((_HISTORY_START, 0.021), (-432, 0.021), (-96, 0.027), (0, 0.03))
_BUILD_UP_OI: Keyframes = ((_HISTORY_START, 0.001), (-432, 0.001), (-400, 0.013), (-96, 0.013), (0, 0.008))
_BUILD_UP_PREMIUM: Keyframes = ((_HISTORY_START, 0.0), (-432, 0.0), (-300, 0.0003), (-140, 0.0011), (0, 0.0012))
_BUILD_UP_LONGS: Keyframes = ((_HISTORY_START, 0.515), (-432, 0.52), (-140, 0.655), (0, 0.67))
_BUILD_UP_FEAR_GREED: Keyframes = ((_HISTORY_START, 48), (-600, 54), (-432, 52), (-220, 68), (-60, 76), (0, 77))
_BUILD_UP_STABLECOINS: Keyframes = ((_HISTORY_START, 0.0003), (-100, 0.0004), (0, 0.0003))
_BUILD_UP_ACTIVITY: Keyframes = ((_HISTORY_START, 1.0), (-432, 1.0), (-120, 1.35), (0, 1.45))

# The flush both `recovery` and `trap` go through, two sim-hours after launch.
_FIRST_FLUSH = Shock(at_h=2.0, price_drop=0.18, duration_h=5.0, oi_drop=0.27, oi_bleed_h=30.0, liquidation_boost=18.0)

# Around a flush: volatility explodes, perps trade at a discount (negative funding), activity spikes.
_FLUSH_VOL: Keyframes = ((2.0, 0.03), (3.0, 0.07), (9.0, 0.06), (30.0, 0.022))
_FLUSH_PREMIUM: Keyframes = ((2.0, 0.0012), (5.0, -0.0010), (24.0, -0.0007), (60.0, -0.00045))
_FLUSH_ACTIVITY: Keyframes = ((2.0, 1.45), (3.0, 4.0), (12.0, 2.2), (48.0, 1.1))


def _recovery() -> Scenario:
    return Scenario(
        name="recovery",
        description=(
            "calm, overheating into launch, a flush with a liquidation cascade two hours in, "
            "a purification window, then a slow healthy rebuild that turns the gate green"
        ),
        drift=_BUILD_UP_DRIFT + ((2.0, 0.0), (240.0, 0.0), (300.0, 0.0015), (1080.0, 0.0015)),
        vol=_BUILD_UP_VOL + _FLUSH_VOL + ((60.0, 0.011), (300.0, 0.011), (420.0, 0.012)),
        oi_growth=_BUILD_UP_OI + ((2.0, 0.0), (60.0, 0.0), (300.0, 0.001), (360.0, 0.003), (1080.0, 0.003)),
        premium=_BUILD_UP_PREMIUM + _FLUSH_PREMIUM + ((96.0, -0.0002), (240.0, 0.0), (1080.0, 0.0002)),
        long_account=_BUILD_UP_LONGS + ((2.0, 0.67), (8.0, 0.58), (48.0, 0.51), (300.0, 0.5), (1080.0, 0.52)),
        fear_greed=_BUILD_UP_FEAR_GREED + ((20.0, 32), (60.0, 17), (120.0, 14), (300.0, 24), (600.0, 34), (1080.0, 42)),
        stablecoin_growth=_BUILD_UP_STABLECOINS
        + ((4.0, 0.0003), (12.0, -0.0008), (40.0, -0.0005), (96.0, 0.0011), (400.0, 0.0010), (1080.0, 0.0007)),
        activity=_BUILD_UP_ACTIVITY + _FLUSH_ACTIVITY + ((300.0, 0.8), (1080.0, 0.9)),
        shocks=(_FIRST_FLUSH,),
    )


def _trap() -> Scenario:
    second_flush = Shock(at_h=222.0, price_drop=0.13, duration_h=4.0, oi_drop=0.2, oi_bleed_h=24.0, liquidation_boost=15.0)
    return Scenario(
        name="trap",
        description=(
            "the same overheating and flush, then a fast V-rebound: OI spikes again, funding turns "
            "hot, greed returns, and the same leverage gets flushed a second time"
        ),
        drift=_BUILD_UP_DRIFT + ((2.0, 0.0), (10.0, 0.0), (18.0, 0.07), (62.0, 0.07), (80.0, 0.012),
                                  (220.0, 0.01), (224.0, 0.0), (400.0, 0.0), (1080.0, 0.001)),
        vol=_BUILD_UP_VOL + _FLUSH_VOL + ((60.0, 0.032), (200.0, 0.03), (222.0, 0.03), (223.0, 0.06),
                                          (250.0, 0.022), (400.0, 0.018)),
        oi_growth=_BUILD_UP_OI + ((2.0, 0.0), (18.0, 0.0), (26.0, 0.075), (150.0, 0.075), (180.0, 0.015),
                                  (222.0, 0.01), (223.0, 0.0), (400.0, 0.0), (1080.0, 0.002)),
        premium=_BUILD_UP_PREMIUM + ((2.0, 0.0012), (5.0, -0.001), (20.0, -0.0004), (44.0, 0.0009),
                                     (70.0, 0.0012), (220.0, 0.0013), (225.0, -0.0008), (300.0, -0.0002),
                                     (1080.0, 0.0001)),
        long_account=_BUILD_UP_LONGS + ((2.0, 0.67), (8.0, 0.57), (30.0, 0.53), (100.0, 0.64), (220.0, 0.68),
                                        (232.0, 0.56), (320.0, 0.52), (1080.0, 0.52)),
        fear_greed=_BUILD_UP_FEAR_GREED + ((20.0, 30), (60.0, 46), (110.0, 66), (200.0, 75), (222.0, 75),
                                           (250.0, 28), (400.0, 30), (1080.0, 40)),
        stablecoin_growth=_BUILD_UP_STABLECOINS + ((12.0, -0.0006), (40.0, -0.0002), (80.0, 0.0002),
                                                   (222.0, 0.0), (240.0, -0.0006), (320.0, 0.0002)),
        activity=_BUILD_UP_ACTIVITY + _FLUSH_ACTIVITY + ((80.0, 1.6), (222.0, 1.5), (223.0, 3.5),
                                                         (260.0, 1.1), (1080.0, 0.9)),
        shocks=(_FIRST_FLUSH, second_flush),
    )


def _calm() -> Scenario:
    return Scenario(
        name="calm",
        description="low volatility, neutral funding, balanced long/short, neutral sentiment, small steady liquidations",
        drift=((_HISTORY_START, 0.0008), (-300, -0.0005), (200, 0.0006), (1080, 0.0002)),
        vol=((_HISTORY_START, 0.017), (-200, 0.019), (300, 0.016), (1080, 0.018)),
        oi_growth=((_HISTORY_START, 0.0008), (-200, 0.0), (100, 0.0006), (600, -0.0003), (1080, 0.0004)),
        premium=((_HISTORY_START, 0.0), (-300, 0.0001), (200, -0.0001), (1080, 0.0)),
        long_account=((_HISTORY_START, 0.51), (-300, 0.52), (300, 0.505), (1080, 0.515)),
        fear_greed=((_HISTORY_START, 48), (-500, 52), (-250, 46), (0, 50), (300, 47), (700, 53), (1080, 49)),
        stablecoin_growth=((_HISTORY_START, 0.0003), (1080, 0.0003)),
        activity=((_HISTORY_START, 0.9), (1080, 0.9)),
        fear_greed_noise=1.8,
    )


def _overheat() -> Scenario:
    return Scenario(
        name="overheat",
        description="a steady leveraged rally: price and OI rising, funding hot, greed; no flush",
        drift=((_HISTORY_START, 0.001), (-480, 0.001), (-440, 0.006), (1080, 0.005)),
        vol=((_HISTORY_START, 0.021), (-480, 0.021), (-240, 0.024), (1080, 0.024)),
        oi_growth=((_HISTORY_START, 0.001), (-480, 0.001), (-440, 0.0085), (300, 0.008), (1080, 0.006)),
        premium=((_HISTORY_START, 0.0), (-480, 0.0), (-260, 0.0011), (300, 0.0012), (1080, 0.0011)),
        long_account=((_HISTORY_START, 0.515), (-480, 0.52), (-240, 0.64), (1080, 0.665)),
        fear_greed=((_HISTORY_START, 50), (-480, 53), (-260, 67), (0, 74), (600, 80), (1080, 77)),
        stablecoin_growth=((_HISTORY_START, 0.0003), (1080, 0.0004)),
        activity=((_HISTORY_START, 1.0), (-480, 1.0), (-240, 1.35), (1080, 1.45)),
    )


SCENARIO_BUILDERS = {"recovery": _recovery, "trap": _trap, "calm": _calm, "overheat": _overheat}
SCENARIO_NAMES: tuple[str, ...] = tuple(SCENARIO_BUILDERS)


def scenario(name: str) -> Scenario:
    try:
        return SCENARIO_BUILDERS[name]()
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIO_NAMES)}") from None
