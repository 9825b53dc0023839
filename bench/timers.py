"""Timers: conversations, their texts, their tier-1 pages and `ack_timeout`
timers inserted straight into the running service's database, then, for each
timer due within the window, how late it fired (`fired_at - due_at`, the
sweep that claimed it) and how late the fake Twilio received the first REST
send it caused (next tier's page, the notice to tier 1, the customer's
escalation text), and the rate the sweep fired at.

  - backlog: 10,000 pending, 500 of them due evenly over the next 10 s;
  - burst: all 10,000 due within 10 s
(1,000 and 100 with --quick)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from console import fmt, log
from harness import Harness
from servers import Server, TwilioSink
from service_db import (STORE_TIME_FORMAT, connect, parse_store_time, retire, sync_ids,
                        wait_until_outbox_sent)
from stats import pct

TIMER_CUSTOMER_PREFIX = "+1510"  # customers of the timer tests
START_IN, SPREAD = 3.0, 10.0  # the first timer is due in 3 s, the due ones over 10 s


def measure_timers(harness: Harness, service: Server, pending: int = 0,
                   burst: bool = True) -> dict[str, Any]:
    """`pending`: how many timers the backlog holds (default 10,000, --quick
    1,000); `burst`: also the burst of as many, all due within 10 s."""
    db = service.db
    assert db is not None
    total = pending or (1000 if harness.quick else 10_000)
    out = {}
    # (a) 10,000 pending, a few hundred of them due in the next ~10 s
    due_now = 100 if harness.quick else 500
    out["backlog"] = _timer_test(harness, service, db, total=total, due_soon=due_now,
                                 prefix_start=0)
    if burst:
        # (b) all 10,000 due within ~10 s: a burst the sweeper and outbox must absorb
        out["burst"] = _timer_test(harness, service, db, total=total, due_soon=total,
                                   prefix_start=total)
    return out


def _customer(prefix_start: int, i: int) -> str:
    return f"{TIMER_CUSTOMER_PREFIX}{2_000_000 + prefix_start + i:07d}"


def _insert_timers(db: Path, total: int, due_soon: int,
                   prefix_start: int) -> tuple[int, dict[int, str]]:
    """`total` open conversations paged to tier 1, each with a pending ACK timer,
    the first `due_soon` due over the window and the rest in an hour or more.
    Returns the first conversation id and each conversation's due_at."""
    con = connect(db)
    due: dict[int, str] = {}
    try:
        first_id = (con.execute("SELECT MAX(id) FROM conversations").fetchone()[0] or 0) + 1
        # Those due in an hour first, then those due soon: inserting 100,000 rows
        # takes long enough on PostgreSQL that "soon" must be counted from after it.
        for part in (range(due_soon, total), range(min(due_soon, total))):
            con.execute("BEGIN IMMEDIATE")
            now = datetime.now(timezone.utc)
            opened = (now - timedelta(seconds=100)).strftime(STORE_TIME_FORMAT)
            conversations, inbound, pages, timers = [], [], [], []
            for i in part:
                cid = first_id + i
                customer = _customer(prefix_start, i)
                conversations.append((cid, "qdn", customer, i + 1, "sms", "open", 0, opened))
                inbound.append((f"SMtimer{cid:026x}", "qdn", customer, cid,
                                f"timer test {cid}", opened))
                pages.append((cid, "sergio", 0, opened))
                if i < due_soon:
                    at = now + timedelta(seconds=START_IN + SPREAD * i / max(due_soon, 1))
                else:
                    at = now + timedelta(hours=1, seconds=i)
                due[cid] = at.strftime(STORE_TIME_FORMAT)
                timers.append((cid, 0, due[cid]))
            _insert_rows(con, conversations, inbound, pages, timers)
            sync_ids(con, "conversations")
            con.execute("COMMIT")
    finally:
        con.close()
    return first_id, due


def _insert_rows(con: Any, conversations: list[tuple], inbound: list[tuple],
                 pages: list[tuple], timers: list[tuple]) -> None:
    con.executemany("INSERT INTO conversations (id, line_id, customer, code, origin,"
                    " status, tier, opened_at) VALUES (?,?,?,?,?,?,?,?)", conversations)
    # the codes they hold, as the service's own open_conversation records them
    con.executemany("INSERT INTO line_codes (line_id, code, reusable_at) VALUES (?, ?, NULL)"
                    " ON CONFLICT (line_id, code) DO UPDATE SET reusable_at = NULL",
                    [(c[1], c[3]) for c in conversations])
    con.executemany("INSERT INTO inbound_messages (message_sid, line_id, sender,"
                    " conversation_id, body, media_urls, received_at, reply_twiml)"
                    " VALUES (?,?,?,?,?,'[]',?,'')", inbound)
    con.executemany("INSERT INTO pages (conversation_id, responder_id, tier, paged_at)"
                    " VALUES (?,?,?,?)", pages)
    con.executemany("INSERT INTO timers (conversation_id, kind, tier, due_at, state)"
                    " VALUES (?, 'ack_timeout', ?, ?, 'pending')", timers)


def _wait_until_fired(db: Path, sink: TwilioSink, first_id: int, total: int, soon: int,
                      sends: int, deadline: float) -> tuple[list[Any], dict[int, str]]:
    """Wait until the `soon` due timers fired and `sends` REST sends arrived (or
    the deadline); then each timer's row and each conversation's first sent_at."""
    con = connect(db)
    try:
        while time.time() < deadline:
            fired = con.execute(
                "SELECT COUNT(*) FROM timers WHERE state = 'fired' AND conversation_id >= ?"
                " AND conversation_id < ?", (first_id, first_id + soon)).fetchone()[0]
            if fired >= soon and sink.count() >= sends:
                break
            time.sleep(0.2)
        rows = con.execute(
            "SELECT conversation_id, due_at, fired_at, state FROM timers WHERE"
            " conversation_id >= ? AND conversation_id < ? AND tier = 0",
            (first_id, first_id + total)).fetchall()
        sent_at = dict(con.execute(
            "SELECT conversation_id, MIN(sent_at) FROM outbox WHERE conversation_id >= ?"
            " AND conversation_id < ? GROUP BY conversation_id",
            (first_id, first_id + total)).fetchall())
    finally:
        con.close()
    return rows, sent_at


def _sends_by_conversation(messages: list[list[Any]], by_customer: dict[str, int],
                           first_id: int) -> tuple[dict[int, float], dict[int, float]]:
    """Each send at the fake Twilio mapped to its conversation: by the customer's
    number, or by the code in "[QDN #code]" (codes are 1..total here). The first
    and the last arrival per conversation."""
    first_send: dict[int, float] = {}
    last_send: dict[int, float] = {}
    for t, to, body in messages:
        cid = by_customer.get(to)
        if cid is None:
            match = re.search(r"#(\d+)\]", body)
            cid = first_id + int(match.group(1)) - 1 if match else None
        if cid is None:
            continue
        first_send[cid] = min(first_send.get(cid, t), t)
        last_send[cid] = max(last_send.get(cid, t), t)
    return first_send, last_send


def _lateness(rows: list[Any], soon: set[int], first_send: dict[int, float],
              last_send: dict[int, float], sent_at: dict[int, str]
              ) -> tuple[dict[str, list[float]], int]:
    """Per due timer, ms after due_at: fired, first send arrived, last send
    arrived, the outbox's sent_at. And how many due timers did not fire."""
    late: dict[str, list[float]] = {"fire": [], "send": [], "all_sent": [], "outbox": []}
    unfired = 0
    for cid, due_at, fired_at, state in rows:
        if cid not in soon:
            continue
        if state != "fired" or not fired_at:
            unfired += 1
            continue
        d = parse_store_time(due_at)
        late["fire"].append((parse_store_time(fired_at) - d) * 1000)
        if cid in first_send:
            late["send"].append((first_send[cid] - d) * 1000)
            late["all_sent"].append((last_send[cid] - d) * 1000)
        if sent_at.get(cid):
            late["outbox"].append((parse_store_time(sent_at[cid]) - d) * 1000)
    return late, unfired


def _timer_test(harness: Harness, service: Server, db: Path, total: int, due_soon: int,
                prefix_start: int) -> dict[str, Any]:
    retire(db)
    wait_until_outbox_sent(db)
    first_id, due = _insert_timers(db, total, due_soon, prefix_start)
    sink = harness.fake_twilio
    since = sink.count()
    cpu_before = service.cpu()
    soon = {cid for cid, at in due.items()
            if parse_store_time(at) < time.time() + START_IN + SPREAD + 1}
    expected_sends = 3 * len(soon)  # the next tier, a notice to tier 1, the customer
    deadline = time.time() + START_IN + SPREAD + (60 if len(soon) <= 1000 else 240)
    rows, sent_at = _wait_until_fired(db, sink, first_id, total, len(soon),
                                      since + expected_sends, deadline)
    cpu = service.cpu() - cpu_before
    by_customer = {_customer(prefix_start, i): first_id + i for i in range(total)}
    messages = sink.messages(since)
    late, unfired = _lateness(rows, soon, *_sends_by_conversation(messages, by_customer,
                                                                   first_id), sent_at)
    fired_times = sorted(parse_store_time(r[2]) for r in rows if r[2])
    span = (fired_times[-1] - fired_times[0]) if len(fired_times) > 1 else 0
    result = {
        "pending": total, "due_in_window": len(soon), "window_s": SPREAD, "unfired": unfired,
        **_p50_p99_max("fire_late", late["fire"]),
        **_p50_p99_max("send_started_late", late["send"]),
        "all_three_sent_late_p99_ms": pct(late["all_sent"], 99),
        "outbox_sent_at_late_p99_ms": pct(late["outbox"], 99),
        "sends_expected": expected_sends, "sends_seen": len(messages),
        "fired_per_s": (len(fired_times) / span) if span else None,
        "service_cpu_s": cpu,
    }
    retire(db)
    log(f"timers ({len(soon)} of {total} due within {SPREAD:.0f} s): fired late p50 "
        f"{result['fire_late_p50_ms']} p99 {result['fire_late_p99_ms']} ms; send started "
        f"late p99 {result['send_started_late_p99_ms']} ms; unfired {unfired}")
    return result


def _p50_p99_max(name: str, values: list[float]) -> dict[str, float | None]:
    return {f"{name}_p50_ms": pct(values, 50), f"{name}_p99_ms": pct(values, 99),
            f"{name}_max_ms": max(values) if values else None}


def summary_lines(results: dict[str, Any]) -> list[str]:
    timers = results.get("timers")
    if not timers:
        return []
    lines = ["", "Timers (ms late after due_at)      fired p50/p99/max          "
                 "REST send started p50/p99/max   fired/s"]
    for name, t in timers.items():
        lines.append(f"  {name:8} {t['due_in_window']:>6} of {t['pending']:>6} pending: "
                     f"{fmt(t['fire_late_p50_ms'], 0):>7} {fmt(t['fire_late_p99_ms'], 0):>7} "
                     f"{fmt(t['fire_late_max_ms'], 0):>7}    "
                     f"{fmt(t['send_started_late_p50_ms'], 0):>7} "
                     f"{fmt(t['send_started_late_p99_ms'], 0):>7} "
                     f"{fmt(t['send_started_late_max_ms'], 0):>7}   "
                     f"{fmt(t['fired_per_s'], 0)}  (unfired {t['unfired']})")
    return lines
