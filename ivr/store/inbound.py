"""Inbound webhooks remembered: each text (and voicemail) the line
received, and the TwiML it was answered with, so a retry gets the same."""

from __future__ import annotations

import json
from typing import Iterable

from .base import TxBase


class InboundQueries(TxBase):
    def inbound_reply(self, message_sid: str) -> str | None:
        row = self._one("SELECT reply_twiml FROM inbound_messages WHERE message_sid = ?",
                        (message_sid,))
        return row[0] if row else None

    def record_inbound(self, message_sid: str, line_id: str, sender: str, body: str,
                       media_urls: Iterable[str]) -> None:
        """Remember a text before acting on it; its reply is set when known."""
        self._db.execute(
            "INSERT INTO inbound_messages (message_sid, line_id, sender, body, media_urls,"
            " received_at, reply_twiml) VALUES (?, ?, ?, ?, ?, ?, '')",
            (message_sid, line_id, sender, body, json.dumps(list(media_urls)), self.now_text))

    def attach_inbound(self, message_sid: str, conversation_id: int) -> None:
        self._db.execute(
            "UPDATE inbound_messages SET conversation_id = ? WHERE message_sid = ?",
            (conversation_id, message_sid))

    def set_inbound_reply(self, message_sid: str, reply_twiml: str) -> None:
        self._db.execute("UPDATE inbound_messages SET reply_twiml = ? WHERE message_sid = ?",
                         (reply_twiml, message_sid))

    def hold_inbound(self, message_sid: str) -> None:
        self._db.execute("UPDATE inbound_messages SET forwarded = 0 WHERE message_sid = ?",
                         (message_sid,))

    def set_inbound_body(self, message_sid: str, body: str) -> None:
        self._db.execute("UPDATE inbound_messages SET body = ? WHERE message_sid = ?",
                         (body, message_sid))
