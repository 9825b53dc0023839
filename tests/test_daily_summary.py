"""The daily summary: yesterday's figures in the line's zone, texted at a
local time of day, once, across restarts and DST changes; its figures
agree with the decision log."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from ivr.clock import FrozenClock, from_text
from ivr.config import ConfigError, load_config
from ivr.conversations.wording import message
from ivr.daily_summary import (DailySummary, day_span, following_summary, local_moment,
                               median_ack_seconds, next_summary)
from ivr.schedule import zone

from .support.call_simulator import NO_ANSWER, CallSimulator
from .support.harness import BACKUP, CUSTOMER, EXAMPLE_CONFIG, LINE, SERGIO, open_harness

LA = zone("America/Los_Angeles")
UTC = timezone.utc
BOSS = "+16195550123"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize("now, at, day, due", [
    # Before 08:00 PST: today's summary, of yesterday.
    (utc(2026, 11, 22, 15, 59), time(8), date(2026, 11, 21), utc(2026, 11, 22, 16)),
    # At or after it: tomorrow's, of today.
    (utc(2026, 11, 22, 16), time(8), date(2026, 11, 22), utc(2026, 11, 23, 16)),
    # The night the clocks go back (1 Nov 2026): 08:00 is PST, 16:00 UTC, not 15:00.
    (utc(2026, 11, 1, 8), time(8), date(2026, 10, 31), utc(2026, 11, 1, 16)),
    (utc(2026, 10, 31, 16), time(8), date(2026, 10, 31), utc(2026, 11, 1, 16)),
    # Spring forward (8 Mar 2026): 02:30 does not exist; sent at 03:30 PDT.
    (utc(2026, 3, 8, 9), time(2, 30), date(2026, 3, 7), utc(2026, 3, 8, 10, 30)),
    # Just before local midnight, UTC is already tomorrow.
    (utc(2026, 11, 23, 7, 59), time(0, 5), date(2026, 11, 22), utc(2026, 11, 23, 8, 5)),
])
def test_when_the_next_summary_is_due(now, at, day, due):
    assert next_summary(now, at, LA) == (day, due)


@pytest.mark.parametrize("day, hours", [
    (date(2026, 11, 1), 25), (date(2026, 3, 8), 23), (date(2026, 11, 2), 24)])
def test_a_local_day_is_23_24_or_25_hours(day, hours):
    start, end = day_span(day, LA)
    assert end - start == timedelta(hours=hours)
    assert start == local_moment(day, time(0), LA)


def test_the_next_summary_after_one_sent():
    # On time: the next day's.
    assert following_summary(date(2026, 10, 31), utc(2026, 11, 1, 16), time(8), LA) == (
        date(2026, 11, 1), utc(2026, 11, 2, 16))
    # Down for days: the latest day's, due at once, not one per day missed.
    assert following_summary(date(2026, 10, 31), utc(2026, 11, 5, 17), time(8), LA) == (
        date(2026, 11, 4), utc(2026, 11, 5, 16))
    assert following_summary(date(2026, 10, 31), utc(2026, 11, 5, 15), time(8), LA) == (
        date(2026, 11, 3), utc(2026, 11, 4, 16))


@pytest.mark.parametrize("waits, expected", [
    ([], None), ([90], 90), ([90, 30], 60), ([10, 500, 30], 30), ([1, 2], 2)])
def test_the_median_time_to_ack(waits, expected):
    opened = utc(2026, 11, 22, 18)
    acks = [("2026-11-22T18:00:00.000000Z",
             (opened + timedelta(seconds=w)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")) for w in waits]
    assert median_ack_seconds(acks) == expected


def summary(**figures) -> DailySummary:
    base = dict(line="qdn", day="2026-11-01", timezone="America/Los_Angeles", texts=5, calls=2,
                missed=1, voicemails=1, unanswered=0, median_ack_seconds=125)
    return DailySummary(**{**base, **figures})


@pytest.mark.parametrize("median, words", [
    (125, "2 min 5 s"), (42, "42 s"), (None, "nothing was ACKed")])
def test_the_summarys_wording(config, median, words):
    line = config.lines["qdn"]
    assert message(line, "daily_summary", **summary(median_ack_seconds=median)
                   .wording_variables()) == (
        f"[QDN] Sun 1 Nov: 5 texts, 2 calls (1 missed), 1 voicemails, 0 unanswered. "
        f"Median time to ACK: {words}.")


def config_with_summary(tmp_path: Path, database: str, at: str = "08:00",
                        to: str = f'["sergio", "{BOSS}"]'):
    path = tmp_path / "ivr.toml"
    path.write_text(EXAMPLE_CONFIG.read_text("utf-8")
                    + f'\n[lines.qdn.daily_summary]\nat = "{at}"\nto = {to}\n', "utf-8")
    return load_config(path, database_override=database)


@pytest.mark.parametrize("at, to, key", [
    ("8am", '["sergio"]', "at"), ("24:00", '["sergio"]', "at"), ("08:00", '"sergio"', "to"),
    ("08:00", '["nobody"]', "to[0]"),
    ("08:00", f'["sergio", "{LINE}"]', "to[1]")])
def test_a_bad_daily_summary_names_its_key(tmp_path, at, to, key):
    with pytest.raises(ConfigError) as raised:
        config_with_summary(tmp_path, "x.sqlite3", at, to)
    assert raised.value.key == f"lines.qdn.daily_summary.{key}" and raised.value.fix


async def a_day_of_work(harness) -> None:
    """Sunday 22 Nov 2026 in Los Angeles: four customer texts, two ACKed
    (after 90 s and 30 s), one unanswered; a missed call; a voicemail."""
    twilio = harness.twilio
    await twilio.text(from_=CUSTOMER, to=LINE, body="Bin is full")
    harness.clock.advance(90)
    await twilio.text(from_=SERGIO, to=LINE, body="ACK")
    await twilio.text(from_="+16195550170", to=LINE, body="Need a pick-up")
    harness.clock.advance(30)
    await twilio.text(from_=SERGIO, to=LINE, body="ACK 2")
    await twilio.text(from_=SERGIO, to=LINE, body="1 On my way")
    await twilio.text(from_=CUSTOMER, to=LINE, body="Thanks")
    await twilio.text(from_="+16195550171", to=LINE, body="Anyone there?")
    harness.clock.advance(120)
    await harness.fire_timers()
    harness.clock.advance(120)
    await harness.fire_timers()
    await CallSimulator(twilio, caller="+16195550172", line_number=LINE,
                        legs={SERGIO: NO_ANSWER}, hang_up_during_dial=1,
                        status_callback_path="/voice/status").run()
    voicemail = CallSimulator(twilio, caller="+16195550173", line_number=LINE,
                              legs={SERGIO: NO_ANSWER, BACKUP: NO_ANSWER},
                              voicemail="Call me back please")
    await voicemail.run()
    await voicemail.deliver_recording()


@pytest.mark.both_engines
async def test_the_summary_agrees_with_the_decision_log_and_goes_once(
        tmp_path, database, fake_twilio):
    config = config_with_summary(tmp_path, database)
    clock = FrozenClock(utc(2026, 11, 22, 18))       # Sunday 10:00 PST
    async with open_harness(config, fake_twilio, clock) as harness:
        await a_day_of_work(harness)
        # Just after local midnight: Monday's, not Sunday's.
        clock.set(utc(2026, 11, 23, 8, 30))
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="One more thing")
        summaries = harness.services.summaries
        clock.set(utc(2026, 11, 23, 15, 59))
        assert await summaries.send_due() == []
        clock.set(utc(2026, 11, 23, 16))              # Monday 08:00 PST
        [sent] = await summaries.send_due()

        decisions = await harness.decisions()
        sunday = [d for d in decisions if from_text(d.at) < utc(2026, 11, 23, 8)]
        count = lambda kind: sum(d.kind == kind for d in sunday)   # noqa: E731
        opened = {d.conversation_id: from_text(d.at) for d in sunday
                  if d.kind == "conversation_opened"}
        acked = sorted((from_text(d.at) - opened[d.conversation_id]).total_seconds()
                       for d in sunday if d.kind == "acknowledged")
        assert acked == [30, 90]
        assert sent.as_dict() == {
            "line": "qdn", "day": "2026-11-22", "timezone": "America/Los_Angeles",
            "texts": 4, "calls": count("call_received"), "missed": count("missed_call"),
            "voicemails": count("voicemail_received"), "unanswered": count("unanswered"),
            "median_ack_seconds": 60}
        assert (sent.calls, sent.missed, sent.voicemails, sent.unanswered) == (2, 1, 1, 1)

        await harness.deliver_outbox()
        body = ("[QDN] Sun 22 Nov: 4 texts, 2 calls (1 missed), 1 voicemails, 1 unanswered. "
                "Median time to ACK: 1 min 0 s.")
        for number in (SERGIO, BOSS):
            assert [(m.body, m.from_) for m in fake_twilio.messages_to(number)
                    if m.body.startswith("[QDN] Sun")] == [(body, LINE)]
        [logged] = [d for d in await harness.decisions() if d.kind == "daily_summary_sent"]
        assert "texted to sergio, +1619***0123" in logged.reason
        clock.advance(3600)
        assert await summaries.send_due() == []

    # A restart (another instance, the same database) sends nothing again.
    async with open_harness(config, fake_twilio, clock) as again:
        assert await again.services.summaries.send_due() == []
        rows = await again.store.read(lambda tx: tx.summaries("qdn"))
        assert rows == [("2026-11-22", "2026-11-23T16:00:00.000000Z", "sent"),
                        ("2026-11-23", "2026-11-24T16:00:00.000000Z", "pending")]


@pytest.mark.both_engines
async def test_across_the_autumn_dst_change_each_day_is_summarised_once(
        tmp_path, database, fake_twilio):
    config = config_with_summary(tmp_path, database, to='["sergio"]')
    clock = FrozenClock(utc(2026, 11, 1, 3))         # Sat 31 Oct 20:00 PDT
    async with open_harness(config, fake_twilio, clock) as harness:
        summaries = harness.services.summaries
        # Sunday 1 Nov is 25 hours long: texts at 00:30 PDT, 01:30 PDT, 01:30 PST
        # and 23:30 PST are all Sunday's.
        for hour, minute, number in ((7, 30, "+16195550181"), (8, 30, "+16195550182"),
                                     (9, 30, "+16195550183")):
            clock.set(utc(2026, 11, 1, hour, minute))
            await harness.twilio.text(from_=number, to=LINE, body="hello")
        clock.set(utc(2026, 11, 1, 15, 59))          # 07:59 PST
        assert await summaries.send_due() == []
        clock.set(utc(2026, 11, 1, 16))              # 08:00 PST
        [saturday] = await summaries.send_due()
        assert (saturday.day, saturday.texts) == ("2026-10-31", 0)
        clock.set(utc(2026, 11, 2, 7, 30))           # Sun 23:30 PST
        await harness.twilio.text(from_="+16195550184", to=LINE, body="late")
        clock.set(utc(2026, 11, 2, 8, 30))           # Mon 00:30 PST
        await harness.twilio.text(from_="+16195550185", to=LINE, body="monday")
    # Restarted before Monday 08:00 PST, then swept at it by two instances.
    clock.set(utc(2026, 11, 2, 16))
    async with open_harness(config, fake_twilio, clock) as first, \
            open_harness(config, fake_twilio, clock) as second:
        [sunday] = await first.services.summaries.send_due()
        assert await second.services.summaries.send_due() == []
        assert (sunday.day, sunday.texts) == ("2026-11-01", 4)
        rows = await first.store.read(lambda tx: tx.summaries("qdn"))
        assert [(day, state) for day, _, state in rows] == [
            ("2026-10-31", "sent"), ("2026-11-01", "sent"), ("2026-11-02", "pending")]
        assert rows[-1][1] == "2026-11-03T16:00:00.000000Z"


@pytest.mark.both_engines
async def test_a_summary_for_the_hooks_only_reaches_them_with_its_figures(
        tmp_path, database, fake_twilio):
    import json
    from ivr import hook_signing
    from ivr.hooks.payload import SCHEMA_PATH

    from .support.hook_receiver import HookReceiver
    receiver = await HookReceiver().start()
    try:
        secret = "summary-hook-secret-0123456789"
        path = tmp_path / "ivr.toml"
        path.write_text(EXAMPLE_CONFIG.read_text("utf-8")
                        + '\n[lines.qdn.daily_summary]\nat = "08:00"\nto = []\n'
                        + f'\n[hooks.hub]\nurl = "{receiver.url}"\nsecret = "{secret}"\n'
                        + 'events = ["daily_summary"]\n', "utf-8")
        config = load_config(path, database_override=database)
        assert [hook.name for hook in config.hooks] == ["hub"]
        clock = FrozenClock(utc(2026, 11, 22, 18))
        async with open_harness(config, fake_twilio, clock) as harness:
            await a_day_of_work(harness)
            await harness.deliver_outbox()
            texted = len(fake_twilio.messages)
            clock.set(utc(2026, 11, 23, 16))
            [sent] = await harness.services.summaries.send_due()
            await harness.services.hooks.deliver_due()
            [event] = receiver.events
            [request] = receiver.received
            assert hook_signing.verify(secret, request.headers, request.body,
                                       int(clock.now().timestamp()))
            jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(event)
            assert event["type"] == "daily_summary" and event["summary"] == sent.as_dict()
            assert event["summary"]["texts"] == 4 and event["line"]["id"] == "qdn"
            await harness.deliver_outbox()
            assert len(fake_twilio.messages) == texted      # nobody was texted
            [logged] = [d for d in await harness.decisions() if d.kind == "daily_summary_sent"]
            assert "left to the event hooks" in logged.reason
    finally:
        await receiver.stop()


def test_a_summary_left_to_hooks_that_do_not_take_it_is_refused(tmp_path):
    path = tmp_path / "ivr.toml"
    path.write_text(EXAMPLE_CONFIG.read_text("utf-8")
                    + '\n[lines.qdn.daily_summary]\nat = "08:00"\nto = []\n'
                    + '\n[hooks.crm]\nurl = "https://crm.example.com/ivr"\n'
                    + 'secret = "crm-secret-0123456789abcdef"\nevents = ["closed"]\n', "utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, database_override="x.sqlite3")
    assert raised.value.key == "lines.qdn.daily_summary.to"
    assert "daily_summary" in raised.value.fix
