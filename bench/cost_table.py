"""Issue 20's table from one or more `bench/run.py` results files: per
endpoint at 64 connections, CPU-ms per request and its ratio to the Quart
floor measured in the same run, and the p99 as a multiple of the bare-ASGI
baseline's in the same run. Each run's ratios are its own: compare ratios
across runs, not milliseconds (the machine's speed moves between runs).

    python bench/cost_table.py before.json after.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ENDPOINTS = (("sms_incoming", "`/sms/incoming` (new conversation)"), ("ack", "ACK"),
             ("voice_incoming", "`/voice/incoming`"), ("dial_next_tier", "Dial action, next tier"))
CONNECTIONS = "64"


def figures(results: dict[str, Any]) -> dict[str, tuple[float, float, float]]:
    """endpoint -> (CPU-ms per request, × the Quart floor, p99 × the baseline)."""
    floor = results["quart_floor"][CONNECTIONS]["quart"]["cpu_s_per_1000"]
    out = {}
    for endpoint, _ in ENDPOINTS:
        level = results["load"][endpoint][CONNECTIONS]
        cpu = level["service"]["cpu_s_per_1000"]
        out[endpoint] = (cpu, cpu / floor, level["service"]["p99_ms"] / level["baseline"]["p99_ms"])
    return out


def table(paths: list[Path]) -> str:
    runs = [json.loads(path.read_text()) for path in paths]
    heads = [f"{run['git']['commit']}{'+' if run['git'].get('modified') else ''}"
             for run in runs]
    lines = ["| at 64 connections | " + " | ".join(heads) + " |",
             "| --- |" + " ---: |" * len(runs)]
    all_figures = [figures(run) for run in runs]
    for endpoint, label in ENDPOINTS:
        cells = [f"{f[endpoint][0]:.2f} CPU-ms ({f[endpoint][1]:.1f}× floor), "
                 f"p99 {f[endpoint][2]:.1f}× baseline" for f in all_figures]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    floors = [f"{run['quart_floor'][CONNECTIONS]['quart']['cpu_s_per_1000']:.2f} CPU-ms"
              for run in runs]
    lines.append("| the Quart floor | " + " | ".join(floors) + " |")
    disconnects = [f"{run['disconnects']['errors']} errors, {run['disconnects']['bad_answers']}"
                   f" fallback, {run['disconnects']['ok_but_not_complete']} incomplete"
                   for run in runs]
    lines.append("| disconnect run | " + " | ".join(disconnects) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(table([Path(p) for p in sys.argv[1:]]))
