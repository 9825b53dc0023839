"""Schema versions (ivr/store/migrations.py): a database made by an older
ivr is brought up to this one's schema with nothing lost, a newer one is
refused with a clear answer, and instances starting at once upgrade once."""

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from ivr.clock import FrozenClock, to_text
from ivr.config import load_config
from ivr.store import store_for
from ivr.store.migrations import LATEST, STEPS, SchemaTooNew, upgrade

from .support.cli import clean_env, run  # noqa: F401 - clean_env is a fixture
from .support.harness import BACKUP, CUSTOMER, EXAMPLE_CONFIG, LINE, SERGIO, open_harness
from .support.postgres import fresh_database

OLD_SCHEMA = Path(__file__).parent / "fixtures" / "schema_at_930f441.sql"


def _database_at_930f441(path: Path, clock: FrozenClock) -> dict[str, list[tuple]]:
    """A database as ivr at 930f441 left it: a conversation paged to tier 1
    with its ACK timer pending and its page still in the outbox, a closed
    one, a call, and their decisions. Returns every table's rows."""
    from ivr.store import split_sql
    db = sqlite3.connect(path, isolation_level=None)
    for statement in split_sql(OLD_SCHEMA.read_text("utf-8")):
        db.execute(statement)
    now = to_text(clock.now())
    db.execute("BEGIN")
    db.execute("INSERT INTO conversations (id, line_id, customer, code, origin, status, tier,"
               " opened_at, last_forward_at) VALUES (1, 'qdn', ?, 1, 'sms', 'open', 0, ?, ?)",
               (CUSTOMER, now, now))
    db.execute("INSERT INTO conversations (id, line_id, customer, code, origin, status, tier,"
               " owner, opened_at, acked_at, closed_at) VALUES (2, 'qdn', '+16195550177', 2,"
               " 'voicemail', 'closed', 1, 'backup', ?, ?, ?)", (now, now, now))
    db.execute("INSERT INTO line_codes (line_id, code, reusable_at) VALUES ('qdn', 1, NULL),"
               " ('qdn', 2, ?)", (to_text(clock.now() + timedelta(days=1)),))
    db.execute("INSERT INTO decisions (id, at, line_id, channel, sid, conversation_id, tier,"
               " responder_id, kind, reason) VALUES (1, ?, 'qdn', 'sms', 'SMold1', 1, 0,"
               " 'sergio', 'responder_paged', 'tier 1 paged')", (now,))
    db.execute("INSERT INTO inbound_messages (message_sid, line_id, sender, conversation_id,"
               " body, received_at, reply_twiml) VALUES ('SMold1', 'qdn', ?, 1,"
               " 'the bin is full', ?, '<Response/>')", (CUSTOMER, now))
    db.execute("INSERT INTO pages (conversation_id, responder_id, tier, paged_at)"
               " VALUES (1, 'sergio', 0, ?)", (now,))
    db.execute("INSERT INTO timers (conversation_id, kind, tier, due_at, state)"
               " VALUES (1, 'ack_timeout', 0, ?, 'pending')",
               (to_text(clock.now().replace(minute=2)),))
    db.execute("INSERT INTO outbox (decision_id, line_id, conversation_id, purpose,"
               " responder_id, tier, to_number, from_number, body, status, next_attempt_at,"
               " created_at) VALUES (1, 'qdn', 1, 'page', 'sergio', 0, ?, ?,"
               " '[QDN #1] the bin is full', 'pending', ?, ?)", (SERGIO, LINE, now, now))
    db.execute("INSERT INTO calls (call_sid, line_id, caller, status, started_at, deadline_at,"
               " ended_at) VALUES ('CAold', 'qdn', '+16195550177', 'ended', ?, ?, ?)",
               (now, now, now))
    db.execute("COMMIT")
    rows = _all_rows(db)
    db.close()
    return rows


def _all_rows(db: sqlite3.Connection, columns_of: dict[str, list[str]] | None = None):
    tables = [row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    rows = {}
    for table in tables:
        if columns_of is not None and table not in columns_of:
            continue
        columns = (columns_of or {}).get(table) or [
            row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        rows[table] = [tuple(row) for row in db.execute(
            f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1")]
    return rows


def _columns(path: Path) -> dict[str, list[str]]:
    db = sqlite3.connect(path)
    try:
        tables = [row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: [row[1] for row in db.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        db.close()


async def test_a_database_from_930f441_is_upgraded_and_loses_nothing(tmp_path, clean_env,
                                                                     fake_twilio):
    clock = FrozenClock()
    path = tmp_path / "ivr.sqlite3"
    before = _database_at_930f441(path, clock)
    old_columns = _columns(path)

    code, out, err = await asyncio.to_thread(run, "db", "status")
    assert code == 0, err
    assert "schema version 0" in out
    assert [line.split()[2] for line in out.splitlines() if "to apply" in line] == [
        str(step.version) for step in STEPS]

    code, out, err = await asyncio.to_thread(run, "db", "upgrade")
    assert code == 0, err
    assert [line.split("applied ")[1].split()[0] for line in out.splitlines()] == [
        str(step.version) for step in STEPS]
    _, again, _ = await asyncio.to_thread(run, "db", "upgrade")
    assert again.endswith(f"already at schema version {LATEST}\n")

    db = sqlite3.connect(path)
    after = _all_rows(db, old_columns)
    assert after == before      # every old row, every old column, as it was
    assert {row[0] for row in db.execute("SELECT version FROM schema_version")} == {
        step.version for step in STEPS}
    new_columns = {row[1] for row in db.execute("PRAGMA table_info(conversations)")}
    assert {"last_call_at", "redacted_at"} <= new_columns
    db.close()

    # And the service carries on from where the old one stopped: the queued
    # page goes out, the pending timer pages tier 2, and a new conversation
    # takes a code the old ones do not hold.
    config = load_config(EXAMPLE_CONFIG, database_override=str(path))
    async with open_harness(config, fake_twilio, clock=clock) as harness:
        assert await harness.deliver_outbox() == 1
        assert fake_twilio.messages_to(SERGIO)[-1].body == "[QDN #1] the bin is full"
        clock.advance(3 * 60)
        assert await harness.fire_timers() == 1
        await harness.deliver_outbox()
        assert "[QDN #1]" in fake_twilio.messages_to(BACKUP)[-1].body
        await harness.twilio.text(from_="+16195550188", to=LINE, body="hello")
        opened = await harness.store.read(
            lambda tx: tx.open_conversation_for("qdn", "+16195550188"))
        assert opened.code == 3


def _database_a_newer_ivr_upgraded(tmp_path: Path) -> Path:
    """The database IVR_DATABASE names (clean_env), one version past this ivr."""
    path = tmp_path / "ivr.sqlite3"
    assert run("db", "upgrade")[0] == 0
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_version (version, description, applied_at)"
               " VALUES (?, 'from the future', '2027-01-01T00:00:00.000000Z')", (LATEST + 1,))
    db.commit()
    db.close()
    return path


def test_a_database_newer_than_this_ivr_is_refused(tmp_path, clean_env):
    path = _database_a_newer_ivr_upgraded(tmp_path)

    for command in (("db", "status"), ("db", "upgrade"), ("check",)):
        code, out, err = run(*command)
        assert code == 2, (command, out)
        assert f"is at schema version {LATEST + 1}, but this ivr knows versions up to " \
               f"{LATEST}" in err
        assert "Fix: run that newer ivr" in err
        assert "Traceback" not in err

    async def open_store():
        store = store_for(str(path), FrozenClock())
        with pytest.raises(SchemaTooNew):
            await store.open()
        assert not store.is_open
    asyncio.run(open_store())


async def test_instances_starting_at_once_upgrade_postgresql_once():
    with fresh_database() as url:
        stores = [store_for(url, FrozenClock()) for _ in range(4)]
        await asyncio.gather(*(store.open() for store in stores))
        try:
            assert sum(len(store.upgraded) for store in stores) == len(STEPS)
            versions = await stores[0].read(
                lambda tx: [row[0] for row in tx._all(
                    "SELECT version FROM schema_version ORDER BY version")])
            assert versions == [step.version for step in STEPS]
            # Opening again applies nothing.
            again = store_for(url, FrozenClock())
            await again.open()
            assert again.upgraded == []
            await again.close()
        finally:
            for store in stores:
                await store.close()


async def test_a_step_that_fails_leaves_the_version_it_found(tmp_path, monkeypatch):
    from ivr.store import migrations
    store = store_for(str(tmp_path / "ivr.sqlite3"), FrozenClock())
    await store.open()

    def broken(tx):
        tx.execute_ddl("CREATE TABLE half_done (id INTEGER)")
        raise RuntimeError("step failed")
    monkeypatch.setattr(migrations, "STEPS",
                        (*STEPS, migrations.Step(LATEST + 1, "broken", broken)))
    monkeypatch.setattr(migrations, "LATEST", LATEST + 1)
    with pytest.raises(RuntimeError):
        await store.write(lambda tx: upgrade(tx, "test"))
    assert await store.read(lambda tx: tx.schema_version()) == LATEST
    assert not await store.read(lambda tx: tx.table_exists("half_done"))
    await store.close()


def test_serve_refuses_a_database_newer_than_it_knows_in_one_line(tmp_path, clean_env):
    import subprocess
    import sys

    from .support.harness import REPO
    from .support.processes import clean_environ, free_port
    path = _database_a_newer_ivr_upgraded(tmp_path)
    served = subprocess.run(
        [sys.executable, str(REPO / "run.py"), "--config", str(EXAMPLE_CONFIG), "--bind",
         f"127.0.0.1:{free_port()}"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env=clean_environ(IVR_DATABASE=str(path)))
    assert served.returncode == 2, served.stderr
    last = served.stderr.strip().splitlines()[-1]
    assert last.startswith("ivr: the database") and f"schema version {LATEST + 1}" in last
    assert "Traceback" not in served.stderr


def test_steps_are_numbered_one_after_another():
    # A step numbered out of order would be skipped by a database already
    # past it: work merged from two branches must be renumbered, not gapped.
    assert [step.version for step in STEPS] == list(range(1, len(STEPS) + 1))
