"""Command-line entry: argument parsing and dispatch to subcommands; no logic of its own.

Each subcommand registers itself with ``register(subparsers)`` and sets ``handler``; adding one
is a new ``register`` call in ``build_parser``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from levtop import __version__
from levtop.errors import UserError

if TYPE_CHECKING:
    from levtop.config import Config


def _print_warnings(warnings: Sequence[str]) -> None:
    for warning in warnings:
        print(f"levtop: warning: {warning}", file=sys.stderr)


def _load_config_and_warn() -> Config:
    """The settings in force, for a command that prints: the config's warnings (a secret in a
    file others can read) go to stderr. The app shows them as notifications instead."""
    from levtop.config import load_config

    config = load_config()
    _print_warnings(config.warnings)
    return config


def _config_handler(args: argparse.Namespace) -> int:
    from levtop.config import config_path, dump_toml

    if args.action == "path":
        print(config_path())
        return 0
    config = _load_config_and_warn()
    if args.action == "show":
        origin = f"# {config.path}" if config.exists else f"# {config.path} (missing: defaults)"
        print(origin)
        print(dump_toml(config.to_toml_dict()), end="")
        return 0
    state = "ok" if config.exists else "ok (no file: defaults in force)"
    print(f"{config.path}: {state}")
    return 0


def _register_config(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="where the config file is, what is in force, whether it is valid",
        description="Inspect the config file (TOML). LEVTOP_CONFIG overrides its location.",
    )
    p.add_argument("action", choices=("path", "show", "check"),
                   help="path: print its location; show: print the settings in force; check: validate it")
    p.set_defaults(handler=_config_handler)


def _backtest_handler(args: argparse.Namespace) -> int:
    from levtop.backtest import render_summary, render_table, run_backtest, to_json
    from levtop.dataset import read_dataset
    from levtop.timeparse import parse_duration, parse_time

    step = parse_duration(args.step, "--step")
    start = parse_time(args.from_, "--from") if args.from_ else None
    end = parse_time(args.to, "--to", end_of_day=True) if args.to else None
    if start is not None and end is not None and end < start:
        raise UserError(f"--to {args.to} is before --from {args.from_}")
    config = _load_config_and_warn()
    dataset = read_dataset(Path(args.dataset))
    _print_warnings(dataset.warnings)
    if dataset.frame.height == 0:
        raise UserError(f"{args.dataset}: the dataset has no usable rows")
    result = run_backtest(dataset.frame, args.asset.upper(), step, start, end, config.thresholds)
    if args.json:
        print(to_json(result))
    else:
        print(render_table(result))
        print()
        print(render_summary(result))
    return 0


def _register_backtest(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest",
        help="evaluate signals and phase over a recorded dataset",
        description=(
            "Evaluate every signal and the phase at each step boundary (UTC-aligned multiples of "
            "--step) of a dataset, with as-of semantics. DATASET is a directory of .csv or "
            ".parquet files with the columns ts, venue, asset, metric, value."
        ),
    )
    p.add_argument("dataset", metavar="DATASET", help="dataset directory (or one .csv/.parquet file)")
    p.add_argument("--asset", default="BTC", help="asset to evaluate (default BTC)")
    p.add_argument("--step", default="1d", help="step between evaluations, like 1d, 4h, 15m (default 1d)")
    p.add_argument("--from", dest="from_", metavar="DATE", help="first UTC date or time to evaluate")
    p.add_argument("--to", metavar="DATE", help="last UTC date (inclusive) or time to evaluate")
    p.add_argument("--json", action="store_true", help="print a JSON array, one object per step")
    p.set_defaults(handler=_backtest_handler)


def parse_assets(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    from levtop.model import is_valid_asset

    if not text:
        return default
    assets: list[str] = []
    for raw in text.split(","):
        asset = raw.strip().upper()
        if not asset:
            continue
        if asset == "*" or not is_valid_asset(asset):
            raise UserError(f"bad --assets entry '{raw.strip()}': expected symbols like BTC,ETH,SOL")
        if asset not in assets:
            assets.append(asset)
    if not assets:
        raise UserError("--assets is empty: expected symbols like BTC,ETH,SOL")
    return tuple(assets)


def _snapshot_handler(args: argparse.Namespace) -> int:
    import asyncio

    from levtop.snapshot import render_text, take_snapshot, to_json_text, unreachable_lines
    from levtop.store import HistoryStore

    config = _load_config_and_warn()
    assets = parse_assets(args.assets, config.assets)
    if args.timeout <= 0:
        raise UserError(f"--timeout must be positive, got {args.timeout:g}")
    # Read what a running levtop has stored (for longer windows); a snapshot never writes.
    store, warnings = HistoryStore.load(config.data_dir, int(config.store.retention_days * 86_400_000))
    store.directory = None
    _print_warnings(warnings)
    result = asyncio.run(take_snapshot(config, store, assets, args.sim, args.timeout))
    if not result.reached_any:
        for line in unreachable_lines(result):
            print(f"levtop: cannot reach {line}", file=sys.stderr)
        return 3
    print(to_json_text(result) if args.json else render_text(result))
    return 0


def _register_snapshot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "snapshot",
        help="connect, backfill, and print every metric, signal, phase and source health once",
        description=(
            "Connect to every source, backfill what the signals need, and print per asset the latest "
            "value of every metric per venue, every signal with its state, value and reason, the "
            "phase, and each source's health. Exit 0 when any data was obtained, 3 when no source "
            "could be reached."
        ),
    )
    p.add_argument("--assets", help="comma-separated assets (default: the config's watchlist)")
    p.add_argument("--sim", metavar="URL", help="take every source from a running `levtop sim` at URL")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the sources (default 30)")
    p.set_defaults(handler=_snapshot_handler)


def _run_app(args: argparse.Namespace) -> int:
    from levtop.config import load_config

    config = load_config()
    if args.demo and args.sim:
        raise UserError("--demo and --sim exclude each other: --demo starts its own simulator")
    if args.speed <= 0:
        raise UserError(f"--speed must be positive, got {args.speed:g}")
    if args.sim:
        from levtop.pipeline import sim_endpoints

        sim_endpoints(args.sim)  # validates the URL with a one-line error
    from levtop.app import LevtopApp, RunMode

    if args.demo:
        mode = RunMode("demo", scenario=args.scenario, speed=args.speed, seed=args.seed)
    elif args.sim:
        mode = RunMode("sim", sim_url=args.sim)
    else:
        mode = RunMode("live")
    LevtopApp(config, mode).run()
    return 0


def _themes_handler(args: argparse.Namespace) -> int:
    from textual.theme import BUILTIN_THEMES

    from levtop.theming import builtin_themes, user_themes

    config = _load_config_and_warn()
    mine, warnings = user_themes(config.path.parent)
    current = config.theme
    for theme in builtin_themes():
        print(f"{'*' if theme.name == current else ' '} {theme.name:<22} levtop, {'dark' if theme.dark else 'light'}")
    for theme in mine:
        print(f"{'*' if theme.name == current else ' '} {theme.name:<22} yours ({config.path.parent / 'themes'})")
    for name, theme in BUILTIN_THEMES.items():
        print(f"{'*' if name == current else ' '} {name:<22} Textual, {'dark' if theme.dark else 'light'}")
    _print_warnings(warnings)
    return 0


def _register_themes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("themes", help="list the themes (t cycles them in the app; * marks the configured one)",
                       description="List levtop's themes, your own from <config dir>/themes/*.toml, and Textual's.")
    p.set_defaults(handler=_themes_handler)


def _optional_registrations() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Subcommands that live in subpackages, registered when present."""
    found = []
    try:
        from levtop.sim.command import register as register_sim
    except ImportError:
        pass
    else:
        found.append(register_sim)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="levtop",
        description=(
            "levtop: a terminal monitor of crypto derivatives leverage. Open interest, funding, "
            "long/short, liquidations, sentiment and stablecoin flows, with a verdict on whether "
            "the market is rebuilding healthily after a leverage flush."
        ),
    )
    parser.add_argument("--version", action="version", version=f"levtop {__version__}")
    live = parser.add_argument_group("the monitor (levtop with no command)")
    live.add_argument("--demo", action="store_true",
                      help="run on a built-in simulator started in-process (no network needed)")
    live.add_argument("--sim", metavar="URL", help="take every source from a running `levtop sim` at URL")
    live.add_argument("--scenario", default="recovery", choices=("recovery", "trap", "calm", "overheat"),
                      help="the demo's market story (default recovery)")
    live.add_argument("--speed", type=float, default=1800.0,
                      help="the demo's sim seconds per real second (default 1800: a day in 48 s)")
    live.add_argument("--seed", type=int, default=1, help="the demo's random seed (default 1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register_config(sub)
    _register_backtest(sub)
    _register_snapshot(sub)
    _register_themes(sub)
    for register in _optional_registrations():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None) or _run_app
    from levtop.logfile import setup_logging

    setup_logging()
    try:
        return int(handler(args) or 0)
    except UserError as err:
        from levtop.redact import redact

        # An error may quote what the user typed, a proxy or --sim URL with a password, say.
        print(f"levtop: {redact(str(err))}", file=sys.stderr)
        _print_warnings(err.warnings)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `levtop backtest ... | head` closes stdout early; that is not an error.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
