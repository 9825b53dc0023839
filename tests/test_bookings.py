"""A conversation is tagged with the booking it concerns: by time (the
booking under way), by number (the booking that names the customer wins),
stored with the open, shown on the dashboard; a calendar that cannot be
read leaves it untagged and never stops the text."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ivr.bookings import Booking, booking_tag, choose_booking, numbers_in
from ivr.clock import FrozenClock
from ivr.config import load_config
from ivr.passwords import hash_password
from ivr.schedule import zone

from .support.call_simulator import NO_ANSWER, CallSimulator
from .support.harness import BACKUP, CUSTOMER, EXAMPLE_CONFIG, LINE, SERGIO, open_harness
from .support.operator import PASSWORD, csrf_of

LA = zone("America/Los_Angeles")
UTC = timezone.utc
NOW = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)     # Sunday 10:00 in Los Angeles
OTHER = "+16195550177"


def booking(uid: str, start_hour: int, end_hour: int, *numbers: str) -> Booking:
    day = datetime(2026, 11, 22, tzinfo=UTC)
    return Booking(uid, f"Job {uid}", day + timedelta(hours=start_hour),
                   day + timedelta(hours=end_hour), frozenset(numbers))


CHOICES = [
    # bookings, expected uid, what the reason says
    ([], None, None),
    ([booking("past", 10, 12), booking("later", 19, 20)], None, None),
    ([booking("a", 17, 19)], "a", "names no number"),
    ([booking("early", 15, 20), booking("late", 17, 19)], "late", "latest started of 2"),
    ([booking("same-b", 17, 19), booking("same-a", 17, 19)], "same-a", "latest started of 2"),
    ([booking("anyone", 17, 19), booking("theirs", 12, 20, CUSTOMER)], "theirs",
     "names +1619***0142"),
    ([booking("someone-else", 17, 19, OTHER)], None, None),
    ([booking("someone-else", 17, 19, OTHER), booking("anyone", 16, 19)], "anyone",
     "1 booking(s) under way name other numbers"),
    ([booking("ended", 12, 18, CUSTOMER), booking("anyone", 16, 19)], "anyone",
     "names no number"),
    ([booking("t1", 16, 19, CUSTOMER, OTHER), booking("t2", 17, 19, CUSTOMER)], "t2",
     "latest started of 2"),
]


@pytest.mark.parametrize("bookings, expected, why", CHOICES)
def test_the_booking_chosen(bookings, expected, why):
    choice = choose_booking(bookings, CUSTOMER, NOW, LA)
    assert (choice.booking.uid if choice else None) == expected
    if choice:
        assert why in choice.why
        assert choice.start == f"{choice.booking.start:%Y-%m-%dT%H:%M:%S}.000000Z"


def test_a_floating_booking_is_the_lines_own_clock():
    floating = Booking("f", "Floating", datetime(2026, 11, 22, 9, 30), datetime(2026, 11, 22, 11))
    choice = choose_booking([floating], CUSTOMER, NOW, LA)
    assert choice is not None and choice.start == "2026-11-22T17:30:00.000000Z"
    assert choose_booking([floating], CUSTOMER, NOW, zone("Europe/Paris")) is None


@pytest.mark.parametrize("description, attendees, expected", [
    ("", [], set()),
    ("Customer: (619) 555-0142, gate code 4411", [], {CUSTOMER}),
    ("Call +1 619 555 0177 on arrival", ["mailto:crew@example.com"], {OTHER}),
    ("", ["tel:+16195550142", "mailto:a@example.com"], {CUSTOMER}),
    ("phone tel:619-555-0177", [], {OTHER}),
    ("order 20261122 at 10:00, 3 bins", [], set()),
])
def test_numbers_an_event_carries(description, attendees, expected):
    assert numbers_in(description, attendees) == expected


def test_the_tag_of_a_row():
    assert booking_tag({"booking_uid": None}) is None
    assert booking_tag({"booking_uid": "u1", "booking_summary": "Bin swap",
                        "booking_start": "2026-11-22T17:00:00.000000Z"}) == {
        "uid": "u1", "summary": "Bin swap", "start": "2026-11-22T17:00:00.000000Z"}


def ics(*events: str) -> str:
    return ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//ivr tests//EN\n" + "".join(events)
            + "END:VCALENDAR\n")


def vevent(uid: str, start: str, end: str, summary: str, extra: str = "") -> str:
    return (f"BEGIN:VEVENT\nUID:{uid}\nSUMMARY:{summary}\nDTSTART:{start}\nDTEND:{end}\n"
            f"{extra}END:VEVENT\n")


BOOKINGS = ics(
    vevent("swap-1", "20261122T170000Z", "20261122T190000Z", "Bin swap, Elm St"),
    vevent("drop-2", "20261122T160000Z", "20261122T200000Z", "Dumpster drop, Oak Ave",
           "DESCRIPTION:Customer (619) 555-0142\\, gate 4411\n"),
    vevent("pick-3", "20261122T173000Z", "20261122T183000Z", "Pick-up for another",
           "ATTENDEE;CN=Dana:tel:+16195550177\n"),
    vevent("weekly", "20261101T170000Z", "20261101T190000Z", "Weekly yard",
           "RRULE:FREQ=WEEKLY\nDESCRIPTION:(858) 555-0123\n"),
)


def config_with_bookings(tmp_path: Path, database: str, source: str):
    text = EXAMPLE_CONFIG.read_text("utf-8").replace(
        "[lines.qdn]\n", f'[lines.qdn]\nbookings = "{source}"\n', 1)
    path = tmp_path / "ivr.toml"
    path.write_text(text, "utf-8")
    return load_config(path, database_override=database)


async def opened(harness, customer: str):
    await harness.twilio.text(from_=customer, to=LINE, body="Where is my bin?")
    return await harness.store.read(lambda tx: tx.open_conversation_for("qdn", customer))


@pytest.mark.both_engines
async def test_a_conversation_is_tagged_by_number_then_by_time(tmp_path, database, fake_twilio):
    (tmp_path / "bookings.ics").write_text(BOOKINGS, "utf-8")
    config = config_with_bookings(tmp_path, database, "bookings.ics")
    async with open_harness(config, fake_twilio, FrozenClock(NOW),
                            operator_password_hash=hash_password(PASSWORD)) as harness:
        theirs = await opened(harness, CUSTOMER)
        assert booking_tag(theirs) == {"uid": "drop-2", "summary": "Dumpster drop, Oak Ave",
                                       "start": "2026-11-22T16:00:00.000000Z"}
        # Nobody's number: the booking under way that names nobody, not Dana's.
        stranger = await opened(harness, "+16195550111")
        assert booking_tag(stranger)["uid"] == "swap-1"
        # A recurring booking's instance today names this caller.
        weekly = await opened(harness, "+18585550123")
        assert booking_tag(weekly) == {"uid": "weekly", "summary": "Weekly yard",
                                       "start": "2026-11-22T17:00:00.000000Z"}
        tagged = [d for d in await harness.decisions() if d.kind == "booking_tagged"]
        assert [d.conversation_id for d in tagged] == [theirs.id, stranger.id, weekly.id]
        assert "names +1619***0142" in tagged[0].reason
        # The text still went on to the responder as usual.
        await harness.deliver_outbox()
        assert len(fake_twilio.messages_to(SERGIO)) == 3

        client = harness.client
        login = await (await client.get("/dashboard/login", scheme="https")).get_data(as_text=True)
        await client.post("/dashboard/login", scheme="https",
                          form={"password": PASSWORD, "csrf_token": csrf_of(login)})
        page = await (await client.get("/dashboard/", scheme="https")).get_data(as_text=True)
        assert "booking: Dumpster drop, Oak Ave (Sun 22 Nov 08:00 PST)" in page


@pytest.mark.both_engines
async def test_outside_every_booking_nothing_is_tagged(tmp_path, database, fake_twilio):
    (tmp_path / "bookings.ics").write_text(BOOKINGS, "utf-8")
    config = config_with_bookings(tmp_path, database, "bookings.ics")
    async with open_harness(config, fake_twilio, FrozenClock(NOW + timedelta(hours=5))) as harness:
        conversation = await opened(harness, CUSTOMER)
        assert booking_tag(conversation) is None
        assert "booking_tagged" not in [d.kind for d in await harness.decisions()]


@pytest.mark.parametrize("content", [None, "this is not iCalendar"])
async def test_an_unreadable_calendar_leaves_it_untagged(tmp_path, fake_twilio, content, caplog):
    if content is not None:
        (tmp_path / "bookings.ics").write_text(content, "utf-8")
    config = config_with_bookings(tmp_path, str(tmp_path / "ivr.sqlite3"), "bookings.ics")
    async with open_harness(config, fake_twilio, FrozenClock(NOW)) as harness:
        conversation = await opened(harness, CUSTOMER)
        assert conversation is not None and booking_tag(conversation) is None
        await harness.deliver_outbox()
        assert len(fake_twilio.messages_to(SERGIO)) == 1
    assert "bookings calendar not read yet; conversation left untagged" in caplog.text
    assert "bookings.ics cannot be read" in caplog.text


@pytest.mark.both_engines
async def test_a_voicemail_opens_a_tagged_conversation(tmp_path, database, fake_twilio):
    (tmp_path / "bookings.ics").write_text(BOOKINGS, "utf-8")
    config = config_with_bookings(tmp_path, database, "bookings.ics")
    async with open_harness(config, fake_twilio, FrozenClock(NOW)) as harness:
        sim = CallSimulator(harness.twilio, caller=CUSTOMER, line_number=LINE,
                            legs={SERGIO: NO_ANSWER, BACKUP: NO_ANSWER},
                            voicemail="It's about the dumpster")
        await sim.run()
        await sim.deliver_recording()
        conversation = await harness.store.read(
            lambda tx: tx.open_conversation_for("qdn", CUSTOMER))
        assert conversation.origin == "voicemail" and booking_tag(conversation)["uid"] == "drop-2"
        [tagged] = [d for d in await harness.decisions() if d.kind == "booking_tagged"]
        assert tagged.channel == "voice" and tagged.conversation_id == conversation.id


async def test_an_unreadable_booking_is_skipped_and_the_rest_applies(tmp_path, fake_twilio,
                                                                     caplog):
    broken = vevent("broken", "20261122T170000Z", "20261122T190000Z", "Broken",
                    "RRULE:FREQ=INVALID;COUNT=3\nDESCRIPTION:+16195550142\n")
    (tmp_path / "bookings.ics").write_text(ics(broken, BOOKINGS[BOOKINGS.index("BEGIN:VEVENT"):
                                                                BOOKINGS.index("END:VCALENDAR")]),
                                           "utf-8")
    config = config_with_bookings(tmp_path, str(tmp_path / "ivr.sqlite3"), "bookings.ics")
    async with open_harness(config, fake_twilio, FrozenClock(NOW)) as harness:
        assert booking_tag(await opened(harness, CUSTOMER))["uid"] == "drop-2"
    assert "event broken ('Broken'): its RRULE has FREQ=INVALID" in caplog.text


def test_an_all_day_booking_without_an_end_lasts_the_day():
    # RFC 5545 3.6.1, read as the on-call calendars read it (one event_span
    # for both): a DATE start with no DTEND or DURATION is one day long.
    import icalendar

    from ivr.booking_calendars import read_bookings
    calendar = icalendar.Calendar.from_ical(ics(
        "BEGIN:VEVENT\nUID:yard-day\nSUMMARY:Yard clean-up\nDTSTART;VALUE=DATE:20261122\n"
        "END:VEVENT\n"))
    [booking] = read_bookings(calendar, datetime(2026, 11, 20), datetime(2026, 11, 25))
    assert (booking.start, booking.end) == (datetime(2026, 11, 22), datetime(2026, 11, 23))
