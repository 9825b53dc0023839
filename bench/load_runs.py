"""One load run: a prepared list of requests sent by bench/loadgen.py (in its
own process) over N keep-alive connections, closed loop, each request timed.
A run's figures: the answers (time sent, latency, status, body), the wall
time, and the CPU the server, the client and the fake Twilio spent on it. For
requests that cause REST sends, the server's CPU is read after the outbox has
sent them, so a send is part of its request's cost."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paths import BENCH, PY
from servers import Server, TwilioSink
from service_db import wait_until_outbox_sent
from twilio_requests import Request


@dataclass
class LoadRun:
    server: str
    n: int
    ok: int
    errors: int
    aborted: int
    elapsed: float
    latencies: list[float]
    server_cpu: float
    client_cpu: float
    sink_cpu: float
    results: list[Any]  # per request: [sent unix time, latency ms, status, error, body]
    error_samples: list[str]
    sids: list[str] = field(default_factory=list)
    drain_seconds: float = 0.0

    def answered_without(self, marker: str) -> int:
        """Answers with HTTP 200 whose body lacks `marker`: the fallback TwiML."""
        return sum(1 for r in self.results if r and r[2] == 200 and marker not in (r[4] or ""))

    def sids_answered(self, sids: list[str], status: int | str = 200) -> list[str]:
        """Of `sids` (one per request, in order), those whose request got `status`."""
        return [sid for r, sid in zip(self.results, sids) if r and r[2] == status]


def run_load(server: Server, requests: list[Request], concurrency: int, *, tmp: Path,
             client: str, keep_body: bool = False, abort_every: int = 0, pace_ms: float = 0,
             sink: TwilioSink | None = None, expected_sends: int = 0,
             time_limit: float = 300) -> LoadRun:
    spec_path, out_path = tmp / "spec.json", tmp / "out.json"
    with open(spec_path, "w") as handle:
        json.dump({"port": server.port, "ports": getattr(server, "ports", None),
                   "concurrency": concurrency, "client": client,
                   "requests": requests, "keep_body": keep_body, "abort_every": abort_every,
                   "abort_delay_ms": 3, "pace_ms": pace_ms, "time_limit": time_limit}, handle)
    before_sends = sink.count() if sink else 0
    cpu_before = server.cpu()
    sink_before = sink.cpu() if sink else 0.0
    subprocess.run([PY, str(BENCH / "loadgen.py"), str(spec_path), str(out_path)], check=True,
                   timeout=time_limit + 120)
    drained = 0.0
    if sink is not None and expected_sends:
        # the REST sends these requests caused are part of their cost
        drained = wait_until_outbox_sent(server.db)
        sink.wait_for(before_sends + expected_sends, seconds=5)
    cpu_after = server.cpu()
    with open(out_path) as handle:
        out = json.load(handle)
    results = [r for r in out["results"] if r is not None]
    ok = [r for r in results if r[2] == 200]
    aborted = sum(1 for r in results if r[2] == "aborted")
    bad = [r for r in results if r[2] not in (200, "aborted")]
    samples = sorted({(r[3] or f"HTTP {r[2]}")[:120] for r in bad})[:5]
    return LoadRun(server.name, len(results), len(ok), len(bad), aborted, out["elapsed"],
                   [r[1] for r in ok], cpu_after - cpu_before, out["client_cpu"],
                   (sink.cpu() - sink_before) if sink else 0.0, out["results"], samples,
                   drain_seconds=drained)
