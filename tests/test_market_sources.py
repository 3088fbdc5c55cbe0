"""Fear & Greed (alternative.me) and stablecoin supply (DefiLlama): parsers and the real
aiohttp path against the simulator, with faults."""

from __future__ import annotations

import re

import pytest

from levtop.model import DAY
from levtop.sim.faults import FaultRule
from levtop.sources.errors import FetchError, MalformedPayload
from levtop.sources.fear_greed import fetch_fear_greed, parse_fear_greed
from levtop.sources.http import new_session
from levtop.sources.stablecoins import fetch_stablecoins, parse_stablecoin_charts
from sim_helpers import running_sim

FNG = {
    "name": "Fear and Greed Index",
    "data": [
        {"value": "24", "value_classification": "Extreme Fear", "timestamp": "1668384000", "time_until_update": "1"},
        {"value": "31", "value_classification": "Fear", "timestamp": "1668297600"},
    ],
    "metadata": {"error": None},
}
LLAMA = [
    {"date": "1668297600", "totalCirculating": {"peggedUSD": 1.0}, "totalCirculatingUSD": {"peggedUSD": 144.0e9, "peggedEUR": 0.5e9}},
    {"date": "1668384000", "totalCirculatingUSD": {"peggedUSD": 145.0e9}},
]


def test_parse_fear_greed():
    samples = parse_fear_greed(FNG)
    assert [(s.ts, s.venue, s.asset, s.metric, s.value) for s in samples] == [
        (1668384000000, "market", "*", "fear_greed", 24.0),
        (1668297600000, "market", "*", "fear_greed", 31.0),
    ]


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"data": [{"value": "24"}]}, "data[0] lacks a numeric timestamp or value"),
        ({"data": [{"value": "high", "timestamp": "1"}]}, "data[0] lacks a numeric timestamp or value"),
        ({"data": [{"value": "124", "timestamp": "1"}]}, "outside 0-100"),
        ({"data": [{"value": "nan", "timestamp": "1"}]}, "outside 0-100"),
        ({"data": {}}, "expected an object with a 'data' list"),
        ([], "expected an object with a 'data' list"),
    ],
)
def test_malformed_fear_greed_is_rejected(payload, message):
    with pytest.raises(MalformedPayload, match=re.escape(message)):
        parse_fear_greed(payload)


def test_parse_stablecoins_sums_pegs_and_filters_by_time():
    samples = parse_stablecoin_charts(LLAMA)
    assert [(s.ts, s.metric, s.value) for s in samples] == [
        (1668297600000, "stablecoin_supply_usd", 144.5e9),
        (1668384000000, "stablecoin_supply_usd", 145.0e9),
    ]
    assert [s.ts for s in parse_stablecoin_charts(LLAMA, since_ms=1668384000000)] == [1668384000000]


@pytest.mark.parametrize(
    "payload, message",
    [
        ([{"date": "1"}], "point 0 lacks"),
        ([{"date": "1", "totalCirculatingUSD": {"peggedUSD": "lots"}}], "point 0 lacks"),
        ([{"date": "1", "totalCirculatingUSD": 5}], "point 0 lacks"),
        ([{"date": "1", "totalCirculatingUSD": {"peggedUSD": 0}}], "supply of 0"),
        ({"date": "1"}, "expected a list"),
    ],
)
def test_malformed_stablecoins_are_rejected(payload, message):
    with pytest.raises(MalformedPayload, match=re.escape(message)):
        parse_stablecoin_charts(payload)


async def test_both_sources_against_the_simulator():
    async with running_sim() as sim:
        async with new_session() as session:
            fng = await fetch_fear_greed(session, sim.base_url, days=30)
            supply = await fetch_stablecoins(session, sim.base_url, since_ms=None)
        now = sim.clock.now_ms()
    assert 28 <= len(fng) <= 31
    assert all(0 <= s.value <= 100 and s.ts <= now and s.ts % DAY == 0 for s in fng)
    assert len(supply) >= 35
    assert all(50e9 < s.value < 500e9 for s in supply)
    assert supply[-1].ts <= now and supply[-1].ts > now - 2 * DAY


@pytest.mark.parametrize(
    "rule, expected, ban",
    [
        (dict(kind="status", status=429, retry_after_s=7), "rate limited (HTTP 429, Retry-After 7s)", 7.0),
        (dict(kind="status", status=503), "HTTP 503", None),
        (dict(kind="malformed"), "malformed JSON", None),
        (dict(kind="truncate"), "malformed JSON", None),
        (dict(kind="drop_field", field="value"), "lacks a numeric timestamp or value", None),
        (dict(kind="wrong_type", field="value"), "lacks a numeric timestamp or value", None),
    ],
)
async def test_faults_on_fear_greed_surface_as_fetch_errors(rule, expected, ban):
    async with running_sim(faults=[FaultRule(venue="fear_greed", route="/fng/*", **rule)]) as sim:
        async with new_session() as session:
            with pytest.raises(FetchError) as info:
                await fetch_fear_greed(session, sim.base_url, days=3)
    assert expected in info.value.message
    assert info.value.ban_s == ban


async def test_faulted_stablecoins_then_cleared():
    async with running_sim(faults=[FaultRule(venue="stablecoins", route="/stablecoincharts/*", kind="status", status=500)]) as sim:
        async with new_session() as session:
            with pytest.raises(FetchError, match="HTTP 500"):
                await fetch_stablecoins(session, sim.base_url, since_ms=None)
            sim.faults.clear()
            assert await fetch_stablecoins(session, sim.base_url, since_ms=None)
