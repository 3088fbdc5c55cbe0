"""Total stablecoin circulating supply from DefiLlama: daily history, all pegs in USD."""

from __future__ import annotations

import math
from typing import Any

import aiohttp

from levtop.model import ALL_ASSETS, MARKET, Sample
from levtop.sources.errors import MalformedPayload
from levtop.sources.http import get_json

PATH = "/stablecoincharts/all"


def parse_stablecoin_charts(payload: Any, since_ms: int | None = None) -> list[Sample]:
    """Samples from `/stablecoincharts/all`: the sum of ``totalCirculatingUSD`` over pegs."""
    if not isinstance(payload, list):
        raise MalformedPayload("stablecoins: expected a list of daily points")
    samples = []
    for i, row in enumerate(payload):
        try:
            ts = int(str(row["date"])) * 1000
            by_peg = row["totalCirculatingUSD"]
            total = sum(float(v) for v in by_peg.values())
        except (KeyError, TypeError, ValueError, AttributeError):
            raise MalformedPayload(f"stablecoins: point {i} lacks a numeric date or totalCirculatingUSD") from None
        if not math.isfinite(total) or total <= 0:
            raise MalformedPayload(f"stablecoins: point {i} has a supply of {total}")
        if since_ms is None or ts >= since_ms:
            samples.append(Sample(ts, MARKET, ALL_ASSETS, "stablecoin_supply_usd", total))
    return samples


async def fetch_stablecoins(session: aiohttp.ClientSession, base_url: str, since_ms: int | None) -> list[Sample]:
    payload = await get_json(session, base_url.rstrip("/") + PATH)
    return parse_stablecoin_charts(payload, since_ms)
