"""Voicemail: the caller leaves a message when every tier failed, the
deadline passed, the line takes voicemail after hours, or something broke.
The recording, and later its transcription, are texted to every responder
of the line, and the voicemail opens (or joins) the caller's conversation,
which must then be ACKed like a text."""

from __future__ import annotations

from datetime import timedelta

from ..config import Line
from ..conversations.opening import open_or_join
from ..conversations.paging import page_responders
from ..conversations.tiers import everyone
from ..conversations.wording import message, words
from ..decisions import Channel, DecisionKind, decision
from ..local_time import clock_time
from ..phone import display, mask
from ..services import Services
from ..speech import Speaker, Spoken, call_speaker, speaker
from ..store import Tx
from ..twiml import render


def voicemail_twiml(svc: Services, line: Line, apology: Spoken | None = None,
                    prompt: Spoken | None = None, speak: Speaker | None = None) -> str:
    """The voicemail prompt, with the text-back key offered; its Gather's
    action (ivr.voice.voicemail_prompt) answers with record_twiml."""
    speak = speak or speaker(line, None)
    key = line.text_back_key
    return render("voice_voicemail.xml",
                  apology=apology,
                  prompt=prompt or speak("voicemail_prompt"),
                  offer=speak("voicemail_text_back_offer", key=key) if key else None,
                  action=svc.callback_url("/voice/voicemail-prompt"))


def record_twiml(svc: Services, line: Line, say: Spoken | None = None,
                 speak: Speaker | None = None) -> str:
    """The recording itself, after the prompt."""
    speak = speak or speaker(line, None)
    return render("voice_record.xml",
                  say=say,
                  nothing=speak("voicemail_nothing"),
                  max_length=line.voicemail_seconds,
                  action=svc.callback_url("/voice/voicemail-done"),
                  recording_callback=svc.callback_url("/voice/recording", line=line.id),
                  transcription_callback=svc.callback_url("/voice/transcription", line=line.id))


def take_voicemail(tx: Tx, svc: Services, line: Line, call_sid: str, reason: str,
                   say: Spoken | None = None, prompt: Spoken | None = None) -> str:
    tx.update_call(call_sid, status="voicemail")
    tx.decide(decision(DecisionKind.VOICEMAIL_STARTED, Channel.VOICE, reason, line=line,
                       sid=call_sid))
    return voicemail_twiml(svc, line, apology=say, prompt=prompt,
                           speak=call_speaker(tx, line, call_sid))


def voicemail_after_error(tx: Tx, svc: Services, line: Line, call_sid: str,
                          caller: str) -> str:
    """Where a failure sends the caller: no state is needed to take a message."""
    if tx.call(call_sid) is None:
        tx.start_call(call_sid, line.id, caller, "voicemail", tx.now)
    return take_voicemail(tx, svc, line, call_sid, "sent to voicemail after an error")


def recording_arrived(tx: Tx, svc: Services, line: Line, call_sid: str, recording_sid: str,
                      status: str, duration: int, url: str) -> None:
    call = tx.call(call_sid)
    if call is not None:
        tx.end_call(call_sid)
    if status != "completed" or duration <= 0 or not url.startswith("https://"):
        tx.decide(decision(DecisionKind.VOICEMAIL_EMPTY, Channel.VOICE,
                           f"the recording is {status or 'missing'}, {duration} s: "
                           "nobody is paged for silence", line=line, sid=call_sid))
        return
    caller = call.caller if call else "anonymous"
    receive_voicemail(tx, svc, line, call_sid, caller, recording_sid, url, duration,
                      transcription=None)


def transcription_arrived(tx: Tx, svc: Services, line: Line, call_sid: str,
                          recording_sid: str, status: str, text: str, caller: str,
                          url: str) -> None:
    if status != "completed" or not text:
        tx.decide(decision(DecisionKind.TRANSCRIPTION_FAILED, Channel.VOICE,
                           f"transcription {status or 'missing'}: responders keep the "
                           "recording link", line=line, sid=call_sid))
        return
    existing = tx.voicemail(recording_sid)
    if existing is None:
        # The transcription came first: it carries all a page needs.
        call = tx.call(call_sid)
        receive_voicemail(tx, svc, line, call_sid, call.caller if call else caller,
                          recording_sid, url, 0, transcription=text)
        return
    if existing.transcription:
        return  # a retried callback
    tx.set_transcription(recording_sid, text)
    tx.set_inbound_body(recording_sid, voicemail_text(line, existing.duration,
                                                      existing.recording_url, text))
    conversation = (tx.conversation(existing.conversation_id)
                    if existing.conversation_id else None)
    if conversation is None:
        return
    tx.decide(decision(DecisionKind.TRANSCRIPTION_RECEIVED, Channel.VOICE,
                       "the voicemail's transcription is texted to every responder",
                       line=line, sid=call_sid, conversation=conversation))
    page = words(line, "transcription_page", code=conversation.code,
                   customer=display(existing.caller), transcription=text)
    page_responders(tx, line, conversation, everyone(svc.config, line), conversation.tier,
                    page, (), "the transcription arrived", sid=call_sid, channel=Channel.VOICE)


def voicemail_text(line: Line, duration: int, url: str, transcription: str | None) -> str:
    """The voicemail as the conversation's text, in the line's language."""
    return message(line, "voicemail_body", duration=duration, transcription=transcription,
                   recording=url).strip()


def receive_voicemail(tx: Tx, svc: Services, line: Line, call_sid: str, caller: str,
                      recording_sid: str, url: str, duration: int,
                      transcription: str | None) -> None:
    if tx.voicemail(recording_sid) is not None:
        tx.decide(decision(DecisionKind.DUPLICATE_WEBHOOK, Channel.VOICE,
                           "this voicemail was already received", line=line, sid=call_sid))
        return
    call = tx.call(call_sid)
    conversation, _ = open_or_join(tx, line, caller, origin="voicemail", channel=Channel.VOICE,
                                   sid=call_sid, why=f"a voicemail from {mask(caller)}",
                                   language=call.language if call else None,
                                   tier=None, bookings=svc.roster.bookings)
    tx.record_inbound(recording_sid, line.id, caller,
                      voicemail_text(line, duration, url, transcription), ())
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
    tx.decide(decision(DecisionKind.VOICEMAIL_RECEIVED, Channel.VOICE,
                       f"a {duration} s voicemail; every responder of the line is texted",
                       line=line, sid=call_sid, conversation=conversation))
    page = words(line, "voicemail_page", code=conversation.code,
                   customer=display(caller), time=clock_time(tx.now, line.policy.zone),
                   duration=duration, transcription=transcription, recording=url)
    page_responders(tx, line, conversation, everyone(svc.config, line), last, page,
                    (), "a voicemail goes to every responder", sid=call_sid,
                    channel=Channel.VOICE)
