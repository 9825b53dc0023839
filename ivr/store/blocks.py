"""Blocked numbers: blocked by a responder's text or by whoever calls
`block` (the CLI and dashboard can); the config's own blocklist is read
from the config, not stored."""

from __future__ import annotations

from dataclasses import dataclass

from .base import TxBase

EVERY_LINE = "*"


@dataclass(frozen=True)
class BlockedNumber:
    line_id: str        # '*': every line
    number: str
    blocked_by: str
    reason: str
    blocked_at: str


class BlockQueries(TxBase):
    def block(self, line_id: str, number: str, blocked_by: str, reason: str) -> bool:
        """Block `number` on a line ('*' for every line); False if it already was."""
        cursor = self._db.execute(
            "INSERT INTO blocked_numbers (line_id, number, blocked_by, reason, blocked_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (line_id, number) DO NOTHING",
            (line_id, number, blocked_by, reason, self.now_text))
        return cursor.rowcount == 1

    def unblock(self, line_id: str, number: str) -> bool:
        """Lift a stored block; False if there was none (a block in the
        config is lifted only by editing the config)."""
        cursor = self._db.execute(
            "DELETE FROM blocked_numbers WHERE line_id = ? AND number = ?", (line_id, number))
        return cursor.rowcount > 0

    def is_blocked(self, line_id: str, number: str) -> bool:
        return self._one(
            "SELECT 1 FROM blocked_numbers WHERE number = ? AND line_id IN (?, ?)",
            (number, line_id, EVERY_LINE)) is not None

    def blocked_numbers(self, line_id: str | None = None) -> list[BlockedNumber]:
        """Stored blocks, newest first; of one line (and every line's) if given."""
        where, params = ("WHERE line_id IN (?, ?)", (line_id, EVERY_LINE)) if line_id else ("", ())
        return [BlockedNumber(**dict(row)) for row in self._all(
            "SELECT line_id, number, blocked_by, reason, blocked_at FROM blocked_numbers "
            f"{where} ORDER BY blocked_at DESC, number", params)]
