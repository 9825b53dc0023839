"""Blocked numbers: a blocked number's text is logged and goes nowhere
(no page, no reply), its call is rejected (ivr/voice/cascade.py). A number
is blocked by the config (`[lines.X] blocked`, `[service] blocked`) or in
the store (a responder's text "BLOCK [code]", or an operator's block on
the dashboard or with `ivr block`: ivr/blocked_numbers.py)."""

from __future__ import annotations

from ..config import Line, Responder
from ..decisions import Channel, DecisionKind, decision
from ..phone import display, mask
from ..roster import Roster
from ..store import Conversation, Tx
from .closing import close_conversation
from .inbound import Inbound
from .wording import message, responder_audience


def block_source(tx: Tx, line: Line, number: str) -> str | None:
    """Why `number` is blocked on the line (config or store), or None."""
    if number in line.policy.blocked:
        return "blocked in the config"
    if tx.is_blocked(line.id, number):
        return "blocked by a responder or an operator"
    return None


def drop_if_blocked(tx: Tx, line: Line, number: str, channel: Channel, sid: str | None) -> bool:
    """Log a blocked number's text or call; says whether it was blocked."""
    source = block_source(tx, line, number)
    if source is None:
        return False
    what = "text" if channel == Channel.SMS else "call"
    done = "nobody paged, no reply" if channel == Channel.SMS else "the call is rejected"
    tx.decide(decision(DecisionKind.BLOCKED, channel,
                       f"a {what} from {mask(number)}, {source}: {done}", line=line, sid=sid))
    return True


def block_conversation(tx: Tx, line: Line, conversation: Conversation, responder_id: str,
                       sid: str | None) -> bool:
    """A responder's BLOCK: the conversation's customer is blocked on the
    line; False when they already were."""
    added = tx.block(line.id, conversation.customer, responder_id,
                     f"BLOCK from {responder_id} on #{conversation.code}")
    tx.decide(decision(DecisionKind.NUMBER_BLOCKED, Channel.SMS,
                       f"{responder_id} blocked {mask(conversation.customer)} on #"
                       f"{conversation.code}" + ("" if added else " (already blocked)"),
                       line=line, sid=sid, conversation=conversation,
                       responder_id=responder_id))
    return added


def block_by_text(tx: Tx, roster: Roster, text: Inbound, responder: Responder,
                  code: int | None) -> str:
    """A responder's BLOCK [code]: the customer is blocked on the line and
    the conversation closed without a word to them (a spammer needs none).
    Without a code: the one they own, else the latest paged to them."""
    line = text.line
    if code is not None:
        conversation = tx.open_conversation_by_code(line.id, code)
        if conversation is None:
            return message(line, "unknown_code", responder_audience(responder), code=code)
    else:
        owned = tx.owned_conversations(line.id, responder.id)
        conversation = (owned[0] if len(owned) == 1 else None if owned
                        else tx.latest_unowned_paged_to(line.id, responder.id))
        if conversation is None:
            return message(line, "nothing_to_pass", responder_audience(responder), command="BLOCK")
    block_conversation(tx, line, conversation, responder.id, text.message_sid)
    close_conversation(tx, roster, conversation)
    return message(line, "blocked_confirm", responder_audience(responder), code=conversation.code,
                   customer=display(conversation.customer))
