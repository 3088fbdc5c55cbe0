"""Counters of what the simulator served: requests per route, messages per stream.

They feed ``GET /_sim/stats`` and the request-efficiency benchmark, so every request a venue route
receives is counted, including the ones a fault answered.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class SimStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str]] = Counter()
        self._messages: Counter[tuple[str, str]] = Counter()
        self._connections: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()

    def count_request(self, venue: str, route: str) -> None:
        with self._lock:
            self._requests[(venue, route)] += 1

    def count_message(self, venue: str, stream: str, n: int = 1) -> None:
        with self._lock:
            self._messages[(venue, stream)] += n

    def count_connection(self, venue: str) -> None:
        with self._lock:
            self._connections[venue] += 1

    def count_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def requests(self, venue: str, route: str) -> int:
        with self._lock:
            return self._requests[(venue, route)]

    def messages(self, venue: str, stream: str) -> int:
        with self._lock:
            return self._messages[(venue, stream)]

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._messages.clear()
            self._connections.clear()
            self._faults.clear()

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            requests: dict[str, dict[str, int]] = {}
            for (venue, route), n in sorted(self._requests.items()):
                requests.setdefault(venue, {})[route] = n
            messages: dict[str, dict[str, int]] = {}
            for (venue, stream), n in sorted(self._messages.items()):
                messages.setdefault(venue, {})[stream] = n
            return {
                "requests": requests,
                "requests_by_venue": {v: sum(r.values()) for v, r in requests.items()},
                "requests_total": sum(self._requests.values()),
                "messages": messages,
                "messages_by_venue": {v: sum(m.values()) for v, m in messages.items()},
                "messages_total": sum(self._messages.values()),
                "ws_connections": dict(sorted(self._connections.items())),
                "faults_applied": dict(sorted(self._faults.items())),
            }
