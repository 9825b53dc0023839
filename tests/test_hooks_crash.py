"""Event hooks across a SIGKILL: the real service is killed while the
receiving endpoint holds its requests unanswered, and started again. Every
event arrives; the only repeats are events in flight at the kill (the
documented at-least-once), so a receiver that drops repeated ids sees each
event exactly once, and each conversation's events in order."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import aiohttp
import psycopg
import pytest

from ivr.hooks.events import EVENT_FOR_KIND
from ivr.store.dialect import is_postgres_url

from .support.harness import EXAMPLE_CONFIG, SERGIO
from .support.hook_receiver import HookReceiver
from .support.processes import free_port, post, sms, start, stop, wait_for, wait_until_healthy

pytestmark = pytest.mark.both_engines

SECRET = "hook-secret-0123456789abcdef"
CUSTOMERS = [f"+1619555020{i}" for i in range(5)]


@pytest.fixture
async def receiver():
    started = await HookReceiver().start()
    yield started
    await started.stop()


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "ivr.toml"
    path.write_text(EXAMPLE_CONFIG.read_text("utf-8") + f'\n[hooks.crm]\nurl = "{url}"\n'
                    "timeout_seconds = 2\nretry_seconds = 1\n", "utf-8")
    return path


def rows(database: str, sql: str) -> list[tuple]:
    if is_postgres_url(database):
        with psycopg.connect(database) as conn:
            return conn.execute(sql).fetchall()
    db = sqlite3.connect(database)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _expected(db: str) -> dict[str, tuple[int, str]]:
    """Every event the decision log says happened: id -> (decision id, stream)."""
    kinds = ", ".join(f"'{kind}'" for kind in EVENT_FOR_KIND)
    return {f"ivr-evt-{id_}": (id_, f"conversation:{conversation}")
            for id_, conversation in rows(db, "SELECT id, conversation_id FROM decisions"
                                              f" WHERE kind IN ({kinds})")}


async def test_a_sigkill_mid_delivery_loses_no_event_and_keeps_each_conversations_order(
        tmp_path, database, fake_twilio, receiver):
    config = _config(tmp_path, receiver.url)
    env = {"IVR_HOOK_SECRET_CRM": SECRET, "IVR_HOOK_LEASE_SECONDS": "4",
           "IVR_DATABASE": database}
    db = database
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    receiver.hold.clear()            # the endpoint takes requests and does not answer
    first = start(tmp_path, fake_twilio.url, port, 1, config=config,
                  stdout=subprocess.DEVNULL, **env)
    second = None
    try:
        await wait_until_healthy(base, first)
        async with aiohttp.ClientSession() as session:
            for i, customer in enumerate(CUSTOMERS):
                status, _ = await post(session, base + "/sms/incoming",
                                       sms(f"SM{i:032d}", customer, "The bin is full"))
                assert status == 200
            await wait_for(lambda: len(receiver.received) >= len(CUSTOMERS))
            held = {event["id"] for event in receiver.events}
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
            receiver.hold.set()

            second = start(tmp_path, fake_twilio.url, port, 1, config=config,
                           stdout=subprocess.DEVNULL, **env)
            await wait_until_healthy(base, second)
            status, _ = await post(session, base + "/sms/incoming",
                                   sms("SM" + "f" * 32, SERGIO, "ACK 1"))
            assert status == 200
            expected = _expected(db)
            await wait_for(lambda: {e["id"] for e in receiver.events} == set(expected),
                           seconds=60)
            await wait_for(lambda: rows(db, "SELECT count(*) FROM hook_deliveries"
                                            " WHERE status <> 'sent'") == [(0,)])
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                stop(process)

    kept = receiver.first_copies()
    assert sorted(e["id"] for e in kept) == sorted(expected)
    assert {"conversation_opened", "paged", "acknowledged"} <= {e["type"] for e in kept}
    # Repeats only of what was in flight, unanswered, when the process died.
    ids = [e["id"] for e in receiver.events]
    repeated = {i for i in ids if ids.count(i) > 1}
    assert repeated <= held and held
    # Each conversation's events arrived in the order they happened.
    for stream in {s for _, s in expected.values()}:
        arrived = [expected[e["id"]][0] for e in kept if expected[e["id"]][1] == stream]
        assert arrived == sorted(arrived) and len(arrived) >= 2
