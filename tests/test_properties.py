"""Property tests: no input crashes the dataset importer or the signal engine, and signals stay
within their state set (issue 6, bad input)."""

from __future__ import annotations

import math

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levtop.dataset import DatasetError, read_dataset
from levtop.model import DAY, HOUR, METRICS, SCHEMA
from levtop.signals import PHASES, SIGNAL_NAMES, STATES, evaluate

T0 = 1_700_006_400_000

cell_text = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n,\""), max_size=12),
    st.sampled_from(["", "nan", "inf", "-inf", "1e309", "2022-11-08T00:00:00Z", "BTC", "*", "binance", "market"]),
    st.integers(-10**15, 10**15).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
metric_text = st.one_of(st.sampled_from(sorted(METRICS)), cell_text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(cell_text, cell_text, cell_text, metric_text, cell_text), max_size=12))
def test_the_importer_never_crashes(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("dataset")
    path = folder / "data.csv"
    path.write_text("ts,venue,asset,metric,value\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    try:
        data = read_dataset(folder)
    except DatasetError as err:
        message = str(err)
        assert "\n" not in message and str(path) in message
        return
    frame = data.frame
    assert frame.schema == pl.Schema(SCHEMA)
    assert frame.height <= len(rows)
    assert all(math.isfinite(v) for v in frame["value"].to_list())
    assert set(frame["metric"].to_list()) <= set(METRICS)


venues = st.sampled_from(["binance", "bybit", "okx", "market"])
assets = st.sampled_from(["BTC", "*"])
values = st.one_of(st.floats(-1e15, 1e15, allow_nan=False), st.sampled_from([0.0, -0.0, 1e-300, 5e-324]))
sample = st.tuples(st.integers(T0 - 40 * DAY, T0 + DAY), venues, assets, st.sampled_from(sorted(METRICS)), values)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(sample, max_size=60), offsets=st.lists(st.integers(-40 * 24, 24), min_size=1, max_size=4))
def test_signals_stay_in_their_state_set(rows, offsets):
    frame = pl.DataFrame(rows, schema=list(SCHEMA), orient="row").cast(SCHEMA) if rows else pl.DataFrame(schema=SCHEMA)
    times = sorted({T0 + h * HOUR for h in offsets})
    for verdict in evaluate(frame, "BTC", times):
        assert verdict.phase in PHASES
        assert set(verdict.signals) == set(SIGNAL_NAMES)
        for sig in verdict.signals.values():
            assert sig.state in STATES
            assert (sig.value is None) == (sig.state == "unknown") or sig.value is None
            assert sig.value is None or math.isfinite(sig.value)
            assert isinstance(sig.reason, str) and sig.reason and "\n" not in sig.reason
        if verdict.purifying_day is not None:
            assert verdict.phase == "PURIFYING" and 1 <= verdict.purifying_day <= 21
