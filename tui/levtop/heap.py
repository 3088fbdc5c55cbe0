"""Hand memory that was freed back to the operating system (glibc's ``malloc_trim``).

glibc keeps freed memory in its heaps for reuse and returns only what sits at a heap's top.
The view model is rebuilt from fresh temporaries (numpy arrays over a month of data, in worker
threads with heaps of their own) whenever data arrives, and the store reallocates its arrays as
they grow; the holes left behind are reused, but at 20 assets x 3 venues they add up to about
35 MB that nothing uses (benchmarks/memory.py). A trim gives them back. It takes a few
milliseconds (tens when much is freed at once), so it runs at most once a minute, off the event
loop. On a C library without ``malloc_trim`` it does nothing.
"""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Callable

TRIM_EVERY_S = 60.0


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim this way
        return None


_trim = _malloc_trim()
_lock = threading.Lock()
_last_s = float("-inf")


def release_free_memory(min_interval_s: float = TRIM_EVERY_S) -> bool:
    """Trim the heaps unless that was done less than ``min_interval_s`` ago; whether it ran."""
    global _last_s
    if _trim is None:
        return False
    with _lock:
        now = time.monotonic()
        if now - _last_s < min_interval_s:
            return False
        _last_s = now
    _trim(0)
    return True
