"""The fault matrix of docs/reliability.md, from the JSON report of tests/test_fault_matrix.py.

    LEVTOP_FAULT_MATRIX_REPORT=/tmp/matrix.json .venv/bin/python -m pytest tests/test_fault_matrix.py
    .venv/bin/python tools/fault_matrix_table.py /tmp/matrix.json
"""

from __future__ import annotations

import json
import sys

COLUMNS = ("binance", "bybit", "okx", "fear_greed", "stablecoins")
WIDTH = 150


def short(text: str) -> str:
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def table(report: dict) -> str:
    cells = {(c["row"], c["column"]): c for c in report["cells"]}
    rows = list(dict.fromkeys(c["row"] for c in report["cells"]))
    rest = [r for r in rows if not r.startswith("stream")]
    stream = [r for r in rows if r.startswith("stream")]
    lines = ["| fault | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for row in rest:
        out = []
        for column in COLUMNS:
            cell = cells.get((row, column))
            out.append("—" if cell is None else ("PASS: " if cell["passed"] else "FAIL: ") + short(cell["text"]))
        lines.append(f"| {row} | " + " | ".join(out) + " |")
    lines += ["", "| stream fault | " + " | ".join(COLUMNS[:3]) + " |", "|---" * 4 + "|"]
    for row in stream:
        out = []
        for column in COLUMNS[:3]:
            cell = cells[(row, column)]
            out.append(("PASS: " if cell["passed"] else "FAIL: ") + short(cell["text"]))
        lines.append(f"| {row} | " + " | ".join(out) + " |")
    passed = sum(c["passed"] for c in report["cells"])
    lines += ["", f"{passed} of {len(report['cells'])} cells pass; the matrix took {report['wall_s']} s wall."]
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as source:
        print(table(json.load(source)))
