"""Calendars other tools write hold events this code cannot read. Such an
event is skipped and logged, the rest of its calendar applies; a calendar
that cannot be used at all keeps its last good copy; no calendar content
fails a webhook or the start, and `ivr check` lists what was skipped."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp import web

from ivr.calendars import CalendarCache
from ivr.clock import FrozenClock
from ivr.config import parse_config
from ivr.local_twilio import serve
from ivr.schedule import ResponderSchedule, responder_availability, zone

from .support.harness import CUSTOMER, EXAMPLE_CONFIG, LINE, REPO
from .support.processes import clean_environ, free_port, stop, wait_until_healthy

LA = zone("America/Los_Angeles")
UTC = timezone.utc
NOW = datetime(2026, 11, 18, 18, 0, tzinfo=UTC)      # Wednesday 10:00 in Los Angeles

HEAD = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//ivr tests//EN\n"
VACATION = """BEGIN:VEVENT
UID:vacation
SUMMARY:Sergio vacation
DTSTART;VALUE=DATE:20261101
DTEND;VALUE=DATE:20270101
END:VEVENT
"""
CUSTOM_ZONE = """BEGIN:VTIMEZONE
TZID:Custom/Pacific
BEGIN:STANDARD
DTSTART:19700101T000000
TZOFFSETFROM:-0800
TZOFFSETTO:-0800
TZNAME:PST
END:STANDARD
END:VTIMEZONE
"""


def event(uid: str, lines: str, summary: str = "On call: Backup") -> str:
    return f"BEGIN:VEVENT\nUID:{uid}\nSUMMARY:{summary}\n{lines}END:VEVENT\n"


def calendar(*parts: str, head: str = HEAD) -> str:
    return head + "".join(parts) + "END:VCALENDAR\n"


BAD_EVENTS = {
    "no DTSTART": (event("no-start", "DTEND:20261118T200000Z\n"), "it has no DTSTART"),
    "invalid RRULE": (event("bad-rule", "DTSTART:20261101T100000Z\nDTEND:20261101T120000Z\n"
                                        "RRULE:FREQ=INVALID;COUNT=3\n"),
                      "its RRULE has FREQ=INVALID"),
    "unreadable RRULE": (event("bad-until", "DTSTART:20261101T100000Z\nDTEND:20261101T120000Z\n"
                                            "RRULE:FREQ=DAILY;UNTIL=soon\n"),
                         "its RRULE cannot be read"),
    "invalid DURATION": (event("bad-duration", "DTSTART:20261118T100000Z\nDURATION:PT1Q\n"),
                         "its DURATION cannot be read"),
    "invalid DTSTART": (event("bad-start", "DTSTART:20261345T100000Z\nDTEND:20261118T200000Z\n"),
                        "its DTSTART cannot be read"),
    "invalid EXDATE": (event("bad-exdate", "DTSTART:20261101T100000Z\nDTEND:20261101T120000Z\n"
                                           "RRULE:FREQ=DAILY\nEXDATE:notadate\n"),
                       "its EXDATE cannot be read"),
    "a bad moved instance": (
        event("rota", "DTSTART:20261101T100000Z\nDTEND:20261101T120000Z\nRRULE:FREQ=DAILY\n")
        + event("rota", "RECURRENCE-ID:20261115T100000Z\nDTSTART:20261115T110000Z\n"
                        "DURATION:PTXH\n"),
        "its DURATION cannot be read"),
}

SERGIO = ResponderSchedule(tz=LA)   # no windows: available unless a calendar says otherwise


def sergio_now(cache: CalendarCache, clock: FrozenClock):
    return responder_availability(SERGIO, clock.now(), cache.events_for("sergio", "Sergio"),
                                  None)


@pytest.mark.parametrize("kind", list(BAD_EVENTS))
async def test_an_unreadable_event_is_skipped_and_the_rest_of_its_calendar_applies(
        tmp_path, caplog, kind):
    bad, why = BAD_EVENTS[kind]
    source = tmp_path / "oncall.ics"
    source.write_text(calendar(VACATION, bad))
    clock = FrozenClock(NOW)
    cache = CalendarCache([str(source)], clock)
    await cache.refresh()

    availability = sergio_now(cache, clock)
    assert availability.status == "off" and "'Sergio vacation'" in availability.reason
    [skipped] = cache.status(str(source)).skipped
    assert why in skipped.why and skipped.summary == "On call: Backup"
    assert f"{skipped.uid} ('On call: Backup')" in caplog.text and "skipped" in caplog.text

    caplog.clear()
    await cache.refresh()                      # logged once, not at every refresh
    assert "skipped" not in caplog.text


async def test_a_time_zone_defined_after_the_event_that_uses_it_is_read(tmp_path):
    source = tmp_path / "oncall.ics"
    source.write_text(calendar(
        event("early", "DTSTART;TZID=Custom/Pacific:20261118T090000\n"
                       "DTEND;TZID=Custom/Pacific:20261118T120000\n", "On call: Sergio"),
        CUSTOM_ZONE))
    clock = FrozenClock(NOW)                  # 10:00 at -08:00
    cache = CalendarCache([str(source)], clock)
    await cache.refresh()
    assert sergio_now(cache, clock).status == "on_call"
    clock.set(datetime(2026, 11, 18, 20, 0, tzinfo=UTC))    # 12:00 at -08:00: over
    assert sergio_now(cache, clock).status == "on_duty"
    assert cache.status(str(source)).skipped == ()


TURNED_BAD = {
    "not a Gregorian calendar": calendar(VACATION, head=HEAD + "CALSCALE:JULIAN\n"),
    "every event unreadable": calendar(*(bad for bad, _ in BAD_EVENTS.values())),
    "a broken time zone": calendar(CUSTOM_ZONE.replace("TZOFFSETFROM:-0800",
                                                       "TZOFFSETFROM:garbage"), VACATION),
}


@pytest.mark.parametrize("turned", list(TURNED_BAD))
async def test_a_refresh_that_turns_bad_keeps_the_last_good_copy(tmp_path, caplog, turned):
    source = tmp_path / "oncall.ics"
    source.write_text(calendar(VACATION))
    clock = FrozenClock(NOW)
    cache = CalendarCache([str(source)], clock)
    await cache.refresh()
    assert sergio_now(cache, clock).status == "off"

    source.write_text(TURNED_BAD[turned])
    await cache.refresh()
    assert "keeping the copy loaded" in caplog.text
    assert sergio_now(cache, clock).status == "off"
    assert cache.status(str(source)).problem

    # Days later every transaction re-expands the calendars (in the database
    # thread): the good copy is what it expands, and nothing raises.
    clock.advance(timedelta(days=6).total_seconds())
    assert cache.stale
    cache.current()
    assert sergio_now(cache, clock).status == "off"


async def test_a_url_calendar_that_turns_bad_keeps_its_last_good_copy_and_its_key(caplog):
    served = {"status": 200, "text": calendar(VACATION)}

    async def ics(request: web.Request) -> web.Response:
        return web.Response(status=served["status"], text=served["text"],
                            content_type="text/calendar")

    app = web.Application()
    app.router.add_get("/calendar/ical/private-s3cr3tkey/basic.ics", ics)
    runner, base = await serve(app)
    url = f"{base}/calendar/ical/private-s3cr3tkey/basic.ics?token=t0ps3cret"
    try:
        clock = FrozenClock(NOW)
        cache = CalendarCache([url], clock)
        await cache.refresh()
        assert sergio_now(cache, clock).status == "off"

        served["text"] = TURNED_BAD["not a Gregorian calendar"]
        await cache.refresh()
        assert sergio_now(cache, clock).status == "off"

        served["status"] = 500
        await cache.refresh()
        assert sergio_now(cache, clock).status == "off"
        assert caplog.text.count("keeping the copy loaded") == 2
    finally:
        await runner.cleanup()
    assert "/…/basic.ics" in caplog.text
    assert "s3cr3tkey" not in caplog.text and "t0ps3cret" not in caplog.text


# -- the service: webhooks and the real process ------------------------------------------

@pytest.fixture
def config(tmp_path):
    """The example line, with a calendar holding a good vacation and a bad event."""
    (tmp_path / "oncall.ics").write_text(calendar(VACATION, BAD_EVENTS["invalid RRULE"][0]))
    return parse_config({
        "service": {"database": str(tmp_path / "ivr.sqlite3"), "timezone": "America/Los_Angeles",
                    "calendars": ["oncall.ics"]},
        "responders": {"sergio": {"name": "Sergio", "phone": "+16195550101"},
                       "backup": {"name": "Backup", "phone": "+18585550199"}},
        "lines": {"qdn": {"name": "Quick Dump Now", "number": LINE, "code": "QDN",
                          "tiers": ["sergio", "backup"]}},
    }, tmp_path / "ivr.toml")


async def test_no_calendar_content_fails_a_webhook(harness, tmp_path):
    harness.clock.set(NOW)
    reply = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    assert reply.messages() == ["Thanks, we got your message. Backup will reply shortly."]

    (tmp_path / "oncall.ics").write_text(TURNED_BAD["every event unreadable"])
    await harness.services.roster.calendars.refresh()
    harness.clock.advance(timedelta(days=6).total_seconds())   # stale: the texts re-expand
    reply = await harness.twilio.text(from_="+16195550177", to=LINE, body="still there?")
    assert reply.messages() == ["Thanks, we got your message. Backup will reply shortly."]
    assert not [d for d in await harness.decisions() if d.kind == "handler_error"]


def calendar_config(tmp_path):
    (tmp_path / "oncall.ics").write_text(calendar(VACATION.replace("20261101", "20260101")
                                                  .replace("20270101", "20990101"),
                                                  BAD_EVENTS["invalid RRULE"][0]))
    config = tmp_path / "ivr.toml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace(
        '# calendars = ["oncall.ics"]', 'calendars = ["oncall.ics"]'))
    assert 'calendars = ["oncall.ics"]' in config.read_text()
    return config


async def test_run_py_starts_and_serves_with_an_unreadable_event_in_a_calendar(tmp_path):
    config = calendar_config(tmp_path)
    port = free_port()
    env = clean_environ(IVR_DATABASE=str(tmp_path / "ivr.sqlite3"))
    process = subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "--config", str(config),
         "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        await wait_until_healthy(f"http://127.0.0.1:{port}", process)
        simulate = subprocess.run(
            [sys.executable, "-m", "ivr", "simulate", "--config", str(config),
             "text", "--from", "+16195550142", "Is anybody there?"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
        assert simulate.returncode == 0, simulate.stderr
        assert "Backup will reply shortly" in simulate.stdout     # Sergio is on vacation
    finally:
        code, out, err = stop(process)
    assert code == 0, err
    assert "Traceback" not in err
    assert "event bad-rule ('On call: Backup'): its RRULE has FREQ=INVALID" in err


def test_check_lists_the_events_it_skipped(tmp_path):
    config = calendar_config(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "ivr", "check", "--config", str(config)], cwd=tmp_path,
        env=clean_environ(IVR_DATABASE=str(tmp_path / "ivr.sqlite3")), capture_output=True,
        text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"calendar {tmp_path / 'oncall.ics'}: readable - 1 event(s)" in result.stdout
    assert "1 event(s) skipped, the rest applies" in result.stdout
    assert ("  skipped event bad-rule ('On call: Backup'): its RRULE has FREQ=INVALID"
            in result.stdout)
    assert "Traceback" not in result.stderr
