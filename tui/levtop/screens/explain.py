"""The e screen: every signal with its value, threshold, reason and formula; the flush found."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from levtop import fmt
from levtop.signals import SIGNAL_NAMES, Thresholds
from levtop.view import MarketView
from levtop.widgets.glyphs import phase_markup, state_markup


def formulas(th: Thresholds) -> dict[str, str]:
    return {
        "funding": (f"mean of funding_8h over the last {th.funding_window_h:g}h, weighted by each venue's USD OI; "
                    f"good {fmt.rate(th.funding_neutral_low)}..{fmt.rate(th.funding_neutral_high)}, "
                    f"bad above {fmt.rate(th.funding_overheated)}"),
        "oi_rebuild": (f"aggregate coin OI now / 24h ago - 1, and / 72h ago - 1; good <= "
                       f"{fmt.pct(th.oi_rebuild_good_24h, 0)} and {fmt.pct(th.oi_rebuild_good_72h, 0)}, warn <= "
                       f"{fmt.pct(th.oi_rebuild_warn_24h, 0)} and {fmt.pct(th.oi_rebuild_warn_72h, 0)}"),
        "oi_level": (f"aggregate USD OI vs the ceiling (configured, else {th.oi_ceiling_peak_fraction:.0%} of the "
                     f"{th.oi_peak_window_days:g}-day peak); stable when the {th.oi_stable_window_h:g}h range is "
                     f"<= {fmt.pct(th.oi_stable_range, 0, signed=False)} of its mean"),
        "stablecoins": (f"total stablecoin supply now / 7d ago - 1 and / 14d ago - 1; good when 7d > "
                        f"{fmt.pct(th.stablecoin_inflow_7d)} and 14d > 0, bad when 7d < {fmt.pct(th.stablecoin_outflow_7d)}"),
        "sentiment": (f"Fear & Greed index; good <= {th.sentiment_fear_max:g} (fear), bad > "
                      f"{th.sentiment_greed_above:g} (greed)"),
        "long_short": (f"mean of the venues' global long/short account ratios; good {th.long_short_balanced_low:g}-"
                       f"{th.long_short_balanced_high:g}, bad < {th.long_short_extreme_low:g} or > "
                       f"{th.long_short_extreme_high:g}"),
        "liquidations": (f"liquidations in the last hour / the median hourly total of the last "
                         f"{th.liquidations_baseline_days:g} days; warn >= {th.liquidations_elevated:g}x, bad >= "
                         f"{th.liquidations_cascade:g}x"),
    }


def explanation(view: MarketView, th: Thresholds) -> str:
    asset = view.selected
    verdict = asset.verdict
    if verdict is None:
        return f"[b]{asset.asset}[/]: no data yet."
    phase = verdict.phase + (f", day {verdict.purifying_day} of 14-21" if verdict.purifying_day else "")
    lines = [f"[b]{asset.asset}[/] at {fmt.utc(verdict.ts)} UTC: {phase_markup(verdict.phase, phase)}", ""]
    rules = formulas(th)
    for name in SIGNAL_NAMES:
        sig = verdict.signals[name]
        lines.append(f"[b]{name}[/]  {state_markup(sig.state)}")
        lines.append(f"  {sig.reason}")
        lines.append(f"  [$text-muted]{rules[name]}[/]")
        lines.append("")
    lines.append("[b]flush[/]")
    if verdict.flush is None:
        lines.append("  no flush in the last 30 days (a flush: coin OI -10% in 24h or -15% in 72h, "
                     "or 24h liquidations at 5x their daily median)")
    else:
        f = verdict.flush
        lines.append(f"  {f.describe()}")
        if f.depth is not None:
            lines.append(f"  peak {fmt.number(f.peak, 0)}, trough {fmt.number(f.trough, 0)} on {fmt.utc(f.trough_ts)} UTC")
    lines += ["", "[$text-muted]escape closes[/]"]
    return "\n".join(lines)


class ExplainScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,e", "dismiss", "Close")]
    DEFAULT_CSS = """
    ExplainScreen { align: center middle; }
    ExplainScreen > VerticalScroll {
        width: 110; max-width: 100%; height: auto; max-height: 95%;
        border: round $accent; background: $surface; padding: 1 2;
    }
    """

    def __init__(self, view: MarketView, thresholds: Thresholds):
        super().__init__()
        self.view = view
        self.thresholds = thresholds

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(explanation(self.view, self.thresholds), id="explanation")
