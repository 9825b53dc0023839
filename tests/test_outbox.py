"""The outbox: a message queued by a transaction is sent by the process that
queued it as soon as the transaction commits, and the poll picks up whatever
that process could not send."""

import asyncio

import pytest

from ivr.decisions import Channel, Decision, DecisionKind
from ivr.outbox import LEASE
from ivr.store import store_for

from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO, open_harness

# The text, call and reliability scenarios hold on both engines.
pytestmark = pytest.mark.both_engines


@pytest.fixture
async def running(config, fake_twilio):
    """The app with its background workers running, on a clock that stands
    still: the poll can then claim only what is pending, never a claim
    whose lease is still running."""
    async with open_harness(config, fake_twilio, background=True) as harness:
        yield harness.services, harness.twilio


async def until(condition, seconds=5.0):
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not come true in time")


async def test_a_page_is_sent_as_its_webhook_commits_with_no_claim(running, fake_twilio):
    services, twilio = running
    await twilio.text(from_=CUSTOMER, to=LINE, body="Dumpster is full")
    await until(lambda: fake_twilio.messages_to(SERGIO))
    await services.outbox.flush()
    [page] = fake_twilio.messages_to(SERGIO)
    [row] = await services.store.read(lambda tx: tx.outbox_rows())
    # Queued claimed (attempt 1) by the webhook's own transaction; the poll
    # never saw it pending, and nothing claimed it a second time.
    assert (row["status"], row["attempts"], row["message_sid"]) == ("sent", 1, page.sid)
    assert row["claimed_until"] is None


async def test_a_claim_whose_process_died_is_sent_when_its_lease_ends(harness):
    # Another worker process queues a page claimed by itself, and dies
    # before it can send it.
    other_process = store_for(harness.store.path, harness.clock)
    await other_process.open()
    other_process.send_lease = LEASE

    def queue(tx):
        decision_id = tx.decide(Decision(DecisionKind.MESSAGE_FORWARDED, Channel.SMS, "test",
                                         line_id="qdn"))
        tx.enqueue_sms(decision_id, "qdn", None, SERGIO, LINE, "left behind", purpose="page")
    await other_process.write(queue)
    await other_process.close()
    assert await harness.deliver_outbox() == 0
    harness.clock.advance(LEASE.total_seconds() + 1)
    assert await harness.deliver_outbox() == 1
    assert [m.body for m in harness.fake.messages_to(SERGIO)] == ["left behind"]
    [row] = await harness.store.read(lambda tx: tx.outbox_rows())
    assert (row["status"], row["attempts"]) == ("sent", 2)


async def test_a_failure_reported_before_the_send_is_recorded_still_escalates(
        running, fake_twilio):
    services, twilio = running

    async def report_at_once(sent):
        # Twilio posts the status callback before its REST answer arrives.
        if sent.to == SERGIO and "urgent" in sent.body:
            await twilio.message_status(message_sid=sent.sid, to=SERGIO, from_=LINE,
                                        status="undelivered", error_code="30003")
    fake_twilio.before_answer = report_at_once
    await twilio.text(from_=CUSTOMER, to=LINE, body="urgent")
    await until(lambda: fake_twilio.messages_to(BACKUP))
    await services.outbox.flush()
    page = fake_twilio.messages_to(SERGIO)[0]  # then the notice that it went to Backup
    assert page.body.endswith("urgent - reply ACK to take it")
    [row] = [r for r in await services.store.read(lambda tx: tx.outbox_rows())
             if r["message_sid"] == page.sid]
    assert (row["delivery_status"], row["error_code"]) == ("undelivered", "30003")
    decisions = await services.store.read(lambda tx: tx.recent_decisions(limit=100))
    assert [d.kind for d in decisions].count("delivery_failed") == 1
    [escalated] = [d for d in decisions if d.kind == "escalated"]
    assert "undelivered (ErrorCode 30003)" in escalated.reason


async def test_many_texts_at_once_are_each_sent_once(running, fake_twilio):
    services, twilio = running
    customers = [f"+1619555{n:04d}" for n in range(200, 240)]
    await asyncio.gather(*(twilio.text(from_=c, to=LINE, body=f"from {c}") for c in customers))
    await until(lambda: len(fake_twilio.messages_to(SERGIO)) == len(customers))
    await services.outbox.flush()
    rows = await services.store.read(lambda tx: tx.outbox_rows())
    pages = [r for r in rows if r["to_number"] == SERGIO]
    assert len(pages) == len(customers)
    assert {(r["status"], r["attempts"]) for r in pages} == {("sent", 1)}
    assert len({r["message_sid"] for r in pages}) == len(customers)
    assert len(fake_twilio.messages_to(SERGIO)) == len(customers)


async def test_a_message_queued_by_a_cancelled_request_is_still_sent_at_once(
        running, fake_twilio):
    """Quart cancels a handler whose client hung up; its transaction still
    commits whole, and what it queued must not wait for its lease to end."""
    services, _ = running

    def queue(tx):
        decision_id = tx.decide(Decision(DecisionKind.MESSAGE_FORWARDED, Channel.SMS, "test",
                                         line_id="qdn"))
        tx.enqueue_sms(decision_id, "qdn", None, SERGIO, LINE, "hung up", purpose="page")
    request = asyncio.ensure_future(services.store.write(queue))
    await asyncio.sleep(0)  # the transaction is on its way to the database thread
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    # The clock stands still, so no poll can claim it: only the direct send can.
    await until(lambda: fake_twilio.messages_to(SERGIO))
    assert [m.body for m in fake_twilio.messages_to(SERGIO)] == ["hung up"]
