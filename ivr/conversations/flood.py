"""The flood limit: a customer's texts go to the owner or the paged tier at
once, unless their number sent more than `flood_texts` within
`flood_seconds`. Only then are texts held, and what is held goes out as one
message when the hold ends, so a flood pages at most once per window beyond
the limit. A live chat is never held; a spammer is blocked (ivr/conversations/
blocking.py)."""

from __future__ import annotations

from datetime import timedelta

from ..config import Line
from ..decisions import Channel, DecisionKind, decision
from ..local_time import clock_time
from ..phone import mask
from ..roster import Roster
from ..store import Conversation, Tx
from .follow_up import forward_follow_up
from .inbound import Inbound
from .wording import joined_texts, message


def flooding(texts_in_window: int, line: Line) -> bool:
    """Pure: whether a number with this many texts in the window is flooding."""
    return line.flood_seconds > 0 and texts_in_window > line.policy.flood_texts


def hold_if_flooding(tx: Tx, conversation: Conversation, text: Inbound) -> bool:
    """Hold the text if its number is flooding; says whether it was held."""
    line = text.line
    if line.flood_seconds <= 0:
        return False
    window = timedelta(seconds=line.flood_seconds)
    count = tx.texts_since(line.id, text.sender, tx.now - window)
    if not flooding(count, line):
        return False
    tx.hold_inbound(text.message_sid)
    ends = tx.pending_flush_at(conversation.id)
    if ends is None:
        ends = tx.now + window
        tx.schedule_timer(conversation.id, conversation.tier, ends, kind="flush")
    tx.decide(decision(
        DecisionKind.FLOOD_HELD, Channel.SMS,
        f"{mask(text.sender)} sent {count} texts within {line.flood_seconds} s (more than "
        f"flood_texts = {line.policy.flood_texts}): held and sent with any others at "
        f"{clock_time(ends, line.policy.zone, seconds=True)}",
        line=line, sid=text.message_sid, conversation=conversation))
    return True


def flush_held(tx: Tx, roster: Roster, conversation: Conversation) -> None:
    """The hold ended: what it held goes out as one message."""
    line = roster.config.lines.get(conversation.line_id)
    held = tx.conversation_texts(conversation.id, held_only=True)
    if line is None or not held or conversation.status != "open":
        return
    body, media = joined_texts(held, message(line, "no_text"))
    forward_follow_up(tx, roster.config, line, conversation, body, media, None,
                      f"; {len(held)} text(s) held by the flood limit, sent together")
