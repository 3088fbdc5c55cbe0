"""Issue 8's acceptance check, re-runnable: a recorded simulated week, replayed and backtested,
shows the phases a live monitor showed.

    .venv/bin/python tools/acceptance_week.py --json-out /tmp/acceptance.json

1. `levtop sim` (recovery scenario, seed 1, a fixed launch time) on 127.0.0.1, a free port;
2. against it at once, `levtop record --out DIR --until <launch + 7 days>` and `levtop watch`
   (the live monitor's engine and sources without a UI: its phase lines are what a live screen
   showed), watch's NDJSON kept until the simulator is past the same time;
3. `levtop backtest DIR --asset A` (text and --json) for each asset: the forward-return table;
4. the replay, headless: `levtop.replay`'s clock on a hand-moved timer and its feeder, the
   verdict taken as the live view takes it (the store's newest sample as "now") on a grid of
   data times;
5. the comparison, per asset, from watch's first line to the end of the week:
   - each watch phase line against the replay's phase at its data time, and, when they differ,
     whether the replay reaches the same phase within one poll lag (live reads data as it
     arrives: a poll interval of the slowest endpoint plus watch's evaluation period, in data
     time), or not at all;
   - the watch timeline (its phase as-of each grid time) against the replay's, disagreement
     runs listed with their times;
   - the replay against the backtest at every backtest step (these must be equal: same data,
     same engine);
   - the run of distinct phases each shows.

Exit status 0 when the three agree (every difference within the lag, the same phases in the
same order, replay == backtest), 1 when not, 2 on a bad argument. Nothing but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tui"))

from levtop.config import DEFAULT_POLL_S  # noqa: E402
from levtop.dataset import read_dataset  # noqa: E402
from levtop.errors import UserError  # noqa: E402
from levtop.fmt import utc  # noqa: E402
from levtop.model import DAY, MINUTE  # noqa: E402
from levtop.pipeline import MIN_POLL_S  # noqa: E402
from levtop.replay import prepare_replay  # noqa: E402
from levtop.signals import Thresholds  # noqa: E402
from levtop.timeparse import parse_duration, parse_time  # noqa: E402
from levtop.watch import EVALUATE_EVERY_S, evaluate_series  # noqa: E402

DEFAULT_START = "2026-05-28T20:40Z"
"""A fixed launch, so that every run plays the same market (the simulator's default is now)."""
FORWARD_HEAD = "forward returns after RESTART and TRAP entries"
PER_PHASE_HEAD = "forward returns per phase"


class Failure(Exception):
    """The run itself broke (a process failed or hung): no verdict on the phases."""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the processes ---------------------------------------------------------------------------


def levtop(*args: str) -> list[str]:
    return [sys.executable, "-m", "levtop", *args]


def isolated_env(work: Path) -> dict[str, str]:
    """The user's config, store and log are not this run's: defaults, and files in ``work``."""
    env = dict(os.environ)
    env.update(LEVTOP_CONFIG=str(work / "config.toml"), LEVTOP_DATA_DIR=str(work / "data"),
               LEVTOP_LOG=str(work / "levtop.log"), PYTHONUNBUFFERED="1")
    return env


def start_sim(args: argparse.Namespace, work: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """`levtop sim` on a free port (port 0: the OS picks, the simulator prints its URL first)."""
    with open(work / "sim.log", "w") as log:
        proc = subprocess.Popen(
            levtop("sim", "--port", "0", "--scenario", "recovery", "--seed", str(args.seed), "--speed", f"{args.speed:g}",
                   "--assets", ",".join(args.assets), "--start", args.start),
            stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=60):
            stop(proc, "sim")
            raise Failure(f"levtop sim printed no URL within 60 s (see {work / 'sim.log'})")
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        stop(proc, "sim")
        raise Failure(f"levtop sim did not start: {url!r} (see {work / 'sim.log'})")
    return proc, url


def sim_now(url: str) -> int:
    with urllib.request.urlopen(url + "/_sim/clock", timeout=5) as response:
        return int(json.load(response)["now_ms"])


def stop(proc: subprocess.Popen, name: str, timeout: float = 30.0) -> int:
    """SIGTERM (the commands save and flush on it), then SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"acceptance: {name} did not stop within {timeout:g} s of SIGTERM; killed")
            proc.kill()
            proc.wait()
    return proc.returncode


@dataclass
class Recording:
    url: str
    dataset: Path
    watch_lines: list[dict[str, Any]]
    record_exit: int
    watch_exit: int
    real_s: float


def record_and_watch(args: argparse.Namespace, work: Path, launch: int, until: int) -> Recording:
    env = isolated_env(work)
    dataset = work / "week"
    watch_out = work / "watch.ndjson"
    sim, url = start_sim(args, work, env)
    started = time.monotonic()
    say(f"acceptance: sim at {url}, launch {utc(launch)} UTC, {args.speed:g}x; recording to {dataset} "
        f"and watching until {utc(until)} UTC")
    record = watch = None
    files = ExitStack()
    try:
        assets = ",".join(args.assets)
        record = subprocess.Popen(
            levtop("record", "--sim", url, "--assets", assets, "--out", str(dataset), "--out-every", "30s",
                   "--backfill", args.backfill, "--until", utc_iso(until)),
            stdout=subprocess.DEVNULL, stderr=files.enter_context(open(work / "record.log", "w")), env=env)
        # Status lines every 10 s: the sources' health through the week, for whoever reads watch.ndjson.
        watch = subprocess.Popen(
            levtop("watch", "--sim", url, "--assets", assets, "--backfill", args.backfill, "--status-every", "10s"),
            stdout=files.enter_context(open(watch_out, "w")),
            stderr=files.enter_context(open(work / "watch.log", "w")), env=env)
        # The week in real time at this speed, with room for a slow, shared machine.
        budget = (until - launch) / 1000 / args.speed * 2 + 300
        try:
            record_exit = record.wait(budget)
        except subprocess.TimeoutExpired:
            raise Failure(f"levtop record did not reach {utc(until)} within {budget:.0f} s "
                          f"(see {work / 'record.log'})") from None
        if record_exit != 0:
            raise Failure(f"levtop record exited {record_exit} (see {work / 'record.log'})")
        # Watch reads the same market a poll or two behind: let the simulator pass the end by
        # the lag before it stops, so its view of the last hours is complete too.
        lag = poll_lag_ms(args.speed)
        while watch.poll() is None and sim_now(url) < until + lag:
            time.sleep(0.5)
        watch_exit = stop(watch, "watch")
    except OSError as exc:
        raise Failure(f"the simulator stopped answering: {exc} (see {work / 'sim.log'})") from None
    finally:
        for proc, name in ((record, "record"), (watch, "watch")):
            if proc is not None:
                stop(proc, name)
        stop(sim, "sim")
        files.close()
        if sim.stdout is not None:
            sim.stdout.close()
    lines = [json.loads(line) for line in watch_out.read_text().splitlines() if line.strip()]
    return Recording(url, dataset, lines, record_exit, watch_exit, time.monotonic() - started)


RUN_KEYS = ("speed", "seed", "start", "days", "assets", "backfill")


def save_recording(work: Path, rec: Recording, args: argparse.Namespace) -> None:
    """What --analyse needs besides the dataset and watch's output."""
    run = {"url": rec.url, "record_exit": rec.record_exit, "watch_exit": rec.watch_exit, "real_s": rec.real_s,
           **{k: getattr(args, k) for k in RUN_KEYS}}
    (work / "run.json").write_text(json.dumps(run, indent=2) + "\n")


def load_recording(work: Path, args: argparse.Namespace) -> Recording:
    """An earlier run's recording, its parameters put back into ``args``."""
    try:
        run = json.loads((work / "run.json").read_text())
        lines = [json.loads(line) for line in (work / "watch.ndjson").read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise UserError(f"--analyse {work}: not the workdir of a finished run ({exc})") from None
    for k in RUN_KEYS:
        setattr(args, k, run[k])
    args.launch = parse_time(args.start, "--start")
    return Recording(run["url"], work / "week", lines, run["record_exit"], run["watch_exit"], run["real_s"])


def utc_iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def poll_lag_ms(speed: float) -> int:
    """One poll interval of the slowest endpoint, plus watch's evaluation period, in data time:
    how far behind the data a live view can be (the pipeline polls at the simulator's speed, but
    never more than once a real second)."""
    slowest_real_s = max(max(MIN_POLL_S, s / speed) for s in DEFAULT_POLL_S.values())
    return int((slowest_real_s + EVALUATE_EVERY_S) * speed * 1000)


# -- backtest --------------------------------------------------------------------------------


def backtest(dataset: Path, asset: str, launch: int, step: str, work: Path, env: dict[str, str]) -> dict[str, Any]:
    """`levtop backtest` as a user runs it, text and JSON, from the launch on."""
    base = levtop("backtest", str(dataset), "--asset", asset, "--step", step, "--from", utc_iso(launch))
    text = subprocess.run(base, capture_output=True, text=True, env=env)
    js = subprocess.run(base + ["--json"], capture_output=True, text=True, env=env)
    (work / f"backtest-{asset}.txt").write_text(text.stdout + text.stderr)
    (work / f"backtest-{asset}.json").write_text(js.stdout + js.stderr)
    if text.returncode != 0 or js.returncode != 0:
        raise Failure(f"levtop backtest --asset {asset} failed: {(text.stderr or js.stderr).strip()}")
    start = text.stdout.find(FORWARD_HEAD)
    forward = text.stdout[start:].rstrip() if start >= 0 else ""
    steps = [(row["ts"], row["phase"]) for row in json.loads(js.stdout)]
    # With no RESTART or TRAP entry the table is one line saying so; with entries, the entries
    # and the per-phase summary.
    entries = start >= 0 and PER_PHASE_HEAD in forward
    return {"forward_table": forward, "forward_table_printed": start >= 0, "forward_entries": entries, "steps": steps}


# -- replay ----------------------------------------------------------------------------------


class HandTimer:
    """Real seconds for the replay clock, set by hand: the week is played as fast as it is
    evaluated, on the same clock arithmetic as the app's."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def replay_phases(dataset: Path, assets: Sequence[str], times: Sequence[int], speed: float) -> dict[str, dict[int, tuple[int, str]]]:
    """Per asset, {t: (verdict ts, phase)} for each data time ``t`` (ascending): the clock moved
    to t, the feeder brought to the clock, the verdict taken at the store's newest sample with
    watch's own evaluation (the app's view builder does the same)."""
    frame = read_dataset(dataset).frame
    timer = HandTimer()
    replay = prepare_replay(frame, str(dataset), speed=speed, timer=timer)
    start = replay.clock.now()
    if times[0] < start:
        raise Failure(f"the replay clock starts at {utc(start)}, after the first time to compare "
                      f"({utc(times[0])}): is --backfill at least 3 days?")
    thresholds = Thresholds()  # the defaults: the run's config file is absent on purpose
    out: dict[str, dict[int, tuple[int, str]]] = {a: {} for a in assets}
    for t in times:
        timer.now = (t - start) / 1000 / replay.clock.speed
        now = replay.clock.now()
        if now != t:
            raise Failure(f"the replay clock reads {now} where {t} was expected")
        replay.feeder.feed_to(now)
        store = replay.store
        verdicts = evaluate_series(store.series_map(assets), store.newest_ts, assets, thresholds)
        for asset in assets:
            out[asset][t] = (verdicts[asset].ts, verdicts[asset].phase)
    return out


# -- the comparison --------------------------------------------------------------------------


def as_of(timeline: Sequence[tuple[int, str]], t: int) -> str | None:
    """The phase of a (ts, phase) timeline, ascending, at data time t; None before its start."""
    phase = None
    for ts, p in timeline:
        if ts > t:
            break
        phase = p
    return phase


def runs(values: Sequence[str]) -> list[str]:
    """['A', 'A', 'B', 'A'] -> ['A', 'B', 'A']."""
    out: list[str] = []
    for v in values:
        if not out or out[-1] != v:
            out.append(v)
    return out


def compare_asset(asset: str, watch: list[dict[str, Any]], replay: dict[int, tuple[int, str]],
                  backtest_steps: list[tuple[int, str]], until: int, lag: int, step: int) -> dict[str, Any]:
    """``replay``: {data time: (verdict ts, phase)} on a grid of ``step`` (plus watch's times)."""
    grid = sorted(replay)
    lines = sorted((line for line in watch if line["asset"] == asset and line["ms"] <= until), key=lambda x: x["ms"])
    if not lines:
        return {"asset": asset, "error": "watch printed no phase line for this asset", "passed": False}
    timeline = [(line["ms"], line["phase"]) for line in lines]
    first = lines[0]["ms"]

    # Each watch line against the replay at its data time, then within the lag.
    checked = []
    for line in lines:
        ms, phase = line["ms"], line["phase"]
        at = replay.get(ms, (None, None))[1]
        near = [t for t in grid if ms - lag <= t <= ms + lag and replay[t][1] == phase]
        if at == phase:
            outcome = "same"
        elif near:
            outcome = "within lag"
        else:
            outcome = "differs"
        entry = {"ts": utc(ms), "ms": ms, "from": line["from"], "to": phase, "replay": at,
                 "backtest": as_of(backtest_steps, ms), "outcome": outcome}
        if near and outcome != "same":
            closest = min(near, key=lambda t: abs(t - ms))
            entry["replay_reaches_at"] = utc(closest)
            entry["offset_min"] = (closest - ms) / MINUTE
        checked.append(entry)

    # The timelines on the grid, from watch's first line.
    compared = [t for t in grid if first <= t <= until]
    diffs = []
    agree = 0
    previous = None
    for t in compared:
        w, r = as_of(timeline, t), replay[t][1]
        agree += w == r
        if w != r:
            if diffs and diffs[-1]["to_ms"] == previous and (diffs[-1]["watch"], diffs[-1]["replay"]) == (w, r):
                diffs[-1]["to_ms"] = t
            else:
                diffs.append({"from_ms": t, "to_ms": t, "watch": w, "replay": r})
        previous = t
    changes = [ms for ms, _ in timeline[1:]] + [t for a, t in zip(compared, compared[1:]) if replay[a][1] != replay[t][1]]
    for d in diffs:
        d["minutes"] = (d["to_ms"] - d["from_ms"] + step) / MINUTE
        # A run no longer than the lag, next to a phase change of either side: the live view
        # had not yet seen (or had already seen) the data that moves the phase.
        d["lag"] = (d["to_ms"] - d["from_ms"] + step <= lag
                    and any(d["from_ms"] - lag <= c <= d["to_ms"] + lag for c in changes))
        d["from"], d["to"] = utc(d.pop("from_ms")), utc(d.pop("to_ms"))

    # Replay against backtest at every backtest step the grid has.
    bt = [(ts, p) for ts, p in backtest_steps if first <= ts <= until]
    bt_diffs = [{"ts": utc(ts), "backtest": p, "replay": replay[ts][1]} for ts, p in bt if ts in replay and replay[ts][1] != p]
    bt_checked = sum(1 for ts, _ in bt if ts in replay)

    sequences = {
        "watch": runs([p for _, p in timeline]),
        "replay": runs([replay[t][1] for t in compared]),
        "backtest": runs([p for _, p in bt]),
    }
    # Not compared (live was not up yet), shown for what the recording holds from the launch on.
    before = [t for t in grid if t < first]
    replay_from_launch = runs([replay[t][1] for t in before] + sequences["replay"])
    counts = {k: sum(1 for c in checked if c["outcome"] == k) for k in ("same", "within lag", "differs")}
    passed = (counts["differs"] == 0 and all(d["lag"] for d in diffs) and not bt_diffs
              and sequences["watch"] == sequences["replay"] == sequences["backtest"])
    return {
        "asset": asset, "passed": passed, "watch_from": utc(first),
        "watch_lines": counts, "watch_line_checks": checked,
        "timeline": {"grid_min": step / MINUTE, "points": len(compared), "agree": agree, "disagreements": diffs},
        "replay_vs_backtest": {"steps": bt_checked, "agree": bt_checked - len(bt_diffs), "disagreements": bt_diffs},
        "phases": sequences, "replay_from_launch": replay_from_launch,
    }


# -- the run ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--speed", type=float, default=3600.0, help="sim seconds per real second (default 3600: a week in ~3 min)")
    p.add_argument("--seed", type=int, default=1, help="the simulator's seed (default 1)")
    p.add_argument("--start", default=DEFAULT_START, help=f"the simulator's launch time (default {DEFAULT_START})")
    p.add_argument("--days", type=float, default=7.0, help="data days recorded after launch (default 7)")
    p.add_argument("--assets", default="BTC,ETH,SOL", help="comma-separated (default BTC,ETH,SOL)")
    p.add_argument("--backfill", default="30d", help="record's and watch's history at start (default 30d, as the monitor)")
    p.add_argument("--grid", default="10m", help="replay evaluated every this much data time (default 10m)")
    p.add_argument("--step", default="1h", help="backtest step (default 1h)")
    p.add_argument("--workdir", help="keep the dataset, logs and outputs here (default: a new temporary directory)")
    p.add_argument("--json-out", help="write the full report here as JSON")
    p.add_argument("--analyse", metavar="WORKDIR",
                   help="compare again what an earlier run recorded in WORKDIR (its parameters are reused), no new run")
    args = p.parse_args(argv)
    if not 1 <= args.speed <= 86_400:
        raise UserError(f"--speed must be from 1 to 86400, got {args.speed:g}")
    if not 0 < args.days <= 30:
        raise UserError(f"--days must be above 0 and at most 30, got {args.days:g}")
    args.assets = [a.strip().upper() for a in args.assets.split(",") if a.strip()]
    if not args.assets:
        raise UserError("--assets is empty: expected symbols like BTC,ETH,SOL")
    args.launch = parse_time(args.start, "--start")
    args.grid_ms = parse_duration(args.grid, "--grid")
    parse_duration(args.step, "--step")
    if parse_duration(args.step, "--step") % args.grid_ms:
        raise UserError(f"--step {args.step} must be a multiple of --grid {args.grid}, so that every backtest step is replayed")
    return args


def summary(report: dict[str, Any]) -> str:
    out = [f"acceptance: a recorded week, {report['sim']['scenario']} seed {report['sim']['seed']} at "
           f"{report['sim']['speed']:g}x, {report['window']['from']} .. {report['window']['to']} UTC; "
           f"lag allowed {report['lag_min']:g} min of data time",
           f"dataset: {report['dataset']['rows']:,} rows in {report['dataset']['files']} files "
           f"({report['dataset']['first']} .. {report['dataset']['last']} UTC); real time {report['real_s']:.0f} s"]
    liq = ", ".join(f"{v} {t}" for v, t in report["liquidations_from"].items())
    out.append(f"live (watch) from {report['watch']['first']} UTC; liquidations recorded from: {liq or 'none'}")
    for a in report["assets"]:
        if "error" in a:
            out.append(f"{a['asset']}: {a['error']}")
            continue
        w, t, b = a["watch_lines"], a["timeline"], a["replay_vs_backtest"]
        out.append(f"{a['asset']}: {'PASS' if a['passed'] else 'FAIL'}; watch phase lines: {w['same']} same, "
                   f"{w['within lag']} within lag, {w['differs']} differ; timeline (every {t['grid_min']:g} min "
                   f"from {a['watch_from']}): {t['agree']}/{t['points']} agree; replay = backtest at "
                   f"{b['agree']}/{b['steps']} steps")
        out.append(f"  replay from launch: {' > '.join(a['replay_from_launch'])}")
        out.append(f"  watch:    {' > '.join(a['phases']['watch'])}")
        out.append(f"  replay:   {' > '.join(a['phases']['replay'])}")
        out.append(f"  backtest: {' > '.join(a['phases']['backtest'])}")
        for c in a["watch_line_checks"]:
            if c["outcome"] != "same":
                where = f", replay reaches it at {c['replay_reaches_at']} ({c['offset_min']:+.0f} min)" if "replay_reaches_at" in c else ""
                out.append(f"  watch {c['ts']} {c['from']} -> {c['to']}: replay {c['replay']}{where} [{c['outcome']}]")
        for d in t["disagreements"]:
            out.append(f"  {d['from']} .. {d['to']} ({d['minutes']:g} min): watch {d['watch']}, replay {d['replay']}"
                       f" [{'lag' if d['lag'] else 'NOT lag'}]")
        for d in b["disagreements"]:
            out.append(f"  {d['ts']}: backtest {d['backtest']}, replay {d['replay']}")
        out.append(f"  forward-return table printed: {'yes' if a['forward_table_printed'] else 'NO'}")
    out.append("verdict: " + ("PASS" if report["passed"] else "FAIL"))
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    if args.analyse:
        work = Path(args.analyse)
        rec = load_recording(work, args)
    else:
        work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="levtop-acceptance-"))
        work.mkdir(parents=True, exist_ok=True)
        if (work / "week").exists():
            raise UserError(f"{work / 'week'} exists: give an empty --workdir (a recorder adds to what is there)")
        rec = record_and_watch(args, work, args.launch, args.launch + int(args.days * DAY))
        save_recording(work, rec, args)
    launch = args.launch
    until = launch + int(args.days * DAY)
    lag = poll_lag_ms(args.speed)
    phase_lines = [line for line in rec.watch_lines if line.get("type") == "phase"]
    if not phase_lines:
        raise Failure(f"levtop watch printed no phase line (see {work / 'watch.log'})")
    dataset = read_dataset(rec.dataset)
    env = isolated_env(work)
    backtests = {a: backtest(rec.dataset, a, launch, args.step, work, env) for a in args.assets}

    # The grid: every --grid of data time from launch to the end, and every watch line's time.
    first = min(line["ms"] for line in phase_lines)
    start = min(first, launch) // args.grid_ms * args.grid_ms
    times = sorted(set(range(start, until + 1, args.grid_ms)) | {line["ms"] for line in phase_lines if line["ms"] <= until})
    say(f"acceptance: replaying {len(times)} data times")
    replayed = replay_phases(rec.dataset, args.assets, times, args.speed)
    assets = []
    for a in args.assets:
        result = compare_asset(a, phase_lines, replayed[a], backtests[a]["steps"], until, lag, args.grid_ms)
        result["forward_table"] = backtests[a]["forward_table"]
        result["forward_table_printed"] = backtests[a]["forward_table_printed"]
        result["passed"] = result["passed"] and result["forward_table_printed"]
        assets.append(result)
    frame = dataset.frame
    report = {
        "sim": {"scenario": "recovery", "seed": args.seed, "speed": args.speed, "launch": utc(launch), "url": rec.url},
        "window": {"from": utc(launch), "to": utc(until)},
        "lag_min": lag / MINUTE,
        "real_s": rec.real_s,
        "workdir": str(work),
        "exits": {"record": rec.record_exit, "watch": rec.watch_exit},
        "dataset": {"path": str(rec.dataset), "rows": frame.height, "files": len(dataset.files),
                    "first": utc(int(frame["ts"].min())), "last": utc(int(frame["ts"].max()))},
        # A liquidation is only ever streamed: none before the recorder's streams connected.
        "liquidations_from": {venue: utc(int(ts)) for venue, ts in frame.filter(pl.col("metric").str.starts_with("liq_"))
                              .group_by("venue").agg(pl.col("ts").min()).sort("venue").iter_rows()},
        "watch": {"lines": len(rec.watch_lines), "phase_lines": len(phase_lines), "first": utc(first)},
        "assets": assets,
        "passed": all(a["passed"] for a in assets),
    }
    print(summary(report))
    for a in assets:
        print(f"\n{a['asset']} (levtop backtest {rec.dataset} --asset {a['asset']} --step {args.step} --from {utc_iso(launch)}):")
        print(a["forward_table"] or "  (no forward-return table printed)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n")
    say(f"acceptance: outputs in {work}")
    return 0 if report["passed"] else 1


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(parse_args(sys.argv[1:] if argv is None else argv))
    except UserError as exc:
        say(f"acceptance_week: {exc}")
        return 2
    except Failure as exc:
        say(f"acceptance_week: run failed: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
