"""A responder's commands beyond ACK and CLOSE: PASS (the next tier now),
HANDOVER (to a named responder), RELEASE (back to the cascade), LIST
(their open conversations) and HELP (the commands). Each takes an
optional code like ACK, is a decision row, and tells whoever it concerns;
the answer to the responder is returned as the text's reply."""

from __future__ import annotations

from ..config import Config, Line, Responder
from ..decisions import Channel, DecisionKind, decision
from ..phone import display
from ..roster import Roster
from ..store import Conversation, Tx
from .commands import CommandHelp, Handover
from .escalation import escalate
from .inbound import Inbound
from .operator import hand_over_to
from .paging import page_conversation
from .returning import back_to_cascade
from .tiers import everyone, next_tier
from .wording import message, names, responder_audience


def _decide(tx: Tx, kind: DecisionKind, reason: str, text: Inbound, responder: Responder,
            conversation: Conversation | None = None, tier: int | None = None) -> int:
    return tx.decide(decision(kind, Channel.SMS, reason, line=text.line, sid=text.message_sid,
                              conversation=conversation, tier=tier,
                              responder_id=responder.id))


def _target(tx: Tx, config: Config, text: Inbound, responder: Responder, code: int | None,
            command: str, *, waiting_too: bool) -> Conversation | str:
    """The conversation a command acts on: #code; else the one they own;
    else (`waiting_too`) the latest paged to them that nobody took. Or the
    answer saying why there is none, logged."""
    line = text.line
    if code is not None:
        conversation = tx.open_conversation_by_code(line.id, code)
        if conversation is None:
            _decide(tx, DecisionKind.COMMAND_REFUSED, f"{command} {code}: no open #{code}",
                    text, responder)
            return message(line, "unknown_code", responder_audience(responder), code=code)
    else:
        owned = tx.owned_conversations(line.id, responder.id)
        conversation = owned[0] if len(owned) == 1 else None
        if not owned and waiting_too:
            conversation = tx.latest_unowned_paged_to(line.id, responder.id)
        if conversation is None:
            _decide(tx, DecisionKind.COMMAND_REFUSED,
                    f"{command} without a code, and they own {len(owned)} conversations",
                    text, responder)
            return message(line, "nothing_to_pass", responder_audience(responder), command=command)
    if conversation.owner not in (None, responder.id):
        owner = config.responders.get(conversation.owner or "")
        owner_name = owner.name if owner else str(conversation.owner)
        _decide(tx, DecisionKind.COMMAND_REFUSED, f"{command}: #{conversation.code} is "
                f"{owner_name}'s", text, responder, conversation)
        return message(line, "already_taken", responder_audience(responder),
                       code=conversation.code, responder=owner_name)
    return conversation


def pass_on(tx: Tx, roster: Roster, text: Inbound, responder: Responder,
            code: int | None) -> str:
    """PASS: the next tier is paged now (at the last tier, everyone else)."""
    target = _target(tx, roster.config, text, responder, code, "PASS", waiting_too=True)
    if isinstance(target, str):
        return target
    upcoming = pass_conversation(tx, roster, text.line, target, responder,
                                 f"{responder.name} texted PASS", text.message_sid)
    return message(text.line, "passed", responder_audience(responder), code=target.code,
                   responder=names(upcoming))


def pass_conversation(tx: Tx, roster: Roster, line: Line, target: Conversation,
                      responder: Responder, why: str, sid: str | None,
                      channel: Channel = Channel.SMS) -> list[Responder]:
    """`responder` passes `target` on (by text, or a key on a phone page):
    the next tier is paged now, or at the last tier everyone else. Returns
    who was paged."""
    owned = tx.release(target.id)
    tx.cancel_timers(target.id)
    conversation = tx.conversation(target.id)
    assert conversation is not None
    why += ", giving up #%d" % target.code if owned else ""
    tx.decide(decision(DecisionKind.PASSED, channel, f"{why}; it goes on now", line=line,
                       sid=sid, conversation=conversation, tier=conversation.tier,
                       responder_id=responder.id))
    if next_tier(line, conversation.tier) is not None:
        return escalate(tx, roster, conversation, why, passed_by=responder.id)
    upcoming = [r for r in everyone(roster.config, line) if r.id != responder.id]
    tx.start_last_call(conversation.id)
    page_conversation(tx, line, conversation, upcoming, conversation.tier, "unanswered",
                      f"{why} at the last tier: everyone else on the line is paged", sid=sid)
    return upcoming


def _named(config: Config, line: Line, typed: str) -> Responder | None:
    """The line's responder whose id or name is `typed` (any case, trailing
    punctuation ignored)."""
    wanted = typed.strip(".,;:!?").casefold()
    for rid in line.responder_ids:
        candidate = config.responders[rid]
        if wanted in (candidate.id.casefold(), candidate.name.casefold()):
            return candidate
    return None


def hand_over(tx: Tx, roster: Roster, text: Inbound, responder: Responder,
              command: Handover) -> str:
    """HANDOVER name [code]: the named responder owns it now."""
    config, line = roster.config, text.line
    to = _named(config, line, command.to)
    if to is None:
        _decide(tx, DecisionKind.COMMAND_REFUSED, f"HANDOVER to {command.to[:40]!r}: no such "
                "responder on the line", text, responder)
        return message(line, "unknown_responder", responder_audience(responder),
                       typed=command.to[:40],
                       names=", ".join(config.responders[rid].name
                                       for rid in line.responder_ids))
    target = _target(tx, config, text, responder, command.code, "HANDOVER", waiting_too=True)
    if isinstance(target, str):
        return target
    hand_over_to(tx, roster, line, target, to, who=f"{responder.name} (by text)", by=responder,
                 sid=text.message_sid)
    return message(line, "handover_confirm", responder_audience(responder),
                   code=target.code, responder=to.name)


def release(tx: Tx, roster: Roster, text: Inbound, responder: Responder,
            code: int | None) -> str:
    """RELEASE [code]: its owner gives it back to the cascade."""
    target = _target(tx, roster.config, text, responder, code, "RELEASE", waiting_too=False)
    if isinstance(target, str):
        return target
    if target.owner != responder.id:
        _decide(tx, DecisionKind.COMMAND_REFUSED, f"RELEASE: #{target.code} is not theirs",
                text, responder, target)
        return message(text.line, "nothing_to_pass", responder_audience(responder),
                       command="RELEASE")
    upcoming = back_to_cascade(tx, roster, target, DecisionKind.RELEASED,
                               f"{responder.name} texted RELEASE", sid=text.message_sid,
                               responder_id=responder.id, leaving=responder)
    return message(text.line, "released_confirm", responder_audience(responder),
                   code=target.code, responder=names(upcoming))


def list_own(tx: Tx, text: Inbound, responder: Responder) -> str:
    """LIST: what they own, and what waits for their ACK."""
    line = text.line
    owned = tx.owned_conversations(line.id, responder.id)
    waiting = tx.unowned_paged_to(line.id, responder.id)
    _decide(tx, DecisionKind.LISTED,
            f"LIST: they own {_codes(owned)}; {_codes(waiting)} wait for an ACK",
            text, responder)
    return message(line, "listed", responder_audience(responder),
                   owned=[{"code": c.code, "customer": display(c.customer)} for c in owned],
                   waiting=[{"code": c.code, "customer": display(c.customer)}
                            for c in waiting])


def _codes(conversations: list[Conversation]) -> str:
    return ", ".join(f"#{c.code}" for c in conversations) or "none"


def command_help(tx: Tx, text: Inbound, responder: Responder, command: CommandHelp) -> str:
    """HELP, or a mistyped command (nothing is relayed): the commands."""
    if command.word:
        _decide(tx, DecisionKind.COMMAND_REFUSED, f"a {command.word} that is no command; "
                "nothing was relayed to a customer, the commands were sent", text, responder)
    else:
        _decide(tx, DecisionKind.LISTED, "HELP: the commands were sent", text, responder)
    return message(text.line, "commands", responder_audience(responder))
