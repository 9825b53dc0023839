"""Group commit: writes that queue up behind one another while the
database thread is busy commit together, each in a savepoint of its own.

A text's transaction spent a fifth to a third of its database-thread time
on BEGIN IMMEDIATE, COMMIT and the write lock around them (bench/README.md,
"Group commit"). Under load, writes arrive faster than one thread commits
them; each still waited its turn and paid for a commit of its own. Here a
write that finds the database thread idle is committed alone, exactly as
before, and the writes that arrive while a turn is queued or running wait
in a list that the next turn of the database thread takes:

    BEGIN IMMEDIATE
      SAVEPOINT write   fn₁   RELEASE write
      SAVEPOINT write   fn₂   ROLLBACK TO write; RELEASE write   (fn₂ raised)
      SAVEPOINT write   fn₃   RELEASE write
    COMMIT

What each caller is promised does not change: its function runs whole or
not at all, its decisions commit with its state changes, and nothing is
answered before its COMMIT has returned. A function that raises is rolled
back to its savepoint alone and its caller gets the exception; the others
commit. A failure of the transaction itself (BEGIN, COMMIT, or an error
after which SQLite has rolled back the whole transaction, as a full disk
can) fails every write in it with that error, as it would have failed each
of them alone.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")
TxT = TypeVar("TxT")

# A turn takes at most this many writes. The write lock is held for the
# whole turn, and the outbox's "sent" records (FirstInLine) and the other
# workers wait for it. Against 16, two alternated pairs at 64 connections
# on two workers gave 10% more texts a second, and bench/record_window.py
# found the "sent" records no later either way (bench/README.md, item 18).
MAX_WRITES_PER_COMMIT = 64


class _Queued(Generic[TxT]):
    __slots__ = ("fn", "future", "outcome", "failed")

    def __init__(self, fn: Callable[[TxT], Any], future: asyncio.Future):
        self.fn = fn
        self.future = future
        self.outcome: Any = None
        self.failed = False

    def fail(self, exc: BaseException) -> None:
        self.outcome, self.failed = exc, True


Transaction = Callable[[sqlite3.Connection, Callable[[TxT], Any]], tuple[TxT, Any]]


class GroupCommit(Generic[TxT]):
    """The writes waiting for the database thread, and the one function
    that thread runs to commit as many of them as are waiting.

    `submit(job)` hands `job` to the database thread and returns the future
    of its result; the thread calls it with the connection, taken when the
    job was handed over (a store closing meanwhile still runs the jobs
    queued before its close). `transaction(conn, fn)` runs `fn(tx)` inside
    BEGIN IMMEDIATE ... COMMIT under the write lock and returns `(tx,
    result)`. `new_tx(conn)` makes each write's own Tx."""

    def __init__(self, submit: Callable[[Callable[[sqlite3.Connection], list[_Queued]]],
                                        asyncio.Future],
                 transaction: Transaction, new_tx: Callable[[sqlite3.Connection], TxT]):
        self._submit = submit
        self._transaction = transaction
        self._new_tx = new_tx
        # Appended to on the event loop, taken from on the database thread.
        self._lock = threading.Lock()
        self._waiting: list[_Queued] = []
        self._turn_queued = False
        # The most writes one COMMIT has carried (the tests read it).
        self.largest_batch = 0

    async def write(self, fn: Callable[[TxT], T]) -> tuple[TxT, T]:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiting.append(_Queued(fn, future))
            queue_turn = not self._turn_queued
            self._turn_queued = True
        if queue_turn:
            self._queue_turn()
        return await future

    def _queue_turn(self) -> None:
        try:
            turn = self._submit(self._take_and_commit)
        except BaseException as exc:  # the store is closed: nothing will run them
            self._fail_waiting(exc)
            return
        turn.add_done_callback(self._turn_done)

    def _turn_done(self, turn: asyncio.Future) -> None:
        try:
            if turn.cancelled():
                # Only at the loop's end: the thread may still run the turn,
                # but nobody is left to be told.
                self._fail_waiting(RuntimeError("the store closed before this write ran"))
                return
            if turn.exception() is not None:
                # The thread never ran the turn (the connection closed under it).
                self._fail_waiting(turn.exception())
                return
            for queued in turn.result():
                _answer(queued)
        finally:
            # Writes beyond this turn's share, or ones that came while it ran.
            with self._lock:
                queue_turn = bool(self._waiting) and not self._turn_queued
                self._turn_queued = self._turn_queued or queue_turn
            if queue_turn:
                self._queue_turn()

    def _fail_waiting(self, exc: BaseException) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, []
            self._turn_queued = False
        for queued in waiting:
            queued.fail(exc)
            _answer(queued)

    # On the database thread.

    def _take_and_commit(self, conn: sqlite3.Connection) -> list[_Queued]:
        with self._lock:
            batch = self._waiting[:MAX_WRITES_PER_COMMIT]
            del self._waiting[:MAX_WRITES_PER_COMMIT]
            self._turn_queued = False
        self.largest_batch = max(self.largest_batch, len(batch))
        if len(batch) == 1:
            self._alone(conn, batch[0])
        elif batch:
            self._together(conn, batch)
        return batch

    def _alone(self, conn: sqlite3.Connection, queued: _Queued) -> None:
        try:
            queued.outcome = self._transaction(conn, queued.fn)
        except BaseException as exc:  # noqa: BLE001 - the caller's to see
            queued.fail(exc)

    def _together(self, conn: sqlite3.Connection, batch: list[_Queued]) -> None:
        try:
            self._transaction(conn, lambda tx: self._each_in_savepoint(conn, batch))
        except BaseException as exc:  # noqa: BLE001 - the transaction failed: nothing committed
            for queued in batch:
                queued.fail(exc)

    def _each_in_savepoint(self, conn: sqlite3.Connection, batch: list[_Queued]) -> None:
        for queued in batch:
            tx = self._new_tx(conn)
            conn.execute("SAVEPOINT write")
            try:
                result = queued.fn(tx)
            except BaseException as exc:  # noqa: BLE001 - this write's failure, its caller's
                queued.fail(exc)
                if not conn.in_transaction:
                    # SQLite rolled back the whole transaction (a full disk,
                    # an I/O error): what the earlier writes did is gone too.
                    raise
                conn.execute("ROLLBACK TO write")
                conn.execute("RELEASE write")
                continue
            conn.execute("RELEASE write")
            queued.outcome = (tx, result)


def _answer(queued: _Queued) -> None:
    """Tell the caller its outcome; on the event loop."""
    if queued.future.done():
        return
    if not queued.failed:
        queued.future.set_result(queued.outcome)
        return
    exc = queued.outcome
    if isinstance(exc, StopIteration):
        # A future refuses StopIteration (it would end the awaiting coroutine).
        wrapped = RuntimeError(f"the write raised StopIteration: {exc!r}")
        wrapped.__cause__ = exc
        exc = wrapped
    queued.future.set_exception(exc)
