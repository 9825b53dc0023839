"""The figures made of load runs: percentiles (nearest rank), one or more runs
pooled into req/s, p50/p99/max and CPU seconds per 1,000 requests (server,
client, fake Twilio), the service/baseline ratios, and the p50 drift from the
first to the last tenth of a run."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from load_runs import LoadRun


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def summarise(runs: list[LoadRun]) -> dict[str, Any]:
    """The runs pooled: as if they were one run of all their requests."""
    n = sum(r.n for r in runs)
    ok = sum(r.ok for r in runs)
    elapsed = sum(r.elapsed for r in runs)
    latencies = [x for r in runs for x in r.latencies]
    done = max(ok + sum(r.errors for r in runs), 1)
    return {
        "requests": n, "ok": ok, "errors": sum(r.errors for r in runs),
        "aborted": sum(r.aborted for r in runs),
        "rps": ok / elapsed if elapsed else 0.0,
        "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99),
        "max_ms": max(latencies) if latencies else None,
        "cpu_s_per_1000": sum(r.server_cpu for r in runs) / done * 1000,
        "client_cpu_s_per_1000": sum(r.client_cpu for r in runs) / done * 1000,
        "fake_twilio_cpu_s_per_1000": sum(r.sink_cpu for r in runs) / done * 1000,
        "error_samples": sorted({s for r in runs for s in r.error_samples})[:5],
        "runs_rps": [round(r.ok / r.elapsed, 1) if r.elapsed else 0 for r in runs],
        "outbox_drain_after_run_s": [round(r.drain_seconds, 1) for r in runs],
    }


def ratios(service: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    def ratio(key: str) -> float | None:
        a, b = service.get(key), baseline.get(key)
        return round(a / b, 3) if a is not None and b else None
    return {"rps": ratio("rps"), "p50": ratio("p50_ms"), "p99": ratio("p99_ms"),
            "cpu": ratio("cpu_s_per_1000")}


def drift(runs: list[LoadRun]) -> list[float | None]:
    """p50 of the first and the last 10% of each run: growth within a run."""
    out = []
    for run in runs:
        lat = [r[1] for r in run.results if r and r[2] == 200]
        k = max(len(lat) // 10, 1)
        out += [pct(lat[:k], 50), pct(lat[-k:], 50)]
    return out
