"""Disconnects: 64 connections, 2 x N new texts, every 10th request sent on its
own connection that is closed 0-3 ms after the request was written. Then:
/healthz (and how long until it is 200), one more signed text must get the
acknowledgement, `PRAGMA integrity_check`, every request that got a 200 must
be complete in the database, and every abandoned one complete or absent,
never partial."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from console import fmt, log
from harness import Harness
from servers import Server
from service_db import check_texts, integrity, retire, table_counts, wait_until_outbox_sent
from stats import summarise
from twilio_requests import new_texts

ACKNOWLEDGEMENT = "will reply shortly"  # in the TwiML answer to a new text


def poll_healthz(url: str, seconds: float = 60) -> list[list[Any]]:
    """/healthz now, then every 0.5 s until it is 200: [seconds since, status]."""
    health = []
    started = time.time()
    while time.time() - started < seconds:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
                code = response.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except OSError:
            code = 0
        health.append([round(time.time() - started, 2), code])
        if code == 200:
            break
        time.sleep(0.5)
    return health


def measure_disconnects(harness: Harness, service: Server) -> dict[str, Any]:
    """64 connections; every 10th request is sent on its own connection that
    is closed 0-3 ms after the request was written."""
    db = service.db
    assert db is not None
    n = harness.requests_per_run * 2
    requests, sids = new_texts(service.url, n, "d")
    before_conversations = table_counts(db)["conversations"]
    run = harness.drive(service, requests, 64, keep_body=True, abort_every=10)
    health = poll_healthz(service.url)
    healthy = health[-1][1] == 200
    drained = wait_until_outbox_sent(db)
    probe_requests, _ = new_texts(service.url, 1, "q")
    probe = harness.drive(service, probe_requests, 1, keep_body=True)
    answers = probe.ok == 1 and ACKNOWLEDGEMENT in (probe.results[0][4] or "")
    states = check_texts(db, sids)
    ok_sids, abandoned = run.sids_answered(sids), run.sids_answered(sids, "aborted")
    conversations = table_counts(db)["conversations"] - before_conversations - 1
    summary = summarise([run])
    result = {
        "requests": n, "ok": run.ok, "errors": run.errors, "error_samples": run.error_samples,
        "bad_answers": run.answered_without(ACKNOWLEDGEMENT),
        "abandoned": len(abandoned), "rps": summary["rps"], "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "healthz_after": healthy, "healthz_first": health[0][1],
        "healthz_200_after_s": health[-1][0] if healthy else None,
        "outbox_drain_after_s": round(drained, 1), "answers_after": answers,
        "integrity_check": integrity(db),
        **_completeness(states, ok_sids, abandoned),
        "conversations_opened": conversations,
        "conversations_expected": run.ok + sum(1 for s in abandoned
                                               if states[s] == "complete"),
    }
    retire(db)
    log(f"disconnects: {json.dumps({k: v for k, v in result.items() if k != 'error_samples'})}")
    return result


def _completeness(states: dict[str, str], ok_sids: list[str],
                  abandoned: list[str]) -> dict[str, Any]:
    """How complete in the database the answered and the abandoned texts are."""
    return {
        "ok_but_not_complete": sum(1 for s in ok_sids if states[s] != "complete"),
        "abandoned_complete": sum(1 for s in abandoned if states[s] == "complete"),
        "abandoned_absent": sum(1 for s in abandoned if states[s] == "absent"),
        "abandoned_partial": sum(1 for s in abandoned if states[s].startswith("partial")),
        "partial_samples": sorted({states[s] for s in abandoned + ok_sids
                                   if states[s].startswith("partial")})[:5],
    }


def summary_lines(results: dict[str, Any]) -> list[str]:
    d = results.get("disconnects")
    if not d:
        return []
    return ["", f"Disconnects (64 conns, every 10th request abandoned 0-3 ms after sending): "
                f"{d['ok']} ok, {d['errors']} errors, {d['abandoned']} abandoned "
                f"({d['abandoned_complete']} completed, {d['abandoned_absent']} never "
                f"started, {d['abandoned_partial']} partial); 200 with fallback TwiML: "
                f"{d.get('bad_answers')}; ok but incomplete in the db: "
                f"{d['ok_but_not_complete']}; integrity_check: {d['integrity_check']}; "
                f"/healthz right after: {d.get('healthz_first')}, 200 after "
                f"{d.get('healthz_200_after_s')} s; answers after: {d['answers_after']}; "
                f"{fmt(d['rps'], 0)} req/s p50 {fmt(d['p50_ms'])} p99 {fmt(d['p99_ms'])} ms"]
