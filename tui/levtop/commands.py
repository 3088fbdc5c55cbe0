"""The command palette (ctrl+p): jump to an asset, add or remove one, switch theme."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from levtop.model import is_valid_asset

if TYPE_CHECKING:
    from levtop.app import LevtopApp


class LevtopCommands(Provider):
    @property
    def levtop(self) -> "LevtopApp":
        return self.app  # type: ignore[return-value]

    def _commands(self, query: str) -> list[tuple[str, object, str]]:
        app = self.levtop
        commands = [(f"Jump to {a}", lambda a=a: app.select_asset(a), f"show {a} in every panel")
                    for a in app.watchlist_assets]
        commands += [(f"Remove {a} from the watchlist", lambda a=a: app.remove_asset(a), "saved to the config file")
                     for a in app.watchlist_assets if len(app.watchlist_assets) > 1]
        commands += [(f"Theme: {name}", lambda n=name: app.set_theme(n), "saved to the config file")
                     for name in app.theme_names()]
        typed = query.strip().upper()
        if typed and typed not in app.watchlist_assets:
            commands.append((f"Add {typed} to the watchlist", lambda t=typed: app.add_asset(t),
                             "checked against the venues, saved to the config file"))
        return commands

    async def discover(self) -> Hits:
        for text, callback, help_text in self._commands(""):
            yield DiscoveryHit(text, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._commands(query):
            score = matcher.match(text)
            if text.startswith("Add ") and is_valid_asset(query.strip().upper()):
                score = max(score, 0.5)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)
