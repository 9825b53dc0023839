"""The store on PostgreSQL: the same transaction functions, the same
guarantees, shared by every instance that names the same database.

Transaction functions stay plain synchronous functions (see database.py):
each runs whole, in a thread of its own, on a connection from a pool
(psycopg 3's ConnectionPool), between BEGIN and COMMIT. A cancelled caller
(a client that hung up) leaves it to finish, as on SQLite.

SQLite runs one writer at a time, so every transaction function was
written to see the database as if alone. Here too every write, in every
instance, first takes one advisory lock (`pg_advisory_xact_lock`, released
at COMMIT or ROLLBACK, or when a dead instance's connection drops), then
runs at READ COMMITTED, so each statement sees everything committed before
the lock was granted: the order SQLite's file lock gives, across machines.
SERIALIZABLE without the lock was measured first (README, "PostgreSQL:
measured"): new texts on one line all read the line's next code, collided,
ran again until they gave up (601 of 6,000 texts failed at 64 connections
on two instances) and were slower, not faster. Reads take no lock.

Why psycopg 3 rather than asyncpg: asyncpg is async-only, so every one of
the store's transaction functions (and each caller's) would have to become
a coroutine, and then a transaction could interleave with others on the
event loop and be cancelled half-way, the two things the synchronous design
rules out. Measured on the text path: README, "PostgreSQL"."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Callable, Iterable, Sequence, TypeVar

import psycopg
from psycopg import errors
from psycopg_pool import ConnectionPool

from ..clock import Clock
from ..hooks.events import HookRoutes
from .dialect import POSTGRES, postgres_placeholders, redact_url
from .migrations import Step, upgrade
from .store_base import StoreBase
from .tx import Tx

log = logging.getLogger(__name__)

T = TypeVar("T")

# Threads (and so connections) per instance: webhooks, the outbox's sends
# and the timers' sweeps each get one without waiting on the others.
POOL_SIZE = 8

# A transaction PostgreSQL aborted (a deadlock with an upgrade, say) is
# run again up to this many times, after a short random pause that grows.
SERIALIZATION_ATTEMPTS = 30

# The one lock every write takes; any constant, the same in every instance.
WRITE_LOCK_KEY = 0x1F0E_5C4F
RETRY_PAUSE_SECONDS = 0.002

RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected)

# The same answer a write check gives on SQLite (see Store.write_problem).
WRITE_CHECK_SECONDS = 2


class Row(tuple):
    """A result row read as sqlite3.Row reads: by position, by column
    name, and as a mapping (dict(row))."""

    __slots__ = ()
    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], Row]:
    names = [column.name for column in cursor.description or ()]
    row_class = type("Row", (Row,), {"__slots__": (), "_index": {n: i for i, n in
                                                                  enumerate(names)}})
    return lambda values: row_class(values)


class Cursor:
    """What the store asks of a cursor: fetchone, fetchall, rowcount."""

    def __init__(self, cursor: psycopg.Cursor[Any]):
        self._cursor = cursor
        self.rowcount = cursor.rowcount

    def fetchone(self) -> Row | None:
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list[Row]:
        return self._cursor.fetchall() if self._cursor.description else []


class Connection:
    """A psycopg connection behind sqlite3's execute/executemany, so the
    store's statements, written with `?`, run unchanged."""

    def __init__(self, conn: psycopg.Connection[Any]):
        self._conn = conn

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Cursor:
        params = tuple(params)
        cursor = self._conn.cursor(row_factory=_row_factory)
        # Without parameters psycopg sends the statement as it is: a `%` in it
        # is a `%`, not a placeholder to escape.
        cursor.execute(postgres_placeholders(sql) if params else sql, params or None)
        return Cursor(cursor)

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> Cursor:
        cursor = self._conn.cursor()
        rows = [tuple(row) for row in rows]
        if rows:
            cursor.executemany(postgres_placeholders(sql), rows)
        return Cursor(cursor)


class PostgresStore(StoreBase):
    engine = "postgresql"

    def __init__(self, url: str, clock: Clock, pool_size: int = POOL_SIZE):
        super().__init__()
        self.path = url
        self.clock = clock
        self.pool_size = pool_size
        self._pool: ConnectionPool | None = None
        self._threads: ThreadPoolExecutor | None = None
        # As on SQLite (Store.send_lease): set while the outbox worker runs here.
        self.send_lease: timedelta | None = None
        # As on SQLite (Store.hooks): the event hooks' routes, set by create_app.
        self.hooks: HookRoutes | None = None
        # Transactions PostgreSQL aborted and this store ran again, for the benchmark.
        self.retries = 0
        # The schema steps the last open applied (ivr db upgrade reports them).
        self.upgraded: list[Step] = []
        self.schema_failed = False

    @property
    def where(self) -> str:
        """The database named without its password, for messages and logs."""
        return redact_url(self.path)

    async def open(self) -> None:
        self._threads = ThreadPoolExecutor(self.pool_size, thread_name_prefix="ivr-postgres")
        pool = ConnectionPool(self.path, min_size=1, max_size=self.pool_size, open=False,
                              kwargs={"autocommit": True}, name="ivr")
        self._pool = pool
        try:
            await self._in_thread(lambda: pool.open(wait=True, timeout=10))
        except BaseException:
            await self.close()
            raise
        try:
            await self._in_thread(self._upgrade_now)
        except BaseException:
            self.schema_failed = True   # as on SQLite (Store.open)
            await self.close()
            raise

    def _upgrade_now(self) -> None:
        # READ COMMITTED, after the schema lock: an instance that waited for
        # another's upgrade then sees the version it committed.
        _, self.upgraded = self._transaction(lambda tx: upgrade(tx, self.where),
                                             "READ COMMITTED")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        threads, self._threads = self._threads, None
        if pool is not None:
            # What contention between instances cost: bench/engines.py reads it.
            log.info("PostgreSQL store closed; %d transaction(s) were run again after"
                     " PostgreSQL aborted them (a deadlock or serialization failure)",
                     self.retries)
            await asyncio.get_running_loop().run_in_executor(threads, pool.close)
        if threads is not None:
            threads.shutdown(wait=False)

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    async def set_autocheckpoint(self, pages: int) -> None:
        """SQLite's write-ahead-log setting: nothing to do here."""

    async def write_problem(self) -> str | None:
        try:
            async with asyncio.timeout(WRITE_CHECK_SECONDS):
                await self.write(_touch_schema_version)
        except TimeoutError:
            return f"database write check took over {WRITE_CHECK_SECONDS} s: writes are stuck"
        except Exception as exc:  # noqa: BLE001 - whatever it is, writes fail: say what
            return "database cannot write: " + " ".join(str(exc).split())[:200]
        return None

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """Run `fn(tx)` whole in one transaction under the write lock;
        shielded from the caller's cancellation, and the commit listeners
        told once it commits."""
        return await self._shielded(self._in_thread(self._write_now, fn))

    def _write_now(self, fn: Callable[[Tx], T]) -> tuple[Tx, T]:
        return self._transaction(fn, "READ COMMITTED", WRITE_LOCK_KEY)

    async def read(self, fn: Callable[[Tx], T]) -> T:
        _, result = await self._in_thread(self._transaction, fn, "REPEATABLE READ READ ONLY")
        return result

    def _transaction(self, fn: Callable[[Tx], T], isolation: str,
                     lock: int | None = None) -> tuple[Tx, T]:
        pool = self._pool
        if pool is None:
            raise RuntimeError("the store is not open")
        pause = RETRY_PAUSE_SECONDS
        for attempt in range(1, SERIALIZATION_ATTEMPTS + 1):
            with pool.connection() as conn:
                tx = Tx(Connection(conn), self.clock.now(), self.send_lease, POSTGRES,
                        self.hooks)
                try:
                    conn.execute(f"BEGIN ISOLATION LEVEL {isolation}")
                    if lock is not None:
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
                    result = fn(tx)
                    conn.execute("COMMIT")
                    return tx, result
                except RETRYABLE:
                    conn.execute("ROLLBACK")
                    if attempt == SERIALIZATION_ATTEMPTS:
                        raise
                except BaseException:
                    if not conn.closed:
                        conn.execute("ROLLBACK")
                    raise
            self.retries += 1
            time.sleep(random.uniform(0, pause))
            pause = min(pause * 2, 0.1)
        raise AssertionError("unreachable")

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        if self._threads is None:
            raise RuntimeError("the store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)


def _touch_schema_version(tx: Tx) -> None:
    # A real write that changes nothing: the version row rewritten as it is.
    tx._db.execute("UPDATE schema_version SET version = version"
                   " WHERE version = (SELECT MAX(version) FROM schema_version)")
