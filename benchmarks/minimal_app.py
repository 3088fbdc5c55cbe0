"""The baseline of the first-frame benchmark: the smallest Textual app, one Static.

It shows MINIMAL READY and exits after a few seconds (the benchmark stops it as soon as the text
is on screen; the timeout only keeps a forgotten one from lingering).
"""

from textual.app import App, ComposeResult
from textual.widgets import Static

READY = "MINIMAL READY"
LINGER_S = 10.0


class MinimalApp(App):
    def compose(self) -> ComposeResult:
        yield Static(READY)

    def on_mount(self) -> None:
        self.set_timer(LINGER_S, self.exit)


if __name__ == "__main__":
    MinimalApp().run()
