"""The voicemail prompt: the caller may press the line's text-back key
(`text_back_key`, "1" by default) to be texted back instead of leaving a
message, and a caller who hangs up before recording anything is a missed
call (ivr.voice.missed_call), whichever webhook says so.

Why a <Gather> around the prompt, and not <Record finishOnKey>: Twilio
ignores keys pressed during a plain <Say>, so with finishOnKey alone the
key would only work after the beep, and a key pressed at once makes an
empty recording, for which Twilio documents that it requests *no* action
URL (the next verb runs instead): the key would be lost. A <Gather
numDigits="1"> with the prompt nested in it stops the prompt at the first
key and posts it as `Digits` to its action. With actionOnEmptyResult the
action is asked even when no key was pressed, and only that answer holds
the <Record>; so the service knows whether the caller heard the prompt out
(a `voicemail_recording` decision) or hung up during it. Twilio sends no
action for a hang-up during a <Gather>, and no recording callback when
<Record> never ran: that hang-up is known from the call's status callback
alone (`/voice/status`, which `ivr twilio configure` sets).

Every way a missed call is reported goes through missed_call.call_missed,
which acts once per CallSid:

  text-back key       the Gather action (this file): text_back_requested, missed_call
  hang-up in prompt   the status callback with the call still at the prompt
  hang-up at the beep the recording callback (absent, or 0 s), or the Record
                      action with RecordingDuration 0 or no RecordingUrl
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from ..config import Line
from ..decisions import Channel, DecisionKind, decision
from ..services import Services
from ..speech import Speaker, call_speaker
from ..store import Call, Tx
from .answers import hang_up, say
from .missed_call import call_missed, can_text_back
from .voicemail import record_twiml

PromptStep = Literal["record", "text_back", "no_number", "gone"]


def prompt_step(digits: str, key: str, textable: bool, call_status: str) -> PromptStep:
    """Pure: what the prompt's Gather action does. Any key but the text-back
    key (or none) records; the key texts back a caller who has a number."""
    if call_status in ("ended", "connected"):
        return "gone"
    if key and digits == key:
        return "text_back" if textable else "no_number"
    return "record"


def prompt_answered(tx: Tx, svc: Services, line: Line, call_sid: str, caller: str,
                    digits: str) -> str:
    """The prompt's Gather action: the recording, or the text-back."""
    call = _voicemail_call(tx, line, call_sid, caller)
    speak = call_speaker(tx, line, call_sid)
    key = line.text_back_key
    step = prompt_step(digits, key, can_text_back(svc, call.caller), call.status)
    if step == "gone":
        if tx.has_decision(call_sid, DecisionKind.TEXT_BACK_REQUESTED):
            return _goodbye(speak)    # a retried action: answered as before
        return hang_up()
    if call.status != "voicemail":
        tx.update_call(call_sid, status="voicemail")
    if step == "text_back":
        tx.decide(decision(DecisionKind.TEXT_BACK_REQUESTED, Channel.VOICE,
                           f"the caller pressed {key} at the voicemail prompt: texted back "
                           "instead of leaving a message", line=line, sid=call_sid))
        tx.end_call(call_sid)
        call_missed(tx, svc, line, call_sid,
                    f"the caller pressed {key} at the voicemail prompt to be texted back",
                    page="text_back_page", note="text_back_note")
        return _goodbye(speak)
    heard = f"the caller pressed {digits}" if digits else "no key was pressed"
    if step == "no_number":
        heard = f"the caller pressed {key} but has no number to text back"
    if not tx.has_decision(call_sid, DecisionKind.VOICEMAIL_RECORDING):
        tx.decide(decision(DecisionKind.VOICEMAIL_RECORDING, Channel.VOICE,
                           f"the voicemail prompt ended ({heard}); the caller is recorded",
                           line=line, sid=call_sid))
    return record_twiml(svc, line, say=speak("text_back_no_number")
                        if step == "no_number" else None, speak=speak)


def _voicemail_call(tx: Tx, line: Line, call_sid: str, caller: str) -> Call:
    call = tx.call(call_sid)
    if call is None:
        # State lost to an earlier failure: the caller is at the prompt.
        tx.start_call(call_sid, line.id, caller, "voicemail",
                      tx.now + timedelta(seconds=line.call_deadline_seconds))
        call = tx.call(call_sid)
        assert call is not None
    return call


def _goodbye(speak: Speaker) -> str:
    return say(speak("text_back_goodbye"), hangup=True)


def call_ended(tx: Tx, svc: Services, line: Line, before: Call) -> None:
    """The status callback said the call ended while it was at voicemail: a
    caller who never got past the prompt left nothing. Past it, the
    recording callback says whether there is a message."""
    if (before.status == "voicemail"
            and not tx.has_decision(before.call_sid, DecisionKind.VOICEMAIL_RECORDING)):
        call_missed(tx, svc, line, before.call_sid,
                    "the caller hung up during the voicemail prompt")


def nothing_recorded(tx: Tx, svc: Services, line: Line, call_sid: str) -> None:
    """The Record action came with no audio (RecordingDuration 0 or no
    RecordingUrl): the caller hung up at the beep, or pressed # at once."""
    call_missed(tx, svc, line, call_sid, "the caller left no message")
