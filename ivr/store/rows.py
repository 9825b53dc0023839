"""The rows the store hands out: frozen dataclasses, one per table's noun."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Conversation:
    id: int
    line_id: str
    customer: str
    code: int
    origin: str
    status: str
    tier: int
    owner: str | None
    opened_at: str
    last_forward_at: str | None
    acked_at: str | None
    closed_at: str | None
    last_call_at: str | None = None
    redacted_at: str | None = None   # retention took its texts and number then
    booking_uid: str | None = None   # the booking it concerns (ivr/bookings.py)
    booking_summary: str | None = None
    booking_start: str | None = None
    language: str | None = None      # what the customer reads; None: the line's


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    decision_id: int
    line_id: str
    conversation_id: int | None
    purpose: str
    responder_id: str | None
    tier: int | None
    to_number: str
    from_number: str
    body: str
    media_urls: tuple[str, ...]
    attempts: int


@dataclass(frozen=True)
class Call:
    call_sid: str
    line_id: str
    caller: str
    status: str
    menu_option: str | None
    menu_tries: int
    tier: int
    started_at: str
    deadline_at: str
    ended_at: str | None
    connected_to: str | None
    first_twiml: str
    language: str | None = None      # what the caller hears; None: the line's


@dataclass(frozen=True)
class DialAttempt:
    id: int
    call_sid: str
    tier: int
    responders: tuple[str, ...]
    started_at: str
    accepted_by: str | None
    accepted_at: str | None
    dial_status: str | None
    bridged: int | None
    finished_at: str | None


@dataclass(frozen=True)
class Voicemail:
    recording_sid: str
    call_sid: str
    line_id: str
    caller: str
    conversation_id: int | None
    recording_url: str
    duration: int
    transcription: str | None
    received_at: str


@dataclass(frozen=True)
class Timer:
    id: int
    conversation_id: int
    kind: str
    tier: int
    due_at: str


@dataclass(frozen=True)
class DecisionRow:
    id: int
    at: str
    line_id: str | None
    channel: str
    sid: str | None
    conversation_id: int | None
    tier: int | None
    responder_id: str | None
    kind: str
    reason: str



def outbox_message(row: sqlite3.Row) -> OutboxMessage:
    fields = {key: row[key] for key in OUTBOX_FIELDS}
    return OutboxMessage(**{**fields, "media_urls": tuple(json.loads(fields["media_urls"]))})


OUTBOX_FIELDS = ("id", "decision_id", "line_id", "conversation_id", "purpose", "responder_id",
                 "tier", "to_number", "from_number", "body", "media_urls", "attempts")


@dataclass(frozen=True)
class PageCall:
    id: int
    conversation_id: int
    line_id: str
    responder_id: str
    tier: int
    attempt: int
    status: str
    due_at: str
    call_sid: str | None = None
    answer: str | None = None
    call_status: str | None = None
    purpose: str = "page"
