"""The picture of the line: figures computed from a decision log built
here (a table, pure), the same through the store on both engines and on
the page, and the "now" panel from the router's own schedule code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ivr.calendars import CalendarCache
from ivr.clock import FrozenClock, to_text
from ivr.decisions import Channel, Decision
from ivr.line_now import line_now
from ivr.line_report import KINDS, duration, percentile, report
from ivr.roster import Roster
from ivr.web.line_report import chosen_period

from .support.operator import PASSWORD, csrf_of, harness  # noqa: F401 (harness is a fixture)
from .test_routing_preview import NIGHTS, WEEKDAYS, config_of

LA = ZoneInfo("America/Los_Angeles")
SINCE = datetime(2026, 11, 16, 8, 0, tzinfo=timezone.utc)    # Mon 16 Nov 00:00 in LA
UNTIL = SINCE + timedelta(days=7)


@dataclass(frozen=True)
class Row:
    at: str
    kind: str
    line_id: str | None = "qdn"
    conversation_id: int | None = None
    responder_id: str | None = None


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> str:
    """A time on 2026-11-`day`, Los Angeles."""
    return to_text(datetime(2026, 11, day, hour, minute, second, tzinfo=LA))


# Conversation 1: opened Mon 09:00, paged sergio, ACKed by sergio after 2 min.
# Conversation 2: opened Mon 10:00, sergio paged, escalated, backup paged at 10:05 and
#   ACKs 10:08 (10 min 8 s... after opening: 8 min); sergio's page is not ACKed.
# Conversation 3: opened Tue 12:00, never ACKed, unanswered.
# Conversation 4: opened Wed 23:30 (Thu 07:30 UTC), ACKed by sergio after 30 s, then a
#   hand-over (not an ACK) and a second "ACK" by backup that cannot count twice.
# A missed call and a voicemail on Tue; rows outside the period and of another line.
LOG = [
    Row(at(16, 9), "conversation_opened", conversation_id=1),
    Row(at(16, 9), "message_forwarded", conversation_id=1, responder_id="sergio"),
    Row(at(16, 9, 2), "acknowledged", conversation_id=1, responder_id="sergio"),
    Row(at(16, 10), "conversation_opened", conversation_id=2),
    Row(at(16, 10), "message_forwarded", conversation_id=2, responder_id="sergio"),
    Row(at(16, 10, 5), "escalated", conversation_id=2),
    Row(at(16, 10, 5), "message_forwarded", conversation_id=2, responder_id="backup"),
    Row(at(16, 10, 8), "acknowledged", conversation_id=2, responder_id="backup"),
    Row(at(17, 12), "conversation_opened", conversation_id=3),
    Row(at(17, 12), "message_forwarded", conversation_id=3, responder_id="sergio"),
    Row(at(17, 12, 5), "escalated", conversation_id=3),
    Row(at(17, 12, 10), "unanswered", conversation_id=3),
    Row(at(17, 14), "missed_call"),
    Row(at(17, 15), "voicemail_received"),
    Row(at(18, 23, 30), "conversation_opened", conversation_id=4),
    Row(at(18, 23, 30), "message_forwarded", conversation_id=4, responder_id="sergio"),
    Row(at(18, 23, 30, 30), "acknowledged", conversation_id=4, responder_id="sergio"),
    Row(at(18, 23, 40), "handed_over", conversation_id=4, responder_id="backup"),
    Row(at(15, 23, 59), "conversation_opened", conversation_id=9),        # before the period
    Row(at(23, 0, 0), "missed_call"),                                     # after it
    Row(at(17, 9), "conversation_opened", line_id="venue", conversation_id=7),
]


def test_a_line_s_figures_from_its_decision_log():
    made = report(LOG, SINCE, UNTIL, {"qdn": LA}, ["sergio", "backup"])
    qdn = made.lines["qdn"]
    assert (qdn.opened, qdn.escalations, qdn.missed_calls, qdn.voicemails, qdn.unanswered) == (
        3 + 0 + 1, 2, 1, 1, 1)
    assert sorted(qdn.ack_seconds) == [30, 120, 480]
    assert (qdn.ack_median, qdn.ack_p90) == (120, 480)
    days = {f"{d.day:%a}": (d.opened, d.ack_median) for d in qdn.days}
    assert len(qdn.days) == 7 and days["Mon"] == (2, 300) and days["Tue"] == (1, None)
    assert days["Wed"] == (1, 30) and days["Thu"] == (0, None)     # the line's day, not UTC's


def test_each_responder_s_pages_taken_and_time_to_ack():
    made = report(LOG, SINCE, UNTIL, {"qdn": LA}, ["sergio", "backup"])
    sergio, backup = made.responders["sergio"], made.responders["backup"]
    assert (sergio.pages, sergio.taken, sorted(sergio.ack_seconds)) == (4, 2, [30, 120])
    assert (backup.pages, backup.taken, backup.ack_seconds) == (1, 1, [180])
    assert (sergio.ack_median, backup.ack_median) == (75, 180)
    # A hand-over is no page and no ACK for the one handed it.
    assert "handed_over" not in KINDS


@pytest.mark.parametrize("values, p, expected", [
    ([], 90, None), ([5], 90, 5), ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90, 9),
    ([10, 1, 2], 50, 2), (list(range(1, 101)), 90, 90), ([3, 1], 90, 3)])
def test_p90_is_the_nearest_rank(values, p, expected):
    assert percentile(values, p) == expected


@pytest.mark.parametrize("seconds, shown", [
    (None, "-"), (0, "0 s"), (59.4, "59 s"), (60, "1 min 00 s"), (125, "2 min 05 s"),
    (3600, "1 h 00 min"), (7325, "2 h 02 min")])
def test_durations_read_as_people_say_them(seconds, shown):
    assert duration(seconds) == shown


@pytest.mark.parametrize("typed_from, typed_to, expected", [
    ("", "", ("2026-11-20", "2026-11-26")),
    ("2026-11-01", "2026-11-03", ("2026-11-01", "2026-11-03")),
    ("", "2026-11-10", ("2026-11-04", "2026-11-10")),
    ("2026-11-05", "2026-11-01", "starts after it ends"),
    ("yesterday", "", "not like 2026-11-26"),
    ("2025-01-01", "2026-11-26", "at most 366 days")])
def test_the_chosen_period(typed_from, typed_to, expected):
    today = datetime(2026, 11, 26).date()
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            chosen_period(typed_from, typed_to, today)
    else:
        first, last = chosen_period(typed_from, typed_to, today)
        assert (first.isoformat(), last.isoformat()) == expected


# -- through the store, and on the page ----------------------------------------------

async def write_log(harness, rows):
    """The rows as decisions in the store, at their times; each conversation
    opened (and closed) through the store first. Returns the stored ids."""
    clock: FrozenClock = harness.clock
    ids: dict[int, int] = {}
    for row in rows:
        clock.set(datetime.strptime(row.at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=timezone.utc))
        if row.conversation_id and row.conversation_id not in ids:
            def open_one(tx, row=row):
                made = tx.open_conversation(row.line_id, f"+1619555{row.conversation_id:04d}",
                                            "sms")
                tx.close_conversation(made.id)
                return made.id
            ids[row.conversation_id] = await harness.store.write(open_one)
        await harness.store.write(lambda tx, row=row: tx.decide(Decision(
            row.kind, Channel.SMS, "built by the test", line_id=row.line_id,
            conversation_id=ids.get(row.conversation_id or 0), responder_id=row.responder_id)))
    return ids


@pytest.mark.both_engines
async def test_the_page_shows_the_figures_of_the_stored_log(harness, database):
    await write_log(harness, [r for r in LOG if r.line_id == "qdn"])
    rows = await harness.store.read(lambda tx: tx.decisions_between(SINCE, UNTIL, KINDS))
    assert len(rows) == len([r for r in LOG if r.line_id == "qdn" and r.kind != "handed_over"
                             and SINCE <= datetime.fromisoformat(r.at[:-1] + "+00:00") < UNTIL])
    stored = report(rows, SINCE, UNTIL, {"qdn": LA}, ["sergio", "backup"])
    assert stored.lines["qdn"].ack_seconds == [120, 480, 30]

    harness.clock.set(datetime(2026, 11, 26, 12, tzinfo=LA))
    client = harness.client
    token = csrf_of(await (await client.get("/dashboard/login", scheme="https")).get_data(
        as_text=True))
    await client.post("/dashboard/login", scheme="https",
                      form={"password": PASSWORD, "csrf_token": token})
    html = await (await client.get("/dashboard/line-report?from=2026-11-16&to=2026-11-22",
                                   scheme="https")).get_data(as_text=True)
    line = html[html.index('id="line-qdn"'):html.index("<h2>Responders")]
    figures = dict(re.findall(r'data-figure="(\w+)">([^<]*)<', line))
    assert figures == {"opened": "4", "ack_median": "2 min 00 s", "ack_p90": "8 min 00 s",
                       "escalations": "2", "missed_calls": "1", "voicemails": "1",
                       "unanswered": "1"}
    sergio = html[html.index('id="responder-sergio"'):]
    assert dict(re.findall(r'data-figure="(\w+)">([^<]*)<', sergio[:sergio.index("</tr>")])) \
        == {"pages": "4", "taken": "2", "ack_median": "1 min 15 s"}
    assert "Mon 16 Nov" in html and "days in America/Los_Angeles" in html
    assert "uPlot.iife.min.js" in html and "line_report.js" in html
    bad = await client.get("/dashboard/line-report?from=soon", scheme="https")
    assert bad.status_code == 400


# -- who is on now ---------------------------------------------------------------------

MONDAY_10 = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)   # Mon 10:00 in LA


def panel(tmp_path, now=MONDAY_10, overrides=None, **config):
    built = config_of(tmp_path, **config)
    roster = Roster(built, CalendarCache(built.calendars, FrozenClock(now)))
    return line_now(built, roster, built.lines["qdn"], now, overrides or {})


def test_now_names_who_each_tier_reaches_and_the_next_change(tmp_path):
    shown = panel(tmp_path, sergio={"on_duty": WEEKDAYS}, backup={"on_call": NIGHTS})
    assert [t.on for t in shown.tiers] == [("Sergio",), ()]
    assert "Backup" in shown.tiers[1].skipped[0]
    # At 18:00 Sergio's day ends and Backup's night begins.
    assert shown.next_change == datetime(2026, 11, 23, 18, 0, tzinfo=LA)
    assert [t.on for t in shown.next_tiers] == [(), ("Backup",)]


def test_now_follows_a_texted_off_until_it_ends(tmp_path):
    until = to_text(datetime(2026, 11, 23, 12, 0, tzinfo=LA))
    shown = panel(tmp_path, overrides={"sergio": ("off", until)})
    assert [t.on for t in shown.tiers] == [(), ("Backup",)]
    assert shown.next_change == datetime(2026, 11, 23, 12, 0, tzinfo=LA)
    assert [t.on for t in shown.next_tiers] == [("Sergio",), ("Backup",)]


def test_now_with_nothing_scheduled_says_no_change(tmp_path):
    shown = panel(tmp_path)
    assert [t.on for t in shown.tiers] == [("Sergio",), ("Backup",)]
    assert shown.open and shown.next_change is None
