"""The key bar at the bottom: the screen's keys and what they do, as Textual's Footer shows them.

One widget drawing one line. Textual's Footer mounts and styles a widget per key and does it
again on every focus change: a quarter of a second of CPU before levtop's first frame, and a
slower Tab. A key is clicked as in the Footer: the click presses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from textual import events
from textual.content import Content
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen

KEY_STYLE = "bold $footer-key-foreground on $footer-key-background"
DESCRIPTION_STYLE = "$footer-description-foreground on $footer-description-background"
PALETTE_SEPARATOR = ("▏", "$foreground 20%")


ALWAYS_SHOWN = ("help", "quit")
"""Actions whose keys the bar keeps however narrow it is: the rest is one `?` away."""


class Hint(NamedTuple):
    action: str
    key: str
    """The key to press, as Textual names it."""
    display: str
    """The key as shown ("^p", "?")."""
    description: str
    enabled: bool


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._spans: list[tuple[int, int, str]] = []
        """Where each key's hint is drawn: (first column, end column, key)."""

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: Screen) -> None:
        self.refresh()

    def hints(self) -> tuple[list[Hint], Hint | None]:
        """The screen's keys shown in the bar, and the command palette's key (drawn on the right)."""
        app = self.app
        shown: dict[str, Hint] = {}
        palette = None
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            hint = Hint(binding.action, binding.key, app.get_key_display(binding), binding.description, enabled)
            if binding.key == app.COMMAND_PALETTE_BINDING and app.ENABLE_COMMAND_PALETTE:
                palette = hint
            elif binding.show and binding.action not in shown:
                shown[binding.action] = hint  # one hint per action: "j" for j and down
        return list(shown.values()), palette

    def render(self) -> Content:
        hints, palette = self.hints()
        right = [PALETTE_SEPARATOR, *self._pieces(palette, pad=False)] if palette is not None else []
        room = self.size.width - sum(len(text) for text, _ in right)
        kept = [hint for hint in hints if hint.action in ALWAYS_SHOWN]
        others = [hint for hint in hints if hint.action not in ALWAYS_SHOWN]
        # The other keys fill what the kept ones leave, in order, and stop at the first that
        # does not fit: a bar that skipped one would read as if its key did not exist.
        free = room - sum(self._width(hint) for hint in kept)
        fitting: list[Hint] = []
        for hint in others:
            free -= self._width(hint)
            if free < 0:
                break
            fitting.append(hint)
        pieces: list[tuple[str, str]] = []
        self._spans = []
        at = 0
        for hint in fitting + kept:
            hint_pieces = self._pieces(hint)
            width = sum(len(text) for text, _ in hint_pieces)
            if at + width > room:
                break
            self._spans.append((at, at + width, hint.key))
            pieces += hint_pieces
            at += width
        if palette is not None:
            pieces.append((" " * max(0, room - at), ""))
            self._spans.append((room, self.size.width, palette.key))
            pieces += right
        return Content.assemble(*pieces)

    @classmethod
    def _width(cls, hint: Hint) -> int:
        return sum(len(text) for text, _ in cls._pieces(hint))

    @staticmethod
    def _pieces(hint: Hint, pad: bool = True) -> list[tuple[str, str]]:
        """' j ' 'Next asset ': the key and what it does; without ``pad``, '^p' ' palette'."""
        dim = "" if hint.enabled else " dim"
        if not pad:
            return [(hint.display, KEY_STYLE + dim), (f" {hint.description}", DESCRIPTION_STYLE + dim)]
        pieces = [(f" {hint.display} ", KEY_STYLE + dim)]
        if hint.description:
            pieces.append((f"{hint.description} ", DESCRIPTION_STYLE + dim))
        return pieces

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
