"""Render the figures a chaos run wrote (CHAOS_REPORT=FILE) as docs/reliability.md's table.

CHAOS_REPORT=/tmp/chaos.jsonl python -m pytest tests/chaos -m chaos
python tests/support/chaos_table.py /tmp/chaos.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = [
    ("fault", "fault row"),
    ("scenario", "scenario"),
    ("users", "users"),
    ("changes", "changes"),
    ("applies", "applies to converge"),
    ("requests", "API requests (server)"),
    ("retries", "client retries"),
    ("429s", "429s"),
    ("wait_s", "budget wait (s)"),
    ("faults", "faults injected"),
    ("tokens", "tokens issued"),
]


def table(lines: list[dict[str, object]]) -> str:
    cells = [r for r in lines if "fault" in r]
    out = ["| " + " | ".join(title for _, title in COLUMNS) + " |"]
    out.append("|" + "---|" * len(COLUMNS))
    for row in cells:
        values = []
        for key, _ in COLUMNS:
            value = row[key]
            if key == "faults" and row.get("fault_kinds"):
                kinds = ", ".join(f"{k} {v}" for k, v in row["fault_kinds"].items())  # type: ignore[union-attr]
                value = f"{value} ({kinds})"
            values.append(str(value))
        out.append("| " + " | ".join(values) + " |")
    kills = [r for r in lines if "kill_seed" in r]
    if kills:
        out += [
            "",
            "| kill seed | kill point | journal lines at kill | killed |",
            "|---|---|---|---|",
        ]
        for kill in kills:
            what, value = kill["point"]  # type: ignore[misc]
            point = f"after {value:.2f} s" if what == "seconds" else f"after {int(value)} lines"
            out.append(
                f"| {kill['kill_seed']} | {point} | {kill['journal_lines']} | {kill['killed']} |"
            )
    return "\n".join(out)


if __name__ == "__main__":
    rows = [json.loads(line) for arg in sys.argv[1:] for line in Path(arg).read_text().splitlines()]
    print(table(rows))
