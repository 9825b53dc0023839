"""Reading the database without writing it, for `ivr check`: no file is
created, no schema applied, no row changed, and a database that is
missing, older than a table or unreadable is an answer, not a failure."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Callable, TypeVar

from .tx import Tx

T = TypeVar("T")


class Unreadable(Exception):
    """The database exists but could not be read; the message says why."""


def read_only(path: str | Path, now: datetime, fn: Callable[[Tx], T]) -> T | None:
    """`fn` run on a read-only connection; None if there is no database yet
    or it predates the tables `fn` reads."""
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
