"""A conversation goes back to the cascade: its owner is cleared and the
current tier is paged again with a fresh ACK deadline, and the customer is
told. Used by RELEASE (the owner gives it back; they are not paged with it
when anyone else can be) and by a forward to the owner that failed
(delivery.py)."""

from __future__ import annotations

from datetime import timedelta

from ..config import Responder
from ..decisions import Channel, DecisionKind, decision
from ..roster import Roster
from ..store import Conversation, Tx
from .paging import choose_tier, page_conversation
from .sending import send_to_customer
from .tiers import next_tier
from .wording import names, words


def back_to_cascade(tx: Tx, roster: Roster, conversation: Conversation, kind: DecisionKind,
                    why: str, *, sid: str | None = None, responder_id: str | None = None,
                    leaving: Responder | None = None) -> list[Responder]:
    """Returns who was paged; nobody when the conversation had no owner
    (already returned: a second failure or RELEASE changes nothing)."""
    line = roster.config.lines.get(conversation.line_id)
    if line is None or not tx.release(conversation.id):
        return []
    tx.cancel_timers(conversation.id)
    tier, upcoming, _ = choose_tier(tx, roster, line, conversation.tier, conversation, sid)
    following = next_tier(line, tier)
    if leaving is not None and [r.id for r in upcoming] == [leaving.id] and following is not None:
        # Who gives it back is not asked to take it again while anyone else can.
        tier, upcoming, _ = choose_tier(tx, roster, line, following, conversation, sid)
    upcoming = [r for r in upcoming if leaving is None or r.id != leaving.id] or upcoming
    tx.set_tier(conversation.id, tier)
    decision_id = tx.decide(decision(
        kind, Channel.SMS, f"{why}; the owner is cleared and tier {tier + 1} "
        f"({names(upcoming)}) is paged again", line=line, sid=sid, conversation=conversation,
        tier=tier, responder_id=responder_id))
    page_conversation(tx, line, conversation, upcoming, tier, "forward",
                      f"tier {tier + 1} of {len(line.tiers)}: {why}")
    tx.schedule_timer(conversation.id, tier, tx.now + timedelta(seconds=line.ack_seconds))
    send_to_customer(tx, line, conversation, decision_id,
                     words(line, "escalation", responder=names(upcoming)))
    return upcoming
