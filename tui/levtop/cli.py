"""Command-line entry: argument parsing and dispatch to subcommands; no logic of its own.

Each subcommand registers itself with ``register(subparsers)`` and sets ``handler``; adding one
is a new ``register`` call in ``build_parser``.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from levtop import __version__
from levtop.errors import UserError

if TYPE_CHECKING:
    from levtop.app import LevtopApp
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


def _time_range(args: argparse.Namespace) -> tuple[int | None, int | None]:
    """--from and --to (UTC dates or times; --to a date means its whole day), in order."""
    from levtop.timeparse import parse_time

    start = parse_time(args.from_, "--from") if args.from_ else None
    end = parse_time(args.to, "--to", end_of_day=True) if args.to else None
    if start is not None and end is not None and end < start:
        raise UserError(f"--to {args.to} is before --from {args.from_}")
    return start, end


def _read_dataset_arg(args: argparse.Namespace):
    """The DATASET argument read and checked; its warnings on stderr."""
    from levtop.dataset import read_dataset

    dataset = read_dataset(Path(args.dataset))
    _print_warnings(dataset.warnings)
    if dataset.frame.height == 0:
        raise UserError(f"{args.dataset}: the dataset has no usable rows")
    return dataset


class _NoCycleCollection:
    """The garbage collector off for a while, and back as it was after it.

    A backtest's imports and a year's hourly verdicts build a few hundred thousand objects that
    live until it prints, hardly any in a cycle: the collector's ~280 passes over them took a
    tenth of a second and found nothing worth it."""

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._was_enabled:
            gc.enable()


def _backtest_handler(args: argparse.Namespace) -> int:
    with _NoCycleCollection():
        return _backtest(args)


def _backtest(args: argparse.Namespace) -> int:
    from levtop.backtest import render_forward, render_summary, render_table, run_backtest, to_json
    from levtop.timeparse import parse_duration

    if args.json and args.plot:
        raise UserError("--plot draws on the terminal and --json prints JSON: use one of them")
    step = parse_duration(args.step, "--step")
    start, end = _time_range(args)
    config = _load_config_and_warn()
    dataset = _read_dataset_arg(args)
    result = run_backtest(dataset.frame, args.asset.upper(), step, start, end, config.thresholds)
    if args.json:
        print(to_json(result))
    else:
        print(render_table(result))
        print()
        print(render_summary(result))
        print()
        print(render_forward(result))
        if args.plot:
            from levtop.backtest_plot import plot_for_terminal

            print()
            print(plot_for_terminal(result, sys.stdout))
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
    p.add_argument("--json", action="store_true",
                   help="print a JSON array, one object per step (RESTART and TRAP entries with their forward returns)")
    p.add_argument("--plot", action="store_true",
                   help="after the report, draw the price with the phase as bands, sized to the terminal "
                        "(colour on a terminal unless NO_COLOR is set; FORCE_COLOR forces it)")
    p.set_defaults(handler=_backtest_handler)


def _replay_handler(args: argparse.Namespace) -> int:
    import dataclasses

    from levtop.config import load_config
    from levtop.model import DAY
    from levtop.replay import DEFAULT_SPEED, prepare_replay

    start, end = _time_range(args)
    config = load_config()  # its warnings: notifications in the app, as for the monitor
    dataset = _read_dataset_arg(args)
    replay = prepare_replay(dataset.frame, args.dataset, asset=args.asset.upper() if args.asset else None,
                            from_ms=start, to_ms=end, preferred=config.assets,
                            retention_ms=int(config.store.retention_days * DAY),
                            speed=DEFAULT_SPEED if args.replay_speed is None else args.replay_speed)
    from levtop.app import LevtopApp, RunMode

    # The watchlist is the dataset's; the user's own is left as it is.
    config = dataclasses.replace(config, assets=replay.assets)
    LevtopApp(config, RunMode("replay", speed=replay.clock.speed), replay=replay).run()
    return 0


def _register_replay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="the monitor driven by a recorded or imported dataset, on a clock in data time",
        description=(
            "Play DATASET (a directory of .csv or .parquet files with the columns ts, venue, asset, metric, value, "
            "such as `record --out` writes) through the monitor: the clock starts 3 days after the first sample of "
            "an asset (or at --from; what comes before is loaded at once) and runs at --speed times real time. Keys: space "
            "pauses, + and - double and halve the speed, left and right seek a day. Nothing is fetched and nothing "
            "is written to the store."
        ),
    )
    p.add_argument("dataset", metavar="DATASET", help="dataset directory (or one .csv/.parquet file)")
    # No default here: levtop.replay (numpy, polars) is not imported to build the parser.
    p.add_argument("--speed", dest="replay_speed", type=float, metavar="N",
                   help="data seconds per real second, from 1 to 604800 (default 3600: an hour a second)")
    p.add_argument("--from", dest="from_", metavar="TIME", help="UTC date or time the clock starts at")
    p.add_argument("--to", metavar="TIME", help="last UTC date (inclusive) or time to play")
    p.add_argument("--asset", help="play one asset (default: every asset of the dataset)")
    p.set_defaults(handler=_replay_handler)


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


def _positive_seconds(text: str) -> float:
    """'90' or '90s', '15m', '2h', '1d' -> seconds (argparse type)."""
    from levtop.timeparse import parse_duration

    raw = text.strip()
    if raw.replace(".", "", 1).isdigit() and float(raw) > 0:
        return float(raw)
    try:
        return parse_duration(raw) / 1000.0
    except UserError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _days(text: str) -> float:
    """'30d', '12h' or a bare number of days -> days (argparse type)."""
    from levtop.timeparse import parse_duration

    raw = text.strip()
    try:
        if raw.replace(".", "", 1).isdigit():
            return float(raw)
        return parse_duration(raw) / 86_400_000
    except UserError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _data_dir(args: argparse.Namespace, config: Config) -> Path:
    return Path(args.data_dir).expanduser() if getattr(args, "data_dir", None) else config.data_dir


def _record_handler(args: argparse.Namespace) -> int:
    import asyncio

    from levtop.partitions import parse_target
    from levtop.record import Recorder, RecordOptions
    from levtop.timeparse import parse_time

    config = _load_config_and_warn()
    assets = parse_assets(args.assets, config.assets)
    if args.sim:
        from levtop.pipeline import sim_endpoints

        sim_endpoints(args.sim)  # a bad URL is a one-line error
    out = parse_target(args.out) if args.out else None
    if out is not None and not out.remote:
        try:
            Path(out.root).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create --out {out.root}: {exc.strerror or exc}") from None
    until = parse_time(args.until, "--until") if args.until else None
    data_dir = _data_dir(args, config) if (args.data_dir or not args.sim) else None
    if args.sim and data_dir is None:
        print("levtop record: --sim without --data-dir: the store stays in memory, so that simulated samples "
              "never mix with your history", file=sys.stderr)
    options = RecordOptions(assets=assets, sim_url=args.sim, out=out, data_dir=data_dir,
                            backfill_days=args.backfill, out_every_s=args.out_every,
                            progress_every_s=args.progress_every, duration_s=args.duration, until_ms=until)
    recorder = Recorder(config, options)
    _print_warnings(recorder.warnings)
    return asyncio.run(recorder.run())


def _register_record(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "record",
        help="collect without a UI: the store, and a hive-partitioned parquet dataset with --out",
        description=(
            "Run every source headless (for services and cron boxes): samples go to the local store, saved "
            "every [store] flush_interval_s, and with --out to a parquet dataset partitioned "
            "metric=.../date=YYYY-MM-DD/ (a directory or s3://bucket/prefix; S3 settings from AWS_ENDPOINT_URL, "
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION). Each write adds new part files named by "
            "host, pid and start time, so several recorders can share one bucket. Progress on stderr once a "
            "minute. SIGTERM or Ctrl-C: a last save and flush, exit 0."
        ),
    )
    p.add_argument("--assets", help="comma-separated assets (default: the config's watchlist)")
    p.add_argument("--sim", metavar="URL", help="take every source from a running `levtop sim` at URL")
    p.add_argument("--out", metavar="PATH", help="also write a parquet dataset here (a directory or s3://bucket/prefix)")
    p.add_argument("--out-every", type=_positive_seconds, default=900.0, metavar="DURATION",
                   help="how often new samples are written to --out, like 15m or 1h (default 15m)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="the store's directory (default: the config's; with --sim, none: kept in memory)")
    p.add_argument("--backfill", type=_days, default=30.0, metavar="DURATION",
                   help="history fetched at start where the store has none, like 30d (default 30d)")
    p.add_argument("--duration", type=_positive_seconds, metavar="DURATION",
                   help="stop after this long (real time), like 90s or 6h (default: run until stopped)")
    p.add_argument("--until", metavar="TIME",
                   help="stop once the data reaches this UTC date or time (the simulator's clock under --sim)")
    p.add_argument("--progress-every", type=_positive_seconds, default=60.0, help=argparse.SUPPRESS)
    p.set_defaults(handler=_record_handler)


def _export_handler(args: argparse.Namespace) -> int:
    from levtop.export import export_store
    from levtop.fmt import utc
    from levtop.model import DAY
    from levtop.store import HistoryStore
    from levtop.timeparse import parse_time

    start = parse_time(args.from_, "--from") if args.from_ else None
    end = parse_time(args.to, "--to", end_of_day=True) if args.to else None
    if start is not None and end is not None and end < start:
        raise UserError(f"--to {args.to} is before --from {args.from_}")
    config = _load_config_and_warn()
    assets = parse_assets(args.assets, ()) if args.assets else None
    data_dir = _data_dir(args, config)
    store, warnings = HistoryStore.load(data_dir, int(config.store.retention_days * DAY))
    _print_warnings(warnings)
    result = export_store(store, Path(args.directory), start, end, args.format, assets)
    print(f"exported {result.rows:,} samples ({utc(result.first_ts)} .. {utc(result.last_ts)} UTC, "
          f"{len(result.metrics)} metrics) from {data_dir} to {args.directory}: {len(result.files)} {args.format} files")
    return 0


def _register_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the local store (or a date range) as a dataset directory",
        description=(
            "Write the store's samples to DIR as a dataset (columns ts, venue, asset, metric, value), "
            "partitioned metric=.../date=YYYY-MM-DD/ like `record --out`; `levtop import` and `levtop backtest` "
            "read it. Exporting into an earlier export merges day by day."
        ),
    )
    p.add_argument("directory", metavar="DIR", help="the dataset directory to write (created if missing)")
    p.add_argument("--from", dest="from_", metavar="DATE", help="first UTC date (or ISO time) to export")
    p.add_argument("--to", metavar="DATE", help="last UTC date (inclusive) or ISO time to export")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="file format (default parquet)")
    p.add_argument("--assets", help="comma-separated assets (default: all; market-wide series always)")
    p.add_argument("--data-dir", metavar="DIR", help="the store's directory (default: the config's)")
    p.set_defaults(handler=_export_handler)


def _import_handler(args: argparse.Namespace) -> int:
    from levtop.export import import_dataset
    from levtop.fmt import utc
    from levtop.model import DAY
    from levtop.store import HistoryStore

    config = _load_config_and_warn()
    data_dir = _data_dir(args, config)
    store, warnings = HistoryStore.load(data_dir, int(config.store.retention_days * DAY))
    _print_warnings(warnings)
    result = import_dataset(Path(args.directory), store)
    _print_warnings(result.warnings)
    print(f"imported {result.rows:,} samples ({utc(result.first_ts)} .. {utc(result.last_ts)} UTC) from "
          f"{result.files} files into {data_dir}: {result.new:,} new, {result.replaced:,} replaced, "
          f"{result.unchanged:,} unchanged")
    if result.beyond_retention:
        _print_warnings([f"{result.beyond_retention:,} samples are older than the retention "
                         f"({config.store.retention_days:g} days before the newest sample) and were not kept"])
    return 0


def _register_import(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="merge a dataset directory into the local store",
        description=(
            "Validate the dataset in DIR (.csv or .parquet files with the columns ts, venue, asset, metric, "
            "value; one-line error naming file and line, exit 2), merge it into the store (the imported value "
            "wins where both have a sample) and save. Stop a running levtop first: it would overwrite the days "
            "it touches."
        ),
    )
    p.add_argument("directory", metavar="DIR", help="dataset directory (or one .csv/.parquet file)")
    p.add_argument("--data-dir", metavar="DIR", help="the store's directory (default: the config's)")
    p.set_defaults(handler=_import_handler)


def _watch_handler(args: argparse.Namespace) -> int:
    import asyncio

    from levtop.model import DAY
    from levtop.store import HistoryStore
    from levtop.watch import Watcher, WatchOptions

    config = _load_config_and_warn()
    assets = parse_assets(args.assets, config.assets)
    store = None
    if args.sim:
        from levtop.pipeline import sim_endpoints

        sim_endpoints(args.sim)
    else:
        # What a running levtop has stored lengthens the windows; watch never writes.
        store, warnings = HistoryStore.load(config.data_dir, int(config.store.retention_days * DAY))
        store.directory = None
        _print_warnings(warnings)
    if args.alerts and not config.alerts.external:
        print("levtop watch: --alerts: no desktop, webhook or command alert is configured ([alerts] in "
              f"{config.path}); alert lines only", file=sys.stderr)
    options = WatchOptions(assets=assets, sim_url=args.sim, backfill_days=args.backfill, wait_s=args.wait,
                           status_every_s=args.status_every, duration_s=args.duration, alerts=args.alerts)
    return asyncio.run(Watcher(config, options, store).run())


def _register_watch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch",
        help="print phase and signal changes as NDJSON on stdout, for scripts and jq",
        description=(
            "Run every source headless and print one JSON object per line: the initial phase of each asset, "
            "then a line per signal state change (type signal) and per phase change (type phase), and a status "
            "line (type status: sources and phases) every minute. Ends on SIGTERM, Ctrl-C or a closed pipe."
        ),
    )
    p.add_argument("--assets", help="comma-separated assets (default: the config's watchlist)")
    p.add_argument("--sim", metavar="URL", help="take every source from a running `levtop sim` at URL")
    p.add_argument("--backfill", type=_days, default=30.0, metavar="DURATION",
                   help="history fetched at start, like 30d (default 30d, what the monitor uses)")
    p.add_argument("--wait", type=_positive_seconds, default=600.0, metavar="DURATION",
                   help="longest wait for every source's first answer before the initial state (default 600s)")
    p.add_argument("--duration", type=_positive_seconds, metavar="DURATION",
                   help="stop after this long (default: run until stopped)")
    p.add_argument("--alerts", action="store_true",
                   help="also deliver the [alerts] of the config (desktop, webhooks, command) and print a line "
                        "(type alert) per change that held [alerts] min_duration")
    p.add_argument("--status-every", type=_positive_seconds, default=60.0, help=argparse.SUPPRESS)
    p.set_defaults(handler=_watch_handler)


def _alerts_handler(args: argparse.Namespace) -> int:
    import asyncio

    from levtop.alert_sinks import fire_test_alert

    config = _load_config_and_warn()
    terminal = sys.stdout.isatty()
    return asyncio.run(fire_test_alert(config.alerts, config.assets[0], sys.stdout, terminal=terminal))


def _register_alerts(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "alerts",
        help="alerts on phase and signal changes: `levtop alerts test` fires one of each configured kind",
        description=(
            "Alerts are configured in the config file's [alerts] table: which changes (phases, signals), how long a "
            "change must hold before it counts (min_duration), and where they go (bell, notification, desktop, "
            "webhooks, command). `test` sends one synthetic alert through every configured kind and prints a line "
            "per kind; exit 1 when a delivery failed."
        ),
    )
    p.add_argument("action", choices=("test",), help="test: fire one synthetic alert through every configured kind")
    p.set_defaults(handler=_alerts_handler)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got '{text}'") from None
    if not 0 <= port < 65536:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {port}")
    return port


def _serve_handler(args: argparse.Namespace) -> int:
    from levtop.serve import ServeOptions, serve

    _load_config_and_warn()  # a bad config is one line here, not a broken page per tab
    if args.serve_demo and args.serve_sim:
        raise UserError("--demo and --sim exclude each other: --demo starts its own simulator")
    if args.serve_speed <= 0:
        raise UserError(f"--speed must be positive, got {args.serve_speed:g}")
    app_args: list[str] = []
    if args.serve_sim:
        from levtop.pipeline import sim_endpoints

        sim_endpoints(args.serve_sim)
        app_args = ["--sim", args.serve_sim]
    elif args.serve_demo:
        app_args = ["--demo", "--scenario", args.serve_scenario, "--speed", f"{args.serve_speed:g}",
                    "--seed", str(args.serve_seed)]
    if args.public_url:
        from urllib.parse import urlsplit

        parts = urlsplit(args.public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError(f"bad --public-url '{args.public_url}': expected http(s)://host[:port]")
    return serve(ServeOptions(host=args.host, port=args.port, app_args=tuple(app_args), public_url=args.public_url))


def _register_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="the monitor in a web browser (textual-serve), on loopback by default",
        description=(
            "Serve the monitor over HTTP with textual-serve: open the printed URL in a browser. Each browser tab runs "
            "its own levtop process (its own sources; with --demo its own simulator), stopped when the tab closes. "
            "There is no login: it listens on 127.0.0.1 unless --host says otherwise, with a warning. Ctrl-C or "
            "SIGTERM stops it and every tab."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    p.add_argument("--public-url", metavar="URL",
                   help="the URL browsers use, when a reverse proxy stands in front (default: the host they asked for)")
    p.add_argument("--demo", dest="serve_demo", action="store_true",
                   help="each tab runs on a built-in simulator (no network needed)")
    p.add_argument("--sim", dest="serve_sim", metavar="URL", help="each tab takes every source from a running `levtop sim`")
    p.add_argument("--scenario", dest="serve_scenario", default="recovery",
                   choices=("recovery", "trap", "calm", "overheat"), help="the demo's market story (default recovery)")
    p.add_argument("--speed", dest="serve_speed", type=float, default=1800.0,
                   metavar="SPEED", help="the demo's sim seconds per real second (default 1800)")
    p.add_argument("--seed", dest="serve_seed", type=int, default=1, metavar="SEED", help="the demo's random seed (default 1)")
    p.set_defaults(handler=_serve_handler)


def _run_app(args: argparse.Namespace) -> int:
    run_monitor(lambda: _build_app(args))
    return 0


def run_monitor(build: Callable[[], LevtopApp]) -> LevtopApp:
    """Build the app and run it, the garbage collector kept off what lives as long as the process;
    the app, once it has exited."""
    # The imports up to the first frame (Textual's and ours: modules, classes, stylesheets) build
    # objects that live as long as the process, and the garbage collector's passes over them cost
    # the first frame a tenth of its time (one full pass alone, ~30 ms). So no collection until
    # the app is built; then they are frozen out of every later pass (gc.freeze), and collection
    # resumes for what the app makes from then on. The price: the few cycles dropped by then
    # (~0.2 MB, argparse's helpers mostly) are never freed.
    with _NoCycleCollection():
        app = build()
        gc.freeze()
    app.freeze_long_lived = True  # again once the sources are up (levtop.long_lived)
    app.run()
    return app


def _build_app(args: argparse.Namespace):
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
    return LevtopApp(config, mode)


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


MONITOR_FLAGS = frozenset({"--demo"})
MONITOR_OPTIONS = frozenset({"--sim", "--scenario", "--speed", "--seed"})
"""The monitor's own options that take a value (build_parser's ``live`` group)."""


def names_a_command(argv: Sequence[str]) -> bool:
    """Whether ``argv`` may need the subcommands' parsers: anything but the monitor's own options
    spelled out in full (a command, -h, an abbreviation, a stray word). Building the dozen
    subparsers costs the monitor's first frame ~10 ms, and their help and choices are only read
    then."""
    tokens = iter(argv)
    for token in tokens:
        name, equals, _ = token.partition("=")
        if token in MONITOR_FLAGS or (equals and name in MONITOR_OPTIONS):
            continue
        if token in MONITOR_OPTIONS:
            next(tokens, None)  # its value, whatever it looks like: argparse reads it so too
            continue
        return True
    return False


def build_parser(commands: bool = True) -> argparse.ArgumentParser:
    """The whole parser; without ``commands``, the monitor's alone (for an ``argv`` that names
    no command: it parses such an argv alike, errors and usage included)."""
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
    if not commands:
        return parser
    _register_config(sub)
    _register_backtest(sub)
    _register_replay(sub)
    _register_snapshot(sub)
    _register_themes(sub)
    _register_record(sub)
    _register_watch(sub)
    _register_export(sub)
    _register_import(sub)
    _register_alerts(sub)
    _register_serve(sub)
    for register in _optional_registrations():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(commands=names_a_command(argv))
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


def entry() -> None:
    """The ``levtop`` command: ``main``, then exit with its code."""
    code = main()
    # The interpreter's exit runs one last full collection over every object still alive: after
    # a backtest, a tenth of a second that finds nothing the process's end does not free anyway.
    gc.freeze()
    raise SystemExit(code)


if __name__ == "__main__":
    entry()
