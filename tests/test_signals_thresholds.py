"""Every signal at, just inside and just outside each threshold of design.md section 3."""

from __future__ import annotations

import dataclasses

import pytest

from levtop.signals import Thresholds, evaluate
from samples_builder import DAY, HOUR, T0, Rows


def signal_at(rows: Rows, name: str, asset: str = "BTC", thresholds: Thresholds | None = None, at: int = T0):
    (verdict,) = evaluate(rows.frame(), asset, [at], thresholds)
    return verdict.signals[name]


# -- funding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rate, state",
    [
        (-0.00005, "good"),  # at the low edge of neutral
        (-0.0000499, "good"),
        (-0.0000501, "warn"),  # shorts crowded
        (0.0, "good"),
        (0.00015, "good"),  # at the high edge of neutral
        (0.0001499, "good"),
        (0.0001501, "warn"),  # warming
        (0.0003, "warn"),  # at the overheated bound, still warm
        (0.0002999, "warn"),
        (0.0003001, "bad"),  # overheated
        (-0.002, "warn"),
    ],
)
def test_funding_bounds(rate, state):
    rows = Rows().add("binance", "BTC", "funding_8h", [(T0 - 16 * HOUR, rate), (T0 - 8 * HOUR, rate), (T0, rate)])
    sig = signal_at(rows, "funding")
    assert sig.state == state
    assert sig.value == pytest.approx(rate, abs=1e-15)
    assert "%/8h" in sig.reason


def test_funding_is_the_mean_of_the_last_24h_only():
    rows = Rows().add(
        "binance", "BTC", "funding_8h",
        [(T0 - 24 * HOUR, 0.01), (T0 - 24 * HOUR + 1, 0.0001), (T0 - 8 * HOUR, 0.0002), (T0 + 1, 0.05)],
    )
    sig = signal_at(rows, "funding")
    # (t - 24h, t]: the observation exactly 24h old and the one after t are both outside.
    assert sig.value == pytest.approx(0.00015)
    assert sig.state == "good"


def test_funding_is_oi_weighted_across_venues():
    rows = (
        Rows()
        .add("binance", "BTC", "funding_8h", [(T0, 0.0001)])
        .add("bybit", "BTC", "funding_8h", [(T0, 0.0005)])
        .add("binance", "BTC", "oi_usd", [(T0, 9e9)])
        .add("bybit", "BTC", "oi_usd", [(T0, 1e9)])
    )
    sig = signal_at(rows, "funding")
    assert sig.value == pytest.approx(0.00014)
    assert sig.state == "good"
    assert "OI-weighted" in sig.reason


def test_funding_falls_back_to_equal_weights_when_a_venue_oi_is_unknown():
    rows = (
        Rows()
        .add("binance", "BTC", "funding_8h", [(T0, 0.0001)])
        .add("bybit", "BTC", "funding_8h", [(T0, 0.0005)])
        .add("binance", "BTC", "oi_usd", [(T0, 9e9)])
    )
    sig = signal_at(rows, "funding")
    assert sig.value == pytest.approx(0.0003)
    assert sig.state == "warn"
    assert "equal-weighted" in sig.reason


def test_funding_unknown_without_observations_in_window():
    rows = Rows().add("binance", "BTC", "funding_8h", [(T0 - 24 * HOUR, 0.0001)])
    sig = signal_at(rows, "funding")
    assert (sig.state, sig.value) == ("unknown", None)
    assert "no funding" in sig.reason


# -- oi_rebuild -------------------------------------------------------------------------------


def oi_rows(v72: float, v24: float, v0: float, metric: str = "oi_base") -> Rows:
    # Split across two venues 60/40 so the aggregate is a sum, not one venue's value.
    rows = Rows()
    for venue, share in (("binance", 0.6), ("okx", 0.4)):
        rows.add(venue, "BTC", metric, [(T0 - 72 * HOUR, v72 * share), (T0 - 24 * HOUR, v24 * share), (T0, v0 * share)])
    return rows


@pytest.mark.parametrize(
    "v72, v24, v0, state",
    [
        (100, 100, 103, "good"),  # 24h exactly +3%, 72h +3%
        (100, 100, 102.99, "good"),
        (100, 100, 103.01, "warn"),  # 24h just past +3%
        (100, 103, 106, "good"),  # 72h exactly +6%
        (100, 103, 106.01, "warn"),  # 72h just past +6%
        (100, 100, 105, "warn"),  # 24h exactly +5%
        (100, 100, 105.01, "bad"),
        (100, 106, 110, "warn"),  # 72h exactly +10%
        (100, 106, 110.01, "bad"),
        (100, 90, 80, "good"),  # falling OI is not a rebuild
    ],
)
def test_oi_rebuild_bounds(v72, v24, v0, state):
    sig = signal_at(oi_rows(v72, v24, v0), "oi_rebuild")
    assert sig.state == state
    assert sig.value == pytest.approx(v0 / v24 - 1)


def test_oi_rebuild_prefers_coins_over_usd():
    rows = oi_rows(100, 100, 101, "oi_base")
    for venue in ("binance", "okx"):
        # USD OI doubled with price: the coin count shows no rebuild, and coins win.
        rows.add(venue, "BTC", "oi_usd", [(T0 - 72 * HOUR, 1e9), (T0 - 24 * HOUR, 1e9), (T0, 2e9)])
    sig = signal_at(rows, "oi_rebuild")
    assert sig.value == pytest.approx(0.01)
    assert "coin OI" in sig.reason


def test_oi_rebuild_unknown_without_72h_of_history():
    rows = Rows().add("binance", "BTC", "oi_base", [(T0 - 24 * HOUR, 100), (T0, 101)])
    sig = signal_at(rows, "oi_rebuild")
    assert sig.state == "unknown"
    assert "72h" in sig.reason


# -- oi_level ---------------------------------------------------------------------------------


def level_rows(values: list[float], spacing_h: float = 36.0) -> Rows:
    n = len(values)
    return Rows().add("binance", "BTC", "oi_usd", [(T0 - int((n - 1 - i) * spacing_h * HOUR), v) for i, v in enumerate(values)])


def with_ceiling(ceiling: float) -> Thresholds:
    return Thresholds(oi_ceiling_usd={"BTC": ceiling})


@pytest.mark.parametrize(
    "values, ceiling, state",
    [
        ([0.97e9, 1.0e9, 1.03e9], 1.03e9, "good"),  # at the ceiling, range exactly 6% of mean
        ([0.97e9, 1.0e9, 1.03e9], 1.0299e9, "bad"),  # just above the ceiling
        ([0.97e9, 1.0e9, 1.03e9], 2e9, "good"),
        ([0.969e9, 1.0e9, 1.031e9], 2e9, "warn"),  # range 6.2%: not yet stable
        ([0.971e9, 1.0e9, 1.029e9], 2e9, "good"),  # range 5.8%
    ],
)
def test_oi_level_bounds(values, ceiling, state):
    sig = signal_at(level_rows(values), "oi_level", thresholds=with_ceiling(ceiling))
    assert sig.state == state
    assert sig.value == pytest.approx(values[-1])


def test_oi_level_default_ceiling_is_85_percent_of_the_peak():
    # A peak of 1.2e9 ten days ago puts the ceiling at 1.02e9.
    rows = Rows().add(
        "binance", "BTC", "oi_usd",
        [(T0 - 10 * DAY, 1.2e9), (T0 - 80 * HOUR, 1.0e9), (T0 - 36 * HOUR, 1.0e9), (T0, 1.02e9)],
    )
    assert signal_at(rows, "oi_level").state == "good"
    rows.add("binance", "BTC", "oi_usd", [(T0 + HOUR, 1.0201e9)])
    sig = signal_at(rows, "oi_level", at=T0 + HOUR)
    assert sig.state == "bad"
    assert "85% of" in sig.reason


def test_oi_level_stale_is_unknown():
    rows = level_rows([1e9, 1e9, 1e9])
    assert signal_at(rows, "oi_level", at=T0 + 6 * HOUR, thresholds=with_ceiling(2e9)).state == "good"
    sig = signal_at(rows, "oi_level", at=T0 + 6 * HOUR + 1, thresholds=with_ceiling(2e9))
    assert sig.state == "unknown"
    assert "stale" in sig.reason


def test_oi_level_without_history_over_the_venues_fresh_now_is_unknown():
    # Only okx is fresh at T0, and no earlier point had okx alone: no comparable peak.
    rows = Rows()
    rows.add("bybit", "BTC", "oi_usd", [(T0 - 100 * HOUR, 1e9), (T0 - 6.6 * HOUR, 1e9)])
    rows.add("binance", "BTC", "oi_usd", [(T0 - 6.6 * HOUR, 1e9), (T0 - 6.5 * HOUR, 1e9)])
    rows.add("okx", "BTC", "oi_usd", [(T0 - 100 * HOUR, 1e9), (T0 - HOUR, 1e9)])
    sig = signal_at(rows, "oi_level")
    assert sig.state == "unknown"
    assert "no OI history over the 1 venue fresh now" in sig.reason
    assert signal_at(rows, "oi_level", thresholds=with_ceiling(2e9)).state == "warn"  # a set ceiling needs no peak


# -- stablecoins ------------------------------------------------------------------------------


def supply_rows(c7: float, c14: float) -> Rows:
    now = 150e9
    return Rows().market(
        "stablecoin_supply_usd", [(T0 - 14 * DAY, now / (1 + c14)), (T0 - 7 * DAY, now / (1 + c7)), (T0, now)]
    )


@pytest.mark.parametrize(
    "c7, c14, state",
    [
        (0.001, 0.01, "warn"),  # exactly +0.1% is not "> +0.1%"
        (0.00101, 0.01, "good"),
        (0.00101, 0.0, "warn"),  # 14d must be > 0
        (0.00101, 0.00001, "good"),
        (0.0, 0.0, "warn"),
        (-0.001, 0.0, "warn"),  # exactly -0.1% is not "< -0.1%"
        (-0.00101, 0.0, "bad"),
        (-0.00101, 0.05, "bad"),
    ],
)
def test_stablecoins_bounds(c7, c14, state):
    sig = signal_at(supply_rows(c7, c14), "stablecoins")
    assert sig.state == state
    assert sig.value == pytest.approx(c7, abs=1e-12)


def test_stablecoins_staleness():
    rows = supply_rows(0.002, 0.004)
    assert signal_at(rows, "stablecoins", at=T0 + 72 * HOUR).state == "good"
    assert signal_at(rows, "stablecoins", at=T0 + 72 * HOUR + 1).state == "unknown"


# -- sentiment --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "index, state",
    [(0, "good"), (45, "good"), (45.5, "warn"), (46, "warn"), (60, "warn"), (60.5, "bad"), (61, "bad"), (100, "bad")],
)
def test_sentiment_bounds(index, state):
    sig = signal_at(Rows().market("fear_greed", [(T0, index)]), "sentiment")
    assert (sig.state, sig.value) == (state, index)


def test_sentiment_as_of_and_staleness():
    rows = Rows().market("fear_greed", [(T0 - 72 * HOUR, 20), (T0 + 1, 80)])
    assert signal_at(rows, "sentiment").value == 20  # the later value is not known yet at T0
    assert signal_at(rows, "sentiment", at=T0 + 1).value == 80
    rows = Rows().market("fear_greed", [(T0 - 72 * HOUR - 1, 20)])
    assert signal_at(rows, "sentiment").state == "unknown"



@pytest.mark.parametrize("order", [("okx", "bybit", "market"), ("market", "okx", "bybit"), ("bybit", "okx")])
def test_a_market_wide_series_on_several_venues_is_chosen_the_same_way_every_time(order):
    # The `market` venue wins; without it, the first venue by name (bybit), whatever the row order.
    index = {"market": 20, "bybit": 50, "okx": 80}
    rows = Rows()
    for venue in order:
        rows.add(venue, "*", "fear_greed", [(T0, index[venue])])
    expected = index["market"] if "market" in order else index["bybit"]
    for _ in range(5):
        assert signal_at(rows, "sentiment").value == expected

# -- long_short -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ratio, state",
    [
        (0.8, "good"), (0.7999, "warn"), (1.25, "good"), (1.2501, "warn"),
        (0.5, "warn"), (0.4999, "bad"), (2.0, "warn"), (2.0001, "bad"), (1.0, "good"),
    ],
)
def test_long_short_bounds(ratio, state):
    sig = signal_at(Rows().add("binance", "BTC", "long_short_ratio", [(T0, ratio)]), "long_short")
    assert (sig.state, sig.value) == (state, pytest.approx(ratio))


def test_long_short_is_the_venue_mean():
    rows = (
        Rows()
        .add("binance", "BTC", "long_short_ratio", [(T0, 0.6)])
        .add("bybit", "BTC", "long_short_ratio", [(T0, 1.0)])
        .add("okx", "BTC", "long_short_ratio", [(T0 - 6 * HOUR - 1, 5.0)])  # stale: left out
    )
    sig = signal_at(rows, "long_short")
    assert sig.value == pytest.approx(0.8)
    assert sig.state == "good"
    assert "2 venues" in sig.reason


# -- liquidations -----------------------------------------------------------------------------


def liquidation_rows(last_hour_usd: float, hours: int = 720, per_hour: float = 1e6) -> Rows:
    rows = Rows()
    # One event in the middle of each of the previous hours, split long/short across venues.
    rows.add("binance", "BTC", "liq_long_usd", [(T0 - k * HOUR - HOUR // 2, per_hour * 0.7) for k in range(1, hours + 1)])
    rows.add("okx", "BTC", "liq_short_usd", [(T0 - k * HOUR - HOUR // 2, per_hour * 0.3) for k in range(1, hours + 1)])
    if last_hour_usd:
        rows.add("bybit", "BTC", "liq_long_usd", [(T0 - 10 * 60_000, last_hour_usd)])
    return rows


@pytest.mark.parametrize(
    "multiple, state",
    [(0.0, "good"), (1.99, "good"), (2.0, "warn"), (4.99, "warn"), (5.0, "bad"), (40.0, "bad")],
)
def test_liquidations_bounds(multiple, state):
    sig = signal_at(liquidation_rows(multiple * 1e6), "liquidations")
    assert sig.state == state
    assert sig.value == pytest.approx(multiple)


def test_liquidations_need_a_baseline():
    sig = signal_at(liquidation_rows(5e6, hours=10), "liquidations")
    assert sig.state == "unknown"
    assert "liquidation history" in sig.reason


def test_liquidations_baseline_uses_mean_when_median_is_zero():
    rows = Rows().add("binance", "BTC", "liq_long_usd", [(T0 - k * HOUR - 1, 10e6) for k in range(10, 721, 10)])
    rows.add("binance", "BTC", "liq_long_usd", [(T0 - 1, 3e6)])
    sig = signal_at(rows, "liquidations")
    # 72 of 720 hours saw $10M: the mean hour is $1M, so the last hour's $3M is 3x.
    assert sig.value == pytest.approx(3.0)
    assert sig.state == "warn"


def test_thresholds_are_configurable():
    rows = Rows().market("fear_greed", [(T0, 50)])
    th = dataclasses.replace(Thresholds(), sentiment_fear_max=55)
    assert signal_at(rows, "sentiment", thresholds=th).state == "good"
