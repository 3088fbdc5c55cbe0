"""Alerts on phase changes and on chosen signal changes, with hysteresis (issue 8).

A pure engine: no Textual, no I/O, no clock. It is fed per-asset evaluations (the verdicts the
view builder and ``levtop watch`` compute) with their DATA time, and returns an ``Alert`` for a
change only once the new state has held for ``min_duration_ms`` of data time. So a flap
A -> B -> A shorter than the minimum emits nothing, and one change emits exactly one alert.

Rules, per (asset, phase) and per (asset, signal):

- The first known state is the baseline: it is not a change, so it emits nothing.
- ``unknown`` (a signal) and ``UNKNOWN`` (the phase) say that data is missing, not that the
  market changed: such an observation is skipped, neither confirming nor interrupting a change.
- A state different from the last alerted one (the baseline at first) becomes *pending* from
  the data time it was first seen; seen again ``min_duration_ms`` or more later, with only that
  state in between, it is confirmed: one alert ``from`` the old state ``to`` the new one.
- Back to the confirmed state before that: the pending change is dropped, nothing emitted.
  Another state instead: that one becomes pending, from its own first sighting.

Delivery (webhook, command, desktop) is in ``levtop.alert_sinks``; the terminal bell and the
TUI notification are the app's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from levtop.thresholds import DEFAULT_MIN_DURATION_MS, SIGNAL_NAMES

PHASE = "phase"
KINDS = ("phase", "signal")
UNKNOWN_STATES = frozenset({"unknown", "UNKNOWN"})

_ERROR_PHASES = frozenset({"CASCADE"})
_WARNING_PHASES = frozenset({"FLUSH", "TRAP", "OVERHEATED"})


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration_text(ms: int) -> str:
    minutes = max(0, ms) // 60_000
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"


def _finite(value: Any) -> float | int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Alert:
    asset: str
    kind: str
    """``phase`` or ``signal``."""
    name: str
    """``phase``, or the signal's name (``funding``, ``oi_level``, ...)."""
    from_: str
    to: str
    value: float | int | None
    """The signal's headline value; for a phase, the PURIFYING day (else None)."""
    reason: str
    ts: int
    """The data time (ms) at which the change was confirmed."""
    since: int
    """The data time (ms) the new state was first seen."""
    test: bool = False
    """A synthetic alert from ``levtop alerts test``."""

    @property
    def id(self) -> str:
        """Stable across retries, so that a receiver can drop a repeated delivery."""
        return f"{self.asset}-{self.name}-{self.to}-{self.since}" + ("-test" if self.test else "")

    @property
    def title(self) -> str:
        if self.kind == PHASE:
            return f"{self.asset} phase {self.from_} -> {self.to}"
        return f"{self.asset} {self.name} {self.from_} -> {self.to}"

    @property
    def text(self) -> str:
        """One line: what changed, how long it has held, and why."""
        held = f" (held {_duration_text(self.ts - self.since)})" if self.ts > self.since else ""
        prefix = "TEST: " if self.test else ""
        return f"{prefix}{self.title}{held}: {self.reason}"

    @property
    def severity(self) -> str:
        """``error``, ``warning`` or ``information`` (Textual's notification severities)."""
        if self.kind == PHASE:
            if self.to in _ERROR_PHASES:
                return "error"
            return "warning" if self.to in _WARNING_PHASES else "information"
        return "warning" if self.to == "bad" else "information"

    def to_json(self) -> dict[str, Any]:
        """The webhook body, the command hook's stdin, ``levtop watch --alerts``'s line. ``text``
        (Slack) and ``content`` (Discord) carry the one-line summary, so the same body posts to
        either as it is."""
        return {
            "type": "alert", "id": self.id, "kind": self.kind, "asset": self.asset, "name": self.name,
            "from": self.from_, "to": self.to, "value": _finite(self.value), "reason": self.reason,
            "ts": iso(self.ts), "ms": self.ts, "since": iso(self.since), "since_ms": self.since,
            "severity": self.severity, "test": self.test, "text": self.text, "content": self.text,
        }

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), allow_nan=False, separators=(", ", ": "))


@dataclass(frozen=True)
class AlertRules:
    min_duration_ms: int = DEFAULT_MIN_DURATION_MS
    phases: bool = True
    signals: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.min_duration_ms < 0:
            raise ValueError(f"min_duration_ms must be >= 0, got {self.min_duration_ms}")
        unknown = [name for name in self.signals if name not in SIGNAL_NAMES]
        if unknown:
            raise ValueError(f"unknown signals {unknown}; expected some of {', '.join(SIGNAL_NAMES)}")

    @property
    def active(self) -> bool:
        return self.phases or bool(self.signals)


@dataclass
class _Track:
    """One (asset, phase or signal): the last confirmed state and the change pending, if any."""

    stable: str
    pending: str | None = None
    since: int = 0


@dataclass
class AlertEngine:
    """Feed it verdicts (``feed``) or single observations (``observe``); it returns the alerts
    that became due. Holds only the last confirmed state and one pending change per track."""

    rules: AlertRules = field(default_factory=AlertRules)
    phase_reason: Callable[[Any], str] | None = None
    """Why a verdict's phase is what it is (``levtop.watch.phase_reason``); without it the
    reason lists the gate signals' states."""
    _tracks: dict[tuple[str, str], _Track] = field(default_factory=dict, init=False, repr=False)

    def observe(self, asset: str, ts: int, name: str, state: str, value: Any = None,
                reason: str = "") -> Alert | None:
        """One observation of one track at data time ``ts``; the alert it confirms, if any."""
        if state in UNKNOWN_STATES:
            return None
        key = (asset, name)
        track = self._tracks.get(key)
        if track is None:
            self._tracks[key] = _Track(stable=state)
            return None
        if state == track.stable:
            track.pending = None
            return None
        if state != track.pending:
            track.pending, track.since = state, ts
        if ts - track.since < self.rules.min_duration_ms:
            return None
        alert = Alert(asset=asset, kind=PHASE if name == PHASE else "signal", name=name, from_=track.stable,
                      to=state, value=_finite(value), reason=reason, ts=ts, since=track.since)
        track.stable, track.pending = state, None
        return alert

    def feed_verdict(self, verdict: Any) -> list[Alert]:
        """A ``levtop.signals.Verdict`` (or anything with ``asset``, ``ts``, ``phase``,
        ``purifying_day`` and ``signals[name].state/.value/.reason``)."""
        out: list[Alert] = []
        if verdict is None:
            return out
        asset, ts = verdict.asset, int(verdict.ts)
        for name in self.rules.signals:
            signal = verdict.signals.get(name)
            if signal is not None:
                alert = self.observe(asset, ts, name, signal.state, signal.value, signal.reason)
                if alert is not None:
                    out.append(alert)
        if self.rules.phases:
            alert = self.observe(asset, ts, PHASE, verdict.phase, verdict.purifying_day, self._reason(verdict))
            if alert is not None:
                out.append(alert)
        return out

    def feed(self, verdicts: Iterable[Any] | Mapping[str, Any]) -> list[Alert]:
        """Every asset's verdict at one data time; signals first, then the phase they lead to."""
        items = verdicts.values() if isinstance(verdicts, Mapping) else verdicts
        out: list[Alert] = []
        for verdict in items:
            out.extend(self.feed_verdict(verdict))
        return out

    def baseline(self, verdicts: Iterable[Any] | Mapping[str, Any]) -> None:
        """Take these states as the confirmed ones, emitting nothing: for the evaluations made
        while the backfill is still landing, whose changes are data arriving, not the market."""
        items = verdicts.values() if isinstance(verdicts, Mapping) else verdicts
        for verdict in items:
            if verdict is None:
                continue
            names = [(n, verdict.signals[n].state) for n in self.rules.signals if n in verdict.signals]
            if self.rules.phases:
                names.append((PHASE, verdict.phase))
            for name, state in names:
                if state not in UNKNOWN_STATES:
                    self._tracks[(verdict.asset, name)] = _Track(stable=state)

    def state(self, asset: str, name: str = PHASE) -> tuple[str | None, str | None]:
        """(confirmed, pending) for one track: for tests and for a status line."""
        track = self._tracks.get((asset, name))
        return (track.stable, track.pending) if track else (None, None)

    def _reason(self, verdict: Any) -> str:
        if self.phase_reason is not None:
            try:
                return self.phase_reason(verdict)
            except Exception:  # a reason is a nicety; never lose the alert for it
                pass
        gate = ("oi_level", "oi_rebuild", "funding", "stablecoins", "sentiment")
        return ", ".join(f"{n} {verdict.signals[n].state}" for n in gate if n in verdict.signals)


def synthetic_alert(asset: str, now_ms: int) -> Alert:
    """The alert ``levtop alerts test`` sends through every configured kind."""
    return Alert(asset=asset, kind=PHASE, name=PHASE, from_="PURIFYING", to="RESTART", value=None,
                 reason="levtop alerts test: a synthetic alert, not a market event", ts=now_ms,
                 since=now_ms - DEFAULT_MIN_DURATION_MS, test=True)
