"""CPU of the running monitor: `levtop --demo --speed S` in a real pty (tmux, 120x40, every panel
on screen), the process's CPU time from /proc/<pid>/stat over a window after a warm-up.

Two rows share this code: idle (speed 1, the market at real time: benchmarks/idle_cpu.py) and
busy (speed 600: benchmarks/busy_cpu.py). The runs of a row go in parallel, each in its own pane
and process: on 2 cores three monitors that should each use a few percent do not crowd each
other, and the row takes one window instead of three.

    .venv/bin/python benchmarks/cpu.py --row idle|busy [--runs 3] [--warmup 30] [--duration 60]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time

from tmux_pane import TmuxServer, levtop_command

ROWS = {
    "idle": {"speed": 1.0, "budget": 0.03},
    "busy": {"speed": 600.0, "budget": 0.15},
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PANEL_TITLES = ("Watchlist", "Open Interest", "Funding", "Long/Short", "Liquidations", "Sentiment", "Flows")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process, all its threads included."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name (field 2) may hold spaces; the fields after its closing parenthesis don't.
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


def runqueue_wait_seconds(pid: int) -> float:
    """Time the process's threads spent runnable but waiting for a CPU (/proc schedstat). When it
    is large next to the CPU time, the host was saturated: the process got what was left, not what
    it wanted, and its CPU figure says little about its cost."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def end_processes(pids: list[int], grace_s: float = 5.0) -> None:
    """Kill what the panes ran once their server is gone: a monitor whose terminal vanished may
    hang in its shutdown and would load the next measurement (or someone else's)."""
    deadline = time.monotonic() + grace_s
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie is done
    except OSError:
        return False


def missing_on_screen(screen: str) -> list[str]:
    """What a full, live screen shows and this one does not: the panels and a data time."""
    return [marker for marker in (*PANEL_TITLES, "data ") if marker not in screen]


def measure(row: str, runs: int, warmup: float, duration: float, width: int = 120, height: int = 40) -> dict:
    speed, budget = ROWS[row]["speed"], ROWS[row]["budget"]
    command = levtop_command("--demo", "--speed", f"{speed:g}")
    pids: dict[str, int] = {}
    load_before = os.getloadavg()[0]
    try:
        with TmuxServer() as server:
            names = [f"{row}-{run}" for run in range(runs)]
            for name in names:
                server.start(name, command, width, height)
            pids = {name: server.pid(name) for name in names}
            print(f"{row}: {runs} x levtop --demo --speed {speed:g}, warm-up {warmup:g} s", file=sys.stderr)
            time.sleep(warmup)
            load_before = os.getloadavg()[0]
            before = {name: (time.monotonic(), cpu_seconds(pid), runqueue_wait_seconds(pid))
                      for name, pid in pids.items()}
            print(f"{row}: measuring {duration:g} s", file=sys.stderr)
            time.sleep(duration)
            fractions, waits, problems = [], [], {}
            for name, pid in pids.items():
                start, cpu_start, wait_start = before[name]
                elapsed = time.monotonic() - start
                fractions.append((cpu_seconds(pid) - cpu_start) / elapsed)
                waits.append((runqueue_wait_seconds(pid) - wait_start) / elapsed)
                missing = missing_on_screen(server.screen(name))
                if missing:
                    problems[name] = f"not on screen at the end: {', '.join(missing)}"
    finally:
        end_processes(list(pids.values()))
    value = statistics.median(fractions)
    return {
        "name": f"{row}_cpu",
        "budget": f"<= {budget:.0%} of one core (median of {runs})",
        "value": round(value * 100, 2),
        "unit": "% of one core",
        "passed": value <= budget and not problems,
        "runs_pct": [round(f * 100, 2) for f in fractions],
        "command": " ".join(["levtop", *command[1:]]),
        "terminal": f"{width}x{height}",
        "warmup_s": warmup,
        "window_s": duration,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "load_average_1m_at_start": round(load_before, 2),
        # Waiting for a CPU while runnable, per run: next to the CPU figure, a large wait means a
        # saturated host (compare runs only when it is small).
        "runqueue_wait_pct": [round(w * 100, 2) for w in waits],
        **({"problems": problems} if problems else {}),
    }


def main(row: str | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    if row is None:
        parser.add_argument("--row", choices=tuple(ROWS), required=True)
    parser.add_argument("--runs", type=int, default=3, help="parallel runs; the median counts (default 3)")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before measuring (default 30)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured (default 60)")
    args = parser.parse_args()
    print(json.dumps(measure(row or args.row, args.runs, args.warmup, args.duration)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
