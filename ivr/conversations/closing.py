"""Closing a conversation: whatever the flood window holds goes out first,
its timers stop and its code is released; then whoever was working on it
(its owner, or those paged while nobody had taken it) is told who closed it."""

from __future__ import annotations

from ..config import Line
from ..roster import Roster
from ..store import Conversation, Tx
from .flood import flush_held
from .sending import send_to_responder
from .wording import message, responder_audience


def close_conversation(tx: Tx, roster: Roster, conversation: Conversation) -> list[str]:
    """Close it; returns the ids of those working on it, read before the
    close settles its pages."""
    concerned = ([conversation.owner] if conversation.owner
                 else tx.paged_responders(conversation.id))
    flush_held(tx, roster, conversation)
    tx.close_conversation(conversation.id)
    tx.cancel_timers(conversation.id)
    tx.cancel_timers(conversation.id, kind="flush")
    return concerned


def tell_closed(tx: Tx, roster: Roster, line: Line, conversation: Conversation,
                decision_id: int, concerned: list[str], by: str,
                closer_id: str | None = None, dashboard: bool = False) -> None:
    """The `closed_notice` to each of `concerned` but the one who closed it
    (answered directly)."""
    for responder_id in dict.fromkeys(concerned):
        responder = roster.config.responders.get(responder_id)
        if responder is not None and responder.id != closer_id:
            notice = message(line, "closed_notice", responder_audience(responder),
                             code=conversation.code, by=by, dashboard=dashboard)
            send_to_responder(tx, line, conversation, decision_id, responder, notice,
                              purpose="notice")
