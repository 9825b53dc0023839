"""A conversation that opens is tagged with the booking it concerns
(ivr/bookings.py chooses), in the transaction that opens it. Only what the
bookings cache already holds is read here: the calendar itself is read in
the background, so an unreachable calendar never delays or fails a text."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from ..bookings import choose_booking
from ..config import Line
from ..decisions import Channel, DecisionKind, decision
from ..logs import event
from ..store import Conversation, Tx

if TYPE_CHECKING:
    from ..booking_calendars import BookingCalendars

log = logging.getLogger(__name__)


def tag_booking(tx: Tx, bookings: "BookingCalendars | None", line: Line,
                conversation: Conversation, channel: Channel, sid: str | None) -> Conversation:
    """The conversation, with its booking when one applies."""
    if bookings is None or line.integrations.bookings is None:
        return conversation
    try:
        candidates = bookings.bookings_for(line.id)
        choice = (choose_booking(candidates, conversation.customer, tx.now, line.policy.zone)
                  if candidates is not None else None)
    except Exception:
        # Nothing a calendar holds may fail the text that opened the conversation.
        log.exception("booking for conversation %s could not be chosen; left untagged",
                      conversation.id)
        return conversation
    if candidates is None:
        event(log, logging.WARNING, "bookings calendar not read yet; conversation left untagged",
              line=line.id, conversation=conversation.id)
        return conversation
    if choice is None:
        return conversation
    booking = choice.booking
    tx.set_booking(conversation.id, booking.uid, booking.summary, choice.start)
    tx.decide(decision(DecisionKind.BOOKING_TAGGED, channel, choice.why, line=line, sid=sid,
                       conversation=conversation))
    return replace(conversation, booking_uid=booking.uid, booking_summary=booking.summary,
                   booking_start=choice.start)
