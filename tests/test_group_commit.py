"""Group commit (ivr/store/group_commit.py): writes queued while the
database thread is busy commit together, each in its own savepoint, and
each caller still gets exactly its own outcome: a write that returned is in
the database, a write that raised left nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.clock import FrozenClock
from ivr.decisions import Channel, Decision, DecisionKind
from ivr.store import Store
from ivr.store.group_commit import MAX_WRITES_PER_COMMIT


def decision(reason: str) -> Decision:
    return Decision(kind=DecisionKind.CONVERSATION_OPENED, channel=Channel.SMS,
                    reason=reason, line_id="qdn")


class Refused(Exception):
    pass


async def held_thread(store: Store):
    """Keep the database thread busy until the returned event is set, so
    the writes started meanwhile all wait for its next turn."""
    release = threading.Event()
    started = threading.Event()

    def hold(tx):
        started.set()
        release.wait(10)
        return "held"

    reading = asyncio.ensure_future(store.read(hold))
    while not started.is_set():
        await asyncio.sleep(0.001)
    return release, reading


async def reasons(store: Store) -> set[str]:
    rows = await store.read(lambda tx: tx._all("SELECT reason FROM decisions"))
    return {row[0] for row in rows}


@pytest.fixture
async def store(tmp_path):
    store = Store(tmp_path / "ivr.sqlite3", FrozenClock())
    await store.open()
    yield store
    await store.close()


async def test_writes_that_wait_together_commit_together_each_with_its_own_result(store):
    release, reading = await held_thread(store)
    writes = [asyncio.ensure_future(store.write(
        lambda tx, n=n: (tx.decide(decision(f"w{n}")), n)[1])) for n in range(20)]
    await asyncio.sleep(0.01)
    release.set()
    assert await reading == "held"
    assert await asyncio.gather(*writes) == list(range(20))
    assert store.group_commit.largest_batch == 20
    assert await reasons(store) == {f"w{n}" for n in range(20)}


async def test_a_write_that_raises_is_rolled_back_alone(store):
    def failing(tx):
        tx.decide(decision("half done"))
        raise Refused("no")

    release, reading = await held_thread(store)
    before = asyncio.ensure_future(store.write(lambda tx: tx.decide(decision("before"))))
    failed = asyncio.ensure_future(store.write(failing))
    after = asyncio.ensure_future(store.write(lambda tx: tx.decide(decision("after"))))
    release.set()
    await reading
    await before
    with pytest.raises(Refused):
        await failed
    await after
    assert store.group_commit.largest_batch == 3
    assert await reasons(store) == {"before", "after"}


async def test_a_failed_commit_fails_every_write_in_it(store, monkeypatch):
    """The transaction as a whole fails after every write in it ran (as a
    COMMIT that cannot write its log would): every caller in the batch gets
    the error, and nothing is kept."""
    real = store.transaction

    def failing_commit(conn, write_lock, fn):
        def then_fail(tx):
            fn(tx)
            raise sqlite3.OperationalError("disk I/O error")
        return real(conn, write_lock, then_fail)

    release, reading = await held_thread(store)
    monkeypatch.setattr(store, "transaction", failing_commit)
    writes = [asyncio.ensure_future(store.write(lambda tx, n=n: tx.decide(decision(f"w{n}"))))
              for n in range(5)]
    release.set()
    await reading
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    assert all(isinstance(o, sqlite3.OperationalError) for o in outcomes), outcomes
    monkeypatch.undo()
    assert await reasons(store) == set()


async def test_when_sqlite_rolls_back_the_whole_transaction_no_write_in_it_is_kept(store):
    """An error after which SQLite itself has ended the transaction (a full
    disk can do this): the writes before it in the batch were rolled back
    with it, so their callers must not be told they committed."""
    def ends_the_transaction(tx):
        tx.decide(decision("doomed"))
        tx._db.execute("ROLLBACK")  # what SQLite does on its own after some errors
        raise sqlite3.OperationalError("database or disk is full")

    release, reading = await held_thread(store)
    first = asyncio.ensure_future(store.write(lambda tx: tx.decide(decision("first"))))
    doomed = asyncio.ensure_future(store.write(ends_the_transaction))
    last = asyncio.ensure_future(store.write(lambda tx: tx.decide(decision("last"))))
    release.set()
    await reading
    outcomes = await asyncio.gather(first, doomed, last, return_exceptions=True)
    assert all(isinstance(o, sqlite3.OperationalError) for o in outcomes), outcomes
    assert await reasons(store) == set()
    # And the store goes on: the next write commits.
    await store.write(lambda tx: tx.decide(decision("next")))
    assert await reasons(store) == {"next"}


async def test_more_writes_than_one_commit_carries_all_commit(store):
    release, reading = await held_thread(store)
    count = MAX_WRITES_PER_COMMIT * 2 + 5
    writes = [asyncio.ensure_future(store.write(lambda tx, n=n: tx.decide(decision(f"w{n}"))))
              for n in range(count)]
    release.set()
    await reading
    await asyncio.gather(*writes)
    assert store.group_commit.largest_batch == MAX_WRITES_PER_COMMIT
    assert len(await reasons(store)) == count


async def test_a_cancelled_caller_still_commits_its_write(store):
    release, reading = await held_thread(store)
    other = asyncio.ensure_future(store.write(lambda tx: tx.decide(decision("other"))))
    cancelled = asyncio.ensure_future(store.write(lambda tx: tx.decide(decision("left"))))
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await reading
    await other
    for _ in range(100):
        if "left" in await reasons(store):
            break
        await asyncio.sleep(0.01)
    assert await reasons(store) == {"other", "left"}


async def test_a_write_to_a_closed_store_fails_at_once(tmp_path):
    store = Store(tmp_path / "ivr.sqlite3", FrozenClock())
    await store.open()
    await store.close()
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(store.write(lambda tx: tx.decide(decision("late"))), 5)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.sampled_from(["ok", "raises", "constraint"]), min_size=1, max_size=30))
def test_every_caller_is_told_the_truth_about_its_write(tmp_path_factory, plan):
    """Any mix of writes that commit, raise, or break a constraint in one
    batch: a write whose caller got a result is in the database, and one
    whose caller got an error left no row."""
    path = tmp_path_factory.mktemp("group") / "ivr.sqlite3"

    async def run():
        store = Store(path, FrozenClock())
        await store.open()
        try:
            def write(n, how):
                def fn(tx):
                    tx.decide(decision(f"w{n}"))
                    if how == "raises":
                        raise Refused(n)
                    if how == "constraint":
                        tx._db.execute("INSERT INTO decisions (id, at, channel, kind, reason)"
                                       " SELECT id, at, channel, kind, reason FROM decisions"
                                       " LIMIT 1")
                    return n
                return fn

            release, reading = await held_thread(store)
            writes = [asyncio.ensure_future(store.write(write(n, how)))
                      for n, how in enumerate(plan)]
            release.set()
            await reading
            outcomes = await asyncio.gather(*writes, return_exceptions=True)
            kept = await reasons(store)
            for n, outcome in enumerate(outcomes):
                if isinstance(outcome, BaseException):
                    assert f"w{n}" not in kept
                else:
                    assert outcome == n and f"w{n}" in kept
            assert [not isinstance(o, BaseException) for o in outcomes] == [
                how == "ok" for how in plan]
        finally:
            await store.close()

    asyncio.run(run())
