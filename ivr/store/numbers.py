"""Numbers that cannot take a text: marked when Twilio says so for good,
cleared when they work again."""

from __future__ import annotations

from .base import TxBase


class NumberQueries(TxBase):
    def mark_unreachable(self, number: str, error_code: str | None, reason: str) -> bool:
        """Mark `number`; says whether it was newly marked."""
        row = self._one(
            "INSERT INTO unreachable_numbers (number, error_code, reason, marked_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (number) DO NOTHING RETURNING number",
            (number, error_code, reason, self.now_text))
        return row is not None

    def clear_unreachable(self, number: str) -> bool:
        """Says whether the number had been marked."""
        return self._one("DELETE FROM unreachable_numbers WHERE number = ? RETURNING number",
                         (number,)) is not None

    def unreachable(self, number: str) -> tuple[str | None, str, str] | None:
        """(error code, reason, marked at) if the number is marked."""
        row = self._one("SELECT error_code, reason, marked_at FROM unreachable_numbers"
                        " WHERE number = ?", (number,))
        return (row[0], row[1], row[2]) if row else None

    def unreachable_numbers(self) -> list[tuple[str, str | None, str, str]]:
        """Every marked number: (number, error code, reason, marked at)."""
        return [tuple(row) for row in self._all(  # type: ignore[misc]
            "SELECT number, error_code, reason, marked_at FROM unreachable_numbers"
            " ORDER BY marked_at")]
