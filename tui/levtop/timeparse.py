"""Parsing of the durations and dates users type on the command line."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from levtop.errors import UserError
from levtop.model import DAY, HOUR, MINUTE, SECOND

_UNITS = {"s": SECOND, "m": MINUTE, "h": HOUR, "d": DAY, "w": 7 * DAY}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_duration(text: str, what: str = "duration") -> int:
    """'15m', '4h', '1d', '1w' -> milliseconds."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise UserError(f"bad {what} '{text}': expected a positive number with a unit s, m, h, d or w, like 1d or 4h")
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_time(text: str, what: str = "date", end_of_day: bool = False) -> int:
    """A UTC date ('2022-11-08') or ISO 8601 time ('2022-11-08T12:00:00Z') -> milliseconds.

    With ``end_of_day``, a bare date means the last millisecond of that day, so that
    ``--to 2022-11-30`` includes the 30th.
    """
    raw = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            dt = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            ms = int(dt.timestamp() * 1000)
            return ms + DAY - 1 if end_of_day else ms
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"bad {what} '{text}': expected a UTC date like 2022-11-08 or a time like 2022-11-08T12:00:00Z"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def format_duration(ms: int) -> str:
    """The inverse of parse_duration for whole units: 86_400_000 -> '1d'."""
    for unit in ("w", "d", "h", "m", "s"):
        if ms % _UNITS[unit] == 0:
            return f"{ms // _UNITS[unit]}{unit}"
    return f"{ms}ms"
