"""A customer's text: STOP, START and HELP; a first text opens a
conversation and pages the first tier; a later one follows up."""

from __future__ import annotations

from datetime import timedelta

from ..decisions import Channel, DecisionKind, decision
from ..phone import mask
from ..roster import Roster
from ..store import Conversation, Tx
from .commands import customer_keyword
from .flood import hold_if_flooding
from .follow_up import forward_follow_up
from .inbound import Inbound
from .opening import choose_language, open_or_join
from .paging import choose_tier, page_conversation
from .wording import customer_audience, message, names


def customer_text(tx: Tx, roster: Roster, text: Inbound) -> str | None:
    """Returns the reply to send back in TwiML, if any."""
    keyword = customer_keyword(text.body)
    if keyword in ("opt_out", "opt_in"):
        _opt(tx, text, opted_out=keyword == "opt_out")
        # Twilio itself confirms STOP and START; a reply would be blocked.
        return None
    if keyword == "help":
        # Twilio answers HELP itself; on a support line it is also a plea, so
        # it is forwarded like any other text.
        tx.decide(decision(DecisionKind.HELP_REQUESTED, Channel.SMS,
                           "HELP is answered by Twilio's help text and also forwarded",
                           line=text.line, sid=text.message_sid))
    conversation, opened = open_or_join(
        tx, text.line, text.sender, origin="sms", channel=Channel.SMS, sid=text.message_sid,
        why=f"first text from {mask(text.sender)} with no open conversation",
        bookings=roster.bookings)
    tx.attach_inbound(text.message_sid, conversation.id)
    language = text.line.languages.chosen_by(text.body)
    if language is not None and language != conversation.language:
        # The keyword is forwarded too: a text is never lost.
        conversation = choose_language(tx, text.line, conversation, language, Channel.SMS,
                                       text.message_sid,
                                       f"the customer texted {text.body.strip()!r}")
    if opened:
        return _first_text(tx, roster, text, conversation)
    if not hold_if_flooding(tx, conversation, text):
        forward_follow_up(tx, roster.config, text.line, conversation, text.body, text.media,
                          text.message_sid, "")
    return None


def _opt(tx: Tx, text: Inbound, opted_out: bool) -> None:
    line, customer = text.line, text.sender
    tx.set_opted_out(line.id, customer, opted_out)
    word = text.body.strip().upper()
    if opted_out:
        tx.decide(decision(DecisionKind.OPTED_OUT, Channel.SMS,
                           f"{mask(customer)} texted {word}: no more texts are sent to them "
                           "on this line", line=line, sid=text.message_sid,
                           conversation=tx.open_conversation_for(line.id, customer)))
    else:
        tx.decide(decision(DecisionKind.OPTED_IN, Channel.SMS,
                           f"{mask(customer)} texted {word}: texts to them are allowed again",
                           line=line, sid=text.message_sid))


def _first_text(tx: Tx, roster: Roster, text: Inbound, conversation: Conversation) -> str | None:
    """Page the first tier with someone available, start its ACK timer and
    acknowledge the customer."""
    line = text.line
    tier, paged, is_open = choose_tier(tx, roster, line, 0, conversation, text.message_sid)
    page_conversation(tx, line, conversation, paged, tier, "forward",
                      f"tier {tier + 1} of {len(line.tiers)} is paged until someone ACKs",
                      text.message_sid)
    tx.schedule_timer(conversation.id, tier, tx.now + timedelta(seconds=line.ack_seconds))
    if tx.is_opted_out(line.id, text.sender):
        return None
    reply = message(line, "ack" if is_open else "ack_after_hours",
                    customer_audience(line, conversation, tx.now), responder=names(paged))
    tx.decide(decision(DecisionKind.CUSTOMER_ACKNOWLEDGED, Channel.SMS,
                       "a new conversation gets the line's ack template", line=line,
                       sid=text.message_sid, conversation=conversation))
    return reply
