"""The status bar: phase, the five gate chips, source health, data time and the mode badge.

The whole bar turns green exactly when the selected asset's phase is RESTART."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from levtop import fmt
from levtop.widgets.glyphs import HEALTH_COLOUR, HEALTH_GLYPH, STATE_COLOUR, STATE_GLYPH, phase_markup
from levtop.widgets.panel import set_text

if TYPE_CHECKING:
    from levtop.signals import Verdict
    from levtop.sources.health import SourceHealth
    from levtop.view import MarketView

GATE_LABEL = {"oi_level": "OI level", "oi_rebuild": "OI rebuild", "funding": "funding",
              "stablecoins": "stables", "sentiment": "F&G"}
"""The gate's signals (signals.GATE_SIGNALS, in its order) and their chips' words."""
COMPACT_GATE_LABEL = {"oi_level": "OI", "oi_rebuild": "rebuild", "funding": "funding",
                      "stablecoins": "stables", "sentiment": "F&G"}
SOURCE_LABEL = {"binance": "Binance", "bybit": "Bybit", "okx": "OKX", "fear_greed": "F&G", "stablecoins": "Llama",
                "history": "History"}


def gate_value(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return {
        "oi_level": fmt.usd,
        "oi_rebuild": fmt.pct,
        "funding": fmt.rate,
        "stablecoins": lambda v: fmt.pct(v, 2),
        "sentiment": lambda v: f"{v:g}",
    }[name](value)


class StatusBar(Widget):
    DEFAULT_CSS = """
    StatusBar {
        height: 2;
        background: $panel;
        color: $foreground;
    }
    StatusBar.-green {
        background: $success 35%;
    }
    StatusBar Horizontal { height: 1; }
    StatusBar #phase { width: auto; padding: 0 1; text-style: bold; }
    StatusBar #gates { width: 1fr; }
    StatusBar #sources { width: 1fr; padding: 0 1; }
    StatusBar #clock { width: auto; padding: 0 1; }
    StatusBar #badge { width: auto; padding: 0 1; background: $accent; color: $background; text-style: bold; }
    StatusBar #badge.-hidden { display: none; }
    """

    badge: reactive[str] = reactive("")
    compact: reactive[bool] = reactive(False)
    no_sources_text: str = "connecting…"
    """Shown where the sources' health goes before any source has reported."""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static(id="phase")
            yield Static(self.gates_text(None), id="gates")
        with Horizontal():
            yield Static(f"[$text-muted]{self.no_sources_text}[/]", id="sources")
            yield Static(self.clock_text(None), id="clock")
            yield Static(id="badge", classes="-hidden")

    _view: MarketView | None = None

    def watch_compact(self) -> None:
        if self._view is not None:
            self.show(self._view)

    def watch_badge(self, badge: str) -> None:
        label = self.query_one("#badge", Static)
        label.update(badge)
        label.set_class(not badge, "-hidden")

    def show(self, view: MarketView) -> None:
        """Each part is updated only when its text changed: most refreshes change one or none."""
        self._view = view
        asset = view.selected
        verdict = asset.verdict
        phase = verdict.phase if verdict else "UNKNOWN"
        green = bool(verdict and verdict.green)
        self.set_class(green, "-green")
        text = f"{asset.asset} {phase}"
        if verdict and verdict.purifying_day:
            text += f" day {verdict.purifying_day} of 14-21"
        if green:
            text += " · gate green"
        set_text(self.query_one("#phase", Static), phase_markup(phase, text))
        set_text(self.query_one("#gates", Static), self.gates_text(verdict))
        set_text(self.query_one("#sources", Static), self.sources_text(view.health))
        set_text(self.query_one("#clock", Static), self.clock_text(view.now))

    def gates_text(self, verdict: Verdict | None) -> str:
        chips = []
        for name, label in (COMPACT_GATE_LABEL if self.compact else GATE_LABEL).items():
            sig = verdict.signals[name] if verdict else None
            state = sig.state if sig else "unknown"
            value = "" if self.compact else f" {gate_value(name, sig.value if sig else None)}"
            chips.append(f"[{STATE_COLOUR[state]}]{STATE_GLYPH[state]} {label}{value}[/]")
        return "  ".join(chips)

    def sources_text(self, health: dict[str, SourceHealth]) -> str:
        sources = []
        for name, source in health.items():
            status = source.status.value
            label = SOURCE_LABEL.get(name, name)
            word = "" if (self.compact and status == "LIVE") else f" {status}"
            sources.append(f"[{HEALTH_COLOUR[status]}]{HEALTH_GLYPH[status]} {label}{word}[/]")
        return "  ".join(sources) or f"[$text-muted]{self.no_sources_text}[/]"

    @staticmethod
    def clock_text(now: int | None) -> str:
        return f"data {fmt.utc(now)} UTC" if now else "no data yet"
