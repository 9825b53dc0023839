"""A text that cannot arrive. A page Twilio reported failed or undelivered,
or refused to send, escalates now instead of at the ACK deadline, once per
tier (the conversation's tier moves on, and the last round goes out once),
so nothing a failure triggers can trigger itself. A text relayed to a
conversation's owner that fails puts the conversation back to the cascade
(returning.py), once: the owner is cleared, so a second failure finds no
owner to clear. A number Twilio says can never take a text is marked and
not texted again until it works again."""

from __future__ import annotations

from datetime import timedelta

from ..clock import from_text
from ..decisions import Channel, Decision, DecisionKind
from ..phone import mask
from ..roster import Roster
from ..store import OutboxMessage, Tx
from .escalation import escalate
from .phone_pages import phone_owner_first
from .returning import back_to_cascade

FAILED_DELIVERY = frozenset({"failed", "undelivered"})

# Twilio error codes that say the number itself cannot take a text, however
# often it is tried (Twilio's error dictionary): 21211 invalid 'To', 21214
# 'To' cannot be reached, 21610 the recipient texted STOP to this number,
# 21612 no route to the number, 21614 not a mobile number, 30004 blocked by
# the recipient, 30005 unknown or inactive number, 30006 a landline or an
# unreachable carrier. A 404 or 401 says something of the account, not of a
# number, and marks nothing.
NUMBER_NEVER_TAKES_TEXTS = frozenset({"21211", "21214", "21610", "21612", "21614",
                                      "30004", "30005", "30006"})

# Past this, a text Twilio cannot take for now is given up even while its
# conversation waits: a bound on every retry.
RETRY_AT_MOST = timedelta(hours=24)


def delivery_reported(tx: Tx, roster: Roster, sent: OutboxMessage, message_sid: str,
                      status: str, error_code: str | None) -> None:
    """Twilio reported `status` for a text we sent: a failed delivery is
    logged, and a page that failed escalates now."""
    if status == "delivered":
        tx.clear_unreachable(sent.to_number)
    if status not in FAILED_DELIVERY:
        return
    why = (f"Twilio reports {status} (ErrorCode {error_code or 'none'}) for the "
           f"text to {sent.responder_id or mask(sent.to_number)}")
    tx.decide(Decision(DecisionKind.DELIVERY_FAILED, Channel.SMS, why,
                       line_id=sent.line_id, sid=message_sid,
                       conversation_id=sent.conversation_id, tier=sent.tier,
                       responder_id=sent.responder_id))
    mark_if_unreachable(tx, sent, error_code, why)
    page_failed(tx, roster, sent, why)
    forward_failed(tx, roster, sent, why)


def send_refused(tx: Tx, roster: Roster, sent: OutboxMessage, error_code: str | None,
                 why: str) -> None:
    """Twilio refused the send for good (or it was given up)."""
    tx.decide(Decision(DecisionKind.SEND_FAILED, Channel.SMS, why,
                       line_id=sent.line_id, conversation_id=sent.conversation_id,
                       tier=sent.tier, responder_id=sent.responder_id))
    mark_if_unreachable(tx, sent, error_code, why)
    page_failed(tx, roster, sent, why)
    forward_failed(tx, roster, sent, why)


def mark_if_unreachable(tx: Tx, sent: OutboxMessage, error_code: str | None,
                        why: str) -> None:
    if error_code not in NUMBER_NEVER_TAKES_TEXTS:
        return
    if tx.mark_unreachable(sent.to_number, error_code, why):
        tx.decide(Decision(DecisionKind.NUMBER_UNREACHABLE, Channel.SMS,
                           f"{sent.responder_id or mask(sent.to_number)}'s number cannot take "
                           f"texts (error {error_code}): not texted again until it works again",
                           line_id=sent.line_id, conversation_id=sent.conversation_id,
                           responder_id=sent.responder_id))


def page_failed(tx: Tx, roster: Roster, sent: OutboxMessage, why: str) -> None:
    if sent.purpose != "page" or sent.conversation_id is None:
        return
    conversation = tx.conversation(sent.conversation_id)
    if (conversation is None or conversation.status != "open" or conversation.owner
            or conversation.tier != sent.tier):
        return
    tx.cancel_timers(conversation.id)
    escalate(tx, roster, conversation, why)


def forward_failed(tx: Tx, roster: Roster, sent: OutboxMessage, why: str) -> None:
    """A customer's text relayed to the owner did not arrive: the owner is
    phoned first where the line phones (they keep it with 1); otherwise, or
    if the call takes nothing, whoever can take it is paged again, as if
    nobody had ACKed."""
    if sent.purpose != "relay" or sent.responder_id is None or sent.conversation_id is None:
        return
    conversation = tx.conversation(sent.conversation_id)
    if (conversation is None or conversation.status != "open"
            or conversation.owner != sent.responder_id):
        return
    failed = f"the text relayed to its owner {sent.responder_id} failed ({why})"
    if phone_owner_first(tx, roster, conversation, sent.responder_id, failed):
        return   # the call's outcome decides (phone_pages.py)
    back_to_cascade(tx, roster, conversation, DecisionKind.RETURNED_TO_CASCADE, failed,
                    responder_id=sent.responder_id)


def still_matters(tx: Tx, sent: OutboxMessage, created_at: str) -> bool:
    """Whether a text Twilio could not take for now is worth trying again:
    a page while its conversation still waits for an ACK, any other text
    while its conversation is open; none past RETRY_AT_MOST."""
    if tx.now - from_text(created_at) > RETRY_AT_MOST:
        return False
    if sent.conversation_id is None:
        return True
    conversation = tx.conversation(sent.conversation_id)
    if conversation is None or conversation.status != "open":
        return False
    return sent.purpose != "page" or conversation.owner is None
