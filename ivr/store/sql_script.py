"""A script of SQL statements split one by one, for both engines."""

from __future__ import annotations

import sqlite3


def split_sql(script: str) -> list[str]:
    """schema.sql's statements one by one (executescript would COMMIT ours)."""
    statements, current = [], []
    for line in script.splitlines():
        stripped = line.split("--", 1)[0].rstrip()
        if not stripped:
            continue
        current.append(stripped)
        if stripped.endswith(";"):
            statement = "\n".join(current)
            if sqlite3.complete_statement(statement):
                statements.append(statement)
                current = []
    if current:
        statements.append("\n".join(current))
    return statements
