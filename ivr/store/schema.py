"""The schema's own bookkeeping: its version, and DDL run by migrations."""

from __future__ import annotations

from .base import TxBase

# Any constant will do: every instance takes the same one.
SCHEMA_LOCK_KEY = 0x1F0E_5C4E


class SchemaQueries(TxBase):
    def execute_ddl(self, statement: str) -> None:
        self._db.execute(self.dialect.ddl(statement))

    def add_column(self, table: str, column: str, kind: str) -> bool:
        """Add a column unless the table has it already; whether it added it."""
        if column in self.column_names(table):
            return False
        self.execute_ddl(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        return True

    def lock_schema(self) -> None:
        """On PostgreSQL, instances starting at once take turns to upgrade;
        SQLite's BEGIN IMMEDIATE already made this transaction the only writer."""
        if self.dialect.name == "postgresql":
            self._db.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_KEY,))

    def column_names(self, table: str) -> set[str]:
        if self.dialect.name == "postgresql":
            return {row[0] for row in self._all(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = ?", (table,))}
        return {row[1] for row in self._all(f"PRAGMA table_info({table})")}

    def table_exists(self, table: str) -> bool:
        if self.dialect.name == "postgresql":
            return self._one("SELECT to_regclass(?)", (table,))[0] is not None
        return self._one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                         (table,)) is not None

    def found_schema_version(self) -> int | None:
        """The version recorded; 0 for ivr's tables from before versions were
        recorded; None for a database without them."""
        if self.table_exists("schema_version"):
            return self.schema_version()
        return 0 if self.table_exists("conversations") else None

    def schema_version(self) -> int:
        row = self._one("SELECT MAX(version) FROM schema_version")
        return int(row[0]) if row and row[0] is not None else 0

    def record_schema_version(self, version: int, description: str) -> None:
        self._db.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
            (version, description, self.now_text))
