"""Liquidation bursts: the simulator pushes every event over the Binance stream, counts exactly
what it sent, and levtop's Binance stream path and store count every one of them."""

from __future__ import annotations

import asyncio
import json
import math

import aiohttp
import pytest

from levtop.sim.burst import PRICE_STEP, QTY_STEP, Burst, BurstError
from levtop.sources.binance import BinanceVenue
from levtop.sources.health import HealthBoard
from levtop.store import HistoryStore
from sim_helpers import running_sim

B = "binance"


def test_burst_events_are_exact_binary_fractions_and_distinct():
    burst = Burst(B, rate=5000, seconds=1, prices={"BTC": 61_234.56, "DOGE": 0.0871}, start_ms=1_000)
    events = burst._next_events(5000, now=1_003)  # many per millisecond
    assert all(1_000 <= e.ts <= 1_003 for e in events) and [e.ts for e in events] == sorted(e.ts for e in events)
    assert all((e.price / PRICE_STEP).is_integer() and (e.qty / QTY_STEP).is_integer() for e in events)
    keys = {(e.ts, e.asset, e.side, e.qty, e.price) for e in events}
    assert len(keys) == len(events)  # a client that drops replays has no reason to drop one
    burst._count(events)
    for asset in ("BTC", "DOGE"):
        for side in ("long", "short"):
            mine = [e.notional for e in events if (e.asset, e.side) == (asset, side)]
            # Exact: any summation order gives the same float.
            assert burst.totals[(asset, side)] == [len(mine), math.fsum(mine)] == [len(mine), sum(reversed(mine))]


def test_a_burst_needs_sane_numbers():
    with pytest.raises(BurstError):
        Burst(B, rate=0, seconds=1, prices={"BTC": 1.0}, start_ms=0)
    with pytest.raises(BurstError):
        Burst(B, rate=10, seconds=10_000, prices={"BTC": 1.0}, start_ms=0)
    with pytest.raises(BurstError):
        Burst(B, rate=10, seconds=1, prices={}, start_ms=0)


async def _post(session: aiohttp.ClientSession, url: str, body: object) -> tuple[int, dict]:
    async with session.post(url, data=json.dumps(body)) as response:
        return response.status, await response.json()


async def test_the_stream_carries_every_burst_event_and_nothing_else_in_its_span():
    async with running_sim(speed=60.0) as sim, aiohttp.ClientSession() as session:
        frames: list[dict] = []
        async with session.ws_connect(f"{sim.ws_url}/ws/!forceOrder@arr") as ws:
            await asyncio.sleep(0.3)  # ordinary events flow (one per symbol per second)
            status, started = await _post(session, f"{sim.base_url}/_sim/burst", {"rate": 400, "seconds": 1.0})
            assert status == 201 and started["burst"]["running"]
            status, refused = await _post(session, f"{sim.base_url}/_sim/burst", {"rate": 400, "seconds": 1.0})
            assert status == 409 and "running" in refused["error"]
            await asyncio.sleep(1.5)
            while True:
                try:
                    message = await ws.receive(timeout=0.5)
                except asyncio.TimeoutError:
                    break
                frames.append(json.loads(message.data))
        async with session.get(f"{sim.base_url}/_sim/burst") as response:
            burst = (await response.json())["burst"]
    assert not burst["running"] and burst["events"] == 400 == burst["frames"]
    inside = [f["o"] for f in frames if burst["start_ms"] <= f["o"]["T"] <= burst["end_ms"]]
    assert len(inside) == 400
    for asset, sides in burst["totals"].items():
        for side, total in sides.items():
            mine = [float(o["l"]) * float(o["ap"]) for o in inside
                    if o["s"] == f"{asset}USDT" and o["S"] == ("SELL" if side == "long" else "BUY")]
            assert (len(mine), sum(mine)) == (total["events"], total["usd"])


async def test_bad_burst_requests_are_refused():
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        for body in ({"rate": -1}, {"assets": ["NOPE"]}, {"venue": "okx"}, {"speed": 3}, [1]):
            status, answer = await _post(session, f"{sim.base_url}/_sim/burst", body)
            assert status == 400 and answer["error"], body
        async with session.get(f"{sim.base_url}/_sim/burst") as response:
            assert (await response.json()) == {"burst": None}


def _burst_totals(store: HistoryStore, burst: dict, assets: tuple[str, ...]) -> dict:
    totals = {}
    for asset in assets:
        for side in ("long", "short"):
            series = store.series(B, asset, f"liq_{side}_usd")
            span = (series.ts >= burst["start_ms"]) & (series.ts <= burst["end_ms"])
            totals[(asset, side)] = float(series.values[span].sum())
    return totals


async def test_binance_stream_path_counts_every_event_of_a_burst():
    """ccxt resolves a watch with one event; levtop must still store all of them, and events of
    the same millisecond (in one batch or across batches) add up in the store."""
    watched = ("BTC", "ETH")
    async with running_sim(speed=1.0) as sim:
        store = HistoryStore()
        venue = BinanceVenue(sim.base_url, sim.ws_url, watched, store.append, HealthBoard(),
                             extra_origins={"https://api.binance.com": sim.base_url}, timeout_s=5.0)
        await venue.start()
        stream = asyncio.create_task(venue.stream_liquidations())
        try:
            for _ in range(100):  # until the socket is open
                if sim.stats.to_json()["ws_connections"].get(B):
                    break
                await asyncio.sleep(0.05)
            async with aiohttp.ClientSession() as session:
                await _post(session, f"{sim.base_url}/_sim/burst", {"rate": 3000, "seconds": 1.0})
            sent: dict = {}
            for _ in range(100):  # the client may lag the server by a second or so
                await asyncio.sleep(0.1)
                burst = sim._ctx.bursts.latest.to_json()
                sent = {(a, side): burst["totals"][a][side]["usd"] for a in watched for side in ("long", "short")}
                if not burst["running"] and _burst_totals(store, burst, watched) == sent:
                    break
        finally:
            stream.cancel()
            await asyncio.gather(stream, return_exceptions=True)
            await venue.close()
    assert burst["events"] == 3000
    assert _burst_totals(store, burst, watched) == sent
    assert len(store.series(B, "SOL", "liq_long_usd")) == 0  # not watched: filtered out
