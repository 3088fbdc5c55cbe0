"""The status bar: phase, the five gate chips, source health, data time and the mode badge.

The whole bar turns green exactly when the selected asset's phase is RESTART."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from levtop import fmt
from levtop.signals import GATE_SIGNALS
from levtop.view import MarketView
from levtop.widgets.glyphs import HEALTH_COLOUR, HEALTH_GLYPH, STATE_COLOUR, STATE_GLYPH, phase_markup

GATE_LABEL = {"oi_level": "OI level", "oi_rebuild": "OI rebuild", "funding": "funding",
              "stablecoins": "stables", "sentiment": "F&G"}
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
            yield Static(id="gates")
        with Horizontal():
            yield Static(id="sources")
            yield Static(id="clock")
            yield Static(id="badge", classes="-hidden")

    def watch_badge(self, badge: str) -> None:
        label = self.query_one("#badge", Static)
        label.update(badge)
        label.set_class(not badge, "-hidden")

    def show(self, view: MarketView) -> None:
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
        self.query_one("#phase", Static).update(phase_markup(phase, text))
        chips = []
        for name in GATE_SIGNALS:
            sig = verdict.signals[name] if verdict else None
            state = sig.state if sig else "unknown"
            label = (COMPACT_GATE_LABEL if self.compact else GATE_LABEL)[name]
            value = "" if self.compact else f" {gate_value(name, sig.value if sig else None)}"
            chips.append(f"[{STATE_COLOUR[state]}]{STATE_GLYPH[state]} {label}{value}[/]")
        self.query_one("#gates", Static).update("  ".join(chips))
        sources = []
        for name, health in view.health.items():
            status = health.status.value
            label = SOURCE_LABEL.get(name, name)
            word = "" if (self.compact and status == "LIVE") else f" {status}"
            sources.append(f"[{HEALTH_COLOUR[status]}]{HEALTH_GLYPH[status]} {label}{word}[/]")
        self.query_one("#sources", Static).update("  ".join(sources) or f"[$text-muted]{self.no_sources_text}[/]")
        clock = f"data {fmt.utc(view.now)} UTC" if view.now else "no data yet"
        self.query_one("#clock", Static).update(clock)
