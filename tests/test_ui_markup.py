"""levtop.widgets.markup.parse gives exactly the Content of Textual's own markup parser: on
hand-picked edge cases and on every markup text the app draws for real views."""

from __future__ import annotations

import asyncio

import pytest
from textual.content import Content
from textual.markup import MarkupError

from levtop.widgets import markup
from levtop.widgets.markup import _parse_simple, parse

from ui_helpers import PHASE_AT, app_at, first_view

CASES = [
    "plain text",
    "",
    "[b]bold[/]",
    "[b $bad]✖ bad[/] OI [$good]▲+3.0%[/] tail",
    "[$text-muted]? unknown[/$text-muted]",
    "[b][$good]nested[/] after[/]",
    "[b][$good]nested[/$good] after[/b] end",
    "[$good]unclosed",
    "[b]one [$warn]two",
    "[b][/]empty span",
    "[b][$good][/][/]",
    "$12.38B [$long]+3%[/] $$ money",
    "multi\nline [$short]red[/]\n[b]x[/]",
    "[dim]7d[/dim] [reverse] chip [/reverse]",
    # Outside the simple subset: Textual's parser decides.
    r"escaped \[b] not a tag",
    "[@click=app.quit]quit[/]",
    "[1] a number in brackets",
    "[] empty brackets",
    "a ] stray bracket",
    "[B]upper[/]",
    "[ b ]spaced[/]",
    "[#ff0000]hex[/]",
    "[b][$good]x[/b] closes the outer one",
    "bell\x07 inside [b]x[/]",
    "tab\tinside [b]x[/]",
]


def same(a: Content, b: Content) -> bool:
    return a.plain == b.plain and a.spans == b.spans and a.cell_length == b.cell_length


@pytest.mark.parametrize("text", CASES)
def test_same_content_as_textual(text):
    assert same(parse(text), Content.from_markup(text)), text


@pytest.mark.parametrize("text", ["[/] nothing open", "[b]x[/] [/]", "[b]x[/i]"])
def test_textual_errors_stay_errors(text):
    with pytest.raises(MarkupError):
        Content.from_markup(text)
    with pytest.raises(MarkupError):
        parse(text)


def test_simple_subset_is_read_without_textual():
    """The markup levtop writes takes the fast path (else this module would save nothing)."""
    assert _parse_simple("[b $bad]✖ bad[/] OI [$good]▲+3.0%[/]") is not None
    assert _parse_simple(r"\[b]") is None
    assert _parse_simple("[@click=app.quit]q[/]") is None


def test_every_text_the_app_draws(monkeypatch):
    """Each markup the panels, watchlist and status bar parse while the app shows every phase of
    the recovery and trap scenarios, at three sizes, parses as Textual parses it."""
    seen: set[str] = set()
    real = markup.parse.__wrapped__

    def recording(text: str) -> Content:
        seen.add(text)
        return real(text)

    import levtop.widgets.flow_parts as flow_parts
    import levtop.widgets.status_bar as status_bar
    import levtop.widgets.watchlist as watchlist

    for module in (flow_parts, status_bar, watchlist):
        monkeypatch.setattr(module, "parse", recording)
    shots = [("recovery", offset) for offset in PHASE_AT.values()] + [("trap", 100 * 3_600_000)]
    for (scenario, offset), size in zip(shots, [(80, 24), (120, 40), (200, 60)] * 3):
        asyncio.run(_show(scenario, offset, size))
    assert len(seen) > 100
    fast = [text for text in seen if _parse_simple(text) is not None]
    assert len(fast) > 0.9 * len(seen), "most of levtop's markup should take the fast path"
    different = [text for text in seen if not same(real(text), Content.from_markup(text))]
    assert different == []


async def _show(scenario: str, offset: int, size: tuple[int, int]) -> None:
    app = app_at(scenario, offset)
    async with app.run_test(size=size) as pilot:
        await first_view(app, pilot)
        await pilot.pause(0.3)
        await pilot.press("j")
        await pilot.pause(0.5)
