"""Fault rules for the simulator: what they are, how they load and how they match.

A rule names a venue, a route (a glob on the HTTP path, or ``ws`` / ``ws:<stream glob>`` for the
venue's streams) and a kind. It is active from the moment it is added until ``duration_s`` real
seconds later (forever when unset). Each matching request, or each message on a matching stream,
fires the rule with ``probability`` or on every ``every_n``-th match. The same fields are used in
the TOML file (``[[fault]]`` tables) and in the JSON of ``/_sim/faults``.
"""

from __future__ import annotations

import fnmatch
import random
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

FAULT_VENUES: tuple[str, ...] = ("binance", "bybit", "okx", "fear_greed", "stablecoins")
FAULT_KINDS: tuple[str, ...] = (
    "status",
    "delay",
    "refuse",
    "malformed",
    "truncate",
    "drop_field",
    "wrong_type",
    "empty_list",
    "ws_drop",
    "ws_stall",
)
WS_ONLY_KINDS = frozenset({"ws_drop", "ws_stall"})
FIELD_KINDS = frozenset({"drop_field", "wrong_type"})
RULE_KEYS: tuple[str, ...] = (
    "venue",
    "route",
    "kind",
    "status",
    "retry_after_s",
    "probability",
    "every_n",
    "delay_s",
    "field",
    "duration_s",
)


class FaultConfigError(ValueError):
    """A fault rule or file that cannot be used; the message is one line naming where."""


@dataclass
class FaultRule:
    venue: str
    route: str
    kind: str
    status: int | None = None
    retry_after_s: float | None = None
    probability: float | None = None
    every_n: int | None = None
    delay_s: float | None = None
    field: str | None = None
    duration_s: float | None = None
    # Assigned by the FaultSet that holds the rule.
    id: int = 0
    added_at: float = 0.0
    matches: int = 0
    fired: int = 0

    @property
    def is_ws(self) -> bool:
        return self.route == "ws" or self.route.startswith("ws:")

    def matches_stream(self, venue: str, stream: str) -> bool:
        if venue != self.venue or not self.is_ws:
            return False
        if self.route == "ws":
            return True
        return fnmatch.fnmatchcase(stream, self.route[3:])

    def matches_path(self, venue: str, path: str) -> bool:
        return venue == self.venue and not self.is_ws and fnmatch.fnmatchcase(path, self.route)

    def expires_at(self) -> float | None:
        return None if self.duration_s is None else self.added_at + self.duration_s

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        for key in RULE_KEYS:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        expires = self.expires_at()
        if expires is not None and now is not None:
            out["expires_in_s"] = round(max(0.0, expires - now), 3)
        out["matches"] = self.matches
        out["fired"] = self.fired
        return out


def _number(value: Any, where: str, key: str, *, integer: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FaultConfigError(f"{where}.{key}: expected a number, got {value!r}")
    if integer:
        if isinstance(value, float) and not value.is_integer():
            raise FaultConfigError(f"{where}.{key}: expected an integer, got {value!r}")
        return int(value)
    return float(value)


def rule_from_dict(data: Any, where: str = "fault") -> FaultRule:
    """Validate one rule given as a mapping of the documented fields.

    ``where`` prefixes every error ("faults.toml: fault[2]") so the message says where to look.
    """
    if not isinstance(data, dict):
        raise FaultConfigError(f"{where}: expected a table/object of fault fields, got {type(data).__name__}")
    unknown = sorted(set(data) - set(RULE_KEYS) - {"id", "expires_in_s", "matches", "fired"})
    if unknown:
        raise FaultConfigError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(RULE_KEYS)})")
    for key in ("venue", "route", "kind"):
        if key not in data:
            raise FaultConfigError(f"{where}.{key}: missing")
        if not isinstance(data[key], str) or not data[key]:
            raise FaultConfigError(f"{where}.{key}: expected a non-empty string, got {data[key]!r}")
    venue, route, kind = data["venue"], data["route"], data["kind"]
    if venue not in FAULT_VENUES:
        raise FaultConfigError(f"{where}.venue: {venue!r} is not one of {', '.join(FAULT_VENUES)}")
    if kind not in FAULT_KINDS:
        raise FaultConfigError(f"{where}.kind: {kind!r} is not one of {', '.join(FAULT_KINDS)}")
    is_ws = route == "ws" or route.startswith("ws:")
    if not is_ws and not route.startswith("/") and route != "*":
        raise FaultConfigError(f"{where}.route: {route!r} must be a path glob starting with '/', '*', 'ws' or 'ws:<stream glob>'")
    if kind in WS_ONLY_KINDS and not is_ws:
        raise FaultConfigError(f"{where}.route: kind {kind!r} applies to streams only; use route = \"ws\"")

    rule = FaultRule(venue=venue, route=route, kind=kind)
    if "status" in data:
        rule.status = int(_number(data["status"], where, "status", integer=True))
        if not 100 <= rule.status <= 599:
            raise FaultConfigError(f"{where}.status: {rule.status} is not an HTTP status code")
    if kind == "status" and rule.status is None:
        raise FaultConfigError(f"{where}.status: missing (required for kind = \"status\")")
    if "retry_after_s" in data:
        rule.retry_after_s = _number(data["retry_after_s"], where, "retry_after_s")
        if rule.retry_after_s < 0:
            raise FaultConfigError(f"{where}.retry_after_s: must be >= 0")
    if "probability" in data and "every_n" in data:
        raise FaultConfigError(f"{where}.every_n: give either probability or every_n, not both")
    if "probability" in data:
        rule.probability = _number(data["probability"], where, "probability")
        if not 0.0 <= rule.probability <= 1.0:
            raise FaultConfigError(f"{where}.probability: {rule.probability} is not within 0..1")
    if "every_n" in data:
        rule.every_n = int(_number(data["every_n"], where, "every_n", integer=True))
        if rule.every_n < 1:
            raise FaultConfigError(f"{where}.every_n: must be >= 1")
    if "delay_s" in data:
        rule.delay_s = _number(data["delay_s"], where, "delay_s")
        if rule.delay_s < 0:
            raise FaultConfigError(f"{where}.delay_s: must be >= 0")
    if kind == "delay" and rule.delay_s is None:
        raise FaultConfigError(f"{where}.delay_s: missing (required for kind = \"delay\")")
    if "field" in data:
        if not isinstance(data["field"], str) or not data["field"]:
            raise FaultConfigError(f"{where}.field: expected a non-empty string, got {data['field']!r}")
        rule.field = data["field"]
    if kind in FIELD_KINDS and rule.field is None:
        raise FaultConfigError(f"{where}.field: missing (required for kind = \"{kind}\")")
    if "duration_s" in data:
        rule.duration_s = _number(data["duration_s"], where, "duration_s")
        if rule.duration_s <= 0:
            raise FaultConfigError(f"{where}.duration_s: must be > 0")
    return rule


def rules_from_document(document: Any, where: str) -> list[FaultRule]:
    """Rules from a parsed TOML/JSON document: ``{"fault": [...]}``, a list, or one rule."""
    if isinstance(document, dict) and "fault" in document:
        extra = sorted(set(document) - {"fault"})
        if extra:
            raise FaultConfigError(f"{where}: unknown top-level key {extra[0]!r} (expected only [[fault]] tables)")
        items = document["fault"]
        if not isinstance(items, list):
            raise FaultConfigError(f"{where}: 'fault' must be an array of tables ([[fault]])")
        return [rule_from_dict(item, f"{where}: fault[{i}]") for i, item in enumerate(items)]
    if isinstance(document, list):
        return [rule_from_dict(item, f"{where}: fault[{i}]") for i, item in enumerate(document)]
    if isinstance(document, dict) and document and set(document) <= set(RULE_KEYS):
        return [rule_from_dict(document, f"{where}: fault")]
    if isinstance(document, dict) and not document:
        return []
    if isinstance(document, dict) and not {"venue", "route", "kind"} & set(document):
        first = sorted(document)[0]
        raise FaultConfigError(f"{where}: unknown top-level key {first!r} (expected only [[fault]] tables)")
    raise FaultConfigError(f"{where}: expected [[fault]] tables, a list of rules or one rule")


def load_faults_toml(path: str | Path) -> list[FaultRule]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FaultConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FaultConfigError(f"{path}: invalid TOML: {exc}") from exc
    return rules_from_document(document, str(path))


@dataclass
class FaultSet:
    """The active rules. Thread-safe enough for the aiohttp loop plus a control thread."""

    seed: int = 1
    clock: Callable[[], float] = time.monotonic
    _rules: list[FaultRule] = field(default_factory=list)
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # Seeded so that probabilistic faults fire the same way for the same traffic.
        self._random = random.Random(self.seed)

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            rule.added_at = self.clock()
            rule.matches = 0
            rule.fired = 0
            self._rules.append(rule)
            return rule

    def extend(self, rules: Iterable[FaultRule]) -> list[FaultRule]:
        return [self.add(rule) for rule in rules]

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> int:
        with self._lock:
            count = len(self._rules)
            self._rules = []
            return count

    def rules(self) -> list[FaultRule]:
        with self._lock:
            self._expire_locked()
            return list(self._rules)

    def to_json(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [rule.to_json(now) for rule in self.rules()]

    def _expire_locked(self) -> None:
        now = self.clock()
        self._rules = [r for r in self._rules if (r.expires_at() is None or now < r.expires_at())]

    def _fires_locked(self, rule: FaultRule) -> bool:
        rule.matches += 1
        if rule.every_n is not None:
            fired = rule.matches % rule.every_n == 0
        elif rule.probability is not None:
            fired = self._random.random() < rule.probability
        else:
            fired = True
        if fired:
            rule.fired += 1
        return fired

    def firing_for_request(self, venue: str, path: str) -> list[FaultRule]:
        """Rules that fire for one HTTP request (each matching rule counts the request)."""
        with self._lock:
            self._expire_locked()
            return [r for r in self._rules if r.matches_path(venue, path) and self._fires_locked(r)]

    def firing_for_handshake(self, venue: str, stream: str) -> list[FaultRule]:
        """Stream rules of kinds that act on the websocket handshake (status, refuse)."""
        with self._lock:
            self._expire_locked()
            return [
                r
                for r in self._rules
                if r.kind in ("status", "refuse") and r.matches_stream(venue, stream) and self._fires_locked(r)
            ]

    def firing_for_message(self, venue: str, stream: str) -> list[FaultRule]:
        """Stream rules that fire for one outgoing message (ws_stall is handled by ``stalled``)."""
        with self._lock:
            self._expire_locked()
            return [
                r
                for r in self._rules
                if r.kind not in ("status", "refuse", "ws_stall")
                and r.matches_stream(venue, stream)
                and self._fires_locked(r)
            ]

    def stalled(self, venue: str, stream: str) -> bool:
        """True while a ws_stall rule matching this stream is active (it stalls until it expires)."""
        with self._lock:
            self._expire_locked()
            return any(r.kind == "ws_stall" and r.matches_stream(venue, stream) for r in self._rules)


# How body faults change a payload. They act on the decoded payload (drop_field, wrong_type) or on
# the encoded text (malformed, truncate), the same way for REST bodies and websocket frames.


def drop_field(payload: Any, name: str) -> Any:
    """The payload with ``name`` removed from every object, at any depth."""
    if isinstance(payload, dict):
        return {k: drop_field(v, name) for k, v in payload.items() if k != name}
    if isinstance(payload, list):
        return [drop_field(v, name) for v in payload]
    return payload


def empty_lists(payload: Any, name: str | None = None) -> Any:
    """The payload with its lists emptied: every outermost list (the rows of any venue's
    answer), or with ``name`` the lists under that key only."""
    if isinstance(payload, list):
        return [] if name is None else [empty_lists(v, name) for v in payload]
    if isinstance(payload, dict):
        return {k: ([] if isinstance(v, list) and (name is None or k == name) else empty_lists(v, name))
                for k, v in payload.items()}
    return payload


def _wrong_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, (int, float)):
        return "not-a-number"
    if isinstance(value, str):
        return {"value": value}
    if isinstance(value, list):
        return {"items": value}
    if isinstance(value, dict):
        return [value]
    return {}


def wrong_type(payload: Any, name: str) -> Any:
    """The payload with the value of ``name`` in every object turned into a wrong JSON type: a
    number into a non-numeric string, a string into an object, an object into an array..."""
    if isinstance(payload, dict):
        return {k: (_wrong_value(v) if k == name else wrong_type(v, name)) for k, v in payload.items()}
    if isinstance(payload, list):
        return [wrong_type(v, name) for v in payload]
    return payload


def malformed(text: str) -> str:
    """Invalid JSON that still looks like the start of the real body: the last closing bracket
    swapped for the other kind."""
    if text.endswith("]"):
        return text[:-1] + "}"
    if text.endswith("}"):
        return text[:-1] + "]"
    return text + "}"


def truncate(text: str) -> str:
    """The first half of the body."""
    return text[: len(text) // 2]


def apply_payload_faults(payload: Any, rules: Iterable[FaultRule]) -> Any:
    for rule in rules:
        if rule.kind == "drop_field" and rule.field:
            payload = drop_field(payload, rule.field)
        elif rule.kind == "wrong_type" and rule.field:
            payload = wrong_type(payload, rule.field)
        elif rule.kind == "empty_list":
            payload = empty_lists(payload, rule.field)
    return payload


def apply_text_faults(text: str, rules: Iterable[FaultRule]) -> str:
    for rule in rules:
        if rule.kind == "malformed":
            text = malformed(text)
        elif rule.kind == "truncate":
            text = truncate(text)
    return text
