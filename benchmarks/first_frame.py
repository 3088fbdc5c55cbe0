"""First frame: process start to the first complete screen of `levtop --demo`, in a real pty.

Each run starts the command in a fresh tmux session (120x40) of a private tmux server and polls
the pane's text until the complete screen is there: for levtop every panel's title, the
watchlist, the status bar's DEMO badge and the footer's keys; for the baseline, a minimal Textual
app showing one Static (benchmarks/minimal_app.py), its text. Runs of the two alternate, so load
on the machine hits both alike. The figure is the ratio of the medians; the CPU time each process
had used by then is reported too (a diagnostic: it moves less with the machine's load).

Bytecode caches are on (a user's second start), whatever PYTHONDONTWRITEBYTECODE says; the
unmeasured first run of each writes them and warms the page cache.

    .venv/bin/python benchmarks/first_frame.py [--runs 9] [--width 120] [--height 40]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path

from tmux_pane import TmuxServer, levtop_command, python

BUDGET_RATIO = 1.5
POLL_S = 0.005
TIMEOUT_S = 30.0
EXIT_GRACE_S = 5.0

LEVTOP_MARKERS = ("Watchlist", "Open Interest", "Funding", "Long/Short", "Liquidations", "Sentiment", "Flows",
                  "DEMO", "Help")
"""On screen together only once the whole first frame is: panels, status bar, footer."""
MINIMAL_MARKERS = ("MINIMAL READY",)


def time_to_screen(server: TmuxServer, name: str, command: list[str], markers: tuple[str, ...],
                   width: int, height: int) -> tuple[float, float]:
    """Seconds from starting ``command`` until every marker is on the pane at once, and the CPU
    seconds the process had used by then (less sensitive to the machine's load)."""
    start = time.perf_counter()
    server.start(name, command, width, height)
    pid = server.pid(name)
    try:
        while True:
            elapsed = time.perf_counter() - start
            screen = server.screen(name)
            if all(marker in screen for marker in markers):
                return elapsed, cpu_seconds(pid)
            if elapsed > TIMEOUT_S or server.dead(name):
                raise RuntimeError(f"{name}: no complete screen after {elapsed:.1f} s:\n{screen}")
            time.sleep(POLL_S)
    finally:
        stop(server, name, pid)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(server: TmuxServer, name: str, pid: int) -> None:
    """End the run and wait until its process is gone, so that it cannot slow the next one."""
    server.stop(name)  # the pane's process gets SIGHUP
    deadline = time.monotonic() + EXIT_GRACE_S
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="measured runs of each (default 9)")
    parser.add_argument("--width", type=int, default=120)
    parser.add_argument("--height", type=int, default=40)
    args = parser.parse_args()

    here = Path(__file__).resolve().parent
    commands = {
        "minimal": ([python(), str(here / "minimal_app.py")], MINIMAL_MARKERS),
        "levtop": (levtop_command("--demo"), LEVTOP_MARKERS),
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    with TmuxServer() as server:
        # One unmeasured run each first: the page cache then holds every module for both.
        for run in range(args.runs + 1):
            for name, (command, markers) in commands.items():
                seconds, cpu_s = time_to_screen(server, f"{name}-{run}", command, markers, args.width, args.height)
                if run:
                    times[name].append(seconds)
                    cpu[name].append(cpu_s)
                print(f"{name} run {run}: {seconds * 1000:.0f} ms, {cpu_s * 1000:.0f} ms CPU"
                      f"{'' if run else ' (warm-up)'}", file=sys.stderr)

    medians = {name: statistics.median(values) for name, values in times.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    ratio = medians["levtop"] / medians["minimal"]
    print(json.dumps({
        "name": "first_frame",
        "budget": f"<= {BUDGET_RATIO}x the minimal Textual app's time",
        "value": round(ratio, 2),
        "unit": "x minimal app",
        "passed": ratio <= BUDGET_RATIO,
        "levtop_median_ms": round(medians["levtop"] * 1000),
        "minimal_median_ms": round(medians["minimal"] * 1000),
        "levtop_runs_ms": [round(t * 1000) for t in times["levtop"]],
        "minimal_runs_ms": [round(t * 1000) for t in times["minimal"]],
        "cpu_ratio": round(cpu_medians["levtop"] / cpu_medians["minimal"], 2),
        "levtop_cpu_median_ms": round(cpu_medians["levtop"] * 1000),
        "minimal_cpu_median_ms": round(cpu_medians["minimal"] * 1000),
        "terminal": f"{args.width}x{args.height}",
        "command": "levtop --demo",
        "load_average_1m": round(os.getloadavg()[0], 2),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
