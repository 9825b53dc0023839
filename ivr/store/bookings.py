"""The booking a conversation concerns, stored when it opens."""

from __future__ import annotations

from .base import TxBase


class BookingQueries(TxBase):
    def set_booking(self, conversation_id: int, uid: str, summary: str, start: str) -> None:
        self._db.execute(
            "UPDATE conversations SET booking_uid = ?, booking_summary = ?, booking_start = ?"
            " WHERE id = ?", (uid, summary, start, conversation_id))
