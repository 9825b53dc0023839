"""A line with no on-call rota is not silent after hours: its tiers are
tried as in hours, and a decision says why (issue 15, item 7)."""


import pytest

from .support.call_simulator import ANSWER_AND_PRESS, NO_ANSWER, CallSimulator
from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO
from .support.scenes import at_local, of_kind, pages, two_zone_config


@pytest.fixture
def config(tmp_path):
    return two_zone_config(tmp_path)



async def test_after_hours_with_no_on_call_rota_a_text_pages_the_tiers_as_in_hours(harness):
    at_local(harness, "2026-11-23 22:00")   # Monday night: closed; nobody has on-call windows
    reply = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="overflowing")
    # Sergio (no schedule: always available) is paged, not "the last tier anyway".
    assert len(await pages(harness, SERGIO)) == 1
    assert await pages(harness, BACKUP) == []
    assert reply.messages() == ["Thanks, we got your message. We're closed now; Sergio will "
                                "reply as soon as they can."]
    [why] = await of_kind(harness, "after_hours")
    assert "closed at Mon 22:00 America/Los_Angeles" in why.reason
    assert "no responder of the line has on-call windows" in why.reason
    assert "tried as in hours" in why.reason
    assert await of_kind(harness, "nobody_available") == []


async def test_after_hours_with_no_on_call_rota_a_call_rings_the_tiers(harness):
    at_local(harness, "2026-11-23 22:00")
    transcript = await CallSimulator(harness.twilio, caller=CUSTOMER, line_number=LINE,
                                     legs={SERGIO: ANSWER_AND_PRESS("1")}).run()
    assert transcript.dials == [[SERGIO]] and transcript.connected_to == SERGIO
    assert transcript.heard[0].startswith("Thanks for calling Quick Dump Now. We are closed")
    reasons = [d.reason for d in await of_kind(harness, "after_hours")]
    assert len(reasons) == 1 and "tried as in hours" in reasons[0]


async def test_after_hours_with_no_one_available_still_goes_to_voicemail(harness):
    at_local(harness, "2026-11-23 22:00")
    await harness.twilio.text(from_=SERGIO, to=LINE, body="OFF")
    transcript = await CallSimulator(harness.twilio, caller=CUSTOMER, line_number=LINE,
                                     legs={SERGIO: NO_ANSWER}).run()
    assert transcript.dials == [] and transcript.recorded
    assert len(await of_kind(harness, "nobody_available")) == 1
