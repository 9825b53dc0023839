"""bench/history.py's year of history (1,000,000 decisions, 100,000
conversations, their texts, pages, timers, outbox rows, calls and dial
attempts), written into a PostgreSQL database with COPY.

    python bench/pg_history.py URL [--decisions N] [--conversations N]

The schema comes from the store itself (PostgresStore.open, as a service
starting on an empty database makes it, indexes included); the rows are
the ones history.History makes for SQLite, copied table by table in
reference order. Then the identity columns are moved past the ids given,
line_codes is filled from the conversations (Tx.rebuild_line_codes, what
the store does when it meets a database without it), and ANALYZE runs
(autovacuum would do it within a minute of such a load on a real primary;
SQLite's build skips it because SQLite never analyzes by itself).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime, timezone
from typing import Any

from paths import REPO  # noqa: F401 - sys.path
from history import History

# table: (columns as History's rows hold them, constant columns appended)
COPIES = {
    "conversations": ("conversations", "id, line_id, customer, code, origin, status, tier,"
                      " owner, opened_at, acked_at, closed_at", ()),
    "calls": ("calls", "call_sid, line_id, caller, status, tier, started_at, deadline_at,"
              " ended_at, connected_to, first_twiml", ("",)),
    "decisions": ("decisions", "id, at, line_id, channel, sid, conversation_id, tier,"
                  " responder_id, kind, reason", ()),
    "inbound": ("inbound_messages", "message_sid, line_id, sender, conversation_id, body,"
                " received_at, reply_twiml, media_urls", ("[]",)),
    "pages": ("pages", "conversation_id, responder_id, tier, paged_at", ()),
    "timers": ("timers", "conversation_id, tier, due_at, state, fired_at, kind",
               ("ack_timeout",)),
    "outbox": ("outbox", "id, decision_id, line_id, conversation_id, purpose, responder_id,"
               " tier, to_number, from_number, body, next_attempt_at, message_sid, created_at,"
               " sent_at, media_urls, status, attempts, delivery_status",
               ("[]", "sent", 1, "delivered")),
    "attempts": ("dial_attempts", "id, call_sid, tier, responders, started_at, accepted_by,"
                 " accepted_at, dial_status, bridged, finished_at", ()),
}


class PgHistory(History):
    def flush(self) -> None:
        with self.db.cursor() as cursor:
            for key, (table, columns, constants) in COPIES.items():
                rows = self.rows[key]
                if not rows:
                    continue
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row((*row, *constants))
        for batch in self.rows.values():
            batch.clear()


async def _through_store(url: str, rebuild_codes: bool = False) -> None:
    """Open the store (which makes the schema); then, once the rows are in,
    fill line_codes from the conversations as the store does for a database
    made before that table (SQLite's history gets this at its first open)."""
    from ivr.clock import SystemClock
    from ivr.store.postgres import PostgresStore
    store = PostgresStore(url, SystemClock())
    await store.open()
    try:
        if rebuild_codes:
            await store.write(lambda tx: tx.rebuild_line_codes())
    finally:
        await store.close()


def build(url: str, decisions: int = 1_000_000, conversations: int = 100_000,
          now: datetime | None = None) -> dict[str, Any]:
    import psycopg
    started = time.perf_counter()
    asyncio.run(_through_store(url))
    with psycopg.connect(url) as conn:  # one transaction
        PgHistory(conn, now or datetime.now(timezone.utc), decisions,  # type: ignore[arg-type]
                  conversations).insert()
        for table in ("decisions", "conversations", "outbox", "dial_attempts"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                         f" GREATEST((SELECT MAX(id) FROM {table}), 1))")
    asyncio.run(_through_store(url, rebuild_codes=True))
    inserted = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # type: ignore
                  for t in ("decisions", "conversations", "calls", "outbox",
                            "inbound_messages")}
    return {**counts, "insert_seconds": round(inserted, 1),
            "total_seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--conversations", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(build(args.url, args.decisions, args.conversations)))


if __name__ == "__main__":
    main()
