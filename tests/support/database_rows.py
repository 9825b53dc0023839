"""Reading and changing a test's database directly, whichever engine it is
(an SQLite path or a PostgreSQL URL), with the store's `?` placeholders."""

from __future__ import annotations

import sqlite3
from typing import Any

from ivr.store.dialect import is_postgres_url, postgres_placeholders


def query(database: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    if is_postgres_url(database):
        import psycopg
        from psycopg.rows import dict_row
        with psycopg.connect(database, row_factory=dict_row) as conn:
            return conn.execute(postgres_placeholders(sql), params).fetchall()
    conn = sqlite3.connect(database)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


def execute(database: str, sql: str, *params: Any) -> None:
    if is_postgres_url(database):
        import psycopg
        with psycopg.connect(database) as conn:
            conn.execute(postgres_placeholders(sql), params)
        return
    conn = sqlite3.connect(database)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def dump(database: str, leave_out: tuple[str, ...] = ()) -> str:
    """Every row of every table as text, one per line (SQLite's iterdump)."""
    if not is_postgres_url(database):
        conn = sqlite3.connect(database)
        try:
            return "\n".join(line for line in conn.iterdump()
                             if not any(table in line for table in leave_out))
        finally:
            conn.close()
    import psycopg
    with psycopg.connect(database) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema()")]
        return "\n".join(f"{table}: {row[0]}" for table in tables if table not in leave_out
                         for row in conn.execute(f"SELECT t::text FROM {table} t"))
