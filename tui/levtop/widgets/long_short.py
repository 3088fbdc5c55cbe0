"""Long/short: how one-sided positioning is, per venue, for all accounts and for top traders."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from textual.content import Content

from levtop import fmt
from levtop.widgets.open_interest import NO_DATA, MarketPanel, state_badge, swatch, venue_colors

if TYPE_CHECKING:
    from levtop.signals import Signal
    from levtop.view import MarketView

MISSING = "—"
"""A ratio the venue does not publish (top traders on some venues) or has not sent yet."""

SPLIT_WIDTH = len("long/short")
"""The split bar sits under its column header."""


def ratio(value: float | None) -> str:
    return fmt.number(value, 2) if value is not None and math.isfinite(value) else MISSING


def long_short_word(signal: Signal | None) -> tuple[str, str]:
    """The long_short signal as (state, word): balanced, leaning longs, one-sided shorts..."""
    if signal is None or signal.state not in ("good", "warn", "bad"):
        return "unknown", "unknown"
    if signal.state == "good":
        return "good", "balanced"
    side = "longs" if (signal.value or 0) > 1 else "shorts"
    return signal.state, f"{'leaning' if signal.state == 'warn' else 'one-sided'}: {side}"


def split_bar(value: float | None, width: int = SPLIT_WIDTH) -> Content:
    """The ratio as the long share of accounts: a heavy line for longs, a thin one for shorts."""
    if value is None or not math.isfinite(value) or value < 0:
        return Content(" " * width)
    longs = round(value / (1 + value) * width)
    return Content.assemble(("━" * longs, "$long"), ("─" * (width - longs), "$short"))


class LongShortPanel(MarketPanel):
    """Global and top-trader long/short ratios per venue, the balance verdict, and history."""

    TITLE = "Long/Short"
    DEFAULT_CSS = """
    LongShortPanel > VenueRows { margin-top: 0; }
    """

    def shown_key(self, view: MarketView) -> object:
        verdict = view.selected.verdict
        return (view.selected.long_short, verdict.signals.get("long_short") if verdict else None, view.window,
                view.chart_windows.get(view.window))

    def draw(self, view: MarketView) -> None:
        ls = view.selected.long_short
        verdict = view.selected.verdict
        signal = verdict.signals.get("long_short") if verdict else None
        state, word = long_short_word(signal)
        mean = Content.assemble(("mean ", "$text-muted"), ratio(signal.value if signal else None))
        headline = [Content.assemble(state_badge(state, word), "  ", mean)]
        if not ls.global_ratio:
            headline.append(Content.styled(NO_DATA, "bold"))

        venues = list(ls.global_ratio)
        colors = venue_colors(self, venues)
        name_width = max((len(v) for v in venues), default=0)
        if not self.compact and not self.short and venues:
            # The table's column header closes the headline, right above its rows.
            indent = " " * (len(swatch(None).plain) + 1 + name_width)
            headline.append(Content(""))
            headline.append(Content.styled(f"{indent} global   top long/short", "$text-muted"))
        self.set_headline(headline)

        for row in self.venue_rows(venues):
            global_text = ratio(ls.global_ratio.get(row.venue)).rjust(6)
            top_text = ratio(ls.top_ratio.get(row.venue)).rjust(5)
            if self.compact:
                text = Content.assemble(row.venue.ljust(name_width), "  ", global_text,
                                        ("  top ", "$text-muted"), top_text)
            else:
                text = Content.assemble(
                    swatch(colors[row.venue]), " ", row.venue.ljust(name_width), " ", global_text, " ",
                    top_text, " ", split_bar(ls.global_ratio.get(row.venue)),
                )
            line = ls.lines.get(row.venue)
            row.set(text, line.values if line else (), colors[row.venue])

        self.draw_chart(view, "global long/short", ls.lines, ratio, guides=((1.0, ""),),
                        legend=Content.assemble(("──", "$text-muted"), " 1.00 even"),
                        figures={v: ratio(ls.global_ratio.get(v)) for v in venues})
