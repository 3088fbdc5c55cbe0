"""Funding: what leveraged longs pay shorts, per venue, against the neutral band."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from textual.content import Content

from levtop import fmt
from levtop.model import MINUTE
from levtop.widgets.open_interest import NO_DATA, MarketPanel, fit, state_badge, swatch, venue_colors

if TYPE_CHECKING:
    from levtop.signals import Signal
    from levtop.view import FundingView, MarketView


def countdown(ms: int | None) -> str:
    """Time to the next funding: 'in 3h12m', 'in 45m', 'due' once it has passed, 'n/a' unknown."""
    if ms is None:
        return "n/a"
    if ms <= 0:
        return "due"
    minutes = math.ceil(ms / MINUTE)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"in {days}d{hours}h"
    return f"in {hours}h{minutes:02d}m" if hours else f"in {minutes}m"


def funding_state_word(signal: Signal | None, funding: FundingView) -> tuple[str, str]:
    """The funding signal as (state, word): neutral, warming, shorts crowded, overheated."""
    if signal is None or signal.state not in ("good", "warn", "bad"):
        return "unknown", "unknown"
    if signal.state == "good":
        return "good", "neutral"
    if signal.state == "bad":
        return "bad", "overheated"
    below = signal.value is not None and signal.value < funding.neutral_low
    return "warn", "shorts crowded" if below else "warming"


def who_pays(rate: float | None) -> str:
    if rate is None or not math.isfinite(rate):
        return ""
    if rate > 0:
        return "longs pay shorts"
    if rate < 0:
        return "shorts pay longs"
    return "nobody pays"


class FundingPanel(MarketPanel):
    """OI-weighted funding and its APR, per-venue rates with the next settlement, and history."""

    TITLE = "Funding"

    def shown_key(self, view: MarketView) -> object:
        verdict = view.selected.verdict
        # The countdowns count minutes of the data clock.
        minute = view.now // MINUTE if view.now is not None else None
        return (view.selected.funding, verdict.signals.get("funding") if verdict else None, minute, view.window,
                view.chart_windows.get(view.window))

    def draw(self, view: MarketView) -> None:
        funding = view.selected.funding
        verdict = view.selected.verdict
        state, word = funding_state_word(verdict.signals.get("funding") if verdict else None, funding)

        width = self.content_size.width
        if funding.weighted_8h is None:
            rate = short_rate = Content.styled(NO_DATA, "bold")
        else:
            short_rate = Content.assemble((fmt.rate(funding.weighted_8h), "bold"), ("/8h", "$text-muted"))
            rate = Content.assemble(short_rate, "  ", ("APR ", "$text-muted"), fmt.pct(funding.apr))
        badge = state_badge(state, word)
        band = f"neutral {fmt.rate(funding.neutral_low).rstrip('%')}..{fmt.rate(funding.neutral_high)}"
        pays = who_pays(funding.weighted_8h)
        if self.compact:
            lines = [fit(width, [Content.assemble(rate, "  ", badge), Content.assemble(short_rate, "  ", badge),
                                 Content.assemble(short_rate, " ", badge)])]
        elif self.short:
            soonest = min((v.next_funding_ts for v in funding.venues.values() if v.next_funding_ts is not None),
                          default=None)
            when = countdown(soonest - view.now if (soonest is not None and view.now is not None) else None)
            next_part = Content.assemble(("next ", "$text-muted"), when)
            lines = [
                fit(width, [Content.assemble(rate, "  ", badge), Content.assemble(short_rate, "  ", badge)]),
                fit(width, [Content.assemble((f"{pays} · " if pays else "", "$text-muted"), next_part,
                                             (f" · {band}", "$text-muted")),
                            Content.assemble((f"{pays} · " if pays else "", "$text-muted"), next_part),
                            next_part]),
            ][:1 if self.tight else 2]
        else:
            lines = [
                rate,
                Content.assemble(badge, (f"  {pays}" if pays else "", "$text-muted")),
                Content.styled(f"24h mean · {band}", "$text-muted"),
            ]
        self.set_headline(lines)

        venues = list(funding.venues)
        colors = venue_colors(self, venues)
        name_width = max((len(v) for v in venues), default=0)
        rates = {v: fmt.rate(funding.venues[v].rate_8h) for v in venues}
        rate_width = max((len(r) for r in rates.values()), default=0)
        for row in self.venue_rows(venues):
            venue = funding.venues[row.venue]
            next_ts = venue.next_funding_ts
            when = countdown(next_ts - view.now if (next_ts is not None and view.now is not None) else None)
            prefix = [] if self.compact else [swatch(colors[row.venue]), " "]
            text = Content.assemble(
                *prefix, row.venue.ljust(name_width), "  ", rates[row.venue].rjust(rate_width), "  ",
                ("" if self.compact else "next ", "$text-muted"), when,
            )
            line = funding.lines.get(row.venue)
            row.set(text, line.values if line else (), colors[row.venue])

        self.draw_chart(view, "funding/8h", funding.lines, fmt.rate,
                        guides=((funding.neutral_low, "good"), (funding.neutral_high, "good")),
                        legend=Content.assemble(("──", "$good"), " neutral band"), figures=rates)
