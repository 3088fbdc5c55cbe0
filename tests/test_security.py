"""Security (issue 6): secrets never reach the log file, the health texts or the screen, and
every server levtop starts listens on loopback unless told otherwise, and then says so."""

from __future__ import annotations

import argparse
import ipaddress
import logging

import pytest

from levtop.logfile import setup_logging
from levtop.sources.health import HealthBoard, Status

TOKEN = "Zk3JfZ9qWm2xLr8TbN5vYc7HsD4"
WEBHOOK = f"https://hooks.slack.com/services/T0001/B0002/{TOKEN}"
PROXY = f"https://levtop:{TOKEN}@proxy.example.com:3128"


@pytest.fixture
def log_file(isolated_paths):
    """levtop's own log setup, writing to the test's file; pytest's handlers come back after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    path = setup_logging()
    assert path is not None
    yield path
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_the_log_file_never_holds_a_token(log_file):
    log = logging.getLogger("levtop.test")
    log.warning("posting to %s failed", WEBHOOK)
    log.info(f"proxy {PROXY} refused the connection")
    try:
        raise ConnectionError(f"cannot connect to {PROXY}/fapi/v1/time?apikey={TOKEN}")
    except ConnectionError:
        log.exception("binance tickers failed")
    log.error("with a stack", stack_info=True, extra={"url": WEBHOOK})
    text = log_file.read_text(encoding="utf-8")
    assert TOKEN not in text
    # The masked lines still say what failed and where.
    assert "hooks.slack.com/services/***" in text
    assert "https://***@proxy.example.com:3128" in text
    assert "ConnectionError: cannot connect to https://***@proxy.example.com:3128/fapi/v1/time?apikey=***" in text
    assert "Traceback" in text


def test_health_keeps_errors_without_their_credentials():
    board = HealthBoard(clock=lambda: 1_000)
    board.register("binance", "tickers", 60.0)
    board.failed("binance", "tickers", f"network error: GET {PROXY}/fapi/v1/premiumIndex failed")
    board.not_available("okx", "history", f"not served by {WEBHOOK}")
    board.disable("bybit", f"disabled: {PROXY}")
    health = board.snapshot()
    assert health["binance"].status is Status.DOWN
    texts = [h.error or "" for h in health.values()]
    assert all(TOKEN not in text for text in texts)
    assert "tickers: network error: GET https://***@proxy.example.com:3128/fapi/v1/premiumIndex failed" in texts


async def test_no_notification_or_screenshot_shows_a_token():
    from test_ui_app import make_app

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        async def fail():
            raise RuntimeError(f"POST {WEBHOOK} answered 403")

        app.run_worker(fail(), name="alerts", exit_on_error=False)
        for _ in range(50):
            await pilot.pause(0.05)
            if app._notifications:
                break
        messages = [str(n.message) for n in app._notifications]
        assert any("hooks.slack.com/services/***" in m for m in messages)
        assert all(TOKEN not in m for m in messages)
        assert TOKEN not in app.export_screenshot()


async def test_config_warnings_become_notifications():
    import dataclasses

    from test_ui_app import make_app

    app = make_app()
    warning = "/home/me/.config/levtop/config.toml holds what looks like a secret (alerts.webhooks[0]) ..."
    app.config = dataclasses.replace(app.config, warnings=(warning,))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert [n.message for n in app._notifications if n.title == "config"] == [warning]


# --- servers ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("", False), ("192.168.1.5", False), ("sim.example.com", False)],
)
def test_sim_warns_exactly_when_not_on_loopback(host, loopback, capsys, monkeypatch):
    from levtop.sim import command

    async def serve_nothing(args, faults):
        return 0

    monkeypatch.setattr(command, "_serve", serve_nothing)
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    assert command.run(parser.parse_args(["sim", "--host", host, "--port", "0"])) == 0
    err = capsys.readouterr().err
    assert ("WARNING: listening on" in err) is not loopback
    if not loopback:
        assert host in err and err.count("\n") == 1


async def test_the_simulator_levtop_starts_itself_listens_on_loopback_only():
    # `levtop --demo` and the tests build the simulator without a host: the default applies.
    from levtop.sim.server import Simulator

    sim = Simulator(speed=600.0, port=0)
    await sim.start()
    try:
        addresses = sim._runner.addresses
        assert addresses and all(ipaddress.ip_address(a[0]).is_loopback for a in addresses)
        assert sim.base_url.startswith("http://127.0.0.1:")
    finally:
        await sim.stop()


def test_a_cli_error_does_not_echo_a_password(log_file, capsys):
    from levtop.cli import main

    assert main(["--sim", f"ftp://levtop:{TOKEN}@sim.example.com:8787"]) == 2
    err = capsys.readouterr().err
    assert TOKEN not in err and "ftp://***@sim.example.com:8787" in err

