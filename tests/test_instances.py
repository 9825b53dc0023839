"""Several instances on one database at once: what SQLite's single writer
gave for free must hold when writes really run side by side (PostgreSQL,
several stores, several threads each)."""

import asyncio
from datetime import timedelta

import pytest

from ivr.clock import FrozenClock
from ivr.decisions import Channel, Decision, DecisionKind
from ivr.store import store_for

pytestmark = pytest.mark.both_engines

INSTANCES = 3


@pytest.fixture
async def stores(database):
    clock = FrozenClock()
    opened = [store_for(database, clock) for _ in range(INSTANCES)]
    for store in opened:
        await store.open()
    yield opened
    for store in opened:
        await store.close()


async def test_codes_stay_unique_per_line_under_concurrent_opens(stores):
    customers = [f"+1619555{n:04d}" for n in range(60)]
    opened = await asyncio.gather(*(
        stores[n % INSTANCES].write(lambda tx, c=c: tx.open_conversation("qdn", c, "sms"))
        for n, c in enumerate(customers)))
    codes = sorted(c.code for c in opened)
    assert codes == list(range(1, len(customers) + 1))   # unique, and the smallest free


async def test_the_same_customer_opening_twice_at_once_gets_one_conversation(stores):
    def open_or_join(tx):
        return (tx.open_conversation_for("qdn", "+16195550142")
                or tx.open_conversation("qdn", "+16195550142", "sms"))
    opened = await asyncio.gather(*(stores[n % INSTANCES].write(open_or_join)
                                    for n in range(12)))
    assert len({c.id for c in opened}) == 1


async def test_each_due_timer_fires_once_across_instances(stores):
    clock = stores[0].clock

    def schedule(tx):
        for n in range(40):
            conversation = tx.open_conversation("qdn", f"+1858555{n:04d}", "sms")
            tx.schedule_timer(conversation.id, 0, clock.now() + timedelta(seconds=n % 5))
    await stores[0].write(schedule)
    clock.advance(10)

    async def sweep(store):
        fired = []
        while batch := await store.write(lambda tx: tx.claim_due_timers(7)):
            fired.extend(t.id for t in batch)
        return fired
    swept = await asyncio.gather(*(sweep(store) for store in stores for _ in range(2)))
    every = [timer_id for ids in swept for timer_id in ids]
    assert len(every) == len(set(every)) == 40


async def test_each_queued_send_is_claimed_by_one_instance(stores):
    def queue(tx):
        decision_id = tx.decide(Decision(DecisionKind.MESSAGE_FORWARDED, Channel.SMS, "test",
                                         line_id="qdn"))
        for n in range(30):
            tx.enqueue_sms(decision_id, "qdn", None, f"+1619555{n:04d}", "+16195550100",
                           f"page {n}", purpose="page")
    await stores[0].write(queue)
    lease = timedelta(seconds=60)
    claims = await asyncio.gather(*(
        store.write(lambda tx: tx.claim_due_outbox(4, lease))
        for store in stores for _ in range(4)))
    claimed = [m.id for batch in claims for m in batch]
    assert len(claimed) == len(set(claimed))
    while batch := await stores[0].write(lambda tx: tx.claim_due_outbox(50, lease)):
        claimed.extend(m.id for m in batch)
    assert len(claimed) == len(set(claimed)) == 30
