"""Calls, end to end: the call simulator plays Twilio and follows every
TwiML document the service returns (each checked by twiml_check, whispers
with the whisper rules)."""


import pytest

from ivr.config import parse_config

from .support.call_simulator import (
    ANSWER_AND_PRESS,
    ANSWER_SILENT,
    BUSY,
    FAILED,
    NO_ANSWER,
    SILENCE,
    VOICEMAIL_BOX,
    CallSimulator,
    Speech,
)
from .support.database_rows import execute
from .support.harness import CUSTOMER, LINE

# The text, call and reliability scenarios hold on both engines.
pytestmark = pytest.mark.both_engines

SERGIO, BACKUP, ANA = "+16195550101", "+18585550199", "+16195550103"
MENU_LINE = "+16195550200"


@pytest.fixture
def config(tmp_path, database):
    return parse_config({
        "service": {"database": database},
        "responders": {
            "sergio": {"name": "Sergio", "phone": SERGIO},
            "backup": {"name": "Backup", "phone": BACKUP},
            "ana": {"name": "Ana", "phone": ANA},
        },
        "lines": {
            "qdn": {"name": "Quick Dump Now", "number": LINE, "code": "QDN",
                    "tiers": ["sergio", ["backup", "ana"]], "ring_seconds": 20,
                    "ack_seconds": 120},
            "venue": {"name": "The Venue", "number": MENU_LINE, "tiers": ["sergio"],
                      "menu": {"prompt": "For reservations press 1. For events press 2.",
                               "options": {"1": {"name": "reservations", "tiers": ["ana"]},
                                           "2": {"name": "events", "tiers": ["backup"]}}}},
        },
    }, "test.toml")


def call(harness, line=LINE, **script) -> CallSimulator:
    return CallSimulator(harness.twilio, caller=CUSTOMER, line_number=line, **script)


async def decisions(harness, kind=None):
    rows = await harness.decisions()
    return [d for d in rows if kind is None or d.kind == kind]


async def test_tier_one_does_not_answer_tier_two_accepts(harness):
    sim = call(harness, legs={SERGIO: NO_ANSWER, BACKUP: ANSWER_AND_PRESS("1")})
    transcript = await sim.run()
    assert transcript.dials == [[SERGIO], [BACKUP, ANA]]
    assert transcript.connected_to == BACKUP
    assert transcript.heard[0].startswith("Thanks for calling Quick Dump Now")
    assert any("Press 1" in said for said in transcript.responder_heard(BACKUP))

    [failed] = await decisions(harness, "tier_failed")
    assert failed.responder_id == "sergio" and "nobody answered within 20 s" in failed.reason
    [accepted] = await decisions(harness, "call_accepted")
    assert accepted.responder_id == "backup" and accepted.tier == 1
    [connected] = await decisions(harness, "call_connected")
    assert connected.responder_id == "backup"
    assert [d.responder_id for d in await decisions(harness, "tier_dialed")] == [
        "sergio", "backup", "ana"]


async def test_a_voicemail_box_answering_tier_one_does_not_end_the_cascade(harness):
    sim = call(harness, legs={SERGIO: VOICEMAIL_BOX, ANA: ANSWER_AND_PRESS("1")})
    transcript = await sim.run()
    first = transcript.params_of("/voice/dial-result")[0]
    assert (first["DialCallStatus"], first["DialBridged"]) == ("completed", "false")
    assert transcript.dials == [[SERGIO], [BACKUP, ANA]]
    assert transcript.connected_to == ANA
    [declined] = await decisions(harness, "call_declined")
    assert declined.responder_id == "sergio" and "pressed nothing" in declined.reason
    failed = (await decisions(harness, "tier_failed"))[0]
    assert "voicemail box" in failed.reason


async def test_a_wrong_key_in_the_whisper_is_not_acceptance(harness):
    sim = call(harness, legs={SERGIO: ANSWER_AND_PRESS("5"), BACKUP: ANSWER_AND_PRESS("1")})
    transcript = await sim.run()
    assert transcript.connected_to == BACKUP
    assert "pressed 5" in (await decisions(harness, "call_declined"))[0].reason


async def test_busy_then_failed_and_busy_goes_to_voicemail(harness):
    sim = call(harness, legs={SERGIO: BUSY, BACKUP: FAILED, ANA: BUSY})
    transcript = await sim.run()
    assert transcript.dials == [[SERGIO], [BACKUP, ANA]]
    assert transcript.recorded and transcript.connected_to is None
    reasons = [d.reason for d in await decisions(harness, "tier_failed")]
    assert reasons[0].startswith("busy")
    [voicemail] = await decisions(harness, "voicemail_started")
    assert "every tier has been tried" in voicemail.reason


async def test_a_simultaneous_tier_goes_to_the_first_who_presses_1(harness):
    sim = call(harness, legs={SERGIO: NO_ANSWER,
                              BACKUP: ANSWER_AND_PRESS("1", answer_after=9),
                              ANA: ANSWER_AND_PRESS("1", answer_after=3)})
    transcript = await sim.run()
    assert transcript.dials[1] == [BACKUP, ANA]
    assert transcript.connected_to == ANA
    [accepted] = await decisions(harness, "call_accepted")
    assert accepted.responder_id == "ana"


async def test_the_menu_routes_by_key_and_by_speech(harness):
    transcript = await call(harness, line=MENU_LINE, caller_input=["2"],
                            legs={BACKUP: ANSWER_AND_PRESS("1")}).run()
    assert transcript.dials == [[BACKUP]] and transcript.connected_to == BACKUP
    assert "For reservations press 1" in " ".join(transcript.heard)

    transcript = await call(harness, line=MENU_LINE, caller_input=[Speech("reservations please")],
                            legs={ANA: ANSWER_AND_PRESS("1")}).run()
    assert transcript.dials == [[ANA]] and transcript.connected_to == ANA
    chosen = await decisions(harness, "menu_chosen")
    assert ["option 2 (events)" in chosen[0].reason, "reservations" in chosen[1].reason] == [True, True]


async def test_bad_menu_input_repeats_once_then_falls_through_to_the_default_tiers(harness):
    transcript = await call(harness, line=MENU_LINE, caller_input=["7", SILENCE],
                            legs={SERGIO: ANSWER_AND_PRESS("1")}).run()
    assert transcript.dials == [[SERGIO]] and transcript.connected_to == SERGIO
    assert transcript.heard.count("For reservations press 1. For events press 2.") == 2
    assert len(await decisions(harness, "menu_repeated")) == 1
    assert len(await decisions(harness, "menu_fell_through")) == 1


async def test_every_tier_fails_voicemail_is_texted_to_everyone_then_its_transcription(harness):
    sim = call(harness, legs={SERGIO: NO_ANSWER, BACKUP: NO_ANSWER, ANA: ANSWER_SILENT},
               voicemail="Hi, the bin at 5th street is full.")
    transcript = await sim.run()
    assert transcript.recorded
    assert "leave a message" in " ".join(transcript.heard)

    await sim.deliver_recording()
    await harness.deliver_outbox()
    for number in (SERGIO, BACKUP, ANA):
        [page] = harness.fake.messages_to(number)
        assert page.body.startswith("[QDN #1] voicemail from +1 619-555-0142 at ")
        assert "https://api.twilio.com/" in page.body and "reply ACK 1" in page.body
        assert page.from_ == LINE
    [received] = await decisions(harness, "voicemail_received")
    assert received.conversation_id is not None

    await sim.deliver_transcription()
    await harness.deliver_outbox()
    for number in (SERGIO, BACKUP, ANA):
        assert harness.fake.messages_to(number)[-1].body.startswith(
            "[QDN #1] the voicemail from +1 619-555-0142 says: ")

    # A voicemail is a conversation: it is ACKed like a text.
    reply = await harness.twilio.text(from_=ANA, to=LINE, body="ACK")
    assert reply.messages()[0].startswith("[QDN #1] is yours")
    assert (await harness.fire_timers()) == 0


async def test_a_caller_who_leaves_no_message_is_a_missed_call(harness):
    sim = call(harness, legs={}, voicemail=None)
    transcript = await sim.run()
    assert not transcript.recorded
    # recordingStatusCallbackEvent asks for 'absent' too, so Twilio reports the silence.
    assert len(sim.pending_recording_callbacks) == 1
    [response] = await sim.deliver_recording()
    assert response.status == 200
    [empty] = await decisions(harness, "voicemail_empty")
    assert "nobody is paged for silence" in empty.reason
    assert await decisions(harness, "voicemail_received") == []
    # Not a voicemail page but a missed call (tests/test_missed_calls.py):
    # each responder paged once, the caller texted to reply.
    assert len(await decisions(harness, "missed_call")) == 1
    await harness.deliver_outbox()
    assert [m.to for m in harness.fake.messages if "voicemail" in m.body.lower()] == []


async def test_an_absent_recording_callback_is_logged_and_pages_nobody(harness):
    response = await harness.twilio.post("/voice/recording?line=qdn", [
        ("AccountSid", "AC" + "0" * 31 + "1"), ("CallSid", "CAabsent"), ("RecordingSid", "REabsent"),
        ("RecordingUrl", "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/REabsent"),
        ("RecordingStatus", "absent"), ("RecordingDuration", "0"), ("RecordingChannels", "1"),
        ("RecordingSource", "RecordVerb")])
    assert response.status == 200
    [empty] = await decisions(harness, "voicemail_empty")
    assert "absent" in empty.reason
    assert await harness.deliver_outbox() == 0


async def test_the_caller_hanging_up_mid_cascade_ends_it(harness):
    sim = call(harness, legs={SERGIO: NO_ANSWER}, hang_up_during_dial=1,
               status_callback_path="/voice/status")
    transcript = await sim.run()
    assert transcript.dials == [[SERGIO]]
    [hung_up] = await decisions(harness, "caller_hung_up")
    assert "nobody else is dialed" in hung_up.reason
    assert await decisions(harness, "voicemail_started") == []
    stored = await harness.store.read(lambda tx: tx.call(sim.call_sid))
    assert stored.status == "ended"


async def test_a_hang_up_reported_by_the_status_callback_first_stops_the_next_tier(harness):
    sim = call(harness, legs={SERGIO: NO_ANSWER})
    first = await harness.twilio.post("/voice/incoming", sim._caller_params())
    assert first.status == 200
    await harness.twilio.post("/voice/status", [*sim._caller_params_with_status("completed"),
                                                ("CallDuration", "12")])
    attempt_url = first.twiml.find("Dial").get("action")
    path = attempt_url.removeprefix("https://ivr.example.com")
    result = await harness.twilio.post(path, [*sim._caller_params_with_status("in-progress"),
                                              ("DialCallStatus", "no-answer"),
                                              ("DialBridged", "false")])
    assert result.twiml.find("Dial") is None and result.twiml.find("Hangup") is not None
    assert len(await decisions(harness, "caller_hung_up")) == 1


async def test_an_error_inside_a_voice_handler_answers_an_apology_and_voicemail(harness, caplog):
    execute(harness.store.path, "DROP TABLE dial_attempts")
    sim = call(harness, legs={SERGIO: ANSWER_AND_PRESS("1")})
    transcript = await sim.run()
    assert transcript.heard[0] == "Sorry, we are having trouble connecting your call."
    assert transcript.recorded
    assert "webhook failed inside" in caplog.text
    assert (await decisions(harness, "handler_error"))[0].reason.startswith(
        ("OperationalError", "UndefinedTable"))


async def test_an_unknown_line_says_so_and_hangs_up(harness):
    transcript = await call(harness, line="+14155550000").run()
    assert transcript.heard == ["The number you have called is not in service. Goodbye."]
    assert transcript.dials == []
    assert (await decisions(harness))[0].kind == "unknown_line"


async def test_a_retried_first_webhook_dials_once(harness):
    sim = call(harness)
    params = sim._caller_params()
    first = await harness.twilio.post("/voice/incoming", params)
    again = await harness.twilio.post("/voice/incoming", params)
    assert first.body == again.body
    assert len(await decisions(harness, "tier_dialed")) == 1
