"""Builders for hand-made sample frames in tests."""

from __future__ import annotations

from typing import Iterable

import polars as pl

from levtop.model import DAY, HOUR, MINUTE, Sample, samples_frame

T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC: a day boundary, far from any epoch edge
assert T0 % DAY == 0

__all__ = ["T0", "DAY", "HOUR", "MINUTE", "Rows", "points"]


def points(venue: str, asset: str, metric: str, pairs: Iterable[tuple[int, float]]) -> list[Sample]:
    return [Sample(int(ts), venue, asset, metric, float(v)) for ts, v in pairs]


class Rows:
    """Accumulates samples; ``frame()`` gives the long dataset frame."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def add(self, venue: str, asset: str, metric: str, pairs: Iterable[tuple[int, float]]) -> "Rows":
        self.samples += points(venue, asset, metric, pairs)
        return self

    def market(self, metric: str, pairs: Iterable[tuple[int, float]]) -> "Rows":
        return self.add("market", "*", metric, pairs)

    def frame(self) -> pl.DataFrame:
        return samples_frame(self.samples)
