"""Named operator accounts (name, role, scrypt hash) and which of them a
login belongs to. A login with no user is the single operator password's.
Removing an account revokes its logins at once, on every worker."""

from __future__ import annotations

from dataclasses import dataclass

from .base import TxBase

# Migration step 5 (ivr.store.migrations): the accounts, and the account a
# login and a password check are for.
USERS_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS operator_users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    changed_at    TEXT NOT NULL
)""",
)
ADDED_COLUMNS = (("operator_sessions", "user_name", "TEXT"),   # NULL: the shared password
                 ("login_attempts", "name", "TEXT"))            # the account tried, if any
NAME_INDEX = ("CREATE INDEX IF NOT EXISTS login_attempts_by_name"
              " ON login_attempts (name, attempted_at)")


@dataclass(frozen=True)
class OperatorUser:
    name: str
    role: str
    created_at: str
    changed_at: str


@dataclass(frozen=True)
class SessionUser:
    """Whose a live login is: `name` None for the shared operator password."""
    name: str | None
    role: str | None


class UserQueries(TxBase):
    def add_user(self, name: str, role: str, password_hash: str) -> bool:
        """False when an account of that name exists already."""
        return self._one(
            "INSERT INTO operator_users (name, role, password_hash, created_at, changed_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name",
            (name, role, password_hash, self.now_text, self.now_text)) is not None

    def users(self) -> list[OperatorUser]:
        return [OperatorUser(**dict(row)) for row in self._all(
            "SELECT name, role, created_at, changed_at FROM operator_users ORDER BY name")]

    def has_users(self) -> bool:
        return self._one("SELECT 1 FROM operator_users LIMIT 1") is not None

    def user_password_hash(self, name: str) -> str | None:
        row = self._one("SELECT password_hash FROM operator_users WHERE name = ?", (name,))
        return row[0] if row else None

    def remove_user(self, name: str) -> bool:
        """Removes the account and revokes its logins; whether it existed."""
        self._db.execute("UPDATE operator_sessions SET revoked_at = ? WHERE user_name = ?"
                         " AND revoked_at IS NULL", (self.now_text, name))
        return self._one("DELETE FROM operator_users WHERE name = ? RETURNING name",
                         (name,)) is not None

    def set_user_role(self, name: str, role: str) -> bool:
        return self._one("UPDATE operator_users SET role = ?, changed_at = ? WHERE name = ?"
                         " RETURNING name", (role, self.now_text, name)) is not None

    def set_user_password(self, name: str, password_hash: str) -> bool:
        """A new password also ends the account's other logins."""
        changed = self._one(
            "UPDATE operator_users SET password_hash = ?, changed_at = ? WHERE name = ?"
            " RETURNING name", (password_hash, self.now_text, name)) is not None
        if changed:
            self._db.execute("UPDATE operator_sessions SET revoked_at = ? WHERE user_name = ?"
                             " AND revoked_at IS NULL", (self.now_text, name))
        return changed

    def admins(self) -> int:
        row = self._one("SELECT COUNT(*) FROM operator_users WHERE role = 'admin'")
        return int(row[0]) if row else 0

    def name_session(self, id_hash: str, name: str | None) -> None:
        """Records whose login `id_hash` is (open_operator_session opened it)."""
        self._db.execute("UPDATE operator_sessions SET user_name = ? WHERE id_hash = ?",
                         (name, id_hash))

    def session_user(self, id_hash: str) -> SessionUser | None:
        """Whose live login this is; None when it is not live or its account
        is gone."""
        row = self._one(
            "SELECT s.user_name, u.role FROM operator_sessions s LEFT JOIN operator_users u"
            " ON u.name = s.user_name WHERE s.id_hash = ? AND s.revoked_at IS NULL"
            " AND s.expires_at > ?", (id_hash, self.now_text))
        if row is None or (row[0] is not None and row[1] is None):
            return None
        return SessionUser(row[0], row[1])
