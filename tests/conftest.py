"""Shared fixtures. Every test runs with its own config path and data dir, never the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"
FTX_EPISODE = SHARED / "episodes" / "2022-11-ftx"


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("levtop-home")
    monkeypatch.setenv("LEVTOP_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("LEVTOP_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("LEVTOP_LOG", str(home / "levtop.log"))
    return home


@pytest.fixture
def ftx_episode() -> Path:
    if not (FTX_EPISODE / "data.csv").is_file():
        pytest.skip(f"real FTX episode not found at {FTX_EPISODE} (../shared is absent)")
    return FTX_EPISODE
