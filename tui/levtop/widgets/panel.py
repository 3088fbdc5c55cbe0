"""The base of every data panel: a bordered, focusable box filled from the view model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from textual.app import ComposeResult, RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from levtop.widgets.glyphs import NO_DATA

if TYPE_CHECKING:
    from levtop.view import MarketView


class Panel(Widget, can_focus=True):
    """A panel shows one aspect of the selected asset.

    The app calls ``show(view)`` whenever the view model changes (coalesced, at most once a
    second) and sets ``compact`` when the terminal is small (80x24): sparklines instead of
    charts, fewer columns. A panel too low for its full layout (``full_rows``) draws a short one.
    Subclasses set ``TITLE``, compose their content in ``compose_body``,
    implement ``draw`` and name in ``shown_key`` what of the view they show; they keep their own
    ``DEFAULT_CSS``. A panel never fetches or computes market data itself.

    A panel made with ``deferred=True`` starts as an empty box saying "no data yet", and composes
    its content when ``compose_later`` is awaited: the app does so after its first frame, which
    then draws a dozen widgets instead of sixty (mounting and styling them is most of its cost).
    """

    TITLE = ""
    DEFAULT_CSS = """
    Panel {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        border-title-style: bold;
        padding: 0 1;
        height: 1fr;
    }
    Panel:focus, Panel:focus-within {
        border: round $accent;
        border-title-color: $accent;
    }
    """

    TIGHT_ROWS = 10
    """Under this many content rows (100x30 gives seven), a short panel is tight (class
    ``-tight``): one line where it has two, so that a chart still gets five rows."""

    compact: reactive[bool] = reactive(False)
    stale_reason: reactive[str] = reactive("")
    """Non-empty when the sources behind this panel are not LIVE: shown in the border."""

    def __init__(self, *, deferred: bool = False, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.view: MarketView | None = None
        """What ``show`` was last given: drawn again as is when compact mode or the theme changes."""
        self._shown: object = None
        self._deferred = deferred
        self._composed = not deferred

    def compose(self) -> ComposeResult:
        if not self._deferred:
            yield from self.compose_body()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    @property
    def composed(self) -> bool:
        """False until a deferred panel has composed its content and drawn its view in it."""
        return self._composed

    async def compose_later(self) -> None:
        """Compose the content of a deferred panel, and draw the view it was given meanwhile."""
        if self._deferred:
            self._deferred = False
            await self.recompose()
            self._redraw()
            self._composed = True

    def render(self) -> RenderResult:
        if not self._deferred:
            return super().render()
        width, height = self.content_size
        return Content("\n" * (height // 2) + NO_DATA.center(width)).stylize("$text-muted")

    def on_mount(self) -> None:
        self.border_title = self.TITLE
        # Venue colours and the like are computed from the theme: a new theme draws them again.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())

    def watch_stale_reason(self, reason: str) -> None:
        self.border_subtitle = f"⚠ {reason}" if reason else ""

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        self._redraw()

    def full_rows(self) -> int:
        """The content rows the panel's full layout needs; in fewer, it draws its short layout
        (class ``-short``: fewer details, so that its chart keeps the rows it reads well in)."""
        return 0

    @property
    def short(self) -> bool:
        return not self.compact and self.content_size.height < self.full_rows()

    @property
    def tight(self) -> bool:
        return self.short and self.content_size.height < self.TIGHT_ROWS

    def on_resize(self) -> None:
        # The layout, and how much detail each line holds, follow the panel's size.
        self._redraw()

    def show(self, view: MarketView) -> None:
        """Draw ``view``, unless it holds nothing new for this panel: most refreshes change one
        panel or none, and an unchanged panel then costs neither a rebuild nor a repaint."""
        self.view = view
        if self._deferred:
            return
        key = self.shown_key(view)
        if key != self._shown:
            self._shown = key
            self.set_class(self.short, "-short")
            self.set_class(self.tight, "-tight")
            self.draw(view)

    def _redraw(self) -> None:
        """Draw the last view again: compact mode or the theme changed, which no key tells."""
        self._shown = None
        if self.view is not None:
            self.show(self.view)

    def shown_key(self, view: MarketView) -> object:
        """Everything of ``view`` that ``draw`` reads: equal keys draw the same panel."""
        raise NotImplementedError

    def draw(self, view: MarketView) -> None:
        raise NotImplementedError


def set_text(static: Static, content: Content | str, *, layout: bool = True) -> None:
    """``static.update(content)`` unless it shows that already. An update repaints the widget; a
    layout pass, which arranges the whole screen again, only follows when ``layout`` is asked for
    and the text changed shape: most updates change a figure for another as wide."""
    if same_content(static.content, content):
        return
    before = shape(static.visual)
    static.update(content, layout=False)
    if layout and takes_other_room(static, before, shape(static.visual)):
        static.refresh(layout=True)


def takes_other_room(widget: Widget, before: tuple[int, ...] | None, after: tuple[int, ...] | None) -> bool:
    """Whether a widget whose text went from shape ``before`` to ``after`` needs a layout pass: a
    new line count for a widget as high as its text, a new widest line for one as wide as its text.
    A layout pass arranges and repaints the whole screen; a new asset changes most figures' widths."""
    if before is None or after is None:
        return True
    height, width = widget.styles.height, widget.styles.width
    # Unset (None), a size fills the container: the text does not change it.
    if len(before) != len(after) and height is not None and height.is_auto:
        return True
    return max(before, default=0) != max(after, default=0) and width is not None and width.is_auto


def same_content(a: object, b: object) -> bool:
    """Equal text and styles (Content's own == compares the text only)."""
    if isinstance(a, Content) and isinstance(b, Content):
        return a.plain == b.plain and a.spans == b.spans
    return type(a) is type(b) and a == b


def shape(visual: object) -> tuple[int, ...] | None:
    """The width in cells of each line of a text, None for anything else: two texts of one shape
    take the same room."""
    if not isinstance(visual, Content):
        return None
    return tuple(cell_len(line) for line in visual.plain.split("\n"))
