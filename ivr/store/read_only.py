"""Reading the database without writing it, for `ivr check`: no file is
created, no schema applied, no row changed, and a database that is
missing, older than a table or unreadable is an answer, not a failure."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Callable, TypeVar

from .dialect import POSTGRES, is_postgres_url
from .tx import Tx

T = TypeVar("T")


class Unreadable(Exception):
    """The database exists but could not be read; the message says why."""


def read_only(path: str | Path, now: datetime, fn: Callable[[Tx], T]) -> T | None:
    """`fn` run on a read-only connection; None if there is no database yet
    or it predates the tables `fn` reads."""
    if is_postgres_url(str(path)):
        return _read_postgres(str(path), now, fn)
    path = Path(path)
    if not path.is_file():
        return None
    try:
        # mode=ro: SQLite refuses every write on this connection.
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error as exc:
        raise Unreadable(str(exc)) from None
    try:
        db.row_factory = sqlite3.Row
        return fn(Tx(db, now))
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise Unreadable(str(exc)) from None
    except sqlite3.Error as exc:
        raise Unreadable(str(exc)) from None
    finally:
        db.close()


def _read_postgres(url: str, now: datetime, fn: Callable[[Tx], T]) -> T | None:
    import psycopg

    from .postgres import Connection
    try:
        conn = psycopg.connect(url, connect_timeout=3, autocommit=True)
    except psycopg.Error as exc:
        raise Unreadable(" ".join(str(exc).split())[:300]) from None
    try:
        conn.execute("BEGIN READ ONLY")
        return fn(Tx(Connection(conn), now, dialect=POSTGRES))
    except psycopg.errors.UndefinedTable:
        return None
    except psycopg.Error as exc:
        raise Unreadable(" ".join(str(exc).split())[:300]) from None
    finally:
        conn.close()
