"""A text nobody ACKs in time: the next tier with someone available is
paged, the customer and the responders passed over are told; after the
last tier everyone on the line is paged once more and the cascade stops."""

from __future__ import annotations

from datetime import timedelta

from ..config import Responder
from ..decisions import Channel, Decision, DecisionKind, decision
from ..roster import Roster
from ..store import Conversation, Tx
from .paging import choose_tier, page_conversation
from .sending import send_to_customer, send_to_responder
from .tiers import everyone, next_tier
from .wording import names, words


def escalate(tx: Tx, roster: Roster, conversation: Conversation, why: str,
             passed_by: str | None = None) -> list[Responder]:
    """Returns who was paged; `passed_by` (who texted PASS) gets no moved-on notice."""
    config = roster.config
    line = config.lines.get(conversation.line_id)
    if line is None:
        tx.decide(Decision(DecisionKind.UNANSWERED, Channel.SMS,
                           f"{why}; line {conversation.line_id!r} is no longer configured",
                           line_id=conversation.line_id, conversation_id=conversation.id))
        return []
    following = next_tier(line, conversation.tier)
    if following is None:
        if not tx.start_last_call(conversation.id):
            return []  # the last round goes out once, whatever asks for it again
        tx.decide(decision(DecisionKind.UNANSWERED, Channel.SMS,
                           f"{why} at the last tier; everyone on the line is paged once "
                           "more and the cascade stops", line=line,
                           conversation=conversation, tier=conversation.tier))
        page_conversation(tx, line, conversation, everyone(config, line), conversation.tier,
                          "unanswered", "last call: nobody has taken it")
        return everyone(config, line)

    # Only those whose page reached Twilio hear that it moved on: a page
    # that never went out (an outage, a landline) was never theirs to miss.
    reached = set(tx.responders_reached(conversation.id))
    previously = [rid for rid in tx.paged_responders(conversation.id) if rid in reached]
    following, upcoming, _ = choose_tier(tx, roster, line, following, conversation)
    tx.set_tier(conversation.id, following)
    decision_id = tx.decide(decision(
        DecisionKind.ESCALATED, Channel.SMS,
        f"{why}; tier {following + 1} ({names(upcoming)}) is paged",
        line=line, conversation=conversation, tier=following))
    page_conversation(tx, line, conversation, upcoming, following, "forward",
                      f"tier {following + 1} of {len(line.tiers)}: {why}")
    tx.schedule_timer(conversation.id, following,
                      tx.now + timedelta(seconds=line.ack_seconds))
    notice = words(line, "moved_on", code=conversation.code, responder=names(upcoming))
    for rid in previously:
        responder = config.responders.get(rid)
        if responder is not None and responder not in upcoming and rid != passed_by:
            send_to_responder(tx, line, conversation, decision_id, responder, notice,
                              purpose="notice")
    send_to_customer(tx, line, conversation, decision_id,
                     words(line, "escalation", responder=names(upcoming)))
    return upcoming
