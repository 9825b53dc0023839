"""Who is available when: tables across DST changes, recurring calendars
with exceptions, overlapping windows, overrides and unreadable calendars."""

from datetime import date, datetime, timezone

import icalendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.calendars import CalendarCache, expand
from ivr.clock import FrozenClock
from ivr.schedule import (
    Availability,
    CalendarEvent,
    Hours,
    Override,
    ResponderSchedule,
    ScheduleError,
    choose_tier,
    event_status,
    line_open,
    names_responder,
    next_change,
    parse_window,
    responder_availability,
    wanted_for,
    zone,
)

LA = zone("America/Los_Angeles")
UTC = timezone.utc


def at(text: str) -> datetime:
    """A UTC instant written as '2026-11-02 16:30'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LA)


HOURS = Hours(tz=LA, open=(parse_window("mon-fri 08:00-18:00"), parse_window("sat 09:00-13:00")),
              holidays=frozenset({date(2026, 12, 25)}))


@pytest.mark.parametrize("moment, is_open", [
    # DST ends on Sunday 2026-11-01 in Los Angeles: 08:30 local is 15:30 UTC before, 16:30 after.
    (at("2026-10-30 15:30"), True),    # Fri 08:30 PDT
    (at("2026-11-02 16:30"), True),    # Mon 08:30 PST
    (at("2026-11-02 15:30"), False),   # Mon 07:30 PST: the same UTC time is before opening now
    (at("2026-11-03 01:59"), True),    # Mon 17:59 PST
    (at("2026-11-03 02:00"), False),   # Mon 18:00 PST: closing time is exclusive
    # DST starts on Sunday 2026-03-08: 08:30 local is 16:30 UTC before, 15:30 after.
    (at("2026-03-06 16:30"), True),    # Fri 08:30 PST
    (at("2026-03-09 15:30"), True),    # Mon 08:30 PDT
    (at("2026-03-09 14:30"), False),   # Mon 07:30 PDT
    (local("2026-11-07 12:59"), True),   # Sat window
    (local("2026-11-07 13:00"), False),
    (local("2026-11-08 12:00"), False),  # Sunday: no window
    (local("2026-12-25 10:00"), False),  # a holiday on a Friday
    (local("2026-12-24 10:00"), True),
])
def test_line_hours_follow_local_wall_clock_time(moment, is_open):
    assert line_open(HOURS, moment)[0] is is_open


def test_the_reason_names_the_holiday_or_the_local_time():
    assert line_open(HOURS, local("2026-12-25 10:00"))[1] == "2026-12-25 is a holiday"
    assert line_open(HOURS, local("2026-11-08 12:00"))[1] == "closed at Sun 12:00 America/Los_Angeles"
    assert line_open(None, at("2026-11-08 12:00")) == (True, "the line has no hours: always open")


@pytest.mark.parametrize("text, moment, inside", [
    ("daily 18:00-08:00", local("2026-11-01 01:30"), True),   # the repeated hour at DST's end
    ("daily 18:00-08:00", local("2026-11-01 07:59"), True),
    ("daily 18:00-08:00", local("2026-11-01 08:00"), False),
    ("fri 22:00-02:00", local("2026-11-07 01:00"), True),      # Saturday morning, Friday's window
    ("fri 22:00-02:00", local("2026-11-08 01:00"), False),
    ("fri-mon 10:00-11:00", local("2026-11-08 10:30"), True),  # a range across the week's end
    ("fri-mon 10:00-11:00", local("2026-11-04 10:30"), False),
    ("mon,wed 09:00-24:00", local("2026-11-04 23:59"), True),
    ("sun 09:00-10:00", local("2026-03-08 09:30"), True),      # the day DST starts
])
def test_weekly_windows(text, moment, inside):
    assert parse_window(text).contains(moment) is inside


@pytest.mark.parametrize("text", ["weekdays 9-5", "mon-fry 08:00-18:00", "mon 25:00-26:00",
                                  "mon 08:00-08:00", "mon08:00-09:00"])
def test_bad_windows_are_refused(text):
    with pytest.raises(ScheduleError):
        parse_window(text)


CALENDAR = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//ivr tests//EN
BEGIN:VEVENT
UID:rotation
SUMMARY:On call: Sergio
DTSTART;TZID=America/Los_Angeles:20261102T180000
DTEND;TZID=America/Los_Angeles:20261103T080000
RRULE:FREQ=WEEKLY;BYDAY=MO,WE
EXDATE;TZID=America/Los_Angeles:20261109T180000
END:VEVENT
BEGIN:VEVENT
UID:rotation
RECURRENCE-ID;TZID=America/Los_Angeles:20261111T180000
SUMMARY:On call: Backup
DTSTART;TZID=America/Los_Angeles:20261111T180000
DTEND;TZID=America/Los_Angeles:20261112T080000
END:VEVENT
BEGIN:VEVENT
UID:vacation
SUMMARY:Sergio vacation
DTSTART;VALUE=DATE:20261118
DTEND;VALUE=DATE:20261120
END:VEVENT
END:VCALENDAR
"""


def events_for(name: str) -> list[CalendarEvent]:
    calendar = icalendar.Calendar.from_ical(CALENDAR)
    return [e for e in expand(calendar, at("2026-11-01 00:00"), at("2026-12-01 00:00"))
            if names_responder(e.summary, name.lower(), name)]


SERGIO = ResponderSchedule(tz=LA, on_duty=(parse_window("mon-fri 08:00-18:00"),))


@pytest.mark.parametrize("moment, status, because", [
    (local("2026-11-02 10:00"), "on_duty", "on duty (mon-fri 08:00-18:00)"),
    (local("2026-11-02 19:00"), "on_call", "calendar event 'On call: Sergio'"),    # Monday rota
    (local("2026-11-03 07:00"), "on_call", "calendar event"),                      # overnight
    (local("2026-11-03 09:00"), "on_duty", "on duty"),
    (local("2026-11-03 19:00"), "off", "no duty or on-call window"),               # Tuesday
    (local("2026-11-09 19:00"), "off", "no duty or on-call window"),               # EXDATE
    (local("2026-11-11 19:00"), "off", "no duty or on-call window"),               # moved to Backup
    (local("2026-11-16 19:00"), "on_call", "calendar event"),
    (local("2026-11-18 10:00"), "off", "calendar event 'Sergio vacation'"),        # beats the window
    (local("2026-11-18 19:00"), "off", "'Sergio vacation'"),                       # off beats on call
])
def test_availability_from_windows_and_a_recurring_calendar(moment, status, because):
    result = responder_availability(SERGIO, moment, events_for("Sergio"), None)
    assert result.status == status
    assert because in result.reason


def test_a_moved_instance_belongs_to_the_person_it_names():
    backup = ResponderSchedule(tz=LA)
    assert responder_availability(backup, local("2026-11-11 19:00"), events_for("Backup"),
                                  None).status == "on_call"


def test_overlapping_windows_on_duty_beats_on_call():
    schedule = ResponderSchedule(tz=LA, on_duty=(parse_window("mon-fri 08:00-18:00"),),
                                 on_call=(parse_window("daily 00:00-24:00"),))
    assert responder_availability(schedule, local("2026-11-02 10:00"), [], None).status == "on_duty"
    assert responder_availability(schedule, local("2026-11-02 20:00"), [], None).status == "on_call"


def test_no_schedule_means_always_available():
    assert responder_availability(ResponderSchedule(tz=LA), at("2026-11-02 10:00"), [],
                                  None) == Availability("on_duty", "no schedule: always available")


@pytest.mark.parametrize("override, moment, status", [
    (Override("off", local("2026-11-02 18:00")), local("2026-11-02 10:00"), "off"),
    (Override("off", local("2026-11-02 18:00")), local("2026-11-02 18:00"), "on_call"),  # expired
    (Override("on_call", None), local("2026-11-03 19:00"), "on_call"),
    (Override("off", None), local("2026-11-18 10:00"), "off"),
])
def test_an_override_lasts_until_it_expires(override, moment, status):
    assert responder_availability(SERGIO, moment, events_for("Sergio"), override).status == status


@pytest.mark.parametrize("moment, expected", [
    (local("2026-11-02 10:00"), local("2026-11-02 18:00")),   # duty ends, the rota starts
    (local("2026-11-03 19:00"), local("2026-11-04 08:00")),   # off until Wednesday's duty
    # Tuesday evening off, then two all-day vacation days (in Sergio's own zone) keep
    # him off through Wednesday's duty and rota: the next change is Friday's duty.
    (local("2026-11-17 19:00"), local("2026-11-20 08:00")),
])
def test_the_next_scheduled_change(moment, expected):
    assert next_change(SERGIO, moment, events_for("Sergio")) == expected


def test_no_schedule_has_no_next_change():
    assert next_change(ResponderSchedule(tz=LA), at("2026-11-02 10:00"), []) is None


@pytest.mark.parametrize("summary, status", [
    ("On call: Sergio", "on_call"), ("Sergio vacation", "off"), ("Sergio PTO", "off"),
    ("Sergio on duty", "on_duty"), ("Day shift Sergio", "on_duty"), ("Sergio", "on_call"),
])
def test_what_an_event_title_means(summary, status):
    assert event_status(summary) == status


def test_an_event_names_a_responder_by_id_or_name_as_a_word():
    assert names_responder("On call: Sergio", "sergio", "Sergio")
    assert not names_responder("On call: Sergiop", "sergio", "Sergio")
    assert names_responder("Ana Maria on call", "am", "Ana Maria")


def availability_table(statuses):
    return lambda rid: Availability(statuses[rid], f"{rid} is {statuses[rid]}")


@pytest.mark.parametrize("is_open, statuses, start, index, members, skipped, exhausted", [
    (True, {"a": "on_duty", "b": "on_duty", "c": "off"}, 0, 0, ("a",), [], False),
    (True, {"a": "off", "b": "on_duty", "c": "off"}, 0, 1, ("b",), ["a", "c"], False),
    (False, {"a": "on_duty", "b": "on_duty", "c": "on_call"}, 0, 1, ("c",), ["a", "b"], False),
    (False, {"a": "on_duty", "b": "off", "c": "on_duty"}, 0, 1, (), ["a", "b", "c"], True),
    (True, {"a": "on_duty", "b": "on_duty", "c": "on_duty"}, 1, 1, ("b", "c"), [], False),
])
def test_choose_tier(is_open, statuses, start, index, members, skipped, exhausted):
    tiers = [["a"], ["b", "c"]]
    choice = choose_tier(tiers, start, wanted_for(is_open, "on_call", availability_table(statuses)))
    assert (choice.index, choice.members, choice.exhausted) == (index, members, exhausted)
    assert [rid for rid, _, _ in choice.skipped] == skipped
    for rid, _, why in choice.skipped:
        assert f"{rid} is" in why and ("off" in why or "after hours" in why)


@given(st.lists(st.lists(st.sampled_from("abcde"), min_size=1, max_size=3), min_size=1,
                max_size=4),
       st.dictionaries(st.sampled_from("abcde"), st.sampled_from(["on_duty", "on_call", "off"])),
       st.booleans())
def test_choose_tier_never_picks_anyone_unwanted_and_explains_every_skip(tiers, statuses, is_open):
    full = {rid: statuses.get(rid, "on_duty") for rid in "abcde"}
    wanted = wanted_for(is_open, "on_call", availability_table(full))
    choice = choose_tier(tiers, 0, wanted)
    assert all(wanted(rid)[0] for rid in choice.members)
    assert choice.exhausted == (not choice.members)
    looked_at = [rid for tier in tiers[:choice.index + 1] for rid in tier]
    assert sorted(rid for rid, _, _ in choice.skipped) == sorted(
        rid for rid in looked_at if not wanted(rid)[0])


async def test_an_unreadable_calendar_keeps_the_last_good_copy(tmp_path, caplog):
    source = tmp_path / "oncall.ics"
    source.write_text(CALENDAR)
    clock = FrozenClock(local("2026-11-02 19:00").astimezone(UTC))
    cache = CalendarCache([str(source)], clock)
    await cache.refresh()
    assert [e.summary for e in cache.events_for("sergio", "Sergio")
            if e.covers(clock.now(), LA)] == ["On call: Sergio"]

    source.write_text("BEGIN:VCALENDAR\nthis is not a calendar")
    await cache.refresh()
    assert "cannot be read" in caplog.text and "keeping the copy loaded" in caplog.text
    assert [e.summary for e in cache.events_for("sergio", "Sergio")
            if e.covers(clock.now(), LA)] == ["On call: Sergio"]

    source.unlink()
    await cache.refresh()
    assert any(e.covers(clock.now(), LA) for e in cache.events_for("sergio", "Sergio"))


async def test_a_calendar_unreadable_from_the_start_is_logged_and_ignored(tmp_path, caplog):
    cache = CalendarCache([str(tmp_path / "missing.ics"), "http://127.0.0.1:9/cal.ics"],
                          FrozenClock())
    await cache.refresh()
    assert cache.events_for("sergio", "Sergio") == []
    assert caplog.text.count("no earlier copy") == 2
