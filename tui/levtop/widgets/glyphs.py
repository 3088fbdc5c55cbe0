"""Glyphs and theme colours for states and phases: never a colour without a glyph or word."""

from __future__ import annotations

NO_DATA = "no data yet"
"""What a panel, a chart or a figure says before its source has sent anything."""

STATE_GLYPH = {"good": "✔", "warn": "▲", "bad": "✖", "unknown": "?"}
STATE_COLOUR = {"good": "$good", "warn": "$warn", "bad": "$bad", "unknown": "$text-muted"}

PHASE_GLYPH = {
    "CASCADE": "‼",
    "FLUSH": "▼",
    "TRAP": "⚠",
    "RESTART": "✔",
    "PURIFYING": "◌",
    "OVERHEATED": "▲",
    "NEUTRAL": "•",
    "UNKNOWN": "?",
}
PHASE_COLOUR = {
    "CASCADE": "$bad",
    "FLUSH": "$bad",
    "TRAP": "$bad",
    "RESTART": "$good",
    "PURIFYING": "$accent",
    "OVERHEATED": "$warn",
    "NEUTRAL": "$text-muted",
    "UNKNOWN": "$text-muted",
}

HEALTH_GLYPH = {"LIVE": "●", "STALE": "◐", "DOWN": "✖", "N/A": "○"}
HEALTH_COLOUR = {"LIVE": "$good", "STALE": "$warn", "DOWN": "$bad", "N/A": "$text-muted"}


def state_markup(state: str, text: str = "") -> str:
    """'✔ good' (or the glyph and ``text``) in the state's colour."""
    label = text or state
    return f"[{STATE_COLOUR[state]}]{STATE_GLYPH[state]} {label}[/]"


def phase_markup(phase: str, text: str | None = None) -> str:
    return f"[b {PHASE_COLOUR.get(phase, '$text')}]{PHASE_GLYPH.get(phase, '?')} {text or phase}[/]"
