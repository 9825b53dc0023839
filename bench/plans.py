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
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH.parent / "tests"))
sys.path.insert(0, str(BENCH))

import history  # noqa: E402
import run as bench  # noqa: E402
from fake_twilio import ACCOUNT_SID, API_KEY, API_SECRET, FakeTwilio  # noqa: E402


def normalise(sql: str) -> str:
    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+(\.\d+)?\b", "?", sql)
    return re.sub(r"\s+", " ", sql).strip()


async def drive(db: Path, patches: str) -> list[str]:
    if patches:
        import patched_run
        patched_run.apply(patches)
    from ivr.app import create_app
    from ivr.config import load_config
    from ivr.secrets import load_secrets

    fake = await FakeTwilio().start()
    public = "http://bench.invalid"
    env = {"TWILIO_AUTH_TOKEN": bench.AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
           "TWILIO_API_KEY": API_KEY, "TWILIO_API_SECRET": API_SECRET,
           "TWILIO_API_BASE": fake.url, "IVR_PUBLIC_BASE_URL": public}
    config = load_config(bench.CONFIG, database_override=str(db))
    app = create_app(config, load_secrets(env), background=False)
    statements: list[str] = []
    try:
        async with app.test_app() as test_app:
            client = test_app.test_client()
            svc = app.extensions["ivr"]
            raw = svc.store._db
            connection = getattr(raw, "_conn", None) or getattr(raw, "_connection")
            if hasattr(raw, "_execute"):  # aiosqlite: the connection lives in its thread
                await raw._execute(connection.set_trace_callback, statements.append)
            else:
                connection.set_trace_callback(statements.append)

            async def post(request: bench.Request) -> str:
                _, target, body, headers = request
                response = await client.post(target, data=body.encode(), headers=dict(headers))
                assert response.status_code == 200, (target, response.status_code)
                return await response.get_data(as_text=True)

            customer = "+14155550177"
            sid = f"SM{'1' * 32}"
            await post(bench.signed(public, "/sms/incoming",
                                    bench.sms_params(customer, "first text", sid)))
            await post(bench.signed(public, "/sms/incoming", bench.sms_params(
                customer, "a follow-up", f"SM{'2' * 32}")))
            await svc.outbox.drain()
            await post(bench.signed(public, "/sms/incoming", bench.sms_params(
                bench.SERGIO, "ACK", f"SM{'3' * 32}")))
            await post(bench.signed(public, "/sms/incoming", bench.sms_params(
                bench.SERGIO, "On my way", f"SM{'4' * 32}")))
            await post(bench.signed(public, "/sms/incoming", bench.sms_params(
                bench.SERGIO, "CLOSE", f"SM{'5' * 32}")))
            await post(bench.signed(public, "/sms/incoming", bench.sms_params(
                bench.SERGIO, "ACK", f"SM{'6' * 32}")))
            await svc.outbox.drain()
            sent = fake.messages[0].sid if fake.messages else "SMunknown"
            await post(bench.signed(public, "/sms/status", [
                ("MessageSid", sent), ("SmsSid", sent), ("MessageStatus", "delivered"),
                ("SmsStatus", "delivered"), ("AccountSid", ACCOUNT_SID),
                ("From", bench.LINE), ("To", bench.SERGIO), ("ApiVersion", "2010-04-01")]))
            call_sid = f"CA{'7' * 32}"
            twiml = await post(bench.signed(public, "/voice/incoming",
                                            bench.call_params(call_sid, "+14155550178")))
            for request in bench.dial_actions(public, [(twiml, call_sid)]):
                await post(request)
            await svc.timers.fire_due()
            from ivr.store import Tx

            def dashboard_sync(tx):  # what ivr/dashboard.py and /metrics read
                if hasattr(Tx, "open_conversations"):
                    for c in tx.open_conversations():
                        tx.recent_decisions(limit=50, conversation_id=c.id)
                    for c in tx.recent_calls(20):
                        tx.recent_decisions(limit=50, sid=c.call_sid)
                    tx.latest_decision_id()
                if hasattr(Tx, "counts"):
                    tx.counts()
                tx.recent_decisions(100, line_id="qdn")

            async def dashboard_async(tx):  # the same, for a store whose Tx is async
                if hasattr(Tx, "open_conversations"):
                    for c in await tx.open_conversations():
                        await tx.recent_decisions(limit=50, conversation_id=c.id)
                    for c in await tx.recent_calls(20):
                        await tx.recent_decisions(limit=50, sid=c.call_sid)
                    await tx.latest_decision_id()
                if hasattr(Tx, "counts"):
                    await tx.counts()
                await tx.recent_decisions(100, line_id="qdn")

            import inspect
            asynchronous = inspect.iscoroutinefunction(Tx.recent_decisions)
            await svc.store.read(dashboard_async if asynchronous else dashboard_sync)
            if hasattr(raw, "_execute"):
                await raw._execute(connection.set_trace_callback, None)
            else:
                connection.set_trace_callback(None)
    finally:
        await fake.stop()
    return statements


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
