"""A customer's contact opens a conversation, or joins the one already open."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Line
from ..decisions import Channel, DecisionKind, decision
from ..store import Conversation, Tx
from .booking_tag import tag_booking

if TYPE_CHECKING:
    from ..booking_calendars import BookingCalendars


def open_or_join(tx: Tx, line: Line, customer: str, *, origin: str, channel: Channel,
                 sid: str | None, why: str, tier: int | None = 0,
                 bookings: "BookingCalendars | None" = None) -> tuple[Conversation, bool]:
    """The customer's open conversation on the line, or a new one (logged
    with `why` and its code, and tagged with its booking from `bookings`);
    the flag says whether it was opened now."""
    conversation = tx.open_conversation_for(line.id, customer)
    if conversation is not None:
        return conversation, False
    conversation = tx.open_conversation(line.id, customer, origin=origin)
    tx.decide(decision(DecisionKind.CONVERSATION_OPENED, channel,
                       f"{why}; code #{conversation.code}", line=line, sid=sid,
                       conversation=conversation, tier=tier))
    return tag_booking(tx, bookings, line, conversation, channel, sid), True
