"""Conversations: their codes, owner and tier, the customer's texts in
them, and who was paged."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Iterable

from ..clock import from_text, to_text
from .base import TxBase
from .rows import Conversation

CODE_REUSE_AFTER = timedelta(days=1)


class ConversationQueries(TxBase):
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
        return self._conversation(f"SELECT * FROM conversations WHERE code = ? {clause}"
                                  " ORDER BY opened_at DESC, id DESC LIMIT 1", params)

    def open_conversation_for(self, line_id: str, customer: str) -> Conversation | None:
        return self._conversation(
            "SELECT * FROM conversations WHERE line_id = ? AND customer = ? AND status = 'open'",
            (line_id, customer))

    def open_conversation(self, line_id: str, customer: str, origin: str) -> Conversation:
        code = self._free_code(line_id)
        conversation_id = self._insert(
            "INSERT INTO conversations (line_id, customer, code, origin, status, tier, opened_at)"
            " VALUES (?, ?, ?, ?, 'open', 0, ?)",
            (line_id, customer, code, origin, self.now_text))
        return Conversation(id=conversation_id, line_id=line_id, customer=customer, code=code,
                            origin=origin, status="open", tier=0, owner=None,
                            opened_at=self.now_text, last_forward_at=None, acked_at=None,
                            closed_at=None, last_call_at=None)

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
        return self._conversation("SELECT * FROM conversations WHERE id = ?", (conversation_id,))

    def open_conversation_by_code(self, line_id: str, code: int) -> Conversation | None:
        return self._conversation(
            "SELECT * FROM conversations WHERE line_id = ? AND code = ? AND status = 'open'",
            (line_id, code))

    def owned_conversations(self, line_id: str, responder_id: str) -> list[Conversation]:
        return self._conversations(
            "SELECT * FROM conversations WHERE line_id = ? AND owner = ? AND status = 'open'"
            " ORDER BY code", (line_id, responder_id))

    def latest_unowned_paged_to(self, line_id: str,
                                responder_id: str) -> Conversation | None:
        return self._conversation(
            "SELECT c.* FROM conversations c JOIN pages p ON p.conversation_id = c.id"
            " WHERE c.line_id = ? AND c.status = 'open' AND c.owner IS NULL"
            " AND p.responder_id = ? ORDER BY p.paged_at DESC, c.id DESC LIMIT 1",
            (line_id, responder_id))

    def open_conversations(self, limit: int = 200) -> list[Conversation]:
        return self._conversations(
            "SELECT * FROM conversations WHERE status = 'open' ORDER BY opened_at LIMIT ?",
            (limit,))

    def hand_over(self, conversation_id: int, responder_id: str) -> None:
        self._db.execute(
            "UPDATE conversations SET owner = ?, acked_at = COALESCE(acked_at, ?) WHERE id = ?",
            (responder_id, self.now_text, conversation_id))
        self._settle_pages(conversation_id)

    def release(self, conversation_id: int) -> bool:
        """Clear the owner: the conversation waits for an ACK again. False when
        it had none (already released, or closed)."""
        return self._one(
            "UPDATE conversations SET owner = NULL WHERE id = ? AND owner IS NOT NULL"
            " AND status = 'open' RETURNING id", (conversation_id,)) is not None

    def unowned_paged_to(self, line_id: str, responder_id: str) -> list[Conversation]:
        """Open conversations paged to the responder that nobody has taken."""
        return self._conversations(
            "SELECT DISTINCT c.* FROM conversations c JOIN pages p ON p.conversation_id = c.id"
            " WHERE c.line_id = ? AND c.status = 'open' AND c.owner IS NULL"
            " AND p.responder_id = ? ORDER BY c.code", (line_id, responder_id))

    def _settle_pages(self, conversation_id: int) -> None:
        """Pages matter only while nobody owns the conversation; dropping them
        then keeps a bare ACK's lookup to the conversations still waiting
        (the decision log keeps who was paged)."""
        self._db.execute("DELETE FROM pages WHERE conversation_id = ?", (conversation_id,))

    def start_last_call(self, conversation_id: int) -> bool:
        """Mark the last round sent; False when it already was: it goes out once."""
        return self._one(
            "UPDATE conversations SET last_call_at = ? WHERE id = ? AND last_call_at IS NULL"
            " RETURNING id", (self.now_text, conversation_id)) is not None

    def responders_reached(self, conversation_id: int) -> list[str]:
        """The responders a page of this conversation was sent to (Twilio took it)."""
        rows = self._all(
            "SELECT DISTINCT responder_id FROM outbox WHERE conversation_id = ?"
            " AND purpose = 'page' AND status = 'sent' AND responder_id IS NOT NULL"
            " AND COALESCE(delivery_status, '') NOT IN ('failed', 'undelivered')",
            (conversation_id,))
        return [row[0] for row in rows]

    def last_language(self, line_id: str, customer: str) -> str | None:
        """The language the customer last chose on the line, if any."""
        row = self._one(
            "SELECT language FROM conversations WHERE line_id = ? AND customer = ?"
            " AND language IS NOT NULL ORDER BY id DESC LIMIT 1", (line_id, customer))
        return row[0] if row else None

    def set_language(self, conversation_id: int, language: str | None) -> None:
        """The language the customer is written to from now on."""
        self._db.execute("UPDATE conversations SET language = ? WHERE id = ?",
                         (language, conversation_id))

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
            f" ORDER BY received_at, {self.dialect.arrival_order}", (conversation_id,))
        return [(row[0], tuple(json.loads(row[1]))) for row in rows]

    def mark_forwarded(self, conversation_id: int) -> None:
        """Everything the customer wrote has now gone out; the window restarts."""
        self._db.execute(
            "UPDATE inbound_messages SET forwarded = 1 WHERE conversation_id = ? AND forwarded = 0",
            (conversation_id,))
        self._db.execute("UPDATE conversations SET last_forward_at = ? WHERE id = ?",
                         (self.now_text, conversation_id))

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
