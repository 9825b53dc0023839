"""A keyword text the line's endpoint was asked about (ivr/auto_reply.py):
its reply is queued to the texter from the line, in the transaction that
records the text; without a reply, the text goes on as any other would."""

from __future__ import annotations

from ..decisions import Channel, DecisionKind, decision
from ..line_integrations import AutoReply
from ..phone import mask
from ..store import Tx
from .inbound import Inbound
from .wording import split_sms


def auto_replied(tx: Tx, text: Inbound, rule: AutoReply, reply: str | None,
                 failure: str | None) -> bool:
    """Whether the endpoint's reply answered the text (queued, or withheld
    from someone who opted out); False: the usual cascade takes it."""
    line = text.line
    if reply is None:
        tx.decide(decision(DecisionKind.AUTO_REPLY_FAILED, Channel.SMS,
                           f"auto-reply {rule.name} ({rule.keyword}): {failure}; the text is "
                           "handled as if it had no keyword", line=line, sid=text.message_sid))
        return False
    decision_id = tx.decide(decision(
        DecisionKind.AUTO_REPLIED, Channel.SMS,
        f"auto-reply {rule.name}: a text from {mask(text.sender)} starting with "
        f"{rule.keyword} was answered by its endpoint; the reply is texted back, nobody is "
        "paged", line=line, sid=text.message_sid))
    if tx.is_opted_out(line.id, text.sender):
        tx.decide(decision(DecisionKind.SEND_SUPPRESSED, Channel.SMS,
                           "the texter opted out (STOP); the auto-reply is not sent",
                           line=line, sid=text.message_sid))
        return True
    for part in split_sms(reply):
        tx.enqueue_sms(decision_id, line.id, None, to_number=text.sender,
                       from_number=line.number, body=part, purpose="customer")
    return True
