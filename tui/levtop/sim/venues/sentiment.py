"""alternative.me's Crypto Fear & Greed Index (``/fng/``) and DefiLlama's total stablecoin supply
(``/stablecoincharts/all``): daily series, values as strings on alternative.me, dates as strings
of Unix seconds on DefiLlama."""

from __future__ import annotations

from typing import Any, Mapping

from levtop.sim.venues.common import (
    DAY_MS,
    ParamError,
    RestRoute,
    SimContext,
    VenueApi,
    VenueError,
    VenueReply,
    align_down,
    opt_int,
)

FEAR_GREED = "fear_greed"
STABLECOINS = "stablecoins"


def fng_param_error(exc: ParamError, now: int) -> VenueReply:
    return VenueReply(
        {"name": "Fear and Greed Index", "data": [], "metadata": {"error": f"Invalid {exc.name} parameter"}}
    )


def fng_status_reply(status: int, now: int) -> VenueReply:
    return VenueReply(None, status=status)


def fear_and_greed(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    """``?limit=N`` (default 1; 0 = all history). The newest value first, and only it carries
    ``time_until_update`` (seconds until the next daily value)."""
    now = ctx.now_ms()
    limit = opt_int(query, "limit")
    if limit is None:
        limit = 1
    if limit < 0:
        raise ParamError("limit")
    if query.get("format", "json") != "json":
        raise ParamError("format")
    available_days = max(1, (now - ctx.market.first_ms) // DAY_MS + 1)
    days = available_days if limit == 0 else min(limit, available_days)
    rows = ctx.market.fear_greed_history(now, days)
    next_update_s = (align_down(now, DAY_MS) + DAY_MS - now) // 1000
    data: list[dict[str, Any]] = []
    for i, (day_ms, value, classification) in enumerate(rows):
        entry: dict[str, Any] = {
            "value": str(int(round(value))),
            "value_classification": classification,
            "timestamp": str(day_ms // 1000),
        }
        if i == 0:
            entry["time_until_update"] = str(next_update_s)
        data.append(entry)
    return VenueReply({"name": "Fear and Greed Index", "data": data, "metadata": {"error": None}})


def stablecoin_param_error(exc: ParamError, now: int) -> VenueReply:
    return VenueReply({"message": f"invalid {exc.name}"}, status=400)


def stablecoin_status_reply(status: int, now: int) -> VenueReply:
    return VenueReply(None, status=status)


def stablecoin_charts(ctx: SimContext, query: Mapping[str, str]) -> VenueReply:
    """Total circulating supply of USD-pegged stablecoins per day, oldest first, as DefiLlama's
    ``/stablecoincharts/all``; ``?stablecoin=<id>`` filters one coin, which the model lacks."""
    if query.get("stablecoin"):
        raise VenueError(VenueReply({"message": "stablecoin filter is not available in the simulator"}, status=400))
    now = ctx.now_ms()
    rows = []
    for day_ms, usd in ctx.market.stablecoin_history(now):
        rows.append(
            {
                "date": str(day_ms // 1000),
                "totalCirculating": {"peggedUSD": round(usd, 2)},
                "totalUnreleased": {"peggedUSD": 0},
                "totalCirculatingUSD": {"peggedUSD": round(usd, 2)},
                "totalMintedUSD": {"peggedUSD": round(usd * 1.012, 2)},
                "totalBridgedToUSD": {"peggedUSD": round(usd * 0.031, 2)},
            }
        )
    return VenueReply(rows)


def fear_greed_api() -> VenueApi:
    return VenueApi(FEAR_GREED, (RestRoute("/fng/", fear_and_greed),), (), fng_param_error, fng_status_reply)


def stablecoins_api() -> VenueApi:
    return VenueApi(
        STABLECOINS,
        (RestRoute("/stablecoincharts/all", stablecoin_charts),),
        (),
        stablecoin_param_error,
        stablecoin_status_reply,
    )
