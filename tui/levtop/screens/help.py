"""The ? screen: every key, what the colours and glyphs mean."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from levtop.widgets.glyphs import HEALTH_GLYPH, PHASE_GLYPH, STATE_GLYPH

KEYS = (
    ("↑ ↓  j k", "select the previous / next asset; every panel follows"),
    ("1 … 9", "jump to the asset at that place in the watchlist"),
    ("tab  shift+tab", "move focus between panels"),
    ("enter  z", "zoom the focused panel full screen, with a longer window"),
    ("[  ]", "shorter / longer chart window: 1d, 7d, 30d"),
    ("e", "explain: every signal with its value, threshold, reason and formula; the flush"),
    ("t", "next theme (the choice is saved)"),
    ("p", "pause the view (data keeps coming in)"),
    ("r", "refresh now: poll every source without waiting"),
    ("space", "replay: pause / resume the clock (p and r are off in a replay)"),
    ("+  -", "replay: double / halve the speed (1x to 604800x)"),
    ("←  →", "replay: seek back / forward one day of data"),
    ("ctrl+p", "command palette: jump to an asset, add or remove one, switch theme"),
    ("?", "this help"),
    ("q", "quit (history is saved first)"),
)

PHASES = (
    ("CASCADE", "liquidations at 5x their hourly median or more"),
    ("FLUSH", "a leverage flush started less than 72h ago"),
    ("TRAP", "after a flush, OI rebuilding fast with funding above neutral"),
    ("RESTART", "OI level, funding and stablecoins good; rebuild and sentiment not bad: the gate is green"),
    ("PURIFYING", "3 to 21 days after a flush: spot buying should dominate"),
    ("OVERHEATED", "funding overheated and sentiment greedy"),
    ("NEUTRAL", "none of the above, with enough data"),
    ("UNKNOWN", "too little data to say"),
)


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 1 2;
    }
    """

    def compose(self) -> ComposeResult:
        lines = ["[b]levtop[/]: is the market rebuilding healthily after a leverage flush, or walking into a trap?", "",
                 "[b $accent]Keys[/]"]
        lines += [f"  [b]{key:<16}[/] {what}" for key, what in KEYS]
        lines += ["", "[b $accent]Phases[/] (first match wins)"]
        lines += [f"  {PHASE_GLYPH[p]} [b]{p:<11}[/] {what}" for p, what in PHASES]
        lines += ["", "[b $accent]Signals and sources[/]",
                  f"  [$good]{STATE_GLYPH['good']} good[/]  [$warn]{STATE_GLYPH['warn']} warn[/]  "
                  f"[$bad]{STATE_GLYPH['bad']} bad[/]  [$text-muted]{STATE_GLYPH['unknown']} unknown (missing or stale input)[/]",
                  f"  [$good]{HEALTH_GLYPH['LIVE']} LIVE[/]  [$warn]{HEALTH_GLYPH['STALE']} STALE[/] (no fresh data for twice "
                  f"the poll interval)  [$bad]{HEALTH_GLYPH['DOWN']} DOWN[/] (failing)  {HEALTH_GLYPH['N/A']} N/A",
                  "  ▲ long / ▼ short in the liquidation tape: which side was forced out",
                  "", "[$text-muted]escape closes[/]"]
        with VerticalScroll():
            yield Static("\n".join(lines))
