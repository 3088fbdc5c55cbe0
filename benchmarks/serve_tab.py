"""What one browser tab of `levtop serve` costs: the RSS and CPU of the levtop process it starts.

Starts ``levtop serve --port 0`` (with ``--demo`` by default), opens one websocket the way the
browser page does (``/ws?width=..&height=..``, then a resize), reads every frame it is sent
for ``--seconds``, and samples the tab's process tree (the server's descendants) from /proc:
RSS once a second (the last and the highest) and CPU time over the run after ``--warmup``.
The server's own RSS is reported apart. Prints one JSON object.

    .venv/bin/python benchmarks/serve_tab.py [--seconds 60] [--warmup 15] [--live | --sim URL]
        [--width 160 --height 50]

The default demo tab also carries its own in-process simulator at 1800x. With ``--sim URL`` the
tab takes its sources from a `levtop sim` running apart (``levtop sim --speed 1`` is the pace of
live data, without the network); ``--live`` uses the real exchanges (network needed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = children_of(todo.pop())
        found += kids
        todo += kids
    return found


def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6
    except OSError:
        return 0.0


def cpu_s(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def run(args: argparse.Namespace) -> dict:
    import aiohttp

    mode = ["--sim", args.sim] if args.sim else [] if args.live else ["--demo"]
    cmd = [sys.executable, "-m", "levtop", "serve", "--port", "0", *mode]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        url = re.search(r"http://[0-9.]+:\d+", line).group(0)
        received = 0
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{url}/ws?width={args.width}&height={args.height}",
                                          headers={"Origin": url}) as ws:
                await ws.send_json(["resize", {"width": args.width, "height": args.height}])
                start = time.monotonic()
                rss: list[float] = []
                cpu0 = None
                tab: list[int] = []

                async def reader() -> None:
                    nonlocal received
                    async for message in ws:
                        received += len(message.data) if isinstance(message.data, (bytes, str)) else 0

                task = asyncio.create_task(reader())
                while time.monotonic() - start < args.seconds:
                    await asyncio.sleep(1.0)
                    tab = descendants(server.pid)
                    rss.append(sum(rss_mb(p) for p in tab))
                    if cpu0 is None and time.monotonic() - start >= args.warmup:
                        cpu0 = (sum(cpu_s(p) for p in tab), time.monotonic())
                cpu1 = (sum(cpu_s(p) for p in tab), time.monotonic())
                total_cpu = sum(cpu_s(p) for p in tab)
                task.cancel()
        return {
            "mode": "sim" if args.sim else "live" if args.live else "demo",
            "terminal": f"{args.width}x{args.height}",
            "seconds": args.seconds,
            "tab_processes": len(tab),
            "tab_rss_mb_last": round(rss[-1], 1) if rss else None,
            "tab_rss_mb_max": round(max(rss), 1) if rss else None,
            "tab_cpu_percent_after_warmup": round(100 * (cpu1[0] - cpu0[0]) / (cpu1[1] - cpu0[1]), 1) if cpu0 else None,
            "tab_cpu_s_total": round(total_cpu, 2),
            "server_rss_mb": round(rss_mb(server.pid), 1),
            "bytes_to_browser": received,
        }
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before CPU is counted (start-up, backfill)")
    parser.add_argument("--live", action="store_true", help="the tab on the real exchanges (network needed)")
    parser.add_argument("--sim", metavar="URL", help="the tab on a running `levtop sim` (its cost not counted)")
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=50)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
