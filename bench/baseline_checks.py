"""What the baseline side shows before the service is measured:

  - the client check: how fast each client (raw, aiohttp) drives the baseline
    at 64 connections and the client CPU it costs, i.e. whether the client is
    the bottleneck of the baseline's figures;
  - the Quart floor: Quart parsing the form and answering a constant, with no
    ivr code (bench/quart_floor.py), against the baseline at 1 and 64
    connections, interleaved: what the framework alone costs."""

from __future__ import annotations

from typing import Any

from console import fmt, log
from harness import Harness
from load_runs import LoadRun, run_load
from servers import Server
from stats import ratios, summarise
from twilio_requests import new_texts


def client_check(harness: Harness, baseline: Server) -> dict[str, Any]:
    """How fast each client can drive the baseline at 64 connections, and
    what it costs in client CPU: says whether the client is the bottleneck."""
    out = {}
    for client in ("raw", "aiohttp"):
        requests, _ = new_texts(baseline.url, harness.requests_per_run, "c")
        run = run_load(baseline, requests, 64, tmp=harness.tmp, client=client)
        s = summarise([run])
        out[client] = {k: s[k] for k in ("rps", "p50_ms", "p99_ms", "cpu_s_per_1000",
                                         "client_cpu_s_per_1000", "errors")}
        log(f"client check {client}: {s['rps']:.0f} req/s, client CPU "
            f"{s['client_cpu_s_per_1000']:.3f} s/1000")
    return out


def quart_floor(harness: Harness, baseline: Server) -> dict[str, Any]:
    """Quart parsing the form and answering a constant, against the baseline:
    the framework's share before ivr does anything."""
    floor = harness.servers.start_baseline("quart-floor", "quart_floor:app")
    out = {}
    try:
        texts, _ = new_texts(floor.url, max(harness.requests_per_run // 10, 100), "w")
        harness.drive(floor, texts, 16)
        for level in (1, 64):
            runs: dict[str, list[LoadRun]] = {"quart": [], "baseline": []}
            for _ in range(2):
                for key, server in (("baseline", baseline), ("quart", floor)):
                    texts, _ = new_texts(server.url, harness.requests_per_run, "f")
                    runs[key].append(harness.drive(server, texts, level))
            q, b = summarise(runs["quart"]), summarise(runs["baseline"])
            out[level] = {"quart": q, "baseline": b, "ratio": ratios(q, b)}
            log(f"quart floor c={level}: {q['rps']:.0f} req/s p50 {q['p50_ms']:.2f} p99 "
                f"{q['p99_ms']:.2f} ms cpu {q['cpu_s_per_1000']:.2f} s/1k | baseline "
                f"{b['rps']:.0f} req/s | x{out[level]['ratio']['rps']} rps")
    finally:
        harness.servers.stop(floor)
    return out


def summary_lines(results: dict[str, Any]) -> list[str]:
    """The Quart floor's line, then the client check's (in the summary's order)."""
    lines = []
    qf = results.get("quart_floor")
    if qf:
        floors = "; ".join(
            f"{level} conn {fmt(v['quart']['rps'], 0)} req/s p50 {fmt(v['quart']['p50_ms'])} "
            f"p99 {fmt(v['quart']['p99_ms'])} ms cpu {fmt(v['quart']['cpu_s_per_1000'])} s/1k "
            f"= x{v['ratio']['rps']} req/s" for level, v in qf.items())
        lines += ["", "Quart floor (form parsed, constant reply, no ivr code) vs baseline: "
                  + floors]
    cc = results.get("client_check")
    if cc:
        clients = "; ".join(
            f"{k}: {fmt(v['rps'], 0)} req/s, client CPU {fmt(v['client_cpu_s_per_1000'], 3)} "
            f"s/1000, server CPU {fmt(v['cpu_s_per_1000'], 3)} s/1000" for k, v in cc.items())
        lines += ["", "Client check (baseline, 64 conns): " + clients]
    return lines
