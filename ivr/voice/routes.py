"""The voice webhooks: each parses Twilio's request, makes one call into
the cascade, whisper or voicemail, and answers TwiML.

Who is calling is decided here, once: a phone number, or "anonymous" for
every From that is none (withheld, client:..., sip:..., garbage), which is
put through all the same; a line's own number is hung up on. A voicemail
from a caller with no number opens no conversation (voicemail_without_number.py).
A call that ends with nobody taking it and no message is a missed call
(missed_call.py), whichever webhook says so first."""

from __future__ import annotations

import logging

from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from ..decisions import Channel, DecisionKind, decision
from ..logs import event
from ..phone import mask, no_number_kind, try_normalise
from ..services import Services
from ..store import Tx
from ..twiml import twiml_text
from ..webhooks import twilio_webhook
from . import cascade, missed_call, voicemail, voicemail_prompt, voicemail_without_number, whisper
from .after_dial import CALLER_GONE
from .answers import (
    apologise_then_voicemail,
    empty,
    hang_up,
    line_for,
    not_in_service,
    nothing,
    say,
    spoken,
    whisper_failed,
)
from .voicemail_without_number import NO_NUMBER

log = logging.getLogger(__name__)

blueprint = Blueprint("voice", __name__)


def _attempt_args() -> tuple[int, str]:
    try:
        attempt_id = int(request.args.get("attempt", ""))
    except ValueError:
        attempt_id = -1
    return attempt_id, request.args.get("responder", "")


# Every caller who is not a phone number a text could reach (a withheld
# number, a Twilio Client app, a SIP address, garbage) is recorded as this,
# and is still put through: a person is calling.


def _caller(svc: Services, form: MultiDict[str, str]) -> str:
    """The caller as recorded: their E.164 number, or NO_NUMBER. A line's
    own number is no caller's: a conversation with it would text the line."""
    number = try_normalise(form.get("From"))
    if number is None or svc.config.line_for_number(number) is not None:
        return NO_NUMBER
    return number


def _textable(svc: Services, caller: str | None) -> bool:
    """Whether a voicemail from `caller` may open a conversation: only a
    phone number, never a line's own, can be texted back."""
    number = try_normalise(caller)
    return number is not None and number == caller and svc.config.line_for_number(number) is None


def _duration(form: MultiDict[str, str], name: str) -> int:
    try:
        return max(int(form.get(name) or 0), 0)
    except ValueError:
        return 0


@blueprint.post("/voice/incoming")
@twilio_webhook(Channel.VOICE, on_error=apologise_then_voicemail)
async def incoming(svc: Services, form: MultiDict[str, str]) -> Response:
    call_sid = form.get("CallSid", "")
    line = line_for(svc, form)
    if line is None or not call_sid:
        await svc.store.write(lambda tx: tx.decide(decision(
            DecisionKind.UNKNOWN_LINE, Channel.VOICE,
            f"no line is configured for To={mask(form.get('To'))}", sid=call_sid or None)))
        return twiml_text(not_in_service())
    own = svc.config.line_for_number(try_normalise(form.get("From")))
    if own is not None:
        # A line calling itself (or another line) is a loop or a forgery,
        # never a customer: nothing is dialed, recorded or texted.
        await svc.store.write(lambda tx: tx.decide(decision(
            DecisionKind.INVALID_SENDER, Channel.VOICE,
            f"From is the number of line {own.id}, not a caller; hung up, nothing dialed",
            line=line, sid=call_sid)))
        event(log, logging.WARNING, "call from a line's own number hung up", line=line.id,
              sid=call_sid, **{"from": mask(own.number)})
        return twiml_text(hang_up())
    caller = _caller(svc, form)
    document = await svc.store.write(
        lambda tx: cascade.call_received(tx, svc, line, call_sid, caller))
    if caller == NO_NUMBER:
        event(log, logging.INFO, "call received from a caller with no number", line=line.id,
              sid=call_sid, caller=no_number_kind(form.get("From")))
    else:
        event(log, logging.INFO, "call received", line=line.id, sid=call_sid,
              **{"from": mask(caller)})
    return twiml_text(document)


@blueprint.post("/voice/menu")
@twilio_webhook(Channel.VOICE, on_error=apologise_then_voicemail)
async def menu(svc: Services, form: MultiDict[str, str]) -> Response:
    line = line_for(svc, form)
    if line is None or line.menu is None:
        return apologise_then_voicemail(svc, form)
    return twiml_text(await svc.store.write(
        lambda tx: cascade.menu_answered(tx, svc, line, form)))


@blueprint.post("/voice/whisper")
@twilio_webhook(Channel.VOICE, on_error=whisper_failed)
async def whisper_prompt(svc: Services, form: MultiDict[str, str]) -> Response:
    attempt_id, responder_id = _attempt_args()
    document = await svc.store.read(
        lambda tx: whisper.whisper_twiml(tx, svc, attempt_id, responder_id))
    return twiml_text(document) if document else whisper_failed(svc, form)


@blueprint.post("/voice/whisper-answer")
@twilio_webhook(Channel.VOICE, on_error=whisper_failed)
async def whisper_answer(svc: Services, form: MultiDict[str, str]) -> Response:
    attempt_id, responder_id = _attempt_args()
    digits = (form.get("Digits") or "").strip()
    accepted, words = await svc.store.write(
        lambda tx: whisper.whisper_answered(tx, svc, attempt_id, responder_id, digits))
    # A whisper that ends without <Hangup> bridges the call; one that hangs up does not.
    return twiml_text(say(words, hangup=not accepted))


@blueprint.post("/voice/dial-result")
@twilio_webhook(Channel.VOICE, on_error=apologise_then_voicemail)
async def dial_result(svc: Services, form: MultiDict[str, str]) -> Response:
    attempt_id, _ = _attempt_args()
    line = line_for(svc, form)
    if line is None:
        return apologise_then_voicemail(svc, form)

    def ended(tx: Tx) -> str:
        document = cascade.dial_ended(tx, svc, line, attempt_id, form)
        missed_call.after_dial(tx, svc, line, form.get("CallSid", ""))
        return document

    return twiml_text(await svc.store.write(ended))


@blueprint.post("/voice/voicemail")
@twilio_webhook(Channel.VOICE, on_error=empty)
async def voicemail_step(svc: Services, form: MultiDict[str, str]) -> Response:
    """Where a failure sends the caller: no state is needed to take a message."""
    line = line_for(svc, form)
    if line is None:
        return twiml_text(not_in_service())
    call_sid = form.get("CallSid", "")
    try:
        return twiml_text(await svc.store.write(lambda tx: voicemail.voicemail_after_error(
            tx, svc, line, call_sid, _caller(svc, form))))
    except Exception:
        log.exception("could not record the voicemail step sid=%s; taking the message anyway",
                      call_sid)
        return twiml_text(voicemail.voicemail_twiml(svc, line))


def _record_anyway(svc: Services, form: MultiDict[str, str]) -> Response:
    """The prompt's action failed: taking the message needs no state."""
    line = line_for(svc, form)
    return twiml_text(voicemail.record_twiml(svc, line) if line else not_in_service())


@blueprint.post("/voice/voicemail-prompt")
@twilio_webhook(Channel.VOICE, on_error=_record_anyway)
async def voicemail_prompt_answered(svc: Services, form: MultiDict[str, str]) -> Response:
    """The voicemail prompt's Gather action: record, or text the caller back."""
    line = line_for(svc, form)
    if line is None:
        return twiml_text(not_in_service())
    call_sid, digits = form.get("CallSid", ""), (form.get("Digits") or "").strip()
    return twiml_text(await svc.store.write(lambda tx: voicemail_prompt.prompt_answered(
        tx, svc, line, call_sid, _caller(svc, form), digits)))


@blueprint.post("/voice/voicemail-done")
@twilio_webhook(Channel.VOICE, on_error=empty)
async def voicemail_done(svc: Services, form: MultiDict[str, str]) -> Response:
    line = line_for(svc, form)
    duration, url = _duration(form, "RecordingDuration"), form.get("RecordingUrl") or ""
    call_sid = form.get("CallSid", "")
    call = await svc.store.read(lambda tx: tx.call(call_sid)) if line else None
    language = call.language if call else None
    if line is not None and missed_call.recording_is_empty("completed", duration, url):
        await svc.store.write(lambda tx: voicemail_prompt.nothing_recorded(
            tx, svc, line, call_sid))
        return twiml_text(say(spoken(line, "voicemail_nothing", language), hangup=True))
    return twiml_text(say(spoken(line, "voicemail_thanks", language), hangup=True))


@blueprint.post("/voice/recording")
@twilio_webhook(Channel.VOICE, on_error=empty)
async def recording(svc: Services, form: MultiDict[str, str]) -> Response:
    line = svc.config.lines.get(request.args.get("line", ""))
    call_sid, recording_sid = form.get("CallSid", ""), form.get("RecordingSid", "")
    if line is None or not recording_sid:
        event(log, logging.WARNING, "recording callback without a known line or RecordingSid",
              sid=call_sid)
        return nothing()
    status = (form.get("RecordingStatus") or "").lower()
    duration, url = _duration(form, "RecordingDuration"), form.get("RecordingUrl") or ""

    def arrived(tx: Tx) -> None:
        call = tx.call(call_sid)
        if call is not None and _textable(svc, call.caller):
            voicemail.recording_arrived(tx, svc, line, call_sid, recording_sid, status,
                                        duration, url)
        else:
            voicemail_without_number.recording_without_number(tx, svc, line, call_sid, recording_sid, status,
                                      duration, url)
        if missed_call.recording_is_empty(status, duration, url):
            missed_call.call_missed(tx, svc, line, call_sid, "the caller left no message")

    await svc.store.write(arrived)
    return nothing()


@blueprint.post("/voice/transcription")
@twilio_webhook(Channel.VOICE, on_error=empty)
async def transcription(svc: Services, form: MultiDict[str, str]) -> Response:
    line = svc.config.lines.get(request.args.get("line", "")) or line_for(svc, form)
    call_sid, recording_sid = form.get("CallSid", ""), form.get("RecordingSid", "")
    if line is None or not recording_sid:
        return nothing()
    status = (form.get("TranscriptionStatus") or "").lower()
    text = (form.get("TranscriptionText") or "").strip()
    url = form.get("RecordingUrl") or ""

    def arrived(tx: Tx) -> None:
        existing = tx.voicemail(recording_sid)
        call = tx.call(call_sid)
        if existing is not None:
            with_number = existing.conversation_id is not None
        else:
            with_number = _textable(svc, call.caller if call else _caller(svc, form))
        if with_number or status != "completed" or not text:
            voicemail.transcription_arrived(tx, svc, line, call_sid, recording_sid, status,
                                            text, _caller(svc, form), url)
        else:
            voicemail_without_number.transcription_without_number(tx, svc, line, call_sid, recording_sid, text, url)

    await svc.store.write(arrived)
    return nothing()


@blueprint.post("/voice/status")
@twilio_webhook(Channel.VOICE, on_error=empty)
async def status(svc: Services, form: MultiDict[str, str]) -> Response:
    call_sid = form.get("CallSid", "")
    if (form.get("CallStatus") or "").lower() in CALLER_GONE:
        await svc.store.write(lambda tx: _call_ended(tx, svc, call_sid))
    return nothing()


def _call_ended(tx: Tx, svc: Services, call_sid: str) -> None:
    before = tx.call(call_sid)
    cascade.call_status(tx, call_sid)
    line = svc.config.lines.get(before.line_id) if before else None
    if before is None or line is None:
        return
    if before.status in missed_call.UNANSWERED_STATES:
        missed_call.call_missed(tx, svc, line, call_sid, "the caller hung up "
                                + missed_call.UNANSWERED_STATES[before.status])
    else:
        voicemail_prompt.call_ended(tx, svc, line, before)
