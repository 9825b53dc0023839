"""Closing a conversation: whatever the flood window holds goes out first,
its timers stop and its code is released."""

from __future__ import annotations

from ..roster import Roster
from ..store import Conversation, Tx
from .flood import flush_held


def close_conversation(tx: Tx, roster: Roster, conversation: Conversation) -> None:
    flush_held(tx, roster, conversation)
    tx.close_conversation(conversation.id)
    tx.cancel_timers(conversation.id)
    tx.cancel_timers(conversation.id, kind="flush")
