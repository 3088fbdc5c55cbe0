"""The Textual app: watchlist, six panels, status bar; sources run as workers.

Data flows one way: sources (workers) -> store -> view model (a thread worker, coalesced) ->
widgets. Panels never fetch or compute; a failing source shows on the status bar and in the
panels' borders, never as a crash or a modal.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import sys
import threading
import time
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.reactive import reactive, var
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from levtop.commands import LevtopCommands
from levtop.config import Config, ConfigError, save_setting
from levtop.model import DAY, is_valid_asset
from levtop.redact import redact
from levtop.theming import DEFAULT_THEME, SEMANTIC_DEFAULTS, builtin_themes, user_themes
from levtop.widgets.funding import FundingPanel
from levtop.widgets.key_bar import KeyBar
from levtop.widgets.flows import FlowsPanel
from levtop.widgets.liquidations import LiquidationsPanel
from levtop.widgets.long_short import LongShortPanel
from levtop.widgets.open_interest import OpenInterestPanel
from levtop.widgets.panel import Panel
from levtop.widgets.sentiment import SentimentPanel
from levtop.widgets.status_bar import StatusBar
from levtop.widgets.watchlist import Watchlist

if TYPE_CHECKING:
    from levtop.replay import Replay
    from levtop.view import MarketView, ViewBuilder

log = logging.getLogger(__name__)

WINDOWS = ("1d", "7d", "30d")
"""The chart windows, view.CHART_WINDOWS_MS's keys (the view imports numpy: not before the first frame)."""
MIN_WIDTH, MIN_HEIGHT = 60, 20
COMPACT_WIDTH, COMPACT_HEIGHT = 100, 30
WIDE_WIDTH = 160
EXIT_DEADLINE_S = 8.0
"""After SIGTERM/SIGHUP, the longest a clean exit (saving history) may take."""
DEMO_BACKFILL_DAYS = 10.0
"""Enough for every signal's window (14d stablecoins come from DefiLlama's daily history anyway),
and quick enough that the demo's panels fill within seconds."""
ALERTS_WAIT_S = 600.0
"""Until every source has answered once (at most this long), states are the alerts' baseline: a
live 30-day backfill at OKX's rate limit takes about 5 minutes, and a failed source counts as done."""
FIRST_FRAME_GRACE_S = 0.1
GIL_SWITCH_S = 0.001
VIEW_REFRESH_S = 1.0
"""How often new data reaches the screen, at most: a monitor reads well at once a second. Keys
refresh at once."""
VIEW_CPU_SHARE = 0.04
VIEW_REFRESH_MAX_S = 3.0
"""New data is drawn at most as often as keeps drawing it under VIEW_CPU_SHARE of a core (a view
of a fast market, or on a slow machine, can cost a tenth of a second), and at least every
VIEW_REFRESH_MAX_S: the monitor stays cheap to leave running, the figures stay current."""
DEMO_LEAD_MS = 26 * 3_600_000
"""The demo starts a day before the scenario's flush: the cascade meter needs 24h of liquidations."""
REPLAY_ACTIONS = frozenset({"replay_pause", "replay_faster", "replay_slower", "replay_back", "replay_forward"})
SOURCE_ACTIONS = frozenset({"toggle_pause", "refresh_now"})
"""Freezing the view and polling now: nothing to do in a replay, where space pauses the clock."""

# Which sources feed which panel, for the "stale" notice in its border.
PANEL_SOURCES = {
    OpenInterestPanel: ("binance", "bybit", "okx"),
    FundingPanel: ("binance", "bybit", "okx"),
    LongShortPanel: ("binance", "bybit", "okx"),
    LiquidationsPanel: ("binance", "bybit", "okx"),
    SentimentPanel: ("fear_greed",),
    FlowsPanel: ("stablecoins",),
}


def import_data_modules(demo: bool) -> None:
    """Import what the data's start needs, so that its ``import`` statements find them loaded."""
    import levtop.pipeline  # noqa: F401
    import levtop.view  # noqa: F401

    if demo:
        import levtop.sim.server  # noqa: F401


class RunMode(NamedTuple):
    """Where the data comes from: ``live`` (config), ``sim`` (a running `levtop sim`), ``demo``
    (a simulator started in-process) or ``replay`` (a dataset, given to the app as a Replay).
    A NamedTuple: a dataclass costs the first frame 3 ms more to create."""

    kind: str = "live"
    sim_url: str | None = None
    scenario: str = "recovery"
    speed: float = 1800.0
    seed: int = 1
    start_ms: int | None = None


class LevtopApp(App):
    TITLE = "levtop"
    COMMANDS = App.COMMANDS | {LevtopCommands}
    CSS = """
    Screen { layout: vertical; }
    #body { height: 1fr; }
    #panels {
        grid-size: 2 3;
        grid-gutter: 0 0;
        height: 1fr;
    }
    #panels.-wide { grid-size: 3 2; }
    #too-small {
        display: none;
        width: 100%;
        height: 100%;
        content-align: center middle;
        text-align: center;
        color: $warning;
    }
    Screen.-too-small #too-small { display: block; }
    Screen.-too-small #body, Screen.-too-small StatusBar, Screen.-too-small KeyBar { display: none; }
    """

    BINDINGS = [
        Binding("j,down", "next_asset", "Next asset", id="next-asset"),
        Binding("k,up", "previous_asset", "Prev asset", id="previous-asset"),
        # Replay only (check_action hides them otherwise).
        Binding("space", "replay_pause", "Pause", id="replay-pause"),
        Binding("plus", "replay_faster", "Faster", id="replay-faster"),
        Binding("minus", "replay_slower", "Slower", id="replay-slower"),
        Binding("left", "replay_back", "-1 day", id="replay-back"),
        Binding("right", "replay_forward", "+1 day", id="replay-forward"),
        Binding("z,enter", "zoom", "Zoom", id="zoom"),
        Binding("left_square_bracket", "shorter_window", "Shorter", id="shorter-window"),
        Binding("right_square_bracket", "longer_window", "Longer", id="longer-window"),
        Binding("e", "explain", "Explain", id="explain"),
        Binding("t", "cycle_theme", "Theme", id="cycle-theme"),
        Binding("p", "toggle_pause", "Pause", id="pause"),
        Binding("r", "refresh_now", "Refresh", id="refresh"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        *[Binding(str(n), f"jump({n})", show=False, id=f"jump-{n}") for n in range(1, 10)],
    ]

    # Vars, not reactives: a reactive of the app repaints the whole screen when it changes (a
    # 31 KB frame for a key that changes the status bar and two watchlist rows); the widgets
    # that show these repaint themselves.
    selected: reactive[str] = var("", init=False)
    window: reactive[str] = var("7d", init=False)
    paused: reactive[bool] = var(False, init=False)

    def __init__(self, config: Config, mode: RunMode | None = None, *, store=None, watch_data: bool = True,
                 persist_settings: bool = True, replay: Replay | None = None):
        super().__init__()
        self.config = config
        self.mode = mode or RunMode()
        self.replay = replay
        """The dataset and its clock when ``mode.kind`` is ``replay``: the data, instead of sources."""
        self._replay_busy = False
        self._replay_again = False
        self._replay_ended = False
        self.watchlist_assets: list[str] = list(config.assets)
        self.set_reactive(LevtopApp.selected, self.watchlist_assets[0])
        self.store = store
        self.pipeline = None
        self.simulator = None
        self.view_model: MarketView | None = None
        self._seen_versions: tuple | None = None
        self._view_started = -math.inf
        self._view_build_cpu = 0.0
        self._view_cpu = 0.0
        """CPU seconds the last view took: its build, then applying and drawing it."""
        self._watch_data = watch_data
        self._error_notified: set[str] = set()
        self._exit_deadline: threading.Timer | None = None
        self._alerts = None
        self._alerts_since = 0.0
        self._theme_names: list[str] = []
        self.persist_settings = persist_settings
        self._history_problem: str | None = None
        # Before the first frame, so that nothing is ever drawn in another theme's colours.
        self._theme_warnings = self._register_themes()

    @cached_property
    def builder(self) -> ViewBuilder:
        """Made on first use: the view, the engine and their numpy and polars are imported after
        the first frame (by the worker that starts the data, or the first view's build)."""
        from levtop.view import ViewBuilder

        return ViewBuilder(self.config.thresholds)

    # -- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("Enlarge the terminal to at least 60x20 to see levtop.", id="too-small")
        with Horizontal(id="body"):
            yield Watchlist()
            # The panels' content is composed after the first frame (Panel.compose_later).
            with Grid(id="panels"):
                yield OpenInterestPanel(deferred=True)
                yield FundingPanel(deferred=True)
                yield LongShortPanel(deferred=True)
                yield LiquidationsPanel(deferred=True)
                yield SentimentPanel(deferred=True)
                yield FlowsPanel(deferred=True)
        yield StatusBar()
        yield KeyBar()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(SEMANTIC_DEFAULTS)

    def on_mount(self) -> None:
        # The view's build and the history's save run in threads: by default a thread holding
        # the GIL keeps a waiting key press off the event loop for up to 5 ms at each switch.
        sys.setswitchinterval(GIL_SWITCH_S)
        self._handle_termination_signals()
        for warning in self.config.warnings:
            self.notify(warning, title="config", severity="warning", timeout=30, markup=False)
        for warning in self._theme_warnings:
            self.notify(warning, title="theme not loaded", severity="warning")
        bar = self.query_one(StatusBar)
        bar.badge = self._mode_badge()
        if not self._watch_data:
            bar.no_sources_text = "recorded data, no live sources"
        if self.replay is not None:
            bar.badge = self.replay.badge()
            bar.no_sources_text = f"replay of {self.replay.source}, no live sources"
        self._apply_size(self.size.width, self.size.height)
        # Once the first frame is out, the terminal gets a moment to draw it before the panels'
        # content and the data (imports of a second of CPU) compete with it for the machine.
        self.call_after_refresh(self.set_timer, FIRST_FRAME_GRACE_S, self._after_first_frame)
        self.set_interval(VIEW_REFRESH_S, self.refresh_view_if_changed)

    async def _after_first_frame(self) -> None:
        """What the first frame does not wait for: the panels' content, then the data."""
        await asyncio.gather(*(panel.compose_later() for panel in self.query(Panel)))
        if self._watch_data:
            self.start_data()

    def notify(self, message: str, *, title: str = "", **kwargs) -> None:
        """Every notification, masked: some quote an exception or a config error, which may
        hold a URL with a token, and a notification is on screen (and in screenshots)."""
        super().notify(redact(message), title=redact(title), **kwargs)

    def _handle_termination_signals(self) -> None:
        """SIGTERM (a service stopping) and SIGHUP (the SSH session or tmux pane going away)
        save history and exit, instead of leaving the app spinning on a dead terminal."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(signum, self._terminate, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread (tests) or a platform without signals
        if not self.is_headless and sys.__stdin__ is not None:
            # A pty can close with no SIGHUP sent to us (we are not its session's leader);
            # Textual's input thread then spins on end-of-file. Notice and exit the same way.
            self.set_interval(1.0, self._exit_if_terminal_gone)

    def _exit_if_terminal_gone(self) -> None:
        from levtop.terminal import hung_up

        if hung_up(sys.__stdin__.fileno()):
            log.info("the terminal went away")
            self._terminate(signal.SIGHUP)

    def _terminate(self, signum: int) -> None:
        log.info("exiting on signal %s", signal.Signals(signum).name)
        self._start_exit_deadline(128 + signum)
        self.exit(return_code=0)

    def _start_exit_deadline(self, code: int) -> None:
        """If the clean exit has not finished in EXIT_DEADLINE_S, save the history and leave.

        A thread, not the event loop: on a terminal that went away mid-write, Textual's shutdown
        can block the loop itself (LinuxDriver.close waiting on its output queue forever)."""
        if self._exit_deadline is None:
            self._exit_deadline = threading.Timer(EXIT_DEADLINE_S, self._exit_now, args=(code,))
            self._exit_deadline.daemon = True
            self._exit_deadline.start()

    def _exit_now(self, code: int) -> None:
        log.warning("the clean exit did not finish in %g s: saving history and exiting", EXIT_DEADLINE_S)
        if self.store is not None and self.store.directory is not None and self.mode.kind == "live":
            try:
                self.store.save()  # waits for a save in progress, then writes what it left
            except Exception:  # noqa: BLE001 - exiting regardless; the log says why
                log.exception("saving history at exit failed")
        logging.shutdown()
        os._exit(code)

    def _register_themes(self) -> list[str]:
        """Register levtop's and the user's themes and choose the configured one; returns the
        warnings for theme files that did not load (shown once the app is up)."""
        for theme in builtin_themes():
            self.register_theme(theme)
        mine, warnings = user_themes(self.config.path.parent)
        for theme in mine:
            self.register_theme(theme)
        self._theme_names = [t.name for t in builtin_themes()] + [t.name for t in mine] + [
            name for name in self.available_themes if not name.startswith("levtop-") and name not in
            {t.name for t in mine}]
        self.theme = self.config.theme if self.config.theme in self.available_themes else DEFAULT_THEME
        return warnings

    def on_resize(self, event) -> None:
        self._apply_size(event.size.width, event.size.height)

    def _apply_size(self, width: int, height: int) -> None:
        self.screen.set_class(width < MIN_WIDTH or height < MIN_HEIGHT, "-too-small")
        compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        for widget in (*self.query(Panel), self.query_one(StatusBar), self.query_one(Watchlist)):
            widget.compact = compact
        self.query_one("#panels").set_class(width >= WIDE_WIDTH, "-wide")

    # -- data ----------------------------------------------------------------------------------

    def start_data(self) -> None:
        if self.replay is not None:
            self.replay.clock.restart()
            self.store = self.replay.store
            self.set_interval(VIEW_REFRESH_S, self.replay_tick)
            self.run_worker(self.replay_tick(), name="replay", group="setup", exit_on_error=False)
            return
        self.run_worker(self._start_sources(), name="start", group="setup", exit_on_error=False)

    async def replay_tick(self) -> None:
        """Feed the store up to the replay's clock (in a thread: a seek back refills it from the
        start), then show it. One feed at a time; the clock is read here, not in the thread."""
        replay = self.replay
        if replay is None:
            return
        if self._replay_busy:
            self._replay_again = True  # a key moved the clock meanwhile: feed again after this
            return
        self._replay_busy, changed = True, False
        try:
            while True:
                self._replay_again = False
                changed |= await asyncio.to_thread(replay.feeder.feed_to, replay.clock.now())
                if not self._replay_again:
                    break
        finally:
            self._replay_busy = False
        self.store = replay.store
        self.query_one(StatusBar).badge = replay.badge()
        if replay.ended and not self._replay_ended:
            self.notify("end of data: the replay stops here; ← seeks back a day", title="replay", timeout=4)
        self._replay_ended = replay.ended
        if changed:
            self.refresh_view_if_changed()

    def _replay_key(self, change) -> None:
        """A replay key: change the clock, show it at once."""
        if self.replay is None:
            return
        change(self.replay.clock)
        self.query_one(StatusBar).badge = self.replay.badge()
        self.run_worker(self.replay_tick(), name="replay", group="replay", exit_on_error=False)

    def action_replay_pause(self) -> None:
        self._replay_key(lambda clock: clock.toggle_pause())

    def action_replay_faster(self) -> None:
        self._replay_key(lambda clock: clock.faster())

    def action_replay_slower(self) -> None:
        self._replay_key(lambda clock: clock.slower())

    def action_replay_back(self) -> None:
        from levtop.replay import SEEK_MS

        self._replay_key(lambda clock: clock.seek(-SEEK_MS))

    def action_replay_forward(self) -> None:
        from levtop.replay import SEEK_MS

        self._replay_key(lambda clock: clock.seek(SEEK_MS))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in REPLAY_ACTIONS:
            return self.replay is not None
        if action in SOURCE_ACTIONS:
            return self.replay is None
        return True

    async def _start_sources(self) -> None:
        # In a thread: these imports (numpy, polars, ccxt, aiohttp, the engine) take seconds of
        # CPU, which the screen and the keys should not wait for.
        await asyncio.to_thread(import_data_modules, self.mode.kind == "demo")
        from levtop.pipeline import Pipeline
        from levtop.store import HistoryStore

        sim_url = self.mode.sim_url
        if self.mode.kind == "demo":
            from levtop.sim.server import Simulator

            self.simulator = Simulator(scenario=self.mode.scenario, seed=self.mode.seed, speed=self.mode.speed,
                                       assets=self.watchlist_assets, start_ms=self.mode.start_ms, port=0,
                                       lead_ms=DEMO_LEAD_MS)
            await self.simulator.start()
            sim_url = self.simulator.base_url
        if self.store is None:
            if self.mode.kind == "live":
                retention = int(self.config.store.retention_days * DAY)
                try:
                    store, warnings = await asyncio.to_thread(HistoryStore.load, self.config.data_dir, retention)
                except OSError as exc:
                    # An unreadable data dir must not stop the monitor: run in memory, say so.
                    store, warnings = HistoryStore(retention_ms=retention), []
                    self._history_problem = f"cannot read {self.config.data_dir}: {exc.strerror or exc}"
                for warning in warnings:
                    self.notify(warning, title="history", severity="warning", timeout=15)
                self.store = store
                self.set_interval(self.config.store.flush_interval_s, self.save_history)
            else:
                self.store = HistoryStore(retention_ms=int(self.config.store.retention_days * DAY))
        demo = self.mode.kind == "demo"
        if demo:
            speed = self.mode.speed
        elif sim_url:
            from levtop.pipeline import sim_speed

            speed = await sim_speed(sim_url)
        else:
            speed = 1.0
        self.pipeline = Pipeline(self.config, self.store, assets=self.watchlist_assets, sim_url=sim_url,
                                 rate_limit=not demo, backfill_days=DEMO_BACKFILL_DAYS if demo else 30.0,
                                 time_scale=speed)
        if self._history_problem:
            self._report_history(self._history_problem)
        for runnable in self.pipeline.runnables():
            self.run_worker(runnable.run(), name=runnable.name, group="sources", exit_on_error=False)

    @work(thread=True, exclusive=True, group="history", exit_on_error=False, description="save history")
    def save_history(self) -> None:
        if self.store is None or self.store.directory is None:
            return
        try:
            self.store.save()
        except OSError as exc:
            # A full disk or an unwritable dir: keep running on what is in memory, and say so in
            # the status bar until a save works again.
            self.call_from_thread(self._report_history, f"cannot write {self.store.directory}: {exc.strerror or exc}")
        else:
            self.call_from_thread(self._report_history, None)

    def _report_history(self, problem: str | None) -> None:
        if self.pipeline is None:
            self._history_problem = problem
            return
        if problem is None:
            self.pipeline.health.ok("history", "disk")
        else:
            if problem != self._history_problem:
                self.notify(problem + "; history is kept in memory meanwhile", title="history not saved",
                            severity="error", timeout=30)
            self.pipeline.health.failed("history", "disk", problem)
        self._history_problem = problem

    def refresh_view_if_changed(self, force: bool = False) -> None:
        if self.store is None or (self.paused and not force):
            return
        health = self.pipeline.health if self.pipeline else None
        versions = (self.store.version, health.version if health else 0, self.selected, self.window,
                    tuple(self.watchlist_assets), self.store.newest_ts)
        if versions == self._seen_versions and not force:
            return
        now = self.clock()
        # Half a tick of tolerance: the timer's ticks decide, not their jitter.
        if not force and now - self._view_started < self.view_interval() - VIEW_REFRESH_S / 2:
            return
        self._view_started = now
        self._seen_versions = versions
        series = self.store.series_map(self.watchlist_assets)
        # A key's view evaluates the selected asset alone: keys pressed in a row each wait for
        # one; the watchlist's other rows move on with the next view of new data.
        self._build_view(series, self.store.newest_ts, 0 if force else 1)

    clock = staticmethod(time.monotonic)
    """The view cadence's clock (a test seam)."""

    def view_interval(self) -> float:
        """Seconds between two views of new data (see VIEW_CPU_SHARE)."""
        return min(VIEW_REFRESH_MAX_S, max(VIEW_REFRESH_S, self._view_cpu / VIEW_CPU_SHARE))

    # A fixed description: by default Textual describes a worker by the repr of its arguments,
    # which here would print every numpy array of the store twice a second.
    @work(thread=True, exclusive=True, group="view", exit_on_error=False, description="build the view")
    def _build_view(self, series, now, others: int = 1) -> None:
        started = time.thread_time()
        health = self.pipeline.health.snapshot() if self.pipeline else {}
        notes = {v.name: v.liquidation_note for v in self.pipeline.venues.values()
                 if v.liquidation_note} if self.pipeline else {}
        view = self.builder.build_from_series(series, now, self.watchlist_assets, self.selected, self.window,
                                              health, notes=notes, others_per_build=others)
        self._view_build_cpu = time.thread_time() - started
        # A build overtaken by a newer one (a key pressed meanwhile) must not replace its view.
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self.apply_view, view)
        from levtop.heap import release_free_memory  # ctypes: kept off the first frame

        release_free_memory()  # at most once a minute: the view's temporaries leave holes in the heaps

    def apply_view(self, view: MarketView) -> None:
        if view.selected.asset != self.selected and self.selected in self.watchlist_assets:
            return  # built for the selection before a key moved it: the build for the new one follows
        started = time.thread_time()
        self.view_model = view
        for panel in self.query(Panel):
            panel.show(view)
            panel.stale_reason = self._stale_reason(type(panel), view)
        self.query_one(StatusBar).show(view)
        self.query_one(Watchlist).show(view)
        self._alert(view)
        self.call_after_refresh(self._note_view_cpu, started)
        if self.freeze_long_lived and self.pipeline is not None:
            from levtop.headless import first_round_done

            if first_round_done(self.pipeline):
                self.freeze_long_lived = False
                self.call_after_refresh(self._freeze_long_lived)

    freeze_long_lived = False
    """Freeze what lives as long as the process out of the garbage collector's passes once every
    source has had its first round (levtop.long_lived). The CLI sets it; an app run inside
    another program (the tests, `levtop serve`'s tabs) leaves that program's heap alone."""

    def _freeze_long_lived(self) -> None:
        from levtop.long_lived import freeze_long_lived

        frozen, seconds = freeze_long_lived()
        log.info("froze %d long-lived objects out of the garbage collector's passes (%.0f ms)", frozen, seconds * 1000)

    def _note_view_cpu(self, started: float) -> None:
        """After the frame that drew the view: what the view cost, its build included."""
        self._view_cpu = self._view_build_cpu + time.thread_time() - started

    def _alert(self, view: MarketView) -> None:
        """Alerts on the watchlist's phase and signal changes (levtop.alerts): a notification and
        the bell here, desktop/webhook/command in the background (levtop.alert_sinks)."""
        settings = self.config.alerts
        if view.now is None or self.pipeline is None or not (settings.phases or settings.signals):
            return
        if self._alerts is None:
            from levtop.alert_sinks import AlertHub
            from levtop.watch import phase_reason

            self._alerts = AlertHub(settings, phase_reason)
            self._alerts_since = time.monotonic()
        from levtop.headless import first_round_done

        # The backfill landing is not the market changing: until every source has answered once
        # (or ALERTS_WAIT_S passed), the states are the baseline.
        ready = first_round_done(self.pipeline) or time.monotonic() - self._alerts_since > ALERTS_WAIT_S
        verdicts = [v for v in view.verdicts.values() if v is not None]
        for alert in self._alerts.feed(verdicts, ready=ready):
            if settings.notification:
                self.notify(alert.text, title="alert", severity=alert.severity, timeout=30, markup=False)
            if settings.bell:
                self.bell()

    def _stale_reason(self, panel_type: type, view: MarketView) -> str:
        problems = []
        for source in PANEL_SOURCES.get(panel_type, ()):
            health = view.health.get(source)
            if health is not None and health.status.value in ("STALE", "DOWN"):
                problems.append(f"{source} {health.status.value}")
        return ", ".join(problems)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state is WorkerState.ERROR and worker.name not in self._error_notified:
            # One notice per failing worker: a source that keeps failing must not become a storm.
            self._error_notified.add(worker.name)
            log.error("worker %s failed", worker.name, exc_info=worker.error)
            self.notify(f"{worker.name}: {worker.error}", title="stopped", severity="error", timeout=20)

    async def on_unmount(self) -> None:
        await self.shutdown_data()

    async def shutdown_data(self) -> None:
        self.workers.cancel_group(self, "sources")
        if self.pipeline is not None:
            await self.pipeline.close()
        if self.simulator is not None:
            await self.simulator.stop()
            self.simulator = None
        if self.store is not None and self.store.directory is not None and self.mode.kind == "live":
            try:
                await asyncio.to_thread(self.store.save)
            except OSError:
                log.exception("saving history at exit failed")
        if self._alerts is not None:
            await self._alerts.close(5)

    # -- actions -------------------------------------------------------------------------------

    def watch_selected(self, asset: str) -> None:
        if self.view_model is not None:
            # Shown at once in the bar and the list; the panels follow with the new view, whose
            # build starts after that frame is out: its thread would compete with it for the GIL.
            self.query_one(StatusBar).preview(asset)
            self.query_one(Watchlist).preview(asset)
            self.call_after_refresh(self.refresh_view_if_changed, force=True)
        else:
            self.refresh_view_if_changed(force=True)

    def watch_window(self) -> None:
        self.refresh_view_if_changed(force=True)

    def watch_paused(self, paused: bool) -> None:
        # In the status bar's badge, which stays while paused (the App's sub_title, which
        # this set before, is shown by no widget and repainted the whole screen).
        self.query_one(StatusBar).badge = self._mode_badge()
        if not paused:
            self.refresh_view_if_changed(force=True)

    def _mode_badge(self) -> str:
        """'DEMO', 'SIM', 'REPLAY' or nothing (live), with 'PAUSED' while the view is frozen."""
        mode = {"demo": "DEMO", "sim": "SIM", "replay": "REPLAY"}.get(self.mode.kind, "")
        if not self.paused:
            return mode
        return f"{mode} · PAUSED" if mode else "PAUSED"

    def on_watchlist_selected(self, message: Watchlist.Selected) -> None:
        if message.asset != self.selected:
            self.selected = message.asset

    def _move(self, step: int) -> None:
        assets = self.watchlist_assets
        index = assets.index(self.selected) if self.selected in assets else 0
        self.selected = assets[(index + step) % len(assets)]

    def action_next_asset(self) -> None:
        self._move(1)

    def action_previous_asset(self) -> None:
        self._move(-1)

    def action_jump(self, number: int) -> None:
        if 0 < number <= len(self.watchlist_assets):
            self.selected = self.watchlist_assets[number - 1]

    def action_shorter_window(self) -> None:
        self.window = WINDOWS[max(0, WINDOWS.index(self.window) - 1)]

    def action_longer_window(self) -> None:
        self.window = WINDOWS[min(len(WINDOWS) - 1, WINDOWS.index(self.window) + 1)]

    def theme_names(self) -> list[str]:
        return [n for n in self._theme_names if n in self.available_themes]

    def action_cycle_theme(self) -> None:
        names = self.theme_names()
        self.set_theme(names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else names[0])

    def set_theme(self, name: str) -> None:
        self.theme = name
        self.notify(f"theme: {name}", timeout=2)
        self._save_setting("theme", name)

    def _save_setting(self, key: str, value) -> None:
        if not self.persist_settings or (key == "assets" and self.replay is not None):
            # A replay's watchlist is the dataset's assets, not the user's.
            return
        try:
            save_setting(self.config.path, key, value)
        except (ConfigError, OSError) as exc:
            self.notify(f"not saved: {exc}", title="config", severity="warning", timeout=10)

    def select_asset(self, asset: str) -> None:
        if asset in self.watchlist_assets:
            self.selected = asset

    def remove_asset(self, asset: str) -> None:
        if asset not in self.watchlist_assets or len(self.watchlist_assets) == 1:
            return
        self.watchlist_assets.remove(asset)
        if self.selected == asset:
            self.selected = self.watchlist_assets[0]
        self._save_setting("assets", list(self.watchlist_assets))
        self.restart_sources()

    def add_asset(self, asset: str) -> None:
        asset = asset.strip().upper()
        venues = self.pipeline.venues.values() if self.pipeline else []
        markets = [v for v in venues if v.exchange is not None and getattr(v.exchange, "markets", None)]
        if asset in self.watchlist_assets:
            self.select_asset(asset)
            return
        if markets and not any(f"{asset}/USDT:USDT" in v.exchange.markets for v in markets):
            self.notify(f"{asset} is not listed on {', '.join(v.name for v in markets)}", title="unknown asset",
                        severity="warning", timeout=6)
            return
        if not markets and not is_valid_asset(asset):
            self.notify(f"'{asset}' is not an asset symbol", title="unknown asset", severity="warning", timeout=6)
            return
        self.watchlist_assets.append(asset)
        self.selected = asset
        self._save_setting("assets", list(self.watchlist_assets))
        self.restart_sources()

    def restart_sources(self) -> None:
        """Follow a changed watchlist: stop the sources and start them again for the new list."""
        if not self._watch_data or self.mode.kind in ("demo", "replay"):
            # The demo's simulator models a fixed set of assets, a replay's dataset holds what it
            # holds: their watchlist is not rebuilt.
            self.refresh_view_if_changed(force=True)
            return
        self.workers.cancel_group(self, "sources")
        old = self.pipeline
        self.pipeline = None

        async def restart() -> None:
            if old is not None:
                await old.close()
            await self._start_sources()

        self.run_worker(restart(), name="restart", group="setup", exit_on_error=False)

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.notify("paused: the view is frozen, data keeps coming" if self.paused else "resumed", timeout=3)

    def action_refresh_now(self) -> None:
        if self.pipeline is not None:
            self.pipeline.refresh_now()
        self.refresh_view_if_changed(force=True)

    def action_help(self) -> None:
        from levtop.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_explain(self) -> None:
        from levtop.screens.explain import ExplainScreen

        if self.view_model is not None:
            self.push_screen(ExplainScreen(self.view_model, self.builder.thresholds))

    def action_zoom(self) -> None:
        from levtop.screens.zoom import ZoomScreen

        focused = self.focused
        panel = focused if isinstance(focused, Panel) else next(
            (p for p in self.query(Panel) if p.has_focus_within), None)
        if panel is None or self.store is None:
            self.notify("focus a panel first (tab), then z", timeout=3)
            return
        self.push_screen(ZoomScreen(type(panel), self))
