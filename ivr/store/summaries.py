"""Daily summaries: one row per line and local day summarised, due at a
time of day, claimed and sent in one transaction (like timers); and the
day's figures, read from the decision log and the tables beside it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from .base import TxBase


@dataclass(frozen=True)
class DueSummary:
    line_id: str
    day: str          # YYYY-MM-DD, the line's local date summarised
    due_at: str


@dataclass(frozen=True)
class DayRecord:
    """What the store holds about one line's day: counts, and each ACKed
    conversation's opening and ACK times for the median."""
    texts: int
    calls: int
    missed: int
    voicemails: int
    unanswered: int
    acks: tuple[tuple[str, str], ...]


class SummaryQueries(TxBase):
    def schedule_summary(self, line_id: str, day: str, due_at: str) -> None:
        """The summary of `day` is due at `due_at`; a row already there (due,
        or sent by another instance) keeps its state, a pending one takes the
        new time (the configured time of day may have changed)."""
        self._db.execute(
            "INSERT INTO daily_summaries (line_id, day, due_at, state) VALUES (?, ?, ?, 'pending')"
            " ON CONFLICT (line_id, day) DO UPDATE SET due_at = excluded.due_at"
            " WHERE daily_summaries.state = 'pending'", (line_id, day, due_at))

    def record_summary_figures(self, line_id: str, day: str, decision_id: int,
                               figures: dict[str, Any]) -> None:
        self._db.execute("UPDATE daily_summaries SET decision_id = ?, figures = ?"
                         " WHERE line_id = ? AND day = ?",
                         (decision_id, json.dumps(figures), line_id, day))

    def summary_figures(self, decision_id: int) -> dict[str, Any] | None:
        row = self._one("SELECT figures FROM daily_summaries WHERE decision_id = ?",
                        (decision_id,))
        return json.loads(row[0]) if row and row[0] else None

    def claim_due_summaries(self, limit: int) -> list[DueSummary]:
        """Mark due summaries sent and return them; the caller queues them in
        this same transaction, so each is sent once across instances."""
        rows = self._all(
            "UPDATE daily_summaries SET state = 'sent', sent_at = ? WHERE (line_id, day) IN ("
            " SELECT line_id, day FROM daily_summaries WHERE state = 'pending' AND due_at <= ?"
            f" ORDER BY due_at LIMIT ?{self.dialect.skip_locked})"
            " RETURNING line_id, day, due_at", (self.now_text, self.now_text, limit))
        return sorted((DueSummary(**dict(row)) for row in rows), key=lambda s: s.due_at)

    def next_summary_due(self) -> str | None:
        row = self._one("SELECT MIN(due_at) FROM daily_summaries WHERE state = 'pending'")
        return row[0] if row else None

    def summaries(self, line_id: str) -> list[tuple[str, str, str]]:
        """(day, due_at, state) of a line's summaries, oldest first."""
        rows = self._all("SELECT day, due_at, state FROM daily_summaries WHERE line_id = ?"
                         " ORDER BY day", (line_id,))
        return [(row[0], row[1], row[2]) for row in rows]

    def day_record(self, line_id: str, start: str, end: str,
                   responder_phones: Sequence[str]) -> DayRecord:
        """Between start (included) and end (UTC text). Texts are the
        customers' own: not responders', not a voicemail's or a missed
        call's note kept as a conversation's text."""
        window = (line_id, start, end)
        phones = tuple(responder_phones) or ("",)
        marks = ", ".join("?" for _ in phones)
        texts = self._one(
            "SELECT COUNT(*) FROM inbound_messages WHERE line_id = ? AND received_at >= ?"
            f" AND received_at < ? AND sender NOT IN ({marks})"
            " AND message_sid NOT LIKE '%-missed'"
            " AND message_sid NOT IN (SELECT recording_sid FROM voicemails)",
            (*window, *phones))
        calls = self._one("SELECT COUNT(*) FROM calls WHERE line_id = ? AND started_at >= ?"
                          " AND started_at < ?", window)
        # A call is counted once by its SID, an unanswered conversation once
        # by its id, whatever rows a retried webhook or a second round wrote.
        kinds = {row[0]: int(row[1]) for row in self._all(
            "SELECT kind, COUNT(DISTINCT CASE WHEN kind = 'unanswered'"
            " THEN CAST(conversation_id AS TEXT) ELSE COALESCE(sid, CAST(id AS TEXT)) END)"
            " FROM decisions WHERE line_id = ? AND at >= ? AND at < ?"
            " AND kind IN ('missed_call', 'voicemail_received', 'unanswered') GROUP BY kind",
            window)}
        acks = self._all(
            "SELECT opened_at, acked_at FROM conversations WHERE line_id = ? AND opened_at >= ?"
            " AND opened_at < ? AND acked_at IS NOT NULL ORDER BY id", window)
        return DayRecord(texts=int(texts[0]) if texts else 0,
                         calls=int(calls[0]) if calls else 0,
                         missed=kinds.get("missed_call", 0),
                         voicemails=kinds.get("voicemail_received", 0),
                         unanswered=kinds.get("unanswered", 0),
                         acks=tuple((row[0], row[1]) for row in acks))

