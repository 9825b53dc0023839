"""A failed forward to an owner (issue 15, item 4): a customer's text
relayed to the conversation's owner that Twilio cannot deliver, or refuses,
puts the conversation back to the cascade once: the owner is cleared, the
current tier paged again, the customer told. Before: only logged, and the
conversation sat with an owner who never got the text."""

import pytest

from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO, Harness

# The text, call and reliability scenarios hold on both engines.
pytestmark = pytest.mark.both_engines

ACK_SECONDS = 120


async def sent(harness: Harness, to: str) -> list[str]:
    await harness.deliver_outbox()
    return [m.body for m in harness.fake.messages_to(to)]


async def kinds(harness: Harness) -> list[str]:
    return [d.kind for d in await harness.decisions()]


async def owned_by_sergio_with_a_follow_up(harness: Harness) -> None:
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Bin is on fire")
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    await harness.deliver_outbox()
    harness.clock.advance(60)  # past any batching of the customer's texts
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="It's spreading")
    assert (await sent(harness, SERGIO))[-1] == "[QDN #1] +1 619-555-0142: It's spreading"


async def report(harness: Harness, message, status: str = "undelivered",
                 code: str = "30003") -> None:
    await harness.twilio.message_status(message_sid=message.sid, to=message.to, from_=LINE,
                                        status=status, error_code=code)


async def test_an_undelivered_forward_to_the_owner_pages_the_tier_again(harness):
    await owned_by_sergio_with_a_follow_up(harness)
    before = len(harness.fake.messages_to(SERGIO))
    relay = harness.fake.messages_to(SERGIO)[-1]
    await report(harness, relay)

    conversation = await harness.store.read(lambda tx: tx.conversation(1))
    assert conversation.owner is None and conversation.status == "open"
    [returned] = [d for d in await harness.decisions() if d.kind == "returned_to_cascade"]
    assert returned.responder_id == "sergio" and returned.tier == 0
    assert "undelivered (ErrorCode 30003)" in returned.reason
    # Tier 1 is paged again with everything the customer wrote, to be ACKed anew.
    assert (await sent(harness, SERGIO))[before:] == [
        "[QDN #1] +1 619-555-0142: Bin is on fire / It's spreading - reply ACK to take it"]
    assert (await sent(harness, CUSTOMER))[-1] == (
        "We're still finding someone for you; your message has gone to Sergio.")
    assert len(await harness.store.read(lambda tx: tx.pending_timers(1))) == 1
    # The same report again, or a second failed relay, returns nothing twice.
    await report(harness, relay)
    assert (await kinds(harness)).count("returned_to_cascade") == 1
    # Nobody ACKs: the cascade goes on to tier 2 as for any page.
    harness.clock.advance(ACK_SECONDS)
    assert await harness.fire_timers() == 1
    assert (await sent(harness, BACKUP))[-1].endswith("reply ACK to take it")


async def test_a_refused_forward_to_the_owner_returns_it_too(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    await harness.deliver_outbox()
    harness.clock.advance(60)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="still there?")
    harness.fake.fail_next(400, 21211, "The 'To' number is not a valid phone number.")
    await harness.deliver_outbox()
    assert "returned_to_cascade" in await kinds(harness)
    assert (await harness.store.read(lambda tx: tx.conversation(1))).owner is None


async def test_a_forward_failing_everywhere_ends_in_a_bounded_number_of_sends(harness):
    """The re-page fails too: it escalates as a failed page does, once per
    tier, then the last round once; nothing a failure triggers triggers itself."""
    await owned_by_sergio_with_a_follow_up(harness)
    reported: set[str] = set()
    for _ in range(6):
        for number in (SERGIO, BACKUP):
            for message in harness.fake.messages_to(number):
                if message.sid not in reported and message.sid:
                    reported.add(message.sid)
                    await report(harness, message)
        harness.clock.advance(ACK_SECONDS + 1)
        await harness.fire_timers()
        await harness.deliver_outbox()
    decided = await kinds(harness)
    assert decided.count("returned_to_cascade") == 1
    assert decided.count("unanswered") == 1
    outbox = await harness.store.read(lambda tx: tx.outbox_rows())
    assert len(outbox) <= 14, len(outbox)


async def test_a_failed_text_to_the_customer_returns_nothing(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    await harness.twilio.text(from_=SERGIO, to=LINE, body="On my way")
    await harness.deliver_outbox()
    await report(harness, harness.fake.messages_to(CUSTOMER)[-1])
    assert "returned_to_cascade" not in await kinds(harness)
    assert (await harness.store.read(lambda tx: tx.conversation(1))).owner == "sergio"
