"""Dashboard queries: the store queries a dashboard runs, through
`ivr.store.Store` on a database the service is not using, each timed as one
`store.read` (median of 7): recent_decisions(100) unfiltered, by line, by
conversation, by SID; the open conversations with owner and waiting time;
recent_calls(50); everything ivr/dashboard.py's live view reads; the events
poll (latest_decision_id); /metrics' counts(); `ivr log --number`'s
find_decisions. Queries this version of the store does not have are left out."""

from __future__ import annotations

import inspect
import sqlite3
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from console import fmt
from service_db import STORE_TIME_FORMAT

OPEN_SQL = ("SELECT id, code, customer, owner, tier, opened_at, acked_at FROM conversations"
            " WHERE status = 'open' ORDER BY opened_at")


async def dashboard_queries(db: Path, repeats: int = 7) -> dict[str, dict[str, float]]:
    """The store queries a dashboard would run, through ivr.store.Store."""
    from ivr.clock import SystemClock
    from ivr.store import Store

    store = Store(db, SystemClock())
    await store.open()
    try:
        out = {}
        for name, query in _queries(*_middle_conversation_and_sid(db)).items():
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                rows = await store.read(query)
                times.append((time.perf_counter() - started) * 1000)
            out[name] = {"median_ms": statistics.median(times), "first_ms": times[0],
                         "rows": len(rows) if hasattr(rows, "__len__") else None}
        return out
    finally:
        await store.close()


def _middle_conversation_and_sid(db: Path) -> tuple[int, str]:
    """A conversation and a decision's SID from the middle of the history."""
    con = sqlite3.connect(db)
    middle_conversation = con.execute(
        "SELECT id FROM conversations ORDER BY id LIMIT 1 OFFSET"
        " (SELECT COUNT(*) / 2 FROM conversations)").fetchone()
    middle_sid = con.execute(
        "SELECT sid FROM decisions WHERE sid IS NOT NULL ORDER BY id LIMIT 1 OFFSET"
        " (SELECT COUNT(*) / 2 FROM decisions)").fetchone()
    con.close()
    return (middle_conversation[0] if middle_conversation else 1,
            middle_sid[0] if middle_sid else "SMnone")


def _queries(conversation_id: int, sid: str) -> dict[str, Callable[[Any], Any]]:
    """Each query by the name the summary prints, as a function of a store Tx."""
    from ivr.store import Tx

    open_conversations, live_view = dashboard_reads(Tx)
    queries: dict[str, Callable[[Any], Any]] = {
        "recent_decisions(100)": lambda tx: tx.recent_decisions(100),
        "recent_decisions(100, line)": lambda tx: tx.recent_decisions(100, line_id="qdn"),
        "recent_decisions(100, conversation)":
            lambda tx: tx.recent_decisions(100, conversation_id=conversation_id),
        "recent_decisions(100, sid)": lambda tx: tx.recent_decisions(100, sid=sid),
        "open conversations, owner, waiting": open_conversations,
        "recent_calls(50)": lambda tx: tx.recent_calls(50),
    }
    # the dashboard in ivr/dashboard.py, where this version of the store has it
    if all(hasattr(Tx, name) for name in ("open_conversations", "latest_decision_id")):
        queries["dashboard live view (all of it)"] = live_view
        queries["latest_decision_id (events poll)"] = lambda tx: tx.latest_decision_id()
    if hasattr(Tx, "counts"):
        queries["counts() (/metrics)"] = lambda tx: tx.counts()
    if hasattr(Tx, "find_decisions"):  # `ivr log --number`
        queries["find_decisions(100, number) (ivr log)"] = (
            lambda tx: tx.find_decisions(limit=100, number="+16197050000"))
    return queries


def _waiting(tx: Any, rows: list[Any]) -> list[Any]:
    return [(row["id"], row["owner"],
             (tx.now - datetime.strptime(row["opened_at"], STORE_TIME_FORMAT).replace(
                 tzinfo=timezone.utc)).total_seconds()) for row in rows]


def dashboard_reads(tx_class: type) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """The open conversations with their waiting time, and the live view.
    Tx's methods are plain functions run in the database thread in newer
    versions of the store, coroutines in older ones: both are supported, so
    the same benchmark measures older commits."""
    if inspect.iscoroutinefunction(tx_class.recent_decisions):
        async def open_conversations(tx: Any) -> list[Any]:
            return _waiting(tx, await tx._all(OPEN_SQL))

        async def live_view(tx: Any) -> list[Any]:
            """What ivr/dashboard.py _live_context reads, in one store.read."""
            conversations = await tx.open_conversations()
            trails = [await tx.recent_decisions(limit=50, conversation_id=c.id)
                      for c in conversations]
            calls = await tx.recent_calls(20)
            call_trails = [await tx.recent_decisions(limit=50, sid=c.call_sid)
                           for c in calls]
            await tx.latest_decision_id()
            return [*trails, *call_trails]
        return open_conversations, live_view

    def open_conversations_sync(tx: Any) -> list[Any]:
        return _waiting(tx, tx._all(OPEN_SQL))

    def live_view_sync(tx: Any) -> list[Any]:
        """What ivr/dashboard.py _live_context reads, in one store.read."""
        conversations = tx.open_conversations()
        trails = [tx.recent_decisions(limit=50, conversation_id=c.id)
                  for c in conversations]
        calls = tx.recent_calls(20)
        call_trails = [tx.recent_decisions(limit=50, sid=c.call_sid) for c in calls]
        tx.latest_decision_id()
        return [*trails, *call_trails]
    return open_conversations_sync, live_view_sync


def summary_lines(queries_ms: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """The table of medians, history against empty (part of the history section)."""
    lines = ["  dashboard queries (median of 7, ms)     history      empty"]
    for name, q in queries_ms["history"].items():
        e = queries_ms["empty"][name]
        lines.append(f"    {name:36}{fmt(q['median_ms']):>9}{fmt(e['median_ms']):>11}")
    return lines
