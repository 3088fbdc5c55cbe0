"""Memory: RSS of levtop's history after 30 days at 20 assets x 3 venues and 1M liquidations.

Samples go through the real ``HistoryStore.append`` path at the venues' real cadences: ticker
price and funding and current OI polled every minute, 5-minute OI and long/short history (each
poll re-sending its previous point, as the venues' pages do), hourly perp and spot volume,
funding settlements every 8h, daily Fear & Greed and stablecoin supply, and liquidations as the
streams deliver them (one batch per venue and second). By default each venue's and endpoint's
samples are appended once an hour of data (``--batch-minutes 1``: every poll and stream batch
on its own, as the app does, five times slower for the same content); the store is read after
every round, as the app's refresh reads it, and the full view (signals of all 20 assets) is
built every 12 simulated hours. The app's view worker trims the heaps once a minute (malloc_trim:
the view's temporaries leave holes); here they are trimmed once a simulated hour, just after an
RSS sample, and after each view.

The store keeps ``--retention-days`` (30) of history. The run feeds twice that: the first half
fills the store up to its steady state (30 days of every series, 1M liquidation events held),
the second half is steady state, where memory must stay flat. RSS is read from
/proc/self/status after each view and every simulated 6 hours.

Budget: RSS <= 250 MB at every sample right after a view in the second half, and flat: over the
second half, the least-squares line through those samples rises by less than 5% (a leak climbs
steadily; a reallocation or a view build only moves a sample up or down). The app re-evaluates
every asset within about a minute, so it always stands as this process does right after a view.
The samples between views also hold the store's arrays that the signal engine's last evaluation
read and the store has replaced since: for hours here, for seconds in the app. Their peak is
reported as ``rss_between_views_peak_mb``.

    .venv/bin/python benchmarks/memory.py [--days 60] [--retention-days 30] [--assets 20]
        [--liquidations 1000000] [--batch-minutes 60] [--no-sources]

By default the process also holds what a live levtop holds besides its data: the Textual app's
modules and ccxt.pro with the three venues' exchange objects (``--no-sources`` leaves ccxt out,
to see the data's share alone). ``signal_engine_remembered_mb`` is the signal engine's share at
the end: the results it keeps across evaluations.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from dataclasses import dataclass

import numpy as np

from levtop.heap import release_free_memory
from levtop.model import DAY, HOUR, MINUTE
from levtop.signals import remembered_bytes
from levtop.store import HistoryStore
from levtop.view import ViewBuilder

VENUES = ("binance", "bybit", "okx")
ASSETS = ("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "ADA", "AVAX", "LINK", "DOT",
          "TRX", "LTC", "BCH", "NEAR", "APT", "ARB", "OP", "SUI", "TON", "ATOM")
Row = tuple[int, str, str, str, float]
"""A sample as the store takes it: ``levtop.model.Sample`` is this tuple with names."""
START_MS = 1_700_006_400_000  # a UTC midnight
BUDGET_MB = 250.0
FLAT_LIMIT = 0.05
RSS_EVERY_MS = 6 * HOUR


def rss_mb(field: str = "VmRSS") -> float:
    """Resident memory in MB: VmRSS (the budget's), or its parts RssAnon (the process's own heap)
    and RssFile (mapped files such as polars' 170 MB library: how much of it counts as resident
    depends on the page cache, e.g. more in a freshly installed venv)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Market:
    """Random walks for every (venue, asset): enough to give the store realistic values."""

    assets: tuple[str, ...]
    rng: np.random.Generator

    def __post_init__(self) -> None:
        shape = (len(VENUES), len(self.assets))
        self.price = 10 ** self.rng.uniform(-1, 4.8, len(self.assets))[None, :] * np.ones(shape)
        self.oi = 10 ** self.rng.uniform(6, 9, shape)
        self.funding = np.full(shape, 1e-4)
        self.ratio = np.ones(shape)

    def step(self) -> None:
        shape = self.price.shape
        self.price *= np.exp(self.rng.normal(0, 1e-3, shape[1]))[None, :]
        self.oi *= np.exp(self.rng.normal(0, 5e-4, shape))
        self.funding = 0.98 * self.funding + self.rng.normal(2e-6, 5e-6, shape)
        self.ratio = np.clip(self.ratio * np.exp(self.rng.normal(0, 2e-3, shape)), 0.3, 3.0)


class Feed:
    """The batches the pipeline would append, minute by minute."""

    def __init__(self, assets: tuple[str, ...], liquidations_per_day: float, seed: int):
        self.assets = assets
        self.rng = np.random.default_rng(seed)
        self.market = Market(assets, self.rng)
        self.liq_per_minute = liquidations_per_day / (DAY // MINUTE)
        self.liquidations = 0
        self.samples = 0
        self._last_history: dict[str, dict[str, np.ndarray]] = {}

    def minute(self, t: int) -> list[tuple[tuple[str, str], list[Row]]]:
        """Every batch of the minute that ends at ``t`` in arrival order, each with its kind
        (endpoint, venue)."""
        self.market.step()
        batches = [(("stream", VENUES[v]), batch) for v, batch in self._liquidation_batches(t - MINUTE)]
        for v, venue in enumerate(VENUES):
            batches += [((endpoint, venue), batch) for endpoint, batch in self._polls(t + 40 * v, v, venue)]
        self.samples += sum(len(b) for _, b in batches)
        return batches

    def _polls(self, now: int, v: int, venue: str) -> list[tuple[str, list[Row]]]:
        m, assets = self.market, self.assets
        price, funding, oi = m.price[v].tolist(), m.funding[v].tolist(), m.oi[v].tolist()
        batches = [
            ("tickers", [s for i, a in enumerate(assets) for s in (
                (now, venue, a, "price", price[i]), (now, venue, a, "funding_8h", funding[i]))]),
            ("openInterest", [s for i, a in enumerate(assets) for s in (
                (now + 5, venue, a, "oi_base", oi[i]), (now + 5, venue, a, "oi_usd", oi[i] * price[i]))]),
        ]
        if now // MINUTE % 5 == 0:
            batches += self._history(now // (5 * MINUTE) * 5 * MINUTE, v, venue)
        if now // MINUTE % 60 == 0:
            hour = now // HOUR * HOUR
            for metric in ("perp_volume_usd", "spot_volume_usd"):
                batches.append((metric, [(ts, venue, a, metric, float(self.rng.lognormal(17, 1)))
                                         for a in assets for ts in (hour - HOUR, hour)]))
        if now // MINUTE % (8 * 60) == 0:
            batches.append(("fundingRate", [(now // (8 * HOUR) * 8 * HOUR, venue, a, "funding_8h", funding[i])
                                            for i, a in enumerate(assets)]))
        if v == 0 and now // MINUTE % (24 * 60) == 0:
            day = now // DAY * DAY
            batches.append(("daily", [(day, "market", "*", "fear_greed", float(self.rng.integers(5, 95))),
                                      (day, "market", "*", "stablecoin_supply_usd",
                                             1.6e11 + self.rng.normal(0, 1e9))]))
        return batches

    def _history(self, step: int, v: int, venue: str) -> list[tuple[str, list[Row]]]:
        """The last two closed 5-minute points of each statistic: the newer one is new, the older
        one (the same value as last time) joins it to what is stored."""
        m = self.market
        now = {"oi_base": m.oi[v], "oi_usd": m.oi[v] * m.price[v], "long_short_ratio": m.ratio[v],
               "top_long_short_ratio": m.ratio[v] * 0.9}
        before = self._last_history.get(venue, now)
        self._last_history[venue] = now
        batches = []
        for metrics in (("oi_base", "oi_usd"), ("long_short_ratio",), ("top_long_short_ratio",)):
            batches.append((metrics[0], [(ts, venue, a, metric, float(values[metric][i]))
                                         for i, a in enumerate(self.assets)
                                         for ts, values in ((step - 10 * MINUTE, before), (step - 5 * MINUTE, now))
                                         for metric in metrics]))
        return batches

    def _liquidation_batches(self, start: int) -> list[tuple[int, list[Row]]]:
        """This minute's liquidations, one batch per venue and second (a stream delivers them as
        they come; events of one second usually arrive together), with the venue's index."""
        n = int(self.rng.poisson(self.liq_per_minute))
        if not n:
            return []
        self.liquidations += n
        ts = np.sort(start + self.rng.integers(0, MINUTE, n)).tolist()
        venue = self.rng.integers(0, len(VENUES), n).tolist()
        asset = self.rng.integers(0, len(self.assets), n).tolist()
        long = (self.rng.random(n) < 0.5).tolist()
        usd = self.rng.lognormal(9, 1.5, n).tolist()
        batches: dict[tuple[int, int], list[Row]] = {}
        for k in range(n):
            sample = (ts[k], VENUES[venue[k]], self.assets[asset[k]],
                            "liq_long_usd" if long[k] else "liq_short_usd", usd[k])
            batches.setdefault((venue[k], ts[k] // 1000), []).append(sample)
        return [(v, batch) for (v, _), batch in batches.items()]


def hold_live_sources() -> list:
    """What a live levtop holds besides its data: ccxt, loaded as the venues load it, and one
    exchange object per venue."""
    from levtop.sources.ccxt_loader import exchange_class

    return [exchange_class(exchange_id)() for exchange_id in ("binanceusdm", "bybit", "okx")]


def run(args: argparse.Namespace) -> dict:
    import levtop.app  # noqa: F401 - the app's modules are part of its footprint

    exchanges = hold_live_sources() if args.sources else []
    assets = ASSETS[: args.assets]
    store = HistoryStore(retention_ms=int(args.retention_days * DAY))
    builder = ViewBuilder()
    feed = Feed(assets, args.liquidations / args.retention_days, args.seed)
    gc.collect()
    baseline = rss_mb()
    end = START_MS + int(args.days * DAY)
    samples: list[dict] = []
    t = START_MS
    wall = time.perf_counter()
    cpu = time.process_time()
    next_view = START_MS + int(args.view_every_h * HOUR)
    held: dict[tuple[str, str], list[Row]] = {}
    while t < end:
        t += MINUTE
        for kind, batch in feed.minute(t):
            if args.batch_minutes == 1:
                store.append(batch)
            else:
                held.setdefault(kind, []).extend(batch)
        if t % (args.batch_minutes * MINUTE) == 0:
            for batch in held.values():
                store.append(batch)
            held.clear()
        if t % (max(args.batch_minutes, 5) * MINUTE) == 0:
            store.series_map()  # the app's refresh
        after_view = t >= next_view
        if after_view:
            builder.build(store, assets, assets[0], "30d")
            release_free_memory(min_interval_s=0)  # the app's view worker does this once a minute
            next_view += int(args.view_every_h * HOUR)
        if after_view or (t - START_MS) % RSS_EVERY_MS == 0:
            day = (t - START_MS) / DAY
            samples.append({"day": round(day, 2), "rss_mb": round(rss_mb(), 1), "after_view": after_view,
                            "rss_anon_mb": round(rss_mb("RssAnon"), 1), "rss_file_mb": round(rss_mb("RssFile"), 1)})
            if day == int(day):
                log(f"day {int(day):3d}: RSS {samples[-1]['rss_mb']:.1f} MB, {feed.liquidations:,} liquidations, "
                    f"{time.perf_counter() - wall:.0f} s")
        if t % HOUR == 0:
            # The app's view worker trims the heaps once a minute; sixty times less often here.
            # After the RSS sample, so a sample holds an hour of growth since the last trim.
            release_free_memory(min_interval_s=0)
    del exchanges  # held to the end, as the app holds them
    return summarize(args, samples, baseline, store, feed, time.perf_counter() - wall, time.process_time() - cpu)


def trend_growth(days: list[float], rss: list[float]) -> float:
    """Growth over the stretch by its least-squares line, as a share of its start: a leak's
    steady climb, not the ups and downs of reallocations and view builds."""
    slope, intercept = np.polyfit(days, rss, 1)
    start = slope * days[0] + intercept
    return float(slope * (days[-1] - days[0]) / start)


def summarize(args, samples, baseline, store, feed, wall_s, cpu_s) -> dict:
    half = args.days / 2
    # The app re-evaluates every asset within about a minute; what it holds is what this process
    # holds right after a view of every asset. Between two views here (12 simulated hours), the
    # signal engine still holds the store's arrays of its last evaluation that the store has
    # replaced since (a series is copied when its rows are thinned or outgrow their room): a
    # state the app leaves within a minute. Those samples are reported, not budgeted.
    second = [s for s in samples if s["day"] >= half and s["after_view"]]
    between = [s["rss_mb"] for s in samples if s["day"] >= half and not s["after_view"]]
    rss = [s["rss_mb"] for s in second]
    peak = max(rss)
    growth = trend_growth([s["day"] for s in second], rss)
    held = store.frame(since=store.newest_ts - int(args.retention_days * DAY))
    liq_held = held.filter(held["metric"].str.starts_with("liq_")).height
    return {
        "name": "memory",
        "budget": f"RSS <= {BUDGET_MB:.0f} MB (right after a view of every asset, as the app stands) after {args.retention_days:g} days at {args.assets} assets x 3 venues "
                  f"and {args.liquidations:,} liquidations; flat over the last half (trend growth < {FLAT_LIMIT:.0%})",
        "value": round(peak, 1),
        "unit": "MB",
        "passed": bool(peak <= BUDGET_MB and growth < FLAT_LIMIT),
        "rss_end_mb": samples[-1]["rss_mb"],
        "rss_between_views_peak_mb": max(between, default=None),
        "rss_anon_peak_mb": max(s["rss_anon_mb"] for s in second),
        "rss_file_at_end_mb": samples[-1]["rss_file_mb"],
        "rss_mid_mb": rss[0],
        "rss_last_half_min_mb": min(rss),
        "last_half_trend_growth": round(growth, 4),
        "baseline_mb": round(baseline, 1),
        "live_sources_loaded": args.sources,
        "days_fed": args.days,
        "retention_days": args.retention_days,
        "assets": args.assets,
        "venues": len(VENUES),
        "samples_appended": feed.samples,
        "liquidation_events_fed": feed.liquidations,
        "rows_held": held.height,
        "liquidation_rows_held": liq_held,
        "signal_engine_remembered_mb": round(remembered_bytes() / 2**20, 1),
        "wall_s": round(wall_s, 1),
        "cpu_s": round(cpu_s, 1),
        "rss_mb_every_6h": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=60.0, help="simulated days fed (default 60)")
    parser.add_argument("--retention-days", type=float, default=30.0)
    parser.add_argument("--assets", type=int, default=20, choices=range(1, len(ASSETS) + 1), metavar="N")
    parser.add_argument("--liquidations", type=int, default=1_000_000,
                        help="liquidation events per retention window (default 1,000,000)")
    parser.add_argument("--view-every-h", type=float, default=12.0,
                        help="simulated hours between two full view builds (default 12)")
    parser.add_argument("--no-sources", dest="sources", action="store_false",
                        help="leave ccxt out of the process (the data's share alone)")
    parser.add_argument("--batch-minutes", type=int, default=60, choices=(1, 5, 15, 30, 60), metavar="N",
                        help="append each venue's and endpoint's samples every N simulated minutes, and read the "
                             "store after; 1 appends every poll and every stream batch as the app does (default 60: "
                             "the same samples in fewer calls, five times faster)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
