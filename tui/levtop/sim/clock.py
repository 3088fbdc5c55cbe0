"""The simulator's clock: sim time runs ``speed`` times faster than real time.

Monotonic-based so that wall-clock jumps (NTP, suspend) never make sim time go backwards.
"""

from __future__ import annotations

import time
from typing import Callable


class SimClock:
    """Sim milliseconds since the epoch, starting at ``start_ms`` and advancing ``speed`` sim
    seconds per real second."""

    def __init__(
        self,
        start_ms: int,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self._start_ms = int(start_ms)
        self._speed = float(speed)
        self._monotonic = monotonic
        self._origin = monotonic()

    @property
    def start_ms(self) -> int:
        return self._start_ms

    @property
    def speed(self) -> float:
        return self._speed

    def now_ms(self) -> int:
        elapsed_real_s = self._monotonic() - self._origin
        return self._start_ms + int(elapsed_real_s * 1000.0 * self._speed)

    def real_seconds(self, sim_ms: float) -> float:
        """How many real seconds it takes for ``sim_ms`` of sim time to pass."""
        return sim_ms / 1000.0 / self._speed
