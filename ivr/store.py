"""All SQL lives here: one connection per process, one write path.

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
import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import aiosqlite

from . import SCHEMA_PATH
from .background import BackgroundWorker
from .clock import Clock, from_text, to_text
from .decisions import Decision, DecisionKind

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5_000
DEFAULT_AUTOCHECKPOINT_PAGES = 1_000  # SQLite's own default
# With the Checkpointer running, a commit still checkpoints once the log is
# this long: a passive checkpoint copies the log but cannot let it start
# over while writes never pause, and only a checkpoint that finishes with
# no write after it can. By then the Checkpointer has copied all but the
# last half second, so the commit's checkpoint has little left to do.
BACKSTOP_AUTOCHECKPOINT_PAGES = 16_000
CHECKPOINT_SECONDS = 0.5
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
CODE_REUSE_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Conversation:
    id: int
    line_id: str
    customer: str
    code: int
    origin: str
    status: str
    tier: int
    owner: str | None
    opened_at: str
    last_forward_at: str | None
    acked_at: str | None
    closed_at: str | None


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    decision_id: int
    line_id: str
    conversation_id: int | None
    purpose: str
    responder_id: str | None
    tier: int | None
    to_number: str
    from_number: str
    body: str
    media_urls: tuple[str, ...]
    attempts: int


@dataclass(frozen=True)
class Call:
    call_sid: str
    line_id: str
    caller: str
    status: str
    menu_option: str | None
    menu_tries: int
    tier: int
    started_at: str
    deadline_at: str
    ended_at: str | None
    connected_to: str | None
    first_twiml: str


@dataclass(frozen=True)
class DialAttempt:
    id: int
    call_sid: str
    tier: int
    responders: tuple[str, ...]
    started_at: str
    accepted_by: str | None
    accepted_at: str | None
    dial_status: str | None
    bridged: int | None
    finished_at: str | None


@dataclass(frozen=True)
class Voicemail:
    recording_sid: str
    call_sid: str
    line_id: str
    caller: str
    conversation_id: int | None
    recording_url: str
    duration: int
    transcription: str | None
    received_at: str


@dataclass(frozen=True)
class Timer:
    id: int
    conversation_id: int
    kind: str
    tier: int
    due_at: str


@dataclass(frozen=True)
class DecisionRow:
    id: int
    at: str
    line_id: str | None
    channel: str
    sid: str | None
    conversation_id: int | None
    tier: int | None
    responder_id: str | None
    kind: str
    reason: str


class Tx:
    """One transaction's view of the store. Only valid inside Store.write/read."""

    def __init__(self, db: sqlite3.Connection, now: datetime,
                 send_lease: timedelta | None = None):
        self._db = db
        self.now = now
        self.now_text = to_text(now)
        self.enqueued = 0
        # With a sender in this process (Store.send_lease), messages are
        # queued already claimed by it and listed here for it to send once
        # the transaction commits: no claim transaction, no wait for a poll.
        self._send_lease = send_lease
        self.claimed: list[OutboxMessage] = []
        # What this transaction did, for whoever listens once it commits (metrics).
        self.decided: list[tuple[str, str | None]] = []
        self.observations: list[tuple[str, float, dict[str, str]]] = []

    def observe(self, name: str, value: float, **labels: str) -> None:
        """A measurement that counts only if the transaction commits."""
        self.observations.append((name, value, labels))

    def _one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        return self._db.execute(sql, tuple(params)).fetchone()

    def _all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self._db.execute(sql, tuple(params)).fetchall()

    def _insert(self, sql: str, params: Iterable[Any]) -> int:
        row = self._one(sql + " RETURNING id", params)
        assert row is not None
        return int(row[0])

    # -- decisions ---------------------------------------------------------

    def decide(self, decision: Decision) -> int:
        kind = DecisionKind(decision.kind)  # refuses a kind outside the closed set
        self.decided.append((str(kind), decision.line_id))
        return self._insert(
            "INSERT INTO decisions (at, line_id, channel, sid, conversation_id, tier,"
            " responder_id, kind, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.now_text, decision.line_id, str(decision.channel), decision.sid,
             decision.conversation_id, decision.tier, decision.responder_id, str(kind),
             decision.reason))

    def recent_decisions(self, limit: int = 100, line_id: str | None = None,
                         conversation_id: int | None = None,
                         sid: str | None = None) -> list[DecisionRow]:
        """The last `limit` decisions, oldest first."""
        return self.find_decisions(limit=limit, line_id=line_id,
                                   conversation_id=conversation_id, sid=sid)

    def find_decisions(self, *, limit: int = 100, after_id: int = 0,
                       line_id: str | None = None, number: str | None = None,
                       responder_id: str | None = None, conversation_id: int | None = None,
                       sid: str | None = None) -> list[DecisionRow]:
        """Decisions oldest first: the last `limit`, or those after `after_id`.
        `number` matches the customer, the caller or the responder it concerns."""
        where, params = [], []
        if after_id:
            where.append("id > ?")
            params.append(after_id)
        if line_id is not None:
            where.append("line_id = ?")
            params.append(line_id)
        if conversation_id is not None:
            where.append("conversation_id = ?")
            params.append(conversation_id)
        if sid is not None:
            where.append("sid = ?")
            params.append(sid)
        if number is not None:
            # A union of indexed lookups: an OR of these would scan every decision.
            where.append(
                "id IN (SELECT d.id FROM decisions d JOIN conversations c"
                " ON d.conversation_id = c.id WHERE c.customer = ?"
                " UNION SELECT d.id FROM decisions d JOIN calls k ON d.sid = k.call_sid"
                " WHERE k.caller = ?"
                " UNION SELECT d.id FROM decisions d JOIN inbound_messages m"
                " ON d.sid = m.message_sid WHERE m.sender = ?"
                " UNION SELECT id FROM decisions WHERE responder_id = ?)")
            params += [number, number, number, responder_id or ""]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        order = "ASC" if after_id else "DESC"
        rows = self._all(
            f"SELECT id, at, line_id, channel, sid, conversation_id, tier, responder_id, kind,"
            f" reason FROM decisions {clause} ORDER BY id {order} LIMIT ?", (*params, limit))
        found = [DecisionRow(**dict(row)) for row in rows]
        return found if after_id else found[::-1]

    def conversation_codes(self, ids: Iterable[int]) -> dict[int, int]:
        ids = list(ids)
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = self._all(f"SELECT id, code FROM conversations WHERE id IN ({marks})", ids)
        return {row[0]: row[1] for row in rows}

    def conversation_by_code(self, code: int, line_id: str | None = None) -> Conversation | None:
        """The most recent conversation with this code (on this line)."""
        clause, params = ("AND line_id = ?", (code, line_id)) if line_id else ("", (code,))
        row = self._one(f"SELECT * FROM conversations WHERE code = ? {clause}"
                        " ORDER BY opened_at DESC, id DESC LIMIT 1", params)
        return Conversation(**dict(row)) if row else None

    # -- conversations -----------------------------------------------------

    def open_conversation_for(self, line_id: str, customer: str) -> Conversation | None:
        row = self._one(
            "SELECT * FROM conversations WHERE line_id = ? AND customer = ? AND status = 'open'",
            (line_id, customer))
        return Conversation(**dict(row)) if row else None

    def open_conversation(self, line_id: str, customer: str, origin: str) -> Conversation:
        code = self._free_code(line_id)
        conversation_id = self._insert(
            "INSERT INTO conversations (line_id, customer, code, origin, status, tier, opened_at)"
            " VALUES (?, ?, ?, ?, 'open', 0, ?)",
            (line_id, customer, code, origin, self.now_text))
        return Conversation(id=conversation_id, line_id=line_id, customer=customer, code=code,
                            origin=origin, status="open", tier=0, owner=None,
                            opened_at=self.now_text, last_forward_at=None, acked_at=None,
                            closed_at=None)

    def _free_code(self, line_id: str) -> int:
        """Take the smallest code the line may hand out now, and hold it.

        Reads line_codes, not the conversations: the walk in code order
        stops at the first free code, so it costs the codes held below it
        (open conversations and those closed within the day), however long
        the line's history."""
        row = self._one(
            "SELECT COALESCE("
            " (SELECT MIN(code) FROM line_codes WHERE line_id = ? AND reusable_at < ?),"
            " (SELECT COALESCE(MAX(code), 0) + 1 FROM line_codes WHERE line_id = ?))",
            (line_id, self.now_text, line_id))
        assert row is not None
        code = int(row[0])
        self._db.execute(
            "INSERT INTO line_codes (line_id, code, reusable_at) VALUES (?, ?, NULL)"
            " ON CONFLICT (line_id, code) DO UPDATE SET reusable_at = NULL", (line_id, code))
        return code

    def _release_code(self, conversation_id: int) -> None:
        self._db.execute(
            "UPDATE line_codes SET reusable_at = ? WHERE (line_id, code) ="
            " (SELECT line_id, code FROM conversations WHERE id = ?)",
            (to_text(self.now + CODE_REUSE_AFTER), conversation_id))

    def rebuild_line_codes(self) -> int:
        """Fill line_codes from the conversations when it is empty (a database
        from before the table existed); returns how many codes it wrote."""
        if self._one("SELECT 1 FROM line_codes LIMIT 1") is not None:
            return 0
        rows = self._all(
            "SELECT line_id, code, MAX(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS held,"
            " MAX(closed_at) AS last_closed FROM conversations GROUP BY line_id, code")
        codes = [(row["line_id"], row["code"],
                  None if row["held"] or row["last_closed"] is None
                  else to_text(from_text(row["last_closed"]) + CODE_REUSE_AFTER))
                 for row in rows]
        self._db.executemany(
            "INSERT INTO line_codes (line_id, code, reusable_at) VALUES (?, ?, ?)", codes)
        return len(codes)

    def conversation(self, conversation_id: int) -> Conversation | None:
        row = self._one("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        return Conversation(**dict(row)) if row else None

    def open_conversation_by_code(self, line_id: str, code: int) -> Conversation | None:
        row = self._one(
            "SELECT * FROM conversations WHERE line_id = ? AND code = ? AND status = 'open'",
            (line_id, code))
        return Conversation(**dict(row)) if row else None

    def owned_conversations(self, line_id: str, responder_id: str) -> list[Conversation]:
        rows = self._all(
            "SELECT * FROM conversations WHERE line_id = ? AND owner = ? AND status = 'open'"
            " ORDER BY code", (line_id, responder_id))
        return [Conversation(**dict(row)) for row in rows]

    def latest_unowned_paged_to(self, line_id: str,
                                responder_id: str) -> Conversation | None:
        row = self._one(
            "SELECT c.* FROM conversations c JOIN pages p ON p.conversation_id = c.id"
            " WHERE c.line_id = ? AND c.status = 'open' AND c.owner IS NULL"
            " AND p.responder_id = ? ORDER BY p.paged_at DESC, c.id DESC LIMIT 1",
            (line_id, responder_id))
        return Conversation(**dict(row)) if row else None

    def open_conversations(self, limit: int = 200) -> list[Conversation]:
        rows = self._all(
            "SELECT * FROM conversations WHERE status = 'open' ORDER BY opened_at LIMIT ?",
            (limit,))
        return [Conversation(**dict(row)) for row in rows]

    def hand_over(self, conversation_id: int, responder_id: str) -> None:
        self._db.execute(
            "UPDATE conversations SET owner = ?, acked_at = COALESCE(acked_at, ?) WHERE id = ?",
            (responder_id, self.now_text, conversation_id))
        self._settle_pages(conversation_id)

    def _settle_pages(self, conversation_id: int) -> None:
        """Pages matter only while nobody owns the conversation; dropping them
        then keeps a bare ACK's lookup to the conversations still waiting
        (the decision log keeps who was paged)."""
        self._db.execute("DELETE FROM pages WHERE conversation_id = ?", (conversation_id,))

    def latest_decision_id(self) -> int:
        row = self._one("SELECT MAX(id) FROM decisions")
        return int(row[0] or 0) if row else 0

    def counts(self) -> dict[str, int]:
        """Sizes the metrics report: pending timers, open conversations, unsent texts."""
        queries = {
            "pending_timers": "SELECT COUNT(*) FROM timers WHERE state = 'pending'",
            "open_conversations": "SELECT COUNT(*) FROM conversations WHERE status = 'open'",
            "outbox_unsent": "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')",
        }
        result = {}
        for name, sql in queries.items():
            row = self._one(sql)
            result[name] = int(row[0]) if row else 0
        return result

    def set_tier(self, conversation_id: int, tier: int) -> None:
        self._db.execute("UPDATE conversations SET tier = ? WHERE id = ?",
                         (tier, conversation_id))

    def take(self, conversation_id: int, responder_id: str) -> bool:
        """Make `responder_id` the owner unless someone already is."""
        row = self._one(
            "UPDATE conversations SET owner = ?, acked_at = ? WHERE id = ? AND owner IS NULL"
            " AND status = 'open' RETURNING id", (responder_id, self.now_text, conversation_id))
        if row is not None:
            self._settle_pages(conversation_id)
        return row is not None

    def close_conversation(self, conversation_id: int) -> None:
        self._db.execute(
            "UPDATE conversations SET status = 'closed', closed_at = ? WHERE id = ?",
            (self.now_text, conversation_id))
        self._release_code(conversation_id)
        self._settle_pages(conversation_id)

    def conversation_texts(self, conversation_id: int, held_only: bool = False
                           ) -> list[tuple[str, tuple[str, ...]]]:
        """The customer's texts in the conversation, oldest first: (body, media);
        `held_only`: just those the flood window held back."""
        held = "AND forwarded = 0" if held_only else ""
        rows = self._all(
            f"SELECT body, media_urls FROM inbound_messages WHERE conversation_id = ? {held}"
            " ORDER BY received_at, rowid", (conversation_id,))
        return [(row[0], tuple(json.loads(row[1]))) for row in rows]

    def hold_inbound(self, message_sid: str) -> None:
        self._db.execute("UPDATE inbound_messages SET forwarded = 0 WHERE message_sid = ?",
                         (message_sid,))

    def mark_forwarded(self, conversation_id: int) -> None:
        """Everything the customer wrote has now gone out; the window restarts."""
        self._db.execute(
            "UPDATE inbound_messages SET forwarded = 1 WHERE conversation_id = ? AND forwarded = 0",
            (conversation_id,))
        self._db.execute("UPDATE conversations SET last_forward_at = ? WHERE id = ?",
                         (self.now_text, conversation_id))

    # -- pages ---------------------------------------------------------------

    def record_page(self, conversation_id: int, responder_id: str, tier: int) -> None:
        self._db.execute(
            "INSERT INTO pages (conversation_id, responder_id, tier, paged_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (conversation_id, responder_id, tier) DO UPDATE SET paged_at = excluded.paged_at",
            (conversation_id, responder_id, tier, self.now_text))

    def paged_responders(self, conversation_id: int) -> list[str]:
        rows = self._all(
            "SELECT responder_id FROM pages WHERE conversation_id = ?"
            " GROUP BY responder_id ORDER BY MIN(paged_at), responder_id", (conversation_id,))
        return [row[0] for row in rows]

    # -- timers ----------------------------------------------------------------

    def schedule_timer(self, conversation_id: int, tier: int, due: datetime,
                       kind: str = "ack_timeout") -> int:
        return self._insert(
            "INSERT INTO timers (conversation_id, kind, tier, due_at, state)"
            " VALUES (?, ?, ?, ?, 'pending')", (conversation_id, kind, tier, to_text(due)))

    def cancel_timers(self, conversation_id: int, kind: str = "ack_timeout") -> int:
        rows = self._all(
            "UPDATE timers SET state = 'cancelled' WHERE conversation_id = ? AND kind = ?"
            " AND state = 'pending' RETURNING id", (conversation_id, kind))
        return len(rows)

    def has_pending_timer(self, conversation_id: int, kind: str) -> bool:
        return self._one(
            "SELECT 1 FROM timers WHERE conversation_id = ? AND kind = ? AND state = 'pending'",
            (conversation_id, kind)) is not None

    def claim_due_timers(self, limit: int) -> list[Timer]:
        """Mark due timers fired and return them; the caller acts on them in
        this same transaction, so a timer fires once even across workers
        (on PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED)."""
        rows = self._all(
            "UPDATE timers SET state = 'fired', fired_at = ? WHERE id IN ("
            " SELECT id FROM timers WHERE state = 'pending' AND due_at <= ?"
            " ORDER BY due_at, id LIMIT ?)"
            " RETURNING id, conversation_id, kind, tier, due_at",
            (self.now_text, self.now_text, limit))
        return sorted((Timer(**dict(row)) for row in rows), key=lambda t: (t.due_at, t.id))

    def next_timer_due(self) -> str | None:
        row = self._one("SELECT MIN(due_at) FROM timers WHERE state = 'pending'")
        return row[0] if row else None

    def pending_timers(self, conversation_id: int | None = None) -> list[Timer]:
        clause, params = ("AND conversation_id = ?", (conversation_id,)) if conversation_id else ("", ())
        rows = self._all(
            f"SELECT id, conversation_id, kind, tier, due_at FROM timers WHERE state = 'pending'"
            f" {clause} ORDER BY due_at, id", params)
        return [Timer(**dict(row)) for row in rows]

    # -- availability overrides ------------------------------------------------

    def set_override(self, responder_id: str, status: str,
                     until: datetime | None) -> None:
        self._db.execute(
            "INSERT INTO availability_overrides (responder_id, status, until, set_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (responder_id) DO UPDATE SET"
            " status = excluded.status, until = excluded.until, set_at = excluded.set_at",
            (responder_id, status, to_text(until) if until else None, self.now_text))

    def overrides(self) -> dict[str, tuple[str, str | None]]:
        """Every override still in force: responder id -> (status, until)."""
        rows = self._all(
            "SELECT responder_id, status, until FROM availability_overrides"
            " WHERE until IS NULL OR until > ?", (self.now_text,))
        return {row[0]: (row[1], row[2]) for row in rows}

    # -- opt-outs --------------------------------------------------------------

    def set_opted_out(self, line_id: str, number: str, opted_out: bool) -> None:
        if opted_out:
            self._db.execute(
                "INSERT INTO opt_outs (line_id, number, opted_out_at) VALUES (?, ?, ?)"
                " ON CONFLICT (line_id, number) DO NOTHING", (line_id, number, self.now_text))
        else:
            self._db.execute("DELETE FROM opt_outs WHERE line_id = ? AND number = ?",
                             (line_id, number))

    def is_opted_out(self, line_id: str, number: str) -> bool:
        return self._one("SELECT 1 FROM opt_outs WHERE line_id = ? AND number = ?",
                         (line_id, number)) is not None

    # -- calls -----------------------------------------------------------------

    def call(self, call_sid: str) -> Call | None:
        row = self._one("SELECT * FROM calls WHERE call_sid = ?", (call_sid,))
        return Call(**dict(row)) if row else None

    def start_call(self, call_sid: str, line_id: str, caller: str, status: str,
                   deadline: datetime) -> None:
        self._db.execute(
            "INSERT INTO calls (call_sid, line_id, caller, status, started_at, deadline_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (call_sid, line_id, caller, status, self.now_text, to_text(deadline)))

    def update_call(self, call_sid: str, **fields: Any) -> None:
        allowed = {"status", "menu_option", "menu_tries", "tier", "ended_at", "connected_to",
                   "first_twiml"}
        assert fields and set(fields) <= allowed, fields
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._db.execute(f"UPDATE calls SET {assignments} WHERE call_sid = ?",
                         (*fields.values(), call_sid))

    def end_call(self, call_sid: str) -> bool:
        """Mark the call ended; False when it already was."""
        row = self._one(
            "UPDATE calls SET status = 'ended', ended_at = ? WHERE call_sid = ?"
            " AND status <> 'ended' RETURNING call_sid", (self.now_text, call_sid))
        return row is not None

    def start_attempt(self, call_sid: str, tier: int, responders: Iterable[str]) -> int:
        return self._insert(
            "INSERT INTO dial_attempts (call_sid, tier, responders, started_at) VALUES (?, ?, ?, ?)",
            (call_sid, tier, json.dumps(list(responders)), self.now_text))

    def attempt(self, attempt_id: int) -> DialAttempt | None:
        row = self._one("SELECT * FROM dial_attempts WHERE id = ?", (attempt_id,))
        if row is None:
            return None
        return DialAttempt(**{**dict(row), "responders": tuple(json.loads(row["responders"]))})

    def accept_attempt(self, attempt_id: int, responder_id: str) -> bool:
        """The first responder to press 1 gets the call."""
        row = self._one(
            "UPDATE dial_attempts SET accepted_by = ?, accepted_at = ? WHERE id = ?"
            " AND accepted_by IS NULL AND finished_at IS NULL RETURNING id",
            (responder_id, self.now_text, attempt_id))
        return row is not None

    def finish_attempt(self, attempt_id: int, dial_status: str,
                       bridged: bool | None) -> bool:
        """Record the Dial's outcome; False when it was already recorded (a retry)."""
        row = self._one(
            "UPDATE dial_attempts SET dial_status = ?, bridged = ?, finished_at = ?"
            " WHERE id = ? AND finished_at IS NULL RETURNING id",
            (dial_status, None if bridged is None else int(bridged), self.now_text, attempt_id))
        return row is not None

    def recent_calls(self, limit: int = 50) -> list[Call]:
        rows = self._all("SELECT * FROM calls ORDER BY started_at DESC LIMIT ?", (limit,))
        return [Call(**dict(row)) for row in rows]

    # -- voicemails --------------------------------------------------------------

    def voicemail(self, recording_sid: str) -> Voicemail | None:
        row = self._one("SELECT * FROM voicemails WHERE recording_sid = ?",
                        (recording_sid,))
        return Voicemail(**dict(row)) if row else None

    def record_voicemail(self, recording_sid: str, call_sid: str, line_id: str,
                         caller: str, conversation_id: int, recording_url: str,
                         duration: int) -> None:
        self._db.execute(
            "INSERT INTO voicemails (recording_sid, call_sid, line_id, caller, conversation_id,"
            " recording_url, duration, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (recording_sid, call_sid, line_id, caller, conversation_id, recording_url, duration,
             self.now_text))

    def set_transcription(self, recording_sid: str, text: str) -> None:
        self._db.execute("UPDATE voicemails SET transcription = ? WHERE recording_sid = ?",
                         (text, recording_sid))

    def set_inbound_body(self, message_sid: str, body: str) -> None:
        self._db.execute("UPDATE inbound_messages SET body = ? WHERE message_sid = ?",
                         (body, message_sid))

    # -- inbound webhooks ----------------------------------------------------

    def inbound_reply(self, message_sid: str) -> str | None:
        row = self._one("SELECT reply_twiml FROM inbound_messages WHERE message_sid = ?",
                        (message_sid,))
        return row[0] if row else None

    def record_inbound(self, message_sid: str, line_id: str, sender: str, body: str,
                       media_urls: Iterable[str]) -> None:
        """Remember a text before acting on it; its reply is set when known."""
        self._db.execute(
            "INSERT INTO inbound_messages (message_sid, line_id, sender, body, media_urls,"
            " received_at, reply_twiml) VALUES (?, ?, ?, ?, ?, ?, '')",
            (message_sid, line_id, sender, body, json.dumps(list(media_urls)), self.now_text))

    def attach_inbound(self, message_sid: str, conversation_id: int) -> None:
        self._db.execute(
            "UPDATE inbound_messages SET conversation_id = ? WHERE message_sid = ?",
            (conversation_id, message_sid))

    def set_inbound_reply(self, message_sid: str, reply_twiml: str) -> None:
        self._db.execute("UPDATE inbound_messages SET reply_twiml = ? WHERE message_sid = ?",
                         (reply_twiml, message_sid))

    # -- outbox ------------------------------------------------------------

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
            " RETURNING " + _OUTBOX_FIELDS,
            (to_text(self.now + lease), now, now, limit))
        messages = [OutboxMessage(**{**dict(row), "media_urls": tuple(json.loads(row["media_urls"]))})
                    for row in rows]
        return sorted(messages, key=lambda m: m.id)

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
            f"SELECT {_OUTBOX_FIELDS}, delivery_status FROM outbox WHERE message_sid = ?",
            (message_sid,))
        if row is None:
            return None
        self._advance_delivery(row["id"], row["delivery_status"], status, error_code)
        fields = {k: row[k] for k in row.keys() if k != "delivery_status"}
        return OutboxMessage(**{**fields, "media_urls": tuple(json.loads(fields["media_urls"]))})

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


class Store:
    def __init__(self, path: str | Path, clock: Clock):
        self.path = str(path)
        self.clock = clock
        self._db: aiosqlite.Connection | None = None
        self._commit_listeners: list[Callable[[Tx], None]] = []
        self._write_lock: int | None = None
        # Set by the outbox worker while it runs in this process: messages are
        # then queued claimed for this long (see Tx.claimed).
        self.send_lease: timedelta | None = None

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
        await self.write(self._apply_schema)

    def _apply_schema(self, tx: Tx) -> None:
        for statement in _split_sql(SCHEMA_PATH.read_text("utf-8")):
            tx._db.execute(statement)
        rebuilt = tx.rebuild_line_codes()
        if rebuilt:
            log.info("rebuilt %d conversation code(s) from the conversations table", rebuilt)

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

    def on_commit(self, listener: Callable[[Tx], None]) -> None:
        """Call `listener(tx)` after each write transaction commits."""
        self._commit_listeners.append(listener)

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(2):
                return await self.read(_select_one) == 1
        except Exception:  # any failure means "not healthy"; the caller says so
            log.exception("database ping failed")
            return False

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """Run `fn(tx)` in one transaction in the database thread.

        The whole function runs in aiosqlite's thread as one queued call:
        one thread hop per transaction instead of one per statement, and no
        other statement can come between its BEGIN and its COMMIT. The call
        is shielded, so a cancelled caller (a client that hung up) leaves it
        to finish whole."""
        task = asyncio.ensure_future(self._run(self._write_now, fn))
        # Listeners run from the task, not after the await below: a caller
        # cancelled meanwhile never gets there, and what its transaction
        # queued must still be sent. Added before shield's own callback, they
        # still run before the caller resumes.
        task.add_done_callback(self._after_write)
        _, result = await asyncio.shield(task)
        return result

    def _after_write(self, task: asyncio.Task[tuple[Tx, Any]]) -> None:
        if task.cancelled():
            return
        if task.exception() is not None:
            _retrieve_exception(task)
            return
        tx, _ = task.result()
        for listener in self._commit_listeners:
            try:
                listener(tx)
            except Exception:  # a listener must never undo a committed write's caller
                log.exception("a commit listener failed")

    async def read(self, fn: Callable[[Tx], T]) -> T:
        _, result = await self._run(self._read_now, fn)
        return result

    async def _run(self, body: Callable[..., tuple[Tx, T]], fn: Callable[[Tx], T]) -> tuple[Tx, T]:
        db = self._connection()
        # aiosqlite runs every call in its one thread; _execute is how it does
        # that for a function of ours (it has no public name for it).
        return await db._execute(body, db._conn, fn)

    def _write_now(self, conn: sqlite3.Connection, fn: Callable[[Tx], T]) -> tuple[Tx, T]:
        if self._write_lock is not None:
            fcntl.flock(self._write_lock, fcntl.LOCK_EX)
        try:
            tx = Tx(conn, self.clock.now(), self.send_lease)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(tx)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return tx, result
        finally:
            if self._write_lock is not None:
                fcntl.flock(self._write_lock, fcntl.LOCK_UN)

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
        if self.store.path == ":memory:":
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


def _select_one(tx: Tx) -> int:
    row = tx._one("SELECT 1")
    return int(row[0]) if row else 0


_OUTBOX_FIELDS = ("id, decision_id, line_id, conversation_id, purpose, responder_id, tier,"
                  " to_number, from_number, body, media_urls, attempts")

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


def _retrieve_exception(task: asyncio.Task[Any]) -> None:
    # The caller may have been cancelled and gone; the error is still theirs
    # to see in the log rather than as "exception was never retrieved".
    if not task.cancelled() and task.exception() is not None:
        log.debug("write failed after its caller left", exc_info=task.exception())


def _split_sql(script: str) -> list[str]:
    """schema.sql's statements one by one (executescript would COMMIT ours)."""
    statements, current = [], []
    for line in script.splitlines():
        stripped = line.split("--", 1)[0].rstrip()
        if not stripped:
            continue
        current.append(stripped)
        if stripped.endswith(";"):
            statement = "\n".join(current)
            if sqlite3.complete_statement(statement):
                statements.append(statement)
                current = []
    if current:
        statements.append("\n".join(current))
    return statements
