"""Texts, end to end: forward, ACK, timed escalation, relay, close, opt-out."""

import pytest

from ivr.clock import FrozenClock

from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO, Harness, open_harness

# The text, call and reliability scenarios hold on both engines.
pytestmark = pytest.mark.both_engines

OTHER_CUSTOMER = "+16195550177"


async def sent(harness: Harness, to: str) -> list[str]:
    """Deliver the outbox and return the bodies `to` has received so far."""
    await harness.deliver_outbox()
    return [m.body for m in harness.fake.messages_to(to)]


async def kinds(harness: Harness, **filters) -> list[str]:
    return [d.kind for d in await harness.decisions(**filters)]


async def test_no_ack_pages_tier_two_tells_the_customer_and_tier_one(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Bin is on fire")
    assert len(await sent(harness, SERGIO)) == 1

    harness.clock.advance(119)
    assert await harness.fire_timers() == 0
    assert await sent(harness, BACKUP) == []

    harness.clock.advance(1)
    assert await harness.fire_timers() == 1
    assert await sent(harness, BACKUP) == [
        "[QDN #1] +1 619-555-0142: Bin is on fire - reply ACK to take it"]
    assert (await sent(harness, SERGIO))[-1] == (
        "[QDN #1] nobody took it in time; it went to Backup. You can still reply ACK 1.")
    assert await sent(harness, CUSTOMER) == [
        "We're still finding someone for you; your message has gone to Backup."]
    [escalated] = [d for d in await harness.decisions() if d.kind == "escalated"]
    assert escalated.tier == 1 and "nobody replied ACK within 120 s" in escalated.reason

    # Past the last tier: everyone is paged once more, then the cascade stops.
    harness.clock.advance(120)
    assert await harness.fire_timers() == 1
    for number in (SERGIO, BACKUP):
        assert (await sent(harness, number))[-1].startswith("[QDN #1] UNANSWERED")
    assert "unanswered" in await kinds(harness)
    harness.clock.advance(3600)
    assert await harness.fire_timers() == 0
    assert await harness.store.read(lambda tx: tx.pending_timers()) == []


async def test_ack_takes_it_stops_the_timer_and_tells_everyone(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="help me")
    harness.clock.advance(42)
    reply = await harness.twilio.text(from_=SERGIO, to=LINE, body=" a c k ")
    assert reply.messages() == ["[QDN #1] is yours. Your replies go to the customer from the "
                                "line's number; CLOSE 1 when done."]
    assert await sent(harness, CUSTOMER) == ["Sergio is on it and will text you from this number."]
    harness.clock.advance(600)
    assert await harness.fire_timers() == 0
    assert await sent(harness, BACKUP) == []
    [ack] = [d for d in await harness.decisions() if d.kind == "acknowledged"]
    assert ack.responder_id == "sergio" and "after 42 s" in ack.reason

    # Backup, paged later in another cascade, is told who took it; a late ACK says who has it.
    reply = await harness.twilio.text(from_=BACKUP, to=LINE, body="ACK 1")
    assert reply.messages() == ["[QDN #1] is already taken by Sergio."]


async def test_others_paged_are_told_who_took_it(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    harness.clock.advance(120)
    await harness.fire_timers()
    await harness.twilio.text(from_=BACKUP, to=LINE, body="ack")
    assert (await sent(harness, SERGIO))[-1] == "[QDN #1] Backup took it."
    assert (await sent(harness, CUSTOMER))[-1] == "Backup is on it and will text you from this number."


async def test_relay_both_ways_keeps_the_responders_number_private(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Where is my truck?")
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    await harness.deliver_outbox()
    harness.fake.messages.clear()

    # "10" is not one of Sergio's codes, so it is part of the text.
    reply = await harness.twilio.text(from_=SERGIO, to=LINE, body="10 minutes away")
    assert reply.messages() == []
    assert await sent(harness, CUSTOMER) == ["10 minutes away"]
    [to_customer] = harness.fake.messages_to(CUSTOMER)
    assert to_customer.from_ == LINE

    harness.clock.advance(30)   # past the flood window that started with the first page
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Thanks!")
    assert await sent(harness, SERGIO) == ["[QDN #1] +1 619-555-0142: Thanks!"]
    assert "relayed_to_customer" in await kinds(harness)
    assert all(m.from_ == LINE for m in harness.fake.messages)


async def test_one_responder_owning_two_conversations_must_say_which(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="first")
    await harness.twilio.text(from_=OTHER_CUSTOMER, to=LINE, body="second")
    # A bare ACK takes the most recent one paged to them; ACK 1 takes #1.
    assert (await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")).messages()[0].startswith(
        "[QDN #2] is yours")
    assert (await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK 1")).messages()[0].startswith(
        "[QDN #1] is yours")
    await harness.deliver_outbox()
    harness.fake.messages.clear()

    ambiguous = await harness.twilio.text(from_=SERGIO, to=LINE, body="on my way")
    assert ambiguous.messages() == ['[QDN] you have #1 #2: start your reply with the number, '
                                    'e.g. "1 On my way". CLOSE and the number closes one.']
    assert await harness.deliver_outbox() == 0

    await harness.twilio.text(from_=SERGIO, to=LINE, body="2 on my way")
    assert await sent(harness, OTHER_CUSTOMER) == ["on my way"]
    assert await sent(harness, CUSTOMER) == []

    closed = await harness.twilio.text(from_=SERGIO, to=LINE, body="close 2")
    assert closed.messages() == ["[QDN #2] closed; the customer was told."]
    assert (await sent(harness, OTHER_CUSTOMER))[-1] == (
        "Quick Dump Now has closed this conversation. Text us again any time.")
    # With one left, a bare reply goes to it.
    await harness.twilio.text(from_=SERGIO, to=LINE, body="see you soon")
    assert await sent(harness, CUSTOMER) == ["see you soon"]


async def test_an_undelivered_page_escalates_at_once(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="urgent")
    await harness.deliver_outbox()
    [page] = harness.fake.messages_to(SERGIO)
    await harness.twilio.message_status(message_sid=page.sid, to=SERGIO, from_=LINE,
                                        status="undelivered", error_code="30003")
    assert await sent(harness, BACKUP) == ["[QDN #1] +1 619-555-0142: urgent - reply ACK to take it"]
    [escalated] = [d for d in await harness.decisions() if d.kind == "escalated"]
    assert "undelivered (ErrorCode 30003)" in escalated.reason
    # The tier-1 timer was replaced, not left to escalate a second time.
    harness.clock.advance(119)
    assert await harness.fire_timers() == 0
    # A second failure report for the same page changes nothing.
    await harness.twilio.message_status(message_sid=page.sid, to=SERGIO, from_=LINE,
                                        status="failed", error_code="30003")
    assert (await kinds(harness)).count("escalated") == 1


async def test_a_refused_page_escalates_at_once(harness):
    harness.fake.fail_next(400, 21211, "Invalid 'To' Phone Number")
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="urgent")
    await harness.deliver_outbox()
    assert await sent(harness, BACKUP) == ["[QDN #1] +1 619-555-0142: urgent - reply ACK to take it"]


async def test_a_flood_from_one_customer_is_held_past_flood_texts_and_loses_nothing(harness):
    # The default limit: up to 10 texts within 30 s reach the tier at once.
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="first")
    for i in range(14):
        harness.clock.advance(1)
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body=f"again {i}")
    assert len(await sent(harness, SERGIO)) == 10
    held = [d for d in await harness.decisions() if d.kind == "flood_held"]
    assert len(held) == 5
    assert "sent 11 texts within 30 s (more than flood_texts = 10)" in held[0].reason
    harness.clock.advance(30)   # the hold (30 s from the first text held) ends
    assert await harness.fire_timers() == 1
    pages = await sent(harness, SERGIO)
    assert len(pages) == 11
    assert pages[10] == ("[QDN #1] +1 619-555-0142: "
                         + " / ".join(f"again {i}" for i in range(9, 14))
                         + " - reply ACK to take it")
    # Held texts reach the owner too, and a close sends them before closing.
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    for i in range(11):
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body=f"more {i}")
    await harness.twilio.text(from_=SERGIO, to=LINE, body="CLOSE 1")
    assert (await sent(harness, SERGIO))[-1] == "[QDN #1] +1 619-555-0142: more 10"


async def test_follow_ups_join_the_pending_page_without_restarting_the_timer(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="one")
    harness.clock.advance(100)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="two")
    assert len(await sent(harness, SERGIO)) == 2
    harness.clock.advance(20)
    assert await harness.fire_timers() == 1
    assert await sent(harness, BACKUP) == [
        "[QDN #1] +1 619-555-0142: one / two - reply ACK to take it"]


async def test_stop_is_honoured_and_logged(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hi")
    stop = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="STOP")
    assert stop.messages() == []
    assert "opted_out" in await kinds(harness)
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    reply = await harness.twilio.text(from_=SERGIO, to=LINE, body="are you there?")
    assert reply.messages() == ["[QDN #1] the customer has opted out (STOP); texts to them are "
                                "not sent."]
    assert await sent(harness, CUSTOMER) == []
    assert (await kinds(harness)).count("send_suppressed") == 2

    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="start")
    await harness.twilio.text(from_=SERGIO, to=LINE, body="welcome back")
    assert await sent(harness, CUSTOMER) == ["welcome back"]


async def test_help_is_forwarded_as_well_as_logged(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="HELP")
    assert await sent(harness, SERGIO) == ["[QDN #1] +1 619-555-0142: HELP - reply ACK to take it"]
    assert "help_requested" in await kinds(harness)


HOSTILE = [
    "<Response><Dial>+15555550100</Dial></Response> & ]]> <!-- {{ 7*7 }} {% raw %}",
    "x" * 1600,
    "🚒🔥 fire truck needed 👩🏽‍🚒",
    "مرحبا، هل يمكنكم المساعدة؟ \u202egnp.exe",
]


@pytest.mark.parametrize("body", HOSTILE, ids=["xml", "1600-chars", "emoji", "rtl"])
async def test_a_hostile_body_is_relayed_intact_and_twiml_stays_well_formed(harness, body):
    first = await harness.twilio.text(from_=CUSTOMER, to=LINE, body=body)
    assert first.status == 200 and first.twiml.tag == "Response"
    pages = await sent(harness, SERGIO)
    # The page may be cut into parts to fit Twilio's 1600-character limit; none is lost.
    assert body in "".join(pages)
    assert all(len(page) <= 1600 for page in pages)

    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    echo = await harness.twilio.text(from_=SERGIO, to=LINE, body=body)
    assert echo.status == 200
    echo.twiml  # well-formed, whatever the body held
    assert (await sent(harness, CUSTOMER))[-1] == body


async def test_a_pending_timer_fires_once_after_a_restart(tmp_path, config, fake_twilio):
    clock = FrozenClock()

    async def run_app(action):
        async with open_harness(config, fake_twilio, clock) as harness:
            return await action(harness)

    async def text_then_stop(h):
        await h.twilio.text(from_=CUSTOMER, to=LINE, body="before the restart")
        await h.deliver_outbox()
    await run_app(text_then_stop)

    clock.advance(600)  # the service was down past the deadline

    async def fire_twice_in_two_instances(h):
        # Two instances share the database, as two Hypercorn workers do.
        async with open_harness(config, fake_twilio, clock) as other:
            fired = await h.fire_timers() + await other.fire_timers()
        await h.deliver_outbox()
        return fired
    assert await run_app(fire_twice_in_two_instances) == 1
    assert len(fake_twilio.messages_to(BACKUP)) == 1
