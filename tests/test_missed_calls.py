"""Missed calls become conversations (issue 15, item 2): a call that ends
with nobody taking it and no message pages every responder "missed call
from ... at ..." as a conversation ACK takes, and texts the caller to
reply. Before: the responders heard nothing and the caller got nothing."""

import re
from zoneinfo import ZoneInfo

import pytest

from .support.call_simulator import ANSWER_AND_PRESS, NO_ANSWER, SILENCE, CallSimulator
from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO, Harness

# The text, call and reliability scenarios hold on both engines.
pytestmark = pytest.mark.both_engines

MISSED_PAGE = ("[QDN #1] missed call from +1 619-555-0142 at TIME; they were texted to "
               "reply - reply ACK 1 to take it")
TEXT_BACK = ("Sorry we missed your call to Quick Dump Now. Reply to this text and we will get "
             "back to you here.")


def call(harness: Harness, caller: str = CUSTOMER, **script) -> CallSimulator:
    return CallSimulator(harness.twilio, caller=caller, line_number=LINE, **script)


async def sent(harness: Harness, to: str) -> list[str]:
    """What `to` has received, with the time of day (whose zone is the line's
    business) written TIME."""
    await harness.deliver_outbox()
    return [re.sub(r" at \d\d:\d\d \w+", " at TIME", m.body)
            for m in harness.fake.messages_to(to)]


async def kinds(harness: Harness) -> list[str]:
    return [d.kind for d in await harness.decisions()]


async def test_a_caller_hanging_up_mid_ring_is_texted_back_and_ack_takes_the_page(harness):
    sim = call(harness, legs={SERGIO: NO_ANSWER}, hang_up_during_dial=1,
               status_callback_path="/voice/status")
    transcript = await sim.run()
    assert transcript.dials == [[SERGIO]]
    # The Dial action and the status callback both say so; it is one missed call.
    assert (await kinds(harness)).count("missed_call") == 1
    for responder in (SERGIO, BACKUP):
        assert await sent(harness, responder) == [MISSED_PAGE]
    assert await sent(harness, CUSTOMER) == [TEXT_BACK]
    assert [m.from_ for m in harness.fake.messages_to(CUSTOMER)] == [LINE]
    # The time is the line's, as its responders read it (examples/ivr.toml: Los Angeles).
    local = harness.clock.now().astimezone(ZoneInfo("America/Los_Angeles"))
    assert f" at {local:%H:%M} {local.tzname()};" in harness.fake.messages_to(SERGIO)[0].body

    reply = await harness.twilio.text(from_=BACKUP, to=LINE, body="ACK")
    assert reply.messages()[0].startswith("[QDN #1] is yours")
    assert (await sent(harness, CUSTOMER))[-1] == "Backup is on it and will text you from this number."
    assert (await sent(harness, SERGIO))[-1] == "[QDN #1] Backup took it."
    # The owner's replies relay to the caller, and the caller's to the owner.
    await harness.twilio.text(from_=BACKUP, to=LINE, body="Sorry we missed you, what's up?")
    assert (await sent(harness, CUSTOMER))[-1] == "Sorry we missed you, what's up?"
    harness.clock.advance(60)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Bin not emptied")
    assert (await sent(harness, BACKUP))[-1] == "[QDN #1] +1 619-555-0142: Bin not emptied"


async def test_the_dial_action_alone_catches_a_hang_up_mid_ring(harness):
    sim = call(harness, legs={SERGIO: NO_ANSWER}, hang_up_during_dial=1)
    await sim.run()
    [missed] = [d for d in await harness.decisions() if d.kind == "missed_call"]
    assert "hung up while tier 1 rang" in missed.reason and missed.conversation_id == 1
    assert await sent(harness, CUSTOMER) == [TEXT_BACK]


async def test_a_silent_voicemail_is_a_missed_call(harness):
    sim = call(harness, legs={}, voicemail=SILENCE)
    await sim.run()
    await sim.deliver_recording()
    assert "voicemail_empty" in await kinds(harness)
    [missed] = [d for d in await harness.decisions() if d.kind == "missed_call"]
    assert "left no message" in missed.reason
    assert await sent(harness, SERGIO) == [MISSED_PAGE]
    assert await sent(harness, CUSTOMER) == [TEXT_BACK]
    assert (await kinds(harness)).count("missed_call") == 1


async def test_an_answered_call_or_a_voicemail_is_no_missed_call(harness):
    await call(harness, legs={SERGIO: ANSWER_AND_PRESS("1")},
               status_callback_path="/voice/status").run()
    sim = call(harness, caller="+16195550177", legs={}, status_callback_path="/voice/status")
    await sim.run()
    await sim.deliver_recording()
    assert "missed_call" not in await kinds(harness)
    assert await sent(harness, CUSTOMER) == []


async def test_an_opted_out_caller_is_not_texted_back(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="STOP")
    await call(harness, legs={SERGIO: NO_ANSWER}, hang_up_during_dial=1).run()
    assert await sent(harness, SERGIO) == [MISSED_PAGE]
    assert await sent(harness, CUSTOMER) == []
    assert "send_suppressed" in await kinds(harness)


async def test_a_caller_with_no_number_is_never_texted(harness):
    await call(harness, caller="anonymous", legs={SERGIO: NO_ANSWER}, hang_up_during_dial=1,
               status_callback_path="/voice/status").run()
    [missed] = [d for d in await harness.decisions() if d.kind == "missed_call"]
    assert missed.conversation_id is None
    assert await sent(harness, SERGIO) == [
        "[QDN] missed call from a caller with no number at TIME - they cannot be called "
        "or texted back"]
    assert all(m.to in (SERGIO, BACKUP) for m in harness.fake.messages)


async def test_a_missed_call_in_an_owned_conversation_goes_to_its_owner(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    await harness.deliver_outbox()
    harness.fake.messages.clear()
    await call(harness, legs={SERGIO: NO_ANSWER}, hang_up_during_dial=1).run()
    assert await sent(harness, SERGIO) == [
        "[QDN #1] +1 619-555-0142: Missed call at TIME, no message"]
    assert await sent(harness, BACKUP) == []
    assert await sent(harness, CUSTOMER) == [TEXT_BACK]


async def test_a_text_back_a_landline_cannot_take_is_logged_not_retried(harness):
    await call(harness, legs={SERGIO: NO_ANSWER}, hang_up_during_dial=1).run()
    await harness.deliver_outbox()
    [text_back] = harness.fake.messages_to(CUSTOMER)
    await harness.twilio.message_status(message_sid=text_back.sid, to=CUSTOMER, from_=LINE,
                                        status="undelivered", error_code="30006")
    harness.clock.advance(600)
    await harness.deliver_outbox()
    assert len(harness.fake.messages_to(CUSTOMER)) == 1
    decided = await kinds(harness)
    assert "delivery_failed" in decided and "returned_to_cascade" not in decided
    # The responders' missed-call page still stands: ACK takes it.
    reply = await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    assert reply.messages()[0].startswith("[QDN #1] is yours")
