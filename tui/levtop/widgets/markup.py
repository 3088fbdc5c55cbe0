"""Content markup, parsed quickly: the panels rebuild their text from the data on every view.

Textual's parser (``Content.from_markup``) tokenizes with a general CSS-like tokenizer: about
0.4 ms for one line of a panel, which made parsing the panels' markup the largest single cost of
drawing a new view (a fast market redraws every panel every second). The markup levtop writes
uses a small part of the language: style tags of words and theme variables (``[b $bad]``), and
``[/]`` or the same tag to close them. ``parse`` reads that part itself, giving exactly the
Content Textual's parser gives (tests/test_ui_markup.py compares the two on every text the panels
draw), and hands anything else (escapes, ``@click``, quoted values, control codes, a closing tag
that is not the innermost) to Textual's parser, so no markup reads differently.
"""

from __future__ import annotations

import re
from functools import lru_cache
from operator import itemgetter

from textual.content import Content, Span

TAG = re.compile(r"\[(/?)([^\[\]]*)\]")
SIMPLE_TAG_BODY = re.compile(r"[a-z$][a-z0-9$_-]*(?: [a-z$][a-z0-9$_-]*)*")
"""Words and $variables, one space apart: the style tags levtop writes."""
FALLBACK_CHARS = re.compile(r"[\\\x00-\x09\x0b-\x1f\x7f]")
"""An escape or a control code (Textual strips some before parsing): left to Textual."""


@lru_cache(maxsize=4096)
def parse(markup: str) -> Content:
    """``Content.from_markup(markup)``, fast for levtop's markup (the same texts come back on
    every refresh, so the results are kept too)."""
    if "[" not in markup:
        return Content.from_markup(markup)
    content = _parse_simple(markup)
    return content if content is not None else Content.from_markup(markup)


def _parse_simple(markup: str) -> Content | None:
    """The Content of ``markup``, or None when it uses more than plain style tags."""
    if FALLBACK_CHARS.search(markup):
        return None
    text: list[str] = []
    spans: list[Span] = []
    stack: list[tuple[int, str]] = []
    position = 0
    last = 0
    for match in TAG.finditer(markup):
        closing, body = match.groups()
        if body and not SIMPLE_TAG_BODY.fullmatch(body):
            return None
        piece = markup[last:match.start()]
        if "[" in piece or "]" in piece:
            return None  # a stray bracket: Textual decides what it means
        text.append(piece)
        position += len(piece)
        last = match.end()
        if not closing:
            if not body:
                return None  # "[]" is text to Textual
            stack.append((position, body))
            continue
        if not stack or (body and stack[-1][1] != body):
            return None  # nothing to close, or not the innermost: Textual's rules (or its error)
        start, opened = stack.pop()
        if start != position:
            spans.append(Span(start, position, opened))
    tail = markup[last:]
    if "[" in tail or "]" in tail:
        return None
    text.append(tail)
    plain = "".join(text)
    if stack and plain:
        spans.extend(Span(start, len(plain), body) for start, body in reversed(stack) if start != len(plain))
    # The order Textual gives: spans by start, those closed later first among equal starts.
    spans.reverse()
    spans.sort(key=itemgetter(0))
    return Content(plain, spans)


def cell_length(markup: str) -> int:
    """How many terminal cells ``markup`` takes on one line."""
    return parse(markup).cell_length
