"""Alerts (issue 8): the engine's hysteresis on synthetic sequences, and every delivery against
real receivers on 127.0.0.1: a webhook server (a 500, then the retry lands), a command hook
writing the argv it got, a stand-in notify-send, and `levtop alerts test` through the CLI."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web
from hypothesis import given, settings, strategies as st

from levtop.alert_sinks import (
    AlertDispatcher, AlertHub, AlertSinks, desktop_notify, expand_argv, fire_test_alert, post_webhook,
    run_command, webhook_label,
)
from levtop.alerts import SIGNAL_NAMES, Alert, AlertEngine, AlertRules, synthetic_alert
from levtop.config import AlertSettings
from levtop.signals import Signal, Verdict

MIN = 60_000
T0 = 1_780_000_800_000
TOKEN = "Zk3JfZ9qWm2xLr8TbN5vYc7HsD4"


def verdict(ts: int, phase: str = "NEUTRAL", asset: str = "BTC", day: int | None = None, **states: str) -> Verdict:
    signals = {name: Signal(name, states.get(name, "good"), 1.5, f"{name} is {states.get(name, 'good')}")
               for name in SIGNAL_NAMES}
    return Verdict(ts, asset, phase, signals, None, day)


def engine(minutes: float = 15, phases: bool = True, signals: tuple[str, ...] = ()) -> AlertEngine:
    return AlertEngine(AlertRules(int(minutes * MIN), phases, signals))


def run_phases(eng: AlertEngine, steps: list[tuple[int, str]]) -> list[Alert]:
    out: list[Alert] = []
    for minute, phase in steps:
        out += eng.feed({"BTC": verdict(T0 + minute * MIN, phase)})
    return out


# --- the engine --------------------------------------------------------------------------------


def test_the_signal_names_are_the_signal_modules():
    from levtop import signals

    assert SIGNAL_NAMES == signals.SIGNAL_NAMES


def test_a_change_alerts_once_after_it_held_the_minimum():
    eng = engine(15)
    steps = [(0, "PURIFYING"), (5, "PURIFYING"), (10, "RESTART"), (20, "RESTART"), (24, "RESTART"),
             (25, "RESTART"), (26, "RESTART"), (60, "RESTART"), (600, "RESTART")]
    alerts = run_phases(eng, steps)
    assert len(alerts) == 1
    (alert,) = alerts
    assert (alert.asset, alert.kind, alert.name, alert.from_, alert.to) == ("BTC", "phase", "phase", "PURIFYING", "RESTART")
    # Confirmed at the first evaluation 15 minutes (data time) after RESTART was first seen.
    assert (alert.since, alert.ts) == (T0 + 10 * MIN, T0 + 25 * MIN)
    assert alert.text.startswith("BTC phase PURIFYING -> RESTART (held 15m): ")
    assert eng.state("BTC") == ("RESTART", None)


def test_a_flap_shorter_than_the_minimum_says_nothing():
    eng = engine(15)
    # A -> B -> A within the window, again and again: nothing.
    steps = [(0, "NEUTRAL")] + [(m, "OVERHEATED" if (m // 7) % 2 else "NEUTRAL") for m in range(1, 300)]
    assert run_phases(eng, steps) == []
    # B that held 14 minutes, then C: C counts from its own first sighting.
    eng = engine(15)
    alerts = run_phases(eng, [(0, "NEUTRAL"), (1, "FLUSH"), (15, "FLUSH"), (16, "CASCADE"), (30, "CASCADE"),
                              (31, "CASCADE")])
    assert [(a.from_, a.to, a.since, a.ts) for a in alerts] == [("NEUTRAL", "CASCADE", T0 + 16 * MIN, T0 + 31 * MIN)]
    assert alerts[0].severity == "error"


def test_the_first_state_and_unknown_are_not_changes():
    eng = engine(15)
    alerts = run_phases(eng, [(0, "UNKNOWN"), (30, "UNKNOWN"), (60, "NEUTRAL"), (61, "UNKNOWN"), (200, "UNKNOWN"),
                              (300, "NEUTRAL")])
    assert alerts == [] and eng.state("BTC") == ("NEUTRAL", None)
    # Missing data neither confirms nor interrupts a pending change.
    alerts = run_phases(eng, [(400, "RESTART"), (405, "UNKNOWN"), (414, "UNKNOWN"), (415, "RESTART")])
    assert [(a.from_, a.to) for a in alerts] == [("NEUTRAL", "RESTART")]


def test_signals_alert_only_when_chosen_and_carry_value_and_reason():
    eng = engine(10, phases=False, signals=("funding",))
    out = eng.feed([verdict(T0, funding="good", oi_level="good")])
    out += eng.feed([verdict(T0 + 5 * MIN, funding="bad", oi_level="bad")])
    out += eng.feed([verdict(T0 + 15 * MIN, "CASCADE", funding="bad", oi_level="bad")])
    assert [(a.kind, a.name, a.from_, a.to) for a in out] == [("signal", "funding", "good", "bad")]
    assert out[0].value == 1.5 and out[0].reason == "funding is bad" and out[0].severity == "warning"


def test_assets_are_tracked_apart_and_zero_minimum_is_immediate():
    eng = engine(0)
    assert eng.feed([verdict(T0, "NEUTRAL", "BTC"), verdict(T0, "TRAP", "ETH")]) == []
    out = eng.feed([verdict(T0 + 1, "RESTART", "BTC"), verdict(T0 + 1, "TRAP", "ETH")])
    assert [(a.asset, a.from_, a.to) for a in out] == [("BTC", "NEUTRAL", "RESTART")]


def test_baseline_takes_the_states_without_alerting():
    eng = engine(15)
    eng.feed([verdict(T0, "NEUTRAL")])
    eng.feed([verdict(T0 + MIN, "PURIFYING")])
    eng.baseline([verdict(T0 + 2 * MIN, "PURIFYING")])  # the backfill landed: that is the state
    assert eng.state("BTC") == ("PURIFYING", None)
    assert run_phases(eng, [(30, "PURIFYING"), (60, "PURIFYING")]) == []


def test_the_alert_json_is_what_receivers_get():
    alert = run_phases(engine(15), [(0, "PURIFYING"), (10, "RESTART"), (25, "RESTART")])[0]
    data = json.loads(alert.to_json_text())
    assert data["type"] == "alert" and data["from"] == "PURIFYING" and data["to"] == "RESTART"
    assert data["ts"] == "2026-05-28T21:05:00Z" and data["ms"] == T0 + 25 * MIN
    assert data["since"] == "2026-05-28T20:50:00Z" and data["text"] == data["content"] == alert.text
    assert data["id"] == alert.id and data["test"] is False and data["severity"] == "information"


@dataclass
class Reference:
    """The rules in design notes' words, written the long way: runs of known states; a run that
    differs from the last alerted state and spans the minimum alerts at its first point past it."""

    minimum: int
    alerts: list[tuple[str, str, int, int]] = field(default_factory=list)

    def run(self, steps: list[tuple[int, str]]) -> list[tuple[str, str, int, int]]:
        known = [(t, s) for t, s in steps if s != "UNKNOWN"]
        runs: list[list[tuple[int, str]]] = []
        for t, s in known:
            if runs and runs[-1][0][1] == s:
                runs[-1].append((t, s))
            else:
                runs.append([(t, s)])
        if not runs:
            return []
        stable = runs[0][0][1]
        for run in runs[1:]:
            state, since = run[0][1], run[0][0]
            if state == stable:
                continue
            due = next((t for t, _ in run if t - since >= self.minimum), None)
            if due is not None:
                self.alerts.append((stable, state, since, due))
                stable = state
        return self.alerts


PHASE_NAMES = st.sampled_from(["NEUTRAL", "RESTART", "PURIFYING", "TRAP", "UNKNOWN"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), PHASE_NAMES), max_size=60), st.integers(0, 30))
def test_hysteresis_properties(gaps, minimum_minutes):
    steps, t = [], 0
    for gap, phase in gaps:
        t += gap
        steps.append((t, phase))
    eng = engine(minimum_minutes)
    alerts, emitted_at = [], []
    for index, step in enumerate(steps):
        new = run_phases(eng, [step])
        assert len(new) <= 1
        alerts += new
        emitted_at += [index] * len(new)
    got = [(a.from_, a.to, a.since, a.ts) for a in alerts]
    expected = Reference(minimum_minutes * MIN).run([(T0 + m * MIN, p) for m, p in steps])
    assert got == expected
    for a, b in zip(alerts, alerts[1:]):
        assert a.to == b.from_  # a chain of changes: never two alerts for one change
    for a, index in zip(alerts, emitted_at):
        assert a.from_ != a.to and a.ts - a.since >= minimum_minutes * MIN
        # The new state held: the known observations before the alert, back to ``since``, were
        # all that state.
        known = [(m, p) for m, p in steps[: index + 1] if p != "UNKNOWN"]
        start = len(known)
        while start > 0 and known[start - 1][1] == a.to:
            start -= 1
        assert T0 + known[start][0] * MIN == a.since


# --- receivers on 127.0.0.1 --------------------------------------------------------------------


@dataclass
class Hook:
    url: str
    bodies: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@asynccontextmanager
async def webhook_server(answers: list[int], default: int = 200) -> AsyncIterator[Hook]:
    """A webhook receiver on 127.0.0.1; answers the statuses in ``answers``, then ``default``.
    Its URL carries a token in its path, as Slack's and Discord's do."""
    hook = Hook(url="")
    queue = list(answers)

    async def receive(request: web.Request) -> web.Response:
        hook.bodies.append(await request.json())
        hook.headers.append(dict(request.headers))
        status = queue.pop(0) if queue else default
        hook.statuses.append(status)
        return web.Response(status=status, text="ok" if status < 300 else "nope")

    app = web.Application()
    app.router.add_post(f"/hooks/{TOKEN}", receive)
    runner = web.AppRunner(app, access_log=None)  # the receiver's own log would show its URL
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    hook.url = f"http://127.0.0.1:{port}/hooks/{TOKEN}"
    try:
        yield hook
    finally:
        await runner.cleanup()


FAST = {"backoff_s": 0.01, "timeout_s": 5.0}


async def test_webhook_gets_one_post_per_change_with_a_retry_after_a_500(caplog):
    caplog.set_level(logging.INFO)
    async with webhook_server([500]) as hook:
        settings_ = AlertSettings(min_duration_ms=15 * MIN, webhooks=(hook.url,))
        hub = AlertHub(settings_, external=True, sinks=AlertSinks(settings_, **FAST))
        # A flap (nothing), then one real change fed many times over.
        fed = []
        for minute, phase in [(0, "PURIFYING"), (2, "RESTART"), (5, "PURIFYING"), (10, "RESTART"), (20, "RESTART"),
                              (25, "RESTART"), (26, "RESTART"), (40, "RESTART"), (90, "RESTART")]:
            fed += hub.feed({"BTC": verdict(T0 + minute * MIN, phase)})
        assert [(a.from_, a.to) for a in fed] == [("PURIFYING", "RESTART")]
        await hub.close(10)
    # The 500 was retried; the change arrived exactly once.
    assert hook.statuses == [500, 200]
    assert hook.bodies[0] == hook.bodies[1] == fed[0].to_json()
    assert hook.headers[1]["Idempotency-Key"] == fed[0].id
    assert [r.line for r in hub.dispatcher.results[-1]] == [
        "webhook #1 (127.0.0.1): ok (HTTP 200, 2 tries)"]
    assert TOKEN not in caplog.text and "webhook #1 (127.0.0.1)" in caplog.text


async def test_webhook_failures_are_bounded_and_never_show_the_url(caplog):
    alert = synthetic_alert("BTC", T0)
    async with webhook_server([], default=404) as hook:
        result = await post_webhook(hook.url, alert, webhook_label(0, hook.url), tries=5, **FAST)
        assert not result.ok and hook.statuses == [404]  # a 404 will not get better: no retry
    async with webhook_server([], default=503) as hook:
        result = await post_webhook(hook.url, alert, "webhook #1", tries=3, **FAST)
        assert not result.ok and hook.statuses == [503] * 3 and "gave up after 3 tries" in result.detail
    # Nobody listens there any more: connection refused, retried, then given up; no exception.
    result = await post_webhook(hook.url, alert, "webhook #1", tries=2, **FAST)
    assert not result.ok and "gave up after 2 tries" in result.detail
    assert TOKEN not in result.line + caplog.text and hook.url not in caplog.text


WRITE_ARGV = """\
import json, os, sys
with open(sys.argv[1], "w") as fh:
    json.dump({"argv": sys.argv[2:], "env": {k: v for k, v in os.environ.items() if k.startswith("LEVTOP_ALERT_")},
               "stdin": sys.stdin.read()}, fh)
"""


def argv_script(tmp_path: Path) -> tuple[Path, Path]:
    script = tmp_path / "hook.py"
    script.write_text(WRITE_ARGV)
    return script, tmp_path / "got.json"


async def test_command_hook_gets_its_argv_and_the_alert(tmp_path):
    script, got = argv_script(tmp_path)
    alert = run_phases(engine(15), [(0, "PURIFYING"), (10, "RESTART"), (25, "RESTART")])[0]
    argv = (sys.executable, str(script), str(got), "--flag", "a b; rm -rf /", "{asset}", "{from}->{to}", "{unknown}")
    result = await run_command(argv, alert, timeout_s=20)
    assert result.ok and result.line == "command (python3): ok (exit status 0)".replace(
        "python3", os.path.basename(sys.executable))
    data = json.loads(got.read_text())
    # Every argument arrives as one word, untouched by any shell; placeholders filled in.
    assert data["argv"] == ["--flag", "a b; rm -rf /", "BTC", "PURIFYING->RESTART", "{unknown}"]
    assert data["env"]["LEVTOP_ALERT_TO"] == "RESTART" and data["env"]["LEVTOP_ALERT_ASSET"] == "BTC"
    assert json.loads(data["env"]["LEVTOP_ALERT_JSON"]) == alert.to_json()
    assert json.loads(data["stdin"]) == alert.to_json()


async def test_command_failures_are_reported_not_raised(tmp_path):
    alert = synthetic_alert("BTC", T0)
    missing = await run_command((str(tmp_path / "nope"),), alert)
    assert not missing.ok and "cannot run it" in missing.detail
    failing = await run_command((sys.executable, "-c", "import sys; sys.exit('boom 3')"), alert)
    assert not failing.ok and failing.detail == "exit status 1: boom 3"
    slow = await run_command((sys.executable, "-c", "import time; time.sleep(30)"), alert, timeout_s=0.5)
    assert not slow.ok and "killed" in slow.detail


async def test_desktop_uses_notify_send_when_present(tmp_path):
    alert = synthetic_alert("BTC", T0)
    absent = await desktop_notify(alert, which=lambda name: None)
    assert not absent.ok and "notify-send not found" in absent.detail
    fake, got = tmp_path / "notify-send", tmp_path / "notified.json"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(got)!r}, 'w'))\n")
    fake.chmod(0o755)
    present = await desktop_notify(alert, which=lambda name: str(fake))
    assert present.ok, present.line
    assert json.loads(got.read_text()) == ["--app-name=levtop", "--urgency=low", "levtop: BTC phase PURIFYING -> RESTART",
                                           alert.reason]


def test_expand_argv_fills_only_known_placeholders():
    alert = synthetic_alert("ETH", T0)
    assert expand_argv(["~/bin/x", "{asset}", "{\"json\": 1}", "{text}"], alert) == [
        os.path.expanduser("~/bin/x"), "ETH", "{\"json\": 1}", alert.text]


async def test_dispatcher_keeps_order_and_survives_a_failing_sink(tmp_path):
    script, got = argv_script(tmp_path)
    settings_ = AlertSettings(command=(sys.executable, str(script), str(got), "{to}"), webhooks=("http://127.0.0.1:9/x",))
    dispatcher = AlertDispatcher(AlertSinks(settings_, tries=1, **FAST))
    dispatcher.submit(synthetic_alert("BTC", T0))
    dispatcher.submit(synthetic_alert("ETH", T0 + 1))
    assert await dispatcher.drain(20)
    await dispatcher.close(1)
    assert [[r.ok for r in results] for results in dispatcher.results] == [[False, True], [False, True]]
    assert json.loads(got.read_text())["env"]["LEVTOP_ALERT_ASSET"] == "ETH"


async def test_a_hub_without_external_deliveries_only_returns_alerts():
    settings_ = AlertSettings(min_duration_ms=0, webhooks=("http://127.0.0.1:9/x",))
    hub = AlertHub(settings_, external=False)
    assert hub.dispatcher is None
    hub.feed([verdict(T0, "NEUTRAL")], ready=False)
    assert [a.to for a in hub.feed([verdict(T0 + 1, "TRAP")])] == ["TRAP"]
    quiet = AlertHub(AlertSettings(phases=False), external=True)
    assert not quiet.active and quiet.feed([verdict(T0, "TRAP")]) == []


# --- levtop alerts test, levtop watch --alerts ---------------------------------------------------


async def test_cli_alerts_test_fires_each_configured_kind(tmp_path, isolated_paths):
    script, got = argv_script(tmp_path)
    config = Path(os.environ["LEVTOP_CONFIG"])
    async with webhook_server([]) as good, webhook_server([], default=410) as gone:
        config.write_text(
            "[alerts]\n"
            f"webhooks = [{json.dumps(good.url)}, {json.dumps(gone.url)}]\n"
            f"command = [{json.dumps(sys.executable)}, {json.dumps(str(script))}, {json.dumps(str(got))}, \"{{asset}}\"]\n")
        config.chmod(0o600)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "levtop", "alerts", "test", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={**os.environ, "LEVTOP_CONFIG": str(config)})
        out, err = await asyncio.wait_for(process.communicate(), 60)
    out_text, err_text = out.decode(), err.decode()
    assert process.returncode == 1, (out_text, err_text)  # the 410 webhook failed
    lines = out_text.splitlines()
    assert lines[0].startswith("alerts on: phase changes; a change counts once it has held 15m")
    assert "bell: TUI only" in out_text and "notification: TUI only" in out_text and "desktop: off" in lines
    assert "webhook #1 (127.0.0.1): ok (HTTP 200, 1 try)" in lines
    assert "webhook #2 (127.0.0.1): failed (HTTP 410 Gone, 1 try)" in lines
    assert any(line.startswith("command (") and line.endswith(": ok (exit status 0)") for line in lines)
    assert len(good.bodies) == 1 and good.bodies[0]["test"] is True and good.bodies[0]["asset"] == "BTC"
    assert json.loads(got.read_text())["argv"] == ["BTC"]
    assert TOKEN not in out_text + err_text


async def test_fire_test_alert_with_nothing_configured_says_so():
    out = io.StringIO()
    assert await fire_test_alert(AlertSettings(bell=False, notification=False), "BTC", out, terminal=True) == 0
    assert out.getvalue().splitlines()[2:] == ["bell: off", "notification: off", "desktop: off",
                                               "webhooks: none configured", "command: none configured"]
    out = io.StringIO()
    await fire_test_alert(AlertSettings(), "BTC", out, terminal=True)
    assert "\a" in out.getvalue() and "bell: ok" in out.getvalue()


class FakeStore:
    def __init__(self):
        self.version = 0
        self.newest_ts = T0

    def series_map(self, assets):
        return {}


async def test_watch_with_alerts_prints_and_delivers_confirmed_changes(tmp_path, monkeypatch):
    from levtop import watch
    from levtop.config import Config

    script, got = argv_script(tmp_path)
    sequence = iter([(0, "PURIFYING"), (5, "RESTART"), (8, "PURIFYING"), (12, "RESTART"), (30, "RESTART")])
    current: dict = {}
    monkeypatch.setattr(watch, "evaluate_series", lambda series, now, assets, th: current)
    settings_ = AlertSettings(min_duration_ms=15 * MIN, command=(sys.executable, str(script), str(got), "{to}"))
    config = Config(path=tmp_path / "c.toml", alerts=settings_)
    out = io.StringIO()
    store = FakeStore()
    watcher = watch.Watcher(config, watch.WatchOptions(assets=("BTC",), alerts=True), store=store, out=out)
    for minute, phase in sequence:
        current = {"BTC": verdict(T0 + minute * MIN, phase)}
        store.version += 1
        assert await watcher.evaluate()
    await watcher.alerts.close(20)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["type"] for line in lines].count("phase") == 4  # the first state and every raw change
    alerts = [line for line in lines if line["type"] == "alert"]
    assert [(a["from"], a["to"], a["ms"]) for a in alerts] == [("PURIFYING", "RESTART", T0 + 30 * MIN)]
    assert json.loads(got.read_text())["argv"] == ["RESTART"]
