"""Phone pages: calls to responders as rows with a due time, claimed by
whichever instance is alive, then placed, answered or not."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable

from ..clock import to_text
from .base import TxBase
from .rows import PageCall

_COLUMNS = ("id, conversation_id, line_id, responder_id, tier, attempt, status, due_at,"
            " call_sid, answer, call_status, purpose")


class PageCallQueries(TxBase):
    def schedule_page_call(self, conversation_id: int, line_id: str, responder_id: str,
                           tier: int, attempt: int, due: datetime, purpose: str = "page") -> int:
        return self._insert(
            "INSERT INTO page_calls (conversation_id, line_id, responder_id, tier, attempt,"
            " purpose, status, due_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (conversation_id, line_id, responder_id, tier, attempt, purpose, to_text(due),
             self.now_text))

    def owner_call_open(self, conversation_id: int) -> bool:
        """Whether a call to the owner about a failed forward is still to come or ringing."""
        return self._one(
            "SELECT 1 FROM page_calls WHERE conversation_id = ? AND purpose = 'owner'"
            " AND status IN ('pending', 'calling', 'placed')", (conversation_id,)) is not None

    def claim_due_page_calls(self, limit: int, lease: timedelta) -> list[PageCall]:
        """Due calls, and calls whose placer died holding them, claimed for
        `lease` (on PostgreSQL skipping those another instance holds)."""
        now = self.now_text
        rows = self._all(
            "UPDATE page_calls SET status = 'calling', claimed_until = ?"
            " WHERE id IN (SELECT id FROM page_calls WHERE"
            "   (status = 'pending' AND due_at <= ?) OR (status = 'calling' AND claimed_until < ?)"
            f"   ORDER BY due_at, id LIMIT ?{self.dialect.skip_locked})"
            f" RETURNING {_COLUMNS}", (to_text(self.now + lease), now, now, limit))
        return sorted((PageCall(**dict(row)) for row in rows), key=lambda c: (c.due_at, c.id))

    def page_call(self, page_call_id: int) -> PageCall | None:
        row = self._one(f"SELECT {_COLUMNS} FROM page_calls WHERE id = ?", (page_call_id,))
        return PageCall(**dict(row)) if row else None

    def update_page_call(self, page_call_id: int, **fields: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._db.execute(f"UPDATE page_calls SET {assignments} WHERE id = ?",
                         (*fields.values(), page_call_id))

    def latest_placed_page_call(self) -> PageCall | None:
        """The newest call Twilio was asked to place (`ivr simulate answer-page`)."""
        row = self._one(f"SELECT {_COLUMNS} FROM page_calls WHERE status = 'placed'"
                        " ORDER BY id DESC LIMIT 1")
        return PageCall(**dict(row)) if row else None

    def next_page_call_due(self) -> str | None:
        row = self._one("SELECT MIN(due_at) FROM page_calls WHERE status = 'pending'")
        return row[0] if row else None

    def page_calls_of(self, conversation_id: int) -> list[PageCall]:
        return [PageCall(**dict(row)) for row in self._all(
            f"SELECT {_COLUMNS} FROM page_calls WHERE conversation_id = ? ORDER BY id",
            (conversation_id,))]

    def skip_pending_page_calls(self, conversation_ids: Iterable[int], why: str) -> int:
        ids = list(conversation_ids)
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        return len(self._all(
            f"UPDATE page_calls SET status = 'skipped', error = ?, ended_at = ?"
            f" WHERE status = 'pending' AND conversation_id IN ({marks}) RETURNING id",
            (why, self.now_text, *ids)))
