"""Two lines sharing a responder, in and after hours, with schedules, an
on-call calendar and OFF/ON by text; the decision log explains every skip."""


import pytest

from ivr.config import parse_config

from .support.call_simulator import ANSWER_AND_PRESS, CallSimulator
from .support.harness import CUSTOMER
from .support.scenes import at_local, of_kind, pages

QDN, VENUE = "+16195550100", "+16195550200"
SERGIO, BACKUP, ANA = "+16195550101", "+18585550199", "+16195550103"

CALENDAR = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//ivr tests//EN
BEGIN:VEVENT
UID:ana-rota
SUMMARY:On call: Ana
DTSTART;TZID=America/Los_Angeles:20261104T170000
DTEND;TZID=America/Los_Angeles:20261105T090000
RRULE:FREQ=WEEKLY;BYDAY=WE
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
def config(tmp_path):
    (tmp_path / "oncall.ics").write_text(CALENDAR)
    return parse_config({
        "service": {"database": str(tmp_path / "ivr.sqlite3"), "timezone": "America/Los_Angeles",
                    "calendars": ["oncall.ics"]},
        "responders": {
            "sergio": {"name": "Sergio", "phone": SERGIO, "on_duty": ["mon-fri 08:00-18:00"]},
            "backup": {"name": "Backup", "phone": BACKUP, "on_call": ["daily 18:00-08:00"]},
            "ana": {"name": "Ana", "phone": ANA, "on_duty": ["mon-fri 09:00-17:00"]},
        },
        "lines": {
            "qdn": {"name": "Quick Dump Now", "number": QDN, "code": "QDN",
                    "tiers": ["sergio", "backup"],
                    "hours": {"open": ["mon-fri 08:00-18:00"], "holidays": ["2026-11-26"],
                              "after_hours": "on_call"}},
            "venue": {"name": "The Venue", "number": VENUE, "code": "VEN",
                      "tiers": ["ana", "sergio"],
                      "hours": {"open": ["mon-fri 09:00-17:00"], "after_hours": "voicemail"}},
        },
    }, tmp_path / "ivr.toml")



async def test_in_hours_a_text_goes_to_the_primary(harness):
    at_local(harness, "2026-11-02 10:00")
    reply = await harness.twilio.text(from_=CUSTOMER, to=QDN, body="hello")
    assert reply.messages() == ["Thanks, we got your message. Sergio will reply shortly."]
    assert len(await pages(harness, SERGIO)) == 1
    assert await of_kind(harness, "responder_skipped") == []


async def test_after_hours_a_text_goes_to_whoever_is_on_call_and_says_why(harness):
    at_local(harness, "2026-11-02 20:00")
    reply = await harness.twilio.text(from_=CUSTOMER, to=QDN, body="overflowing")
    assert reply.messages() == ["Thanks, we got your message. We're closed now; Backup will "
                                "reply as soon as they can."]
    assert await pages(harness, SERGIO) == []
    assert len(await pages(harness, BACKUP)) == 1
    [closed] = await of_kind(harness, "after_hours")
    assert "closed at Mon 20:00 America/Los_Angeles" in closed.reason
    [skip] = await of_kind(harness, "responder_skipped")
    assert skip.responder_id == "sergio" and skip.tier == 0
    assert "off: no duty or on-call window at Mon 20:00" in skip.reason


async def test_a_holiday_is_after_hours(harness):
    at_local(harness, "2026-11-26 10:00")   # a Thursday, Thanksgiving
    await harness.twilio.text(from_=CUSTOMER, to=QDN, body="open today?")
    assert "2026-11-26 is a holiday" in (await of_kind(harness, "after_hours"))[0].reason
    assert len(await pages(harness, BACKUP)) == 1


async def test_after_hours_a_call_rings_only_the_on_call_responder(harness):
    at_local(harness, "2026-11-02 20:00")
    transcript = await CallSimulator(harness.twilio, caller=CUSTOMER, line_number=QDN,
                                     legs={BACKUP: ANSWER_AND_PRESS("1")}).run()
    assert transcript.dials == [[BACKUP]] and transcript.connected_to == BACKUP
    assert transcript.heard[0].startswith("Thanks for calling Quick Dump Now. We are closed")
    [skip] = await of_kind(harness, "responder_skipped")
    assert skip.responder_id == "sergio"


async def test_after_hours_the_other_line_goes_straight_to_voicemail(harness):
    at_local(harness, "2026-11-02 20:00")
    transcript = await CallSimulator(harness.twilio, caller=CUSTOMER, line_number=VENUE).run()
    assert transcript.dials == [] and transcript.recorded
    assert transcript.heard[0].startswith("Thanks for calling The Venue. We are closed")
    assert "takes voicemail after hours" in (await of_kind(harness, "after_hours"))[0].reason


async def test_nobody_available_still_pages_the_last_tier_and_says_so(harness):
    at_local(harness, "2026-11-02 20:00")   # The Venue: Ana is off duty, Sergio too
    await harness.twilio.text(from_=CUSTOMER, to=VENUE, body="lost my keys at the venue")
    assert len(await pages(harness, SERGIO)) == 1
    [nobody] = await of_kind(harness, "nobody_available")
    assert "the last tier (Sergio) is paged anyway" in nobody.reason
    skipped = {d.responder_id for d in await of_kind(harness, "responder_skipped")}
    assert skipped == {"ana", "sergio"}


async def test_a_calendar_shift_puts_a_responder_on_call(harness):
    at_local(harness, "2026-11-04 20:00")   # Wednesday: Ana's on-call rota from the calendar
    await harness.twilio.text(from_=CUSTOMER, to=VENUE, body="door is locked")
    assert len(await pages(harness, ANA)) == 1
    assert await of_kind(harness, "nobody_available") == []


async def test_off_and_on_by_text_last_until_the_next_scheduled_change(harness):
    at_local(harness, "2026-11-02 10:00")
    reply = await harness.twilio.text(from_=SERGIO, to=VENUE, body="off")
    assert reply.messages() == ["You are now off on The Venue until Mon 02 Nov 18:00. "
                                "Text ON or OFF to change it."]
    [changed] = await of_kind(harness, "availability_changed")
    assert changed.responder_id == "sergio" and "texted OFF" in changed.reason

    # Sergio serves both lines: OFF is his, whichever line he texted.
    await harness.twilio.text(from_=CUSTOMER, to=QDN, body="anyone?")
    [skip] = [d for d in await of_kind(harness, "responder_skipped") if d.responder_id == "sergio"]
    assert "texted OFF until Mon 18:00" in skip.reason
    assert await pages(harness, SERGIO) == []

    # The override ends at his next scheduled change (18:00), when the rota takes over.
    at_local(harness, "2026-11-03 09:00")
    await harness.twilio.text(from_="+16195550177", to=QDN, body="next day")
    assert len(await pages(harness, SERGIO)) == 1

    reply = await harness.twilio.text(from_=BACKUP, to=QDN, body="ON")
    assert reply.messages()[0].startswith("You are now on call on Quick Dump Now until Tue 03 Nov 18:00")


async def test_escalation_skips_the_unavailable(harness):
    at_local(harness, "2026-11-02 17:58")
    await harness.twilio.text(from_=CUSTOMER, to=QDN, body="before closing")
    assert len(await pages(harness, SERGIO)) == 1
    harness.clock.advance(120)   # 18:00: Backup's on-call window opens
    await harness.fire_timers()
    assert len(await pages(harness, BACKUP)) == 1
