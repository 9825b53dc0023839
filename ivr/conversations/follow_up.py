"""A customer's later text goes to the conversation's owner, or joins the
page to the current tier without restarting its timer."""

from __future__ import annotations

from typing import Sequence

from ..config import Config, Line
from ..decisions import Channel, DecisionKind, decision
from ..phone import display
from ..store import Conversation, Tx
from .sending import send_to_responder
from .tiers import tier_responders
from .wording import words


def forward_follow_up(tx: Tx, config: Config, line: Line, conversation: Conversation,
                      body: str, media: Sequence[str], sid: str | None, note: str) -> None:
    code, who = conversation.code, display(conversation.customer)
    if conversation.owner:
        owner = config.responders.get(conversation.owner)
        recipients, template, tier = ([owner] if owner else []), "follow_up", None
        why = f"{conversation.owner} owns #{code}"
    else:
        tier = conversation.tier
        recipients = tier_responders(config, line, tier)
        template = "forward"
        why = f"#{code} is not taken yet; it joins the page to tier {tier + 1} (timer unchanged)"
    text = words(line, template, code=code, customer=who, body=body, media=list(media))
    for responder in recipients:
        decision_id = tx.decide(decision(DecisionKind.FOLLOW_UP_FORWARDED, Channel.SMS,
                                         why + note, line=line, sid=sid,
                                         conversation=conversation, tier=tier,
                                         responder_id=responder.id))
        send_to_responder(tx, line, conversation, decision_id, responder, text, media,
                          purpose="page" if tier is not None else "relay", tier=tier)
    tx.mark_forwarded(conversation.id)
