"""What an operator does from the dashboard: close a conversation, or
hand it to a responder. Both are logged and the people concerned told."""

from __future__ import annotations

from ..config import Line
from ..decisions import Channel, DecisionKind, decision
from ..phone import display
from ..roster import Roster
from ..store import Conversation, Tx
from .closing import close_conversation
from .sending import send_to_customer, send_to_responder
from .wording import joined_texts, message


def _open_conversation(tx: Tx, roster: Roster,
                       conversation_id: int) -> tuple[Conversation, Line] | None:
    conversation = tx.conversation(conversation_id)
    line = roster.config.lines.get(conversation.line_id) if conversation else None
    if conversation is None or line is None or conversation.status != "open":
        return None
    return conversation, line


def operator_close(tx: Tx, roster: Roster, conversation_id: int, operator: str) -> bool:
    found = _open_conversation(tx, roster, conversation_id)
    if found is None:
        return False
    conversation, line = found
    close_conversation(tx, roster, conversation)
    decision_id = tx.decide(decision(
        DecisionKind.CLOSED, Channel.SMS,
        f"{operator} closed #{conversation.code} from the dashboard",
        line=line, conversation=conversation))
    send_to_customer(tx, line, conversation, decision_id, message(line, "closed"))
    return True


def operator_hand_over(tx: Tx, roster: Roster, conversation_id: int, responder_id: str,
                       operator: str) -> bool:
    found = _open_conversation(tx, roster, conversation_id)
    responder = roster.config.responders.get(responder_id)
    if found is None or responder is None or responder.id not in found[1].responder_ids:
        return False
    conversation, line = found
    previous = conversation.owner
    tx.hand_over(conversation.id, responder.id)
    tx.cancel_timers(conversation.id)
    decision_id = tx.decide(decision(
        DecisionKind.HANDED_OVER, Channel.SMS,
        f"{operator} handed #{conversation.code} to {responder.name}"
        + (f" (was {previous})" if previous else ""), line=line, conversation=conversation,
        responder_id=responder.id))
    body, media = joined_texts(tx.conversation_texts(conversation.id))
    text = message(line, "follow_up", code=conversation.code,
                   customer=display(conversation.customer), body=body, media=list(media))
    send_to_responder(tx, line, conversation, decision_id, responder,
                      f"{text} (handed to you; replies go to the customer)", media,
                      purpose="notice")
    if previous and previous != responder.id and previous in roster.config.responders:
        send_to_responder(tx, line, conversation, decision_id,
                          roster.config.responders[previous],
                          message(line, "taken_by_other", code=conversation.code,
                                  responder=responder.name), purpose="notice")
    send_to_customer(tx, line, conversation, decision_id,
                     message(line, "taken", responder=responder.name))
    return True
