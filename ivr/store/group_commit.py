"""Group commit: writes that queue up behind one another while the
database thread is busy commit together, each in a savepoint of its own.

A text's transaction spent about a quarter of its database-thread time on
BEGIN IMMEDIATE, COMMIT and the write lock around them (bench/README.md,
"Group commit"). Under load, writes arrive faster than one thread commits
them; each still waited its turn and paid for a commit of its own. Here
the first write of a quiet moment is committed alone, exactly as before,
and the writes that arrive while it runs wait in a list that the next turn
of the database thread takes whole:

    BEGIN IMMEDIATE
      SAVEPOINT w   fn₁   RELEASE w
      SAVEPOINT w   fn₂   ROLLBACK TO w; RELEASE w     (fn₂ raised)
      SAVEPOINT w   fn₃   RELEASE w
    COMMIT

What each caller is promised does not change: its function runs whole or
not at all, its decisions commit with its state changes, and nothing is
answered before its COMMIT has returned. A function that raises is rolled
back to its savepoint alone and its caller gets the exception; the others
commit. A failure of the transaction itself (BEGIN, COMMIT, or an error
after which SQLite has rolled back the whole transaction, as a full disk
does) fails every write in it, as it would have failed each of them alone.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")
TxT = TypeVar("TxT")

# A turn of the database thread takes at most this many writes: the first
# waits for all of them, so the batch is bounded to keep its wait short.
MAX_WRITES_PER_COMMIT = 64


class _Queued(Generic[TxT]):
    __slots__ = ("fn", "future", "outcome", "failed")

    def __init__(self, fn: Callable[[TxT], Any], future: asyncio.Future):
        self.fn = fn
        self.future = future
        self.outcome: Any = None
        self.failed = False


class GroupCommit(Generic[TxT]):
    """The writes waiting for the database thread, and the one function
    that thread runs to commit as many of them as are waiting.

    `submit(job)` hands `job` (a function of no arguments) to the database
    thread and returns the future of its result. `transaction(fn)` runs
    there: `fn(tx)` inside BEGIN IMMEDIATE ... COMMIT under the write lock,
    returning `(tx, result)`. `new_tx(conn)` makes each write's own Tx."""

    def __init__(self, submit: Callable[[Callable[[], list[_Queued]]], asyncio.Future],
                 transaction: Callable[[Callable[[TxT], Any]], tuple[TxT, Any]],
                 new_tx: Callable[[sqlite3.Connection], TxT]):
        self._submit = submit
        self._transaction = transaction
        self._new_tx = new_tx
        # Appended to on the event loop, taken from on the database thread.
        self._lock = threading.Lock()
        self._waiting: list[_Queued] = []
        self._turn_queued = False
        # The most writes one COMMIT has carried (bench and tests read it).
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
        except BaseException as exc:  # the connection is closed: nothing will run them
            self._fail_waiting(exc)
            return
        turn.add_done_callback(self._turn_done)

    def _turn_done(self, turn: asyncio.Future) -> None:
        if turn.cancelled() or turn.exception() is not None:
            # The thread never ran the turn (the connection closed under it).
            self._fail_waiting(turn.exception() if not turn.cancelled()
                               else RuntimeError("the store closed"))
            return
        for queued in turn.result():
            if queued.future.done():
                continue
            if queued.failed:
                queued.future.set_exception(queued.outcome)
            else:
                queued.future.set_result(queued.outcome)
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
            if not queued.future.done():
                queued.future.set_exception(exc)

    # On the database thread.

    def _take_and_commit(self) -> list[_Queued]:
        with self._lock:
            batch = self._waiting[:MAX_WRITES_PER_COMMIT]
            del self._waiting[:MAX_WRITES_PER_COMMIT]
            self._turn_queued = False
        self.largest_batch = max(self.largest_batch, len(batch))
        if len(batch) == 1:
            self._alone(batch[0])
        elif batch:
            self._together(batch)
        return batch

    def _alone(self, queued: _Queued) -> None:
        try:
            queued.outcome = self._transaction(queued.fn)
        except BaseException as exc:  # noqa: BLE001 - the caller's to see
            queued.outcome, queued.failed = exc, True

    def _together(self, batch: list[_Queued]) -> None:
        try:
            self._transaction(lambda tx: self._each_in_savepoint(tx._db, batch))
        except BaseException as exc:  # noqa: BLE001 - BEGIN or COMMIT failed: nothing committed
            for queued in batch:
                queued.outcome, queued.failed = exc, True

    def _each_in_savepoint(self, conn: sqlite3.Connection, batch: list[_Queued]) -> None:
        for queued in batch:
            tx = self._new_tx(conn)
            conn.execute("SAVEPOINT write")
            try:
                result = queued.fn(tx)
            except Exception as exc:  # noqa: BLE001 - this write's failure, the caller's to see
                queued.outcome, queued.failed = exc, True
                if not conn.in_transaction:
                    # SQLite rolled back the whole transaction (a full disk,
                    # an I/O error): what the earlier writes did is gone too.
                    raise
                conn.execute("ROLLBACK TO write")
                conn.execute("RELEASE write")
                continue
            conn.execute("RELEASE write")
            queued.outcome = (tx, result)
