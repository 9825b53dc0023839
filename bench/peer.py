"""ivr beside the peer (bench/peer_app.py: Flask on gunicorn's sync workers,
sqlite3, the page sent with twilio-python's sync client inside the webhook),
doing the same work on new texts, in one run (issue 20):

  1. the fake Twilio answering at once: ivr (--workers) and the peer (5 sync
     workers), new texts at 64 connections, interleaved ivr, peer, ivr, peer
     (`reps` times, 5 by default); the medians of texts/s, p99 and CPU-ms per
     text (the server's processes, the REST sends included);
  2. the fake Twilio answering each send after 250 ms, as a real one takes: a
     burst of 1,500 texts at 64 connections to ivr on one worker and on
     --workers, to the peer on 5 workers and on one (that run is cut after
     60 s): texts/s, webhooks answered after Twilio's 15 s (or never), and when
     each page reached the fake Twilio after its text was sent.

    .venv/bin/python bench/run.py --peer [--quick]"""

from __future__ import annotations

import statistics
from typing import Any, Callable

from console import fmt, log
from harness import Harness
from load_runs import LoadRun
from send_latency import text_to_rest
from servers import Server, TwilioSink
from service_db import retire
from stats import pct
from twilio_requests import new_texts

CONNECTIONS = 64
PEER_WORKERS = 5
TWILIO_WEBHOOK_LIMIT_MS = 15_000
SLOW_TWILIO_MS = 250
SLOW_PEER_SECONDS = 60


def _run_figures(run: LoadRun) -> dict[str, Any]:
    done = max(run.ok + run.errors, 1)
    late = sum(1 for r in run.results
               if r and (r[2] != 200 or (r[1] or 0) > TWILIO_WEBHOOK_LIMIT_MS))
    return {"texts": run.n, "ok": run.ok, "errors": run.errors,
            "texts_per_s": run.ok / run.elapsed if run.elapsed else 0.0,
            "p50_ms": pct(run.latencies, 50), "p99_ms": pct(run.latencies, 99),
            "cpu_ms_per_text": run.server_cpu / done * 1000,
            "past_15s_or_failed": late}


def _texts_run(harness: Harness, server: Server, sink: TwilioSink, n: int, tag: str,
               *, waits_for_outbox: bool, time_limit: float = 300) -> dict[str, Any]:
    since = sink.count()
    requests, sids = new_texts(server.url, n, tag)
    run = harness.drive(server, requests, CONNECTIONS, keep_body=True,
                        sink=sink if waits_for_outbox else None,
                        expected_sends=n if waits_for_outbox else 0, time_limit=time_limit)
    run.sids = sids
    figures = _run_figures(run)
    figures["page_after_text"] = text_to_rest(sink, [run], since)
    if server.db is not None:
        retire(server.db)  # type: ignore[arg-type]
    return figures


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("texts_per_s", "p99_ms", "cpu_ms_per_text")
    out: dict[str, Any] = {k: statistics.median(r[k] for r in runs) for k in keys}
    out["errors"] = sum(r["errors"] for r in runs)
    out["runs"] = runs
    return out


def at_once(harness: Harness, workers: int, reps: int, n: int) -> dict[str, Any]:
    sink = harness.servers.start_sink()
    ivr = harness.servers.start_service("ivr-peer-run", harness.tmp / "ivr-peer.sqlite3", sink,
                                        workers=workers)
    peer = harness.servers.start_peer(sink, PEER_WORKERS)
    try:
        _texts_run(harness, ivr, sink, n // 5, "w", waits_for_outbox=True)  # warm both up
        _texts_run(harness, peer, sink, n // 5, "w", waits_for_outbox=False)
        ivr_runs, peer_runs = [], []
        for rep in range(reps):
            ivr_runs.append(_texts_run(harness, ivr, sink, n, "i", waits_for_outbox=True))
            peer_runs.append(_texts_run(harness, peer, sink, n, "p", waits_for_outbox=False))
            log(f"at once, rep {rep + 1}: ivr {ivr_runs[-1]['texts_per_s']:.0f} texts/s, "
                f"peer {peer_runs[-1]['texts_per_s']:.0f}")
        return {"ivr": _medians(ivr_runs), "peer": _medians(peer_runs),
                "ivr_workers": workers, "peer_workers": PEER_WORKERS}
    finally:
        for server in (ivr, peer):
            harness.servers.stop(server)
        harness.servers.procs.stop(sink.process)


def slow_twilio(harness: Harness, workers: int, n: int) -> dict[str, Any]:
    sink = harness.servers.start_sink(delay_ms=SLOW_TWILIO_MS)
    out: dict[str, Any] = {"twilio_answers_after_ms": SLOW_TWILIO_MS, "burst": n}
    starts: list[tuple[str, Callable[[], Server], bool, float]] = [
        ("ivr 1 worker", lambda: harness.servers.start_service(
            "ivr-slow-1", harness.tmp / "ivr-slow-1.sqlite3", sink, workers=1), True, 300),
        (f"ivr {workers} workers", lambda: harness.servers.start_service(
            f"ivr-slow-{workers}", harness.tmp / f"ivr-slow-{workers}.sqlite3", sink,
            workers=workers), True, 300),
        (f"peer {PEER_WORKERS} workers", lambda: harness.servers.start_peer(
            sink, PEER_WORKERS, "peer-slow-5"), False, 300),
        ("peer 1 worker", lambda: harness.servers.start_peer(sink, 1, "peer-slow-1"), False,
         SLOW_PEER_SECONDS),
    ]
    try:
        for name, start, waits, limit in starts:
            server = start()
            try:
                out[name] = _texts_run(harness, server, sink, n, "s", waits_for_outbox=waits,
                                       time_limit=limit)
                page = out[name]["page_after_text"]
                log(f"Twilio after {SLOW_TWILIO_MS} ms, {name}: "
                    f"{out[name]['texts_per_s']:.0f} texts/s, page p99 "
                    f"{fmt(page['from_request_p99_ms'])} ms after its text")
            finally:
                harness.servers.stop(server)
    finally:
        harness.servers.procs.stop(sink.process)
    return out


def measure_peer(harness: Harness, workers: int) -> dict[str, Any]:
    quick = harness.quick
    return {"at_once": at_once(harness, workers, reps=2 if quick else 5,
                               n=300 if quick else 1500),
            "slow_twilio": slow_twilio(harness, workers, n=300 if quick else 1500)}


def summary_lines(results: dict[str, Any]) -> list[str]:
    peer = results.get("peer")
    if not peer:
        return []
    a = peer["at_once"]
    ivr, other = a["ivr"], a["peer"]
    lines = ["", f"ivr ({a['ivr_workers']} workers) beside the peer ({a['peer_workers']} sync"
             f" workers), new texts at {CONNECTIONS} connections, fake Twilio answering at once"
             " (medians):",
             f"  {'':<16}{'ivr':>9}{'peer':>9}{'ivr/peer':>10}"]
    for key, label in (("texts_per_s", "texts/s"), ("p99_ms", "p99 ms"),
                       ("cpu_ms_per_text", "CPU ms/text")):
        ratio = ivr[key] / other[key] if other[key] else None
        lines.append(f"  {label:<16}{fmt(ivr[key], 2):>9}{fmt(other[key], 2):>9}"
                     f"{fmt(ratio, 2):>10}")
    lines.append(f"  errors: ivr {ivr['errors']}, peer {other['errors']}")
    s = peer["slow_twilio"]
    lines.append(f"Fake Twilio answering after {s['twilio_answers_after_ms']} ms, a burst of"
                 f" {s['burst']} texts:")
    for name, row in s.items():
        if not isinstance(row, dict):
            continue
        page = row["page_after_text"]
        lines.append(f"  {name:<16} {fmt(row['texts_per_s'], 1):>7} texts/s of {row['texts']},"
                     f" past 15 s or failed {row['past_15s_or_failed']}, page after its text"
                     f" p50 {fmt(page['from_request_p50_ms'])} p99"
                     f" {fmt(page['from_request_p99_ms'])} ms, never sent"
                     f" {page['never_sent']}")
    return lines
