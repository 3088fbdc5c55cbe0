"""`levtop watch`: NDJSON on stdout, one line per phase or signal change, a status line per
minute; valid JSON on every line, flushed per line, a clean exit on SIGTERM and on a closed pipe."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shlex
import signal
import sys

import pytest

from levtop.model import DAY, HOUR
from levtop.signals import SIGNAL_NAMES, Signal, Verdict
from levtop.watch import ChangeTracker, LineWriter, evaluate_series, iso, phase_reason
from sim_helpers import running_sim
from ui_helpers import PHASE_AT, START_MS, market_store

PHASES = {"CASCADE", "FLUSH", "TRAP", "RESTART", "PURIFYING", "OVERHEATED", "NEUTRAL", "UNKNOWN"}
STATES = {"good", "warn", "bad", "unknown"}


def verdict_at(offset_ms: int, asset: str = "BTC") -> Verdict:
    from levtop.signals import Thresholds

    store = market_store()
    return evaluate_series(store.series_map([asset]), START_MS + offset_ms, [asset], Thresholds())[asset]


def test_first_lines_are_the_initial_phase_per_asset_then_only_changes():
    tracker = ChangeTracker()
    first = verdict_at(PHASE_AT["OVERHEATED"])
    lines = tracker.lines({"BTC": first})
    assert [line["type"] for line in lines] == ["phase"]
    line = lines[0]
    assert (line["asset"], line["phase"], line["from"], line["to"]) == ("BTC", "OVERHEATED", None, "OVERHEATED")
    assert line["ts"] == iso(first.ts) and line["ts"].endswith("Z") and line["ms"] == first.ts
    assert set(line["signals"]) == set(SIGNAL_NAMES) and line["reason"].startswith("funding bad: ")
    assert tracker.lines({"BTC": first}) == []  # nothing changed, nothing said

    flush = verdict_at(PHASE_AT["FLUSH"])
    lines = tracker.lines({"BTC": flush})
    phase = [line for line in lines if line["type"] == "phase"]
    assert len(phase) == 1 and (phase[0]["from"], phase[0]["to"]) == ("OVERHEATED", "FLUSH")
    assert phase[0]["flush"]["trigger"] in ("oi", "liquidations") and "flush " in phase[0]["reason"]
    changed = {line["signal"]: line for line in lines if line["type"] == "signal"}
    assert changed, "a flush changes some signal"
    for name, line in changed.items():
        assert line["from"] == first.signals[name].state and line["to"] == flush.signals[name].state
        assert line["reason"] == flush.signals[name].reason
    assert lines[-1]["type"] == "phase"  # the signals first, then the phase they lead to


def test_purifying_carries_its_day_and_restart_its_gate():
    tracker = ChangeTracker()
    purifying = tracker.lines({"BTC": verdict_at(PHASE_AT["PURIFYING"])})[0]
    assert purifying["phase"] == "PURIFYING" and isinstance(purifying["value"], int)
    assert f"day {purifying['value']} of 14-21" in purifying["reason"]
    restart = tracker.lines({"BTC": verdict_at(PHASE_AT["RESTART"])})
    assert restart[-1]["to"] == "RESTART" and restart[-1]["reason"].startswith("oi_level, funding and stablecoins good")


def test_unknown_names_what_is_missing():
    unknown = Signal("funding", "unknown", None, "no funding in the last 24h")
    signals = {name: unknown if name == "funding" else Signal(name, "good", 1.0, "fine") for name in SIGNAL_NAMES}
    verdict = Verdict(DAY, "BTC", "UNKNOWN", signals, None, None)
    assert phase_reason(verdict) == "too little data: funding: no funding in the last 24h"
    line = ChangeTracker().lines({"BTC": verdict})[0]
    assert json.loads(json.dumps(line, allow_nan=False)) == line


def test_a_closed_pipe_stops_the_writer_quietly():
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    stream = os.fdopen(write_fd, "w")
    writer = LineWriter(stream)
    assert writer.write({"type": "status"}) is False and writer.closed
    assert writer.write({"type": "status"}) is False
    stream.close()  # its fd now points at /dev/null: no BrokenPipeError at exit

    buffer = io.StringIO()
    LineWriter(buffer).write({"type": "phase", "reason": "proxy http://user:hunter2@proxy:3128 down"})
    assert "hunter2" not in buffer.getvalue() and buffer.getvalue().endswith("}\n")


def _watch_argv(sim) -> list[str]:
    return [sys.executable, "-m", "levtop", "watch", "--sim", sim.base_url, "--assets", "BTC,ETH", "--backfill", "1d",
            "--status-every", "1s"]


async def _read_lines(proc: asyncio.subprocess.Process, until, timeout: float) -> list[dict]:
    lines: list[dict] = []

    async def read() -> None:
        while not until(lines):
            raw = await proc.stdout.readline()
            if not raw:
                return
            lines.append(json.loads(raw))  # every line is one JSON object

    await asyncio.wait_for(read(), timeout)
    return lines


def _check(line: dict) -> None:
    assert line["type"] in ("phase", "signal", "status")
    assert line["ts"] is None or line["ts"].endswith("Z")
    if line["type"] == "phase":
        assert line["asset"] in ("BTC", "ETH") and line["to"] in PHASES and line["phase"] == line["to"]
        assert line["from"] is None or line["from"] in PHASES
        assert set(line["signals"].values()) <= STATES and isinstance(line["reason"], str)
    elif line["type"] == "signal":
        assert line["signal"] in SIGNAL_NAMES and line["to"] in STATES and line["from"] in STATES
        assert isinstance(line["reason"], str)
    else:
        assert set(line["sources"]) >= {"binance", "bybit", "okx", "fear_greed", "stablecoins"}
        assert all(s["status"] in ("LIVE", "STALE", "DOWN", "N/A") for s in line["sources"].values())
        assert set(line["phases"]) == {"BTC", "ETH"}


@pytest.mark.timeout(120)
async def test_watch_prints_ndjson_and_exits_cleanly_on_sigterm_and_on_a_closed_pipe():
    # Block-buffered stdout on purpose: every line must be flushed by watch itself.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    async with running_sim(speed=3600) as sim:
        # Both at once: the two share the wait for the backfill. The second is `watch | head -n 1`.
        term = await asyncio.create_subprocess_exec(*_watch_argv(sim), stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE, env=env)
        piped = await asyncio.create_subprocess_shell(
            "set -o pipefail; " + " ".join(shlex.quote(a) for a in _watch_argv(sim)) + " | head -n 1",
            executable="/bin/bash", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        try:
            lines = await _read_lines(term, lambda ls: sum(x["type"] == "status" for x in ls) >= 2, 90)
            term.send_signal(signal.SIGTERM)
            term_code = await asyncio.wait_for(term.wait(), 20)
            piped_out, piped_err = await asyncio.wait_for(piped.communicate(), 60)
        finally:
            for proc in (term, piped):
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
    term_err = (await term.stderr.read()).decode()
    piped_err = piped_err.decode()
    assert term_code == 0, term_err
    assert piped.returncode == 0, piped_err  # pipefail: levtop's own status
    assert "Traceback" not in term_err + piped_err and "BrokenPipe" not in piped_err

    initial = [line for line in lines if line["type"] == "phase" and line["from"] is None]
    assert [line["asset"] for line in initial] == ["BTC", "ETH"]
    assert lines[:2] == initial  # the initial state comes first, a line per asset
    for line in lines:
        _check(line)
    assert all(line["ms"] >= initial[0]["ms"] for line in lines[2:] if line["ms"] is not None)
    assert initial[0]["ms"] > START_MS - HOUR
    first = [json.loads(raw) for raw in piped_out.decode().splitlines()]
    assert len(first) == 1 and first[0]["type"] == "phase" and first[0]["from"] is None
