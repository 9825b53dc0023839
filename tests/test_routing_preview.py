"""`ivr check`'s preview of who a line's calls and texts reach (issue 15,
item 7): a table of configs at now, after hours and the next holiday,
decided by the roster's own rules; then the command's printed report."""

from __future__ import annotations

import functools
from datetime import datetime, timezone

import pytest

from ivr import cli
from ivr.calendars import CalendarCache
from ivr.check import check
from ivr.clock import FrozenClock
from ivr.config import parse_config
from ivr.roster import Roster
from ivr.routing_preview import Step, describe, preview
from ivr.shown_times import day_and_time

from .support.cli import clean_env, run  # noqa: F401 (clean_env is a fixture)

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)   # Monday 10:00 in Los Angeles
SERGIO, BACKUP, LINE, VENUE = "+16195550101", "+18585550199", "+16195550100", "+16195550200"
WEEKDAYS = ["mon-fri 08:00-18:00"]
NIGHTS = ["daily 18:00-08:00"]

CALENDAR = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//ivr tests//EN
BEGIN:VEVENT
UID:vacation
SUMMARY:Sergio vacation
DTSTART;VALUE=DATE:20261123
DTEND;VALUE=DATE:20261124
END:VEVENT
BEGIN:VEVENT
UID:rota
SUMMARY:On call: Backup
DTSTART;TZID=America/Los_Angeles:20261123T180000
DTEND;TZID=America/Los_Angeles:20261124T080000
END:VEVENT
END:VCALENDAR
"""


def config_of(tmp_path, sergio=None, backup=None, hours=None, calendars=False):
    line = {"name": "Quick Dump Now", "number": LINE, "tiers": ["sergio", "backup"]}
    if hours is not None:
        line["hours"] = {"open": WEEKDAYS, **hours}
    service = {"database": str(tmp_path / "ivr.sqlite3"), "timezone": "America/Los_Angeles"}
    if calendars:
        (tmp_path / "oncall.ics").write_text(CALENDAR)
        service["calendars"] = ["oncall.ics"]
    return parse_config({
        "service": service,
        "responders": {"sergio": {"name": "Sergio", "phone": SERGIO, **(sergio or {})},
                       "backup": {"name": "Backup", "phone": BACKUP, **(backup or {})}},
        "lines": {"qdn": line}}, tmp_path / "ivr.toml")


async def preview_of(config, overrides=None):
    clock = FrozenClock(NOW)
    calendars = CalendarCache(config.calendars, clock)
    await calendars.refresh()
    shown = preview(config, Roster(config, calendars), clock.now(), overrides or {})["qdn"]
    return {moment.label: (moment, result) for moment, result in shown}


ANYWAY = True
ON_DUTY, ON_CALL = {"on_duty": WEEKDAYS}, {"on_call": NIGHTS}

# (case, config, moment, shown at, calls rung, texts paged, the rule, the warning)
TABLE = [
    ("always open", {}, "now", "Mon 23 Nov 10:00 PST",
     [["Sergio"], ["Backup"]], [(["Sergio"], False), (["Backup"], False)],
     "the line has no hours: always open", None),
    ("hours, in hours", dict(sergio=ON_DUTY, backup=ON_CALL, hours={}), "now",
     "Mon 23 Nov 10:00 PST", [["Sergio"]], [(["Sergio"], False), (["Backup"], ANYWAY)],
     "anyone not off is tried", None),
    ("hours with an on-call rota", dict(sergio=ON_DUTY, backup=ON_CALL, hours={}),
     "after hours", "Mon 23 Nov 18:01 PST", [["Backup"]], [(["Backup"], False)],
     "closed at Mon 18:01 America/Los_Angeles: only on-call responders are tried", None),
    ("hours, nobody has on-call windows", dict(backup=ON_DUTY, hours={}), "after hours",
     "Mon 23 Nov 18:01 PST", [["Sergio"]], [(["Sergio"], False), (["Backup"], ANYWAY)],
     "its tiers are tried as in hours",
     "nobody on the line has on_call windows or is on call, so its tiers are tried as in "
     "hours (anyone not off): calls ring Sergio and texts page Sergio first. Fix: add "
     'on_call windows (or on-call calendar events) to a responder of the line, or set '
     'after_hours = "voicemail" in [lines.qdn.hours]'),
    ("hours, nobody on call nor on duty", dict(sergio=ON_DUTY, backup=ON_DUTY, hours={}),
     "after hours", "Mon 23 Nov 18:01 PST", [], [(["Backup"], ANYWAY)],
     "its tiers are tried as in hours",
     "nobody on the line has on_call windows or is on call, and nobody is available as in "
     "hours either: calls go to voicemail and texts page the last tier (Backup) anyway"),
    ("a holiday, the rota not on at noon",
     dict(sergio=ON_DUTY, backup=ON_CALL, hours={"holidays": ["2026-11-26"]}),
     "on the next holiday", "Thu 26 Nov 12:00 PST", [], [(["Backup"], ANYWAY)],
     "2026-11-26 is a holiday: only on-call responders are tried",
     "nobody is on call: calls go to voicemail and texts page the last tier (Backup) anyway. "
     "Fix: give a responder on_call windows (or an on-call calendar event) covering this "
     "time"),
    ("a holiday, nobody has on-call windows", dict(hours={"holidays": ["2026-11-26"]}),
     "on the next holiday", "Thu 26 Nov 12:00 PST", [["Sergio"], ["Backup"]],
     [(["Sergio"], False), (["Backup"], False)], "2026-11-26 is a holiday, and no responder",
     "calls ring Sergio, then Backup and texts page Sergio first"),
    ("after hours voicemail",
     dict(sergio=ON_DUTY, backup=ON_CALL, hours={"after_hours": "voicemail"}),
     "after hours", "Mon 23 Nov 18:01 PST", [], [(["Backup"], False)],
     "closed at Mon 18:01 America/Los_Angeles: the line takes voicemail after hours", None),
    ("after hours voicemail, nobody on call",
     dict(backup=ON_DUTY, hours={"after_hours": "voicemail"}), "after hours",
     "Mon 23 Nov 18:01 PST", [], [(["Sergio"], False), (["Backup"], ANYWAY)],
     "the line takes voicemail after hours",
     "calls go to voicemail and texts page Sergio first. Fix: add on_call windows (or "
     "on-call calendar events) to a responder of the line"),
    ("a calendar: on vacation", dict(calendars=True), "now", "Mon 23 Nov 10:00 PST",
     [["Backup"]], [(["Backup"], False)], "anyone not off is tried", None),
    ("a calendar: on call", dict(sergio=ON_DUTY, backup=ON_DUTY, hours={}, calendars=True),
     "after hours", "Mon 23 Nov 18:01 PST", [["Backup"]], [(["Backup"], False)],
     "only on-call responders are tried", None),
]


@pytest.mark.parametrize("case, options, label, shown, calls, texts, rule, warning", TABLE,
                         ids=[row[0] for row in TABLE])
async def test_who_calls_and_texts_reach(tmp_path, case, options, label, shown, calls,
                                         texts, rule, warning):
    config = config_of(tmp_path, **options)
    moment, result = (await preview_of(config))[label]
    assert day_and_time(moment.at, config.lines["qdn"].policy.zone) == shown
    assert [list(tier) for tier in result.calls] == calls
    assert result.texts == tuple(Step(tuple(names), anyway) for names, anyway in texts)
    assert rule in result.calls_rule
    if warning is None:
        assert result.warning is None
    else:
        assert result.warning is not None and warning in result.warning
        assert "WARNING: line qdn" in "\n".join(describe(config.lines["qdn"], moment, result))


async def test_a_calendar_vacation_and_a_texted_off_are_said_as_skips(tmp_path):
    config = config_of(tmp_path, calendars=True)
    _, result = (await preview_of(config))["now"]
    assert result.skipped == ("Sergio: off: calendar event 'Sergio vacation' until Tue 00:00",)
    (tmp_path / "off").mkdir()
    config = config_of(tmp_path / "off")
    _, result = (await preview_of(config, {"backup": ("off", None)}))["now"]
    assert result.calls == (("Sergio",),) and result.skipped == ("Backup: off: texted OFF",)


async def test_moments_a_line_without_hours_or_holidays_lacks(tmp_path):
    shown = await preview_of(config_of(tmp_path))
    assert shown["after hours"][0].absent == "the line is always open"
    assert shown["on the next holiday"][0].absent == "no holidays set"
    assert shown["after hours"][1] is None and shown["on the next holiday"][1] is None


async def test_after_hours_skips_holidays_and_never_closed_hours_are_said(tmp_path):
    # Monday is a holiday: its closing is no after-hours moment, Tuesday's is.
    config = config_of(tmp_path, hours={"holidays": ["2026-11-23", "2026-11-20"]})
    shown = await preview_of(config)
    zone = config.lines["qdn"].policy.zone
    assert day_and_time(shown["after hours"][0].at, zone) == "Tue 24 Nov 18:01 PST"
    assert day_and_time(shown["on the next holiday"][0].at, zone) == "Mon 23 Nov 12:00 PST"
    always = parse_config({
        "service": {"database": str(tmp_path / "x.sqlite3")},
        "responders": {"sergio": {"name": "Sergio", "phone": SERGIO}},
        "lines": {"qdn": {"name": "Q", "number": LINE, "tiers": ["sergio"],
                          "hours": {"open": ["daily 00:00-24:00"]}}}}, tmp_path / "x.toml")
    shown = await preview_of(always)
    assert shown["after hours"][0].absent == "its hours never close outside holidays"
    assert shown["on the next holiday"][0].absent == "no holidays set"


CLI_CONFIG = f"""
[service]
timezone = "America/Los_Angeles"

[responders.sergio]
name = "Sergio"
phone = "{SERGIO}"

[responders.backup]
name = "Backup"
phone = "{BACKUP}"
on_duty = ["mon-fri 08:00-18:00"]

[lines.qdn]
name = "Quick Dump Now"
number = "{LINE}"
tiers = ["sergio", "backup"]

[lines.qdn.hours]
open = ["mon-fri 08:00-18:00"]
holidays = ["2026-12-25"]

[lines.venue]
name = "The Venue"
number = "{VENUE}"
tiers = ["backup"]
"""


def test_check_prints_who_each_line_reaches_and_warns_of_nobody_on_call(
        clean_env, tmp_path, monkeypatch):  # noqa: F811 (the fixture imported above)
    path = tmp_path / "ivr.toml"
    path.write_text(CLI_CONFIG)
    monkeypatch.setattr(cli, "check", functools.partial(check, clock=FrozenClock(NOW)))
    code, out, err = run("check", "--config", str(path))
    assert code == 0, err
    report = out.split("Who is reached", 1)[1].split("\n\n", 1)[0]
    assert "\n  qdn: Quick Dump Now\n    now (Mon 23 Nov 10:00 PST): open\n" \
           "      calls: Sergio, then Backup, then voicemail\n" \
           "      texts: Sergio first; if nobody ACKs, Backup; then everyone on the line " \
           "once more\n" in report
    assert "    after hours (Mon 23 Nov 18:01 PST): closed\n" \
           "      calls: Sergio, then voicemail\n" \
           "      texts: Sergio first; if nobody ACKs, Backup (nobody available: the last " \
           "tier anyway); then everyone on the line once more\n" in report
    assert "\nWARNING: line qdn after hours (Mon 23 Nov 18:01 PST): nobody on the line has " \
           "on_call windows or is on call, so its tiers are tried as in hours (anyone not " \
           "off): calls ring Sergio and texts page Sergio first. Fix: add on_call windows " \
           "(or on-call calendar events) to a responder of the line, or set after_hours = " \
           '"voicemail" in [lines.qdn.hours]\n' in report
    assert "    on the next holiday (Fri 25 Dec 12:00 PST): closed\n" in report
    assert "\n  venue: The Venue\n    now (Mon 23 Nov 10:00 PST): open\n" in report
    assert "    after hours: the line is always open\n" \
           "    on the next holiday: no holidays set\n" in report
    for number in (SERGIO, BACKUP):
        assert number not in report


async def test_a_menu_in_hours_shows_each_options_tiers_and_none_after_hours(tmp_path):
    config = parse_config({
        "service": {"database": str(tmp_path / "ivr.sqlite3"), "timezone": "America/Los_Angeles"},
        "responders": {"sergio": {"name": "Sergio", "phone": SERGIO},
                       "backup": {"name": "Backup", "phone": BACKUP, "on_call": NIGHTS}},
        "lines": {"qdn": {"name": "Q", "number": LINE, "tiers": ["sergio", "backup"],
                          "hours": {"open": WEEKDAYS},
                          "menu": {"prompt": "Press 1 for sales",
                                   "options": {"1": {"name": "sales", "tiers": ["backup"]}}}}},
    }, tmp_path / "ivr.toml")
    shown = await preview_of(config)
    now, after = shown["now"][1], shown["after hours"][1]
    assert now.menu == (("1 sales", ()),)     # Backup is off at 10:00: voicemail
    assert "        menu option 1 sales: voicemail" in describe(
        config.lines["qdn"], shown["now"][0], now)
    assert after.menu == () and after.calls == (("Backup",),)
