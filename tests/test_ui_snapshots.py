"""Snapshots of the key screens (pytest-textual-snapshot). A deterministic store: the simulator's
market (seed 1) frozen at a moment of a scenario; no wall clock anywhere on screen.

Update after an intended UI change with: pytest tests/test_ui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import dataclasses

import pytest

from levtop.app import LevtopApp, RunMode
from levtop.config import Config, load_config
from ui_helpers import ASSETS, PHASE_AT, market_store, panels_drawn

HOUR = 3_600_000


def app_at(offset_ms: int, scenario: str = "recovery", theme: str = "levtop-dark") -> LevtopApp:
    config = dataclasses.replace(Config(path=load_config().path), assets=ASSETS, theme=theme)
    return LevtopApp(config, RunMode("demo"), store=market_store(scenario, offset_ms), watch_data=False,
                     persist_settings=False)


async def view_ready(pilot) -> None:
    """The first view applied and every panel laid out and drawn at its final size."""
    await panels_drawn(pilot.app, pilot)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.5)
    await pilot.pause(0.5)


@pytest.mark.parametrize(
    "name, offset, scenario, theme, size",
    [
        ("restart", PHASE_AT["RESTART"], "recovery", "levtop-dark", (120, 40)),
        ("cascade_light", PHASE_AT["CASCADE"], "recovery", "levtop-light", (120, 40)),
        ("trap_wide", 100 * HOUR, "trap", "levtop-dark", (200, 60)),
        ("purifying_compact", PHASE_AT["PURIFYING"], "recovery", "levtop-dark", (80, 24)),
        ("overheated_ansi", PHASE_AT["OVERHEATED"], "recovery", "levtop-ansi", (120, 40)),
    ],
)
def test_dashboard(snap_compare, name, offset, scenario, theme, size):
    assert snap_compare(app_at(offset, scenario, theme), terminal_size=size, run_before=view_ready)


def test_explain_screen(snap_compare):
    async def explain(pilot) -> None:
        await view_ready(pilot)
        await pilot.press("e")
        await pilot.pause(0.2)

    assert snap_compare(app_at(PHASE_AT["PURIFYING"]), terminal_size=(120, 40), run_before=explain)


def test_help_screen(snap_compare):
    async def help_screen(pilot) -> None:
        await view_ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(app_at(PHASE_AT["RESTART"]), terminal_size=(120, 40), run_before=help_screen)


def test_too_small(snap_compare):
    assert snap_compare(app_at(PHASE_AT["RESTART"]), terminal_size=(40, 12), run_before=view_ready)
