"""The outbox: every text the service sends, queued in the transaction
of the decision that caused it, then claimed, sent and tracked to delivery."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable, TypeVar

from ..clock import to_text
from .base import TxBase
from .rows import OUTBOX_FIELDS, OutboxMessage, outbox_message

if TYPE_CHECKING:
    from .database import Store
    from .tx import Tx

log = logging.getLogger(__name__)
T = TypeVar("T")

_OUTBOX_COLUMNS = ", ".join(OUTBOX_FIELDS)

# The error a row carries while it is claimed again after a claim that ran
# out unrecorded; recording the send (or its failure) replaces it.
UNRECORDED_CLAIM = "claim ran out with nothing recorded (the sender died?)"


class OutboxQueries(TxBase):
    def enqueue_sms(self, decision_id: int, line_id: str, conversation_id: int | None,
                    to_number: str, from_number: str, body: str,
                    media_urls: Iterable[str] = (), *, purpose: str,
                    responder_id: str | None = None, tier: int | None = None) -> int:
        self.enqueued += 1
        media = tuple(media_urls)
        lease = self._send_lease
        outbox_id = self._insert(
            "INSERT INTO outbox (decision_id, line_id, conversation_id, purpose, responder_id,"
            " tier, to_number, from_number, body, media_urls, status, attempts, claimed_until,"
            " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (decision_id, line_id, conversation_id, purpose, responder_id, tier, to_number,
             from_number, body, json.dumps(list(media)),
             "sending" if lease else "pending", 1 if lease else 0,
             to_text(self.now + lease) if lease else None, self.now_text, self.now_text))
        if lease:
            self.claimed.append(OutboxMessage(
                id=outbox_id, decision_id=decision_id, line_id=line_id,
                conversation_id=conversation_id, purpose=purpose, responder_id=responder_id,
                tier=tier, to_number=to_number, from_number=from_number, body=body,
                media_urls=media, attempts=1))
        return outbox_id

    def claim_due_outbox(self, limit: int, lease: timedelta) -> list[OutboxMessage]:
        """Claim due messages for one sender. A claim is a lease: a process
        that dies while sending leaves the row to be claimed again once the
        lease runs out (at-least-once; Twilio offers no idempotency key).
        Such a row is marked (UNRECORDED_CLAIM, see unrecorded_claims): its
        last send may have reached Twilio."""
        now = self.now_text
        rows = self._all(
            "UPDATE outbox SET status = 'sending', claimed_until = ?, attempts = attempts + 1,"
            " error = CASE WHEN status = 'sending' THEN ? ELSE error END"
            " WHERE id IN (SELECT id FROM outbox WHERE"
            "   (status = 'pending' AND next_attempt_at <= ?)"
            "   OR (status = 'sending' AND claimed_until < ?)"
            f"   ORDER BY id LIMIT ?{self.dialect.skip_locked})"
            " RETURNING " + _OUTBOX_COLUMNS,
            (to_text(self.now + lease), UNRECORDED_CLAIM, now, now, limit))
        return sorted((outbox_message(row) for row in rows), key=lambda m: m.id)

    def unrecorded_claims(self, outbox_ids: Iterable[int]) -> set[int]:
        """Which of these rows were claimed again after a claim that ran out
        with nothing recorded: a process died holding them, perhaps after
        Twilio accepted the send (not a recorded, retryable failure)."""
        ids = list(outbox_ids)
        if not ids:
            return set()
        marks = ", ".join("?" * len(ids))
        return {row[0] for row in self._all(
            f"SELECT id FROM outbox WHERE error = ? AND id IN ({marks})",
            (UNRECORDED_CLAIM, *ids))}

    def release_claims(self, outbox_ids: Iterable[int]) -> int:
        """Hand back messages this process claimed as it queued them and has
        no room to send soon: due now, for whichever process has room. Only
        a claim still untouched (never sent, never claimed again) is handed
        back; returns how many were."""
        ids = list(outbox_ids)
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        return len(self._all(
            "UPDATE outbox SET status = 'pending', claimed_until = NULL,"
            " attempts = attempts - 1, next_attempt_at = ?"
            f" WHERE status = 'sending' AND attempts = 1 AND id IN ({marks}) RETURNING id",
            (self.now_text, *ids)))

    def mark_sent(self, outbox_id: int, message_sid: str, status: str | None,
                  sent_at: datetime | None = None) -> tuple[str, str | None] | None:
        """Record that Twilio accepted the message (`sent_at`, if that was
        before this transaction). Status callbacks can arrive before this
        record; those stored are applied now, and the furthest one that moved
        the row on is returned as (status, error_code) for the caller to act on."""
        self._db.execute(
            "UPDATE outbox SET status = 'sent', message_sid = ?, delivery_status = ?,"
            " sent_at = ?, claimed_until = NULL, error = NULL WHERE id = ?",
            (message_sid, status, to_text(sent_at) if sent_at else self.now_text, outbox_id))
        reported: tuple[str, str | None] | None = None
        for early in self._all("SELECT status, error_code FROM delivery_events"
                               " WHERE message_sid = ? ORDER BY id", (message_sid,)):
            if self._advance_delivery(outbox_id, reported[0] if reported else status,
                                      early["status"], early["error_code"]):
                reported = (early["status"],
                            early["error_code"] or (reported[1] if reported else None))
        return reported

    def outbox_created_at(self, outbox_id: int) -> str:
        row = self._one("SELECT created_at FROM outbox WHERE id = ?", (outbox_id,))
        return row[0] if row else self.now_text

    def mark_retry(self, outbox_id: int, error: str, next_attempt_at: datetime) -> None:
        self._db.execute(
            "UPDATE outbox SET status = 'pending', error = ?, next_attempt_at = ?,"
            " claimed_until = NULL WHERE id = ?",
            (error, to_text(next_attempt_at), outbox_id))

    def mark_failed(self, outbox_id: int, error: str) -> None:
        self._db.execute(
            "UPDATE outbox SET status = 'failed', error = ?, claimed_until = NULL WHERE id = ?",
            (error, outbox_id))

    def record_delivery_status(self, message_sid: str, status: str,
                               error_code: str | None) -> OutboxMessage | None:
        """Store a status callback; the outbox row keeps the furthest status
        reached, since callbacks can arrive out of order. Returns the message
        it concerns, or None for a SID we never sent."""
        self._db.execute(
            "INSERT INTO delivery_events (message_sid, status, error_code, at)"
            " VALUES (?, ?, ?, ?)", (message_sid, status, error_code, self.now_text))
        row = self._one(
            f"SELECT {_OUTBOX_COLUMNS}, delivery_status FROM outbox WHERE message_sid = ?",
            (message_sid,))
        if row is None:
            return None
        self._advance_delivery(row["id"], row["delivery_status"], status, error_code)
        return outbox_message(row)

    def _advance_delivery(self, outbox_id: int, current: str | None, status: str,
                          error_code: str | None) -> bool:
        """The outbox row keeps the furthest status reached, since callbacks
        can arrive out of order; says whether `status` moved it on."""
        if _status_rank(status) < _status_rank(current):
            return False
        self._db.execute(
            "UPDATE outbox SET delivery_status = ?, error_code = COALESCE(?, error_code)"
            " WHERE id = ?", (status, error_code, outbox_id))
        return True

    def outbox_rows(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._all("SELECT * FROM outbox ORDER BY id")]


_STATUS_ORDER = ("accepted", "scheduled", "queued", "sending", "sent",
                 "delivered", "undelivered", "failed", "read", "canceled")


def _status_rank(status: str | None) -> int:
    """How far along a message is; unknown statuses rank with 'sent'."""
    if status is None:
        return -1
    if status in _STATUS_ORDER:
        # delivered, undelivered and failed are all final; read follows delivered
        return {"undelivered": 5, "failed": 5, "delivered": 5, "read": 6,
                "canceled": 5}.get(status, _STATUS_ORDER.index(status))
    return _STATUS_ORDER.index("sent")


class FirstInLine:
    """A write path of its own for the outbox's small "sent" records: a
    second connection in a thread of its own, so a record waits only for
    the write lock, not behind every webhook transaction queued in the
    store's one database thread (issue 14: under load up to 37 accepted
    sends waited there, each sent again if the process died meanwhile).

    Same rules as Store.write: the whole function runs in one BEGIN
    IMMEDIATE ... COMMIT, under the store's file lock (through a descriptor
    of its own: flock does not exclude two users of one descriptor), and the
    store's commit listeners see the transaction. An in-memory store has no
    file to share; there the store's own path is used."""

    def __init__(self, store: "Store"):
        self.store = store
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="ivr-sent-records")
        # time.monotonic() of the last COMMIT here, read as the window closes
        # (the loop may take a while to hear of it under load).
        self.committed_at = 0.0

    async def write(self, fn: Callable[["Tx"], T]) -> T:
        if self.store.engine != "sqlite" or self.store.path == ":memory:":
            # PostgreSQL's store writes on a pool of connections already.
            result = await self.store.write(fn)
            self.committed_at = time.monotonic()
            return result
        loop = asyncio.get_running_loop()
        # Shielded as Store.write is: a transaction, once queued, runs whole.
        tx, result = await asyncio.shield(loop.run_in_executor(self._thread, self._write_now, fn))
        self.store.committed(tx)
        return result

    def _write_now(self, fn: Callable[["Tx"], T]) -> tuple["Tx", T]:
        from .database import BUSY_TIMEOUT_MS  # both import this module
        if self._conn is None:
            self._conn = sqlite3.connect(self.store.path, isolation_level=None,
                                         check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._lock_fd = os.open(self.store.path + ".write-lock", os.O_RDWR | os.O_CREAT,
                                    0o600)
        # A descriptor of its own: flock does not exclude two users of one.
        tx, result = self.store.transaction(self._conn, self._lock_fd, fn)
        self.committed_at = time.monotonic()
        return tx, result

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close_now)
        self._thread.shutdown(wait=False)

    def _close_now(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
