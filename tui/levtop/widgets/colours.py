"""Colours the widgets compute from the app's theme: a chart line or a venue swatch has to stay
visible on the panel's background in every theme, light or dark."""

from __future__ import annotations

from typing import Mapping

from textual.color import Color
from textual.widget import Widget

MIN_BRIGHTNESS_GAP = 0.3
"""A chart line this much brighter or darker than the background stays visible."""


def theme_color(variables: Mapping[str, str], name: str, fallback: str) -> Color:
    try:
        return Color.parse(variables.get(name) or fallback)
    except Exception:  # a theme variable that is not a plain colour (e.g. "auto 87%")
        return Color.parse(fallback)


def readable_on(color: Color, background: Color) -> Color:
    """``color`` lightened or darkened until it stands out from ``background``.

    A terminal palette colour (``ansi_green``) is left alone: the terminal, not the theme, knows
    what it looks like, and lightening it would replace it by a fixed RGB colour."""
    if color.ansi is not None or background.ansi is not None:
        return color
    darker = background.brightness > 0.5
    for _ in range(10):
        if abs(color.brightness - background.brightness) >= MIN_BRIGHTNESS_GAP:
            break
        color = color.darken(0.08) if darker else color.lighten(0.08)
    return color


def muted_color(widget: Widget) -> Color:
    """The colour of axes and captions: the foreground faded towards the widget's background."""
    background = widget.background_colors[1]
    foreground = theme_color(widget.app.theme_variables, "foreground",
                             "#000000" if background.brightness > 0.5 else "#ffffff")
    if foreground.ansi is not None or background.ansi is not None:
        return foreground  # palette colours do not blend
    return background.blend(foreground, 0.6)
