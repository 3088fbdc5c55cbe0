"""The simulator's market model: determinism, shapes, ranges, windows and samples."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from levtop.model import DAY, HOUR, METRICS, MINUTE, SCHEMA
from levtop.sim.macro import classify_fear_greed
from levtop.sim.market import SCENARIOS, VENUES, Liquidation, Market, Tick
from levtop.sim.numeric import ou_filter, trailing_extreme
from levtop.sim.samples import market_samples
from levtop.sim.scenarios import SCENARIO_BUILDERS, scenario

START = 1_750_000_000_000 - 1_750_000_000_000 % MINUTE
FLUSH_AT = START + 2 * HOUR


def grid_count(lo: int, hi: int, step: int) -> int:
    """How many multiples of step lie in [lo, hi]."""
    return hi // step - (-(-lo // step)) + 1


@pytest.fixture(scope="module")
def market() -> Market:
    return Market("recovery", seed=7, start_ms=START)


def test_contract_constants() -> None:
    assert SCENARIOS == ("recovery", "trap", "calm", "overheat")
    assert VENUES == ("binance", "bybit", "okx")


def test_time_range(market: Market) -> None:
    assert market.start_ms == START
    assert market.first_ms == START - 35 * DAY
    assert market.end_ms == START + 45 * DAY
    assert market.assets == ("BTC", "ETH", "SOL")
    assert market.venues == VENUES
    unaligned = Market("calm", seed=1, assets=("BTC",), start_ms=START + 12_345, history_days=3, horizon_days=1)
    assert unaligned.start_ms == START


def test_same_seed_same_market_other_seed_differs(market: Market) -> None:
    again = Market("recovery", seed=7, start_ms=START)
    other = Market("recovery", seed=8, start_ms=START)
    times = [START - 20 * DAY, START, FLUSH_AT + 3 * HOUR, START + 10 * DAY]
    for ts in times:
        assert again.tick("BTC", "okx", ts) == market.tick("BTC", "okx", ts)
    window = (FLUSH_AT, FLUSH_AT + HOUR)
    assert again.liquidations("ETH", "bybit", *window) == market.liquidations("ETH", "bybit", *window)
    assert again.candles("SOL", "binance", START - DAY, START, HOUR) == market.candles("SOL", "binance", START - DAY, START, HOUR)
    assert again.fear_greed_history(START, 30) == market.fear_greed_history(START, 30)
    assert other.tick("BTC", "okx", START) != market.tick("BTC", "okx", START)
    assert other.liquidations("ETH", "bybit", *window) != market.liquidations("ETH", "bybit", *window)


def test_asset_paths_do_not_depend_on_the_other_assets(market: Market) -> None:
    alone = Market("recovery", seed=7, assets=("ETH",), start_ms=START)
    assert alone.tick("ETH", "binance", START) == market.tick("ETH", "binance", START)


@pytest.mark.parametrize("asset", ["BTC", "ETH", "SOL"])
@pytest.mark.parametrize("venue", VENUES)
def test_tick_fields_are_consistent(market: Market, asset: str, venue: str) -> None:
    for ts in (market.first_ms, START - 10 * DAY + 123_456, START, FLUSH_AT + 4 * HOUR, market.end_ms):
        t = market.tick(asset, venue, ts)
        assert isinstance(t, Tick)
        assert t.ts % MINUTE == 0 and t.ts <= ts < t.ts + MINUTE
        assert t.mark_price > 0 and abs(t.mark_price / t.index_price - 1) < 0.01
        assert abs(t.last_price / t.mark_price - 1) < 0.001
        assert t.oi_base > 0
        assert -0.003 <= t.funding_rate <= 0.003
        assert t.funding_interval_h == 8
        assert t.next_funding_ts % (8 * HOUR) == 0 and 0 < t.next_funding_ts - t.ts <= 8 * HOUR
        assert t.long_short_ratio == pytest.approx(t.long_account / (1 - t.long_account))
        assert t.top_long_short_ratio == pytest.approx(t.top_long_account / (1 - t.top_long_account))
        assert 0 < t.long_account < 1 and 0 < t.top_long_account < 1
        assert t.volume_base_24h > 0 and t.volume_quote_24h > 0 and t.spot_volume_quote_24h > 0
        assert t.volume_quote_24h / t.volume_base_24h == pytest.approx(t.index_price, rel=0.3)
        assert t.low_24h <= min(t.open_24h, t.last_price) <= max(t.open_24h, t.last_price) <= t.high_24h


def test_levels_are_realistic(market: Market) -> None:
    calm = START - 30 * DAY
    ticks = {v: market.tick("BTC", v, calm) for v in VENUES}
    assert 50_000 < ticks["binance"].index_price < 110_000
    assert ticks["binance"].oi_base > ticks["bybit"].oi_base > ticks["okx"].oi_base
    assert 40_000 < ticks["binance"].oi_base < 120_000
    aggregate_usd = sum(t.oi_base * t.mark_price for t in ticks.values())
    assert 5e9 < aggregate_usd < 15e9
    assert all(t.funding_rate == pytest.approx(0.0001, abs=0.00005) for t in ticks.values())
    eth, sol = market.tick("ETH", "binance", calm), market.tick("SOL", "binance", calm)
    assert 1_500 < eth.index_price < 6_000 and 80 < sol.index_price < 300


def test_contract_sizes(market: Market) -> None:
    assert market.contract_size("BTC", "okx") == 0.01
    assert market.contract_size("ETH", "okx") == 0.1
    assert market.contract_size("SOL", "okx") == 1.0
    for asset in ("BTC", "ETH", "SOL"):
        assert market.contract_size(asset, "binance") == 1.0
        assert market.contract_size(asset, "bybit") == 1.0


def test_queries_past_the_end_clamp(market: Market) -> None:
    assert market.tick("BTC", "bybit", market.end_ms + 10 * DAY) == market.tick("BTC", "bybit", market.end_ms)
    assert market.tick("BTC", "bybit", market.first_ms - DAY) == market.tick("BTC", "bybit", market.first_ms)
    history = market.oi_history("BTC", "binance", market.end_ms - DAY, market.end_ms + 5 * DAY, HOUR)
    assert history and history[-1][0] <= market.end_ms
    candles = market.candles("BTC", "binance", market.end_ms - 3 * HOUR, market.end_ms + DAY, HOUR)
    assert candles and candles[-1][0] <= market.end_ms
    assert market.liquidations("BTC", "okx", market.end_ms + DAY, market.end_ms + 2 * DAY) == []
    assert market.fear_greed_history(market.end_ms + 10 * DAY, 1) == market.fear_greed_history(market.end_ms, 1)


def test_candles_are_aligned_and_aggregate_minutes(market: Market) -> None:
    start, end = START - 6 * HOUR + 17 * MINUTE, START
    hourly = market.candles("BTC", "binance", start, end, HOUR)
    minutes = market.candles("BTC", "binance", START - 6 * HOUR, end + HOUR - MINUTE, MINUTE)
    assert [c[0] for c in hourly] == list(range(START - START % HOUR - 5 * HOUR, end + 1, HOUR))
    for open_ts, o, h, l, c, vb, vq in hourly:
        inside = [m for m in minutes if open_ts <= m[0] < min(open_ts + HOUR, end + MINUTE)]
        assert o == inside[0][1] and c == inside[-1][4]
        assert h == max(m[2] for m in inside) and l == min(m[3] for m in inside)
        assert vb == pytest.approx(sum(m[5] for m in inside)) and vq == pytest.approx(sum(m[6] for m in inside))
        assert l <= min(o, c) <= max(o, c) <= h and vb > 0
    with pytest.raises(ValueError):
        market.candles("BTC", "binance", start, end, 30_000)


def test_oi_and_long_short_history_on_period_boundaries(market: Market) -> None:
    period = 5 * MINUTE
    oi = market.oi_history("ETH", "bybit", START - DAY + 1, START, period)
    assert len(oi) == grid_count(START - DAY + 1, START, period)
    assert all(ts % period == 0 and START - DAY < ts <= START for ts, _, _ in oi)
    assert all(usd == pytest.approx(coins * market.tick("ETH", "bybit", ts).mark_price) for ts, coins, usd in oi[:5])
    for top in (False, True):
        ls = market.long_short_history("ETH", "bybit", START - DAY, START, HOUR, top=top)
        assert len(ls) == grid_count(START - DAY, START, HOUR)
        assert all(ratio == pytest.approx(acc / (1 - acc)) for _, ratio, acc in ls)
    assert market.long_short_history("ETH", "bybit", START - DAY, START, HOUR, top=True) != \
        market.long_short_history("ETH", "bybit", START - DAY, START, HOUR)


def test_funding_history_settles_on_8h_boundaries(market: Market) -> None:
    history = market.funding_history("BTC", "binance", START - 10 * DAY, START)
    assert len(history) == grid_count(START - 10 * DAY, START, 8 * HOUR)
    assert all(ts % (8 * HOUR) == 0 and START - 10 * DAY <= ts <= START for ts, _ in history)
    assert [ts for ts, _ in history] == sorted(ts for ts, _ in history)
    overheated = [rate for ts, rate in history if ts > START - 3 * DAY]
    assert min(overheated) > 0.0003
    early = market.funding_history("BTC", "binance", market.first_ms, market.first_ms + 3 * DAY)
    assert early[0][0] > market.first_ms
    assert np.median([r for _, r in early]) == pytest.approx(0.0001, abs=1e-6)
    # The settled rate equals the running prediction just before the settlement.
    ts, rate = history[-1]
    assert market.tick("BTC", "binance", ts - MINUTE).funding_rate == pytest.approx(rate)


def test_liquidation_windows_compose(market: Market) -> None:
    a, b, c = FLUSH_AT, FLUSH_AT + 37 * MINUTE + 123, FLUSH_AT + 2 * HOUR
    for venue in VENUES:
        whole = market.liquidations("BTC", venue, a, c)
        assert whole == market.liquidations("BTC", venue, a, b) + market.liquidations("BTC", venue, b, c)
        assert [x.ts for x in whole] == sorted(x.ts for x in whole)
        assert all(a <= x.ts < c and x.asset == "BTC" and x.venue == venue for x in whole)
    midnight = START - START % DAY + DAY
    across = market.liquidations("SOL", "okx", midnight - HOUR, midnight + HOUR)
    assert across == market.liquidations("SOL", "okx", midnight - HOUR, midnight) + \
        market.liquidations("SOL", "okx", midnight, midnight + HOUR)
    fresh = Market("recovery", seed=7, start_ms=START)
    assert fresh.liquidations("BTC", "binance", b, c) == market.liquidations("BTC", "binance", b, c)


def test_liquidation_events_are_plausible(market: Market) -> None:
    events = market.liquidations("BTC", "okx", FLUSH_AT, FLUSH_AT + 8 * HOUR)
    assert all(isinstance(e, Liquidation) and e.side in ("long", "short") for e in events)
    assert all(e.qty > 0 and e.price > 0 for e in events)
    # OKX quantities are whole contracts.
    assert all(abs(e.qty / 0.01 - round(e.qty / 0.01)) < 1e-6 for e in events)
    longs = sum(e.price * e.qty for e in events if e.side == "long")
    shorts = sum(e.price * e.qty for e in events if e.side == "short")
    assert longs > 10 * shorts
    sizes = np.array([e.price * e.qty for e in events])
    assert sizes.max() > 20 * np.median(sizes)  # heavy tail: a few whales
    # Fills cluster at round thousands: more events just under them than elsewhere.
    distance = np.array([e.price % 1000 for e in events if e.side == "long"])
    assert np.mean(distance > 990) > 3 * 0.01


def test_cascade_is_billions_and_calm_hours_are_never_empty(market: Market) -> None:
    cascade = sum(e.price * e.qty for v in VENUES for e in market.liquidations("BTC", v, FLUSH_AT, FLUSH_AT + DAY))
    assert cascade > 1.5e9
    hourly = []
    for h in range(0, 30 * 24, 7):
        t = START - 32 * DAY + h * HOUR
        hourly.append(sum(e.price * e.qty for v in VENUES for e in market.liquidations("BTC", v, t, t + HOUR)))
    assert min(hourly) > 0
    assert 1e5 < float(np.median(hourly)) < 1e7


def test_fear_greed_history(market: Market) -> None:
    history = market.fear_greed_history(START + 10 * DAY, 20)
    assert len(history) == 20
    days = [d for d, _, _ in history]
    assert days == sorted(days, reverse=True) and all(d % DAY == 0 and d <= START + 10 * DAY for d in days)
    assert all(0 <= v <= 100 and label == classify_fear_greed(v) for _, v, label in history)
    assert classify_fear_greed(10) == "Extreme Fear" and classify_fear_greed(90) == "Extreme Greed"
    assert len(market.fear_greed_history(START, 10_000)) == 36


def test_stablecoin_history(market: Market) -> None:
    history = market.stablecoin_history(START + 5 * DAY)
    days = [d for d, _ in history]
    assert days == sorted(days) and days[0] <= market.first_ms < days[0] + DAY and days[-1] <= START + 5 * DAY
    assert all(150e9 < v < 200e9 for _, v in history)


def test_market_samples_shape_and_granularity(market: Market) -> None:
    lo = START - 3 * DAY
    frame = market_samples(market, lo, START)
    assert frame.schema == pl.Schema(SCHEMA)
    assert set(frame["metric"].unique()) == set(METRICS)
    assert frame["ts"].is_sorted()
    assert frame["ts"].min() >= START - 3 * DAY and frame["ts"].max() <= START
    per_series = frame.group_by("venue", "asset", "metric").agg(pl.len().alias("n"), pl.col("ts"))
    for row in per_series.iter_rows(named=True):
        ts = np.array(row["ts"])
        metric = row["metric"]
        if metric in ("price", "oi_base", "oi_usd", "long_short_ratio", "top_long_short_ratio"):
            assert row["n"] == grid_count(lo, START, 5 * MINUTE) and np.all(ts % (5 * MINUTE) == 0)
        elif metric == "funding_8h":
            assert row["n"] == grid_count(lo, START, 8 * HOUR) and np.all(ts % (8 * HOUR) == 0)
        elif metric.endswith("_volume_usd"):
            assert row["n"] == grid_count(lo, START, HOUR) and np.all(ts % HOUR == 0)
        elif metric in ("fear_greed", "stablecoin_supply_usd"):
            assert row["venue"] == "market" and row["asset"] == "*" and np.all(ts % DAY == 0)
    venues = set(frame.filter(pl.col("asset") != "*")["venue"].unique())
    assert venues == set(VENUES)


def test_market_samples_match_the_model(market: Market) -> None:
    frame = market_samples(market, START, START + 6 * HOUR)
    liq = frame.filter(pl.col("asset") == "BTC", pl.col("venue") == "bybit", pl.col("metric") == "liq_long_usd")
    events = [e for e in market.liquidations("BTC", "bybit", START, START + 6 * HOUR + 1) if e.side == "long"]
    assert liq.height == len(events)
    assert liq["value"].sum() == pytest.approx(sum(e.price * e.qty for e in events))
    funding = frame.filter(pl.col("asset") == "ETH", pl.col("venue") == "okx", pl.col("metric") == "funding_8h")
    expected = market.funding_history("ETH", "okx", START, START + 6 * HOUR)
    assert funding.select("ts", "value").rows() == expected
    price = frame.filter(pl.col("asset") == "SOL", pl.col("venue") == "binance", pl.col("metric") == "price")
    assert price["value"][0] == market.tick("SOL", "binance", price["ts"][0]).mark_price


def test_unknown_inputs_are_refused(market: Market) -> None:
    with pytest.raises(ValueError):
        Market("crash")
    with pytest.raises(KeyError):
        market.tick("DOGE", "binance", START)
    with pytest.raises(KeyError):
        market.tick("BTC", "kraken", START)


def test_unknown_assets_get_a_plausible_profile() -> None:
    m = Market("calm", seed=3, assets=("DOGE",), start_ms=START, history_days=2, horizon_days=1)
    t = m.tick("DOGE", "binance", START)
    assert t.index_price > 0 and t.oi_base > 0
    assert m.contract_size("DOGE", "okx") == 1.0


def test_memory_per_asset_stays_small(market: Market) -> None:
    paths = market._paths["BTC"]
    arrays = [v for v in vars(paths).values() if isinstance(v, np.ndarray)]
    arrays += [a for dev in paths.venues.values() for a in vars(dev).values()]
    assert sum(a.nbytes for a in arrays) < 15e6


def test_cached_blocks_answer_exactly_what_a_direct_computation_gives() -> None:
    from levtop.sim.market import BLOCK_CACHE_SIZE, BLOCK_MINUTES

    m = Market("trap", seed=5, start_ms=START)
    edge = 3 * BLOCK_MINUTES
    for idx in (np.array([edge - 1, edge, edge + 1]), np.arange(edge - 500, edge + 90), np.array([0, 17]),
                np.array([edge + 3, edge - 2 * BLOCK_MINUTES, edge])):  # unsorted, over three blocks
        for venue in VENUES:
            cached = m.venue_levels("ETH", venue, m.first_ms + idx * MINUTE)
            direct = m._levels_at("ETH", venue, idx)
            assert all(np.array_equal(c, d) for c, d in zip(cached, direct, strict=True))
    for a, b in ((edge - 1440, edge + 1), (edge, edge + 1), (1, 70), (0, 5 * BLOCK_MINUTES + 7)):
        for spot in (False, True):
            cached = m._minute_candles("SOL", "okx", a, b, spot=spot)
            direct = m._candles_between("SOL", "okx", a, b, spot=spot)
            assert all(np.array_equal(c, d) for c, d in zip(cached, direct, strict=True))
    assert len(m._blocks) <= BLOCK_CACHE_SIZE
    with pytest.raises(ValueError):  # what a caller gets is never a writable view of the cache
        m._minute_candles("SOL", "okx", edge, edge + 5)[1][0] = 0.0


def test_numeric_helpers() -> None:
    x = np.random.default_rng(0).standard_normal(5_000)
    decay = 0.97
    expected = np.empty_like(x)
    acc = 0.0
    for i, v in enumerate(x):
        acc = decay * acc + v
        expected[i] = acc
    assert np.allclose(ou_filter(x, decay), expected)
    window = 37
    lows = trailing_extreme(x, window, maximum=False)
    highs = trailing_extreme(x, window, maximum=True)
    for i in (0, 5, 36, 37, 1000, 4999):
        assert lows[i] == x[max(0, i - window + 1): i + 1].min()
        assert highs[i] == x[max(0, i - window + 1): i + 1].max()


@pytest.mark.parametrize("name", list(SCENARIO_BUILDERS))
def test_scenario_keyframes_run_forward_in_time(name: str) -> None:
    story = scenario(name)
    for field in ("drift", "vol", "oi_growth", "premium", "long_account", "fear_greed", "stablecoin_growth", "activity"):
        hours = [h for h, _ in getattr(story, field)]
        assert hours == sorted(hours), f"{name}.{field} keyframes out of order"
