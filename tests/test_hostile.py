"""Strangers and broken clients: properly signed but random form bodies at
every webhook. Never a 500, always well-formed TwiML, nothing stored that
should not be; oversized bodies are refused before they are read."""

from __future__ import annotations

import re
import sqlite3
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.app import MAX_REQUEST_BYTES

from .support.harness import LoopedService
from .support.twiml_check import check_twiml

LINE, SERGIO = "+16195550100", "+16195550101"

ROUTES = [
    ("/sms/incoming", "messaging"), ("/sms/status", "messaging"),
    ("/voice/incoming", "voice"), ("/voice/menu", "voice"),
    ("/voice/whisper?attempt=1&responder=sergio", "whisper"),
    ("/voice/whisper-answer?attempt=1&responder=sergio", "whisper"),
    ("/voice/whisper?attempt=x&responder=%3Cb%3E", "whisper"),
    ("/voice/dial-result?attempt=1", "voice"), ("/voice/dial-result?attempt=-5", "voice"),
    ("/voice/voicemail", "voice"), ("/voice/voicemail-prompt", "voice"),
    ("/voice/voicemail-done", "voice"),
    ("/voice/recording?line=qdn", "voice"), ("/voice/transcription?line=qdn", "voice"),
    ("/voice/status", "voice"),
]

TWILIO_NAMES = ["To", "From", "Body", "MessageSid", "SmsSid", "CallSid", "AccountSid",
                "NumMedia", "MediaUrl0", "MediaUrl1", "Digits", "SpeechResult", "CallStatus",
                "DialCallStatus", "DialBridged", "DialCallDuration", "RecordingSid",
                "RecordingUrl", "RecordingStatus", "RecordingDuration", "TranscriptionText",
                "TranscriptionStatus", "MessageStatus", "ErrorCode", "ParentCallSid"]

NASTY = st.sampled_from([
    "<Response><Hangup/></Response>", "]]><!--", "{{ 7*7 }}", "{% for x in () %}{% endfor %}",
    "'; DROP TABLE decisions; --", "\u202e\u0645\u0631\u062d\u0628\u0627", "🔥" * 50,
    "+16195550100", "+16195550101", "+1 (619) 555-0142", "1", "true", "false", "completed",
    "no-answer", "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1", "-1",
    "99999999999999999999", "", " ", "\x00", "\r\n", "x" * 20_000, "NaN",
])
VALUES = st.one_of(NASTY, st.text(st.characters(blacklist_categories=("Cs",)), max_size=300))
FORMS = st.lists(st.tuples(st.one_of(st.sampled_from(TWILIO_NAMES), st.text(max_size=20)),
                           VALUES), max_size=25)

E164 = re.compile(r"^\+\d{8,15}$")


class Service(LoopedService):
    """One app for all examples, on its own event loop."""


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    service = Service(tmp_path_factory.mktemp("hostile"))
    yield service
    service.close()


def check_invariants(db_path: str) -> None:
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # The fallback TwiML keeps Twilio happy; a fuzz case must not need it.
        errors = db.execute("SELECT reason FROM decisions WHERE kind = 'handler_error'").fetchall()
        assert errors == [], errors
        for (customer,) in db.execute("SELECT customer FROM conversations"):
            assert E164.match(customer) and customer not in (LINE, SERGIO, "+18585550199")
        for (number,) in db.execute("SELECT to_number FROM outbox"):
            assert E164.match(number)
        for (caller,) in db.execute("SELECT caller FROM calls"):
            assert caller == "anonymous" or E164.match(caller)
    finally:
        db.close()


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(route=st.sampled_from(ROUTES), form=FORMS, to_line=st.booleans())
def test_random_signed_bodies_never_break_a_webhook(service, route, form, to_line):
    path, kind = route
    if to_line:
        form = [("To", LINE), *form]   # reach past the line lookup more often
    response = service.post(path, form)
    if len(urlencode(form).encode()) > MAX_REQUEST_BYTES:
        assert response.status == 413
        return
    assert response.status == 200, response.body
    check_twiml(response.body, messaging=kind == "messaging", whisper=kind == "whisper")
    check_invariants(service.db_path)


def test_an_oversized_body_is_refused_before_it_is_read(service):
    response = service.post("/sms/incoming", [("To", LINE), ("Body", "x" * 200_000)])
    assert response.status == 413


def test_a_text_from_no_phone_number_is_logged_and_stored_nowhere(service):
    response = service.post("/sms/incoming", [("To", LINE), ("From", "client:bob"),
                                              ("MessageSid", "SMclient"), ("Body", "hi")])
    assert response.status == 200 and "<Message>" not in response.body
    db = sqlite3.connect(service.db_path)
    try:
        kinds = [k for (k,) in db.execute("SELECT kind FROM decisions WHERE sid = 'SMclient'")]
        assert kinds == ["invalid_sender"]
        assert db.execute("SELECT COUNT(*) FROM inbound_messages WHERE message_sid = 'SMclient'"
                          ).fetchone()[0] == 0
    finally:
        db.close()
