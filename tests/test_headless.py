"""levtop's headless loops (record, watch --once): their one wait between rounds."""

from __future__ import annotations

import asyncio

from levtop.headless import wait_or_stop


async def test_the_wait_ends_early_on_stop_and_says_whether_it_was_stopped():
    stop = asyncio.Event()
    assert await wait_or_stop(stop, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, stop.set)
    assert await asyncio.wait_for(wait_or_stop(stop, 30), 5) is True


async def test_a_loop_of_waits_stops_whenever_the_cancel_lands():
    # On Python 3.11, asyncio.wait_for handed back the result when the task was cancelled just
    # as the wait ended: a loop of waits swallowed its cancellation and ran on (half of these
    # tries, with wait_for).
    async def rounds() -> None:
        for _ in range(2_000):  # bounded, so a loop that swallows its cancel still ends
            woken = asyncio.Event()
            asyncio.get_running_loop().call_soon(woken.set)
            await wait_or_stop(woken, 1)

    for steps in range(60):
        task = asyncio.create_task(rounds())
        for _ in range(steps % 12):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=1.0)
        assert done and task.cancelled(), f"still running after a cancel {steps % 12} steps in"
