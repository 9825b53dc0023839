"""A responder takes a conversation (ACK by text, or 1 on a phone page):
it is theirs, its timers and phone pages stop, the customer is told and
so is everyone else who was paged."""

from __future__ import annotations

from ..clock import from_text
from ..config import Config, Line, Responder
from ..decisions import Channel, DecisionKind, decision
from ..store import Conversation, Tx
from .sending import send_to_customer, send_to_responder
from .wording import words


def take(tx: Tx, config: Config, line: Line, conversation: Conversation, responder: Responder,
         how: str, sid: str | None, channel: Channel = Channel.SMS) -> bool:
    """Whether `responder` got it; False when someone else has it."""
    paged = tx.paged_responders(conversation.id)
    if conversation.owner is not None or not tx.take(conversation.id, responder.id):
        return False
    cancelled = tx.cancel_timers(conversation.id)
    tx.skip_pending_page_calls([conversation.id], f"{responder.name} took it")
    waited = int((tx.now - from_text(conversation.opened_at)).total_seconds())
    tx.observe("time_to_ack", waited, line=line.id)
    decision_id = tx.decide(decision(
        DecisionKind.ACKNOWLEDGED, channel,
        f"{responder.name} {how} after {waited} s; {cancelled} timer(s) cancelled",
        line=line, sid=sid, conversation=conversation, tier=conversation.tier,
        responder_id=responder.id))
    send_to_customer(tx, line, conversation, decision_id,
                     words(line, "taken", responder=responder.name))
    notice = words(line, "taken_by_other", code=conversation.code, responder=responder.name)
    for other_id in paged:
        other = config.responders.get(other_id)
        if other is not None and other.id != responder.id:
            send_to_responder(tx, line, conversation, decision_id, other, notice,
                              purpose="notice")
    return True
