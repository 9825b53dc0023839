"""A customer's contact opens a conversation, or joins the one already open."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..config import Line
from ..decisions import Channel, DecisionKind, decision
from ..store import Conversation, Tx
from .booking_tag import tag_booking

if TYPE_CHECKING:
    from ..booking_calendars import BookingCalendars


def open_or_join(tx: Tx, line: Line, customer: str, *, origin: str, channel: Channel,
                 sid: str | None, why: str, tier: int | None = 0,
                 bookings: "BookingCalendars | None" = None,
                 language: str | None = None) -> tuple[Conversation, bool]:
    """The customer's open conversation on the line, or a new one (logged
    with `why` and its code, and tagged with its booking from `bookings`);
    the flag says whether it was opened now. `language`, the one a caller
    chose, is the conversation's from now on."""
    conversation = tx.open_conversation_for(line.id, customer)
    opened = conversation is None
    if conversation is None:
        conversation = tx.open_conversation(line.id, customer, origin=origin)
        tx.decide(decision(DecisionKind.CONVERSATION_OPENED, channel,
                           f"{why}; code #{conversation.code}", line=line, sid=sid,
                           conversation=conversation, tier=tier))
        conversation = tag_booking(tx, bookings, line, conversation, channel, sid)
        if language is None and len(line.languages.by_code) > 1:
            # A customer who chose a language keeps it from one conversation to the next.
            earlier = tx.last_language(line.id, customer)
            if earlier is not None:
                conversation = choose_language(tx, line, conversation, earlier, channel, sid,
                                               "the customer chose it in an earlier "
                                               "conversation")
    if language is not None and language != conversation.language:
        conversation = choose_language(tx, line, conversation, language, channel, sid,
                                       "the caller chose it in the menu")
    return conversation, opened


def choose_language(tx: Tx, line: Line, conversation: Conversation, language: str,
                    channel: Channel, sid: str | None, why: str) -> Conversation:
    """Every text to the customer is in `language` from now on."""
    tx.set_language(conversation.id, language)
    tx.decide(decision(DecisionKind.LANGUAGE_CHOSEN, channel,
                       f"texts to the customer are in {language} from now on: {why}",
                       line=line, sid=sid, conversation=conversation))
    return replace(conversation, language=language)
