"""Who a text or a call is from.

Issue 14, item 7: a line's own number is no customer. A signed text with
From = To = the line opened a conversation, and later sends had To = From =
the line (Twilio refuses those, 21266). Item 12: a call's From that is no
phone number (withheld, a Twilio Client app, a SIP address, garbage) still
reaches the cascade, but is recorded as "anonymous", and its voicemail is
texted to every responder without opening a conversation that would text
"back" to something that is not a number."""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.config import parse_config
from ivr.logs import TextFormatter
from ivr.store import Store

from .support.call_simulator import ANSWER_AND_PRESS, NO_ANSWER, CallSimulator
from .support.driver import sid
from .support.fake_twilio import ACCOUNT_SID
from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO, LoopedService
from .support.twiml_check import check_twiml

OTHER_LINE = "+16195550200"
E164 = re.compile(r"^\+\d{8,15}$")


def two_lines(database: str):
    return parse_config({
        "service": {"database": database},
        "responders": {"sergio": {"name": "Sergio", "phone": SERGIO},
                       "backup": {"name": "Backup", "phone": BACKUP}},
        "lines": {
            "qdn": {"name": "Quick Dump Now", "number": LINE, "code": "QDN",
                    "tiers": ["sergio", "backup"]},
            "venue": {"name": "The Venue", "number": OTHER_LINE, "tiers": ["backup"]},
        },
    }, "test.toml")


@pytest.fixture
def config(tmp_path):
    return two_lines(str(tmp_path / "ivr.sqlite3"))


def logged(caplog) -> str:
    """The log lines as the service writes them, structured fields included."""
    return "\n".join(TextFormatter().format(record) for record in caplog.records)


def table(path: str, sql: str) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


# ------------------------------------------------- item 7: a line's own number

@pytest.mark.parametrize("sender", [LINE, OTHER_LINE, "(619) 555-0100"])
async def test_a_text_from_a_lines_own_number_opens_nothing_and_sends_nothing(
        harness, caplog, sender):
    caplog.set_level(logging.INFO)
    response = await harness.twilio.text(from_=sender, to=LINE, body="hello me")
    assert response.status == 200 and response.messages() == []
    [row] = await harness.decisions()
    assert row.kind == "invalid_sender" and row.line_id == "qdn"
    assert "not a customer" in row.reason and "nothing sent" in row.reason
    assert await harness.deliver_outbox() == 0 and harness.fake.messages == []
    path = harness.store.path
    assert table(path, "SELECT * FROM conversations") == []
    assert table(path, "SELECT * FROM inbound_messages") == []
    text = logged(caplog)
    assert "text from a line's own number ignored" in text
    assert LINE not in text and OTHER_LINE not in text
    assert "from=+1619***0100" in text or "from=+1619***0200" in text


async def test_a_text_from_a_lines_own_number_is_not_carried_when_the_store_fails(
        harness, monkeypatch):
    async def failing_write(self, fn):
        raise sqlite3.OperationalError("disk I/O error")
    monkeypatch.setattr(Store, "write", failing_write)
    response = await harness.twilio.text(from_=LINE, to=LINE, body="hello me")
    assert response.status == 200
    assert [m.get("to") for m in response.twiml.iter("Message")] == []


@pytest.mark.parametrize("caller", [LINE, OTHER_LINE])
async def test_a_call_from_a_lines_own_number_is_hung_up_and_dials_nobody(
        harness, caplog, caller):
    caplog.set_level(logging.INFO)
    sim = CallSimulator(harness.twilio, caller=caller, line_number=LINE,
                        legs={SERGIO: ANSWER_AND_PRESS("1")})
    transcript = await sim.run()
    assert transcript.dials == [] and not transcript.recorded
    [document] = [root for _, root in transcript.documents]
    assert [child.tag for child in document] == ["Hangup"]
    [row] = await harness.decisions()
    assert row.kind == "invalid_sender" and row.line_id == "qdn"
    assert "not a caller" in row.reason
    assert table(harness.store.path, "SELECT * FROM calls") == []
    assert await harness.deliver_outbox() == 0
    text = logged(caplog)
    assert "call from a line's own number hung up" in text
    assert caller not in text and "from=+1619***0" in text


# ----------------------------------------------- item 12: callers with no number

NO_NUMBERS = {
    "anonymous": "withheld", "Anonymous": "withheld", "+266696687": "withheld",
    "restricted": "withheld", "unknown": "withheld", "": "missing",
    "client:alice": "client", "sip:bob@pbx.example.com": "sip",
    "{{7*7}}\x00": "other", "<Say>hi</Say>": "other",
}


@pytest.mark.parametrize("caller", list(NO_NUMBERS))
async def test_a_caller_with_no_number_is_put_through_and_recorded_as_anonymous(
        harness, caplog, caller):
    caplog.set_level(logging.INFO)
    sim = CallSimulator(harness.twilio, caller=caller, line_number=LINE,
                        legs={SERGIO: ANSWER_AND_PRESS("1")})
    transcript = await sim.run()
    assert transcript.connected_to == SERGIO   # never drop a caller
    assert "an unknown number" in " ".join(transcript.responder_heard(SERGIO))
    assert table(harness.store.path, "SELECT caller FROM calls") == [("anonymous",)]
    text = logged(caplog)
    assert "call received from a caller with no number" in text
    assert f"caller={NO_NUMBERS[caller]}" in text
    assert not caller or caller not in text


@pytest.mark.parametrize("caller", list(NO_NUMBERS))
async def test_a_voicemail_from_no_number_is_texted_to_everyone_and_opens_nothing(
        harness, caller):
    sim = CallSimulator(harness.twilio, caller=caller, line_number=LINE,
                        legs={SERGIO: NO_ANSWER, BACKUP: NO_ANSWER},
                        voicemail="The bin on 5th street is full.")
    transcript = await sim.run()
    assert transcript.recorded
    [response] = await sim.deliver_recording()
    check_twiml(response.body)
    await harness.deliver_outbox()
    for number in (SERGIO, BACKUP):
        [page] = harness.fake.messages_to(number)
        assert page.body.startswith("[QDN] voicemail from a caller with no number at ")
        assert "https://api.twilio.com/" in page.body and "ACK" not in page.body
    [received] = [d for d in await harness.decisions() if d.kind == "voicemail_received"]
    assert received.conversation_id is None

    await sim.deliver_transcription()
    await harness.deliver_outbox()
    for number in (SERGIO, BACKUP):
        assert harness.fake.messages_to(number)[-1].body.startswith(
            "[QDN] the voicemail from a caller with no number says: ")
    path = harness.store.path
    assert table(path, "SELECT * FROM conversations") == []
    assert table(path, "SELECT caller, conversation_id FROM voicemails") == [("anonymous", None)]
    assert {to for (to,) in table(path, "SELECT to_number FROM outbox")} == {SERGIO, BACKUP}

    # A responder's ACK finds nothing to take, and nothing goes to the caller.
    reply = await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    assert reply.messages() == ["Nothing is waiting for an ACK on Quick Dump Now."]
    await harness.deliver_outbox()
    assert {m.to for m in harness.fake.messages} == {SERGIO, BACKUP}


async def test_a_transcription_first_from_no_number_pages_once_with_the_words(harness):
    sim = CallSimulator(harness.twilio, caller="client:alice", line_number=LINE,
                        legs={SERGIO: NO_ANSWER, BACKUP: NO_ANSWER}, voicemail="Help please.")
    await sim.run()
    await sim.deliver_transcription()
    await sim.deliver_recording()
    await harness.deliver_outbox()
    for number in (SERGIO, BACKUP):
        [page] = harness.fake.messages_to(number)
        assert page.body.startswith("[QDN] voicemail from a caller with no number at ")
    kinds = [d.kind for d in await harness.decisions()]
    assert kinds.count("voicemail_received") == 1 and "duplicate_webhook" in kinds
    assert table(harness.store.path, "SELECT * FROM conversations") == []


async def test_a_caller_with_a_number_still_opens_a_conversation(harness):
    sim = CallSimulator(harness.twilio, caller=CUSTOMER, line_number=LINE,
                        legs={SERGIO: NO_ANSWER, BACKUP: NO_ANSWER})
    await sim.run()
    await sim.deliver_recording()
    assert table(harness.store.path, "SELECT customer FROM conversations") == [(CUSTOMER,)]


# -------------------------------------- item 12: hostile From values, any order

HOSTILE_FROM = st.one_of(
    st.sampled_from([*NO_NUMBERS, LINE, OTHER_LINE, SERGIO, CUSTOMER, "+1 (619) 555-0142",
                     "6195550142", "+", "+1", "client:", "sip:", "\x00", "]]>", "{% x %}"]),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
# What Twilio can post about one call after its first webhook, in any order
# (callbacks race); /voice/incoming, when it comes, is always first.
STEPS = st.tuples(st.booleans(), st.lists(
    st.sampled_from(["recording", "transcription", "voicemail"]), max_size=4)).map(
    lambda s: (["incoming"] if s[0] else []) + s[1])


class Service(LoopedService):
    """One app for all examples, on its own event loop."""

    def __init__(self, tmp_path: Path):
        super().__init__(tmp_path, two_lines(str(tmp_path / "ivr.sqlite3")))

    def drain(self):
        return self.run(self.services.outbox.drain())


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    service = Service(tmp_path_factory.mktemp("senders"))
    yield service
    service.close()


def voice_form(call_sid: str, caller: str, **extra: str) -> list[tuple[str, str]]:
    return [("AccountSid", ACCOUNT_SID), ("ApiVersion", "2010-04-01"), ("CallSid", call_sid),
            ("CallStatus", "in-progress"), ("Called", LINE), ("Caller", caller),
            ("Direction", "inbound"), ("From", caller), ("To", LINE), *extra.items()]


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(caller=HOSTILE_FROM, steps=STEPS)
def test_no_caller_becomes_a_customer_that_is_not_a_phone_number(service, caller, steps):
    call_sid, recording_sid = sid("CA"), sid("RE")
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}"
    requests = {
        "incoming": ("/voice/incoming", voice_form(call_sid, caller)),
        "voicemail": ("/voice/voicemail", voice_form(call_sid, caller)),
        "recording": ("/voice/recording?line=qdn", [
            ("AccountSid", ACCOUNT_SID), ("CallSid", call_sid), ("RecordingSid", recording_sid),
            ("RecordingUrl", url), ("RecordingStatus", "completed"),
            ("RecordingDuration", "7"), ("RecordingChannels", "1"),
            ("RecordingSource", "RecordVerb")]),
        "transcription": ("/voice/transcription?line=qdn", voice_form(
            call_sid, caller, TranscriptionSid=sid("TR"), TranscriptionText="call me <now>",
            TranscriptionStatus="completed", RecordingSid=recording_sid, RecordingUrl=url)),
    }
    for step in steps:
        path, form = requests[step]
        response = service.post(path, form)
        assert response.status == 200, response.body
        check_twiml(response.body)
    service.drain()
    lines = (LINE, OTHER_LINE)
    for (customer,) in table(service.db_path, "SELECT customer FROM conversations"):
        assert E164.match(customer) and customer not in lines, customer
    for (number,) in table(service.db_path, "SELECT to_number FROM outbox"):
        assert E164.match(number) and number not in lines, number
    for (who,) in table(service.db_path, "SELECT caller FROM calls UNION SELECT caller FROM "
                                         "voicemails UNION SELECT sender FROM inbound_messages"):
        assert who == "anonymous" or (E164.match(who) and who not in lines), who
    assert table(service.db_path,
                 "SELECT reason FROM decisions WHERE kind = 'handler_error'") == []
    assert all(m.to not in lines and E164.match(m.to) for m in service.fake.messages)
