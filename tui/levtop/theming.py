"""Themes as data: TOML files shipped in the package (``levtop/themes``) and the user's own in
``<config dir>/themes``. Each defines Textual's base colours plus levtop's semantic variables
``long``, ``short``, ``good``, ``warn`` and ``bad``."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from textual.theme import Theme

SEMANTIC_DEFAULTS = {
    "long": "#4CC38A",
    "short": "#F2545B",
    "good": "#4CC38A",
    "warn": "#E3B341",
    "bad": "#F2545B",
}
THEME_FIELDS = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel", "boost",
                "success", "warning", "error", "dark", "ansi")
DEFAULT_THEME = "levtop-dark"


class ThemeFileError(ValueError):
    pass


def theme_from_toml(text: str, origin: str) -> Theme:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"{origin}: invalid TOML: {exc}") from None
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError(f"{origin}: 'name' must be a non-empty string")
    unknown = sorted(set(data) - set(THEME_FIELDS) - {"name", "variables"})
    if unknown:
        raise ThemeFileError(f"{origin}: unknown keys {', '.join(unknown)}")
    if "primary" not in data:
        raise ThemeFileError(f"{origin}: 'primary' is required")
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ThemeFileError(f"{origin}: [variables] must map names to colour strings")
    fields = {k: data[k] for k in THEME_FIELDS if k in data}
    try:
        return Theme(name=name.strip(), variables={**SEMANTIC_DEFAULTS, **variables}, **fields)
    except Exception as exc:  # noqa: BLE001 - Textual's own validation, reported as one line
        raise ThemeFileError(f"{origin}: {exc}") from None


BUILTIN_THEMES_DIR = Path(__file__).parent / "themes"
"""Shipped inside the package (a plain directory: importlib.resources costs the first frame an import)."""


@cache
def builtin_themes() -> tuple[Theme, ...]:
    """levtop's own themes, read once."""
    return tuple(theme_from_toml(path.read_text(encoding="utf-8"), path.name)
                 for path in sorted(BUILTIN_THEMES_DIR.glob("*.toml")))


def user_themes(config_dir: Path) -> tuple[list[Theme], list[str]]:
    """Themes from ``config_dir/themes/*.toml``, and one warning per file that does not load."""
    themes, warnings = [], []
    folder = config_dir / "themes"
    if not folder.is_dir():
        return themes, warnings
    for path in sorted(folder.glob("*.toml")):
        try:
            themes.append(theme_from_toml(path.read_text(encoding="utf-8"), str(path)))
        except (OSError, ThemeFileError) as exc:
            warnings.append(str(exc))
    return themes, warnings
