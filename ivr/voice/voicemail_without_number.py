"""A voicemail from a caller with no number (withheld, a Twilio Client or
SIP caller, a line's own number). Nobody can call or text them back, so
it opens no conversation (a conversation's replies and notices go to its
customer): every responder of the line is texted the recording, and later
its transcription, as a notice, and the decision log keeps it. Its rules
mirror voicemail.recording_arrived and transcription_arrived."""

from __future__ import annotations

from ..config import Line
from ..conversations.sending import send_to_responder
from ..conversations.tiers import everyone
from ..conversations.wording import Words, words
from ..decisions import Channel, DecisionKind, decision
from ..local_time import clock_time
from ..services import Services
from ..store import Tx
from . import voicemail

# How a caller without a phone number is recorded.
NO_NUMBER = "anonymous"


def recording_without_number(tx: Tx, svc: Services, line: Line, call_sid: str,
                              recording_sid: str, status: str, duration: int,
                              url: str) -> None:
    if status != "completed" or duration <= 0 or not url.startswith("https://"):
        # Nothing to hear: the voicemail module logs it and pages nobody.
        voicemail.recording_arrived(tx, svc, line, call_sid, recording_sid, status,
                                    duration, url)
        return
    if tx.call(call_sid) is not None:
        tx.end_call(call_sid)
    if tx.voicemail(recording_sid) is not None:
        tx.decide(decision(DecisionKind.DUPLICATE_WEBHOOK, Channel.VOICE,
                           "this voicemail was already received", line=line, sid=call_sid))
        return
    tx.record_voicemail(recording_sid, call_sid, line.id, NO_NUMBER, None, url, duration)
    page = words(line, "voicemail_page_no_number", time=clock_time(tx.now, line.policy.zone),
                 duration=duration, transcription=None, recording=url)
    notify_everyone(tx, svc, line, call_sid, DecisionKind.VOICEMAIL_RECEIVED,
                     f"a {duration} s voicemail from a caller with no number: every responder "
                     "is texted; no conversation, since nothing can reach the caller", page)


def transcription_without_number(tx: Tx, svc: Services, line: Line, call_sid: str,
                                  recording_sid: str, text: str, url: str) -> None:
    existing = tx.voicemail(recording_sid)
    if existing is not None:
        if existing.transcription:
            return  # a retried callback
        tx.set_transcription(recording_sid, text)
        notify_everyone(tx, svc, line, call_sid, DecisionKind.TRANSCRIPTION_RECEIVED,
                         "the transcription of a voicemail from a caller with no number is "
                         "texted to every responder",
                         words(line, "transcription_page_no_number", transcription=text))
        return
    # The transcription came first: it carries all a page needs.
    recording = url if url.startswith("https://") else ""
    tx.record_voicemail(recording_sid, call_sid, line.id, NO_NUMBER, None, recording, 0)
    tx.set_transcription(recording_sid, text)
    notify_everyone(tx, svc, line, call_sid, DecisionKind.VOICEMAIL_RECEIVED,
                     "a voicemail from a caller with no number (its transcription first): "
                     "every responder is texted; no conversation, since nothing can reach "
                     "the caller",
                     words(line, "voicemail_page_no_number",
                           time=clock_time(tx.now, line.policy.zone), duration=0,
                           transcription=text, recording=recording))


def notify_everyone(tx: Tx, svc: Services, line: Line, call_sid: str, kind: DecisionKind,
                     reason: str, text: Words) -> None:
    """`text` reaches each responder in their own language."""
    decision_id = tx.decide(decision(kind, Channel.VOICE, reason, line=line, sid=call_sid))
    for responder in everyone(svc.config, line):
        send_to_responder(tx, line, None, decision_id, responder, text, purpose="notice")

