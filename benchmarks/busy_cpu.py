"""Busy CPU: see benchmarks/cpu.py.

    .venv/bin/python benchmarks/busy_cpu.py [--runs 3] [--warmup 30] [--duration 60]
"""

from cpu import main

if __name__ == "__main__":
    raise SystemExit(main("busy"))
