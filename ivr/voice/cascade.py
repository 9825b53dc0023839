"""A call's way through the line: greeting, the menu if the line has one,
then one <Dial> per tier with someone available, each with an action
that decides the next step (ivr.voice.after_dial); voicemail when nobody
is left. A request that does not fit the stored call (a retry, or state
lost to an earlier failure) resumes wherever the call is."""

from __future__ import annotations

from datetime import timedelta

from werkzeug.datastructures import MultiDict

from ..answer_once import answer_once
from ..clock import from_text
from ..config import Line
from ..conversations.blocking import drop_if_blocked
from ..decisions import Channel, DecisionKind, decision
from ..phone import mask, try_normalise
from ..schedule import line_open
from ..services import Services
from ..speech import Spoken, call_speaker, speaker
from ..store import Call, Tx
from ..twiml import render
from .after_dial import DialOutcome, after_dial, menu_step, parse_bridged
from .answers import hang_up
from .ring_time import MIN_DIAL_SECONDS, dial_timeout
from .voicemail import take_voicemail, voicemail_twiml


def _decide(tx: Tx, kind: DecisionKind, reason: str, line: Line | str | None,
            sid: str | None, **about: object) -> int:
    return tx.decide(decision(kind, Channel.VOICE, reason, line=line, sid=sid,
                              **about))  # type: ignore[arg-type]


def tiers_of(line: Line, call: Call) -> tuple[tuple[str, ...], ...]:
    """The tiers a call rings: its menu option's, or the line's."""
    if call.menu_option and line.menu:
        for option in line.menu.options:
            if option.digit == call.menu_option:
                return option.tiers
    return line.tiers


def dial_tier(tx: Tx, svc: Services, line: Line, call: Call, start: int, reason: str,
              say: Spoken | None = None) -> str:
    """Dial the first tier from `start` with someone available, or, with
    nobody left to try, take a voicemail. The Dial rings no longer than
    the call's deadline allows."""
    timeout = dial_timeout(line.ring_seconds, tx.now, from_text(call.deadline_at))
    if timeout is None:
        return take_voicemail(tx, svc, line, call.call_sid, f"{reason}; the call's deadline "
                              f"leaves less than {MIN_DIAL_SECONDS} s to ring", say=say)
    tiers = tiers_of(line, call)
    plan = svc.roster.plan(tx, line, tiers, start, Channel.VOICE, call.call_sid)
    if plan.choice.exhausted:
        _decide(tx, DecisionKind.NOBODY_AVAILABLE, f"nobody is available from tier "
                f"{start + 1} on; the caller is offered voicemail", line, call.call_sid)
        return take_voicemail(tx, svc, line, call.call_sid, f"{reason}; nobody available",
                              say=say)
    tier = plan.choice.index
    responders = [svc.config.responders[rid] for rid in plan.choice.members]
    attempt_id = tx.start_attempt(call.call_sid, tier, [r.id for r in responders])
    tx.update_call(call.call_sid, status="ringing", tier=tier)
    rings = (f"rings {timeout} s" if timeout == line.ring_seconds
             else f"rings {timeout} s, all the call's deadline leaves")
    for responder in responders:
        _decide(tx, DecisionKind.TIER_DIALED, f"tier {tier + 1} of {len(tiers)}: {reason}; "
                f"{rings}", line, call.call_sid, tier=tier, responder_id=responder.id)
    numbers = [{"phone": r.phone,
                "url": svc.callback_url("/voice/whisper", attempt=attempt_id, responder=r.id)}
               for r in responders]
    return render("voice_dial.xml", say=say, timeout=timeout, caller_id=line.number,
                  action=svc.callback_url("/voice/dial-result", attempt=attempt_id),
                  numbers=numbers)


def menu_twiml(svc: Services, line: Line, say: Spoken | None) -> str:
    """The menu, in the line's own language: the caller has chosen none yet."""
    assert line.menu is not None
    speak = speaker(line, None)
    hints = ", ".join((*(option.name for option in line.menu.options), *speak.language.hints))
    return render("voice_menu.xml", say=say, prompt=speak.menu_prompt(), hints=hints,
                  language=speak.language.speech_language,
                  action=svc.callback_url("/voice/menu"))


# -- a new call -------------------------------------------------------------------

def call_received(tx: Tx, svc: Services, line: Line, call_sid: str, caller: str) -> str:
    """The first TwiML of a call, kept for a retry of its first webhook."""
    existing = tx.call(call_sid)
    duplicate = decision(DecisionKind.DUPLICATE_WEBHOOK, Channel.VOICE,
                         "Twilio retried the call's first webhook; answered as before",
                         line=line, sid=call_sid)
    return answer_once(tx, existing.first_twiml if existing else None, duplicate,
                       lambda: _first_answer(tx, svc, line, call_sid, caller),
                       lambda document: tx.update_call(call_sid, first_twiml=document))


def _first_answer(tx: Tx, svc: Services, line: Line, call_sid: str, caller: str) -> str:
    if drop_if_blocked(tx, line, caller, Channel.VOICE, call_sid):
        # Not answered, so the caller pays nothing and hears no greeting.
        return render("voice_reject.xml")
    is_open, why_open = line_open(line.hours, tx.now)
    offer_menu = bool(line.menu) and is_open
    tx.start_call(call_sid, line.id, caller, "menu" if offer_menu else "ringing",
                  tx.now + timedelta(seconds=line.call_deadline_seconds))
    _decide(tx, DecisionKind.CALL_RECEIVED, f"a call from {mask(caller)}", line, call_sid)
    speak = speaker(line, None, tx.now, caller)
    greeting = speak("greeting")
    if not is_open:
        assert line.hours is not None
        if line.hours.after_hours == "voicemail":
            _decide(tx, DecisionKind.AFTER_HOURS,
                    f"{why_open}: the line takes voicemail after hours", line, call_sid)
            return take_voicemail(tx, svc, line, call_sid, "after hours",
                                  prompt=speak("voicemail_after_hours"))
        if not svc.roster.after_hours_fallback(tx, line, line.tiers):
            # Otherwise the roster's own row says nobody is on call and why.
            _decide(tx, DecisionKind.AFTER_HOURS,
                    f"{why_open}: only on-call responders are tried", line, call_sid)
        greeting = speak("greeting_after_hours")
    if offer_menu:
        _decide(tx, DecisionKind.MENU_OFFERED, "the line has a menu; the caller chooses first",
                line, call_sid)
        return menu_twiml(svc, line, greeting)
    call = tx.call(call_sid)
    assert call is not None
    return dial_tier(tx, svc, line, call, 0, "the first tier", say=greeting)


# -- the menu ------------------------------------------------------------------------

def menu_answered(tx: Tx, svc: Services, line: Line, form: MultiDict[str, str]) -> str:
    assert line.menu is not None
    call_sid = form.get("CallSid", "")
    digits, speech = form.get("Digits"), form.get("SpeechResult")
    option = line.menu.choose(digits, speech)
    call = tx.call(call_sid)
    if call is None or call.status != "menu":
        # A retried action, or a call we lost track of: carry on from the store.
        return resume(tx, svc, line, call_sid, form)
    step = menu_step(option is not None, call.menu_tries)
    heard = (f"pressed {digits}" if digits else f"said {speech!r}" if speech else "no input")
    if step == "chosen":
        assert option is not None
        tx.update_call(call_sid, menu_option=option.digit)
        if option.language:
            # The rest of the call, and the texts that follow it, in this language.
            tx.update_call(call_sid, language=option.language)
        _decide(tx, DecisionKind.MENU_CHOSEN,
                f"the caller {heard}: option {option.digit} ({option.name})", line, call_sid)
        call = tx.call(call_sid)
        assert call is not None
        return dial_tier(tx, svc, line, call, 0, f"menu option {option.name}")
    if step == "repeat":
        tx.update_call(call_sid, menu_tries=call.menu_tries + 1)
        _decide(tx, DecisionKind.MENU_REPEATED, f"the caller gave {heard}, which is no "
                "option; the menu is offered once more", line, call_sid)
        return menu_twiml(svc, line, None)
    _decide(tx, DecisionKind.MENU_FELL_THROUGH, f"the caller gave {heard} again; the line's "
            "default tiers are tried", line, call_sid)
    return dial_tier(tx, svc, line, call, 0, "the line's default tiers")


def resume(tx: Tx, svc: Services, line: Line, call_sid: str,
           form: MultiDict[str, str]) -> str:
    """The TwiML for wherever the stored call is."""
    call = tx.call(call_sid)
    if call is None:
        caller = try_normalise(form.get("From")) or "anonymous"
        deadline = tx.now + timedelta(seconds=line.call_deadline_seconds)
        tx.start_call(call_sid, line.id, caller, "ringing", deadline)
        call = tx.call(call_sid)
        assert call is not None
        return dial_tier(tx, svc, line, call, 0, "the call was unknown; starting over")
    if call.status in ("ended", "connected"):
        return hang_up()
    if call.status == "voicemail":
        return voicemail_twiml(svc, line, speak=call_speaker(tx, line, call_sid))
    return dial_tier(tx, svc, line, call, call.tier, "resuming the call's current tier")


# -- after each Dial -----------------------------------------------------------------

def dial_ended(tx: Tx, svc: Services, line: Line, attempt_id: int,
               form: MultiDict[str, str]) -> str:
    """The Dial action: connected, the next tier, or voicemail."""
    attempt = tx.attempt(attempt_id)
    call = tx.call(attempt.call_sid) if attempt else None
    if attempt is None or call is None:
        return take_voicemail(tx, svc, line, form.get("CallSid", ""),
                              "a Dial result for an unknown attempt; voicemail is safest")
    dial_status = (form.get("DialCallStatus") or "").lower()
    bridged = parse_bridged(form.get("DialBridged"))
    if not tx.finish_attempt(attempt.id, dial_status, bridged):
        _decide(tx, DecisionKind.DUPLICATE_WEBHOOK,
                "Twilio retried a Dial result already handled", line, call.call_sid)
        return resume(tx, svc, line, call.call_sid, form)
    caller_status = (form.get("CallStatus") or "").lower()
    if call.status == "ended":
        caller_status = "completed"  # the status callback said so first
    outcome = DialOutcome(dial_status, bridged, attempt.accepted_by, caller_status)
    deadline = from_text(call.deadline_at)
    # The timeout this Dial was given, for "nobody answered within N s".
    rang = dial_timeout(line.ring_seconds, from_text(attempt.started_at), deadline)
    step = after_dial(outcome, tier=attempt.tier, tier_count=len(tiers_of(line, call)),
                      deadline_passed=tx.now >= deadline,
                      ring_seconds=rang or line.ring_seconds)
    if step.kind == "connected":
        tx.update_call(call.call_sid, status="connected", connected_to=attempt.accepted_by)
        _decide(tx, DecisionKind.CALL_CONNECTED,
                f"{step.reason}; talked {form.get('DialCallDuration') or '?'} s", line,
                call.call_sid, tier=attempt.tier, responder_id=attempt.accepted_by)
        return hang_up()
    for rid in attempt.responders:
        _decide(tx, DecisionKind.TIER_FAILED, step.reason, line, call.call_sid,
                tier=attempt.tier, responder_id=rid)
    if step.kind == "caller_gone":
        if tx.end_call(call.call_sid):
            _decide(tx, DecisionKind.CALLER_HUNG_UP, f"the caller hung up during tier "
                    f"{attempt.tier + 1}; nobody else is dialed", line, call.call_sid)
        return hang_up()
    if step.kind == "dial":
        assert step.tier is not None
        return dial_tier(tx, svc, line, call, step.tier, step.reason)
    return take_voicemail(tx, svc, line, call.call_sid, step.reason)


def call_status(tx: Tx, call_sid: str) -> None:
    """The call's status callback said it ended: a hang-up ends the cascade."""
    call = tx.call(call_sid)
    if call is None:
        return
    if tx.end_call(call_sid) and call.status in ("menu", "ringing"):
        where = ("in the menu" if call.status == "menu"
                 else f"while tier {call.tier + 1} rang")
        _decide(tx, DecisionKind.CALLER_HUNG_UP,
                f"the caller hung up {where}; nobody else is dialed", call.line_id, call_sid)
