"""What an operator does from the dashboard: close a conversation, or
hand it to a responder. Both are logged and the people concerned told.
`hand_over_to` is the hand-over itself, shared with a responder's
HANDOVER text (responder_commands.py)."""

from __future__ import annotations

from ..config import Line, Responder
from ..decisions import Channel, DecisionKind, decision
from ..phone import display
from ..roster import Roster
from ..store import Conversation, Tx
from .closing import close_conversation, tell_closed
from .sending import send_to_customer, send_to_responder
from .wording import joined_texts, message, words

# A hand-over's reason starts with who did it, then this: handed_by reads it back.
HANDED = " handed"


def handed_by(reason: str) -> str:
    """Who handed it over, from a `handed_over` decision's reason."""
    return reason.split(HANDED + " #", 1)[0]


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
    concerned = close_conversation(tx, roster, conversation)
    decision_id = tx.decide(decision(
        DecisionKind.CLOSED, Channel.SMS,
        f"{operator} closed #{conversation.code} from the dashboard",
        line=line, conversation=conversation))
    send_to_customer(tx, line, conversation, decision_id, words(line, "closed"))
    tell_closed(tx, roster, line, conversation, decision_id, concerned, by=operator,
                dashboard=True)
    return True


def operator_hand_over(tx: Tx, roster: Roster, conversation_id: int, responder_id: str,
                       operator: str) -> bool:
    found = _open_conversation(tx, roster, conversation_id)
    responder = roster.config.responders.get(responder_id)
    if found is None or responder is None or responder.id not in found[1].responder_ids:
        return False
    conversation, line = found
    hand_over_to(tx, roster, line, conversation, responder, who=operator)
    return True


def hand_over_to(tx: Tx, roster: Roster, line: Line, conversation: Conversation,
                 responder: Responder, *, who: str, by: Responder | None = None,
                 sid: str | None = None) -> None:
    """Make `responder` the owner, whoever had it: they get the conversation,
    the customer hears who is on it, and the previous owner and those paged
    for it hear who took it (except `by`, a responder who handed it over
    by text and is answered directly)."""
    previous = conversation.owner
    paged = tx.paged_responders(conversation.id)  # read before hand_over settles them
    tx.hand_over(conversation.id, responder.id)
    tx.cancel_timers(conversation.id)
    decision_id = tx.decide(decision(
        DecisionKind.HANDED_OVER, Channel.SMS,
        f"{who}{HANDED} #{conversation.code} to {responder.name}"
        + (f" (was {previous})" if previous else ""), line=line, sid=sid,
        conversation=conversation, responder_id=responder.id))
    body, media = joined_texts(tx.conversation_texts(conversation.id),
                               message(line, "no_text"))
    send_to_responder(tx, line, conversation, decision_id, responder,
                      words(line, "handed_to_you", code=conversation.code,
                            customer=display(conversation.customer), body=body,
                            media=list(media), by=by.name if by else None),
                      media, purpose="notice")
    notice = words(line, "taken_by_other", code=conversation.code, responder=responder.name)
    told = {responder.id, by.id if by else ""}
    for other_id in ([previous] if previous else []) + paged:
        other = roster.config.responders.get(other_id)
        if other is not None and other.id not in told:
            told.add(other.id)
            send_to_responder(tx, line, conversation, decision_id, other, notice,
                              purpose="notice")
    send_to_customer(tx, line, conversation, decision_id,
                     words(line, "taken", responder=responder.name))
