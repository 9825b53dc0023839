"""Times a person reads are the line's local time, with its abbreviation
(issue 15, item 8: texts and speech)."""

from datetime import datetime, timezone

import pytest

from ivr.local_time import clock_time
from ivr.schedule import zone

from .support.call_simulator import CallSimulator
from .support.harness import CUSTOMER, LINE, SERGIO
from .support.scenes import NY_LINE, at_local, of_kind, pages, two_zone_config


@pytest.fixture
def config(tmp_path):
    return two_zone_config(tmp_path)


@pytest.mark.parametrize("moment, zone_name, seconds, expected", [
    (datetime(2026, 11, 27, 2, 4, tzinfo=timezone.utc), "America/Los_Angeles", False, "18:04 PST"),
    (datetime(2026, 7, 1, 1, 4, 9, tzinfo=timezone.utc), "America/Los_Angeles", True,
     "18:04:09 PDT"),
    (datetime(2026, 11, 27, 2, 4, tzinfo=timezone.utc), "UTC", False, "02:04 UTC"),
    (datetime(2026, 11, 27, 2, 4, tzinfo=timezone.utc), "America/New_York", False, "21:04 EST"),
])
def test_clock_time_table(moment, zone_name, seconds, expected):
    assert clock_time(moment, zone(zone_name), seconds=seconds) == expected



async def test_the_voicemail_page_says_the_lines_local_time(harness):
    at_local(harness, "2026-11-26 18:04")   # Thursday, 02:04 UTC on Friday
    sim = CallSimulator(harness.twilio, caller=CUSTOMER, line_number=LINE,
                        started_at=harness.clock.now(), voicemail="The bin is full")
    await sim.run()
    await sim.deliver_recording()
    [page] = await pages(harness, SERGIO)
    assert "voicemail from +1 619-555-0142 at 18:04 PST" in page
    assert "UTC" not in page


async def test_a_line_without_hours_reads_times_in_the_services_zone(harness):
    at_local(harness, "2026-11-26 18:04")
    sim = CallSimulator(harness.twilio, caller=CUSTOMER, line_number=NY_LINE,
                        started_at=harness.clock.now(), voicemail="Lost keys")
    await sim.run()
    await sim.deliver_recording()
    assert "at 21:04 EST" in (await pages(harness, SERGIO))[0]


async def test_the_flood_decision_says_local_time(harness):
    at_local(harness, "2026-11-26 10:00")
    for i in range(11):
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body=f"text {i}")
    [held] = await of_kind(harness, "flood_held")
    assert "sent with any others at 10:00:30 PST" in held.reason


