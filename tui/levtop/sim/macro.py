"""Market-wide daily series: the Crypto Fear & Greed Index and total stablecoin supply."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from levtop.model import DAY, HOUR
from levtop.sim.numeric import stationary_ou
from levtop.sim.profiles import rng_for
from levtop.sim.scenarios import Scenario, interpolate

STABLECOIN_SUPPLY_AT_START = 168e9
"""Total stablecoin supply (USD) at the first modelled day."""

# alternative.me's bands: (upper bound inclusive, name).
FEAR_GREED_BANDS: tuple[tuple[int, str], ...] = (
    (24, "Extreme Fear"),
    (46, "Fear"),
    (54, "Neutral"),
    (75, "Greed"),
    (100, "Extreme Greed"),
)


def classify_fear_greed(value: int) -> str:
    for upper, name in FEAR_GREED_BANDS:
        if value <= upper:
            return name
    return FEAR_GREED_BANDS[-1][1]


@dataclass(frozen=True)
class MacroSeries:
    day_starts: np.ndarray
    """UTC midnights (ms), oldest first."""
    fear_greed: np.ndarray
    """Integer index 0-100, published at each day start."""
    stablecoin_supply: np.ndarray
    """USD, as of each day start."""

    @staticmethod
    def build(scenario: Scenario, seed: int, first_ms: int, end_ms: int, start_ms: int) -> "MacroSeries":
        day_starts = np.arange(first_ms - first_ms % DAY, end_ms + 1, DAY, dtype=np.int64)
        hours = (day_starts - start_ms) / HOUR
        rng = rng_for(seed, "macro")
        # Sentiment drifts around the story's mood for a few days at a time.
        mood = interpolate(scenario.fear_greed, hours) + stationary_ou(rng, day_starts.size, 3.0, scenario.fear_greed_noise)
        fear_greed = np.clip(np.rint(mood), 1, 99).astype(np.int64)
        growth = interpolate(scenario.stablecoin_growth, hours) + rng.normal(0.0, 0.00012, day_starts.size)
        growth[0] = 0.0
        supply = STABLECOIN_SUPPLY_AT_START * np.exp(np.cumsum(growth))
        return MacroSeries(day_starts, fear_greed, supply)

    def fear_greed_history(self, end_ms: int, days: int) -> list[tuple[int, int, str]]:
        """Newest first: up to ``days`` daily values published at or before ``end_ms``."""
        last = int(np.searchsorted(self.day_starts, end_ms, side="right"))
        first = max(0, last - max(0, days))
        return [
            (int(self.day_starts[i]), int(self.fear_greed[i]), classify_fear_greed(int(self.fear_greed[i])))
            for i in range(last - 1, first - 1, -1)
        ]

    def stablecoin_history(self, end_ms: int) -> list[tuple[int, float]]:
        last = int(np.searchsorted(self.day_starts, end_ms, side="right"))
        return [(int(self.day_starts[i]), float(self.stablecoin_supply[i])) for i in range(last)]
