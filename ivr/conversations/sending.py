"""Queue a text in the outbox, split to what Twilio accepts: to a
responder, or to the customer unless they opted out."""

from __future__ import annotations

from typing import Sequence

from ..config import Line, Responder
from ..decisions import Channel, DecisionKind, decision
from ..phone import mask
from ..store import Conversation, Tx
from .wording import Words, split_sms


def send_to_responder(tx: Tx, line: Line, conversation: Conversation | None,
                      decision_id: int, responder: Responder, body: str | Words,
                      media: Sequence[str] = (), *, purpose: str,
                      tier: int | None = None) -> None:
    """`body` as Words is rendered in the responder's language."""
    if _unreachable(tx, line, conversation, responder.phone, responder.id):
        return
    if isinstance(body, Words):
        body = body.for_responder(responder, conversation.customer if conversation else None,
                                  tx.now)
    parts = split_sms(body)
    for index, part in enumerate(parts):
        tx.enqueue_sms(decision_id, line.id, conversation.id if conversation else None,
                       to_number=responder.phone, from_number=line.number, body=part,
                       # media rides on the last part, after the words it belongs to
                       media_urls=media if index == len(parts) - 1 else (),
                       purpose=purpose, responder_id=responder.id, tier=tier)


def _unreachable(tx: Tx, line: Line, conversation: Conversation | None, number: str,
                 responder_id: str | None) -> bool:
    """A number Twilio said can never take a text is not texted (logged)."""
    marked = tx.unreachable(number)
    if marked is None:
        return False
    error_code, _, since = marked
    tx.decide(decision(
        DecisionKind.SEND_SUPPRESSED, Channel.SMS,
        f"{responder_id or mask(number)}'s number cannot take texts (error {error_code}, "
        f"since {since}); not texted until it works again",
        line=line, conversation=conversation, responder_id=responder_id))
    return True


def send_to_customer(tx: Tx, line: Line, conversation: Conversation, decision_id: int,
                     body: str | Words, media: Sequence[str] = (), *,
                     purpose: str = "customer") -> bool:
    """Queue a text to the customer unless they opted out; says whether it
    was queued. `body` as Words is rendered in the conversation's language."""
    if isinstance(body, Words):
        body = body.for_customer(conversation, tx.now)
    if tx.is_opted_out(line.id, conversation.customer):
        tx.decide(decision(
            DecisionKind.SEND_SUPPRESSED, Channel.SMS,
            "the customer opted out (STOP); nothing is sent to them",
            line=line, conversation=conversation))
        return False
    if _unreachable(tx, line, conversation, conversation.customer, None):
        return False
    for part in split_sms(body):
        tx.enqueue_sms(decision_id, line.id, conversation.id, to_number=conversation.customer,
                       from_number=line.number, body=part, media_urls=media,
                       purpose=purpose)
        media = ()
    return True
