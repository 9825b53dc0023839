"""Event hook deliveries: queued with the decision they report (one row per
hook that wants it), claimed with a lease by any instance, in id order
within a hook's stream, and recorded as sent, due again, or failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from ..clock import to_text
from ..decisions import Decision
from .base import TxBase
from .rows import Conversation, DecisionRow

_COLUMNS = "id, hook, decision_id, event_type, stream, attempts, created_at"


@dataclass(frozen=True)
class HookDelivery:
    """A claimed delivery with what its event's payload is built from
    (ivr/hooks/payload.py), read as it is sent: what retention has redacted
    since is not sent."""
    id: int
    hook: str
    decision_id: int
    event_type: str
    stream: str
    attempts: int
    created_at: str
    decision: DecisionRow
    conversation: Conversation | None
    customer: str | None            # the customer's or caller's number
    body: str | None                # the customer's text, or a voicemail's transcription
    voicemail: dict[str, Any] | None
    summary: dict[str, Any] | None = None   # a daily_summary's figures


class HookDeliveryQueries(TxBase):
    def queue_hook_deliveries(self, decision_id: int, decision: Decision) -> None:
        if self.hooks is None:
            return
        for hook, event_type, stream in self.hooks.deliveries_for(decision):
            self._db.execute(
                "INSERT INTO hook_deliveries (hook, decision_id, event_type, stream, status,"
                " attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)",
                (hook, decision_id, event_type, stream, self.now_text, self.now_text))
            self.hook_queued += 1

    def claim_hook_deliveries(self, hooks: Iterable[str], limit: int,
                              lease: timedelta) -> list[HookDelivery]:
        """Claim due deliveries to these hooks: at most one per stream, and
        only the stream's oldest unfinished one, so a receiver hears of one
        conversation's events in order, each after the one before it was
        answered (or failed for good). A claim is a lease: a process that
        dies mid-POST leaves it to be claimed again (at-least-once: the
        event id lets the receiver drop the second copy)."""
        names = list(hooks)
        if not names:
            return []
        now = self.now_text
        marks = ", ".join("?" * len(names))
        rows = self._all(
            "UPDATE hook_deliveries SET status = 'sending', claimed_until = ?,"
            " attempts = attempts + 1 WHERE id IN (SELECT d.id FROM hook_deliveries d WHERE"
            f"  d.hook IN ({marks}) AND ((d.status = 'pending' AND d.next_attempt_at <= ?)"
            "    OR (d.status = 'sending' AND d.claimed_until < ?))"
            "  AND NOT EXISTS (SELECT 1 FROM hook_deliveries e WHERE e.hook = d.hook"
            "    AND e.stream = d.stream AND e.id < d.id AND e.status IN ('pending', 'sending'))"
            f"  ORDER BY d.id LIMIT ?{self.dialect.skip_locked})"
            f" RETURNING {_COLUMNS}",
            (to_text(self.now + lease), *names, now, now, limit))
        return [self._with_facts(dict(row)) for row in sorted(rows, key=lambda r: r["id"])]

    def _with_facts(self, row: dict[str, Any]) -> HookDelivery:
        found = self._one("SELECT id, at, line_id, channel, sid, conversation_id, tier,"
                          " responder_id, kind, reason FROM decisions WHERE id = ?",
                          (row["decision_id"],))
        assert found is not None
        decision = DecisionRow(**dict(found))
        conversation = (self._conversation("SELECT * FROM conversations WHERE id = ?",
                                           (decision.conversation_id,))
                        if decision.conversation_id is not None else None)
        customer = conversation.customer if conversation else None
        body = voicemail = None
        if decision.sid and decision.channel == "sms":
            text = self._one("SELECT body FROM inbound_messages WHERE message_sid = ?",
                             (decision.sid,))
            body = text["body"] if text else None
        elif decision.sid:
            call = self._one("SELECT caller FROM calls WHERE call_sid = ?", (decision.sid,))
            customer = customer or (call["caller"] if call else None)
            recorded = self._one(
                "SELECT recording_url, duration, transcription FROM voicemails"
                " WHERE call_sid = ? ORDER BY received_at DESC LIMIT 1", (decision.sid,))
            if recorded is not None:
                voicemail = dict(recorded)
                body = voicemail["transcription"]
        summary = (self.summary_figures(decision.id) if row["event_type"] == "daily_summary"
                   else None)
        return HookDelivery(**row, decision=decision, conversation=conversation,
                            customer=customer, body=body, voicemail=voicemail, summary=summary)

    def hook_delivered(self, delivery_id: int, http_status: int) -> None:
        self._db.execute(
            "UPDATE hook_deliveries SET status = 'sent', http_status = ?, error = NULL,"
            " claimed_until = NULL, sent_at = ? WHERE id = ?",
            (http_status, self.now_text, delivery_id))

    def hook_due_again(self, delivery_id: int, http_status: int | None, error: str,
                       next_attempt_at: datetime) -> None:
        self._db.execute(
            "UPDATE hook_deliveries SET status = 'pending', http_status = ?, error = ?,"
            " next_attempt_at = ?, claimed_until = NULL WHERE id = ?",
            (http_status, error, to_text(next_attempt_at), delivery_id))

    def hook_gave_up(self, delivery_id: int, http_status: int | None, error: str) -> None:
        self._db.execute(
            "UPDATE hook_deliveries SET status = 'failed', http_status = ?, error = ?,"
            " claimed_until = NULL WHERE id = ?", (http_status, error, delivery_id))

    def prune_hook_deliveries(self, sent_before: datetime) -> int:
        """Forget deliveries sent before then: the decision log keeps what
        happened, and the receiver has them. Failed ones stay (the dashboard)."""
        return len(self._all("DELETE FROM hook_deliveries WHERE status = 'sent' AND sent_at < ?"
                             " RETURNING id", (to_text(sent_before),)))

    def hook_deliveries(self, status: str | None = None,
                        limit: int = 1000) -> list[dict[str, Any]]:
        """Deliveries oldest first (all, or those in one status): tests, dashboard."""
        where = "WHERE status = ?" if status else ""
        params: tuple[Any, ...] = (status,) if status else ()
        return [dict(row) for row in self._all(
            f"SELECT * FROM hook_deliveries {where} ORDER BY id DESC LIMIT ?",
            (*params, limit))][::-1]
