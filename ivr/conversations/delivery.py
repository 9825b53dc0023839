"""A page that cannot arrive: Twilio reported it failed or undelivered,
or refused to send it. It escalates now instead of at the ACK deadline."""

from __future__ import annotations

from ..decisions import Channel, Decision, DecisionKind
from ..phone import mask
from ..roster import Roster
from ..store import OutboxMessage, Tx
from .escalation import escalate

FAILED_DELIVERY = frozenset({"failed", "undelivered"})


def delivery_reported(tx: Tx, roster: Roster, sent: OutboxMessage, message_sid: str,
                      status: str, error_code: str | None) -> None:
    """Twilio reported `status` for a text we sent: a failed delivery is
    logged, and a page that failed escalates now."""
    if status not in FAILED_DELIVERY:
        return
    why = (f"Twilio reports {status} (ErrorCode {error_code or 'none'}) for the "
           f"text to {sent.responder_id or mask(sent.to_number)}")
    tx.decide(Decision(DecisionKind.DELIVERY_FAILED, Channel.SMS, why,
                       line_id=sent.line_id, sid=message_sid,
                       conversation_id=sent.conversation_id, tier=sent.tier,
                       responder_id=sent.responder_id))
    page_failed(tx, roster, sent, why)


def page_failed(tx: Tx, roster: Roster, sent: OutboxMessage, why: str) -> None:
    if sent.purpose != "page" or sent.conversation_id is None:
        return
    conversation = tx.conversation(sent.conversation_id)
    if (conversation is None or conversation.status != "open" or conversation.owner
            or conversation.tier != sent.tier):
        return
    tx.cancel_timers(conversation.id)
    escalate(tx, roster, conversation, why)
