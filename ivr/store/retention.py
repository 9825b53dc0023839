"""Retention: what a conversation, a call or a text loses once it is older
than `[service] retention_days`. Message bodies, media and recording URLs,
transcriptions and customer numbers go; kinds, times, tiers and responders
stay, so the decision log still tells what happened, to nobody in
particular.

Portable SQL only (SQLite and PostgreSQL): `?` placeholders, timestamps
compared as ISO-8601 text, no engine functions. Candidates are read first,
outside the write lock, and each write checks them again, so two worker
processes redacting at once do each row once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ..phone import redact_numbers
from .base import TxBase

# What a redacted phone number becomes. Not a number, so nothing can text or
# call it, and the same for everyone, so it tells nobody apart. The one
# unique index over customers (conversations_open_customer) covers open
# conversations only, and only closed ones are redacted; calls, voicemails,
# texts and the outbox have no unique index over their numbers.
REDACTED = "redacted"

# mask() keeps a number's first and last digits (+1619***0142): enough, with
# a date, to tell who it was, so a redacted row's decision reasons lose them.
_MASKED_NUMBER = re.compile(r"\+\d{1,4}\*\*\*\d{1,4}")


def scrub_reason(reason: str) -> str:
    return _MASKED_NUMBER.sub("***", redact_numbers(reason))


@dataclass(frozen=True)
class Redacted:
    """What one batch redacted, per line: (line_id, how many)."""
    by_line: tuple[tuple[str, int], ...] = ()

    @property
    def total(self) -> int:
        return sum(count for _, count in self.by_line)


# Due, as the candidate read and the write's check both say it (with the
# cutoff as its parameters): a conversation closed before the cutoff, not yet
# redacted, with nothing still to send (its body blanked first would go out
# blank); a call over before it, not yet redacted, belonging to no
# conversation (those go with theirs); a text received before it that joined
# none.
_CONVERSATION_DUE = (
    "status = 'closed' AND closed_at < ? AND redacted_at IS NULL AND NOT EXISTS"
    " (SELECT 1 FROM outbox o WHERE o.conversation_id = c.id"
    " AND o.status IN ('pending', 'sending'))")
_CALL_DUE = (
    "started_at < ? AND COALESCE(ended_at, started_at) < ? AND caller <> ? AND NOT EXISTS"
    " (SELECT 1 FROM voicemails v WHERE v.call_sid = k.call_sid"
    " AND v.conversation_id IS NOT NULL) AND NOT EXISTS (SELECT 1 FROM decisions d"
    " WHERE d.sid = k.call_sid AND d.conversation_id IS NOT NULL)")
_TEXT_DUE = "conversation_id IS NULL AND received_at < ? AND sender <> ?"


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


class RetentionQueries(TxBase):
    # -- conversations -----------------------------------------------------------------

    def conversations_to_redact(self, cutoff: str, limit: int) -> list[int]:
        rows = self._all(f"SELECT id FROM conversations c WHERE {_CONVERSATION_DUE}"
                         " ORDER BY id LIMIT ?", (cutoff, limit))
        return [int(row[0]) for row in rows]

    def redact_conversations(self, ids: Sequence[int], cutoff: str) -> Redacted:
        if not ids:
            return Redacted()
        # Again, inside the write: another worker may have done some meanwhile.
        rows = self._all(f"SELECT id, line_id FROM conversations c WHERE id IN ({_marks(ids)})"
                         f" AND {_CONVERSATION_DUE}", (*ids, cutoff))
        ids = [int(row[0]) for row in rows]
        if not ids:
            return Redacted()
        marks = _marks(ids)
        # A call belongs to a conversation through its voicemail, or through
        # a decision about it that names the conversation (a missed call).
        call_sids = [row[0] for row in self._all(
            f"SELECT call_sid FROM calls WHERE call_sid IN (SELECT call_sid FROM voicemails"
            f" WHERE conversation_id IN ({marks})) OR call_sid IN (SELECT sid FROM decisions"
            f" WHERE conversation_id IN ({marks}) AND sid IS NOT NULL)", (*ids, *ids))]
        self._scrub_reasons(
            f"conversation_id IN ({marks}) OR sid IN (SELECT message_sid FROM inbound_messages"
            f" WHERE conversation_id IN ({marks})) OR sid IN ({_marks(call_sids) or 'NULL'})",
            (*ids, *ids, *call_sids))
        # Before the conversation loses its customer: that is how texts to
        # the customer are told from pages to responders, whose numbers stay.
        self._db.execute(
            "UPDATE outbox SET body = '', media_urls = '[]', to_number = CASE WHEN to_number ="
            " (SELECT c.customer FROM conversations c WHERE c.id = outbox.conversation_id)"
            f" THEN ? ELSE to_number END WHERE conversation_id IN ({marks})", (REDACTED, *ids))
        self._scrub_errors(f"conversation_id IN ({marks})", ids)
        self._db.execute(
            "UPDATE inbound_messages SET sender = ?, body = '', media_urls = '[]'"
            f" WHERE conversation_id IN ({marks})", (REDACTED, *ids))
        self._db.execute(
            "UPDATE voicemails SET caller = ?, recording_url = '', transcription = NULL"
            f" WHERE conversation_id IN ({marks})", (REDACTED, *ids))
        self._redact_calls(call_sids)
        self._db.execute(
            f"UPDATE conversations SET customer = ?, redacted_at = ? WHERE id IN ({marks})",
            (REDACTED, self.now_text, *ids))
        return _per_line(rows)

    # -- calls that never became a conversation ------------------------------------------

    def calls_to_redact(self, cutoff: str, limit: int) -> list[str]:
        """Over (or started and never marked ended) before `cutoff`."""
        rows = self._all(f"SELECT call_sid FROM calls k WHERE {_CALL_DUE}"
                         " ORDER BY started_at LIMIT ?", (cutoff, cutoff, REDACTED, limit))
        return [row[0] for row in rows]

    def redact_stray_calls(self, call_sids: Sequence[str], cutoff: str) -> Redacted:
        if not call_sids:
            return Redacted()
        rows = self._all(
            f"SELECT call_sid, line_id FROM calls k WHERE call_sid IN ({_marks(call_sids)})"
            f" AND {_CALL_DUE}", (*call_sids, cutoff, cutoff, REDACTED))
        call_sids = [row[0] for row in rows]
        if not call_sids:
            return Redacted()
        marks = _marks(call_sids)
        self._scrub_reasons(f"sid IN ({marks})", call_sids)
        self._scrub_sent_about(call_sids,
                               f"SELECT caller FROM calls WHERE call_sid IN ({marks})")
        self._db.execute(
            "UPDATE voicemails SET caller = ?, recording_url = '', transcription = NULL"
            f" WHERE call_sid IN ({marks})", (REDACTED, *call_sids))
        self._redact_calls(call_sids)
        return _per_line(rows)

    def _scrub_sent_about(self, sids: Sequence[str], their_numbers: str) -> None:
        """What was sent about these calls or texts (a voicemail's notice to
        responders, a text back): found through the decision that sent it;
        `their_numbers` selects, with one mark per sid, the numbers to redact."""
        marks = _marks(sids)
        self._db.execute(
            "UPDATE outbox SET body = '', media_urls = '[]', to_number = CASE WHEN to_number IN"
            f" ({their_numbers}) THEN ? ELSE to_number END"
            f" WHERE decision_id IN (SELECT id FROM decisions WHERE sid IN ({marks}))"
            " AND status IN ('sent', 'failed')", (*sids, REDACTED, *sids))
        self._scrub_errors(f"decision_id IN (SELECT id FROM decisions WHERE sid IN ({marks}))",
                           sids)

    # -- texts that never became a conversation ------------------------------------------

    def texts_to_redact(self, cutoff: str, limit: int) -> list[str]:
        """Texts received before `cutoff` that joined no conversation (STOP,
        HELP, a blocked number's, a responder's commands)."""
        rows = self._all(f"SELECT message_sid FROM inbound_messages WHERE {_TEXT_DUE}"
                         " ORDER BY received_at LIMIT ?", (cutoff, REDACTED, limit))
        return [row[0] for row in rows]

    def redact_stray_texts(self, message_sids: Sequence[str], cutoff: str) -> Redacted:
        if not message_sids:
            return Redacted()
        rows = self._all(
            "SELECT message_sid, line_id FROM inbound_messages"
            f" WHERE message_sid IN ({_marks(message_sids)}) AND {_TEXT_DUE}",
            (*message_sids, cutoff, REDACTED))
        message_sids = [row[0] for row in rows]
        if not message_sids:
            return Redacted()
        marks = _marks(message_sids)
        self._scrub_reasons(f"sid IN ({marks})", message_sids)
        self._scrub_sent_about(
            message_sids, f"SELECT sender FROM inbound_messages WHERE message_sid IN ({marks})")
        self._db.execute(
            "UPDATE inbound_messages SET sender = ?, body = '', media_urls = '[]'"
            f" WHERE message_sid IN ({marks})", (REDACTED, *message_sids))
        return _per_line(rows)

    # -- shared ------------------------------------------------------------------------

    def _redact_calls(self, call_sids: Sequence[str]) -> None:
        if call_sids:
            self._db.execute(f"UPDATE calls SET caller = ? WHERE call_sid IN ({_marks(call_sids)})",
                             (REDACTED, *call_sids))

    def _scrub_reasons(self, where: str, params: Sequence[object]) -> None:
        changed = _changed(self._all(f"SELECT id, reason FROM decisions WHERE {where}", params))
        if changed:
            self._db.executemany("UPDATE decisions SET reason = ? WHERE id = ?", changed)

    def _scrub_errors(self, where: str, params: Sequence[object]) -> None:
        # Twilio's error messages can quote the number they refused, whole.
        changed = _changed(self._all(
            f"SELECT id, error FROM outbox WHERE error IS NOT NULL AND ({where})", params))
        if changed:
            self._db.executemany("UPDATE outbox SET error = ? WHERE id = ?", changed)


def _changed(rows: Sequence[object]) -> list[tuple[str, object]]:
    """(scrubbed text, id) for each (id, text) row the scrub changes."""
    return [(scrub_reason(row[1]), row[0]) for row in rows  # type: ignore[index]
            if row[1] is not None and scrub_reason(row[1]) != row[1]]  # type: ignore[index]


def _per_line(rows: Sequence[object]) -> Redacted:
    counts: dict[str, int] = {}
    for row in rows:
        line_id = row[1]  # type: ignore[index]
        counts[line_id] = counts.get(line_id, 0) + 1
    return Redacted(tuple(sorted(counts.items())))
