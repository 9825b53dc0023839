"""Event hooks against a real receiving endpoint on loopback: every event
type valid against ivr/hooks/event.schema.json, signed as README "Event
hooks" tells receivers to verify, in order per conversation, retried after
errors, given up with a HOOK_FAILED decision, and without customer numbers
or texts unless the hook includes them."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest

from ivr import hook_signing
from ivr.decisions import Channel, DecisionKind, decision
from ivr.hooks.config import Hook
from ivr.hooks.events import EVENT_FOR_KIND, EVENT_TYPES
from ivr.hooks.payload import SCHEMA_PATH
from ivr.hooks.worker import HookWorker, next_attempt_at
from ivr.passwords import hash_password
from ivr.store import store_for

from .support.call_simulator import SILENCE, CallSimulator
from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO, open_harness
from .support.hook_receiver import HookReceiver
from .support.operator import PASSWORD, csrf_of

pytestmark = pytest.mark.both_engines

SECRET = "hook-secret-0123456789abcdef"
SCHEMA = json.loads(SCHEMA_PATH.read_text("utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


@pytest.fixture
async def receiver():
    started = await HookReceiver().start()
    yield started
    await started.stop()


def with_hooks(config, *hooks: Hook):
    return replace(config, hooks=hooks)


def crm(receiver: HookReceiver, **settings) -> Hook:
    return Hook(name="crm", url=receiver.url, secret=SECRET, retry_seconds=1, **settings)


def check_signed_and_valid(receiver: HookReceiver, now: datetime, secret: str = SECRET) -> None:
    for request in receiver.received:
        assert hook_signing.verify(secret, request.headers, request.body, int(now.timestamp()))
        assert not hook_signing.verify("another-secret-0123456789", request.headers,
                                       request.body, int(now.timestamp()))
        VALIDATOR.validate(request.event)


async def test_a_text_taken_and_closed_reaches_the_hook_signed_valid_and_in_order(
        config, fake_twilio, receiver):
    async with open_harness(with_hooks(config, crm(receiver)), fake_twilio) as harness:
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Bin is on fire")
        await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
        await harness.twilio.text(from_=SERGIO, to=LINE, body="CLOSE 1")
        await harness.services.hooks.deliver_due()
        assert receiver.types() == ["conversation_opened", "paged", "acknowledged", "closed"]
        check_signed_and_valid(receiver, harness.clock.now())
        opened, paged, acked, closed = receiver.events
        assert opened["conversation"]["code"] == 1 and opened["line"] == {
            "id": "qdn", "name": "Quick Dump Now"}
        assert paged["responder"] == {"id": "sergio", "name": "Sergio"}
        assert closed["conversation"]["status"] == "closed"
        # include_customer is false: the number is masked, the text stays home.
        assert opened["customer"] == "+1619***0142" and opened["body"] is None
        assert all(CUSTOMER not in r.body.decode() and "fire" not in r.body.decode()
                   for r in receiver.received)
        assert len({e["id"] for e in receiver.events}) == 4
        rows = await harness.store.read(lambda tx: tx.hook_deliveries())
        assert {(r["status"], r["attempts"], r["http_status"]) for r in rows} == {
            ("sent", 1, 200)}
        # Sent deliveries are forgotten after a week; the decision log keeps the events.
        harness.clock.advance(7 * 86400 - 1800)
        assert await harness.services.hooks.prune() == 0      # not a week old yet
        harness.clock.advance(2400)
        assert await harness.services.hooks.prune() == 0      # once an hour at most
        harness.clock.advance(1800)
        assert await harness.services.hooks.prune() == 4
        assert await harness.store.read(lambda tx: tx.hook_deliveries()) == []


async def test_every_event_type_is_valid_against_the_schema_with_and_without_customer(
        config, fake_twilio, receiver):
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    hooks = (crm(receiver, include_customer=True),
             Hook(name="masked", url=receiver.url, secret=SECRET))
    async with open_harness(with_hooks(config, *hooks), fake_twilio) as harness:
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Bin is on fire",
                                  message_sid="SM" + "1" * 32)
        [conversation] = await harness.store.read(lambda tx: tx.open_conversations())
        await harness.services.hooks.deliver_due()
        receiver.received.clear()

        def every_kind(tx):
            for kind in EVENT_FOR_KIND:
                voice = kind in (DecisionKind.MISSED_CALL, DecisionKind.VOICEMAIL_RECEIVED,
                                 DecisionKind.TRANSCRIPTION_RECEIVED,
                                 DecisionKind.PAGE_CALL_PLACED)
                tx.decide(decision(kind, Channel.VOICE if voice else Channel.SMS, "test",
                                   line="qdn", conversation=conversation.id, tier=0,
                                   sid="CA" + "2" * 32 if voice else "SM" + "1" * 32,
                                   responder_id="sergio"))
        await harness.store.write(every_kind)
        await harness.services.hooks.deliver_due()
        check_signed_and_valid(receiver, harness.clock.now())
        by_hook = {True: [], False: []}
        for event in receiver.events:
            by_hook[event["customer"] == CUSTOMER].append(event)
        assert {e["type"] for e in by_hook[True]} == set(EVENT_TYPES)
        assert {e["type"] for e in by_hook[False]} == set(EVENT_TYPES)
        # A text's events carry it (the phone page, a call, carries none).
        assert {e["body"] for e in by_hook[True]
                if e["type"] == "paged" and e["call"] is None} == {"Bin is on fire"}
        assert all(e["body"] is None and e["customer"] == "+1619***0142"
                   for e in by_hook[False])


async def test_a_voicemail_and_its_transcription_are_two_events(config, fake_twilio, receiver):
    async with open_harness(with_hooks(config, crm(receiver, include_customer=True)),
                            fake_twilio) as harness:
        sim = CallSimulator(harness.twilio, caller=CUSTOMER, line_number=LINE, legs={},
                            voicemail="Please empty the bin on Elm Street")
        await sim.run()
        await sim.deliver_recording()
        await harness.services.hooks.deliver_due()
        assert "voicemail_received" in receiver.types()
        await sim.deliver_transcription()
        await harness.services.hooks.deliver_due()
        check_signed_and_valid(receiver, harness.clock.now())
        received = next(e for e in receiver.events if e["type"] == "voicemail_received")
        assert receiver.types().count("voicemail_transcribed") == 1
        transcribed = next(e for e in receiver.events if e["type"] == "voicemail_transcribed")
        assert receiver.events.index(received) < receiver.events.index(transcribed)
        assert transcribed["conversation"] == received["conversation"]
        assert transcribed["body"] == "Please empty the bin on Elm Street"
        assert transcribed["voicemail"]["transcribed"] is True
        assert received["voicemail"]["recording_url"].startswith("http")
        assert transcribed["call"] == received["call"] == {"sid": sim.call_sid}


async def test_a_failing_endpoint_is_retried_and_holds_back_the_conversations_later_events(
        config, fake_twilio, receiver):
    receiver.answer = lambda number: 500 if number < 2 else 200
    async with open_harness(with_hooks(config, crm(receiver)), fake_twilio) as harness:
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Bin is on fire")
        await harness.services.hooks.deliver_due()
        # The first event failed: the page that followed it waits for it.
        assert receiver.types() == ["conversation_opened"]
        await harness.services.hooks.deliver_due()
        assert receiver.types() == ["conversation_opened"]      # not due again yet
        harness.clock.advance(1)
        await harness.services.hooks.deliver_due()
        harness.clock.advance(2)
        await harness.services.hooks.deliver_due()
        assert receiver.types() == ["conversation_opened"] * 3 + ["paged"]
        assert len({e["id"] for e in receiver.events[:3]}) == 1
        rows = await harness.store.read(lambda tx: tx.hook_deliveries())
        assert [(r["event_type"], r["status"], r["attempts"]) for r in rows] == [
            ("conversation_opened", "sent", 3), ("paged", "sent", 1)]
        assert all(d.kind != "hook_failed" for d in await harness.decisions())


async def test_an_endpoint_that_never_recovers_ends_in_hook_failed_and_no_loop(
        config, fake_twilio, receiver):
    receiver.answer = lambda _: 503
    async with open_harness(with_hooks(config, crm(receiver, max_attempts=3)), fake_twilio,
                            operator_password_hash=hash_password(PASSWORD)) as harness:
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Bin is on fire")
        for _ in range(10):
            await harness.services.hooks.deliver_due()
            harness.clock.advance(60)
        rows = await harness.store.read(lambda tx: tx.hook_deliveries())
        assert [(r["event_type"], r["status"], r["attempts"], r["http_status"])
                for r in rows] == [("conversation_opened", "failed", 3, 503),
                                   ("paged", "failed", 3, 503)]
        failed = [d for d in await harness.decisions() if d.kind == "hook_failed"]
        assert len(failed) == 2 and "never reached hook crm" in failed[0].reason
        assert "HTTP 503" in failed[0].reason
        # Failing wrote decisions, and they queued nothing: no event about a hook's failure.
        assert len(receiver.received) == 6
        assert len(await harness.store.read(lambda tx: tx.hook_deliveries())) == 2
        # The operator sees them on the dashboard.
        client = harness.client
        login = await (await client.get("/dashboard/login", scheme="https")).get_data(
            as_text=True)
        await client.post("/dashboard/login", scheme="https",
                          form={"password": PASSWORD, "csrf_token": csrf_of(login)})
        shown = await (await client.get("/dashboard/", scheme="https")).get_data(as_text=True)
        assert "Events a hook never received" in shown
        assert shown.count('class="card failed-hook"') == 2 and "HTTP 503" in shown


async def test_a_hanging_endpoint_is_cut_off_at_the_hooks_timeout(config, fake_twilio, receiver):
    receiver.hold.clear()
    async with open_harness(with_hooks(config, crm(receiver, timeout_seconds=1)),
                            fake_twilio) as harness:
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Bin is on fire")
        # Bounded so that a missing timeout fails the test instead of hanging it.
        await asyncio.wait_for(harness.services.hooks.deliver_due(), timeout=30)
        [first, _] = await harness.store.read(lambda tx: tx.hook_deliveries())
        assert (first["status"], first["error"]) == ("pending", "no answer within 1 s")


async def test_hooks_hear_only_their_events_and_lines(config, fake_twilio, receiver):
    only_closed = crm(receiver, events=frozenset({"closed"}))
    elsewhere = Hook(name="other", url=receiver.url, secret=SECRET,
                     lines=frozenset({"nowhere"}))
    async with open_harness(with_hooks(config, only_closed, elsewhere), fake_twilio) as harness:
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Bin is on fire")
        await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
        await harness.twilio.text(from_=BACKUP, to=LINE, body="OFF")
        await harness.twilio.text(from_=SERGIO, to=LINE, body="CLOSE 1")
        await harness.services.hooks.deliver_due()
        assert receiver.types() == ["closed"]


def test_retries_back_off_and_stop_at_the_attempt_or_time_limit():
    hook = Hook(name="crm", url="http://x", secret=SECRET, retry_seconds=5, max_attempts=20,
                give_up_hours=24)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    delays = []
    now = start
    for attempt in range(1, 30):
        due = next_attempt_at(hook, attempt, start, now)
        if due is None:
            break
        delays.append((due - now).total_seconds())
        now = due
    assert delays[:4] == [5, 10, 20, 40] and max(delays) == 3600
    assert len(delays) == 19                      # the 20th failure is the last
    assert now - start <= timedelta(hours=24)
    late = start + timedelta(hours=23, minutes=59)
    assert next_attempt_at(hook, 5, start, late) is None


async def test_escalation_failure_missed_call_and_availability_as_they_happen(
        config, fake_twilio, receiver):
    async with open_harness(with_hooks(config, crm(receiver)), fake_twilio) as harness:
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Bin is on fire")
        await harness.deliver_outbox()
        [page] = fake_twilio.messages_to(SERGIO)
        await harness.twilio.message_status(message_sid=page.sid, to=SERGIO, from_=LINE,
                                            status="undelivered", error_code="30003")
        for _ in range(3):
            harness.clock.advance(121)
            await harness.fire_timers()
        await harness.twilio.text(from_=BACKUP, to=LINE, body="OFF")
        sim = CallSimulator(harness.twilio, caller="+16195550177", line_number=LINE,
                            legs={}, voicemail=SILENCE)
        await sim.run()
        await sim.deliver_recording()
        await harness.services.hooks.deliver_due()
        check_signed_and_valid(receiver, harness.clock.now())
        texts = [e["type"] for e in receiver.events if e["conversation"]
                 and e["conversation"]["id"] == 1]
        assert texts[:2] == ["conversation_opened", "paged"]
        assert {"delivery_failed", "escalated", "unanswered"} <= set(texts)
        assert texts.index("escalated") < texts.index("unanswered")
        availability = [e for e in receiver.events
                        if e["type"] == "responder_availability_changed"]
        assert [e["responder"]["id"] for e in availability] == ["backup"]
        [missed] = [e for e in receiver.events if e["type"] == "missed_call"]
        assert missed["call"] == {"sid": sim.call_sid} and missed["customer"] == "+1619***0177"


async def test_a_responders_availability_changes_arrive_in_order(config, fake_twilio, receiver):
    receiver.answer = lambda number: 500 if number == 0 else 200
    async with open_harness(with_hooks(config, crm(receiver)), fake_twilio) as harness:
        await harness.twilio.text(from_=BACKUP, to=LINE, body="OFF")
        await harness.twilio.text(from_=BACKUP, to=LINE, body="ON")
        await harness.services.hooks.deliver_due()
        # OFF failed once: ON waits behind it, as one conversation's events do.
        assert len(receiver.received) == 1
        harness.clock.advance(1)
        await harness.services.hooks.deliver_due()
        kept = receiver.first_copies()
        assert [e["type"] for e in kept] == ["responder_availability_changed"] * 2
        assert [e["id"] for e in kept] == sorted((e["id"] for e in kept),
                                                 key=lambda i: int(i.rsplit("-", 1)[1]))
        rows = await harness.store.read(lambda tx: tx.hook_deliveries())
        assert {r["stream"] for r in rows} == {"responder:backup"}


async def test_two_instances_delivering_at_once_send_each_event_once_in_order(
        config, fake_twilio, receiver):
    configured = with_hooks(config, crm(receiver))
    async with open_harness(configured, fake_twilio) as harness:
        other_store = store_for(configured.database, harness.clock)
        await other_store.open()
        other = HookWorker(other_store, harness.services.config, harness.clock)
        try:
            for i in range(8):
                await harness.twilio.text(from_=f"+1619555030{i}", to=LINE, body="Full bin")
            await asyncio.gather(harness.services.hooks.deliver_due(), other.deliver_due())
        finally:
            await other.stop()
            await other_store.close()
        ids = [e["id"] for e in receiver.events]
        assert len(ids) == len(set(ids)) == 16
        for code in range(1, 9):
            mine = [e["type"] for e in receiver.events
                    if e["conversation"]["code"] == code]
            assert mine == ["conversation_opened", "paged"]


async def test_a_conversations_booking_travels_in_every_event(tmp_path, database, fake_twilio,
                                                              receiver):
    from ivr.clock import FrozenClock

    from .test_bookings import BOOKINGS, NOW, config_with_bookings
    (tmp_path / "bookings.ics").write_text(BOOKINGS, "utf-8")
    config = with_hooks(config_with_bookings(tmp_path, database, "bookings.ics"), crm(receiver))
    async with open_harness(config, fake_twilio, FrozenClock(NOW)) as harness:
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Where is my bin?")
        await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
        await harness.services.hooks.deliver_due()
        assert receiver.types() == ["conversation_opened", "paged", "acknowledged"]
        check_signed_and_valid(receiver, harness.clock.now())
        booking = {"uid": "drop-2", "summary": "Dumpster drop, Oak Ave",
                   "start": "2026-11-22T16:00:00.000000Z"}
        assert [event["booking"] for event in receiver.events] == [booking] * 3
