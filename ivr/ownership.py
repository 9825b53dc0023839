"""How an open conversation's owner got it, as the dashboard and `ivr
conversations` say it: an
ACK ("ACKed after 4 min"), or a hand-over ("handed over by operator after
4 min"): a hand-over is no ACK, whoever it went to. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from .clock import from_text
from .conversations.operator import handed_by
from .decisions import DecisionKind
from .store import Conversation, DecisionRow


def how_owned(decision: DecisionRow | None, conversation: Conversation,
              age: Callable[[datetime, datetime], str]) -> dict[str, Any]:
    """`acked_after` (how long after it opened the owner got it) and
    `handed_by` (None for an ACK), from the decision that gave it to them."""
    opened = from_text(conversation.opened_at)
    if decision is None:        # an owner without such a decision: only the row says when
        when = conversation.acked_at
        return {"acked_after": age(from_text(when), opened) if when else None,
                "handed_by": None}
    return {"acked_after": age(from_text(decision.at), opened),
            "handed_by": handed_by(decision.reason)
            if decision.kind == DecisionKind.HANDED_OVER else None}
