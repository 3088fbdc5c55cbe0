"""Source health: one-off steps never age into STALE; polls do."""

from levtop.sources.health import HealthBoard, Status


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def test_a_one_off_step_stays_live_while_a_poll_that_stops_goes_stale():
    clock = FakeClock()
    health = HealthBoard(clock)
    health.ok("binance", "markets")
    health.ok("binance", "backfill")
    health.register("binance", "tickers", interval_s=60)
    health.ok("binance", "tickers")
    clock.now += 110_000
    assert health.source("binance").status is Status.LIVE
    clock.now += 20_000  # the tickers poll is now 130 s old: more than two intervals
    assert health.source("binance").detail == {"markets": Status.LIVE, "backfill": Status.LIVE,
                                               "tickers": Status.STALE}
    health.ok("binance", "tickers")
    clock.now += 3_600_000 - 60_000  # an hour after markets loaded, the poll still fresh
    health.ok("binance", "tickers")
    assert health.source("binance").status is Status.LIVE
