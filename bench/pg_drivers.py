"""Which PostgreSQL driver for the store: the statements of one new
conversation's text (the `/sms/incoming` write transaction), run by N
concurrent clients through

  (a) psycopg 3, synchronous, each transaction whole in a thread of a pool
      (ThreadPoolExecutor + psycopg_pool.ConnectionPool), awaited from an
      asyncio loop: what ivr/store/postgres.py does;
  (b) psycopg 3 async (AsyncConnectionPool, one await per statement);
  (c) asyncpg (a Pool, one await per statement; pip install asyncpg, not a
      dependency of ivr).

    .venv/bin/python bench/pg_drivers.py [--quick] [--clients 1,8,32]
        [--transactions N] [--rounds 2] [--pg-url URL] [--show]

Same statements, same parameters, same isolation (BEGIN ISOLATION LEVEL
SERIALIZABLE ... COMMIT, run again on a serialization failure), each
driver's defaults otherwise (psycopg prepares a statement from its 5th use,
asyncpg from its first). The statements are not retyped from the source:
they are captured first, by posting one text through the app in-process
(ivr.store.postgres.Connection.execute wrapped) on a fresh database, and
the benchmark stops if the text path no longer runs the statements TEXT_TX
names. Each client texts a line of its own, so the transactions do not
contend for the line's conversation codes (that contention is measured by
bench/engines.py); what is left is the cost of the driver.

Per driver and N: transactions/s, p50/p99 of one transaction (from the
caller's await to its result), CPU per transaction in this process (the
driver, its threads, the event loop) and in the PostgreSQL cluster. The
drivers alternate within each round. Default cluster: a throwaway one
(scripts/postgres, fsync off), stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from paths import BENCH, REPO  # noqa: F401 - sys.path
from pg_cluster import PgCluster
from stats import pct

FMT = "%Y-%m-%dT%H:%M:%S.%fZ"
RESPONDER = "+16195550101"
LINE_NUMBER = "+16195550100"
TEXT = "the bin by the gate is full"
REPLY = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Message>Thanks, we got your'
         ' message. Sergio will reply shortly.</Message></Response>')

# The write transaction of a text that opens a conversation, in order (as
# captured from ivr on 2026-11-26; checked against a fresh capture at start).
TEXT_TX = [
    "SELECT reply_twiml FROM inbound_messages WHERE message_sid = ?",
    "INSERT INTO inbound_messages (message_sid, line_id, sender, body, media_urls, received_at,"
    " reply_twiml) VALUES (?, ?, ?, ?, ?, ?, '')",
    "SELECT 1 FROM blocked_numbers WHERE number = ? AND line_id IN (?, ?)",
    "SELECT * FROM conversations WHERE line_id = ? AND customer = ? AND status = 'open'",
    "SELECT COALESCE( (SELECT MIN(code) FROM line_codes WHERE line_id = ? AND reusable_at < ?),"
    " (SELECT COALESCE(MAX(code), 0) + 1 FROM line_codes WHERE line_id = ?))",
    "INSERT INTO line_codes (line_id, code, reusable_at) VALUES (?, ?, NULL) ON CONFLICT"
    " (line_id, code) DO UPDATE SET reusable_at = NULL",
    "INSERT INTO conversations (line_id, customer, code, origin, status, tier, opened_at)"
    " VALUES (?, ?, ?, ?, 'open', 0, ?) RETURNING id",
    "INSERT INTO decisions (at, line_id, channel, sid, conversation_id, tier, responder_id,"
    " kind, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    "UPDATE inbound_messages SET conversation_id = ? WHERE message_sid = ?",
    "SELECT responder_id, status, until FROM availability_overrides WHERE until IS NULL OR"
    " until > ?",
    "SELECT body, media_urls FROM inbound_messages WHERE conversation_id = ?  ORDER BY"
    " received_at, arrival",
    "INSERT INTO decisions (at, line_id, channel, sid, conversation_id, tier, responder_id,"
    " kind, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    "INSERT INTO pages (conversation_id, responder_id, tier, paged_at) VALUES (?, ?, ?, ?) ON"
    " CONFLICT (conversation_id, responder_id, tier) DO UPDATE SET paged_at ="
    " excluded.paged_at",
    "SELECT error_code, reason, marked_at FROM unreachable_numbers WHERE number = ?",
    "INSERT INTO outbox (decision_id, line_id, conversation_id, purpose, responder_id, tier,"
    " to_number, from_number, body, media_urls, status, attempts, claimed_until,"
    " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " RETURNING id",
    "UPDATE inbound_messages SET forwarded = 1 WHERE conversation_id = ? AND forwarded = 0",
    "UPDATE conversations SET last_forward_at = ? WHERE id = ?",
    "INSERT INTO timers (conversation_id, kind, tier, due_at, state) VALUES (?, ?, ?, ?,"
    " 'pending') RETURNING id",
    "SELECT 1 FROM opt_outs WHERE line_id = ? AND number = ?",
    "INSERT INTO decisions (at, line_id, channel, sid, conversation_id, tier, responder_id,"
    " kind, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    "UPDATE inbound_messages SET reply_twiml = ? WHERE message_sid = ?",
]


def text_transaction(line: str, customer: str, sid: str) -> Callable[[Callable], Any]:
    """The transaction as a generator of (sql, params): it is sent each
    statement's first row, so later parameters can use earlier results
    (the code, the conversation's and the decision's ids), as ivr does."""
    def steps():
        now = datetime.now(timezone.utc)
        at = now.strftime(FMT)
        s = TEXT_TX
        yield s[0], (sid,)
        yield s[1], (sid, line, customer, TEXT, "[]", at)
        yield s[2], (customer, line, "*")
        yield s[3], (line, customer)
        code = (yield s[4], (line, at, line))[0]
        yield s[5], (line, code)
        cid = (yield s[6], (line, customer, code, "sms", at))[0]
        yield s[7], (at, line, "sms", sid, cid, 0, None, "conversation_opened",
                     f"first text from {customer[:5]}***{customer[-4:]} with no open"
                     f" conversation; code #{code}")
        yield s[8], (cid, sid)
        yield s[9], (at,)
        yield s[10], (cid,)
        decision = (yield s[11], (at, line, "sms", sid, cid, 0, "sergio", "message_forwarded",
                                  "tier 1 of 2 is paged until someone ACKs"))[0]
        yield s[12], (cid, "sergio", 0, at)
        yield s[13], (RESPONDER,)
        yield s[14], (decision, line, cid, "page", "sergio", 0, RESPONDER, LINE_NUMBER,
                      f"[QDN #{code}] {customer}: {TEXT} - reply ACK to take it", "[]",
                      "pending", 0, None, at, at)
        yield s[15], (cid,)
        yield s[16], (at, cid)
        yield s[17], (cid, "ack_timeout", 0, (now + timedelta(seconds=120)).strftime(FMT))
        yield s[18], (line, customer)
        yield s[19], (at, line, "sms", sid, cid, None, None, "customer_acknowledged",
                      "a new conversation gets the line's ack template")
        yield s[20], (REPLY, sid)
    return steps  # type: ignore[return-value]


# -- capture: what the app runs for one new text --------------------------------------

def capture(url: str) -> list[str]:
    """The SQL of the write transaction of one text that opens a conversation,
    posted through the app in-process on database `url`."""
    import ivr.store.postgres as pgs
    from ivr.config import load_config
    from tests.support.fake_twilio import FakeTwilio
    from tests.support.harness import EXAMPLE_CONFIG, LINE, open_harness

    seen: list[tuple[str, str]] = []
    original = pgs.Connection.execute

    def execute(self: Any, sql: str, params: Any = ()) -> Any:
        seen.append((getattr(self, "_isolation", ""), sql))
        return original(self, sql, params)

    original_tx = pgs.PostgresStore._transaction

    def transaction(self: Any, fn: Any, isolation: str) -> Any:
        def tagged(tx: Any) -> Any:
            tx._db._isolation = isolation
            return fn(tx)
        return original_tx(self, tagged, isolation)

    async def post() -> None:
        fake = await FakeTwilio().start()
        config = load_config(EXAMPLE_CONFIG, database_override=url)
        try:
            async with open_harness(config, fake) as h:
                await h.twilio.text(from_="+14152000001", to=LINE, body=TEXT)  # warm
                pgs.Connection.execute = execute  # type: ignore[method-assign]
                pgs.PostgresStore._transaction = transaction  # type: ignore[method-assign]
                try:
                    await h.twilio.text(from_="+14152000002", to=LINE, body=TEXT)
                finally:
                    pgs.Connection.execute = original  # type: ignore[method-assign]
                    pgs.PostgresStore._transaction = original_tx  # type: ignore[method-assign]
        finally:
            await fake.stop()

    asyncio.run(post())
    return [sql for isolation, sql in seen if isolation == "SERIALIZABLE"]


# -- the three drivers ----------------------------------------------------------------

def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Driver:
    name = ""
    retries = 0
    failed = 0

    async def open(self, url: str, clients: int) -> None: ...
    async def close(self) -> None: ...
    async def run(self, steps: Any) -> None: ...


def _psycopg_sql(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


def _asyncpg_sql(sql: str) -> str:
    out, n = [], 0
    for ch in sql:
        if ch == "?":
            n += 1
            out.append(f"${n}")
        else:
            out.append(ch)
    return "".join(out)


def _is_serialization_failure(exc: BaseException) -> bool:
    return getattr(exc, "sqlstate", None) in ("40001", "40P01")


class PsycopgThreads(Driver):
    """(a) as the store: the whole transaction in a pool thread."""
    name = "psycopg sync + threads"

    async def open(self, url: str, clients: int) -> None:
        from psycopg_pool import ConnectionPool
        self.threads = ThreadPoolExecutor(clients)
        self.pool = ConnectionPool(url, min_size=clients, max_size=clients, open=False,
                                   kwargs={"autocommit": True})
        await asyncio.get_running_loop().run_in_executor(
            self.threads, lambda: self.pool.open(wait=True, timeout=30))

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.threads, self.pool.close)
        self.threads.shutdown()

    def _transaction(self, steps: Any) -> None:
        for attempt in range(30):
            with self.pool.connection() as conn:
                try:
                    conn.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
                    gen = steps()
                    sql, params = next(gen)
                    while True:
                        cur = conn.execute(_psycopg_sql(sql), params)
                        row = cur.fetchone() if cur.description else None
                        try:
                            sql, params = gen.send(row)
                        except StopIteration:
                            break
                    conn.execute("COMMIT")
                    return
                except Exception as exc:
                    conn.execute("ROLLBACK")
                    if not _is_serialization_failure(exc):
                        raise
            self.retries += 1
            time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 5)))
        self.failed += 1  # not serialised in 30 attempts: the store would give up

    async def run(self, steps: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(self.threads, self._transaction, steps)


class PsycopgAsync(Driver):
    """(b) psycopg's AsyncConnection: one await per statement."""
    name = "psycopg async"

    async def open(self, url: str, clients: int) -> None:
        from psycopg_pool import AsyncConnectionPool
        self.pool = AsyncConnectionPool(url, min_size=clients, max_size=clients, open=False,
                                        kwargs={"autocommit": True})
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    async def run(self, steps: Any) -> None:
        for attempt in range(30):
            async with self.pool.connection() as conn:
                try:
                    await conn.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
                    gen = steps()
                    sql, params = next(gen)
                    while True:
                        cur = await conn.execute(_psycopg_sql(sql), params)
                        row = await cur.fetchone() if cur.description else None
                        try:
                            sql, params = gen.send(row)
                        except StopIteration:
                            break
                    await conn.execute("COMMIT")
                    return
                except Exception as exc:
                    await conn.execute("ROLLBACK")
                    if not _is_serialization_failure(exc):
                        raise
            self.retries += 1
            await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 5)))
        self.failed += 1  # not serialised in 30 attempts: the store would give up


class Asyncpg(Driver):
    """(c) asyncpg: a Pool, one await per statement, its own BEGIN/COMMIT."""
    name = "asyncpg"

    async def open(self, url: str, clients: int) -> None:
        import asyncpg
        self.pool = await asyncpg.create_pool(url, min_size=clients, max_size=clients)

    async def close(self) -> None:
        await self.pool.close()

    async def run(self, steps: Any) -> None:
        import asyncpg
        for attempt in range(30):
            async with self.pool.acquire() as conn:
                try:
                    async with conn.transaction(isolation="serializable"):
                        gen = steps()
                        sql, params = next(gen)
                        while True:
                            row = await conn.fetchrow(_asyncpg_sql(sql), *params)
                            try:
                                sql, params = gen.send(row)
                            except StopIteration:
                                break
                    return
                except (asyncpg.SerializationError, asyncpg.DeadlockDetectedError):
                    pass
            self.retries += 1
            await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 5)))
        self.failed += 1  # not serialised in 30 attempts: the store would give up


DRIVERS: list[type[Driver]] = [PsycopgThreads, PsycopgAsync, Asyncpg]


async def measure(driver: Driver, url: str, clients: int, transactions: int, tag: str,
                  pg: PgCluster) -> dict[str, Any]:
    await driver.open(url, clients)
    try:
        # warm: every statement prepared by each connection that will run it
        await asyncio.gather(*(driver.run(text_transaction(f"w{tag}{c}", f"+1999{c:03d}{i:04d}",
                                                           f"SMw{tag}{c:08d}{i}"))
                               for c in range(clients) for i in range(6)))
        latencies: list[float] = []
        per_client = max(transactions // clients, 1)
        driver.retries = driver.failed = 0

        async def client(c: int) -> None:
            line = f"{tag}{c}"  # a line of its own: no contention for codes
            for i in range(per_client):
                steps = text_transaction(line, f"+1415{c:03d}{i:05d}", f"SM{tag}x{c:04d}{i:08d}")
                started = time.perf_counter()
                await driver.run(steps)
                latencies.append((time.perf_counter() - started) * 1000)

        cpu, pg_cpu, started = _cpu(), pg.cpu(), time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(clients)))
        elapsed = time.perf_counter() - started
        cpu, pg_cpu = _cpu() - cpu, pg.cpu() - pg_cpu
    finally:
        await driver.close()
    n = len(latencies) - driver.failed  # committed
    return {"driver": driver.name, "clients": clients, "transactions": n,
            "tx_per_s": n / elapsed, "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99),
            "client_cpu_ms_per_tx": cpu / n * 1000, "pg_cpu_ms_per_tx": pg_cpu / n * 1000,
            "serialization_reruns": driver.retries, "failed_after_30": driver.failed}


def pooled(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds of one driver at one N: medians."""
    def median(key: str) -> float:
        values = sorted(r[key] for r in rows)
        return values[len(values) // 2] if len(values) % 2 else \
            (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2
    return {"driver": rows[0]["driver"], "clients": rows[0]["clients"], "rounds": len(rows),
            **{k: median(k) for k in ("tx_per_s", "p50_ms", "p99_ms", "client_cpu_ms_per_tx",
                                      "pg_cpu_ms_per_tx")},
            "serialization_reruns": sum(r["serialization_reruns"] for r in rows),
            "failed_after_30": sum(r["failed_after_30"] for r in rows)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--transactions", type=int, default=0,
                        help="per driver, N and round (default 2000; --quick 300)")
    parser.add_argument("--rounds", type=int, default=0, help="default 3; --quick 1")
    parser.add_argument("--pg-url", default="")
    parser.add_argument("--show", action="store_true", help="print the captured statements")
    parser.add_argument("--out", default=str(BENCH / "results-pg-drivers.json"))
    args = parser.parse_args()
    transactions = args.transactions or (300 if args.quick else 2000)
    rounds = args.rounds or (1 if args.quick else 3)
    tmp = Path(tempfile.mkdtemp(prefix="ivr-bench-drivers-"))
    pg = PgCluster(url=args.pg_url or None)
    results: dict[str, Any] = {"command": " ".join(["python", "bench/pg_drivers.py",
                                                    *sys.argv[1:]])}
    try:
        pg.start()
        results["pg_settings"] = pg.settings()
        name = f"ivr_bench_drivers_{tmp.name[-8:].lower().replace('-', '_')}"
        url = pg.create_database(name)
        captured = capture(url)
        if args.show:
            print("\n".join(captured))
        if captured != TEXT_TX:
            extra = [s for s in captured if s not in TEXT_TX]
            missing = [s for s in TEXT_TX if s not in captured]
            raise SystemExit(f"the text path changed: TEXT_TX no longer matches what ivr runs"
                             f"\n  new: {extra}\n  gone: {missing}")
        results["statements"] = len(captured)
        import asyncpg
        import psycopg
        results["versions"] = {"psycopg": psycopg.__version__, "asyncpg": asyncpg.__version__}
        print(f"{len(captured)} statements per transaction, as captured; psycopg "
              f"{psycopg.__version__}, asyncpg {asyncpg.__version__}; {pg.settings()}",
              flush=True)
        raw: list[dict[str, Any]] = []
        for round_ in range(rounds):
            for clients in [int(c) for c in args.clients.split(",")]:
                order = DRIVERS if round_ % 2 == 0 else list(reversed(DRIVERS))
                for kind in order:
                    tag = f"r{round_}c{clients}{kind.__name__.lower()}"
                    row = asyncio.run(measure(kind(), url, clients, transactions, tag, pg))
                    raw.append(row)
                    print(f"round {round_ + 1} N={clients:<3} {row['driver']:24} "
                          f"{row['tx_per_s']:7.0f} tx/s p50 {row['p50_ms']:6.2f} p99 "
                          f"{row['p99_ms']:7.2f} ms cpu {row['client_cpu_ms_per_tx']:.3f} ms "
                          f"+ pg {row['pg_cpu_ms_per_tx']:.3f} ms re-runs "
                          f"{row['serialization_reruns']} failed {row['failed_after_30']}",
                          flush=True)
        results["raw"] = raw
        table = [pooled([r for r in raw if r["driver"] == d.name and r["clients"] == c])
                 for c in sorted({r["clients"] for r in raw}) for d in DRIVERS]
        results["table"] = table
        pg.drop_database(name)
    finally:
        pg.stop()
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=1, default=str)
    print(f"\nmedian of {rounds} round(s), {transactions} transactions each")
    print(f"{'clients':>7}  {'driver':24}{'tx/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'cpu ms/tx':>11}{'pg ms/tx':>10}{'re-runs':>9}{'failed':>8}")
    for r in results.get("table", []):
        print(f"{r['clients']:>7}  {r['driver']:24}{r['tx_per_s']:8.0f}{r['p50_ms']:9.2f}"
              f"{r['p99_ms']:9.2f}{r['client_cpu_ms_per_tx']:11.3f}"
              f"{r['pg_cpu_ms_per_tx']:10.3f}{r['serialization_reruns']:9}"
              f"{r['failed_after_30']:8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
