"""Signal engine: full recompute for N assets x 3 venues x D days of 5-minute data.

Prints one JSON object. Medians of several runs; the data is synthetic but has the shape of the
live store: per venue and asset 5-minute price, coin and USD OI and long/short ratio, funding
every 8h, a liquidation event every 5 minutes; daily Fear & Greed and stablecoin supply.

    .venv/bin/python benchmarks/signal_engine.py [--assets 50] [--days 30] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import polars as pl

from levtop.model import DAY, HOUR, MINUTE, SCHEMA
from levtop.signals import evaluate_inputs, inputs_from_series
from levtop.store import HistoryStore

VENUES = ("binance", "bybit", "okx")
STEP = 5 * MINUTE


def synthetic_frame(assets: int, days: int, end: int, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = days * DAY // STEP
    ts = end - STEP * np.arange(n)[::-1]
    parts = []

    def add(venue: str, asset: str, metric: str, times: np.ndarray, values: np.ndarray) -> None:
        parts.append(pl.DataFrame({"ts": times, "venue": venue, "asset": asset, "metric": metric, "value": values}))

    for a in range(assets):
        asset = f"A{a:02d}"
        price = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
        for v, venue in enumerate(VENUES):
            oi = 1e6 * (1 + 0.3 * v) * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
            add(venue, asset, "price", ts, price)
            add(venue, asset, "oi_base", ts, oi)
            add(venue, asset, "oi_usd", ts, oi * price)
            add(venue, asset, "long_short_ratio", ts, 1 + 0.2 * np.sin(np.arange(n) / 500 + v))
            funding_ts = ts[ts % (8 * HOUR) == 0]
            add(venue, asset, "funding_8h", funding_ts, rng.normal(0.0001, 0.00005, funding_ts.size))
            add(venue, asset, "liq_long_usd", ts - 7_000, rng.pareto(1.5, n) * 1e4)
    daily = ts[ts % DAY == 0]
    add("market", "*", "fear_greed", daily, rng.integers(10, 90, daily.size).astype(float))
    add("market", "*", "stablecoin_supply_usd", daily, 150e9 * (1 + 0.001 * np.arange(daily.size)))
    return pl.concat(parts).cast(SCHEMA)


def timed(fn, runs: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    end = 1_700_006_400_000
    frame = synthetic_frame(args.assets, args.days, end)
    store = HistoryStore()
    load_s, _ = timed(lambda: store.append(frame), 1)
    asset_names = store.assets()

    def full_recompute():
        series = store.series_map()
        return [evaluate_inputs(inputs_from_series(a, series), [end]) for a in asset_names]

    full_recompute()  # first call builds the numpy views of every series
    full_s, verdicts = timed(full_recompute, args.runs)

    def one_new_sample():
        store.append(pl.DataFrame({"ts": [end + MINUTE], "venue": ["binance"], "asset": ["A00"],
                                   "metric": ["oi_base"], "value": [1e6]}).cast(SCHEMA))
        series = store.series_map(["A00"])
        return evaluate_inputs(inputs_from_series("A00", series), [end + MINUTE])

    incremental_s, _ = timed(one_new_sample, args.runs)
    print(json.dumps({
        "benchmark": "signal_engine",
        "assets": args.assets,
        "venues": len(VENUES),
        "days": args.days,
        "rows": frame.height,
        "store_load_s": round(load_s, 3),
        "full_recompute_s": round(full_s, 4),
        "incremental_one_asset_s": round(incremental_s, 4),
        "phases": sorted({v[0].phase for v in verdicts}),
        "runs": args.runs,
    }))


if __name__ == "__main__":
    main()
