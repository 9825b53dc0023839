"""Floods: how many texts one number sent a line lately, and when a held
flood goes out, for the flood limit (ivr/conversations/flood.py)."""

from __future__ import annotations

from datetime import datetime

from ..clock import from_text, to_text
from .base import TxBase


class FloodQueries(TxBase):
    def texts_since(self, line_id: str, sender: str, since: datetime) -> int:
        """Texts from `sender` to the line received after `since`, this one included."""
        row = self._one(
            "SELECT COUNT(*) FROM inbound_messages WHERE line_id = ? AND sender = ?"
            " AND received_at > ?", (line_id, sender, to_text(since)))
        return int(row[0]) if row else 0

    def pending_flush_at(self, conversation_id: int) -> datetime | None:
        """When the conversation's held texts go out, if any are waiting."""
        row = self._one(
            "SELECT MIN(due_at) FROM timers WHERE conversation_id = ? AND kind = 'flush'"
            " AND state = 'pending'", (conversation_id,))
        return from_text(row[0]) if row and row[0] else None
