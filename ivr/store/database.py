"""The one write path: one connection per process, every transaction run whole.

Writes go through `Store.write(fn)`: `fn` receives a `Tx` inside
`BEGIN IMMEDIATE ... COMMIT` and runs whole in aiosqlite's database thread,
shielded from the caller's cancellation. Quart cancels a handler when its
client disconnects; a write split between execute and commit would leave a
transaction open on the shared connection, and every later write, in this
process or another, would wait for a lock nobody releases. Transaction
functions are therefore plain (synchronous) functions: nothing can
interleave with them, and a request costs one thread hop, not one per
statement.

The SQL is kept to what PostgreSQL also accepts where that costs nothing
(RETURNING, partial indexes, ISO timestamps), so the store can move there.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path
from typing import Callable, TypeVar

import aiosqlite

from ..background import BackgroundWorker
from ..clock import Clock
from ..hooks.events import HookRoutes
from .group_commit import GroupCommit
from .migrations import Step, upgrade
from .sql_script import split_sql  # noqa: F401 - the store's public name for it
from .store_base import StoreBase
from .tx import Tx

log = logging.getLogger(__name__)

T = TypeVar("T")


BUSY_TIMEOUT_MS = 5_000


# /healthz's write check answers within this, and waits this long for a
# lock held by another connection, so a probe learns the truth before it
# gives up.
WRITE_CHECK_SECONDS = 2
WRITE_CHECK_BUSY_MS = 1_000


DEFAULT_AUTOCHECKPOINT_PAGES = 1_000  # SQLite's own default


# With the Checkpointer running, a commit still checkpoints once the log is
# this long: a passive checkpoint copies the log but cannot let it start
# over while writes never pause, and only a checkpoint that finishes with
# no write after it can. By then the Checkpointer has copied all but the
# last half second, so the commit's checkpoint has little left to do.
BACKSTOP_AUTOCHECKPOINT_PAGES = 16_000


CHECKPOINT_SECONDS = 0.5


WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024



class Store(StoreBase):
    engine = "sqlite"

    def __init__(self, path: str | Path, clock: Clock):
        super().__init__()
        self.path = str(path)
        self.clock = clock
        self._db: aiosqlite.Connection | None = None
        self._write_lock: int | None = None
        # Set by the outbox worker while it runs in this process: messages are
        # then queued claimed for this long (see Tx.claimed).
        self.send_lease: timedelta | None = None
        # The event hooks' routes, set by create_app: every write queues
        # deliveries for the decisions hooks hear of (ivr/hooks/events.py).
        self.hooks: HookRoutes | None = None
        # The schema steps the last open applied (ivr db upgrade reports them).
        self.upgraded: list[Step] = []
        self.schema_failed = False
        self.group_commit: GroupCommit[Tx] = GroupCommit(
            self._submit, self._transaction_here, self._new_tx)

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # Writers in other processes (Hypercorn workers) queue on this
            # lock instead of in SQLite's busy handler, which sleeps and polls
            # (up to 100 ms a turn) and makes tail latency under load.
            self._write_lock = os.open(self.path + ".write-lock", os.O_RDWR | os.O_CREAT, 0o600)
        # isolation_level=None: transactions are ours to BEGIN and COMMIT.
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = sqlite3.Row
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute("PRAGMA foreign_keys = ON")
        # After a checkpoint lets the log start over, cut its file back to this.
        await db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
        self._db = db
        # BEGIN IMMEDIATE serialises the schema across workers starting at once.
        try:
            self.upgraded = await self.write(self._apply_schema) or []
        except BaseException:
            # Opened, but not ivr's schema (another program's tables?): the
            # start's failure message tells the two apart.
            self.schema_failed = True
            await self.close()
            raise

    def _apply_schema(self, tx: Tx) -> list[Step]:
        return upgrade(tx, self.path)

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()
        if self._write_lock is not None:
            os.close(self._write_lock)
            self._write_lock = None

    @property
    def is_open(self) -> bool:
        return self._db is not None

    async def set_autocheckpoint(self, pages: int) -> None:
        """Checkpoint at COMMIT once the log has `pages` pages; 0: never."""
        await self._connection().execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")

    async def write_problem(self) -> str | None:
        """None when a write can commit now, or why it cannot, in one line.

        A real write, committed: BEGIN IMMEDIATE alone succeeds while the
        write-ahead log cannot be written (a full disk, an immutable file),
        since nothing reaches the disk before COMMIT. It rewrites
        PRAGMA user_version with its own value, so nothing changes and no
        table is needed, through the same lock as every write, with a short
        busy timeout so a database locked elsewhere is reported, not waited
        out."""
        try:
            db = self._connection()
            async with asyncio.timeout(WRITE_CHECK_SECONDS):
                await db._execute(self._check_write_now, db._conn)
        except TimeoutError:
            return f"database write check took over {WRITE_CHECK_SECONDS} s: writes are stuck"
        except Exception as exc:  # noqa: BLE001 - whatever it is, writes fail: say what
            return "database cannot write: " + " ".join(str(exc).split())[:200]
        return None

    def _check_write_now(self, conn: sqlite3.Connection) -> None:
        if self._write_lock is not None:
            fcntl.flock(self._write_lock, fcntl.LOCK_EX)
        try:
            conn.execute(f"PRAGMA busy_timeout = {WRITE_CHECK_BUSY_MS}")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    (version,) = conn.execute("PRAGMA user_version").fetchone()
                    conn.execute(f"PRAGMA user_version = {int(version)}")
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            finally:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        finally:
            if self._write_lock is not None:
                fcntl.flock(self._write_lock, fcntl.LOCK_UN)

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """Run `fn(tx)` whole, committed before this returns, in the database
        thread.

        The whole function runs in aiosqlite's thread, in a transaction of
        its own or, when other writes were waiting with it, in a savepoint
        of its own inside the one transaction they share (group_commit.py):
        one thread hop per turn instead of one per statement, and no other
        statement can come between its start and its end. The call is
        shielded, so a cancelled caller (a client that hung up) leaves it
        to finish whole."""
        return await self._shielded(self.group_commit.write(fn))

    async def read(self, fn: Callable[[Tx], T]) -> T:
        _, result = await self._run(self._read_now, fn)
        return result

    async def _run(self, body: Callable[..., tuple[Tx, T]], fn: Callable[[Tx], T]) -> tuple[Tx, T]:
        db = self._connection()
        # aiosqlite runs every call in its one thread; _execute is how it does
        # that for a function of ours (it has no public name for it).
        return await db._execute(body, db._conn, fn)

    def _submit(self, job: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        # The connection is taken now: close() forgets it before aiosqlite
        # has run what was queued ahead of the close, which must still commit.
        db = self._connection()
        return asyncio.ensure_future(db._execute(job, db._conn))

    def _transaction_here(self, conn: sqlite3.Connection, fn: Callable[[Tx], T]) -> tuple[Tx, T]:
        """On the database thread: `fn` in a transaction of its own."""
        return self.transaction(conn, self._write_lock, fn)

    def _new_tx(self, conn: sqlite3.Connection) -> Tx:
        return Tx(conn, self.clock.now(), self.send_lease, hooks=self.hooks)

    def transaction(self, conn: sqlite3.Connection, write_lock: int | None,
                    fn: Callable[[Tx], T]) -> tuple[Tx, T]:
        """Run `fn` whole in BEGIN IMMEDIATE ... COMMIT on `conn`, holding
        the file lock every writer queues on: the one way anything writes,
        whichever connection it uses."""
        if write_lock is not None:
            fcntl.flock(write_lock, fcntl.LOCK_EX)
        try:
            tx = self._new_tx(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(tx)
                conn.execute("COMMIT")
            except BaseException:
                # After some errors (a full disk, an I/O error) SQLite has
                # already rolled back; a failed COMMIT leaves it open.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return tx, result
        finally:
            if write_lock is not None:
                fcntl.flock(write_lock, fcntl.LOCK_UN)

    def _read_now(self, conn: sqlite3.Connection, fn: Callable[[Tx], T]) -> tuple[Tx, T]:
        tx = Tx(conn, self.clock.now())
        return tx, fn(tx)

    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db


class Checkpointer(BackgroundWorker):
    """Copies the write-ahead log back into the database file off the
    request path. By default SQLite checkpoints inside whichever COMMIT
    takes the log past 1,000 pages, and that transaction, and every writer
    queued behind the write lock, waits for it: at one connection that was
    a third of a text's p99 (bench/README.md, item 16). While this runs, a
    passive checkpoint, which never blocks a writer, runs every half second
    on a connection of its own in a thread of its own, and commits
    checkpoint only as a backstop (BACKSTOP_AUTOCHECKPOINT_PAGES)."""

    name = "ivr-checkpointer"

    def __init__(self, store: Store):
        self.store = store
        self._conn: sqlite3.Connection | None = None
        # A cancelled checkpoint still runs on in its thread: closing waits for it.
        self._using = threading.Lock()

    def start(self) -> None:
        if self.store.engine != "sqlite" or self.store.path == ":memory:":
            return
        self._conn = sqlite3.connect(self.store.path, isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 0")  # busy: another worker is checkpointing
        super().start()

    async def stop(self) -> None:
        await super().stop()
        if self._conn is not None:
            if self.store.is_open:
                await self.store.set_autocheckpoint(DEFAULT_AUTOCHECKPOINT_PAGES)
            await self.checkpoint()
            await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._using:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def _run(self) -> None:
        await self.store.set_autocheckpoint(BACKSTOP_AUTOCHECKPOINT_PAGES)
        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            await self.checkpoint()

    async def checkpoint(self) -> tuple[int, int, int] | None:
        """(busy, pages in the log, pages copied back), or None if it failed."""
        return await asyncio.to_thread(self._checkpoint_now)

    def _checkpoint_now(self) -> tuple[int, int, int] | None:
        with self._using:
            if self._conn is None:
                return None
            try:
                row = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:
                log.warning("WAL checkpoint failed (%s); trying again shortly", exc)
                return None
        return (int(row[0]), int(row[1]), int(row[2])) if row else None


