"""Phone pages: a responder paged by text who has not ACKed is phoned
(`page_call_after_seconds` after the text, `page_calls` times). The call
says who is waiting and what they wrote; 1 takes it (as ACK does), 2
passes it on (as PASS does), 3 says it again. A call answered by
voicemail, or with no key pressed, takes nothing: the cascade goes on.

Each call is a row (store/page_calls.py) with a due time, claimed by
whichever instance is alive (ivr/phone_pager.py places it), and each step
is a decision row. A call due for a conversation that was taken, closed
or moved on to another tier meanwhile is skipped, not placed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ..config import Config, Line, Responder
from ..decisions import Channel, DecisionKind, decision
from ..phone import display
from ..roster import Roster
from ..speech import Spoken, responder_speaker, unknown_line
from ..store import Conversation, Tx
from ..store.rows import PageCall
from .responder_commands import pass_conversation
from .returning import back_to_cascade
from .taking import take
from .wording import joined_texts, names


@dataclass(frozen=True)
class CallToPlace:
    page_call_id: int
    to: str
    from_: str


@dataclass(frozen=True)
class Answer:
    """What the responder hears next; with `keys`, the keys to press follow
    and a key is waited for, else the call ends."""
    words: Spoken
    keys: Spoken | None = None


def _why_not(config: Config, call: PageCall, conversation: Conversation | None) -> str | None:
    """Why a due call is no longer wanted, or None."""
    responder = config.responders.get(call.responder_id)
    if conversation is None or conversation.status != "open":
        return "the conversation is closed"
    if call.purpose == "owner":
        if conversation.owner != call.responder_id:
            return "it is no longer theirs"
    elif conversation.owner is not None:
        owner = config.responders.get(conversation.owner)
        return f"{owner.name if owner else conversation.owner} has taken it"
    elif conversation.tier != call.tier:
        return f"it has moved on to tier {conversation.tier + 1}"
    if call.line_id not in config.lines or responder is None or not responder.phone_pages:
        return "the responder is no longer phoned on this line"
    return None


def claim_calls_to_place(tx: Tx, config: Config, limit: int,
                         lease: timedelta) -> list[CallToPlace]:
    """Claim the due calls; those still wanted are returned to be placed."""
    ready = []
    for call in tx.claim_due_page_calls(limit, lease):
        conversation = tx.conversation(call.conversation_id)
        why_not = _why_not(config, call, conversation)
        if why_not is not None:
            tx.update_page_call(call.id, status="skipped", error=why_not, claimed_until=None,
                                ended_at=tx.now_text)
            tx.decide(decision(DecisionKind.PAGE_CALL_SKIPPED, Channel.VOICE,
                               f"{call.responder_id} is not phoned: {why_not}",
                               line=call.line_id, conversation=call.conversation_id,
                               tier=call.tier, responder_id=call.responder_id))
            continue
        assert conversation is not None
        line = config.lines[call.line_id]
        responder = config.responders[call.responder_id]
        about = (f"a text to them about #{conversation.code} failed" if call.purpose == "owner"
                 else f"(call {call.attempt} of {line.policy.page_calls}): nobody has taken "
                      f"#{conversation.code}")
        tx.decide(decision(DecisionKind.PAGE_CALL_PLACED, Channel.VOICE,
                           f"{responder.name} is phoned {about}", line=line,
                           conversation=conversation, tier=call.tier, responder_id=responder.id))
        ready.append(CallToPlace(call.id, responder.phone, line.number))
    return ready


def call_placed(tx: Tx, page_call_id: int, call_sid: str) -> None:
    tx.update_page_call(page_call_id, status="placed", call_sid=call_sid, claimed_until=None)


def call_refused(tx: Tx, roster: Roster, page_call_id: int, error: str) -> None:
    """Twilio would not place it. Not tried again: the text page stands and
    the cascade goes on at its time, so a failing call adds no sends (an
    owner's call goes back to the cascade at once)."""
    call = tx.page_call(page_call_id)
    if call is None:
        return
    tx.update_page_call(page_call_id, status="failed", error=error[:500], claimed_until=None,
                        ended_at=tx.now_text)
    tx.decide(decision(DecisionKind.PAGE_CALL_FAILED, Channel.VOICE,
                       f"the call to {call.responder_id} was refused: {error[:200]}"
                       + ("" if call.purpose == "owner" else "; the text page stands"),
                       line=call.line_id, conversation=call.conversation_id, tier=call.tier,
                       responder_id=call.responder_id))
    _owner_unreached(tx, roster, call, "the call was refused")


def phone_owner_first(tx: Tx, roster: Roster, conversation: Conversation, responder_id: str,
                      why: str) -> bool:
    """A text relayed to the owner failed: they are phoned now, if the line
    phones and they may be, before the conversation goes back to the
    cascade. Whether a call is under way (a new one, or one already ringing)."""
    line = roster.config.lines.get(conversation.line_id)
    owner = roster.config.responders.get(responder_id)
    if line is None or owner is None or line.policy.page_call_after is None \
            or not owner.phone_pages:
        return False
    if tx.owner_call_open(conversation.id):
        return True
    tx.schedule_page_call(conversation.id, line.id, owner.id, conversation.tier, 1, tx.now,
                          purpose="owner")
    tx.decide(decision(DecisionKind.OWNER_PHONED, Channel.VOICE,
                       f"{why}; {owner.name} is phoned before it goes back to the cascade",
                       line=line, conversation=conversation, tier=conversation.tier,
                       responder_id=owner.id))
    return True


def _owner_unreached(tx: Tx, roster: Roster, call: PageCall, how: str) -> None:
    """An owner's call that took nothing: back to the cascade, as a failed
    forward without a call goes."""
    if call.purpose != "owner":
        return
    conversation = tx.conversation(call.conversation_id)
    if conversation is None or conversation.status != "open" \
            or conversation.owner != call.responder_id:
        return
    back_to_cascade(tx, roster, conversation, DecisionKind.RETURNED_TO_CASCADE,
                    f"a text relayed to its owner {call.responder_id} failed and {how}",
                    responder_id=call.responder_id)


def _waiting(tx: Tx, config: Config, call: PageCall | None
             ) -> tuple[Line, Conversation, Responder] | Answer:
    """The line, conversation and responder a call is about, or what to say
    when it is no longer waiting for them."""
    conversation = tx.conversation(call.conversation_id) if call else None
    line = config.lines.get(call.line_id) if call else None
    responder = config.responders.get(call.responder_id) if call else None
    if call is None or conversation is None or line is None or responder is None:
        # A call ivr knows nothing of: no line's wording applies.
        return Answer(unknown_line("page_call_unknown"))
    owner_call = call.purpose == "owner"
    if conversation.status != "open" or (
            conversation.owner != responder.id if owner_call else conversation.owner is not None):
        owner = config.responders.get(conversation.owner or "")
        return Answer(responder_speaker(line, responder)("page_call_gone",
                              responder=owner.name if owner and owner != responder else ""))
    return line, conversation, responder


def what_they_wrote(tx: Tx, config: Config, page_call_id: int) -> Answer:
    """What the responder hears as they answer."""
    call = tx.page_call(page_call_id)
    waiting = _waiting(tx, config, call)
    if isinstance(waiting, Answer):
        return waiting
    line, conversation, responder = waiting
    speak = responder_speaker(line, responder)
    texts = tx.conversation_texts(conversation.id)
    if call is not None and call.purpose == "owner":
        # The owner has had the rest; the latest is what did not reach them.
        body, _ = joined_texts(texts[-1:], speak("no_text").text)
        return Answer(speak("page_call_owner", code=conversation.code,
                            customer=display(conversation.customer), body=body),
                      keys=speak("page_call_owner_keys"))
    body, _ = joined_texts(texts, speak("no_text").text)
    return Answer(speak("page_call", code=conversation.code,
                        customer=display(conversation.customer), body=body),
                  keys=speak("page_call_keys"))


def key_pressed(tx: Tx, roster: Roster, page_call_id: int, digits: str,
                call_sid: str | None) -> Answer:
    """1 takes it, 2 passes it on, 3 says it again; nothing (a voicemail
    greeting listening, or no answer in time) takes nothing."""
    config = roster.config
    call = tx.page_call(page_call_id)
    waiting = _waiting(tx, config, call)
    if isinstance(waiting, Answer):
        return waiting
    assert call is not None   # _waiting answered for a call it does not know
    line, conversation, responder = waiting
    speak = responder_speaker(line, responder)

    def decide(kind: DecisionKind, why: str) -> None:
        tx.decide(decision(kind, Channel.VOICE, why, line=line, sid=call_sid,
                           conversation=conversation, tier=call.tier,
                           responder_id=responder.id))

    if digits == "3":
        decide(DecisionKind.PAGE_CALL_REPEATED, f"{responder.name} pressed 3: said again")
        return what_they_wrote(tx, config, page_call_id)
    if digits == "1" and call.purpose == "owner":
        tx.update_page_call(call.id, answer="1")
        decide(DecisionKind.OWNER_KEPT, f"{responder.name} pressed 1 on the call about a "
                                        f"failed text: #{conversation.code} stays theirs")
        return Answer(speak("page_call_kept"))
    if digits == "1":
        tx.update_page_call(call.id, answer="1")
        if take(tx, config, line, conversation, responder, "pressed 1 on a phone page",
                call_sid, Channel.VOICE):
            return Answer(speak("page_call_taken"))
        return Answer(speak("page_call_gone", responder=""))
    if digits == "2":
        tx.update_page_call(call.id, answer="2")
        upcoming = pass_conversation(tx, roster, line, conversation, responder,
                                     f"{responder.name} pressed 2 on a phone page", call_sid,
                                     Channel.VOICE)
        return Answer(speak("page_call_passed",
                            responder=names(upcoming)))
    pressed = f"pressed {digits}" if digits else "pressed no key"
    tx.update_page_call(call.id, answer="none")
    decide(DecisionKind.PAGE_CALL_UNANSWERED,
           f"{responder.name}'s phone answered but {pressed} (a voicemail greeting, or no "
           f"answer in time): not an ACK; #{conversation.code} still waits")
    _owner_unreached(tx, roster, call, f"they {pressed} on the call")
    return Answer(speak("page_call_owner_no_key" if call.purpose == "owner"
                        else "page_call_no_key"))


def call_ended(tx: Tx, roster: Roster, page_call_id: int, call_status: str,
               call_sid: str | None) -> None:
    """Twilio's status callback: a call nobody answered (or answered and
    hung up before a key) is logged; the cascade goes on at its time."""
    call = tx.page_call(page_call_id)
    if call is None or call.status == "ended":
        return
    tx.update_page_call(call.id, status="ended", call_status=call_status, ended_at=tx.now_text,
                        claimed_until=None)
    if call.answer is None:
        tx.decide(decision(DecisionKind.PAGE_CALL_UNANSWERED, Channel.VOICE,
                           f"the call to {call.responder_id} ended {call_status} with no key"
                           " pressed: not an ACK", line=call.line_id, sid=call_sid,
                           conversation=call.conversation_id, tier=call.tier,
                           responder_id=call.responder_id))
        _owner_unreached(tx, roster, call, f"the call ended {call_status}")
