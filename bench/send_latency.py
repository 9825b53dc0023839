"""Inbound text -> REST send: from writing an `/sms/incoming` request (and from
reading its answer) to the fake Twilio receiving the page to the responder,
matched by the `bench-SM...` token the text carries. Under each level's load
(the texts of webhooks_load.py), and paced: one text every 20 ms on one
connection, the pipeline's own latency."""

from __future__ import annotations

import re
from typing import Any

from console import fmt, log
from harness import Harness
from load_runs import LoadRun
from servers import Server, TwilioSink
from service_db import retire, wait_until_outbox_sent
from stats import pct
from twilio_requests import SERGIO, new_texts


def text_to_rest(sink: TwilioSink, runs: list[LoadRun], since: int) -> dict[str, Any]:
    """Inbound text -> the fake Twilio receiving the page, by the token in the body."""
    arrivals: dict[str, float] = {}
    for t, to, body in sink.messages(since):
        match = re.search(r"bench-(SM\w+)", body)
        if match and to == SERGIO:
            arrivals.setdefault(match.group(1), t)
    from_sent, from_answer, missing = [], [], 0
    # the token is the MessageSid, and run.sids holds them in request order
    for run in runs:
        for result, sid in zip(run.results, run.sids):
            if not result or result[2] != 200:
                continue
            if sid not in arrivals:
                missing += 1
                continue
            from_sent.append((arrivals[sid] - result[0]) * 1000)
            from_answer.append((arrivals[sid] - result[0]) * 1000 - result[1])
    return {"from_request_p50_ms": pct(from_sent, 50), "from_request_p99_ms": pct(from_sent, 99),
            "from_answer_p50_ms": pct(from_answer, 50),
            "from_answer_p99_ms": pct(from_answer, 99),
            "max_ms": max(from_sent) if from_sent else None, "never_sent": missing,
            "n": len(from_sent)}


def paced_texts(harness: Harness, service: Server) -> dict[str, Any]:
    """One text at a time, 20 ms apart: the pipeline's own latency."""
    n = 60 if harness.quick else 500
    sink = harness.fake_twilio
    wait_until_outbox_sent(service.db)
    since = sink.count()
    requests, sids = new_texts(service.url, n, "p")
    run = harness.drive(service, requests, 1, pace_ms=20, keep_body=True, sink=sink,
                        expected_sends=n)
    run.sids = sids
    result = text_to_rest(sink, [run], since)
    result["webhook_p50_ms"] = pct(run.latencies, 50)
    result["webhook_p99_ms"] = pct(run.latencies, 99)
    retire(service.db)  # type: ignore[arg-type]
    log(f"text -> REST send, paced: p50 {result['from_request_p50_ms']:.1f} ms, p99 "
        f"{result['from_request_p99_ms']:.1f} ms (from the request being sent)")
    return result


def _from_request(latency: dict[str, Any]) -> str:
    return (f"from request p50 {fmt(latency['from_request_p50_ms'], 1)} "
            f"p99 {fmt(latency['from_request_p99_ms'], 1)}")


def summary_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    load_results = results.get("load", {})
    if "sms_incoming" in load_results:
        lines.append("")
        lines.append("Inbound text -> REST send started at the fake Twilio (ms)")
        for level, row in load_results["sms_incoming"].items():
            t = row["text_to_rest"]
            lines.append(f"  under load, {level:>2} conn: {_from_request(t)}"
                         f"; from answer p50 {fmt(t['from_answer_p50_ms'], 1)} p99 "
                         f"{fmt(t['from_answer_p99_ms'], 1)}; never sent {t['never_sent']}")
    paced = results.get("text_to_rest_paced")
    if paced:
        lines.append(f"  paced (1 text / 20 ms): {_from_request(paced)} "
                     f"max {fmt(paced['max_ms'], 1)}; "
                     f"webhook p50 {fmt(paced['webhook_p50_ms'])} "
                     f"p99 {fmt(paced['webhook_p99_ms'])}")
    return lines
