"""Calls to the line: a tiered <Dial> cascade with press-1 screening, an
optional menu, and voicemail that is texted to every responder.

Twilio fetches TwiML from these routes as the call goes on:

  /voice/incoming       (pasted into the console) greeting, menu or first Dial
  /voice/menu           the menu's Gather action
  /voice/whisper        a responder's leg, before bridging: "press 1 to take it"
  /voice/whisper-answer the whisper's Gather action: records who accepted
  /voice/dial-result    the Dial action: connected, next tier, or voicemail
  /voice/voicemail      voicemail (also where any failure redirects the caller)
  /voice/voicemail-done the Record action
  /voice/recording      recordingStatusCallback: text the voicemail to responders
  /voice/transcription  transcribeCallback: text the transcription
  /voice/status         the call's status callback: a hang-up ends the cascade
"""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlencode

from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from . import texts
from .calls import DialOutcome, after_dial, menu_step, parse_bridged, spoken_number
from .clock import from_text
from .config import Line
from .logs import event
from .decisions import Channel, Decision, DecisionKind
from .phone import display, mask, try_normalise
from .routing import everyone, message
from .schedule import line_open
from .services import Services
from .store import Call, Tx
from .twiml import render, twiml_response, twiml_text
from .webhooks import twilio_webhook

log = logging.getLogger(__name__)

blueprint = Blueprint("voice", __name__)

NOT_IN_SERVICE = "The number you have called is not in service. Goodbye."


def _decision(kind: DecisionKind, reason: str, *, line: Line | str | None, sid: str | None,
              tier: int | None = None, responder_id: str | None = None,
              conversation_id: int | None = None) -> Decision:
    line_id = line.id if isinstance(line, Line) else line
    return Decision(kind, Channel.VOICE, reason, line_id=line_id, sid=sid, tier=tier,
                    responder_id=responder_id, conversation_id=conversation_id)


def _url(svc: Services, path: str, **query: object) -> str:
    return svc.callback_url(path + ("?" + urlencode(query) if query else ""))


def _line_for(svc: Services, form: MultiDict[str, str]) -> Line | None:
    return svc.config.line_for_number(try_normalise(form.get("To")))


# -- error answers: valid TwiML, never a bare 500 ------------------------------------

def _apologise_then_voicemail(svc: Services, form: MultiDict[str, str]) -> Response:
    """The caller hears an apology and can still leave a message: taking a
    voicemail needs no state, so it works when whatever failed is broken."""
    line = _line_for(svc, form)
    if line is None:
        return twiml_response("voice_say.xml", say=[NOT_IN_SERVICE], hangup=True)
    return twiml_response("voice_voicemail.xml", **_voicemail_variables(svc, line, apology=True))


def _whisper_failed(_: Services, __: MultiDict[str, str]) -> Response:
    # Only Say, Play, Gather and Hangup are allowed on a responder's leg.
    return twiml_response("voice_say.xml", say=["Sorry, this call cannot be connected."],
                          hangup=True)


def _empty(_: Services, __: MultiDict[str, str]) -> Response:
    return twiml_response("voice_say.xml", say=[], hangup=False)


# -- building TwiML -------------------------------------------------------------------

def _tiers_of(line: Line, call: Call) -> tuple[tuple[str, ...], ...]:
    if call.menu_option and line.menu:
        for option in line.menu.options:
            if option.digit == call.menu_option:
                return option.tiers
    return line.tiers


def _dial(tx: Tx, svc: Services, line: Line, call: Call, start: int, reason: str,
          say: str | None = None) -> str:
    """Dial the first tier from `start` with someone available, or, with
    nobody left to try, take a voicemail."""
    tiers = _tiers_of(line, call)
    plan = svc.roster.plan(tx, line, tiers, start, Channel.VOICE, call.call_sid)
    if plan.choice.exhausted:
        tx.decide(_decision(DecisionKind.NOBODY_AVAILABLE,
                            f"nobody is available from tier {start + 1} on; the caller "
                            "is offered voicemail", line=line, sid=call.call_sid))
        return _voicemail(tx, svc, line, call.call_sid, f"{reason}; nobody available",
                          say=say)
    tier = plan.choice.index
    responders = [svc.config.responders[rid] for rid in plan.choice.members]
    attempt_id = tx.start_attempt(call.call_sid, tier, [r.id for r in responders])
    tx.update_call(call.call_sid, status="ringing", tier=tier)
    for responder in responders:
        tx.decide(_decision(DecisionKind.TIER_DIALED,
                            f"tier {tier + 1} of {len(tiers)}: {reason}", line=line,
                            sid=call.call_sid, tier=tier, responder_id=responder.id))
    numbers = [{"phone": r.phone,
                "url": _url(svc, "/voice/whisper", attempt=attempt_id, responder=r.id)}
               for r in responders]
    return render("voice_dial.xml", say=say, timeout=line.ring_seconds, caller_id=line.number,
                  action=_url(svc, "/voice/dial-result", attempt=attempt_id), numbers=numbers)


def _menu(svc: Services, line: Line, say: str | None) -> str:
    assert line.menu is not None
    hints = ", ".join(option.name for option in line.menu.options)
    return render("voice_menu.xml", say=say, prompt=line.menu.prompt, hints=hints,
                  action=_url(svc, "/voice/menu"))


def _voicemail_variables(svc: Services, line: Line, apology: bool = False) -> dict[str, object]:
    return {
        "apology": message(line, "apology") if apology else None,
        "prompt": message(line, "voicemail_prompt"),
        "max_length": line.voicemail_seconds,
        "action": _url(svc, "/voice/voicemail-done"),
        "recording_callback": _url(svc, "/voice/recording", line=line.id),
        "transcription_callback": _url(svc, "/voice/transcription", line=line.id),
    }


def _voicemail(tx: Tx, svc: Services, line: Line, call_sid: str, reason: str,
               say: str | None = None, prompt: str | None = None) -> str:
    tx.update_call(call_sid, status="voicemail")
    tx.decide(_decision(DecisionKind.VOICEMAIL_STARTED, reason, line=line, sid=call_sid))
    variables = _voicemail_variables(svc, line)
    variables["apology"] = say
    if prompt:
        variables["prompt"] = prompt
    return render("voice_voicemail.xml", **variables)


# -- the call -----------------------------------------------------------------------

@blueprint.post("/voice/incoming")
@twilio_webhook(Channel.VOICE, on_error=_apologise_then_voicemail)
async def incoming(svc: Services, form: MultiDict[str, str]) -> Response:
    call_sid = form.get("CallSid", "")
    line = _line_for(svc, form)
    if line is None or not call_sid:
        await svc.store.write(lambda tx: tx.decide(_decision(
            DecisionKind.UNKNOWN_LINE, f"no line is configured for To={mask(form.get('To'))}",
            line=None, sid=call_sid or None)))
        return twiml_response("voice_say.xml", say=[NOT_IN_SERVICE], hangup=True)
    caller = try_normalise(form.get("From")) or (form.get("From") or "anonymous")

    def handle(tx: Tx) -> str:
        existing = tx.call(call_sid)
        if existing is not None and existing.first_twiml:
            tx.decide(_decision(DecisionKind.DUPLICATE_WEBHOOK,
                                "Twilio retried the call's first webhook; answered as before",
                                line=line, sid=call_sid))
            return existing.first_twiml
        deadline = tx.now + timedelta(seconds=line.call_deadline_seconds)
        greeting = message(line, "greeting")
        is_open, why_open = line_open(line.hours, tx.now)
        if not is_open:
            assert line.hours is not None
            tx.start_call(call_sid, line.id, caller, "ringing", deadline)
            tx.decide(_decision(DecisionKind.CALL_RECEIVED, f"a call from {mask(caller)}",
                                line=line, sid=call_sid))
            if line.hours.after_hours == "voicemail":
                tx.decide(_decision(DecisionKind.AFTER_HOURS,
                                    f"{why_open}: the line takes voicemail after hours",
                                    line=line, sid=call_sid))
                document = _voicemail(tx, svc, line, call_sid, "after hours",
                                      prompt=message(line, "voicemail_after_hours"))
                tx.update_call(call_sid, first_twiml=document)
                return document
            tx.decide(_decision(DecisionKind.AFTER_HOURS,
                                f"{why_open}: only on-call responders are tried",
                                line=line, sid=call_sid))
            greeting = message(line, "greeting_after_hours")
        if line.menu and is_open:
            tx.start_call(call_sid, line.id, caller, "menu", deadline)
            tx.decide(_decision(DecisionKind.CALL_RECEIVED, f"a call from {mask(caller)}",
                                line=line, sid=call_sid))
            tx.decide(_decision(DecisionKind.MENU_OFFERED,
                                "the line has a menu; the caller chooses first",
                                line=line, sid=call_sid))
            document = _menu(svc, line, greeting)
        else:
            if is_open:
                tx.start_call(call_sid, line.id, caller, "ringing", deadline)
                tx.decide(_decision(DecisionKind.CALL_RECEIVED,
                                    f"a call from {mask(caller)}", line=line, sid=call_sid))
            call = tx.call(call_sid)
            assert call is not None
            document = _dial(tx, svc, line, call, 0, "the first tier", say=greeting)
        tx.update_call(call_sid, first_twiml=document)
        return document

    document = await svc.store.write(handle)
    event(log, logging.INFO, "call received", line=line.id, sid=call_sid, **{"from": mask(caller)})
    return twiml_text(document)


@blueprint.post("/voice/menu")
@twilio_webhook(Channel.VOICE, on_error=_apologise_then_voicemail)
async def menu(svc: Services, form: MultiDict[str, str]) -> Response:
    call_sid = form.get("CallSid", "")
    line = _line_for(svc, form)
    if line is None or line.menu is None:
        return _apologise_then_voicemail(svc, form)
    digits, speech = form.get("Digits"), form.get("SpeechResult")
    option = line.menu.choose(digits, speech)

    def handle(tx: Tx) -> str:
        call = tx.call(call_sid)
        if call is None or call.status != "menu":
            # A retried action, or a call we lost track of: carry on from the store.
            return _resume(tx, svc, line, call_sid, form)
        step = menu_step(option is not None, call.menu_tries)
        heard = (f"pressed {digits}" if digits else f"said {speech!r}" if speech else "no input")
        if step == "chosen":
            assert option is not None
            tx.update_call(call_sid, menu_option=option.digit)
            tx.decide(_decision(DecisionKind.MENU_CHOSEN,
                                f"the caller {heard}: option {option.digit} ({option.name})",
                                line=line, sid=call_sid))
            call = tx.call(call_sid)
            assert call is not None
            return _dial(tx, svc, line, call, 0, f"menu option {option.name}")
        if step == "repeat":
            tx.update_call(call_sid, menu_tries=call.menu_tries + 1)
            tx.decide(_decision(DecisionKind.MENU_REPEATED,
                                f"the caller gave {heard}, which is no option; the menu "
                                "is offered once more", line=line, sid=call_sid))
            return _menu(svc, line, None)
        tx.decide(_decision(DecisionKind.MENU_FELL_THROUGH,
                            f"the caller gave {heard} again; the line's default tiers "
                            "are tried", line=line, sid=call_sid))
        return _dial(tx, svc, line, call, 0, "the line's default tiers")

    return twiml_text(await svc.store.write(handle))


def _resume(tx: Tx, svc: Services, line: Line, call_sid: str,
            form: MultiDict[str, str]) -> str:
    """The TwiML for wherever the stored call is: used when a request does
    not fit the call's state (a retry, or state lost to an earlier failure)."""
    call = tx.call(call_sid)
    if call is None:
        caller = try_normalise(form.get("From")) or "anonymous"
        deadline = tx.now + timedelta(seconds=line.call_deadline_seconds)
        tx.start_call(call_sid, line.id, caller, "ringing", deadline)
        call = tx.call(call_sid)
        assert call is not None
        return _dial(tx, svc, line, call, 0, "the call was unknown; starting over")
    if call.status in ("ended", "connected"):
        return render("voice_say.xml", say=[], hangup=True)
    if call.status == "voicemail":
        return render("voice_voicemail.xml", **_voicemail_variables(svc, line))
    return _dial(tx, svc, line, call, call.tier, "resuming the call's current tier")


@blueprint.post("/voice/whisper")
@twilio_webhook(Channel.VOICE, on_error=_whisper_failed)
async def whisper(svc: Services, form: MultiDict[str, str]) -> Response:
    attempt_id, responder_id = _attempt_args()
    attempt = await svc.store.read(lambda tx: tx.attempt(attempt_id))
    call = await svc.store.read(lambda tx: tx.call(attempt.call_sid)) if attempt else None
    if attempt is None or call is None or responder_id not in attempt.responders:
        return _whisper_failed(svc, form)
    line = svc.config.lines.get(call.line_id)
    if line is None:
        return _whisper_failed(svc, form)
    prompt = message(line, "whisper", caller=spoken_number(call.caller))
    return twiml_response("voice_whisper.xml", prompt=prompt,
                          action=_url(svc, "/voice/whisper-answer", attempt=attempt_id,
                                      responder=responder_id))


@blueprint.post("/voice/whisper-answer")
@twilio_webhook(Channel.VOICE, on_error=_whisper_failed)
async def whisper_answer(svc: Services, form: MultiDict[str, str]) -> Response:
    attempt_id, responder_id = _attempt_args()
    digits = (form.get("Digits") or "").strip()

    def handle(tx: Tx) -> tuple[bool, str]:
        attempt = tx.attempt(attempt_id)
        call = tx.call(attempt.call_sid) if attempt else None
        if attempt is None or call is None or responder_id not in attempt.responders:
            return False, "Sorry, this call cannot be connected."
        decide = lambda kind, why: tx.decide(_decision(  # noqa: E731
            kind, why, line=call.line_id, sid=call.call_sid, tier=attempt.tier,
            responder_id=responder_id))
        if digits != "1":
            pressed = f"pressed {digits}" if digits else "pressed nothing"
            decide(DecisionKind.CALL_DECLINED, f"{responder_id} {pressed} in the whisper; "
                                                     "their leg is hung up")
            return False, "The call was not taken. Goodbye."
        if call.status == "ended":
            decide(DecisionKind.CALL_DECLINED, f"{responder_id} pressed 1 after the caller "
                                                     "hung up")
            return False, "The caller has hung up. Goodbye."
        if not tx.accept_attempt(attempt_id, responder_id):
            current = tx.attempt(attempt_id)
            taken_by = current.accepted_by if current else None
            decide(DecisionKind.CALL_DECLINED, f"{responder_id} pressed 1 but {taken_by} "
                                                     "took the call first")
            return False, "Someone else has taken this call. Goodbye."
        decide(DecisionKind.CALL_ACCEPTED, f"{responder_id} pressed 1 in the whisper")
        return True, "Connecting you now."

    accepted, words = await svc.store.write(handle)
    # A whisper that ends without <Hangup> bridges the call; one that hangs up does not.
    return twiml_response("voice_say.xml", say=[words], hangup=not accepted)


def _attempt_args() -> tuple[int, str]:
    try:
        attempt_id = int(request.args.get("attempt", ""))
    except ValueError:
        attempt_id = -1
    return attempt_id, request.args.get("responder", "")


@blueprint.post("/voice/dial-result")
@twilio_webhook(Channel.VOICE, on_error=_apologise_then_voicemail)
async def dial_result(svc: Services, form: MultiDict[str, str]) -> Response:
    attempt_id, _ = _attempt_args()
    line = _line_for(svc, form)
    if line is None:
        return _apologise_then_voicemail(svc, form)

    def handle(tx: Tx) -> str:
        attempt = tx.attempt(attempt_id)
        call = tx.call(attempt.call_sid) if attempt else None
        if attempt is None or call is None:
            return _voicemail(tx, svc, line, form.get("CallSid", ""),
                              "a Dial result for an unknown attempt; voicemail is safest")
        dial_status = (form.get("DialCallStatus") or "").lower()
        bridged = parse_bridged(form.get("DialBridged"))
        if not tx.finish_attempt(attempt.id, dial_status, bridged):
            tx.decide(_decision(DecisionKind.DUPLICATE_WEBHOOK,
                                "Twilio retried a Dial result already handled",
                                line=line, sid=call.call_sid))
            return _resume(tx, svc, line, call.call_sid, form)
        caller_status = (form.get("CallStatus") or "").lower()
        if call.status == "ended":
            caller_status = "completed"  # the status callback said so first
        outcome = DialOutcome(dial_status, bridged, attempt.accepted_by, caller_status)
        tiers = _tiers_of(line, call)
        deadline_passed = tx.now >= from_text(call.deadline_at)
        step = after_dial(outcome, tier=attempt.tier, tier_count=len(tiers),
                          deadline_passed=deadline_passed, ring_seconds=line.ring_seconds)
        if step.kind == "connected":
            tx.update_call(call.call_sid, status="connected",
                           connected_to=attempt.accepted_by)
            tx.decide(_decision(
                DecisionKind.CALL_CONNECTED,
                f"{step.reason}; talked {form.get('DialCallDuration') or '?'} s", line=line,
                sid=call.call_sid, tier=attempt.tier, responder_id=attempt.accepted_by))
            return render("voice_say.xml", say=[], hangup=True)
        for rid in attempt.responders:
            tx.decide(_decision(DecisionKind.TIER_FAILED, step.reason, line=line,
                                sid=call.call_sid, tier=attempt.tier, responder_id=rid))
        if step.kind == "caller_gone":
            if tx.end_call(call.call_sid):
                tx.decide(_decision(DecisionKind.CALLER_HUNG_UP,
                                    f"the caller hung up during tier {attempt.tier + 1}; "
                                    "nobody else is dialed", line=line, sid=call.call_sid))
            return render("voice_say.xml", say=[], hangup=True)
        if step.kind == "dial":
            assert step.tier is not None
            return _dial(tx, svc, line, call, step.tier, step.reason)
        return _voicemail(tx, svc, line, call.call_sid, step.reason)

    return twiml_text(await svc.store.write(handle))


# -- voicemail ------------------------------------------------------------------------

@blueprint.post("/voice/voicemail")
@twilio_webhook(Channel.VOICE, on_error=_empty)
async def voicemail(svc: Services, form: MultiDict[str, str]) -> Response:
    """Where a failure sends the caller: no state is needed to take a message."""
    line = _line_for(svc, form)
    if line is None:
        return twiml_response("voice_say.xml", say=[NOT_IN_SERVICE], hangup=True)
    call_sid = form.get("CallSid", "")

    def handle(tx: Tx) -> str:
        if tx.call(call_sid) is None:
            caller = try_normalise(form.get("From")) or "anonymous"
            tx.start_call(call_sid, line.id, caller, "voicemail", tx.now)
        return _voicemail(tx, svc, line, call_sid, "sent to voicemail after an error")

    try:
        return twiml_text(await svc.store.write(handle))
    except Exception:
        log.exception("could not record the voicemail step sid=%s; taking the message anyway",
                      call_sid)
        return twiml_response("voice_voicemail.xml", **_voicemail_variables(svc, line))


@blueprint.post("/voice/voicemail-done")
@twilio_webhook(Channel.VOICE, on_error=_empty)
async def voicemail_done(svc: Services, form: MultiDict[str, str]) -> Response:
    return twiml_response("voice_say.xml", say=["Thank you. We will get back to you. Goodbye."],
                          hangup=True)


def _duration(form: MultiDict[str, str], name: str) -> int:
    try:
        return max(int(form.get(name) or 0), 0)
    except ValueError:
        return 0


@blueprint.post("/voice/recording")
@twilio_webhook(Channel.VOICE, on_error=_empty)
async def recording(svc: Services, form: MultiDict[str, str]) -> Response:
    line = svc.config.lines.get(request.args.get("line", ""))
    call_sid, recording_sid = form.get("CallSid", ""), form.get("RecordingSid", "")
    status = (form.get("RecordingStatus") or "").lower()
    duration = _duration(form, "RecordingDuration")
    url = form.get("RecordingUrl") or ""
    if line is None or not recording_sid:
        event(log, logging.WARNING, "recording callback without a known line or RecordingSid",
              sid=call_sid)
        return twiml_response("voice_say.xml", say=[], hangup=False)

    def handle(tx: Tx) -> None:
        call = tx.call(call_sid)
        if call is not None:
            tx.end_call(call_sid)
        if status != "completed" or duration <= 0 or not url.startswith("https://"):
            tx.decide(_decision(DecisionKind.VOICEMAIL_EMPTY,
                                f"the recording is {status or 'missing'}, {duration} s: "
                                "nobody is paged for silence", line=line, sid=call_sid))
            return
        caller = call.caller if call else "anonymous"
        _receive_voicemail(tx, svc, line, call_sid, caller, recording_sid, url, duration,
                           transcription=None)

    await svc.store.write(handle)
    return twiml_response("voice_say.xml", say=[], hangup=False)


@blueprint.post("/voice/transcription")
@twilio_webhook(Channel.VOICE, on_error=_empty)
async def transcription(svc: Services, form: MultiDict[str, str]) -> Response:
    line = svc.config.lines.get(request.args.get("line", "")) or _line_for(svc, form)
    call_sid, recording_sid = form.get("CallSid", ""), form.get("RecordingSid", "")
    status = (form.get("TranscriptionStatus") or "").lower()
    text = (form.get("TranscriptionText") or "").strip()
    if line is None or not recording_sid:
        return twiml_response("voice_say.xml", say=[], hangup=False)

    def handle(tx: Tx) -> None:
        if status != "completed" or not text:
            tx.decide(_decision(DecisionKind.TRANSCRIPTION_FAILED,
                                f"transcription {status or 'missing'}: responders keep the "
                                "recording link", line=line, sid=call_sid))
            return
        existing = tx.voicemail(recording_sid)
        if existing is None:
            # The transcription came first: it carries all a page needs.
            call = tx.call(call_sid)
            caller = call.caller if call else (try_normalise(form.get("From")) or "anonymous")
            _receive_voicemail(tx, svc, line, call_sid, caller, recording_sid,
                               form.get("RecordingUrl") or "", 0, transcription=text)
            return
        if existing.transcription:
            return  # a retried callback
        tx.set_transcription(recording_sid, text)
        tx.set_inbound_body(recording_sid, _voicemail_text(existing.duration,
                                                           existing.recording_url, text))
        conversation = (tx.conversation(existing.conversation_id)
                        if existing.conversation_id else None)
        if conversation is None:
            return
        tx.decide(_decision(DecisionKind.TRANSCRIPTION_RECEIVED,
                            "the voicemail's transcription is texted to every responder",
                            line=line, sid=call_sid, conversation_id=conversation.id))
        page = message(line, "transcription_page", code=conversation.code,
                       customer=display(existing.caller), transcription=text)
        texts.page_responders(tx, line, conversation, everyone(svc.config, line),
                              conversation.tier, page, (), "the transcription arrived",
                              sid=call_sid, channel=Channel.VOICE)

    await svc.store.write(handle)
    return twiml_response("voice_say.xml", say=[], hangup=False)


def _voicemail_text(duration: int, url: str, transcription: str | None) -> str:
    said = f": {transcription}" if transcription else ""
    return f"Voicemail ({duration} s){said} {url}".strip()


def _receive_voicemail(tx: Tx, svc: Services, line: Line, call_sid: str, caller: str,
                       recording_sid: str, url: str, duration: int,
                       transcription: str | None) -> None:
    """A voicemail opens (or joins) the caller's conversation, is texted to
    every responder of the line, and must then be ACKed like a text."""
    if tx.voicemail(recording_sid) is not None:
        tx.decide(_decision(DecisionKind.DUPLICATE_WEBHOOK,
                            "this voicemail was already received", line=line, sid=call_sid))
        return
    conversation = tx.open_conversation_for(line.id, caller)
    if conversation is None:
        conversation = tx.open_conversation(line.id, caller, origin="voicemail")
        tx.decide(_decision(DecisionKind.CONVERSATION_OPENED,
                            f"a voicemail from {mask(caller)}; code #{conversation.code}",
                            line=line, sid=call_sid, conversation_id=conversation.id))
    tx.record_inbound(recording_sid, line.id, caller,
                      _voicemail_text(duration, url, transcription), ())
    tx.attach_inbound(recording_sid, conversation.id)
    tx.record_voicemail(recording_sid, call_sid, line.id, caller, conversation.id, url,
                        duration)
    if transcription:
        tx.set_transcription(recording_sid, transcription)
    # Everyone was tried by voice already: the conversation starts at the last tier.
    last = len(line.tiers) - 1
    if conversation.owner is None:
        tx.set_tier(conversation.id, last)
        tx.cancel_timers(conversation.id)
        tx.schedule_timer(conversation.id, last, tx.now + timedelta(seconds=line.ack_seconds))
    tx.decide(_decision(DecisionKind.VOICEMAIL_RECEIVED,
                        f"a {duration} s voicemail; every responder of the line is texted",
                        line=line, sid=call_sid, conversation_id=conversation.id))
    page = message(line, "voicemail_page", code=conversation.code,
                   customer=display(caller), time=tx.now.strftime("%H:%M UTC"),
                   duration=duration, transcription=transcription, recording=url)
    texts.page_responders(tx, line, conversation, everyone(svc.config, line), last, page,
                          (), "a voicemail goes to every responder", sid=call_sid,
                          channel=Channel.VOICE)


# -- the call's status callback ------------------------------------------------------

@blueprint.post("/voice/status")
@twilio_webhook(Channel.VOICE, on_error=_empty)
async def status(svc: Services, form: MultiDict[str, str]) -> Response:
    call_sid = form.get("CallSid", "")
    call_status = (form.get("CallStatus") or "").lower()
    if call_status not in ("completed", "canceled", "busy", "failed", "no-answer"):
        return twiml_response("voice_say.xml", say=[], hangup=False)

    def handle(tx: Tx) -> None:
        call = tx.call(call_sid)
        if call is None:
            return
        if tx.end_call(call_sid) and call.status in ("menu", "ringing"):
            where = ("in the menu" if call.status == "menu"
                     else f"while tier {call.tier + 1} rang")
            tx.decide(_decision(DecisionKind.CALLER_HUNG_UP,
                                f"the caller hung up {where}; nobody else is dialed",
                                line=call.line_id, sid=call_sid))

    await svc.store.write(handle)
    return twiml_response("voice_say.xml", say=[], hangup=False)
