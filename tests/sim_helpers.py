"""Helpers for the simulator tests: a shared market, ccxt clients pointed at the simulator, the
real recorded fixtures, and a JSON shape comparison."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from levtop.sim.market import Market
from levtop.sim.server import Simulator
from levtop.sources.endpoints import point_exchange

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"

# A fixed launch time so that every run serves the same history (2026-05-28T20:40Z).
START_MS = 1_780_000_800_000
SEED = 1
ASSETS = ("BTC", "ETH", "SOL")
SYMBOL = "BTC/USDT:USDT"

# ccxt ids, the simulator's venue names, and the options that make ccxt load only linear USDT
# perpetuals (so that it calls only endpoints the simulator emulates).
CCXT_IDS = ("binanceusdm", "bybit", "okx")
VENUE_OF = {"binanceusdm": "binance", "bybit": "bybit", "okx": "okx"}
CCXT_OPTIONS: dict[str, dict[str, Any]] = {
    "binanceusdm": {"fetchMarkets": {"types": ["linear"]}, "defaultType": "swap", "defaultSubType": "linear"},
    "bybit": {"fetchMarkets": {"types": ["linear"]}, "defaultType": "swap", "defaultSubType": "linear"},
    "okx": {"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap"},
}


@lru_cache(maxsize=4)
def shared_market(scenario: str = "recovery", seed: int = SEED) -> Market:
    """One model per (scenario, seed) for the whole session: building it is the slow part."""
    return Market(scenario=scenario, seed=seed, assets=ASSETS, start_ms=START_MS)


@asynccontextmanager
async def running_sim(speed: float = 600.0, fresh_market: bool = False, **kwargs: Any) -> AsyncIterator[Simulator]:
    market = None if fresh_market else shared_market(kwargs.get("scenario", "recovery"), kwargs.get("seed", SEED))
    kwargs.setdefault("start_ms", START_MS)
    kwargs.setdefault("assets", ASSETS)
    sim = Simulator(speed=speed, port=0, market=market, stream_poll_s=0.1, **kwargs)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def make_exchange(ccxt_id: str, sim: Simulator, pro: bool = False, **config: Any):
    """A ccxt client (async, or ccxt.pro) pointed at the simulator before any request."""
    if pro:
        import ccxt.pro as module
    else:
        import ccxt.async_support as module
    exchange = getattr(module, ccxt_id)({"options": dict(CCXT_OPTIONS[ccxt_id]), **config})
    point_exchange(exchange, sim.base_url, sim.ws_url)
    return exchange


def fixture_path(relative: str) -> Path:
    path = FIXTURES / relative
    if not path.is_file():
        pytest.skip(f"real sample {relative} not found under {FIXTURES} (../shared is absent)")
    return path


def load_fixture(relative: str) -> Any:
    return json.loads(fixture_path(relative).read_text(encoding="utf-8"))


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_problems(emulated: Any, real: Any, path: str = "$", allowed: dict[str, str] | None = None) -> list[str]:
    """Where ``emulated`` differs from ``real`` in keys or JSON types (an empty list: same shape).

    Objects must have the same keys; arrays compare every emulated element with the real
    elements (one must match) and every real element with the emulated ones. ``allowed`` maps
    a path to the reason a known difference of a documentation sample is accepted."""
    allowed = allowed or {}
    if path in allowed:
        return []
    kind_e, kind_r = json_type(emulated), json_type(real)
    numbers = {"int", "float"}
    if kind_e != kind_r and not (kind_e in numbers and kind_r in numbers and path.endswith("peggedUSD")):
        return [f"{path}: emulator sends {kind_e}, real sample has {kind_r}"]
    if kind_r == "object":
        problems = []
        missing = sorted(k for k in set(real) - set(emulated) if f"{path}.{k}" not in allowed)
        extra = sorted(k for k in set(emulated) - set(real) if f"{path}.{k}" not in allowed)
        if missing:
            problems.append(f"{path}: missing keys {missing}")
        if extra:
            problems.append(f"{path}: extra keys {extra}")
        for key in sorted(set(real) & set(emulated)):
            problems.extend(shape_problems(emulated[key], real[key], f"{path}.{key}", allowed))
        return problems
    if kind_r == "array" and emulated and real:
        problems = []
        for i, item in enumerate(emulated):
            options = [shape_problems(item, r, f"{path}[]", allowed) for r in real]
            if all(options):
                problems.append(f"{path}[{i}] matches no real element: {min(options, key=len)}")
        for j, item in enumerate(real):
            if all(shape_problems(e, item, f"{path}[]", allowed) for e in emulated):
                problems.append(f"{path}: real element {j} has no counterpart in the emulator's payload")
        return problems
    return []
