"""What people asked for by text: a responder's OFF/ON override, and a
customer's STOP."""

from __future__ import annotations

from datetime import datetime

from ..clock import to_text
from .base import TxBase


class PreferenceQueries(TxBase):
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
