"""Number and time formatting shared by reasons, tables and panels."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from levtop.model import DAY, HOUR, MINUTE


def pct(fraction: float | None, digits: int = 1, signed: bool = True) -> str:
    """0.0123 -> '+1.2%'."""
    if fraction is None or not math.isfinite(fraction):
        return "n/a"
    text = f"{fraction * 100:+.{digits}f}%" if signed else f"{fraction * 100:.{digits}f}%"
    # "-0.0%" reads as a falling value where there is none.
    return text.replace("-0." + "0" * digits + "%", "+0." + "0" * digits + "%") if signed else text


def rate(fraction: float | None) -> str:
    """A funding rate per 8h: 0.0001 -> '+0.010%'."""
    return pct(fraction, digits=3)


def usd(value: float | None) -> str:
    """12_345_678_901 -> '$12.35B'."""
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    v = abs(value)
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= div:
            scaled = v / div
            return f"{sign}${scaled:.{2 if scaled < 100 else 1}f}{unit}"
    return f"{sign}${v:.0f}"


def number(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def duration(ms: float) -> str:
    """A span for humans: '45m', '8.2h', '3.5d'."""
    if ms < HOUR:
        return f"{ms / MINUTE:.0f}m"
    if ms < 2 * DAY:
        return f"{ms / HOUR:.1f}h"
    return f"{ms / DAY:.1f}d"


def utc(ts: int, with_time: bool = True) -> str:
    dt = datetime.fromtimestamp(ts / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M") if with_time else dt.strftime("%Y-%m-%d")
