"""``levtop sim``: run the market simulator and its exchange emulators until Ctrl-C."""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import signal
import sys

from levtop.sim import DEFAULT_HOST, DEFAULT_PORT

SCENARIOS = ("recovery", "trap", "calm", "overheat")


def parse_start(text: str) -> int:
    """Epoch milliseconds, or an ISO 8601 time (``2024-03-01T00:00Z``; UTC when no offset)."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--start: {text!r} is neither epoch milliseconds nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return int(moment.timestamp() * 1000)


def parse_assets(text: str) -> tuple[str, ...]:
    assets = tuple(dict.fromkeys(a.strip().upper() for a in text.split(",") if a.strip()))
    if not assets:
        raise argparse.ArgumentTypeError("--assets: give at least one asset, e.g. BTC,ETH,SOL")
    return assets


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sim",
        help="run the market simulator and exchange emulators",
        description="Serve a simulated market on the venues' real paths (Binance, Bybit, OKX, "
        "alternative.me, DefiLlama) on one port, with fault injection. Runs until Ctrl-C.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default %(default)s, loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s; 0 picks a free one)")
    parser.add_argument("--scenario", choices=SCENARIOS, default="recovery", help="market story (default %(default)s)")
    parser.add_argument("--speed", type=positive_float, default=600.0, help="sim seconds per real second (default %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="random seed; same seed, same market (default %(default)s)")
    parser.add_argument("--assets", type=parse_assets, default=("BTC", "ETH", "SOL"), help="comma-separated (default BTC,ETH,SOL)")
    parser.add_argument("--start", type=parse_start, default=None, help="sim time at launch: epoch ms or ISO 8601 (default now)")
    parser.add_argument("--faults", metavar="FILE", default=None, help="TOML file of [[fault]] rules applied from the start")
    parser.set_defaults(handler=run)
    return parser


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _serve(args: argparse.Namespace, faults: list) -> int:
    # Imported here, not at the top, as the faults are in run(): every levtop command builds this
    # parser, and the server's imports (aiohttp, polars) would cost each of them half a second.
    from levtop.sim.server import Simulator

    simulator = Simulator(
        scenario=args.scenario,
        seed=args.seed,
        speed=args.speed,
        assets=args.assets,
        start_ms=args.start,
        host=args.host,
        port=args.port,
        faults=faults,
    )
    try:
        await simulator.start()
    except OSError as exc:
        print(f"levtop sim: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    import asyncio

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass  # not on this platform: KeyboardInterrupt still ends asyncio.run
    assert simulator.clock is not None
    start = dt.datetime.fromtimestamp(simulator.clock.start_ms / 1000, dt.timezone.utc)
    print(simulator.base_url, flush=True)
    print(
        f"levtop sim: scenario {args.scenario}, seed {args.seed}, speed {args.speed:g}x, assets {','.join(args.assets)}, "
        f"sim time {start:%Y-%m-%d %H:%M}Z; websockets at {simulator.ws_url}; "
        f"{len(faults)} fault rule(s); control at {simulator.base_url}/_sim/ (Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await simulator.stop()
        print("levtop sim: stopped", file=sys.stderr, flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    from levtop.sim.faults import FaultConfigError, load_faults_toml

    faults = []
    if args.faults:
        try:
            faults = load_faults_toml(args.faults)
        except FaultConfigError as exc:
            print(f"levtop sim: {exc}", file=sys.stderr)
            return 2
    if not _is_loopback(args.host):
        print(
            f"levtop sim: WARNING: listening on {args.host}, not loopback: anyone who can reach this "
            "host can use the simulator and change its faults",
            file=sys.stderr,
        )
    import asyncio  # here: every other command's start-up (the CLI registers this one) skips it

    try:
        return asyncio.run(_serve(args, faults))
    except KeyboardInterrupt:
        return 0
