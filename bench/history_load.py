"""History: does a year of history slow the line down? bench/history.py builds
1,000,000 decision rows and 100,000 conversations (100,000 and 10,000 with
--quick); a service on it and one on an empty database, alternately (empty,
history, empty, history), 1,000 new texts at 16 connections each, checked in
the database. Also the first text on the history database, a bare ACK with
nothing waiting on each (it looks through all of the responder's pages), the
dashboard queries on both (dashboard_queries.py), and the resident memory of
both services."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import history
from console import fmt, log
from dashboard_queries import dashboard_queries, summary_lines as dashboard_lines
from harness import Harness
from load_runs import LoadRun
from servers import Server
from service_db import check_texts, retire, table_counts, wait_until_outbox_sent
from stats import pct, ratios, summarise
from twilio_requests import LOAD_CUSTOMER_PREFIX, acks, new_texts


def measure_history(harness: Harness, service_logs: list[Path]) -> dict[str, Any]:
    """The history measurements; the two services' logs are added to `service_logs`."""
    decisions = 100_000 if harness.quick else 1_000_000
    conversations = 10_000 if harness.quick else 100_000
    big_db = harness.tmp / "history.sqlite3"
    log(f"building a history of {decisions} decisions and {conversations} conversations")
    built = history.build(big_db, decisions, conversations)
    log(f"built: {built}")
    empty = harness.servers.start_service("service-empty", harness.tmp / "empty.sqlite3",
                                          harness.fake_twilio)
    big = harness.servers.start_service("service-history", big_db, harness.fake_twilio)
    service_logs += [empty.log_path, big.log_path]
    out: dict[str, Any] = {"built": built}
    try:
        cold_text, _ = new_texts(big.url, 1, "k")
        cold = harness.drive(big, cold_text, 1)
        out["first_text_on_history_ms"] = cold.latencies[0] if cold.latencies else None
        out["sms_incoming_16"] = _texts_empty_and_history(harness, empty, big)
        out["bare_ack_nothing_waiting_1conn"] = {
            key: _bare_acks(harness, server)
            for key, server in (("empty", empty), ("history", big))}
        if harness.patches:
            import patched_run  # noqa: F401 - applies IVR_BENCH_PATCHES in this process
            patched_run.apply(harness.patches)
        out["dashboard_queries_ms"] = {
            "history": asyncio.run(dashboard_queries(big_db)),
            "empty": asyncio.run(dashboard_queries(harness.tmp / "empty.sqlite3")),
        }
        for name, ms in out["dashboard_queries_ms"]["history"].items():
            log(f"dashboard {name:36} {ms['median_ms']:8.2f} ms (first {ms['first_ms']:.2f})")
        out["memory"] = {"history": big.rss(), "empty": empty.rss()}
        out["db_rows"] = table_counts(big_db)
    finally:
        harness.servers.stop(big)
        harness.servers.stop(empty)
    return out


def _texts_empty_and_history(harness: Harness, empty: Server, big: Server) -> dict[str, Any]:
    """New texts at 16 connections: empty, history, empty, history."""
    n = min(harness.requests_per_run, 1000)  # the history service may be slow: bound each run
    for server in (empty, big):
        warm, _ = new_texts(server.url, max(harness.requests_per_run // 10, 100), "w")
        harness.drive(server, warm, 16)
        retire(server.db, (LOAD_CUSTOMER_PREFIX,))  # type: ignore[arg-type]
    runs: dict[str, list[LoadRun]] = {"empty": [], "history": []}
    lost = {"empty": 0, "history": 0}
    for _ in range(2):
        for key, server in (("empty", empty), ("history", big)):
            wait_until_outbox_sent(server.db)
            requests, sids = new_texts(server.url, n, "h")
            run = harness.drive(server, requests, 16, keep_body=True, sink=harness.fake_twilio,
                                expected_sends=len(requests))
            states = check_texts(server.db, sids)  # type: ignore[arg-type]
            lost[key] += sum(1 for s in run.sids_answered(sids) if states[s] != "complete")
            runs[key].append(run)
            retire(server.db, (LOAD_CUSTOMER_PREFIX,))  # type: ignore[arg-type]
    e, h = summarise(runs["empty"]), summarise(runs["history"])
    e["lost_after_200"], h["lost_after_200"] = lost["empty"], lost["history"]
    log(f"history: /sms/incoming at 16: empty p50 {e['p50_ms']:.2f} p99 "
        f"{e['p99_ms']:.2f} ms {e['rps']:.0f} req/s; history p50 {h['p50_ms']:.2f} "
        f"p99 {h['p99_ms']:.2f} ms {h['rps']:.0f} req/s")
    return {"empty": e, "history": h, "ratio": ratios(h, e)}


def _bare_acks(harness: Harness, server: Server) -> dict[str, Any]:
    """A bare ACK when nothing waits for one: looks through all of the responder's pages."""
    run = harness.drive(server, acks(server.url, 50 if harness.quick else 200), 1,
                        keep_body=True)
    return {"p50_ms": pct(run.latencies, 50), "p99_ms": pct(run.latencies, 99),
            "nothing_to_ack": sum(1 for r in run.results
                                  if r and "Nothing is waiting" in (r[4] or ""))}


def summary_lines(results: dict[str, Any]) -> list[str]:
    h = results.get("history")
    if not h:
        return []
    s = h["sms_incoming_16"]
    lines = ["", f"History ({h['built']['decisions']} decisions, "
                 f"{h['built']['conversations']} conversations) vs empty, /sms/incoming at "
                 f"16 conns:"]
    for key in ("empty", "history"):
        r = s[key]
        lines.append(f"  {key:8} {fmt(r['rps'], 0):>6} req/s  p50 {fmt(r['p50_ms']):>7}  "
                     f"p99 {fmt(r['p99_ms']):>7} ms  errors {r['errors']}")
    lines.append(f"  ratio history/empty: p99 x{s['ratio']['p99']}, p50 x{s['ratio']['p50']},"
                 f" req/s x{s['ratio']['rps']}; first text on the history db: "
                 f"{fmt(h['first_text_on_history_ms'])} ms")
    probes = h["bare_ack_nothing_waiting_1conn"]
    lines.append(f"  bare ACK with nothing waiting (1 conn): empty p50 "
                 f"{fmt(probes['empty']['p50_ms'])} ms, history p50 "
                 f"{fmt(probes['history']['p50_ms'])} ms")
    return lines + dashboard_lines(h["dashboard_queries_ms"])
