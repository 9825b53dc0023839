"""A responder's text: OFF/ON, ACK (take a conversation), CLOSE, the
commands of responder_commands (PASS, HANDOVER, RELEASE, LIST, HELP), or
a reply relayed to the customer from the line's number."""

from __future__ import annotations

from typing import Sequence

from ..config import Config, Responder
from ..decisions import Channel, DecisionKind, decision
from ..roster import Roster
from ..store import Conversation, Tx
from . import responder_commands
from .blocking import block_by_text
from .closing import close_conversation, tell_closed
from .commands import (
    Ack,
    Block,
    Close,
    CommandHelp,
    Handover,
    ListOwn,
    Pass,
    Presence,
    Release,
    Reply,
    parse_responder_text,
)
from .inbound import Inbound
from .sending import send_to_customer
from .taking import take
from .wording import message, responder_audience, words


def responder_text(tx: Tx, roster: Roster, text: Inbound,
                   responder: Responder) -> str | None:
    """Returns the reply to the responder (TwiML), or None."""
    tx.clear_unreachable(responder.phone)  # their phone texts: it can take texts too
    command = parse_responder_text(text.body)
    if isinstance(command, Presence):
        return _presence(tx, roster, text, responder, command.on)
    if isinstance(command, Ack):
        return _ack(tx, roster.config, text, responder, command.code)
    if isinstance(command, Close):
        return _close(tx, roster, text, responder, command.code)
    if isinstance(command, Block):
        return block_by_text(tx, roster, text, responder, command.code)
    if isinstance(command, Reply):
        return _relay(tx, text, responder, command)
    return _other_command(tx, roster, text, responder, command)


def _other_command(tx: Tx, roster: Roster, text: Inbound, responder: Responder,
                   command: Pass | Handover | Release | ListOwn | CommandHelp) -> str:
    if isinstance(command, Pass):
        return responder_commands.pass_on(tx, roster, text, responder, command.code)
    if isinstance(command, Handover):
        return responder_commands.hand_over(tx, roster, text, responder, command)
    if isinstance(command, Release):
        return responder_commands.release(tx, roster, text, responder, command.code)
    if isinstance(command, ListOwn):
        return responder_commands.list_own(tx, text, responder)
    return responder_commands.command_help(tx, text, responder, command)


def _decide(tx: Tx, kind: DecisionKind, reason: str, text: Inbound, responder: Responder,
            conversation: Conversation | None = None, tier: int | None = None) -> int:
    return tx.decide(decision(kind, Channel.SMS, reason, line=text.line, sid=text.message_sid,
                              conversation=conversation, tier=tier,
                              responder_id=responder.id))


def _presence(tx: Tx, roster: Roster, text: Inbound, responder: Responder,
              on: bool) -> str:
    status, until = roster.set_own_availability(tx, responder, on)
    local_until = (f"{until.astimezone(responder.schedule.tz):%a %d %b %H:%M}"
                   if until else None)
    word = "ON" if on else "OFF"
    _decide(tx, DecisionKind.AVAILABILITY_CHANGED,
            f"{responder.name} texted {word}: {status.replace('_', ' ')} "
            f"until {local_until or 'they text again'}", text, responder)
    return message(text.line, "availability", responder_audience(responder),
                   status=status.replace("_", " "), until=local_until)


def _owner_name(config: Config, conversation: Conversation) -> str:
    owner = config.responders.get(conversation.owner or "")
    # An owner no longer in the config is shown by their id: no English word.
    return owner.name if owner else str(conversation.owner or "")


def _ack_target(tx: Tx, text: Inbound, responder: Responder,
                code: int | None) -> Conversation | str:
    """The conversation an ACK takes, or the reply saying there is none."""
    line = text.line
    if code is None:
        conversation = tx.latest_unowned_paged_to(line.id, responder.id)
        if conversation is None:
            _decide(tx, DecisionKind.ACK_REFUSED,
                    "ACK with nothing unacknowledged paged to them", text, responder)
            return message(line, "nothing_to_ack", responder_audience(responder))
        return conversation
    conversation = tx.open_conversation_by_code(line.id, code)
    if conversation is None:
        _decide(tx, DecisionKind.ACK_REFUSED, f"ACK {code}: no open #{code}", text, responder)
        return message(line, "unknown_code", responder_audience(responder), code=code)
    return conversation


def _ack(tx: Tx, config: Config, text: Inbound, responder: Responder,
         code: int | None) -> str:
    line = text.line
    conversation = _ack_target(tx, text, responder, code)
    if isinstance(conversation, str):
        return conversation
    if conversation.owner == responder.id:
        return message(line, "ack_confirm", responder_audience(responder), code=conversation.code)
    if not take(tx, config, line, conversation, responder, "replied ACK", text.message_sid):
        owner_name = _owner_name(config, conversation)
        _decide(tx, DecisionKind.ACK_REFUSED,
                f"#{conversation.code} is already taken by {owner_name}", text, responder,
                conversation)
        return message(line, "already_taken", responder_audience(responder),
                       code=conversation.code, responder=owner_name)
    return message(line, "ack_confirm", responder_audience(responder), code=conversation.code)


def _close(tx: Tx, roster: Roster, text: Inbound, responder: Responder,
           code: int | None) -> str:
    line = text.line
    if code is None:
        owned = tx.owned_conversations(line.id, responder.id)
        if len(owned) != 1:
            return _help(tx, text, responder, owned)
        conversation: Conversation | None = owned[0]
    else:
        conversation = tx.open_conversation_by_code(line.id, code)
    if conversation is None:
        return message(line, "unknown_code", responder_audience(responder), code=code)
    if conversation.owner not in (None, responder.id):
        return message(line, "already_taken", responder_audience(responder),
                       code=conversation.code,
                       responder=_owner_name(roster.config, conversation))
    concerned = close_conversation(tx, roster, conversation)
    decision_id = _decide(tx, DecisionKind.CLOSED,
                          f"{responder.name} closed #{conversation.code}", text, responder,
                          conversation)
    send_to_customer(tx, line, conversation, decision_id, words(line, "closed"))
    tell_closed(tx, roster, line, conversation, decision_id, concerned, by=responder.name,
                closer_id=responder.id)
    return message(line, "close_confirm", responder_audience(responder), code=conversation.code)


def _relay(tx: Tx, text: Inbound, responder: Responder, reply: Reply) -> str | None:
    line = text.line
    owned = tx.owned_conversations(line.id, responder.id)
    by_code = {c.code: c for c in owned}
    if reply.code is not None and reply.code in by_code:
        target, body = by_code[reply.code], reply.rest
    elif len(owned) == 1:
        target, body = owned[0], reply.text
    else:
        return _help(tx, text, responder, owned)
    if tx.is_opted_out(line.id, target.customer):
        _decide(tx, DecisionKind.SEND_SUPPRESSED,
                "the customer opted out (STOP); the reply was not sent", text, responder,
                target)
        return message(line, "opted_out", responder_audience(responder), code=target.code)
    decision_id = _decide(
        tx, DecisionKind.RELAYED_TO_CUSTOMER,
        f"{responder.name} owns #{target.code}; sent from the line's number", text, responder,
        target)
    send_to_customer(tx, line, target, decision_id, body, text.media, purpose="relay")
    return None


def _help(tx: Tx, text: Inbound, responder: Responder,
          owned: Sequence[Conversation]) -> str:
    codes = [c.code for c in owned]
    _decide(tx, DecisionKind.RESPONDER_HELP,
            f"a reply that names no conversation; they own "
            f"{', '.join(f'#{c}' for c in codes) or 'none'}", text, responder)
    if not codes:
        return message(text.line, "nothing_owned", responder_audience(responder))
    return message(text.line, "help", responder_audience(responder), codes=codes)
