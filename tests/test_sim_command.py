"""``levtop sim`` runs until Ctrl-C, prints its base URL, and stops cleanly."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from levtop.sim import command

RUN_SIM = (
    "import argparse, sys; from levtop.sim import command; p = argparse.ArgumentParser(); "
    "s = p.add_subparsers(); command.register(s); a = p.parse_args(sys.argv[1:]); raise SystemExit(a.handler(a))"
)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    return parser.parse_args(["sim", *argv])


def test_defaults_bind_loopback():
    args = _parse()
    assert (args.host, args.port, args.scenario, args.speed, args.seed) == ("127.0.0.1", 8787, "recovery", 600.0, 1)
    assert args.assets == ("BTC", "ETH", "SOL") and args.start is None and args.handler is command.run


def test_start_and_assets_parse():
    args = _parse("--start", "2024-03-01T00:00Z", "--assets", "btc, eth", "--speed", "60")
    assert args.start == 1709251200000 and args.assets == ("BTC", "ETH") and args.speed == 60.0
    assert _parse("--start", "1709251200000").start == 1709251200000
    with pytest.raises(SystemExit):
        _parse("--speed", "0")


def test_bad_fault_file_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "f.toml"
    bad.write_text('[[fault]]\nvenue = "okx"\nroute = "*"\nkind = "nope"\n')
    assert command.run(_parse("--faults", str(bad), "--port", "0")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(bad) in err and "kind" in err


def test_runs_until_interrupted_and_serves_real_shaped_json(tmp_path):
    faults = tmp_path / "faults.toml"
    faults.write_text('[[fault]]\nvenue = "okx"\nroute = "/api/v5/market/*"\nkind = "status"\nstatus = 503\n')
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_SIM, "sim", "--port", "0", "--speed", "600", "--faults", str(faults)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(base_url + "/fapi/v1/premiumIndex?symbol=BTCUSDT", timeout=10) as response:
            body = json.load(response)
        assert body["symbol"] == "BTCUSDT" and float(body["markPrice"]) > 0
        with urllib.request.urlopen(base_url + "/_sim/faults", timeout=10) as response:
            assert json.load(response)["faults"][0]["status"] == 503
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0
    err = process.stderr.read()
    assert "stopped" in err and "Traceback" not in err


def test_non_loopback_host_is_announced(capsys, monkeypatch):
    async def fake_serve(args, faults):
        return 0

    monkeypatch.setattr(command, "_serve", fake_serve)
    assert command.run(_parse("--host", "0.0.0.0", "--port", "0")) == 0
    assert "not loopback" in capsys.readouterr().err
    assert command.run(_parse("--host", "127.0.0.1", "--port", "0")) == 0
    assert "not loopback" not in capsys.readouterr().err
