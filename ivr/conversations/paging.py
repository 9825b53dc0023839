"""Paging: choose the tier to page (skipping whoever is unavailable, and
never silence), and page its responders with the conversation's texts.

Names: `choose_tier` decides and logs; `tier_of_plan` is its pure rule;
`page_responders` sends one text to some responders; `page_conversation`
renders the conversation's texts with a template and pages them, and for
a tier asked to ACK schedules its phone pages (`schedule_phone_pages`;
placed and answered in phone_pages.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Sequence

from ..config import Config, Line, Responder
from ..decisions import Channel, Decision, DecisionKind, decision
from ..phone import display
from ..roster import Plan, Roster
from ..store import Conversation, Tx
from .sending import send_to_responder
from .tiers import tier_responders
from .wording import Words, joined_texts, message, names, words


def page_responders(tx: Tx, line: Line, conversation: Conversation,
                    responders: Sequence[Responder], tier: int, text: str | Words,
                    media: Sequence[str], reason: str, sid: str | None = None,
                    channel: Channel = Channel.SMS) -> None:
    """Page each responder with `text`: a decision, a page row and the sends."""
    for responder in responders:
        decision_id = tx.decide(Decision(
            DecisionKind.MESSAGE_FORWARDED, channel, reason, line_id=line.id, sid=sid,
            conversation_id=conversation.id, tier=tier, responder_id=responder.id))
        tx.record_page(conversation.id, responder.id, tier)
        send_to_responder(tx, line, conversation, decision_id, responder, text, media,
                          purpose="page", tier=tier)


def page_conversation(tx: Tx, line: Line, conversation: Conversation,
                      responders: Sequence[Responder], tier: int, template: str, reason: str,
                      sid: str | None = None) -> None:
    """Page `responders` with every text of the conversation, rendered by `template`."""
    body, media = joined_texts(tx.conversation_texts(conversation.id),
                               message(line, "no_text"))
    text = words(line, template, code=conversation.code, customer=display(conversation.customer),
                 body=body, media=list(media))
    page_responders(tx, line, conversation, responders, tier, text, media, reason, sid)
    tx.mark_forwarded(conversation.id)
    if template == "forward":   # a tier asked to ACK: phoned too, if the line phones
        schedule_phone_pages(tx, line, conversation, responders, tier)


def schedule_phone_pages(tx: Tx, line: Line, conversation: Conversation,
                         responders: Sequence[Responder], tier: int) -> None:
    """The calls due for a tier just paged by text, if the line phones."""
    delays = line.policy.page_call_delays()
    for responder in responders:
        if not responder.phone_pages:
            continue
        for attempt, seconds in enumerate(delays, start=1):
            tx.schedule_page_call(conversation.id, line.id, responder.id, tier, attempt,
                                  tx.now + timedelta(seconds=seconds))


def choose_tier(tx: Tx, roster: Roster, line: Line, start: int, conversation: Conversation,
                sid: str | None = None) -> tuple[int, list[Responder], bool]:
    """The tier to page from `start`, skipping the unavailable, who is in
    it, and whether the line is open. Nobody available never means
    silence: the last tier is always tried."""
    plan = roster.plan(tx, line, line.tiers, start, Channel.SMS, sid, conversation.id)
    if not plan.open and not plan.fallback:  # a fallback's own row says why
        mode = line.hours.after_hours if line.hours else "on_call"
        tx.decide(decision(DecisionKind.AFTER_HOURS, Channel.SMS,
                           f"{plan.open_reason}: only on-call responders are paged"
                           + (" (calls go to voicemail)" if mode == "voicemail" else ""),
                           line=line, sid=sid, conversation=conversation))
    tier, paged = tier_of_plan(roster.config, line, plan)
    if plan.choice.exhausted:
        tx.decide(decision(DecisionKind.NOBODY_AVAILABLE, Channel.SMS,
                           f"nobody is available from tier {start + 1} on; the last tier "
                           f"({names(paged)}) is paged anyway", line=line, sid=sid,
                           conversation=conversation, tier=tier))
    return tier, paged, plan.open


def tier_of_plan(config: Config, line: Line, plan: Plan) -> tuple[int, list[Responder]]:
    """The tier a plan pages, and who is in it: with nobody available, the last."""
    if plan.choice.exhausted:
        last = len(line.tiers) - 1
        return last, tier_responders(config, line, last)
    return plan.choice.index, [config.responders[rid] for rid in plan.choice.members]
