"""The operator's password checks and sessions, kept in the store so every
worker and every instance on the database sees the same ones.

A password check first reserves an attempt here (one transaction counts
the recent failures and inserts the attempt, so two checks can never both
take the last place), then verifies, then records the outcome. An attempt
still being verified counts as a failure until it is known to be right.
A login is a random session id, kept hashed; its cookie carries the id, and
logging out revokes it for every worker at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..clock import from_text, to_text
from .base import TxBase


@dataclass(frozen=True)
class LoginReservation:
    attempt_id: int | None          # None: refused unchecked
    retry_at: datetime | None = None  # when the next attempt may be checked, if refused


class OperatorQueries(TxBase):
    def reserve_login_attempt(self, address: str, window: timedelta, per_address: int,
                              overall: int, name: str | None = None) -> LoginReservation:
        """Reserve a password check for `address`, or refuse it: `per_address`
        failures (or checks under way) from it, or for the account `name`
        from anywhere, or `overall` from everyone, within `window`."""
        since = to_text(self.now - window)
        self._db.execute("DELETE FROM login_attempts WHERE attempted_at < ?", (since,))
        limits = [(per_address, " AND address = ?", (address,)), (overall, "", ())]
        if name is not None:
            limits.insert(1, (per_address, " AND name = ?", (name,)))
        for limit, where, params in limits:
            count, oldest = self._one(
                "SELECT COUNT(*), MIN(attempted_at) FROM login_attempts"
                " WHERE outcome <> 'ok' AND attempted_at >= ?" + where, (since, *params))
            if count >= limit:
                # Reservations stop at the limit, so the count falls below it
                # when the oldest counted attempt leaves the window.
                return LoginReservation(None, from_text(oldest) + window)
        attempt_id = self._insert(
            "INSERT INTO login_attempts (address, name, attempted_at, outcome)"
            " VALUES (?, ?, ?, 'pending')", (address, name, self.now_text))
        return LoginReservation(attempt_id)

    def finish_login_attempt(self, attempt_id: int, right: bool) -> None:
        """A right password no longer counts against the limit; a wrong one does."""
        self._db.execute("UPDATE login_attempts SET outcome = ? WHERE id = ?",
                         ("ok" if right else "wrong", attempt_id))

    def open_operator_session(self, id_hash: str, lifetime: timedelta) -> None:
        self._db.execute("DELETE FROM operator_sessions WHERE expires_at <= ?", (self.now_text,))
        self._db.execute(
            "INSERT INTO operator_sessions (id_hash, created_at, expires_at) VALUES (?, ?, ?)",
            (id_hash, self.now_text, to_text(self.now + lifetime)))

    def operator_session_live(self, id_hash: str) -> bool:
        return self._one(
            "SELECT 1 FROM operator_sessions WHERE id_hash = ? AND revoked_at IS NULL"
            " AND expires_at > ?", (id_hash, self.now_text)) is not None

    def revoke_operator_session(self, id_hash: str) -> bool:
        """Says whether a live session was revoked."""
        return self._one(
            "UPDATE operator_sessions SET revoked_at = ? WHERE id_hash = ?"
            " AND revoked_at IS NULL RETURNING id_hash", (self.now_text, id_hash)) is not None
