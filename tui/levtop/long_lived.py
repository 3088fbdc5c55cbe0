"""Keep what lives as long as the process out of the garbage collector's full passes.

A full collection visits every tracked object. Once the sources are up, the process holds some
150,000 of them that never die: ccxt's modules and its three exchange objects with their market
lists, polars' and numpy's modules, the app's widgets. A full pass over them held the GIL for a
quarter of a second (benchmarks/burst.py: every few seconds in a liquidation burst, when the
repaints' short-lived strips make garbage fast), and a key pressed meanwhile waited for it.

``freeze_long_lived`` runs once, after every source's first round: one collection, then the
survivors are frozen (``gc.freeze``), so later full passes visit only what came after. The CLI
freezes what the start-up built the same way, and asks for this (``cli.run_monitor``).
"""

from __future__ import annotations

import gc
import time


def freeze_long_lived() -> tuple[int, float]:
    """Collect, then freeze what survived; the number of objects frozen and the seconds it took."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count(), time.perf_counter() - started
