"""Asking Twilio before sending again what a dead process may have sent
(issue 14 item 2): the listing request against Twilio's OpenAPI description
(Prism), the fake's answer to it, and the outbox's use of it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ivr.gateway import TwilioGateway
from ivr.outbox import LEASE
from ivr.store.outbox import UNRECORDED_CLAIM

from .support.harness import CUSTOMER, LINE, SERGIO
from .support.prism import prism  # noqa: F401 (the fixture)
from .test_contract import accepted, gateway, proxy, secrets_for  # noqa: F401 (fixtures)

MESSAGES = "/Messages.json"
SINCE = datetime(2026, 11, 22, 18, 0, tzinfo=timezone.utc)


async def test_listing_messages_between_two_numbers_since_a_day(gateway, proxy):  # noqa: F811
    await gateway.find_sent(to=SERGIO, from_=LINE, body="hello", since=SINCE)
    exchange = proxy.only("GET", MESSAGES)
    accepted(exchange)
    assert exchange.path.endswith(MESSAGES)
    assert exchange.query["To"] == [SERGIO] and exchange.query["From"] == [LINE]
    assert exchange.query["DateSent>"] == ["2026-11-21T18:00:00Z"]   # a day early: by date
    assert exchange.query["PageSize"] == ["50"]


async def test_the_fake_lists_what_it_was_sent(fake_twilio):
    gateway = TwilioGateway(secrets_for(fake_twilio.url))
    try:
        sent = await gateway.send_sms(to=SERGIO, from_=LINE, body="page 1")
        await gateway.send_sms(to=CUSTOMER, from_=LINE, body="page 1")
        since = datetime.now(timezone.utc) - timedelta(minutes=1)
        found = await gateway.find_sent(to=SERGIO, from_=LINE, body="page 1", since=since)
        assert found is not None and found.sid == sent.sid and found.status == "sent"
        assert await gateway.find_sent(to=SERGIO, from_=LINE, body="page 2", since=since) is None
        later = since + timedelta(days=2)
        assert await gateway.find_sent(to=SERGIO, from_=LINE, body="page 1", since=later) is None
    finally:
        await gateway.close()


async def claim_ran_out(harness) -> dict:
    """A text queued and claimed by a process that then died: its lease runs out."""
    svc = harness.services
    response = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="anyone?")
    assert response.status == 200
    await svc.store.write(lambda tx: tx.claim_due_outbox(10, LEASE))
    harness.clock.advance(LEASE.total_seconds() + 1)
    return svc


async def test_a_send_twilio_took_before_the_crash_is_recorded_not_sent_again(harness):
    svc = await claim_ran_out(harness)
    fake = harness.fake
    [row] = await svc.store.read(lambda tx: tx.outbox_rows())
    await svc.outbox.gateway.send_sms(to=row["to_number"], from_=row["from_number"],
                                      body=row["body"])   # what the dead process sent
    [earlier] = fake.messages
    assert await svc.outbox.drain() == 1
    assert len(fake.messages) == 1
    [row] = await svc.store.read(lambda tx: tx.outbox_rows())
    assert (row["status"], row["message_sid"], row["error"]) == ("sent", earlier.sid, None)


async def test_a_claim_that_ran_out_before_twilio_took_it_is_sent(harness):
    svc = await claim_ran_out(harness)
    [row] = await svc.store.read(lambda tx: tx.outbox_rows())
    assert row["status"] == "sending"
    assert await svc.store.write(lambda tx: tx.unrecorded_claims([row["id"]])) == set()
    assert await svc.outbox.drain() == 1
    [page] = harness.fake.messages
    [row] = await svc.store.read(lambda tx: tx.outbox_rows())
    assert (row["status"], row["message_sid"]) == ("sent", page.sid)
    assert row["error"] != UNRECORDED_CLAIM
