"""The service's SQLite database, read and written from the side while the
service runs: whether a text that got HTTP 200 is complete in it, whether the
outbox has sent everything, `PRAGMA integrity_check`, row counts and the
escalations that fired; and, between load runs, closing and back-dating what
a run opened so the next one starts from the open set a real line has."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

STORE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # how the store writes its timestamps


def store_time(delta: float = 0.0) -> str:
    """Now plus `delta` seconds, as the store writes it."""
    return (datetime.now(timezone.utc) + timedelta(seconds=delta)).strftime(STORE_TIME_FORMAT)


def parse_store_time(text: str) -> float:
    """A timestamp as the store writes it, in unix seconds."""
    return datetime.strptime(text, STORE_TIME_FORMAT).replace(tzinfo=timezone.utc).timestamp()


def is_postgres(db: Path | str | None) -> bool:
    return str(db).startswith(("postgresql://", "postgres://"))


def connect(db: Path | str) -> Any:
    """The service's database: an SQLite file, or a PostgreSQL URL (then a
    PgConnection, which takes the same statements)."""
    if is_postgres(db):
        return PgConnection(str(db))
    con = sqlite3.connect(db, timeout=30, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 30000")
    return con


class PgConnection:
    """psycopg behind the few sqlite3 calls the benchmark makes on the side:
    `?` placeholders, BEGIN IMMEDIATE (a plain BEGIN: READ COMMITTED, which is
    enough for these bulk updates made while the service is idle),
    executemany, and PRAGMA integrity_check (PostgreSQL has none: 'ok')."""

    postgres = True

    def __init__(self, url: str):
        import psycopg
        self._conn = psycopg.connect(url, autocommit=True)

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Any:
        if sql.startswith("BEGIN IMMEDIATE"):
            sql = "BEGIN"
        elif sql.startswith("PRAGMA integrity_check"):
            sql = "SELECT 'ok'"
        params = tuple(params)
        return self._conn.execute(self._sql(sql) if params else sql, params or None)

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        if rows:
            with self._conn.cursor() as cursor:
                cursor.executemany(self._sql(sql), rows)

    def sync_ids(self, *tables: str) -> None:
        """After rows were inserted with explicit ids: the identity columns
        continue past them (SQLite's rowid does that by itself)."""
        for table in tables:
            self._conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" GREATEST((SELECT MAX(id) FROM {table}), 1))")

    def close(self) -> None:
        self._conn.close()


def sync_ids(con: Any, *tables: str) -> None:
    """See PgConnection.sync_ids; nothing to do on SQLite."""
    if getattr(con, "postgres", False):
        con.sync_ids(*tables)


def cancel_timers(db: Path) -> int:
    con = connect(db)
    try:
        con.execute("BEGIN IMMEDIATE")
        n = con.execute("UPDATE timers SET state = 'cancelled' WHERE state = 'pending'").rowcount
        con.execute("COMMIT")
        return n
    finally:
        con.close()


def retire(db: Path, only_prefixes: tuple[str, ...] | None = None) -> int:
    """Close what the load runs opened and date it three days back, so the next
    run starts with the open set a real line has instead of every conversation
    the benchmark ever opened (a line's codes are chosen among its open ones and
    those of the last day). Also cancels every pending timer, so no ACK timeout
    of an earlier run fires during a later one."""
    past = store_time(-3 * 86400)
    customers, params = "", []
    if only_prefixes:
        customers = " AND (" + " OR ".join("customer LIKE ?" for _ in only_prefixes) + ")"
        params = [p + "%" for p in only_prefixes]
    con = connect(db)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("UPDATE timers SET state = 'cancelled' WHERE state = 'pending'")
        n = con.execute(f"UPDATE conversations SET status = 'closed', opened_at = ?,"
                        f" closed_at = ? WHERE status = 'open'{customers}",
                        (past, past, *params)).rowcount
        # and those closed earlier but still within the last day
        con.execute("UPDATE conversations SET opened_at = ?, closed_at = ? WHERE"
                    " status = 'closed' AND (opened_at > ? OR closed_at > ?)" + customers,
                    (past, past, past, past, *params))
        # the codes those conversations held are free again, as three days on
        con.execute("UPDATE line_codes SET reusable_at = ? WHERE (line_id, code) NOT IN"
                    " (SELECT line_id, code FROM conversations WHERE status = 'open')", (past,))
        con.execute("COMMIT")
        return n
    finally:
        con.close()


def check_texts(db: Path, sids: Iterable[str]) -> dict[str, str]:
    """For each MessageSid of a text that opened a conversation: 'complete'
    (the inbound row with its stored reply, its conversation, >= 3 decision
    rows with that SID, the page in the outbox and the ACK timer), 'absent'
    (nothing at all: the request never reached the handler), or 'partial: …'."""
    con = connect(db)
    states = {}
    try:
        for sid in sids:
            row = con.execute(
                "SELECT m.reply_twiml, m.conversation_id,"
                " (SELECT COUNT(*) FROM conversations c WHERE c.id = m.conversation_id),"
                " (SELECT COUNT(*) FROM decisions d WHERE d.sid = m.message_sid),"
                " (SELECT COUNT(*) FROM outbox o WHERE o.conversation_id = m.conversation_id"
                "   AND o.purpose = 'page'),"
                " (SELECT COUNT(*) FROM timers t WHERE t.conversation_id = m.conversation_id)"
                " FROM inbound_messages m WHERE m.message_sid = ?", (sid,)).fetchone()
            if row is None:
                decisions = con.execute("SELECT COUNT(*) FROM decisions WHERE sid = ?",
                                        (sid,)).fetchone()[0]
                states[sid] = "absent" if decisions == 0 else "partial: decisions without inbound"
                continue
            reply, conversation, conversations, decisions, pages, timers = row
            missing = [what for what, bad in (
                ("reply", not reply), ("conversation", not conversation or not conversations),
                ("decisions", decisions < 3), ("page", pages < 1), ("timer", timers < 1)) if bad]
            states[sid] = "complete" if not missing else "partial: no " + ", ".join(missing)
    finally:
        con.close()
    return states


def _first_value(db: Path, sql: str) -> Any:
    """The first column of the first row `sql` answers."""
    con = connect(db)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def unsent(db: Path) -> int:
    return _first_value(db, "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")


def wait_until_outbox_sent(db: Path | None, seconds: float = 300) -> float:
    """Wait until the service's outbox has sent everything it holds; the seconds waited."""
    started = time.time()
    if db is None:
        return 0.0
    while time.time() - started < seconds and unsent(db):
        time.sleep(0.1)
    return time.time() - started


def integrity(db: Path) -> str:
    return _first_value(db, "PRAGMA integrity_check")


def escalations(db: Path) -> int:
    """Decisions of an ACK timeout that fired: none may fire during the load runs."""
    return _first_value(db, "SELECT COUNT(*) FROM decisions"
                            " WHERE kind IN ('escalated', 'unanswered')")


def table_counts(db: Path) -> dict[str, int]:
    con = connect(db)
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("decisions", "conversations", "outbox", "timers", "calls")}
    finally:
        con.close()
