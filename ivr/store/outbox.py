"""The outbox: every text the service sends, queued in the transaction
of the decision that caused it, then claimed, sent and tracked to delivery."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Iterable

from ..clock import to_text
from .base import TxBase
from .rows import OUTBOX_FIELDS, OutboxMessage, outbox_message

_OUTBOX_COLUMNS = ", ".join(OUTBOX_FIELDS)


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
        lease runs out (at-least-once; Twilio offers no idempotency key)."""
        now = self.now_text
        rows = self._all(
            "UPDATE outbox SET status = 'sending', claimed_until = ?, attempts = attempts + 1"
            " WHERE id IN (SELECT id FROM outbox WHERE"
            "   (status = 'pending' AND next_attempt_at <= ?)"
            "   OR (status = 'sending' AND claimed_until < ?)"
            "   ORDER BY id LIMIT ?)"
            " RETURNING " + _OUTBOX_COLUMNS,
            (to_text(self.now + lease), now, now, limit))
        return sorted((outbox_message(row) for row in rows), key=lambda m: m.id)

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
