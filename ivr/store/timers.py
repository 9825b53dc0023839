"""Timers: rows with a due time, claimed and fired in one transaction."""

from __future__ import annotations

from datetime import datetime

from ..clock import to_text
from .base import TxBase
from .rows import Timer


class TimerQueries(TxBase):
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
        this same transaction, so a timer fires once even across workers and
        instances. On PostgreSQL another instance sweeping at the same moment
        skips the rows this one holds (SKIP LOCKED); an instance that dies
        mid-sweep leaves them pending, as its transaction never commits."""
        rows = self._all(
            "UPDATE timers SET state = 'fired', fired_at = ? WHERE id IN ("
            " SELECT id FROM timers WHERE state = 'pending' AND due_at <= ?"
            f" ORDER BY due_at, id LIMIT ?{self.dialect.skip_locked})"
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
