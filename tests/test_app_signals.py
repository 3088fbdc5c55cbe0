"""levtop in a real pty: SIGTERM, SIGHUP (an SSH session dropping) and a terminal that closes with
no signal at all each save history and exit within 10 s, instead of spinning."""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import subprocess
import sys
import threading
import time

import pytest

from levtop.store import HistoryStore
from sim_helpers import running_sim


def drain(fd: int, stop: threading.Event) -> None:
    """Read the pty so Textual never blocks on a full terminal buffer."""
    while not stop.is_set():
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


PTY_CLOSED = "pty closed"
SHUTDOWN_HANGS = "shutdown hangs"
"""SIGHUP while Textual's shutdown blocks for good, as seen when a tmux server is killed mid-write:
LinuxDriver.close waits in WriterThread.stop on an output queue nobody empties."""
HANGING_SHUTDOWN = (
    "import threading, textual.drivers._writer_thread as w; "
    "w.WriterThread.stop = lambda self: threading.Event().wait(); "
    "from levtop.cli import main; raise SystemExit(main())"
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, PTY_CLOSED, SHUTDOWN_HANGS])
async def test_a_signal_or_a_vanished_terminal_saves_history_and_exits(tmp_path, signum):
    data = tmp_path / "data"
    env = {**os.environ, "LEVTOP_DATA_DIR": str(data), "LEVTOP_CONFIG": str(tmp_path / "config.toml"),
           "LEVTOP_LOG": str(tmp_path / "levtop.log"), "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    async with running_sim(speed=600) as sim:
        # Live mode (which keeps history on disk, unlike --sim) with every source pointed at the
        # simulator through the config, as a proxy would be.
        base, ws = sim.base_url, sim.ws_url
        (tmp_path / "config.toml").write_text(
            'assets = ["BTC"]\n[poll]\ntickers = 2\nopen_interest = 2\nhistory = 2\n'
            + "".join(f'[sources.{v}]\nrest = "{base}"\nws = "{ws}"\n' for v in ("bybit", "okx"))
            + f'[sources.binance]\nrest = "{base}"\nws = "{ws}"\nspot = "{base}"\n'
            + f'[sources.fear_greed]\nurl = "{base}"\n[sources.stablecoins]\nurl = "{base}"\n')
        master, slave = pty.openpty()
        command = ["-c", HANGING_SHUTDOWN] if signum == SHUTDOWN_HANGS else ["-m", "levtop"]
        proc = subprocess.Popen([sys.executable, *command], stdin=slave, stdout=slave,
                                stderr=slave, env=env, close_fds=True, start_new_session=True)
        os.close(slave)
        stop = threading.Event()
        reader = threading.Thread(target=drain, args=(master, stop), daemon=True)
        reader.start()
        try:
            await asyncio.sleep(20)  # connect, backfill (rate-limited, as live), poll
            assert proc.poll() is None, "levtop exited before the signal"
            if signum == PTY_CLOSED:
                stop.set()
                os.close(master)  # the terminal's far end is gone; nobody sends a signal
                master = None
            else:
                proc.send_signal(signal.SIGHUP if signum == SHUTDOWN_HANGS else signum)
            started = time.monotonic()
            while proc.poll() is None and time.monotonic() - started < 10:
                await asyncio.sleep(0.1)
            assert proc.poll() is not None, "levtop did not exit within 10 s"
            # A clean exit returns 0; one the deadline had to force, 128 + the signal.
            assert proc.returncode == (128 + signal.SIGHUP if signum == SHUTDOWN_HANGS else 0)
        finally:
            if proc.poll() is None:
                proc.kill()
            stop.set()
            if master is not None:
                os.close(master)
    store, warnings = HistoryStore.load(data)
    assert warnings == []
    assert len(store.series("binance", "BTC", "oi_base")) > 100  # the backfilled history was saved
    log = (tmp_path / "levtop.log").read_text()
    assert "exiting on signal" in log
    if signum == PTY_CLOSED:
        assert "the terminal went away" in log
    if signum == SHUTDOWN_HANGS:
        assert "the clean exit did not finish" in log
