"""The monitor's argv is parsed by a parser without the subcommands (they cost the first frame):
it must read every such argv as the whole parser does, errors and usage included."""

from __future__ import annotations

import contextlib
import io

import pytest

from levtop.cli import build_parser, names_a_command

MONITOR_ARGVS = [
    [], ["--demo"], ["--demo", "--speed", "600"], ["--speed=-1"], ["--speed", "-1"], ["--seed", "--demo"],
    ["--speed"], ["--scenario", "bad"], ["--scenario=trap", "--demo"], ["--sim", "config"], ["--speed", "abc"],
    ["--demo", "--sim", "http://127.0.0.1:8787"], ["--sim"], ["--seed", "1.5"],
]


def _parse(argv: list[str], commands: bool) -> tuple[object, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result: object = vars(build_parser(commands).parse_args(argv))
        except SystemExit as exc:
            result = ("exit", exc.code)
    return result, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv", MONITOR_ARGVS, ids=" ".join)
def test_monitor_argv_parses_alike_without_the_subcommands(argv: list[str]) -> None:
    assert not names_a_command(argv)
    assert _parse(argv, commands=False) == _parse(argv, commands=True)


@pytest.mark.parametrize("argv", [["-h"], ["--help"], ["--version"], ["config", "path"], ["--sc", "trap"],
                                  ["--demo", "backtest"], ["foo"], ["--", "--demo"], ["--demo=1"]])
def test_anything_else_gets_the_whole_parser(argv: list[str]) -> None:
    assert names_a_command(argv)


def test_help_lists_the_subcommands() -> None:
    result, out, _ = _parse(["--help"], commands=names_a_command(["--help"]))
    assert result == ("exit", 0)
    assert "backtest" in out and "replay" in out


def test_a_refused_monitor_start_leaves_the_garbage_collector_on(tmp_path, monkeypatch) -> None:
    import gc

    from levtop.cli import main

    monkeypatch.setenv("LEVTOP_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("LEVTOP_LOG", str(tmp_path / "levtop.log"))
    assert main(["--demo", "--speed", "0"]) == 2
    assert gc.isenabled()
