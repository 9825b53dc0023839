"""History: closed (and open) conversations and past calls found by line,
number (whole or its last digits), code, responder and date, a page at a
time, newest first; and everything one conversation's transcript shows.

Paging is by key (the last row's time and id), not OFFSET: the hundredth
page costs what the first does. A number's last digits are found through
an index on its last four (migrations.py, step 8), so "0142" does not read
every conversation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .base import TxBase
from .rows import Call, Conversation, DecisionRow, Voicemail

# The index on a number's last four digits: the same expression in the
# migration and in every query, or neither engine would use it.
TAIL_DIGITS = 4


def tail_expression(column: str) -> str:
    return f"substr({column}, length({column}) - {TAIL_DIGITS - 1})"


@dataclass(frozen=True)
class HistoryFilter:
    """What the operator asked for; every field optional. `number` is E.164
    (matched whole) or digits (the end of the number, at least four);
    `since`/`until` are store times (UTC text), `until` excluded."""
    line_id: str | None = None
    number: str | None = None
    code: int | None = None
    responder_id: str | None = None
    since: str | None = None
    until: str | None = None
    status: str | None = None          # 'open' or 'closed'; conversations only


@dataclass(frozen=True)
class CallSummary:
    call: Call
    voicemail_seconds: int | None      # a voicemail left on this call
    conversation_id: int | None        # the conversation that voicemail joined


@dataclass(frozen=True)
class OutboundText:
    id: int
    purpose: str                       # page, notice, customer, relay
    responder_id: str | None
    to_number: str
    body: str
    media_urls: tuple[str, ...]
    status: str
    delivery_status: str | None
    created_at: str
    decided_by: str | None = None      # the responder the decision that sent it names


@dataclass(frozen=True)
class InboundText:
    message_sid: str
    sender: str
    body: str
    media_urls: tuple[str, ...]
    received_at: str
    relayed: bool = False              # a responder's reply the outbox relayed


@dataclass(frozen=True)
class PhonePage:
    responder_id: str
    purpose: str
    status: str
    answer: str | None
    call_status: str | None
    due_at: str


@dataclass(frozen=True)
class Transcript:
    conversation: Conversation
    customer_texts: list[InboundText]
    responder_texts: list[InboundText]
    sent: list[OutboundText]
    voicemails: list[Voicemail]
    phone_pages: list[PhonePage]
    trail: list[DecisionRow]


def _number_clause(column: str, number: str, where: list[str], params: list[Any]) -> None:
    if number.startswith("+"):
        where.append(f"{column} = ?")
        params.append(number)
        return
    where.append(f"{tail_expression(column)} = ?")
    params.append(number[-TAIL_DIGITS:])
    if len(number) > TAIL_DIGITS:
        where.append(f"{column} LIKE ?")
        params.append(f"%{number}")


class HistoryQueries(TxBase):
    def find_conversations(self, found: HistoryFilter, limit: int,
                           before: tuple[str, int] | None = None) -> list[Conversation]:
        """Conversations matching `found`, newest opened first; `before` is
        the (opened_at, id) of the last row of the previous page.
        `responder_id` matches who owns (or last owned) it."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("line_id", found.line_id), ("code", found.code),
                              ("owner", found.responder_id), ("status", found.status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if found.number:
            _number_clause("customer", found.number, where, params)
        self._time_range("opened_at", found, where, params)
        if before is not None:
            where.append("(opened_at, id) < (?, ?)")
            params += list(before)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self._conversations(
            f"SELECT * FROM conversations {clause} ORDER BY opened_at DESC, id DESC LIMIT ?",
            (*params, limit))

    def find_calls(self, found: HistoryFilter, limit: int,
                   before: tuple[str, str] | None = None) -> list[CallSummary]:
        """Calls matching `found`, newest first; `responder_id` matches who
        took the call; `code` the conversation its voicemail joined."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("k.line_id", found.line_id),
                              ("k.connected_to", found.responder_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if found.number:
            _number_clause("k.caller", found.number, where, params)
        if found.code is not None:
            where.append("c.code = ?")
            params.append(found.code)
        self._time_range("k.started_at", found, where, params)
        if before is not None:
            where.append("(k.started_at, k.call_sid) < (?, ?)")
            params += list(before)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._all(
            "SELECT k.*, v.duration AS voicemail_seconds, v.conversation_id AS vm_conversation"
            " FROM calls k LEFT JOIN voicemails v ON v.call_sid = k.call_sid"
            " LEFT JOIN conversations c ON c.id = v.conversation_id"
            f" {clause} ORDER BY k.started_at DESC, k.call_sid DESC LIMIT ?", (*params, limit))
        found_calls = []
        for row in rows:
            fields = dict(row)
            seconds = fields.pop("voicemail_seconds")
            conversation_id = fields.pop("vm_conversation")
            found_calls.append(CallSummary(Call(**fields), seconds, conversation_id))
        return found_calls

    @staticmethod
    def _time_range(column: str, found: HistoryFilter, where: list[str],
                    params: list[Any]) -> None:
        if found.since:
            where.append(f"{column} >= ?")
            params.append(found.since)
        if found.until:
            where.append(f"{column} < ?")
            params.append(found.until)

    def transcript(self, conversation_id: int, trail_limit: int = 500) -> Transcript | None:
        """Everything said in a conversation, each part oldest first."""
        conversation = self.conversation(conversation_id)  # type: ignore[attr-defined]
        if conversation is None:
            return None
        customer = [self._inbound(row) for row in self._all(
            "SELECT message_sid, sender, body, media_urls, received_at FROM inbound_messages"
            f" WHERE conversation_id = ? ORDER BY received_at, {self.dialect.arrival_order}",
            (conversation_id,))]
        # A responder's text joins no conversation; its decisions name the one it acted on.
        responder = [self._inbound(row, relayed=bool(row["relayed"])) for row in self._all(
            "SELECT m.message_sid, m.sender, m.body, m.media_urls, m.received_at,"
            " MAX(CASE WHEN d.kind = 'relayed_to_customer' THEN 1 ELSE 0 END) AS relayed"
            " FROM decisions d JOIN inbound_messages m ON m.message_sid = d.sid"
            " WHERE d.conversation_id = ? AND m.conversation_id IS NULL"
            " GROUP BY m.message_sid, m.sender, m.body, m.media_urls, m.received_at"
            " ORDER BY m.received_at", (conversation_id,))]
        sent = [OutboundText(
            id=row["id"], purpose=row["purpose"], responder_id=row["responder_id"],
            to_number=row["to_number"], body=row["body"],
            media_urls=tuple(json.loads(row["media_urls"])), status=row["status"],
            delivery_status=row["delivery_status"], created_at=row["created_at"],
            decided_by=row["decided_by"])
            for row in self._all(
                "SELECT o.id, o.purpose, o.responder_id, o.to_number, o.body, o.media_urls,"
                " o.status, o.delivery_status, o.created_at, d.responder_id AS decided_by"
                " FROM outbox o LEFT JOIN decisions d ON d.id = o.decision_id"
                " WHERE o.conversation_id = ? ORDER BY o.created_at, o.id",
                (conversation_id,))]
        voicemails = [Voicemail(**dict(row)) for row in self._all(
            "SELECT * FROM voicemails WHERE conversation_id = ? ORDER BY received_at",
            (conversation_id,))]
        phone_pages = [PhonePage(**dict(row)) for row in self._all(
            "SELECT responder_id, purpose, status, answer, call_status, due_at FROM page_calls"
            " WHERE conversation_id = ? ORDER BY due_at, id", (conversation_id,))]
        trail = self.recent_decisions(  # type: ignore[attr-defined]
            limit=trail_limit, conversation_id=conversation_id)
        return Transcript(conversation, customer, responder, sent, voicemails, phone_pages,
                          trail)

    @staticmethod
    def _inbound(row: Any, relayed: bool = False) -> InboundText:
        return InboundText(message_sid=row["message_sid"], sender=row["sender"],
                           body=row["body"], media_urls=tuple(json.loads(row["media_urls"])),
                           received_at=row["received_at"], relayed=relayed)

    def inbound_media(self, message_sid: str) -> tuple[str, ...]:
        row = self._one("SELECT media_urls FROM inbound_messages WHERE message_sid = ?",
                        (message_sid,))
        return tuple(json.loads(row[0])) if row else ()

    def outbox_media(self, outbox_id: int) -> tuple[str, ...]:
        row = self._one("SELECT media_urls FROM outbox WHERE id = ?", (outbox_id,))
        return tuple(json.loads(row[0])) if row else ()

    def open_ownerships(self) -> dict[int, DecisionRow]:
        """How each open conversation's owner got it: the latest ACK or
        hand-over naming them, by conversation id (one query for the
        dashboard, however many are open)."""
        # The owner is compared here, not in SQL: SQLite (never ANALYZEd) would
        # read a responder's every decision by decisions_by_responder instead of
        # the conversation's few by decisions_by_conversation.
        rows = self._all(
            "SELECT d.id, d.at, d.line_id, d.channel, d.sid, d.conversation_id, d.tier,"
            " d.responder_id, d.kind, d.reason, c.owner FROM conversations c CROSS JOIN"
            " decisions d WHERE d.conversation_id = c.id AND c.status = 'open'"
            " AND d.kind IN ('acknowledged', 'handed_over')")
        latest: dict[int, DecisionRow] = {}
        for row in sorted(rows, key=lambda row: row["id"]):
            fields = dict(row)
            if fields.pop("owner") == fields["responder_id"]:
                latest[fields["conversation_id"]] = DecisionRow(**fields)
        return latest
