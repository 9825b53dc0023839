"""Calls, their Dial attempts (one per tier rung) and voicemails."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable

from ..clock import to_text
from .base import TxBase
from .rows import Call, DialAttempt, Voicemail


class CallQueries(TxBase):
    def call(self, call_sid: str) -> Call | None:
        row = self._one("SELECT * FROM calls WHERE call_sid = ?", (call_sid,))
        return Call(**dict(row)) if row else None

    def start_call(self, call_sid: str, line_id: str, caller: str, status: str,
                   deadline: datetime) -> None:
        self._db.execute(
            "INSERT INTO calls (call_sid, line_id, caller, status, started_at, deadline_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (call_sid, line_id, caller, status, self.now_text, to_text(deadline)))

    def update_call(self, call_sid: str, **fields: Any) -> None:
        allowed = {"status", "menu_option", "menu_tries", "tier", "ended_at", "connected_to",
                   "first_twiml", "language"}
        assert fields and set(fields) <= allowed, fields
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._db.execute(f"UPDATE calls SET {assignments} WHERE call_sid = ?",
                         (*fields.values(), call_sid))

    def end_call(self, call_sid: str) -> bool:
        """Mark the call ended; False when it already was."""
        row = self._one(
            "UPDATE calls SET status = 'ended', ended_at = ? WHERE call_sid = ?"
            " AND status <> 'ended' RETURNING call_sid", (self.now_text, call_sid))
        return row is not None

    def start_attempt(self, call_sid: str, tier: int, responders: Iterable[str]) -> int:
        return self._insert(
            "INSERT INTO dial_attempts (call_sid, tier, responders, started_at) VALUES (?, ?, ?, ?)",
            (call_sid, tier, json.dumps(list(responders)), self.now_text))

    def attempt(self, attempt_id: int) -> DialAttempt | None:
        row = self._one("SELECT * FROM dial_attempts WHERE id = ?", (attempt_id,))
        if row is None:
            return None
        return DialAttempt(**{**dict(row), "responders": tuple(json.loads(row["responders"]))})

    def accept_attempt(self, attempt_id: int, responder_id: str) -> bool:
        """The first responder to press 1 gets the call."""
        row = self._one(
            "UPDATE dial_attempts SET accepted_by = ?, accepted_at = ? WHERE id = ?"
            " AND accepted_by IS NULL AND finished_at IS NULL RETURNING id",
            (responder_id, self.now_text, attempt_id))
        return row is not None

    def finish_attempt(self, attempt_id: int, dial_status: str,
                       bridged: bool | None) -> bool:
        """Record the Dial's outcome; False when it was already recorded (a retry)."""
        row = self._one(
            "UPDATE dial_attempts SET dial_status = ?, bridged = ?, finished_at = ?"
            " WHERE id = ? AND finished_at IS NULL RETURNING id",
            (dial_status, None if bridged is None else int(bridged), self.now_text, attempt_id))
        return row is not None

    def recent_calls(self, limit: int = 50) -> list[Call]:
        rows = self._all("SELECT * FROM calls ORDER BY started_at DESC LIMIT ?", (limit,))
        return [Call(**dict(row)) for row in rows]

    def voicemail(self, recording_sid: str) -> Voicemail | None:
        row = self._one("SELECT * FROM voicemails WHERE recording_sid = ?",
                        (recording_sid,))
        return Voicemail(**dict(row)) if row else None

    def record_voicemail(self, recording_sid: str, call_sid: str, line_id: str,
                         caller: str, conversation_id: int, recording_url: str,
                         duration: int) -> None:
        self._db.execute(
            "INSERT INTO voicemails (recording_sid, call_sid, line_id, caller, conversation_id,"
            " recording_url, duration, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (recording_sid, call_sid, line_id, caller, conversation_id, recording_url, duration,
             self.now_text))

    def set_transcription(self, recording_sid: str, text: str) -> None:
        self._db.execute("UPDATE voicemails SET transcription = ? WHERE recording_sid = ?",
                         (text, recording_sid))
