"""Crypto Fear & Greed Index from alternative.me: daily, values as strings."""

from __future__ import annotations

import math
from typing import Any

import aiohttp

from levtop.model import ALL_ASSETS, MARKET, Sample
from levtop.sources.errors import MalformedPayload
from levtop.sources.http import get_json

PATH = "/fng/"


def parse_fear_greed(payload: Any) -> list[Sample]:
    """Samples from a `/fng/` response; anything off-spec raises MalformedPayload."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise MalformedPayload("Fear & Greed: expected an object with a 'data' list")
    samples = []
    for i, row in enumerate(payload["data"]):
        try:
            ts = int(str(row["timestamp"])) * 1000
            value = float(str(row["value"]))
        except (KeyError, TypeError, ValueError):
            raise MalformedPayload(f"Fear & Greed: data[{i}] lacks a numeric timestamp or value") from None
        if not math.isfinite(value) or not 0 <= value <= 100:
            raise MalformedPayload(f"Fear & Greed: data[{i}] value {value} is outside 0-100")
        samples.append(Sample(ts, MARKET, ALL_ASSETS, "fear_greed", value))
    return samples


async def fetch_fear_greed(session: aiohttp.ClientSession, base_url: str, days: int) -> list[Sample]:
    payload = await get_json(session, base_url.rstrip("/") + PATH, {"limit": str(max(1, days)), "format": "json"})
    return parse_fear_greed(payload)
