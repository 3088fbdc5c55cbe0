"""What the headless commands (`record`, `watch`) share: running the pipeline's sources as
asyncio tasks until a signal, and one-line summaries of source health."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from contextlib import contextmanager
from typing import Iterator, TextIO

from levtop.pipeline import Pipeline
from levtop.redact import redact
from levtop.sources.health import HealthBoard, Status

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
"""Not SIGHUP: under nohup it is ignored on purpose, and a handler would undo that."""


@contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM (a service manager) and SIGINT (Ctrl-C) set ``stop`` instead of killing the
    process, so that the caller gets to flush what it holds."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in STOP_SIGNALS:
        try:
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (tests run commands in-process) or no signals here
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


async def make_pipeline(config, store, o, on_samples=None) -> Pipeline:
    """The pipeline of a headless command (``o``: its options with assets, sim_url,
    backfill_days, rate_limit and time_scale), polling at the simulator's speed when pointed
    at one."""
    from levtop.pipeline import sim_speed

    speed = o.time_scale
    if speed is None:
        speed = await sim_speed(o.sim_url) if o.sim_url else 1.0
    return Pipeline(config, store, assets=o.assets, sim_url=o.sim_url, backfill_days=o.backfill_days,
                    on_samples=on_samples, rate_limit=o.rate_limit, time_scale=speed)


def start_sources(pipeline: Pipeline) -> list[asyncio.Task]:
    """Every source's supervisor as a task; one that ends by an exception is logged."""
    tasks = [asyncio.create_task(r.run(), name=f"levtop-{r.name}") for r in pipeline.runnables()]
    for task in tasks:
        task.add_done_callback(_log_failure)
    return tasks


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("source task %s failed", task.get_name(), exc_info=task.exception())


async def stop_sources(pipeline: Pipeline, tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await pipeline.close()


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True when it was.

    ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` can swallow a cancel that
    lands as its wait ends, and the caller would carry on instead of stopping."""
    try:
        async with asyncio.timeout(max(0.0, seconds)):
            await stop.wait()
    except TimeoutError:
        return stop.is_set()
    return True


def health_text(health: HealthBoard) -> str:
    """``binance LIVE, okx DOWN (open_interest: HTTP 503 ...), ...``, secrets masked."""
    parts = []
    for name, h in health.snapshot().items():
        text = f"{name} {h.status.value}"
        if h.error and h.status in (Status.DOWN, Status.NA, Status.STALE):
            error = h.error if len(h.error) <= 120 else h.error[:117] + "..."
            text += f" ({error})"
        parts.append(text)
    return redact(", ".join(parts)) if parts else "no source reported yet"


def health_json(health: HealthBoard) -> dict[str, dict]:
    return {name: {"status": h.status.value, "error": redact(h.error) if h.error else None}
            for name, h in health.snapshot().items()}


def first_round_done(pipeline: Pipeline) -> bool:
    """Every source has had its first go: each venue backfilled (or failed, or lists nothing
    watched), Fear & Greed and the stablecoin supply answered (or failed)."""
    reported = set(pipeline.health.sources())
    if not reported.issuperset(pipeline.config.venues) or not reported.issuperset(("fear_greed", "stablecoins")):
        return False
    for name in pipeline.config.venues:
        h = pipeline.health.source(name)
        if not ("backfill" in h.detail or h.status is Status.NA or h.error is not None):
            return False
    for name in ("fear_greed", "stablecoins"):
        h = pipeline.health.source(name)
        if h.last_ok_ms is None and h.error is None and h.status is not Status.NA:
            return False
    return True


def utc_now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def say(line: str, stream: TextIO | None = None) -> None:
    """One line on stderr (masked); a closed stderr is not worth dying for."""
    stream = stream or sys.stderr
    try:
        print(redact(line), file=stream, flush=True)
    except (OSError, ValueError):
        pass
