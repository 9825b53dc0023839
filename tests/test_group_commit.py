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


async def together(store: Store, *fns) -> list:
    """Start a write of each of `fns` while the database thread is held,
    then let it go: they all wait for the same turn. Each caller's outcome,
    its result or its exception, in order."""
    release, reading = await held_thread(store)
    writes = [asyncio.ensure_future(store.write(fn)) for fn in fns]
    await asyncio.sleep(0.01)
    release.set()
    assert await reading == "held"
    return await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), 10)


def breaks_a_key_at_commit(tx):
    """A decision naming no conversation, its foreign key checked only at
    COMMIT: the COMMIT itself fails."""
    tx._db.execute("PRAGMA defer_foreign_keys = ON")
    tx.decide(Decision(kind=DecisionKind.CONVERSATION_OPENED, channel=Channel.SMS,
                       reason="orphan", line_id="qdn", conversation_id=999_999))


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
    count = MAX_WRITES_PER_COMMIT
    outcomes = await together(store, *(lambda tx, n=n: (tx.decide(decision(f"w{n}")), n)[1]
                                       for n in range(count)))
    assert outcomes == list(range(count))
    assert store.group_commit.largest_batch == count
    assert await reasons(store) == {f"w{n}" for n in range(count)}


async def test_no_caller_hears_of_its_write_before_it_is_committed(store, tmp_path):
    """Each caller, the moment it is told, finds its row from another
    connection: the batch's COMMIT came first."""
    other = sqlite3.connect(tmp_path / "ivr.sqlite3")
    seen: dict[str, bool] = {}

    def check(reason: str):
        def told(_):
            row = other.execute("SELECT 1 FROM decisions WHERE reason = ?", (reason,)).fetchone()
            seen[reason] = row is not None
        return told

    release, reading = await held_thread(store)
    writes = []
    for n in range(8):
        write = asyncio.ensure_future(store.write(lambda tx, n=n: tx.decide(decision(f"w{n}"))))
        write.add_done_callback(check(f"w{n}"))
        writes.append(write)
    release.set()
    await reading
    await asyncio.gather(*writes)
    other.close()
    assert seen == {f"w{n}": True for n in range(8)}
    assert store.group_commit.largest_batch == 8


async def test_a_write_that_raises_is_rolled_back_alone(store):
    def failing(tx):
        tx.decide(decision("half done"))
        raise Refused("no")

    before, failed, after = await together(
        store, lambda tx: tx.decide(decision("before")), failing,
        lambda tx: tx.decide(decision("after")))
    assert isinstance(failed, Refused)
    assert not isinstance(before, BaseException) and not isinstance(after, BaseException)
    assert store.group_commit.largest_batch == 3
    assert await reasons(store) == {"before", "after"}


async def test_a_failed_commit_fails_every_write_in_it_and_the_next_write_commits(store):
    """COMMIT itself fails: one write leaves a foreign key broken with the
    check deferred to COMMIT. Every caller in the batch gets COMMIT's error,
    nothing of the batch is kept, and the transaction is not left open (the
    next write commits)."""
    outcomes = await together(store, lambda tx: tx.decide(decision("first")),
                              breaks_a_key_at_commit, lambda tx: tx.decide(decision("last")))
    assert all(isinstance(o, sqlite3.IntegrityError) and "FOREIGN KEY" in str(o)
               for o in outcomes), outcomes
    assert store.group_commit.largest_batch == 3
    assert await reasons(store) == set()
    await store.write(lambda tx: tx.decide(decision("next")))
    assert await reasons(store) == {"next"}


async def test_a_write_alone_whose_commit_fails_leaves_no_transaction_open(store):
    with pytest.raises(sqlite3.IntegrityError):
        await store.write(breaks_a_key_at_commit)
    await store.write(lambda tx: tx.decide(decision("next")))
    assert await reasons(store) == {"next"}


async def test_when_sqlite_rolls_back_the_whole_transaction_no_write_in_it_is_kept(store):
    """An error after which SQLite itself has ended the transaction (a full
    disk can do this): the writes before it in the batch were rolled back
    with it, so their callers must not be told they committed, and each is
    told that error, not what the cleanup after it ran into."""
    def ends_the_transaction(tx):
        tx.decide(decision("doomed"))
        tx._db.execute("ROLLBACK")  # what SQLite does on its own after some errors
        raise sqlite3.OperationalError("database or disk is full")

    outcomes = await together(store, lambda tx: tx.decide(decision("first")),
                              ends_the_transaction, lambda tx: tx.decide(decision("last")))
    assert all(isinstance(o, sqlite3.OperationalError) and str(o) == "database or disk is full"
               for o in outcomes), outcomes
    assert await reasons(store) == set()
    # And the store goes on: the next write commits.
    await store.write(lambda tx: tx.decide(decision("next")))
    assert await reasons(store) == {"next"}


async def test_more_writes_than_one_commit_carries_all_commit(store):
    count = MAX_WRITES_PER_COMMIT * 2 + 5
    outcomes = await together(store, *(lambda tx, n=n: tx.decide(decision(f"w{n}"))
                                       for n in range(count)))
    assert not any(isinstance(o, BaseException) for o in outcomes), outcomes
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


async def test_writes_queued_before_the_store_closes_still_commit(tmp_path):
    store = Store(tmp_path / "ivr.sqlite3", FrozenClock())
    await store.open()
    release, reading = await held_thread(store)
    writes = [asyncio.ensure_future(store.write(
        lambda tx, n=n: (tx.decide(decision(f"w{n}")), n)[1])) for n in range(4)]
    await asyncio.sleep(0.01)          # their turn is queued ahead of the close
    closing = asyncio.ensure_future(store.close())
    await asyncio.sleep(0.01)
    release.set()
    await reading
    assert await asyncio.gather(*writes) == [0, 1, 2, 3]
    await closing
    store = Store(tmp_path / "ivr.sqlite3", FrozenClock())
    await store.open()
    try:
        assert await reasons(store) == {"w0", "w1", "w2", "w3"}
    finally:
        await store.close()


async def test_a_write_raising_stopiteration_is_told_and_the_others_are_not_held(store):
    """A future refuses StopIteration; the caller gets a RuntimeError for
    it, and every other caller in the batch is still answered."""
    def stops(tx):
        tx.decide(decision("stops"))
        next(iter(()))

    outcomes = await together(store, lambda tx: tx.decide(decision("before")), stops,
                              lambda tx: tx.decide(decision("after")))
    assert isinstance(outcomes[1], RuntimeError) and "StopIteration" in str(outcomes[1])
    assert not isinstance(outcomes[0], BaseException) and not isinstance(outcomes[2], BaseException)
    assert await reasons(store) == {"before", "after"}


class Stopped(BaseException):
    """Not an Exception, as SystemExit and KeyboardInterrupt are not."""


async def test_a_write_raising_a_baseexception_fails_only_itself(store):
    def stops_hard(tx):
        tx.decide(decision("stops hard"))
        raise Stopped()

    before, stopped, after = await together(
        store, lambda tx: tx.decide(decision("before")), stops_hard,
        lambda tx: tx.decide(decision("after")))
    assert isinstance(stopped, Stopped)
    assert not isinstance(before, BaseException) and not isinstance(after, BaseException)
    assert await reasons(store) == {"before", "after"}


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

            outcomes = await together(store, *(write(n, how) for n, how in enumerate(plan)))
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
