"""A customer's contact opens a conversation, or joins the one already open."""

from __future__ import annotations

from ..config import Line
from ..decisions import Channel, DecisionKind, decision
from ..store import Conversation, Tx


def open_or_join(tx: Tx, line: Line, customer: str, *, origin: str, channel: Channel,
                 sid: str | None, why: str, tier: int | None = 0) -> tuple[Conversation, bool]:
    """The customer's open conversation on the line, or a new one (logged
    with `why` and its code); the flag says whether it was opened now."""
    conversation = tx.open_conversation_for(line.id, customer)
    if conversation is not None:
        return conversation, False
    conversation = tx.open_conversation(line.id, customer, origin=origin)
    tx.decide(decision(DecisionKind.CONVERSATION_OPENED, channel,
                       f"{why}; code #{conversation.code}", line=line, sid=sid,
                       conversation=conversation, tier=tier))
    return conversation, True
