"""The status bar: phase, the five gate chips, source health, data time and the mode badge.

The whole bar turns green exactly when the selected asset's phase is RESTART. It is one widget
drawing its two lines (seven widgets before: each to mount and style before the first frame,
and to lay out again when its text changed width)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from levtop import fmt
from levtop.widgets.glyphs import HEALTH_COLOUR, HEALTH_GLYPH, STATE_COLOUR, STATE_GLYPH, phase_markup
from levtop.widgets.markup import parse

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


BADGE_STYLE = "bold $background on $accent"


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
    """

    badge: reactive[str] = reactive("")
    compact: reactive[bool] = reactive(False)
    no_sources_text: str = "connecting…"
    """Shown where the sources' health goes before any source has reported."""

    def __init__(self) -> None:
        super().__init__()
        self.view: MarketView | None = None
        self._shown: tuple | None = None
        self._asset: str | None = None
        """The selected asset as shown: ahead of the view while the new one is built."""
        self._verdicts: dict[str, Verdict | None] = {}
        """The latest verdict seen for each asset, to show a new selection at once."""

    def show(self, view: MarketView) -> None:
        """Repaint only when the bar's text changed: most refreshes change nothing here."""
        self.view = view
        self._verdicts.update(view.verdicts)
        self._verdicts[view.selected.asset] = view.selected.verdict
        self._asset = view.selected.asset
        self._update()

    def preview(self, asset: str) -> None:
        """The selection moved: the asset and its latest known verdict now, before the new view
        (a build of a few tens of milliseconds, more in a liquidation burst) replaces them."""
        if self.view is not None and asset != self._asset:
            self._asset = asset
            self._update()

    def _selection(self) -> tuple[str | None, Verdict | None]:
        view = self.view
        if view is None:
            return None, None
        if self._asset in (None, view.selected.asset):
            return view.selected.asset, view.selected.verdict
        return self._asset, self._verdicts.get(self._asset)

    def _update(self) -> None:
        view = self.view
        asset, verdict = self._selection()
        self.set_class(bool(verdict and verdict.green), "-green")
        shown = (self.phase_text(asset, verdict).markup, self.gates_text(verdict).markup,
                 self.sources_text(view.health).markup, self.clock_text(view.now))
        if shown != self._shown:
            self._shown = shown
            self.refresh()

    def render(self) -> RenderResult:
        width = self.size.width
        view = self.view
        asset, verdict = self._selection()
        top = Content.assemble(self.phase_text(asset, verdict), self.gates_text(verdict))
        right = Content.assemble(f" {self.clock_text(view.now if view else None)} ",
                                 *((f" {self.badge} ", BADGE_STYLE),) if self.badge else ())
        sources = Content.assemble(" ", self.sources_text(view.health if view else {}))
        room = max(0, width - right.cell_length)
        bottom = Content.assemble(sources.truncate(room, pad=True), right)
        return Content("\n").join([top.truncate(width), bottom.truncate(width)])

    @staticmethod
    def phase_text(asset: str | None, verdict: Verdict | None) -> Content:
        """' ▲ BTC OVERHEATED ' (the phase's glyph and colour, bold), or nothing before a view."""
        if asset is None:
            return Content("")
        phase = verdict.phase if verdict else "UNKNOWN"
        text = f"{asset} {phase}"
        if verdict and verdict.purifying_day:
            text += f" day {verdict.purifying_day} of 14-21"
        if verdict and verdict.green:
            text += " · gate green"
        return Content.assemble(" ", parse(phase_markup(phase, text)), " ")

    def gates_text(self, verdict: Verdict | None) -> Content:
        chips = []
        for name, label in (COMPACT_GATE_LABEL if self.compact else GATE_LABEL).items():
            sig = verdict.signals[name] if verdict else None
            state = sig.state if sig else "unknown"
            value = "" if self.compact else f" {gate_value(name, sig.value if sig else None)}"
            chips.append(f"[{STATE_COLOUR[state]}]{STATE_GLYPH[state]} {label}{value}[/]")
        return parse("  ".join(chips))

    def sources_text(self, health: dict[str, SourceHealth]) -> Content:
        sources = []
        for name, source in health.items():
            status = source.status.value
            label = SOURCE_LABEL.get(name, name)
            word = "" if (self.compact and status == "LIVE") else f" {status}"
            sources.append(f"[{HEALTH_COLOUR[status]}]{HEALTH_GLYPH[status]} {label}{word}[/]")
        return parse("  ".join(sources) or f"[$text-muted]{self.no_sources_text}[/]")

    @staticmethod
    def clock_text(now: int | None) -> str:
        return f"data {fmt.utc(now)} UTC" if now else "no data yet"
