"""A missed call: nobody took it and no message was left (the caller hung
up in the menu, while a tier rang or during the voicemail prompt, the
recording is empty or absent, or the caller pressed the text-back key at
the voicemail prompt: ivr.voice.voicemail_prompt).

It becomes a conversation as a voicemail does (origin 'voicemail'; the
decision kind `missed_call` says which): every responder of the line is
paged "missed call from ... at ..." with an ACK deadline at the last tier,
and the caller is texted from the line inviting a reply (unless they
opted out), so the owner's replies relay as for any text. A conversation
someone already owns goes to its owner only. A caller with no number
cannot be texted: every responder gets a notice and nothing opens.

Once per call, whichever of the Dial action, the status callback, the
Record action and the recording callback reports it first; never after a
voicemail was left."""

from __future__ import annotations

from datetime import timedelta

from ..config import Line
from ..conversations.opening import open_or_join
from ..conversations.paging import page_responders
from ..conversations.sending import send_to_customer, send_to_responder
from ..conversations.tiers import everyone
from ..conversations.wording import message, words
from ..decisions import Channel, DecisionKind, decision
from ..local_time import clock_time
from ..phone import display, mask, try_normalise
from ..services import Services
from ..store import Conversation, Tx
from .voicemail_without_number import notify_everyone

# Where a call was when the caller hung up, as the status callback found it.
UNANSWERED_STATES = {"menu": "in the menu", "ringing": "while a tier rang"}


def recording_is_empty(status: str, duration: int, url: str) -> bool:
    """Nothing to hear: the same rule voicemail.recording_arrived applies."""
    return status != "completed" or duration <= 0 or not url.startswith("https://")


def can_text_back(svc: Services, caller: str) -> bool:
    number = try_normalise(caller)
    return number is not None and number == caller and svc.config.line_for_number(number) is None


def call_missed(tx: Tx, svc: Services, line: Line, call_sid: str, why: str,
                page: str = "missed_call_page", note: str = "missed_call_note") -> None:
    """`page` and `note` name the templates responders read (a caller who
    asked to be texted back reads differently from one who hung up)."""
    call = tx.call(call_sid)
    if (call is None or call.connected_to
            or tx.has_decision(call_sid, DecisionKind.MISSED_CALL)
            or tx.has_decision(call_sid, DecisionKind.VOICEMAIL_RECEIVED)):
        return
    when = clock_time(tx.now, line.policy.zone)
    if not can_text_back(svc, call.caller):
        notify_everyone(tx, svc, line, call_sid, DecisionKind.MISSED_CALL,
                        f"{why}: a missed call from a caller with no number; every responder "
                        "is texted, nothing can reach the caller",
                        words(line, "missed_call_page_no_number", time=when))
        return
    conversation, _ = open_or_join(tx, line, call.caller, origin="voicemail",
                                   channel=Channel.VOICE, sid=call_sid,
                                   why=f"a missed call from {mask(call.caller)}", tier=None,
                                   bookings=svc.roster.bookings, language=call.language)
    note_text = message(line, note, time=when)
    # Kept as the conversation's text, so later pages and hand-overs show it.
    tx.record_inbound(f"{call_sid}-missed", line.id, call.caller, note_text, ())
    tx.attach_inbound(f"{call_sid}-missed", conversation.id)
    decision_id = tx.decide(decision(
        DecisionKind.MISSED_CALL, Channel.VOICE,
        f"{why}: nobody took the call and no message was left; "
        + ("its owner is told" if conversation.owner else "every responder is paged")
        + " and the caller is texted to reply", line=line, sid=call_sid,
        conversation=conversation))
    if conversation.owner:
        _tell_owner(tx, svc, line, conversation, decision_id, note_text)
    else:
        _page_everyone(tx, svc, line, conversation, call_sid, when, page)
    send_to_customer(tx, line, conversation, decision_id, words(line, "missed_call_text"))


def _tell_owner(tx: Tx, svc: Services, line: Line, conversation: Conversation,
                decision_id: int, note: str) -> None:
    owner = svc.config.responders.get(conversation.owner or "")
    if owner is not None:
        send_to_responder(tx, line, conversation, decision_id, owner,
                          words(line, "follow_up", code=conversation.code,
                                customer=display(conversation.customer), body=note,
                                media=[]), purpose="relay")


def _page_everyone(tx: Tx, svc: Services, line: Line, conversation: Conversation,
                   call_sid: str, when: str, template: str) -> None:
    # Everyone may be rung already, and a call is urgent: as for a voicemail,
    # the conversation starts at the last tier and pages the whole line.
    last = len(line.tiers) - 1
    tx.set_tier(conversation.id, last)
    tx.cancel_timers(conversation.id)
    tx.schedule_timer(conversation.id, last, tx.now + timedelta(seconds=line.ack_seconds))
    text = words(line, template, code=conversation.code,
                 customer=display(conversation.customer), time=when)
    page_responders(tx, line, conversation, everyone(svc.config, line), last, text, (),
                    "a missed call goes to every responder", sid=call_sid,
                    channel=Channel.VOICE)


def after_dial(tx: Tx, svc: Services, line: Line, call_sid: str) -> None:
    """After a Dial action: a caller who hung up while it rang missed it."""
    call = tx.call(call_sid)
    if call is not None and call.status == "ended" and not call.connected_to:
        call_missed(tx, svc, line, call_sid,
                    f"the caller hung up while tier {call.tier + 1} rang")
