"""Delivering alerts outside the TUI: desktop notification, webhooks, a command hook.

- **desktop**: ``notify-send`` when ``shutil.which`` finds it (argv, no shell), urgency from the
  alert's severity.
- **webhook**: ``POST`` of the alert as JSON (``Alert.to_json``: ``text`` and ``content`` carry
  a one-line summary, so Slack and Discord take the body as it is). Retried with exponential
  backoff on a connection error, a timeout, 408, 425, 429 or 5xx (``Retry-After`` honoured up to
  the cap), at most ``WEBHOOK_TRIES`` tries; any other status is a failure at once. A webhook URL
  is a secret: logs and messages name it ``webhook #N (host)``, never the URL.
- **command**: ``[alerts] command`` is an argument list run with ``create_subprocess_exec``
  (never a shell). Each argument may hold placeholders, replaced by the alert's fields:
  ``{asset} {kind} {name} {from} {to} {value} {reason} {ts} {text} {severity} {id}``. The
  alert also comes as environment variables (``LEVTOP_ALERT_ASSET``, ``..._KIND``, ``..._NAME``,
  ``..._FROM``, ``..._TO``, ``..._VALUE``, ``..._REASON``, ``..._TS``, ``..._MS``,
  ``..._TEXT``, ``..._SEVERITY``, ``..._ID``, ``..._TEST``, and the whole JSON in
  ``LEVTOP_ALERT_JSON``) and as one JSON object on stdin. It runs in its own session with
  stdout discarded, so it never writes over the TUI; past ``COMMAND_TIMEOUT_S`` it is killed.

Every failure is logged (masked) and returned as a ``Delivery``; nothing here raises to the
caller. The terminal bell and the TUI notification are the app's (see ``AlertHub``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from levtop.alerts import Alert, AlertEngine, AlertRules
from levtop.redact import redact

log = logging.getLogger(__name__)

WEBHOOK_TRIES = 5
WEBHOOK_TIMEOUT_S = 10.0
"""Per try: connecting, sending and reading the answer."""
WEBHOOK_BACKOFF_S = 1.0
"""Before the 2nd try; doubled before each next one (1, 2, 4, 8 s)."""
WEBHOOK_BACKOFF_MAX_S = 30.0
COMMAND_TIMEOUT_S = 30.0
DESKTOP_TIMEOUT_S = 5.0
QUEUE_SIZE = 100
"""Alerts waiting for delivery; beyond that the oldest is dropped (and logged)."""
CLOSE_TIMEOUT_S = 15.0
SERVED_ENV = "LEVTOP_SERVED"
"""Set by ``levtop serve`` for its tabs: each tab is its own levtop, so external deliveries
would repeat once per open tab; the tabs keep the bell and the notification only."""

_RETRY_STATUSES = frozenset({408, 425, 429})
_URGENCY = {"error": "critical", "warning": "normal", "information": "low"}


@dataclass(frozen=True)
class Delivery:
    """How one delivery of one alert went."""

    kind: str
    """``desktop``, ``webhook`` or ``command``."""
    label: str
    """What to call it in a log or a message: ``webhook #1 (hooks.slack.com)``, never a URL."""
    ok: bool
    detail: str

    @property
    def line(self) -> str:
        return redact(f"{self.label}: {'ok' if self.ok else 'failed'} ({self.detail})")


def webhook_label(index: int, url: str) -> str:
    try:
        host = urlsplit(url).hostname or "?"
    except ValueError:
        host = "?"
    return f"webhook #{index + 1} ({host})"


def command_label(argv: Sequence[str]) -> str:
    # Only the program: the arguments may carry a token.
    return redact(f"command ({os.path.basename(argv[0]) if argv else '?'})")


def _scrub(text: str, url: str, label: str) -> str:
    """``text`` (an exception's message, say) without the webhook URL or its path, masked."""
    for part in sorted({url, url.rstrip("/"), urlsplit(url)._replace(query="", fragment="").geturl()},
                       key=len, reverse=True):
        if part:
            text = text.replace(part, label)
    path = urlsplit(url).path
    if len(path) > 1:
        text = text.replace(path, "/***")
    return redact(text)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import time

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


async def post_webhook(url: str, alert: Alert, label: str, *, tries: int = WEBHOOK_TRIES,
                       timeout_s: float = WEBHOOK_TIMEOUT_S, backoff_s: float = WEBHOOK_BACKOFF_S,
                       backoff_max_s: float = WEBHOOK_BACKOFF_MAX_S) -> Delivery:
    """POST the alert as JSON, retrying what may pass on a later try."""
    import aiohttp

    body = alert.to_json()
    headers = {"User-Agent": "levtop-alerts", "Idempotency-Key": alert.id}
    detail = "not tried"
    delay = backoff_s
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for attempt in range(1, tries + 1):
            wait = delay
            try:
                async with session.post(url, json=body, headers=headers, allow_redirects=False) as response:
                    await response.read()
                    status = response.status
                    if 200 <= status < 300:
                        return Delivery("webhook", label, True, f"HTTP {status}, {_tries(attempt)}")
                    detail = f"HTTP {status} {response.reason or ''}".strip()
                    if status < 500 and status not in _RETRY_STATUSES:
                        log.warning("alert %s: %s: %s; not retried", alert.id, label, detail)
                        return Delivery("webhook", label, False, f"{detail}, {_tries(attempt)}")
                    after = _retry_after(response.headers.get("Retry-After"))
                    if after is not None:
                        wait = max(wait, after)
            except asyncio.TimeoutError:
                detail = f"no answer within {timeout_s:g}s"
            except (aiohttp.InvalidURL, ValueError) as exc:  # a URL aiohttp cannot use: no retry
                detail = _scrub(f"{type(exc).__name__}: {exc}", url, label)
                log.warning("alert %s: %s: %s", alert.id, label, detail)
                return Delivery("webhook", label, False, detail)
            except aiohttp.ClientError as exc:
                detail = _scrub(f"{type(exc).__name__}: {exc}", url, label)
            if attempt < tries:
                log.info("alert %s: %s: %s; try %d of %d in %.1fs", alert.id, label, detail, attempt + 1, tries,
                         min(wait, backoff_max_s))
                await asyncio.sleep(min(wait, backoff_max_s))
                delay = min(delay * 2, backoff_max_s)
    log.warning("alert %s: %s: %s; gave up after %s", alert.id, label, detail, _tries(tries))
    return Delivery("webhook", label, False, f"{detail}, gave up after {_tries(tries)}")


def _tries(n: int) -> str:
    return "1 try" if n == 1 else f"{n} tries"


def alert_env(alert: Alert) -> dict[str, str]:
    data = alert.to_json()
    env = {
        "LEVTOP_ALERT_ID": alert.id, "LEVTOP_ALERT_KIND": alert.kind, "LEVTOP_ALERT_ASSET": alert.asset,
        "LEVTOP_ALERT_NAME": alert.name, "LEVTOP_ALERT_FROM": alert.from_, "LEVTOP_ALERT_TO": alert.to,
        "LEVTOP_ALERT_VALUE": "" if data["value"] is None else repr(data["value"]),
        "LEVTOP_ALERT_REASON": alert.reason, "LEVTOP_ALERT_TS": data["ts"], "LEVTOP_ALERT_MS": str(alert.ts),
        "LEVTOP_ALERT_TEXT": alert.text, "LEVTOP_ALERT_SEVERITY": alert.severity,
        "LEVTOP_ALERT_TEST": "1" if alert.test else "0", "LEVTOP_ALERT_JSON": alert.to_json_text(),
    }
    return {k: v.replace("\0", "") for k, v in env.items()}


def expand_argv(argv: Sequence[str], alert: Alert) -> list[str]:
    """The configured arguments with ``{asset}``-style placeholders filled in; any other brace
    is left as it is. The program (argv[0]) may start with ``~``."""
    data = alert.to_json()
    fields = {
        "asset": alert.asset, "kind": alert.kind, "name": alert.name, "from": alert.from_, "to": alert.to,
        "value": "" if data["value"] is None else repr(data["value"]), "reason": alert.reason,
        "ts": data["ts"], "text": alert.text, "severity": alert.severity, "id": alert.id,
    }
    out = []
    for i, arg in enumerate(argv):
        for name, value in fields.items():
            arg = arg.replace("{" + name + "}", value)
        out.append(os.path.expanduser(arg) if i == 0 else arg)
    return [arg.replace("\0", "") for arg in out]


async def _run(argv: Sequence[str], *, stdin: bytes | None, env: Mapping[str, str] | None,
               timeout_s: float) -> tuple[int | None, str]:
    """Run argv (no shell) in its own session; (exit status or None on a timeout, stderr tail)."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        _, err = await asyncio.wait_for(process.communicate(stdin), timeout_s)
    except asyncio.TimeoutError:
        _kill(process)
        await process.wait()
        return None, ""
    except asyncio.CancelledError:
        _kill(process)
        raise
    tail = err.decode("utf-8", "replace").strip().splitlines()
    return process.returncode, redact(tail[-1][:200]) if tail else ""


def _kill(process: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        try:
            process.kill()
        except ProcessLookupError:
            pass


async def run_command(argv: Sequence[str], alert: Alert, *, timeout_s: float = COMMAND_TIMEOUT_S) -> Delivery:
    label = command_label(argv)
    try:
        status, err = await _run(expand_argv(argv, alert), stdin=(alert.to_json_text() + "\n").encode(),
                                 env=alert_env(alert), timeout_s=timeout_s)
    except OSError as exc:
        detail = redact(f"cannot run it: {exc.strerror or exc}")
        log.warning("alert %s: %s: %s", alert.id, label, detail)
        return Delivery("command", label, False, detail)
    if status is None:
        detail = f"still running after {timeout_s:g}s: killed"
    elif status != 0:
        detail = f"exit status {status}" + (f": {err}" if err else "")
    else:
        return Delivery("command", label, True, "exit status 0")
    log.warning("alert %s: %s: %s", alert.id, label, detail)
    return Delivery("command", label, False, detail)


async def desktop_notify(alert: Alert, *, timeout_s: float = DESKTOP_TIMEOUT_S,
                         which: Callable[[str], str | None] = shutil.which) -> Delivery:
    program = which("notify-send")
    if program is None:
        detail = "notify-send not found (Debian/Ubuntu: apt install libnotify-bin)"
        log.warning("alert %s: desktop: %s", alert.id, detail)
        return Delivery("desktop", "desktop", False, detail)
    argv = [program, "--app-name=levtop", f"--urgency={_URGENCY.get(alert.severity, 'normal')}",
            f"levtop: {alert.title}", alert.reason]
    try:
        status, err = await _run(argv, stdin=None, env=None, timeout_s=timeout_s)
    except OSError as exc:
        status, err = -1, redact(str(exc.strerror or exc))
    if status == 0:
        return Delivery("desktop", "desktop", True, "notify-send")
    detail = "notify-send timed out" if status is None else f"notify-send exit status {status}" + (f": {err}" if err else "")
    log.warning("alert %s: desktop: %s", alert.id, detail)
    return Delivery("desktop", "desktop", False, detail)


class AlertSinks:
    """The configured deliveries outside the TUI (``[alerts] desktop, webhooks, command``)."""

    def __init__(self, settings: Any, *, tries: int = WEBHOOK_TRIES, timeout_s: float = WEBHOOK_TIMEOUT_S,
                 backoff_s: float = WEBHOOK_BACKOFF_S, command_timeout_s: float = COMMAND_TIMEOUT_S,
                 which: Callable[[str], str | None] = shutil.which):
        self.settings = settings
        self.tries, self.timeout_s, self.backoff_s = tries, timeout_s, backoff_s
        self.command_timeout_s = command_timeout_s
        self.which = which

    @property
    def configured(self) -> bool:
        s = self.settings
        return bool(s.desktop or s.webhooks or s.command)

    def labels(self) -> list[str]:
        s = self.settings
        out = ["desktop"] if s.desktop else []
        out += [webhook_label(i, url) for i, url in enumerate(s.webhooks)]
        if s.command:
            out.append(command_label(s.command))
        return out

    async def deliver(self, alert: Alert) -> list[Delivery]:
        """Every configured kind at once; one Delivery each, in ``labels()`` order. Never raises."""
        s = self.settings
        jobs: list[tuple[str, str, Any]] = []
        if s.desktop:
            jobs.append(("desktop", "desktop", desktop_notify(alert, which=self.which)))
        for i, url in enumerate(s.webhooks):
            label = webhook_label(i, url)
            jobs.append(("webhook", label, post_webhook(url, alert, label, tries=self.tries, timeout_s=self.timeout_s,
                                                        backoff_s=self.backoff_s)))
        if s.command:
            jobs.append(("command", command_label(s.command),
                         run_command(s.command, alert, timeout_s=self.command_timeout_s)))
        results = await asyncio.gather(*(job for _, _, job in jobs), return_exceptions=True)
        out: list[Delivery] = []
        for (kind, label, _), result in zip(jobs, results):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                detail = redact(f"{type(result).__name__}: {result}")
                for url in s.webhooks:
                    detail = _scrub(detail, url, label)
                log.error("alert %s: %s failed: %s", alert.id, label, detail)
                out.append(Delivery(kind, label, False, detail))
            else:
                out.append(result)
        return out


class AlertDispatcher:
    """Delivers alerts in the background of a running program, one alert after the other (so
    they arrive in order), each to every sink at once. ``submit`` never blocks or raises."""

    def __init__(self, sinks: AlertSinks, queue_size: int = QUEUE_SIZE):
        self.sinks = sinks
        self.results: list[list[Delivery]] = []
        """What each delivered alert gave, newest last (the last 100)."""
        self._queue: asyncio.Queue[Alert] | None = None
        self._task: asyncio.Task | None = None
        self._size = queue_size

    def submit(self, alert: Alert) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue(self._size)
            self._task = asyncio.get_running_loop().create_task(self._work(), name="levtop-alerts")
        if self._queue.full():
            dropped = self._queue.get_nowait()
            self._queue.task_done()
            log.warning("alert %s dropped: %d alerts already waiting for delivery", dropped.id, self._size)
        self._queue.put_nowait(alert)

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            alert = await self._queue.get()
            try:
                results = await self.sinks.deliver(alert)
                self.results = (self.results + [results])[-100:]
            except Exception:  # deliver never raises; belt and braces for a long-running app
                log.exception("alert %s: delivery failed", alert.id)
            finally:
                self._queue.task_done()

    async def drain(self, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
        """Wait for what is queued; True when all of it went out within ``timeout_s``."""
        if self._queue is None:
            return True
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
            return True
        except asyncio.TimeoutError:
            return False

    async def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Let queued alerts go out (at most ``timeout_s``), then stop."""
        if self._task is None:
            return
        if not await self.drain(timeout_s):
            log.warning("alerts: %d not delivered at exit", self._queue.qsize() if self._queue else 0)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        self._queue = None


def external_allowed() -> bool:
    """False in a tab of ``levtop serve`` (see SERVED_ENV)."""
    return os.environ.get(SERVED_ENV) != "1"


class AlertHub:
    """The engine and the background deliveries together: what the app and ``levtop watch`` hold.

    ``feed`` takes every asset's verdict at one data time and returns the alerts that became due
    (for the caller's bell and notification); desktop, webhook and command deliveries of those
    alerts are started in the background when ``external``."""

    def __init__(self, settings: Any, phase_reason: Callable[[Any], str] | None = None, *,
                 external: bool | None = None, sinks: AlertSinks | None = None):
        self.settings = settings
        rules = AlertRules(min_duration_ms=settings.min_duration_ms, phases=settings.phases,
                           signals=tuple(settings.signals))
        self.engine = AlertEngine(rules, phase_reason=phase_reason)
        if external is None:
            external = external_allowed()
        self.sinks = sinks or AlertSinks(settings)
        self.dispatcher = AlertDispatcher(self.sinks) if external and self.sinks.configured else None

    @property
    def active(self) -> bool:
        return self.engine.rules.active

    def feed(self, verdicts: Iterable[Any] | Mapping[str, Any], ready: bool = True) -> list[Alert]:
        """``ready`` False while the first backfill lands: the states become the baseline."""
        if not self.active:
            return []
        if not ready:
            self.engine.baseline(verdicts)
            return []
        alerts = self.engine.feed(verdicts)
        for alert in alerts:
            log.info("alert %s: %s", alert.id, alert.text)
            if self.dispatcher is not None:
                self.dispatcher.submit(alert)
        return alerts

    async def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.close(timeout_s)


async def fire_test_alert(settings: Any, asset: str, out: Any, *, terminal: bool,
                          sinks: AlertSinks | None = None, now_ms: int | None = None) -> int:
    """``levtop alerts test``: one synthetic alert through every configured kind, a line per
    kind on ``out``; 0 when nothing failed, 1 otherwise."""
    import time

    from levtop.alerts import synthetic_alert
    from levtop.timeparse import format_duration

    alert = synthetic_alert(asset, now_ms if now_ms is not None else int(time.time() * 1000))
    what = (["phase changes"] if settings.phases else []) + (
        [f"signal changes ({', '.join(settings.signals)})"] if settings.signals else [])
    held = format_duration(settings.min_duration_ms) if settings.min_duration_ms else "0s"
    print(f"alerts on: {' and '.join(what) or 'nothing ([alerts] phases = false, signals = [])'}; "
          f"a change counts once it has held {held} of data time", file=out)
    print(f"sending: {alert.text}", file=out)
    if not settings.bell:
        print("bell: off", file=out)
    elif terminal:
        print("\a", end="", file=out, flush=True)
        print("bell: ok (rang this terminal; the monitor rings its own on each alert)", file=out)
    else:
        print("bell: TUI only (stdout is not a terminal; the monitor rings the bell on each alert)", file=out)
    print("notification: TUI only (the monitor shows each alert on screen)" if settings.notification
          else "notification: off", file=out)
    sinks = sinks or AlertSinks(settings)
    results = await sinks.deliver(alert)
    by_kind = {kind: [r.line for r in results if r.kind == kind] for kind in ("desktop", "webhook", "command")}
    print(*(by_kind["desktop"] or ["desktop: off"]), sep="\n", file=out)
    print(*(by_kind["webhook"] or ["webhooks: none configured"]), sep="\n", file=out)
    print(*(by_kind["command"] or ["command: none configured"]), sep="\n", file=out)
    out.flush()
    return 1 if any(not r.ok for r in results) else 0
