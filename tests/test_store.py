import asyncio
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.clock import FrozenClock, to_text
from ivr.decisions import Channel, Decision, DecisionKind
from ivr.store import Store, Tx, store_for


@pytest.fixture
async def store(database):
    store = store_for(database, FrozenClock())
    await store.open()
    yield store
    await store.close()


def _integrity_errors():
    import psycopg
    return (sqlite3.IntegrityError, psycopg.errors.IntegrityError)


def decision(**fields):
    return Decision(**{"kind": DecisionKind.CONVERSATION_OPENED, "channel": Channel.SMS,
                       "reason": "test", "line_id": "qdn", **fields})


async def test_pragmas_wal_foreign_keys_and_busy_timeout(store):
    def pragmas(tx):
        return [(tx._one(f"PRAGMA {name}"))[0]
                for name in ("journal_mode", "foreign_keys", "busy_timeout")]
    assert await store.read(pragmas) == ["wal", 1, 5000]


async def test_opening_twice_applies_the_schema_idempotently(tmp_path):
    for _ in range(2):
        store = Store(tmp_path / "ivr.sqlite3", FrozenClock())
        await store.open()
        await store.write(lambda tx: tx.decide(decision()))
        await store.close()
    store = Store(tmp_path / "ivr.sqlite3", FrozenClock())
    await store.open()
    assert len(await store.read(lambda tx: tx.recent_decisions())) == 2
    await store.close()


@pytest.mark.both_engines
async def test_a_decision_kind_outside_the_closed_set_is_refused(store):
    with pytest.raises(ValueError):
        await store.write(lambda tx: tx.decide(decision(kind="made_up")))
    assert await store.read(lambda tx: tx.recent_decisions()) == []


@pytest.mark.both_engines
async def test_a_failed_transaction_leaves_nothing_behind(store):
    def half_done(tx):
        tx.decide(decision())
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        await store.write(half_done)
    assert await store.read(lambda tx: tx.recent_decisions()) == []
    await store.write(lambda tx: tx.decide(decision()))  # the connection is usable


@pytest.mark.both_engines
async def test_a_cancelled_caller_cannot_split_a_write(store):
    """Quart cancels a handler whose client went away; the write it started
    must still commit whole and leave no transaction open."""
    started = threading.Event()

    def slow(tx):
        tx.decide(decision(reason="first half"))
        started.set()
        time.sleep(0.05)
        tx.decide(decision(reason="second half"))

    caller = asyncio.create_task(store.write(slow))
    assert await asyncio.to_thread(started.wait, 5)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    # On PostgreSQL writes run side by side, so wait for the first to land
    # (whole: never its first half alone).
    for _ in range(200):
        landed = [d.reason for d in await store.read(lambda tx: tx.recent_decisions())]
        assert landed in ([], ["first half", "second half"])
        if landed:
            break
        await asyncio.sleep(0.01)
    await store.write(lambda tx: tx.decide(decision(reason="after")))
    reasons = [d.reason for d in await store.read(lambda tx: tx.recent_decisions())]
    assert reasons == ["first half", "second half", "after"]
    if store.engine == "sqlite":
        # Another connection (another worker) can write at once: no lock was left behind.
        other = sqlite3.connect(store.path, timeout=0.1)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        other.close()


@pytest.mark.both_engines
async def test_codes_are_small_unique_while_open_and_not_reused_within_a_day(store):
    clock = store.clock
    first = await store.write(lambda tx: tx.open_conversation("qdn", "+16195550142", "sms"))
    second = await store.write(lambda tx: tx.open_conversation("qdn", "+16195550143", "sms"))
    other_line = await store.write(lambda tx: tx.open_conversation("x", "+16195550142", "sms"))
    assert (first.code, second.code, other_line.code) == (1, 2, 1)

    await store.write(lambda tx: tx.close_conversation(first.id))
    clock.advance(23 * 3600)
    third = await store.write(lambda tx: tx.open_conversation("qdn", "+16195550144", "sms"))
    assert third.code == 3
    clock.advance(2 * 3600)
    fourth = await store.write(lambda tx: tx.open_conversation("qdn", "+16195550145", "sms"))
    assert fourth.code == 1


def _schema_connection():
    from ivr import SCHEMA_PATH
    from ivr.store import split_sql
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.row_factory = sqlite3.Row
    for statement in split_sql(SCHEMA_PATH.read_text("utf-8")):
        db.execute(statement)
    return db


def _code_by_the_rule(db, line_id, now):
    """The rule as first written, over the conversations themselves: the
    smallest code held by no open conversation of the line and by none
    closed within the day."""
    since = to_text(now - timedelta(days=1))
    taken = {row[0] for row in db.execute(
        "SELECT code FROM conversations WHERE line_id = ?"
        " AND (status = 'open' OR closed_at >= ?)", (line_id, since))}
    code = 1
    while code in taken:
        code += 1
    return code


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["open", "close", "wait"]),
                          st.sampled_from(["qdn", "x"]),
                          st.integers(min_value=0, max_value=30)), max_size=60))
def test_codes_follow_the_rule_whatever_happened_before(steps):
    db = _schema_connection()
    now = datetime(2026, 11, 22, 3, 0, tzinfo=timezone.utc)
    customers = 0
    for action, line_id, amount in steps:
        tx = Tx(db, now)
        if action == "wait":
            now += timedelta(hours=amount)
        elif action == "open":
            expected = _code_by_the_rule(db, line_id, now)
            customers += 1
            opened = tx.open_conversation(line_id, f"+1619555{customers:04d}", "sms")
            assert opened.code == expected
        else:
            open_ids = [row[0] for row in db.execute(
                "SELECT id FROM conversations WHERE line_id = ? AND status = 'open' ORDER BY id",
                (line_id,))]
            if open_ids:
                tx.close_conversation(open_ids[amount % len(open_ids)])


async def test_codes_are_rebuilt_for_a_database_from_before_line_codes(tmp_path):
    store = Store(tmp_path / "ivr.sqlite3", FrozenClock())
    await store.open()
    held = await store.write(lambda tx: tx.open_conversation("qdn", "+16195550142", "sms"))
    cooling = await store.write(lambda tx: tx.open_conversation("qdn", "+16195550143", "sms"))
    await store.write(lambda tx: tx.close_conversation(cooling.id))
    await store.write(lambda tx: tx._db.execute("DELETE FROM line_codes"))
    # A database from before line_codes also predates schema versions.
    await store.write(lambda tx: tx._db.execute("DROP TABLE schema_version"))
    await store.close()

    store = Store(tmp_path / "ivr.sqlite3", store.clock)
    await store.open()
    store.clock.advance(3600)
    third = await store.write(lambda tx: tx.open_conversation("qdn", "+16195550144", "sms"))
    assert (held.code, cooling.code, third.code) == (1, 2, 3)
    store.clock.advance(24 * 3600)
    fourth = await store.write(lambda tx: tx.open_conversation("qdn", "+16195550145", "sms"))
    assert fourth.code == 2
    await store.close()


@pytest.mark.both_engines
async def test_one_open_conversation_per_customer_and_line(store):
    await store.write(lambda tx: tx.open_conversation("qdn", "+16195550142", "sms"))
    with pytest.raises(_integrity_errors()):
        await store.write(lambda tx: tx.open_conversation("qdn", "+16195550142", "sms"))


@pytest.mark.both_engines
async def test_outbox_claims_are_leases(store):
    def queue(tx):
        decision_id = tx.decide(decision())
        tx.enqueue_sms(decision_id, "qdn", None, "+16195550101", "+16195550100", "hi",
                       purpose="page")
    await store.write(queue)
    from datetime import timedelta
    lease = timedelta(seconds=60)
    [claimed] = await store.write(lambda tx: tx.claim_due_outbox(10, lease))
    assert claimed.attempts == 1
    assert await store.write(lambda tx: tx.claim_due_outbox(10, lease)) == []
    store.clock.advance(61)  # the sender died mid-send
    [again] = await store.write(lambda tx: tx.claim_due_outbox(10, lease))
    assert again.id == claimed.id and again.attempts == 2
    await store.write(lambda tx: tx.mark_sent(again.id, "SM1", "queued"))
    store.clock.advance(3600)
    assert await store.write(lambda tx: tx.claim_due_outbox(10, lease)) == []


@pytest.mark.both_engines
async def test_delivery_status_keeps_the_furthest_and_every_event(store):
    def queue(tx):
        decision_id = tx.decide(decision())
        outbox_id = tx.enqueue_sms(decision_id, "qdn", None, "+16195550101",
                                   "+16195550100", "hi", purpose="page")
        tx.mark_sent(outbox_id, "SM1", "queued")
    await store.write(queue)
    for status in ("delivered", "sent"):  # out of order, as Twilio may send them
        await store.write(lambda tx: tx.record_delivery_status("SM1", status, None))
    [row] = await store.read(lambda tx: tx.outbox_rows())
    assert row["delivery_status"] == "delivered"
    events = await store.read(lambda tx: tx._all("SELECT status FROM delivery_events"))
    assert [e[0] for e in events] == ["delivered", "sent"]
    assert await store.write(lambda tx: tx.record_delivery_status("SMunknown", "sent", None)) is None


async def test_the_checkpointer_takes_checkpoints_off_the_commit_path(store):
    from ivr.store import Checkpointer

    async def autocheckpoint():
        return await store.read(lambda tx: tx._one("PRAGMA wal_autocheckpoint")[0])
    assert await autocheckpoint() == 1000
    checkpointer = Checkpointer(store)
    checkpointer.start()
    for _ in range(200):
        if await autocheckpoint() == 16000:
            break
        await asyncio.sleep(0.01)
    assert await autocheckpoint() == 16000  # commits checkpoint only as a backstop
    for n in range(50):
        await store.write(lambda tx: tx.decide(decision(reason=f"write {n}")))
    busy, in_log, copied = await checkpointer.checkpoint()
    assert busy == 0 and in_log > 0 and copied == in_log
    await checkpointer.stop()
    assert await autocheckpoint() == 1000  # without it, commits checkpoint again


@pytest.mark.both_engines
async def test_a_percent_sign_is_itself_with_parameters_and_without(store):
    assert await store.read(lambda tx: tx._one("SELECT 'a%b'")[0]) == "a%b"
    assert await store.read(lambda tx: tx._one("SELECT 'a%b' || ?", ("%",))[0]) == "a%b%"
