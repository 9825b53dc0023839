"""The load levels: at 1, 16 and 64 connections, each webhook Twilio calls is
sent to the service and to the baseline, interleaved (baseline, service,
baseline, service; N requests each), the two runs of each pooled and every
figure also given as service/baseline:

  - sms_incoming: a new customer each time, opening a conversation; checked in
    the database after the runs (lost_after_200), with the drift of the p50
    and the text -> REST send latency (send_latency.py);
  - ack: the responder's ACK, taking the latest conversation paged to them;
  - voice_incoming: a new call (the first tier's <Dial>);
  - dial_next_tier: each call's Dial action with no-answer (tier 2).

`bad` counts HTTP 200 answers with the fallback TwiML. Between runs the ACK
timers are cancelled, and after each level what it opened is retired
(service_db.retire), so no escalation fires during the load
(escalations_during_load)."""

from __future__ import annotations

from typing import Any, Callable

from console import fmt, log
from harness import Harness
from load_runs import LoadRun
from send_latency import text_to_rest
from servers import Server
from service_db import cancel_timers, check_texts, escalations, retire
from stats import drift, ratios, summarise
from twilio_requests import (BACKUP, Request, acks, baseline_like, dial_actions, message_sids,
                             new_calls, new_texts)

ENDPOINTS = ("sms_incoming", "ack", "voice_incoming", "dial_next_tier")


def warm_up(harness: Harness, service: Server, baseline: Server) -> None:
    """Every endpoint once at 16 connections, then what it opened retired."""
    n = max(harness.requests_per_run // 10, 100)
    texts, _ = new_texts(service.url, n, "w")
    harness.drive(service, texts, 16, keep_body=True)
    harness.drive(service, acks(service.url, n), 16)
    calls, sids = new_calls(service.url, n)
    run = harness.drive(service, calls, 16, keep_body=True)
    dials = dial_actions(service.url, ((r[4], s) for r, s in zip(run.results, sids) if r))
    harness.drive(service, dials, 16)
    harness.drive(baseline, texts, 16)
    harness.fake_twilio.wait_for(harness.fake_twilio.count() + 1, seconds=2)
    retire(service.db)  # type: ignore[arg-type]


def interleaved(harness: Harness, service: Server, baseline: Server,
                make: Callable[[], list[Request]], concurrency: int, *, answer_marker: str,
                expected_sends: int = 0, after_service_run: Callable[[], Any] | None = None
                ) -> tuple[dict[str, Any], dict[str, Any], list[LoadRun]]:
    """Baseline, service, baseline, service: the service's runs pooled (with
    `bad_answers`, its 200s without `answer_marker`), the baseline's pooled,
    and the service's runs. `expected_sends` is REST sends per request."""
    base_runs, svc_runs = [], []
    for _ in range(2):
        requests = make()
        base_runs.append(harness.drive(baseline, baseline_like(requests), concurrency))
        run = harness.drive(service, requests, concurrency, keep_body=True,
                            sink=harness.fake_twilio,
                            expected_sends=expected_sends * len(requests))
        run.sids = message_sids(requests)
        if after_service_run:
            after_service_run()
        svc_runs.append(run)
    svc = summarise(svc_runs)
    svc["bad_answers"] = sum(run.answered_without(answer_marker) for run in svc_runs)
    return svc, summarise(base_runs), svc_runs


def measure_level(harness: Harness, service: Server, baseline: Server, level: int,
                  out: dict[str, Any]) -> None:
    """The four endpoints at `level` connections, into `out[endpoint][level]`."""
    db = service.db
    assert db is not None
    _texts(harness, service, baseline, level, out)
    svc, base, _ = interleaved(harness, service, baseline,
                               lambda: acks(service.url, harness.requests_per_run), level,
                               answer_marker="is yours", expected_sends=1)
    record(out, "ack", level, svc, base)
    retire(db)
    _calls_and_dials(harness, service, baseline, level, out)
    retire(db)
    out.setdefault("escalations_during_load", {})[level] = escalations(db)


def _texts(harness: Harness, service: Server, baseline: Server, level: int,
           out: dict[str, Any]) -> None:
    """/sms/incoming: a new customer each time, opening a conversation."""
    db = service.db
    assert db is not None
    text_sids: list[str] = []

    def make_texts() -> list[Request]:
        requests, sids = new_texts(service.url, harness.requests_per_run, "t")
        text_sids.extend(sids)
        return requests

    sink_before = harness.fake_twilio.count()
    # no ACK timeout of one run may fire in a later one
    svc, base, runs = interleaved(harness, service, baseline, make_texts, level,
                                  answer_marker="will reply shortly", expected_sends=1,
                                  after_service_run=lambda: cancel_timers(db))
    latency = text_to_rest(harness.fake_twilio, runs, sink_before)
    states = check_texts(db, text_sids)
    ok_sids = [sid for run in runs for sid in run.sids_answered(run.sids)]
    lost = sum(1 for sid in ok_sids if states.get(sid) != "complete")
    svc.update({"lost_after_200": lost, "drift_p50_first_last_10pct": drift(runs)})
    record(out, "sms_incoming", level, svc, base, text_to_rest=latency)


def _calls_and_dials(harness: Harness, service: Server, baseline: Server, level: int,
                     out: dict[str, Any]) -> None:
    """/voice/incoming, then each call's Dial action with no-answer: the next tier."""
    call_sids: list[str] = []

    def make_calls() -> list[Request]:
        requests, sids = new_calls(service.url, harness.requests_per_run)
        call_sids.extend(sids)
        return requests

    svc, base, runs = interleaved(harness, service, baseline, make_calls, level,
                                  answer_marker="<Dial")
    record(out, "voice_incoming", level, svc, base)
    bodies = [(r[4] if r and r[2] == 200 else None) for run in runs for r in run.results]
    actions = dial_actions(service.url, zip(bodies, call_sids))
    halves = iter([actions[:len(actions) // 2], actions[len(actions) // 2:]])
    svc, base, _ = interleaved(harness, service, baseline, lambda: next(halves), level,
                               answer_marker=BACKUP)
    record(out, "dial_next_tier", level, svc, base)


def record(out: dict[str, Any], name: str, level: int, svc: dict[str, Any],
           base: dict[str, Any], **extra: Any) -> None:
    """Keep one endpoint's figures at one level, and log them."""
    r = ratios(svc, base)
    out.setdefault(name, {})[level] = {"service": svc, "baseline": base, "ratio": r, **extra}
    log(f"{name:15} c={level:<3} service {svc['rps']:7.0f} req/s p50 {svc['p50_ms']:7.2f} "
        f"p99 {svc['p99_ms']:7.2f} ms cpu {svc['cpu_s_per_1000']:.2f} s/1k err "
        f"{svc['errors']} | baseline {base['rps']:7.0f} req/s p50 {base['p50_ms']:6.2f} "
        f"p99 {base['p99_ms']:6.2f} | x{r['rps']} rps, x{r['p99']} p99")


def summary_lines(results: dict[str, Any]) -> list[str]:
    if not results.get("load"):
        return []
    lines = ["",
             "Load (service = run.py; baseline = bare ASGI on Hypercorn; ratio = service/baseline;",
             "      err = no HTTP 200; bad = HTTP 200 with fallback TwiML, the handler failed)"]
    header = (f"{'endpoint':16}{'conns':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'cpu s/1k':>10}{'err':>5}{'bad':>5} | {'base r/s':>9}{'p50':>7}{'p99':>7}"
              f"{'cpu/1k':>8} | {'x r/s':>6}{'x p50':>7}{'x p99':>7}{'x cpu':>7}")
    lines += [header, "-" * len(header)]
    for endpoint in ENDPOINTS:
        for level, row in results.get("load", {}).get(endpoint, {}).items():
            s, b, r = row["service"], row["baseline"], row["ratio"]
            lines.append(
                f"{endpoint:16}{level:>6}{fmt(s['rps'], 0):>9}{fmt(s['p50_ms']):>9}"
                f"{fmt(s['p99_ms']):>9}{fmt(s['cpu_s_per_1000']):>10}{s['errors']:>5}"
                f"{s.get('bad_answers', 0):>5} | "
                f"{fmt(b['rps'], 0):>9}{fmt(b['p50_ms']):>7}{fmt(b['p99_ms']):>7}"
                f"{fmt(b['cpu_s_per_1000']):>8} | {fmt(r['rps']):>6}{fmt(r['p50']):>7}"
                f"{fmt(r['p99']):>7}{fmt(r['cpu']):>7}")
    return lines
