"""run.py with candidate fixes applied by monkeypatching, to measure them
before anyone changes ivr/. Nothing here is used by the service itself.

    IVR_BENCH_PATCHES=indexes python bench/patched_run.py --config ... --workers 2
    python bench/run.py --patches indexes        # the whole benchmark with them

Hypercorn's workers are spawned processes that re-run this file as
__mp_main__, so the patches are applied at import, in every worker.

  indexes   schema.sql: two indexes the current queries need once there is
            history (bench/plans.py finds them):
              decisions (line_id, id)       recent_decisions(line_id=...) walks
                                            it backwards instead of sorting all
                                            of the line's decisions (1.5 s on
                                            1,000,000 rows);
              inbound_messages (conversation_id, received_at)
                                            conversation_texts and the flood
                                            window's UPDATE ... forwarded, run
                                            for every new text, stop scanning
                                            every text ever received.

ivr/ took this fix in c930152 ("Index what history makes slow"); on a tree
that has it the patch finds the indexes there and adds nothing. Earlier
patches (a Jinja template cache, one aiosqlite call per query, a store
without aiosqlite's per-statement thread hop, indexed code allocation) were
measured the same way and taken in a465bf8 and 5a540f9. Add the next
candidate here to measure it with bench/run.py before changing ivr/.
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ivr.store  # noqa: E402

EXTRA_INDEXES = (
    "CREATE INDEX IF NOT EXISTS decisions_by_line_id ON decisions (line_id, id)",
    "CREATE INDEX IF NOT EXISTS inbound_by_conversation"
    " ON inbound_messages (conversation_id, received_at)",
)


def _columns(statement: str) -> tuple[str, tuple[str, ...]]:
    table, _, columns = statement.partition(" ON ")[2].partition(" (")
    return table.strip(), tuple(c.strip() for c in columns.rstrip(")").split(","))


def _missing(execute, statement: str) -> bool:  # type: ignore[no-untyped-def]
    """False when the table already has an index on these columns (ivr/ took the fix)."""
    table, columns = _columns(statement)
    for index in execute(f"PRAGMA index_list({table})"):
        names = tuple(row[2] for row in execute(f"PRAGMA index_info({index[1]})"))
        if names[:len(columns)] == columns or names == columns[:1] and columns[1:] == ("id",):
            return False
    return True


def patch_indexes() -> None:
    original = ivr.store.Store._apply_schema
    if inspect.iscoroutinefunction(original):
        async def _apply_schema(self, tx):  # type: ignore[no-untyped-def]
            await original(self, tx)
            for statement in EXTRA_INDEXES:
                await tx._db.execute(statement)
    else:
        def _apply_schema(self, tx):  # type: ignore[no-untyped-def,misc]
            original(self, tx)

            def execute(sql: str) -> list:  # type: ignore[type-arg]
                return tx._db.execute(sql).fetchall()
            for statement in EXTRA_INDEXES:
                if _missing(execute, statement):
                    tx._db.execute(statement)
    ivr.store.Store._apply_schema = _apply_schema


def patch_switchinterval() -> None:
    # The database thread gives up the GIL around every sqlite3 call and must
    # win it back from the event loop, which by default keeps it up to 5 ms.
    sys.setswitchinterval(float(os.environ.get("IVR_BENCH_SWITCH_INTERVAL", "0.0005")))


def patch_poll_only() -> None:
    # The outbox as before 247b2a3: messages queued pending and sent by the
    # poll, to see what sending straight from the commit costs the webhook.
    import ivr.outbox
    start = ivr.outbox.OutboxWorker.start

    def start_without_claims(self):  # type: ignore[no-untyped-def]
        start(self)
        self.store.send_lease = None
    ivr.outbox.OutboxWorker.start = start_without_claims


def patch_pragma(statement: str):  # type: ignore[no-untyped-def]
    def patch() -> None:
        original = ivr.store.Store.open

        async def open_(self):  # type: ignore[no-untyped-def]
            await original(self)
            await self._db.execute(statement)
        ivr.store.Store.open = open_
    return patch


def patch_uvloop() -> None:
    # Hypercorn's workers on uvloop's event loop instead of asyncio's.
    import ivr.server
    ivr.server.HypercornConfig.worker_class = "uvloop"  # type: ignore[attr-defined]


def patch_bgcheckpoint() -> None:
    # WAL checkpoints off the request path: none at commit, a passive one
    # every 0.5 s on a connection of its own, in a thread of its own.
    import asyncio
    import sqlite3
    original = ivr.store.Store.open

    async def open_(self):  # type: ignore[no-untyped-def]
        await original(self)
        await self._db.execute("PRAGMA wal_autocheckpoint = 0")
        side = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        side.execute("PRAGMA busy_timeout = 0")

        async def loop() -> None:
            while True:
                await asyncio.sleep(0.5)
                try:
                    await asyncio.to_thread(side.execute, "PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.OperationalError:
                    pass
        self._bench_checkpointer = asyncio.get_running_loop().create_task(loop())
    ivr.store.Store.open = open_


def patch_gc() -> None:
    # Fewer, later garbage collections: what the cyclic collector costs the tail.
    import gc
    gc.set_threshold(20_000, 20, 20)


def patch_no_checkpointer() -> None:
    # Checkpoints at commit again, as before the Checkpointer.
    ivr.store.Checkpointer.start = lambda self: None  # type: ignore[method-assign]


def patch_defer_send() -> None:
    # Start a commit's sends one loop turn later, after the webhook's handler
    # has resumed and written its answer.
    import asyncio
    import ivr.outbox
    spawn = ivr.outbox.OutboxWorker._spawn_send

    def deferred(self, message, claimed_at):  # type: ignore[no-untyped-def]
        asyncio.get_running_loop().call_soon(spawn, self, message, claimed_at)
    ivr.outbox.OutboxWorker._spawn_send = deferred


def patch_store_path_records() -> None:
    # The outbox's "sent" records on the store's one write path again, queued
    # behind every webhook transaction, as before FirstInLine (issue 14).
    import time
    import ivr.store.outbox

    async def write(self, fn):  # type: ignore[no-untyped-def]
        def timed(tx):  # type: ignore[no-untyped-def]
            result = fn(tx)
            self.committed_at = time.monotonic()   # COMMIT follows at once, same thread
            return result
        return await self.store.write(timed)
    ivr.store.outbox.FirstInLine.write = write


def patch_pg_write_lock() -> None:
    # PostgreSQL: every SERIALIZABLE write transaction, in every instance,
    # waits for one advisory lock (taken on its connection before BEGIN, so
    # its snapshot is taken after the previous writer committed) instead of
    # colliding and running again: the SQLite file lock's order, across
    # machines. Reads are not affected. bench/engines.py found new texts on
    # one line colliding over the line's next code (line_codes) until 30
    # attempts ran out.
    import random
    import time
    import ivr.store.postgres as pgs
    from ivr.store.dialect import POSTGRES
    from ivr.store.tx import Tx
    original = pgs.PostgresStore._transaction
    key = 0x1f2e3d  # any constant: one lock for every writer of the database

    def transaction(self, fn, isolation):  # type: ignore[no-untyped-def]
        if isolation != "SERIALIZABLE":
            return original(self, fn, isolation)
        pause = pgs.RETRY_PAUSE_SECONDS
        for attempt in range(1, pgs.SERIALIZATION_ATTEMPTS + 1):
            with self._pool.connection() as conn:
                conn.execute("SELECT pg_advisory_lock(%s)", (key,))
                try:
                    tx = Tx(pgs.Connection(conn), self.clock.now(), self.send_lease, POSTGRES)
                    try:
                        conn.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
                        result = fn(tx)
                        conn.execute("COMMIT")
                        return tx, result
                    except pgs.RETRYABLE:
                        conn.execute("ROLLBACK")
                        if attempt == pgs.SERIALIZATION_ATTEMPTS:
                            raise
                    except BaseException:
                        if not conn.closed:
                            conn.execute("ROLLBACK")
                        raise
                finally:
                    if not conn.closed:
                        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            self.retries += 1
            time.sleep(random.uniform(0, pause))
            pause = min(pause * 2, 0.1)
        raise AssertionError("unreachable")
    pgs.PostgresStore._transaction = transaction


PATCHES = {"pg_write_lock": patch_pg_write_lock, "store_path_records": patch_store_path_records,
           "defer_send": patch_defer_send, "no_checkpointer": patch_no_checkpointer, "gc": patch_gc, "bgcheckpoint": patch_bgcheckpoint, "uvloop": patch_uvloop, "indexes": patch_indexes, "switchinterval": patch_switchinterval,
           "poll_only": patch_poll_only,
           # SQLite reads pages through a memory map instead of a read() each
           "mmap": patch_pragma("PRAGMA mmap_size = 268435456"),
           # a 32 MB page cache per connection instead of 2 MB
           "cache": patch_pragma("PRAGMA cache_size = -32000"),
           # no checkpoints at commit (the WAL grows for the run): what they cost
           "nocheckpoint": patch_pragma("PRAGMA wal_autocheckpoint = 0")}
_applied: set[str] = set()


def apply(names: str) -> list[str]:
    for name in filter(None, (n.strip() for n in names.split(","))):
        if name not in PATCHES:
            raise SystemExit(f"unknown patch {name!r}: use some of {', '.join(PATCHES)}")
        if name not in _applied:
            PATCHES[name]()
            _applied.add(name)
    return sorted(_applied)


apply(os.environ.get("IVR_BENCH_PATCHES", ""))

if __name__ == "__main__":
    from ivr.cli import main
    sys.exit(main(["serve", *sys.argv[1:]]))
