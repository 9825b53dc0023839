"""Every SQL statement the service runs for the usual webhooks, with SQLite's
query plan and its time on a database with a year of history: finds the
queries whose cost grows with history (a SCAN of a big table, or a sort of
all of a line's rows).

    python bench/plans.py [--db HISTORY.sqlite3] [--patches indexes]

Without --db it builds one with bench/history.py (1,000,000 decisions,
100,000 conversations). The app is driven in-process (Quart's test client,
signed webhooks, a fake Twilio on loopback): a new text, a follow-up, ACK,
a relay, CLOSE, a bare ACK with nothing waiting, a call and its Dial action
with no answer, a delivery status, the outbox and a timer sweep.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH.parent / "tests"))
sys.path.insert(0, str(BENCH))

import history  # noqa: E402
from dashboard_queries import dashboard_reads  # noqa: E402
from tests.support.fake_twilio import ACCOUNT_SID, API_KEY, API_SECRET, FakeTwilio  # noqa: E402
from paths import CONFIG  # noqa: E402
from twilio_requests import (AUTH_TOKEN, LINE, SERGIO, Request, call_params,  # noqa: E402
                             dial_actions, signed, sms_params)

PUBLIC = "http://bench.invalid"  # the service's public URL, which nothing needs to reach


def normalise(sql: str) -> str:
    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+(\.\d+)?\b", "?", sql)
    return re.sub(r"\s+", " ", sql).strip()


async def drive(db: Path, patches: str) -> list[str]:
    """The usual webhooks, the outbox, a timer sweep and the dashboard's reads,
    in-process on `db` with SQLite's trace on: every statement they ran."""
    if patches:
        import patched_run
        patched_run.apply(patches)
    from ivr.app import create_app
    from ivr.config import load_config
    from ivr.secrets import load_secrets

    fake = await FakeTwilio().start()
    env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
           "TWILIO_API_KEY": API_KEY, "TWILIO_API_SECRET": API_SECRET,
           "TWILIO_API_BASE": fake.url, "IVR_PUBLIC_BASE_URL": PUBLIC}
    config = load_config(CONFIG, database_override=str(db))
    app = create_app(config, load_secrets(env), background=False)
    statements: list[str] = []
    try:
        async with app.test_app() as test_app:
            client = test_app.test_client()
            svc = app.extensions["ivr"]
            await _trace(svc.store._db, statements.append)

            async def post(request: Request) -> str:
                _, target, body, headers = request
                response = await client.post(target, data=body.encode(), headers=dict(headers))
                assert response.status_code == 200, (target, response.status_code)
                return await response.get_data(as_text=True)

            await _webhooks(post, svc, fake)
            await svc.timers.fire_due()
            await svc.store.read(_dashboard_reads())
            await _trace(svc.store._db, None)
    finally:
        await fake.stop()
    return statements


async def _trace(raw: Any, callback: Callable[[str], Any] | None) -> None:
    """SQLite's trace callback on the store's connection (None: off)."""
    connection = getattr(raw, "_conn", None) or getattr(raw, "_connection")
    if hasattr(raw, "_execute"):  # aiosqlite: the connection lives in its thread
        await raw._execute(connection.set_trace_callback, callback)
    else:
        connection.set_trace_callback(callback)


async def _webhooks(post: Callable[[Request], Awaitable[str]], svc: Any, fake: Any) -> None:
    """A new text, a follow-up, ACK, a relay, CLOSE, a bare ACK, a delivery
    status, a call and its Dial action with no answer; the outbox drained."""
    customer = "+14155550177"
    await post(signed(PUBLIC, "/sms/incoming", sms_params(customer, "first text", f"SM{'1' * 32}")))
    await post(signed(PUBLIC, "/sms/incoming", sms_params(
        customer, "a follow-up", f"SM{'2' * 32}")))
    await svc.outbox.drain()
    for digit, body in (("3", "ACK"), ("4", "On my way"), ("5", "CLOSE"), ("6", "ACK")):
        await post(signed(PUBLIC, "/sms/incoming", sms_params(SERGIO, body, f"SM{digit * 32}")))
    await svc.outbox.drain()
    sent = fake.messages[0].sid if fake.messages else "SMunknown"
    await post(signed(PUBLIC, "/sms/status", [
        ("MessageSid", sent), ("SmsSid", sent), ("MessageStatus", "delivered"),
        ("SmsStatus", "delivered"), ("AccountSid", ACCOUNT_SID),
        ("From", LINE), ("To", SERGIO), ("ApiVersion", "2010-04-01")]))
    call_sid = f"CA{'7' * 32}"
    twiml = await post(signed(PUBLIC, "/voice/incoming", call_params(call_sid, "+14155550178")))
    for request in dial_actions(PUBLIC, [(twiml, call_sid)]):
        await post(request)


def _dashboard_reads() -> Callable[[Any], Any]:
    """What ivr/dashboard.py's live view and /metrics read, and a line's recent
    decisions, as one store.read (a coroutine for a store whose Tx is async)."""
    from ivr.store import Tx

    _, live_view = dashboard_reads(Tx)
    if inspect.iscoroutinefunction(Tx.recent_decisions):
        async def read_async(tx: Any) -> None:
            if hasattr(Tx, "open_conversations"):
                await live_view(tx)
            if hasattr(Tx, "counts"):
                await tx.counts()
            await tx.recent_decisions(100, line_id="qdn")
        return read_async

    def read(tx: Any) -> None:
        if hasattr(Tx, "open_conversations"):
            live_view(tx)
        if hasattr(Tx, "counts"):
            tx.counts()
        tx.recent_decisions(100, line_id="qdn")
    return read


def explain(db: Path, statements: list[str]) -> list[dict]:
    con = sqlite3.connect(db, isolation_level=None)
    seen: dict[str, dict] = {}
    for sql in statements:
        key = normalise(sql)
        head = key.split(" ", 1)[0].upper()
        if head in ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "CREATE") or key in seen:
            if key in seen:
                seen[key]["count"] += 1
            continue
        try:
            plan = [row[3] for row in con.execute("EXPLAIN QUERY PLAN " + sql)]
        except sqlite3.Error as exc:
            plan = [f"(no plan: {exc})"]
        times = []
        for _ in range(3):
            con.execute("BEGIN")
            started = time.perf_counter()
            try:
                con.execute(sql).fetchall()
            except sqlite3.Error:
                pass
            times.append((time.perf_counter() - started) * 1000)
            con.execute("ROLLBACK")
        scans = [p for p in plan if p.startswith("SCAN") and "USING" not in p
                 or "TEMP B-TREE FOR ORDER BY" in p]
        seen[key] = {"sql": key, "plan": plan, "ms": statistics.median(times), "count": 1,
                     "flag": "SCAN/SORT" if scans else ""}
    con.close()
    return sorted(seen.values(), key=lambda r: -r["ms"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", help="a history database (copied; default: build one)")
    parser.add_argument("--patches", default="")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ivr-plans-"))
    try:
        db = tmp / "history.sqlite3"
        if args.db:
            shutil.copy(args.db, db)
        else:
            print("building the history database ...", flush=True)
            print(history.build(db))
        statements = asyncio.run(drive(db, args.patches))
        rows = explain(db, statements)
        print(f"{len(statements)} statements, {len(rows)} distinct; slowest first, on "
              f"{db.stat().st_size // 2**20} MB of history:")
        for row in rows[:args.top]:
            print(f"{row['ms']:9.2f} ms  x{row['count']:<3} {row['flag']:9} {row['sql'][:150]}")
            print(f"{'':26}plan: {' | '.join(row['plan'])[:160]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(str(tmp / "history.sqlite3") + suffix):
                os.unlink(str(tmp / "history.sqlite3") + suffix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
