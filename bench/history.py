"""Build a database with a year of history: by default 1,000,000 decision
rows and 100,000 conversations (plus the calls, texts, pages, timers and
outbox rows that go with them), straight through sqlite3, in well under a
minute. The tables come from schema.sql; its indexes are built after the
rows are in, which is much faster than inserting into them.

    python bench/history.py PATH [--decisions N] [--conversations N]

Shape: 2 events in 3 are a text conversation (8 decisions: opened,
forwarded, acknowledged to the customer, ACKed, a follow-up, two relays,
closed), 1 in 3 is a call (call received, tier dialed, accepted, connected,
and so on up to the decision count). Events are spread evenly over the past
365 days; the last OPEN_AT_END conversations are still open and owned, so
the line has about as many conversations in its last day as a busy small
business would (~270) and a few dozen open.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from ivr import SCHEMA_PATH  # noqa: E402
from ivr.store import split_sql  # noqa: E402

LINE_ID = "qdn"
LINE_NUMBER = "+16195550100"
RESPONDERS = {"sergio": "+16195550101", "backup": "+18585550199"}
OPEN_AT_END = 50
TEXT_DECISIONS = 8
CALL_DECISIONS_MIN = 4
ACKED_AFTER = timedelta(seconds=45)  # a text conversation is ACKed this long after it opened

FMT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _text(moment: datetime) -> str:
    return moment.strftime(FMT)


def build(path: str | Path, decisions: int = 1_000_000, conversations: int = 100_000,
          now: datetime | None = None) -> dict[str, int | float]:
    started = time.perf_counter()
    path = Path(path)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    statements = split_sql(SCHEMA_PATH.read_text("utf-8"))
    for statement in statements:
        if statement.lstrip().upper().startswith("CREATE TABLE"):
            db.execute(statement)
    db.execute("BEGIN")
    History(db, now or datetime.now(timezone.utc), decisions, conversations).insert()
    db.execute("COMMIT")
    inserted = time.perf_counter() - started
    for statement in statements:  # the indexes, and anything else schema.sql holds
        db.execute(statement)
    # no ANALYZE: the service never runs it, so the planner sees what it sees in production
    counts = {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
              for table in ("decisions", "conversations", "calls", "outbox", "inbound_messages")}
    db.execute("PRAGMA journal_mode = WAL")
    db.close()
    return {**counts, "insert_seconds": round(inserted, 1),
            "total_seconds": round(time.perf_counter() - started, 1)}


class History:
    """A year of events up to `now` as rows, inserted in batches of 50,000
    decisions: `conversations` text conversations and as many calls as the
    rest of the `decisions` make."""

    def __init__(self, db: sqlite3.Connection, now: datetime, decisions: int,
                 conversations: int) -> None:
        self.db = db
        self.now = now
        self.calls = max((decisions - conversations * TEXT_DECISIONS) // CALL_DECISIONS_MIN, 0)
        # decisions left over once each call has its minimum: one more for that many calls
        self.call_extra = (decisions - conversations * TEXT_DECISIONS
                           - self.calls * CALL_DECISIONS_MIN)
        self.conversations = conversations
        self.rows: dict[str, list] = {name: [] for name in (
            "decisions", "conversations", "inbound", "pages", "timers", "outbox", "calls",
            "attempts")}
        self.decision_id = 0
        self.conversation_id = 0
        self.attempt_id = 0
        self.outbox_id = 0
        self.recent_code = 0
        # codes are unique over the last day (and then some)
        self.last_day = now - timedelta(days=2)

    def insert(self) -> None:
        events = self.conversations + self.calls
        span = timedelta(days=365)
        step = span / max(events, 1)
        first = self.now - span - timedelta(minutes=10)
        # Which events are calls: every third one, while calls last.
        call_every = 3 if self.calls else 0
        calls_left, texts_left = self.calls, self.conversations
        for event in range(events):
            at = first + step * event
            if calls_left > 0 and (texts_left == 0 or event % call_every == call_every - 1):
                calls_left -= 1
                self.call(event, at)
            else:
                texts_left -= 1
                self.text(event, at, still_open=texts_left < OPEN_AT_END)
            if len(self.rows["decisions"]) >= 50_000:
                self.flush()
        self.flush()

    def call(self, event: int, at: datetime) -> None:
        """A call answered by the first tier: call, dial attempt and its decisions."""
        sid = f"CA{event:032x}"
        caller = f"+1858{2000000 + event % 7000000:07d}"
        responder = "sergio" if event % 5 else "backup"
        self.rows["calls"].append((sid, LINE_ID, caller, "ended", 0, _text(at),
                                   _text(at + timedelta(minutes=5)),
                                   _text(at + timedelta(minutes=3)), responder))
        self.attempt_id += 1
        self.rows["attempts"].append((self.attempt_id, sid, 0, json.dumps([responder]), _text(at),
                                      responder, _text(at + timedelta(seconds=8)), "completed",
                                      1, _text(at + timedelta(minutes=3))))
        self.decide(at, sid, "call_received", f"a call from {caller[:5]}***{caller[-4:]}", "voice")
        self.decide(at, sid, "tier_dialed", "tier 1 of 2: the first tier", "voice", tier=0,
                    responder=responder)
        self.decide(at + timedelta(seconds=8), sid, "call_accepted",
                    f"{responder} pressed 1 in the whisper", "voice", tier=0, responder=responder)
        extra = 1 if self.call_extra > 0 else 0
        self.call_extra -= extra
        if extra:
            self.decide(at + timedelta(seconds=9), sid, "tier_failed",
                        "a second leg was not bridged", "voice", tier=0, responder="backup")
        self.decide(at + timedelta(minutes=3), sid, "call_connected",
                    "accepted and bridged; talked 170 s", "voice", tier=0, responder=responder)

    def text(self, event: int, at: datetime, still_open: bool) -> None:
        """A text conversation: its rows, then its decisions and the texts it sent."""
        self.conversation_id += 1
        cid = self.conversation_id
        sid = f"SM{event:032x}"
        customer = f"+1619{7000000 + cid % 2999999:07d}"
        if at >= self.last_day or still_open:
            self.recent_code += 1
            code = self.recent_code
        else:
            code = cid % 40 + 1
        owner = "sergio" if cid % 4 else "backup"
        acked = at + ACKED_AFTER
        closed = None if still_open else at + timedelta(hours=2)
        self.rows["conversations"].append((cid, LINE_ID, customer, code, "sms",
                                           "open" if still_open else "closed", 0, owner,
                                           _text(at), _text(acked),
                                           _text(closed) if closed else None))
        body = f"customer text number {cid}: the bin by the gate is full"
        self.rows["inbound"].append((sid, LINE_ID, customer, cid, body, _text(at),
                                     '<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n'
                                     '  <Message>Thanks, we got your message.</Message>\n'
                                     '</Response>\n'))
        if still_open and owner is None:  # pages go once a conversation is taken or closed
            self.rows["pages"].append((cid, "sergio", 0, _text(at)))
        self.rows["timers"].append((cid, 0, _text(at + timedelta(seconds=120)), "cancelled",
                                    None))
        self.text_decisions(event, at, cid, sid, customer, code, owner, body, closed)

    def text_decisions(self, event: int, at: datetime, cid: int, sid: str, customer: str,
                       code: int, owner: str, body: str, closed: datetime | None) -> None:
        """Opened, forwarded (the page), acknowledged, ACKed (the customer's
        notice), a follow-up, two relays, and closed (or a reply naming none)."""
        acked = at + ACKED_AFTER
        self.decide(at, sid, "conversation_opened",
                    f"first text from {customer[:5]}***{customer[-4:]} with no open "
                    f"conversation; code #{code}", "sms", cid, 0)
        forwarded = self.decide(at, sid, "message_forwarded",
                                "tier 1 of 2 is paged until someone ACKs", "sms", cid, 0,
                                "sergio")
        self.outbox(forwarded, cid, "page", "sergio", RESPONDERS["sergio"],
                    f"[QDN #{code}] {customer}: {body} - reply ACK to take it", at)
        self.decide(at, sid, "customer_acknowledged",
                    "a new conversation gets the line's ack template", "sms", cid)
        ack_sid = f"SM{event:030x}a1"
        acked_id = self.decide(acked, ack_sid, "acknowledged",
                               f"{owner} replied ACK after 45 s; 1 timer(s) cancelled", "sms",
                               cid, 0, owner)
        self.outbox(acked_id, cid, "customer", None, customer,
                    f"{owner.title()} is on it and will text you from this number.", acked)
        self.decide(at + timedelta(seconds=90), f"SM{event:030x}f1", "follow_up_forwarded",
                    f"{owner} owns #{code}", "sms", cid, None, owner)
        for n in (1, 2):
            self.decide(at + timedelta(seconds=100 * n), f"SM{event:030x}r{n}",
                        "relayed_to_customer",
                        f"{owner} owns #{code}; sent from the line's number", "sms", cid, None,
                        owner)
        if closed:
            self.decide(closed, f"SM{event:030x}c1", "closed", f"{owner} closed #{code}", "sms",
                        cid, None, owner)
        else:
            self.decide(acked, ack_sid, "responder_help", "a reply that names no conversation",
                        "sms", None, None, owner)

    def decide(self, at: datetime, sid: str, kind: str, reason: str, channel: str,
               conversation: int | None = None, tier: int | None = None,
               responder: str | None = None) -> int:
        self.decision_id += 1
        self.rows["decisions"].append((self.decision_id, _text(at), LINE_ID, channel, sid,
                                       conversation, tier, responder, kind, reason))
        return self.decision_id

    def outbox(self, decision: int, conversation: int, purpose: str, responder: str | None,
               to: str, body: str, at: datetime) -> None:
        self.outbox_id += 1
        self.rows["outbox"].append((self.outbox_id, decision, LINE_ID, conversation, purpose,
                                    responder, 0 if purpose == "page" else None, to, LINE_NUMBER,
                                    body, _text(at), f"SM{self.outbox_id:032x}", _text(at),
                                    _text(at + timedelta(milliseconds=30))))

    def flush(self) -> None:
        db, rows = self.db, self.rows
        db.executemany("INSERT INTO decisions (id, at, line_id, channel, sid, conversation_id,"
                       " tier, responder_id, kind, reason) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       rows["decisions"])
        db.executemany("INSERT INTO conversations (id, line_id, customer, code, origin, status,"
                       " tier, owner, opened_at, acked_at, closed_at)"
                       " VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows["conversations"])
        db.executemany("INSERT INTO inbound_messages (message_sid, line_id, sender,"
                       " conversation_id, body, media_urls, received_at, reply_twiml)"
                       " VALUES (?,?,?,?,?,'[]',?,?)", rows["inbound"])
        db.executemany("INSERT INTO pages (conversation_id, responder_id, tier, paged_at)"
                       " VALUES (?,?,?,?)", rows["pages"])
        db.executemany("INSERT INTO timers (conversation_id, kind, tier, due_at, state,"
                       " fired_at) VALUES (?,'ack_timeout',?,?,?,?)", rows["timers"])
        db.executemany("INSERT INTO outbox (id, decision_id, line_id, conversation_id, purpose,"
                       " responder_id, tier, to_number, from_number, body, media_urls, status,"
                       " attempts, next_attempt_at, message_sid, delivery_status, created_at,"
                       " sent_at) VALUES (?,?,?,?,?,?,?,?,?,?,'[]','sent',1,?,?,'delivered',?,?)",
                       rows["outbox"])
        db.executemany("INSERT INTO calls (call_sid, line_id, caller, status, tier, started_at,"
                       " deadline_at, ended_at, connected_to, first_twiml)"
                       " VALUES (?,?,?,?,?,?,?,?,?,'')", rows["calls"])
        db.executemany("INSERT INTO dial_attempts (id, call_sid, tier, responders, started_at,"
                       " accepted_by, accepted_at, dial_status, bridged, finished_at)"
                       " VALUES (?,?,?,?,?,?,?,?,?,?)", rows["attempts"])
        for batch in rows.values():
            batch.clear()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--conversations", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(build(args.path, args.decisions, args.conversations)))


if __name__ == "__main__":
    main()
