"""History cursors: where a backfill resumes after an outage, and when a poll leaves a gap."""

from levtop.model import MINUTE, Sample
from levtop.sources.cursor import HistoryCursors

STEP = 5 * MINUTE
T0 = 1_700_000_000_000 - 1_700_000_000_000 % STEP


def points(*steps: int) -> list[Sample]:
    return [Sample(T0 + k * STEP, "bybit", "BTC", "oi_base", 100.0 + k) for k in steps]


def test_a_backfill_page_moves_the_cursor_and_a_joining_poll_extends_it():
    cursors = HistoryCursors()
    cursors.paged("BTC", "oi", points(0, 1, 2))
    assert cursors.get("BTC", "oi") == T0 + 2 * STEP
    cursors.polled("BTC", "oi", points(2, 3), STEP)
    assert cursors.get("BTC", "oi") == T0 + 3 * STEP
    assert not cursors.gaps


def test_a_poll_past_a_gap_leaves_the_cursor_and_flags_the_gap():
    cursors = HistoryCursors()
    cursors.paged("BTC", "oi", points(0, 1))
    cursors.polled("BTC", "oi", points(5, 6), STEP)
    assert cursors.get("BTC", "oi") == T0 + STEP
    assert cursors.gaps == {("BTC", "oi")}


def test_the_backfill_starts_after_the_cursor_even_when_live_values_are_newer():
    cursors = HistoryCursors()
    cursors.paged("BTC", "oi", points(0, 1))
    # The store's newest oi_base is a live value at step 9 (written after the outage).
    stored_start = T0 + 9 * STEP + 1
    assert cursors.start("BTC", "oi", stored_start, now_ms=T0 + 10 * STEP, window_ms=100 * STEP) == T0 + STEP + 1
    # Never before the backfill window, and the store decides while no cursor is known.
    assert cursors.start("BTC", "oi", stored_start, now_ms=T0 + 10 * STEP, window_ms=3 * STEP) == T0 + 7 * STEP
    assert cursors.start("ETH", "oi", stored_start, now_ms=T0 + 10 * STEP, window_ms=100 * STEP) == stored_start


def test_a_poll_asks_for_enough_rows_to_reach_the_cursor_within_a_page():
    cursors = HistoryCursors()
    assert cursors.rows_to_join("BTC", "oi", T0, STEP, least=6, most=200) == 6
    cursors.paged("BTC", "oi", points(0))
    assert cursors.rows_to_join("BTC", "oi", T0 + 3 * STEP, STEP, least=6, most=200) == 6
    assert cursors.rows_to_join("BTC", "oi", T0 + 48 * STEP, STEP, least=6, most=200) == 49
    assert cursors.rows_to_join("BTC", "oi", T0 + 1000 * STEP, STEP, least=6, most=200) == 200
