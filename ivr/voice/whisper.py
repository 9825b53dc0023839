"""A responder's leg of a Dial: before it is bridged the responder hears
who is calling and presses 1 to take it. The first 1 gets the call; any
other key, silence, or a caller already gone hangs the leg up."""

from __future__ import annotations

from ..decisions import Channel, DecisionKind, decision
from ..services import Services
from ..speech import Spoken, responder_speaker, unknown_line
from ..store import Tx
from ..twiml import render
from .after_dial import spoken_number


def whisper_twiml(tx: Tx, svc: Services, attempt_id: int, responder_id: str) -> str | None:
    """The whisper for a responder of the attempt, or None if there is none."""
    attempt = tx.attempt(attempt_id)
    call = tx.call(attempt.call_sid) if attempt else None
    if attempt is None or call is None or responder_id not in attempt.responders:
        return None
    line = svc.config.lines.get(call.line_id)
    responder = svc.config.responders.get(responder_id)
    if line is None or responder is None:
        return None
    speak = responder_speaker(line, responder)
    caller = spoken_number(call.caller) or speak("unknown_number").text
    return render("voice_whisper.xml",
                  prompt=speak("whisper", caller=caller),
                  action=svc.callback_url("/voice/whisper-answer", attempt=attempt_id,
                                          responder=responder_id))


def whisper_answered(tx: Tx, svc: Services, attempt_id: int, responder_id: str,
                     digits: str) -> tuple[bool, Spoken]:
    """Whether the responder got the call, and the words they hear."""
    attempt = tx.attempt(attempt_id)
    call = tx.call(attempt.call_sid) if attempt else None
    line = svc.config.lines.get(call.line_id) if call else None
    responder = svc.config.responders.get(responder_id)
    if (attempt is None or call is None or line is None or responder is None
            or responder_id not in attempt.responders):
        return False, unknown_line("whisper_unavailable")
    speak = responder_speaker(line, responder)

    def decide(kind: DecisionKind, why: str) -> None:
        tx.decide(decision(kind, Channel.VOICE, why, line=call.line_id, sid=call.call_sid,
                           tier=attempt.tier, responder_id=responder_id))

    if digits != "1":
        pressed = f"pressed {digits}" if digits else "pressed nothing"
        decide(DecisionKind.CALL_DECLINED, f"{responder_id} {pressed} in the whisper; "
                                           "their leg is hung up")
        return False, speak("whisper_declined")
    if call.status == "ended":
        decide(DecisionKind.CALL_DECLINED, f"{responder_id} pressed 1 after the caller hung up")
        return False, speak("whisper_caller_gone")
    if not tx.accept_attempt(attempt_id, responder_id):
        current = tx.attempt(attempt_id)
        taken_by = current.accepted_by if current else None
        decide(DecisionKind.CALL_DECLINED, f"{responder_id} pressed 1 but {taken_by} "
                                           "took the call first")
        return False, speak("whisper_taken")
    decide(DecisionKind.CALL_ACCEPTED, f"{responder_id} pressed 1 in the whisper")
    return True, speak("whisper_connecting")
