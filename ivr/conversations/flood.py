"""The flood window: a customer's texts that arrive within `flood_seconds`
of the last forward are held, and go out together when the window closes."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..clock import from_text
from ..config import Line
from ..decisions import Channel, DecisionKind, decision
from ..phone import mask
from ..roster import Roster
from ..store import Conversation, Tx
from .follow_up import forward_follow_up
from .inbound import Inbound
from .wording import joined_texts


def window_end(line: Line, conversation: Conversation) -> datetime | None:
    if not line.flood_seconds or not conversation.last_forward_at:
        return None
    return from_text(conversation.last_forward_at) + timedelta(seconds=line.flood_seconds)


def hold_if_flooding(tx: Tx, conversation: Conversation, text: Inbound) -> bool:
    """Hold the text if the window is open; says whether it was held."""
    line = text.line
    ends = window_end(line, conversation)
    if ends is None or tx.now >= ends:
        return False
    tx.hold_inbound(text.message_sid)
    if not tx.has_pending_timer(conversation.id, "flush"):
        tx.schedule_timer(conversation.id, conversation.tier, ends, kind="flush")
    tx.decide(decision(
        DecisionKind.FLOOD_HELD, Channel.SMS,
        f"another text from {mask(text.sender)} within {line.flood_seconds} s of the last "
        f"forward; held and sent with any others at {ends:%H:%M:%S} UTC",
        line=line, sid=text.message_sid, conversation=conversation))
    return True


def flush_held(tx: Tx, roster: Roster, conversation: Conversation) -> None:
    """The flood window closed: what it held goes out as one message."""
    line = roster.config.lines.get(conversation.line_id)
    held = tx.conversation_texts(conversation.id, held_only=True)
    if line is None or not held or conversation.status != "open":
        return
    body, media = joined_texts(held)
    forward_follow_up(tx, roster.config, line, conversation, body, media, None,
                      f"; {len(held)} text(s) held by the flood window, sent together")
