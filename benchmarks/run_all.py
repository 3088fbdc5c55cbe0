"""`make bench`: every budget benchmark in turn, their JSON collected in benchmarks/results.json.

Each script prints one JSON object with at least name, budget, value, unit and passed. They run
one after another (never in parallel: they measure time and CPU), with the machine's load noted
before each, since a busy machine skews timings.

    .venv/bin/python benchmarks/run_all.py [--only NAME ...] [--out benchmarks/results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("signal_engine", "backtest", "first_frame", "idle_cpu", "busy_cpu", "memory", "burst", "request_budget")
"""The budget rows of issue 7, cheapest first."""
TIMEOUT_S = 600


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def run(name: str) -> dict:
    script = HERE / f"{name}.py"
    if not script.exists():
        return {"name": name, "passed": False, "error": f"no benchmarks/{name}.py yet", "wall_s": 0.0}
    started = time.monotonic()
    load = load_average()
    print(f"bench: {name} (load {load:.2f}) ...", file=sys.stderr, flush=True)
    try:
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"name": name, "passed": False, "error": f"timed out after {TIMEOUT_S} s"}
    wall = round(time.monotonic() - started, 1)
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
    except json.JSONDecodeError:
        result = None
        try:
            result = json.loads(done.stdout)
        except json.JSONDecodeError:
            pass
    if not isinstance(result, dict):
        tail = (done.stderr or "").strip().splitlines()[-3:]
        return {"name": name, "passed": False, "error": f"exit {done.returncode}, no JSON: {' | '.join(tail)}",
                "wall_s": wall, "load_before": load}
    result.setdefault("name", name)
    result["wall_s"] = wall
    result["load_before"] = load
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--out", default=str(HERE / "results.json"), help="where to write the results")
    args = parser.parse_args()
    started = time.monotonic()
    results = [run(name) for name in (args.only or BENCHMARKS)]
    report = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "wall_s": round(time.monotonic() - started, 1),
              "all_passed": all(r.get("passed") is True for r in results), "results": results}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    for r in results:
        mark = "PASS" if r.get("passed") is True else "FAIL"
        figure = f"{r.get('value')} {r.get('unit', '')}".strip() if "value" in r else r.get("error", "")
        print(f"{mark}  {r['name']:<14} {figure:<28} budget {r.get('budget', '?')}  ({r['wall_s']} s)")
    print(f"{len(results)} benchmarks in {report['wall_s']} s; results in {args.out}")
    return 0 if report["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
