"""Conversations by text: forward, acknowledge, escalate, relay, close.

Every function here runs inside one store transaction (`tx`), so each
decision row is written with the state change it explains and with the
outbox rows it causes. What to do is decided by ivr.routing; this module
reads and writes the state around those decisions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

from .config import Config, Line, Responder
from .decisions import Channel, Decision, DecisionKind
from .phone import display, mask
from .roster import Plan, Roster
from .routing import (Ack, Close, Presence, Reply, customer_keyword, everyone, joined_texts,
                      message, names, next_tier, parse_responder_text, split_sms,
                      tier_responders)
from .store import Conversation, OutboxMessage, Tx

log = logging.getLogger(__name__)

TIMER_BATCH = 50


@dataclass(frozen=True)
class Inbound:
    """A text that arrived at a line."""
    line: Line
    sender: str
    message_sid: str
    body: str
    media: tuple[str, ...]


def _decision(kind: DecisionKind, reason: str, *, line: Line | None = None,
              sid: str | None = None, conversation: Conversation | None = None,
              tier: int | None = None, responder_id: str | None = None) -> Decision:
    return Decision(kind, Channel.SMS, reason, line_id=line.id if line else None, sid=sid,
                    conversation_id=conversation.id if conversation else None, tier=tier,
                    responder_id=responder_id)


# -- sending ------------------------------------------------------------------

def _send_to_responder(tx: Tx, line: Line, conversation: Conversation | None,
                       decision_id: int, responder: Responder, body: str,
                       media: Sequence[str] = (), *, purpose: str,
                       tier: int | None = None) -> None:
    parts = split_sms(body)
    for index, part in enumerate(parts):
        tx.enqueue_sms(decision_id, line.id, conversation.id if conversation else None,
                       to_number=responder.phone, from_number=line.number, body=part,
                       # media rides on the last part, after the words it belongs to
                       media_urls=media if index == len(parts) - 1 else (),
                       purpose=purpose, responder_id=responder.id, tier=tier)


def _send_to_customer(tx: Tx, line: Line, conversation: Conversation, decision_id: int,
                      body: str, media: Sequence[str] = (), *,
                      purpose: str = "customer") -> bool:
    """Queue a text to the customer unless they opted out; says whether it was queued."""
    if tx.is_opted_out(line.id, conversation.customer):
        tx.decide(_decision(
            DecisionKind.SEND_SUPPRESSED, "the customer opted out (STOP); nothing is sent to them",
            line=line, conversation=conversation))
        return False
    for part in split_sms(body):
        tx.enqueue_sms(decision_id, line.id, conversation.id, to_number=conversation.customer,
                       from_number=line.number, body=part, media_urls=media,
                       purpose=purpose)
        media = ()
    return True


def _page(tx: Tx, config: Config, line: Line, conversation: Conversation,
          responders: Sequence[Responder], tier: int, template: str, reason: str,
          sid: str | None = None) -> None:
    """Send the conversation's texts to `responders` with `template`."""
    body, media = joined_texts(tx.conversation_texts(conversation.id))
    text = message(line, template, code=conversation.code, customer=display(conversation.customer),
                   body=body, media=list(media))
    page_responders(tx, line, conversation, responders, tier, text, media, reason, sid)
    tx.mark_forwarded(conversation.id)


def page_responders(tx: Tx, line: Line, conversation: Conversation,
                    responders: Sequence[Responder], tier: int, text: str,
                    media: Sequence[str], reason: str, sid: str | None = None,
                    channel: Channel = Channel.SMS) -> None:
    """Page each responder with `text`: a decision, a page row and the sends."""
    for responder in responders:
        decision_id = tx.decide(Decision(
            DecisionKind.MESSAGE_FORWARDED, channel, reason, line_id=line.id, sid=sid,
            conversation_id=conversation.id, tier=tier, responder_id=responder.id))
        tx.record_page(conversation.id, responder.id, tier)
        _send_to_responder(tx, line, conversation, decision_id, responder, text, media,
                           purpose="page", tier=tier)


def _choose(tx: Tx, roster: Roster, line: Line, start: int, conversation: Conversation,
            sid: str | None = None) -> tuple[int, list[Responder], bool]:
    """The tier to page from `start`, skipping the unavailable. Nobody
    available never means silence: the last tier is always tried."""
    plan = roster.plan(tx, line, line.tiers, start, Channel.SMS, sid, conversation.id)
    if not plan.open:
        mode = line.hours.after_hours if line.hours else "on_call"
        tx.decide(_decision(DecisionKind.AFTER_HOURS,
                            f"{plan.open_reason}: only on-call responders are paged"
                            + (" (calls go to voicemail)" if mode == "voicemail" else ""),
                            line=line, sid=sid, conversation=conversation))
    tier, paged = _paged(roster.config, line, plan)
    if plan.choice.exhausted:
        tx.decide(_decision(DecisionKind.NOBODY_AVAILABLE,
                            f"nobody is available from tier {start + 1} on; the last tier "
                            f"({names(paged)}) is paged anyway", line=line, sid=sid,
                            conversation=conversation, tier=tier))
    return tier, paged, plan.open


def _paged(config: Config, line: Line, plan: Plan) -> tuple[int, list[Responder]]:
    """The tier a plan pages, and who is in it: with nobody available, the last."""
    if plan.choice.exhausted:
        last = len(line.tiers) - 1
        return last, tier_responders(config, line, last)
    return plan.choice.index, [config.responders[rid] for rid in plan.choice.members]


# -- a customer's text ---------------------------------------------------------------

def customer_text(tx: Tx, roster: Roster, text: Inbound) -> str | None:
    """Returns the reply to send back in TwiML, if any."""
    config = roster.config
    line, customer = text.line, text.sender
    keyword = customer_keyword(text.body)
    if keyword == "opt_out":
        tx.set_opted_out(line.id, customer, True)
        conversation = tx.open_conversation_for(line.id, customer)
        tx.decide(_decision(DecisionKind.OPTED_OUT,
                            f"{mask(customer)} texted {text.body.strip().upper()}: no more "
                            "texts are sent to them on this line", line=line,
                            sid=text.message_sid, conversation=conversation))
        # Twilio itself confirms the opt-out to the customer; a reply would be blocked.
        return None
    if keyword == "opt_in":
        tx.set_opted_out(line.id, customer, False)
        tx.decide(_decision(DecisionKind.OPTED_IN,
                            f"{mask(customer)} texted {text.body.strip().upper()}: texts to "
                            "them are allowed again", line=line, sid=text.message_sid))
        return None
    if keyword == "help":
        # Twilio answers HELP itself; on a support line it is also a plea, so
        # it is forwarded like any other text.
        tx.decide(_decision(DecisionKind.HELP_REQUESTED,
                            "HELP is answered by Twilio's help text and also forwarded",
                            line=line, sid=text.message_sid))

    conversation = tx.open_conversation_for(line.id, customer)
    if conversation is None:
        conversation = tx.open_conversation(line.id, customer, origin="sms")
        tx.decide(_decision(DecisionKind.CONVERSATION_OPENED,
                            f"first text from {mask(customer)} with no open conversation;"
                            f" code #{conversation.code}", line=line, sid=text.message_sid,
                            conversation=conversation, tier=0))
        tx.attach_inbound(text.message_sid, conversation.id)
        tier, paged, is_open = _choose(tx, roster, line, 0, conversation, text.message_sid)
        _page(tx, config, line, conversation, paged, tier, "forward",
              f"tier {tier + 1} of {len(line.tiers)} is paged until someone ACKs",
              text.message_sid)
        tx.schedule_timer(conversation.id, tier,
                          tx.now + timedelta(seconds=line.ack_seconds))
        if tx.is_opted_out(line.id, customer):
            return None
        reply = message(line, "ack" if is_open else "ack_after_hours", responder=names(paged))
        tx.decide(_decision(DecisionKind.CUSTOMER_ACKNOWLEDGED,
                            "a new conversation gets the line's ack template", line=line,
                            sid=text.message_sid, conversation=conversation))
        return reply

    tx.attach_inbound(text.message_sid, conversation.id)
    window_ends = _flood_window_end(line, conversation)
    if window_ends is not None and tx.now < window_ends:
        tx.hold_inbound(text.message_sid)
        if not tx.has_pending_timer(conversation.id, "flush"):
            tx.schedule_timer(conversation.id, conversation.tier, window_ends, kind="flush")
        tx.decide(_decision(
            DecisionKind.FLOOD_HELD,
            f"another text from {mask(customer)} within {line.flood_seconds} s of the last "
            f"forward; held and sent with any others at {window_ends:%H:%M:%S} UTC",
            line=line, sid=text.message_sid, conversation=conversation))
        return None
    _forward_follow_up(tx, config, line, conversation, text.body, text.media,
                       text.message_sid, "")
    return None


def without_store(roster: Roster, text: Inbound, now: datetime) -> list[tuple[str | None, str]]:
    """What a text becomes when the store cannot take it: the messages of
    the webhook's TwiML answer as (to, body), `to` None for the sender.
    Twilio does not retry a webhook answered 200, so this answer is the
    text's only way on. A customer's text goes straight to the responders
    the schedules choose (overrides live in the store, so they are not
    known) and the customer gets the usual acknowledgement; a responder
    learns that their text was not processed. Nothing is recorded."""
    config, line = roster.config, text.line
    if config.responder_by_phone(line, text.sender) is not None:
        return [(None, message(line, "reply_unrecorded"))]
    if customer_keyword(text.body) in ("opt_out", "opt_in"):
        return []  # Twilio itself enforces and confirms STOP and START
    try:
        plan = roster.plan_without_store(line, now)
        is_open, (_, paged) = plan.open, _paged(config, line, plan)
    except Exception:  # the schedules failing too must not stop the text
        log.exception("no plan for a text the store could not take; paging the first tier")
        is_open, paged = True, tier_responders(config, line, 0)
    page = message(line, "forward_unrecorded", customer=display(text.sender), body=text.body,
                   media=list(text.media))
    messages: list[tuple[str | None, str]] = [
        (responder.phone, part) for responder in paged for part in split_sms(page)]
    messages.append((None, message(line, "ack" if is_open else "ack_after_hours",
                                   responder=names(paged))))
    return messages


def _flood_window_end(line: Line, conversation: Conversation):
    if not line.flood_seconds or not conversation.last_forward_at:
        return None
    return _parse(conversation.last_forward_at) + timedelta(seconds=line.flood_seconds)


def _forward_follow_up(tx: Tx, config: Config, line: Line, conversation: Conversation,
                       body: str, media: Sequence[str], sid: str | None,
                       note: str) -> None:
    """A follow-up goes to the owner, or joins the page to the current tier."""
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
    text = message(line, template, code=code, customer=who, body=body, media=list(media))
    for responder in recipients:
        decision_id = tx.decide(_decision(DecisionKind.FOLLOW_UP_FORWARDED, why + note,
                                          line=line, sid=sid, conversation=conversation,
                                          tier=tier, responder_id=responder.id))
        _send_to_responder(tx, line, conversation, decision_id, responder, text, media,
                           purpose="page" if tier is not None else "relay", tier=tier)
    tx.mark_forwarded(conversation.id)


def flush_held(tx: Tx, roster: Roster, conversation: Conversation) -> None:
    """The flood window closed: what it held goes out as one message."""
    line = roster.config.lines.get(conversation.line_id)
    held = tx.conversation_texts(conversation.id, held_only=True)
    if line is None or not held or conversation.status != "open":
        return
    body, media = joined_texts(held)
    _forward_follow_up(tx, roster.config, line, conversation, body, media, None,
                       f"; {len(held)} text(s) held by the flood window, sent together")


# -- a responder's text ------------------------------------------------------------

def responder_text(tx: Tx, roster: Roster, text: Inbound,
                   responder: Responder) -> str | None:
    """Returns the reply to the responder (TwiML), or None."""
    config = roster.config
    command = parse_responder_text(text.body)
    if isinstance(command, Presence):
        return _presence(tx, roster, text, responder, command.on)
    if isinstance(command, Ack):
        return _ack(tx, config, text, responder, command.code)
    if isinstance(command, Close):
        return _close(tx, roster, text, responder, command.code)
    return _relay(tx, config, text, responder, command)


def _presence(tx: Tx, roster: Roster, text: Inbound, responder: Responder,
              on: bool) -> str:
    status, until = roster.set_own_availability(tx, responder, on)
    local_until = (f"{until.astimezone(responder.schedule.tz):%a %d %b %H:%M}"
                   if until else None)
    word = "ON" if on else "OFF"
    tx.decide(_decision(DecisionKind.AVAILABILITY_CHANGED,
                        f"{responder.name} texted {word}: {status.replace('_', ' ')} "
                        f"until {local_until or 'they text again'}", line=text.line,
                        sid=text.message_sid, responder_id=responder.id))
    return message(text.line, "availability", status=status.replace("_", " "), until=local_until)


def _ack(tx: Tx, config: Config, text: Inbound, responder: Responder,
         code: int | None) -> str:
    line = text.line
    if code is None:
        conversation = tx.latest_unowned_paged_to(line.id, responder.id)
        if conversation is None:
            tx.decide(_decision(DecisionKind.ACK_REFUSED,
                                "ACK with nothing unacknowledged paged to them", line=line,
                                sid=text.message_sid, responder_id=responder.id))
            return message(line, "nothing_to_ack")
    else:
        conversation = tx.open_conversation_by_code(line.id, code)
        if conversation is None:
            tx.decide(_decision(DecisionKind.ACK_REFUSED, f"ACK {code}: no open #{code}",
                                line=line, sid=text.message_sid, responder_id=responder.id))
            return message(line, "unknown_code", code=code)
    if conversation.owner == responder.id:
        return message(line, "ack_confirm", code=conversation.code)
    paged = tx.paged_responders(conversation.id)
    if conversation.owner is not None or not tx.take(conversation.id, responder.id):
        owner = config.responders.get(conversation.owner or "")
        owner_name = owner.name if owner else (conversation.owner or "someone")
        tx.decide(_decision(DecisionKind.ACK_REFUSED,
                            f"#{conversation.code} is already taken by {owner_name}",
                            line=line, sid=text.message_sid, conversation=conversation,
                            responder_id=responder.id))
        return message(line, "already_taken", code=conversation.code, responder=owner_name)

    cancelled = tx.cancel_timers(conversation.id)
    waited = int((tx.now - _parse(conversation.opened_at)).total_seconds())
    tx.observe("time_to_ack", waited, line=line.id)
    decision_id = tx.decide(_decision(
        DecisionKind.ACKNOWLEDGED,
        f"{responder.name} replied ACK after {waited} s; {cancelled} timer(s) cancelled",
        line=line, sid=text.message_sid, conversation=conversation, tier=conversation.tier,
        responder_id=responder.id))
    _send_to_customer(tx, line, conversation, decision_id,
                      message(line, "taken", responder=responder.name))
    notice = message(line, "taken_by_other", code=conversation.code, responder=responder.name)
    for other_id in paged:
        other = config.responders.get(other_id)
        if other is not None and other.id != responder.id:
            _send_to_responder(tx, line, conversation, decision_id, other, notice,
                               purpose="notice")
    return message(line, "ack_confirm", code=conversation.code)


def _close(tx: Tx, roster: Roster, text: Inbound, responder: Responder,
           code: int | None) -> str:
    config = roster.config
    line = text.line
    if code is None:
        owned = tx.owned_conversations(line.id, responder.id)
        if len(owned) != 1:
            return _help(tx, line, text, responder, owned)
        conversation: Conversation | None = owned[0]
    else:
        conversation = tx.open_conversation_by_code(line.id, code)
    if conversation is None:
        return message(line, "unknown_code", code=code)
    if conversation.owner not in (None, responder.id):
        owner = config.responders.get(conversation.owner or "")
        return message(line, "already_taken", code=conversation.code,
                       responder=owner.name if owner else "someone")
    _close_conversation(tx, roster, conversation)
    decision_id = tx.decide(_decision(DecisionKind.CLOSED,
                                      f"{responder.name} closed #{conversation.code}",
                                      line=line, sid=text.message_sid,
                                      conversation=conversation, responder_id=responder.id))
    _send_to_customer(tx, line, conversation, decision_id, message(line, "closed"))
    return message(line, "close_confirm", code=conversation.code)


def _relay(tx: Tx, config: Config, text: Inbound, responder: Responder,
           reply: Reply) -> str | None:
    line = text.line
    owned = tx.owned_conversations(line.id, responder.id)
    by_code = {c.code: c for c in owned}
    if reply.code is not None and reply.code in by_code:
        target, body = by_code[reply.code], reply.rest
    elif len(owned) == 1:
        target, body = owned[0], reply.text
    else:
        return _help(tx, line, text, responder, owned)
    if tx.is_opted_out(line.id, target.customer):
        tx.decide(_decision(DecisionKind.SEND_SUPPRESSED,
                            "the customer opted out (STOP); the reply was not sent",
                            line=line, sid=text.message_sid, conversation=target,
                            responder_id=responder.id))
        return message(line, "opted_out", code=target.code)
    decision_id = tx.decide(_decision(
        DecisionKind.RELAYED_TO_CUSTOMER,
        f"{responder.name} owns #{target.code}; sent from the line's number", line=line,
        sid=text.message_sid, conversation=target, responder_id=responder.id))
    _send_to_customer(tx, line, target, decision_id, body, text.media, purpose="relay")
    return None


def _help(tx: Tx, line: Line, text: Inbound, responder: Responder,
          owned: Sequence[Conversation]) -> str:
    codes = [c.code for c in owned]
    tx.decide(_decision(DecisionKind.RESPONDER_HELP,
                        f"a reply that names no conversation; they own "
                        f"{', '.join(f'#{c}' for c in codes) or 'none'}", line=line,
                        sid=text.message_sid, responder_id=responder.id))
    if not codes:
        return message(line, "nothing_owned")
    return message(line, "help", codes=codes)


# -- escalation ------------------------------------------------------------------

def escalate(tx: Tx, roster: Roster, conversation: Conversation, why: str) -> None:
    """Page the next tier with someone available (or, after the last, everyone once more)."""
    config = roster.config
    line = config.lines.get(conversation.line_id)
    if line is None:
        tx.decide(Decision(DecisionKind.UNANSWERED, Channel.SMS,
                           f"{why}; line {conversation.line_id!r} is no longer configured",
                           line_id=conversation.line_id, conversation_id=conversation.id))
        return
    following = next_tier(line, conversation.tier)
    if following is None:
        tx.decide(_decision(DecisionKind.UNANSWERED,
                            f"{why} at the last tier; everyone on the line is paged once "
                            "more and the cascade stops", line=line,
                            conversation=conversation, tier=conversation.tier))
        _page(tx, config, line, conversation, everyone(config, line), conversation.tier,
              "unanswered", "last call: nobody has taken it")
        return

    previously = tx.paged_responders(conversation.id)
    following, upcoming, _ = _choose(tx, roster, line, following, conversation)
    tx.set_tier(conversation.id, following)
    decision_id = tx.decide(_decision(
        DecisionKind.ESCALATED, f"{why}; tier {following + 1} ({names(upcoming)}) is paged",
        line=line, conversation=conversation, tier=following))
    _page(tx, config, line, conversation, upcoming, following, "forward",
          f"tier {following + 1} of {len(line.tiers)}: {why}")
    tx.schedule_timer(conversation.id, following,
                      tx.now + timedelta(seconds=line.ack_seconds))
    notice = message(line, "moved_on", code=conversation.code, responder=names(upcoming))
    for rid in previously:
        responder = config.responders.get(rid)
        if responder is not None and responder not in upcoming:
            _send_to_responder(tx, line, conversation, decision_id, responder, notice,
                               purpose="notice")
    _send_to_customer(tx, line, conversation, decision_id,
                      message(line, "escalation", responder=names(upcoming)))


def fire_due_timers(tx: Tx, roster: Roster, limit: int = TIMER_BATCH) -> int:
    config = roster.config
    timers = tx.claim_due_timers(limit)
    for timer in timers:
        conversation = tx.conversation(timer.conversation_id)
        if timer.kind == "flush":
            if conversation is not None:
                flush_held(tx, roster, conversation)
            continue
        if conversation is None or conversation.status != "open" or conversation.owner:
            continue  # taken or closed since; the ACK cancelled it in the same transaction
        if conversation.tier != timer.tier:
            continue  # escalated early (a failed delivery) and a newer timer exists
        line = config.lines.get(conversation.line_id)
        seconds = line.ack_seconds if line else 0
        escalate(tx, roster, conversation, f"nobody replied ACK within {seconds} s")
    return len(timers)


FAILED_DELIVERY = frozenset({"failed", "undelivered"})


def delivery_reported(tx: Tx, roster: Roster, sent: OutboxMessage, message_sid: str,
                      status: str, error_code: str | None) -> None:
    """Twilio reported `status` for a text we sent: a failed delivery is
    logged, and a page that failed escalates now."""
    if status not in FAILED_DELIVERY:
        return
    why = (f"Twilio reports {status} (ErrorCode {error_code or 'none'}) for the "
           f"text to {sent.responder_id or mask(sent.to_number)}")
    tx.decide(Decision(DecisionKind.DELIVERY_FAILED, Channel.SMS, why,
                       line_id=sent.line_id, sid=message_sid,
                       conversation_id=sent.conversation_id, tier=sent.tier,
                       responder_id=sent.responder_id))
    page_failed(tx, roster, sent, why)


def page_failed(tx: Tx, roster: Roster, sent: OutboxMessage, why: str) -> None:
    """A page that can never arrive escalates now instead of at the timeout."""
    if sent.purpose != "page" or sent.conversation_id is None:
        return
    conversation = tx.conversation(sent.conversation_id)
    if (conversation is None or conversation.status != "open" or conversation.owner
            or conversation.tier != sent.tier):
        return
    tx.cancel_timers(conversation.id)
    escalate(tx, roster, conversation, why)


def _parse(text: str):
    from .clock import from_text
    return from_text(text)


def _close_conversation(tx: Tx, roster: Roster, conversation: Conversation) -> None:
    """Close, first sending anything the flood window still holds."""
    flush_held(tx, roster, conversation)
    tx.close_conversation(conversation.id)
    tx.cancel_timers(conversation.id)
    tx.cancel_timers(conversation.id, kind="flush")


# -- an operator, from the dashboard -------------------------------------------------

def operator_close(tx: Tx, roster: Roster, conversation_id: int, operator: str) -> bool:
    conversation = tx.conversation(conversation_id)
    line = roster.config.lines.get(conversation.line_id) if conversation else None
    if conversation is None or line is None or conversation.status != "open":
        return False
    _close_conversation(tx, roster, conversation)
    decision_id = tx.decide(_decision(
        DecisionKind.CLOSED, f"{operator} closed #{conversation.code} from the dashboard",
        line=line, conversation=conversation))
    _send_to_customer(tx, line, conversation, decision_id, message(line, "closed"))
    return True


def operator_hand_over(tx: Tx, roster: Roster, conversation_id: int, responder_id: str,
                       operator: str) -> bool:
    conversation = tx.conversation(conversation_id)
    line = roster.config.lines.get(conversation.line_id) if conversation else None
    responder = roster.config.responders.get(responder_id)
    if (conversation is None or line is None or responder is None
            or conversation.status != "open" or responder.id not in line.responder_ids):
        return False
    previous = conversation.owner
    tx.hand_over(conversation.id, responder.id)
    tx.cancel_timers(conversation.id)
    decision_id = tx.decide(_decision(
        DecisionKind.HANDED_OVER,
        f"{operator} handed #{conversation.code} to {responder.name}"
        + (f" (was {previous})" if previous else ""), line=line, conversation=conversation,
        responder_id=responder.id))
    body, media = joined_texts(tx.conversation_texts(conversation.id))
    text = message(line, "follow_up", code=conversation.code,
                   customer=display(conversation.customer), body=body, media=list(media))
    _send_to_responder(tx, line, conversation, decision_id, responder,
                       f"{text} (handed to you; replies go to the customer)", media,
                       purpose="notice")
    if previous and previous != responder.id and previous in roster.config.responders:
        _send_to_responder(tx, line, conversation, decision_id,
                           roster.config.responders[previous],
                           message(line, "taken_by_other", code=conversation.code,
                                   responder=responder.name), purpose="notice")
    _send_to_customer(tx, line, conversation, decision_id,
                      message(line, "taken", responder=responder.name))
    return True
