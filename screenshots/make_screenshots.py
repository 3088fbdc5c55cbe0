"""Make the README's screenshots from the app itself: a seeded simulator market, no wall clock.

    .venv/bin/python screenshots/make_screenshots.py [--png]

Each shot runs levtop's real store, engine and widgets on the simulator's market (seed 1)
frozen at a moment of a scenario, so the SVGs are the same on every run. With --png, each SVG is
also converted with rsvg-convert (Debian package librsvg2-bin) for a quick look.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from ui_helpers import PHASE_AT, app_at, panels_drawn  # noqa: E402

HOUR = 3_600_000
SHOTS = [
    # name, scenario, offset from launch, theme, size
    ("restart-dark-160x50", "recovery", PHASE_AT["RESTART"], "levtop-dark", (160, 50)),
    ("trap-dark-160x50", "trap", 100 * HOUR, "levtop-dark", (160, 50)),
    ("cascade-light-160x50", "recovery", PHASE_AT["CASCADE"], "levtop-light", (160, 50)),
    ("restart-light-120x40", "recovery", PHASE_AT["RESTART"], "levtop-light", (120, 40)),
    ("purifying-dark-120x40", "recovery", PHASE_AT["PURIFYING"], "levtop-dark", (120, 40)),
    ("restart-dark-80x24", "recovery", PHASE_AT["RESTART"], "levtop-dark", (80, 24)),
    ("cascade-ansi-80x24", "recovery", PHASE_AT["CASCADE"], "levtop-ansi", (80, 24)),
]


async def shoot(name: str, scenario: str, offset: int, theme: str, size: tuple[int, int]) -> Path:
    app = app_at(scenario, offset, theme)
    async with app.run_test(size=size) as pilot:
        await panels_drawn(app, pilot)
        await pilot.pause(0.5)
        path = HERE / f"{name}.svg"
        svg = app.export_screenshot()
        # Without xml:space="preserve" some renderers (rsvg-convert) collapse the spaces
        # between styled spans.
        path.write_text(svg.replace("<svg ", '<svg xml:space="preserve" ', 1), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", action="store_true", help="also convert each SVG to PNG (needs rsvg-convert)")
    args = parser.parse_args()
    for name, scenario, offset, theme, size in SHOTS:
        path = asyncio.run(shoot(name, scenario, offset, theme, size))
        print(path)
        if args.png:
            if not shutil.which("rsvg-convert"):
                raise SystemExit("rsvg-convert not found: apt-get install librsvg2-bin")
            subprocess.run(["rsvg-convert", "-o", str(path.with_suffix(".png")), str(path)], check=True)


if __name__ == "__main__":
    main()
