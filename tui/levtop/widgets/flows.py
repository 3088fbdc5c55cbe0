"""The Flows panel: stablecoin supply and its net change, and spot vs perp volume.

Stablecoin inflows are dry powder for spot buying; a market rebuilt on spot (a large spot share
of volume) is healthier than one rebuilt on perps (design.md section 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.widgets import Sparkline

from levtop import fmt
from levtop.widgets.flow_parts import (
    HISTORY_WINDOW,
    NO_DATA,
    TextBlock,
    first_fitting,
    history_chart,
    show_sparkline,
    signal_state,
    spread,
    state_badge,
)
from levtop.widgets.panel import Panel

if TYPE_CHECKING:
    from levtop.view import FlowsView, MarketView

STABLECOIN_MOODS = {
    "good": "inflows increasing",
    "warn": "flat or mixed",
    "bad": "outflows",
    "unknown": "needs 14d of history",
}


def signed_change(fraction: float | None, digits: int = 2, gap: str = " ") -> str:
    """A net change with its direction as a glyph: '▲ +0.23%' (inflow), '▼ -0.12%' (outflow)."""
    if fraction is None:
        return "[$text-muted]n/a[/]"
    text = fmt.pct(fraction, digits)
    if text.startswith("+0.") and text.strip("+0.%") == "":
        return f"[$text-muted]■{gap}{text}[/]"
    return f"[$good]▲{gap}{text}[/]" if fraction > 0 else f"[$bad]▼{gap}{text}[/]"


def supply_ticks(values: tuple[float, ...]) -> tuple[float, ...]:
    """The lowest and the highest supply of the window as the y ticks (labelled in dollars,
    '$168.3B' and '$170.1B'): the supply moves by tenths of a percent, which round ticks would
    not resolve, and the two ends tell the range at a glance."""
    return tuple(sorted({min(values), max(values)})) if values else ()


def share_bar(spot_share: float | None, width: int) -> str:
    """'spot 18% ███░░░░░░░ perp 82%': solid for spot, shaded for perp, so it reads without colour."""
    if spot_share is None:
        return first_fitting(width, [f"spot vs perp [$text-muted]n/a · {NO_DATA}[/]",
                                     "spot/perp [$text-muted]n/a[/]"])
    spot, perp = f"spot {spot_share:.0%}", f"perp {1 - spot_share:.0%}"
    bar_width = width - len(spot) - len(perp) - 2
    if bar_width < 4:
        return f"[$accent]{spot}[/] │ [$primary]{perp}[/]"
    filled = min(bar_width, max(0, round(spot_share * bar_width)))
    return (f"[b $accent]{spot}[/] [$accent]{'█' * filled}[/][$primary 60%]{'░' * (bar_width - filled)}[/]"
            f" [b $primary]{perp}[/]")


class FlowsPanel(Panel):
    """Stablecoin supply (7d and 14d net change, signal, 30 days) and the 24h spot/perp split."""

    TITLE = "Flows"
    DEFAULT_CSS = """
    FlowsPanel #flows-supply { height: 2; }
    FlowsPanel #flows-chart { margin-top: 1; }
    FlowsPanel #flows-spark { display: none; height: 1; }
    FlowsPanel #flows-spark > .sparkline--max-color { color: $accent; }
    FlowsPanel #flows-spark > .sparkline--min-color { color: $accent 30%; }
    FlowsPanel #flows-volume { height: 3; margin-top: 1; }
    FlowsPanel.-short #flows-chart { margin-top: 0; }
    FlowsPanel.-short #flows-volume { height: 2; margin-top: 0; }
    FlowsPanel.-tight #flows-volume { display: none; }
    FlowsPanel.-compact #flows-chart { display: none; }
    FlowsPanel.-compact #flows-spark { display: block; }
    FlowsPanel.-compact #flows-spark.-empty { display: none; }
    FlowsPanel.-compact #flows-volume { height: 1; margin-top: 0; }
    """

    def __init__(self, *, deferred: bool = False, id: str | None = None, classes: str | None = None):
        super().__init__(deferred=deferred, id=id, classes=classes)
        self.flows: FlowsView | None = None
        self.asset = ""
        self.state = "unknown"

    def compose_body(self) -> ComposeResult:
        from levtop.widgets.chart import TimeChart  # plotext: after the first frame

        yield TextBlock(self._supply, id="flows-supply")
        yield TimeChart(id="flows-chart")
        yield Sparkline([], id="flows-spark")
        yield TextBlock(self._volume, id="flows-volume")

    def full_rows(self) -> int:
        # The supply's two lines, the chart's title and eight rows, the volume's three, two gaps.
        return 2 + 1 + 8 + 3 + 2

    def shown_key(self, view: MarketView) -> object:
        return (view.selected.flows, view.selected.asset, signal_state(view, "stablecoins"),
                view.chart_windows.get(HISTORY_WINDOW))

    def draw(self, view: MarketView) -> None:
        flows = view.selected.flows
        self.flows, self.asset, self.state = flows, view.selected.asset, signal_state(view, "stablecoins")
        for block in self.query(TextBlock):
            block.update()
        # A short panel gives the title's row to the chart: its x axis says -30d already.
        title = "" if self.short else f"Stablecoin supply · {HISTORY_WINDOW}"
        self.query_one("#flows-chart").draw(history_chart(
            view, flows.supply_line, title, y_label=fmt.usd,
            y_ticks=supply_ticks(flows.supply_line.values),
        ))
        show_sparkline(self.query_one(Sparkline), flows.supply_line)

    # -- text ----------------------------------------------------------------------------------

    def _supply(self, width: int) -> str:
        flows = self.flows
        badge = state_badge(self.state)
        mood = f"[$text-muted]{STABLECOIN_MOODS.get(self.state, '')}[/]"
        if flows is None or flows.supply_usd is None:
            top = first_fitting(width, [
                spread(width, f"Stablecoins [b]n/a[/] [$text-muted]{NO_DATA}[/]", badge),
                spread(width, f"Stables [b]n/a[/] [$text-muted]{NO_DATA}[/]", badge),
                f"Stables [b]n/a[/] [$text-muted]· {NO_DATA}[/]",
                f"Stables [$text-muted]{NO_DATA}[/]",
            ])
            return f"{top}\n[$text-muted]7d n/a  14d n/a[/]"
        supply = f"[b]{fmt.usd(flows.supply_usd)}[/]"
        top = first_fitting(width, [
            spread(width, f"Stablecoin supply {supply}", badge),
            spread(width, f"Stables {supply}", badge),
            f"{supply} {badge}",
        ])
        c7, c14 = signed_change(flows.change_7d), signed_change(flows.change_14d)
        t7, t14 = signed_change(flows.change_7d, gap=""), signed_change(flows.change_14d, gap="")
        bottom = first_fitting(width, [
            spread(width, f"net 7d {c7}  14d {c14}", mood),
            f"net 7d {c7}  14d {c14}",
            f"7d {c7}  14d {c14}",
            f"7d {t7} 14d {t14}",
            f"7d {t7}",
        ])
        return f"{top}\n{bottom}"

    def _volume(self, width: int) -> str:
        flows = self.flows
        share = flows.spot_share if flows is not None else None
        bar = share_bar(share, width)
        if self.compact:
            return bar
        title = first_fitting(width, [
            f"[b]{self.asset}[/] volume 24h: spot vs perp",
            f"{self.asset} volume 24h",
        ])
        if flows is None or share is None or self.short:
            return f"{title}\n{bar}"
        amounts = spread(width, f"[$text-muted]{fmt.usd(flows.spot_volume_24h)}[/]",
                         f"[$text-muted]{fmt.usd(flows.perp_volume_24h)}[/]")
        return f"{title}\n{bar}\n{amounts}"
