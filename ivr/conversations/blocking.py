"""Blocked numbers: a blocked number's text is logged and goes nowhere
(no page, no reply), its call is rejected (ivr/voice/cascade.py). A number
is blocked by the config (`[lines.X] blocked`, `[service] blocked`) or in
the store (a responder's BLOCK, or the store's `block`)."""

from __future__ import annotations

from ..config import Line
from ..decisions import Channel, DecisionKind, decision
from ..phone import mask
from ..store import Conversation, Tx


def block_source(tx: Tx, line: Line, number: str) -> str | None:
    """Why `number` is blocked on the line (config or store), or None."""
    if number in line.policy.blocked:
        return "blocked in the config"
    if tx.is_blocked(line.id, number):
        return "blocked by a responder"
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
