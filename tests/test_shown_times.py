"""Times a person reads (issue 15, item 8): the dashboard, `ivr log` and
`ivr conversations` show them in the line's zone with its abbreviation,
not as unlabelled UTC. The harness's clock starts at 18:00 UTC, 10:00 in
the example's America/Los_Angeles."""

import io

from ivr import admin
from ivr.config import load_config

from .support.harness import CUSTOMER, EXAMPLE_CONFIG, LINE, SERGIO, open_harness
from .support.operator import PASSWORD, csrf_of, harness  # noqa: F401 (harness is a fixture)


async def make_history(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="first")
    harness.clock.advance(30)
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK 1")


async def test_log_shows_each_decision_in_its_lines_zone(harness):
    await make_history(harness)
    out = io.StringIO()
    assert await admin.log(harness.services.config, admin.LogFilter(), 50, False, out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("2026-11-22 10:00:00 PST  qdn"), lines[0]
    assert any(line.startswith("2026-11-22 10:00:30 PST") and "acknowledged" in line
               for line in lines), lines
    assert "18:00" not in out.getvalue()


async def test_conversations_say_when_each_opened_in_the_lines_zone(harness):
    await make_history(harness)
    out = io.StringIO()
    await admin.conversations(harness.services.config, out, now=harness.clock.now())
    [row] = out.getvalue().splitlines()
    assert "opened Sun 22 Nov 10:00 PST" in row and "Sergio has it" in row


async def test_the_dashboards_trails_show_the_lines_zone(harness):
    login_page = await (await harness.client.get("/dashboard/login", scheme="https")).get_data(
        as_text=True)
    await harness.client.post("/dashboard/login", scheme="https",
                              form={"password": PASSWORD, "csrf_token": csrf_of(login_page)})
    await make_history(harness)
    html = await (await harness.client.get("/dashboard/", scheme="https")).get_data(as_text=True)
    assert "10:00:00 PST" in html and "10:00:30 PST" in html
    assert "18:00:00" not in html


async def test_a_line_with_hours_in_its_own_zone_is_read_in_that_zone(tmp_path, fake_twilio):
    toml = tmp_path / "ivr.toml"
    toml.write_text(EXAMPLE_CONFIG.read_text().replace(
        "# [lines.qdn.hours]", '[lines.qdn.hours]\ntimezone = "America/New_York"\n'
                               'open = ["daily 00:00-23:59"]\n# ', 1))
    config = load_config(toml, database_override=str(tmp_path / "ivr.sqlite3"))
    async with open_harness(config, fake_twilio) as built:
        await make_history(built)
        out = io.StringIO()
        await admin.log(config, admin.LogFilter(), 50, False, out)
    assert out.getvalue().startswith("2026-11-22 13:00:00 EST  qdn"), out.getvalue()
