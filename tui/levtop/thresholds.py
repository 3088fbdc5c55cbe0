"""The thresholds of every signal (design.md section 3), apart from the engine in signals.py.

The config and the TUI's first frame need them, and signals.py imports numpy and polars: kept
here, reading a config costs no heavy import. ``levtop.signals.Thresholds`` is the same class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

# levtop.signals.SIGNAL_NAMES, repeated here because signals imports numpy and polars and the
# config (which validates the names) must not: tests/test_alerts.py checks they agree.
SIGNAL_NAMES: tuple[str, ...] = (
    "funding", "oi_rebuild", "oi_level", "stablecoins", "sentiment", "long_short", "liquidations",
)
DEFAULT_MIN_DURATION_MS = 15 * 60_000
"""How long a new phase or signal state must hold before it alerts (``[alerts] min_duration``).
Here, not in levtop.alerts, so that reading the config does not import the alert engine."""


@dataclass(frozen=True)
class Thresholds:
    """Every threshold of design.md section 3; fractions, hours and days as named."""

    funding_neutral_low: float = -0.00005
    funding_neutral_high: float = 0.00015
    funding_overheated: float = 0.0003
    funding_window_h: float = 24.0

    oi_rebuild_good_24h: float = 0.03
    oi_rebuild_good_72h: float = 0.06
    oi_rebuild_warn_24h: float = 0.05
    oi_rebuild_warn_72h: float = 0.10

    oi_stable_range: float = 0.06
    oi_stable_window_h: float = 72.0
    oi_ceiling_peak_fraction: float = 0.85
    oi_peak_window_days: float = 90.0
    oi_ceiling_usd: Mapping[str, float] = field(default_factory=dict, hash=False)

    stablecoin_inflow_7d: float = 0.001
    stablecoin_outflow_7d: float = -0.001

    sentiment_fear_max: float = 45.0
    sentiment_greed_above: float = 60.0

    long_short_balanced_low: float = 0.8
    long_short_balanced_high: float = 1.25
    long_short_extreme_low: float = 0.5
    long_short_extreme_high: float = 2.0

    liquidations_elevated: float = 2.0
    liquidations_cascade: float = 5.0
    liquidations_baseline_days: float = 30.0
    liquidations_min_baseline_hours: float = 24.0

    flush_oi_drop_24h: float = 0.10
    flush_oi_drop_72h: float = 0.15
    flush_liquidations_multiple: float = 5.0
    flush_liquidations_min_baseline_days: float = 3.0
    flush_peak_days: float = 30.0
    flush_merge_h: float = 24.0

    phase_flush_h: float = 72.0
    phase_trap_days: float = 30.0
    phase_purifying_from_days: float = 3.0
    phase_purifying_to_days: float = 21.0

    fresh_oi_h: float = 6.0
    fresh_funding_h: float = 24.0
    fresh_daily_h: float = 72.0

    def ceiling_for(self, asset: str) -> float | None:
        return self.oi_ceiling_usd.get(asset)
