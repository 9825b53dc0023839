"""/healthz tells whether the store can write, not only whether it answers.

Issue 14: with the database unwritable every text was answered with the
fallback TwiML and recorded nowhere, while /healthz said 200 the whole time.

Making writes fail as root takes more than chmod, which root ignores. Two
ways that really refuse a write are used here:
- the write-ahead log made immutable (`chattr +i`): even root cannot write
  an immutable file, and in WAL mode every commit appends to the log, so
  each write fails with a disk I/O error while reads go on, as when the
  disk is full. BEGIN IMMEDIATE alone still succeeds then, which is why the
  check commits a write. Skipped where chattr is missing or the filesystem
  does not support it.
- another connection holding the database's write lock (BEGIN EXCLUSIVE)
  for longer than the busy timeout: every write fails with "database is
  locked", whoever the process runs as.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from ivr.store.database import BUSY_TIMEOUT_MS, WRITE_CHECK_SECONDS

from .support.harness import BACKUP, CUSTOMER, LINE, SERGIO
from .support.processes import free_port, post, rows, sms, start, stop, wait_until_healthy
from .support.twiml_check import check_twiml


def _chattr(flag: str, path: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    done = subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True,
                          check=False)
    return done.returncode == 0


@contextmanager
def immutable(path: Path):
    """`path` cannot be written, by anyone, until the block ends."""
    if not _chattr("+i", path):
        pytest.skip("chattr +i is not available here (not root, or unsupported filesystem)")
    try:
        yield
    finally:
        assert _chattr("-i", path)


@contextmanager
def write_locked(db_path: Path):
    """Another connection holds the write lock until the block ends."""
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def wal_of(db_path: str | Path) -> Path:
    return Path(str(db_path) + "-wal")


async def healthz(client) -> tuple[int, str]:
    response = await client.get("/healthz")
    return response.status_code, await response.get_data(as_text=True)


async def test_healthz_is_503_while_the_log_cannot_be_written(harness):
    assert (await healthz(harness.client))[0] == 200
    with immutable(wal_of(harness.store.path)):
        status, body = await healthz(harness.client)
        assert status == 503
        assert body == "unhealthy: database cannot write: disk I/O error\n"
        # Reads still work: this is the state in which texts ride in the TwiML.
        assert await harness.store.ping()
    assert (await healthz(harness.client)) == (200, "ok\n")


async def test_healthz_is_503_while_another_connection_holds_the_write_lock(harness):
    with write_locked(Path(harness.store.path)):
        began = time.monotonic()
        status, body = await healthz(harness.client)
        assert status == 503 and body == "unhealthy: database cannot write: database is locked\n"
        assert time.monotonic() - began < WRITE_CHECK_SECONDS
    assert (await healthz(harness.client)) == (200, "ok\n")


async def test_healthz_is_503_with_a_reason_once_the_store_is_closed(harness):
    await harness.store.close()
    status, body = await healthz(harness.client)
    assert status == 503 and body.startswith("unhealthy: database cannot write: ")
    assert body.count("\n") == 1


async def test_the_write_check_changes_nothing(harness):
    before = await harness.store.read(lambda tx: tx._all("PRAGMA user_version"))
    for _ in range(3):
        assert (await healthz(harness.client))[0] == 200
    after = await harness.store.read(lambda tx: tx._all("PRAGMA user_version"))
    assert [tuple(r) for r in before] == [tuple(r) for r in after]
    assert await harness.decisions() == []


# ----------------------------------------------------------- the real server

BODIES = ["bin \x00 full", "bin \x01 full", "bin \x0b full", "bin \x1b full", "bin \uffff full"]


async def get_health(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url + "/healthz") as response:
        return response.status, await response.text()


def carried_on(body: str) -> list[tuple[str | None, str]]:
    root = check_twiml(body, messaging=True)   # well-formed, or this fails
    return [(m.get("to"), m.text or "") for m in root.iter("Message")]


async def _unwritable_then_recovered(tmp_path: Path, fake_twilio, breaking,
                                     reasons: tuple[str, ...], bodies: list[str]):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = tmp_path / "ivr.sqlite3"
    server = start(tmp_path, fake_twilio.url, port, workers=1)
    try:
        await wait_until_healthy(url, server)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            with breaking(db):
                status, body = await get_health(session, url)
                assert status == 503 and body in [f"unhealthy: {r}\n" for r in reasons], body
                for i, text in enumerate(bodies):
                    status, answer = await post(session, url + "/sms/incoming",
                                                sms(f"SMbroken{i}", CUSTOMER, text))
                    assert status == 200, answer
                    messages = carried_on(answer)
                    pages = [(to, page) for to, page in messages if to is not None]
                    assert pages and all(to in (SERGIO, BACKUP) for to, _ in pages), messages
                    assert all("bin \ufffd full" in page for _, page in pages), pages
                    assert messages[-1][0] is None   # and the customer's acknowledgement
                assert (await get_health(session, url))[0] == 503
            # Writable again: healthy again, and texts are recorded again.
            status, body = await get_health(session, url)
            assert (status, body) == (200, "ok\n")
            status, answer = await post(session, url + "/sms/incoming",
                                        sms("SMrecovered", CUSTOMER, "back \x00 again"))
            assert status == 200
            ET.fromstring(answer)
    finally:
        code, _, err = stop(server)
    assert code == 0, err
    assert rows(db, "SELECT message_sid FROM inbound_messages") == [("SMrecovered",)]
    assert "unhealthy: database" in err
    assert CUSTOMER not in err and SERGIO not in err


async def test_real_server_unhealthy_while_its_log_is_immutable_texts_still_carried(
        tmp_path, fake_twilio):
    probe = tmp_path / "chattr-probe"
    probe.touch()
    if not (_chattr("+i", probe) and _chattr("-i", probe)):
        pytest.skip("chattr +i is not available here (not root, or unsupported filesystem)")
    await _unwritable_then_recovered(tmp_path, fake_twilio, lambda db: immutable(wal_of(db)),
                                     ("database cannot write: disk I/O error",), BODIES)


async def test_real_server_unhealthy_while_another_connection_holds_the_write_lock(
        tmp_path, fake_twilio):
    reasons = ("database cannot write: database is locked",
               # the check queued behind a background write that is waiting out
               # its own busy timeout
               f"database write check took over {WRITE_CHECK_SECONDS} s: writes are stuck")
    # No text here: each waits out the busy timeout behind the background
    # workers' writes (the in-process test shows how a text is answered).
    await _unwritable_then_recovered(tmp_path, fake_twilio, write_locked, reasons, [])


async def test_a_text_to_a_locked_store_is_carried_on_without_a_second_wait(harness):
    # The text's own write waits out the busy timeout (5 s) and fails; the
    # fallback answer must not then wait as long again to record the failure,
    # nor queue its read behind that record: Twilio gives up after 15 s.
    with write_locked(Path(harness.store.path)):
        began = time.monotonic()
        response = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="anyone \x00?")
        took = time.monotonic() - began
    assert response.status == 200
    assert [m.get("to") for m in response.twiml.iter("Message")] == [SERGIO, None]
    # Before: 10 s (the busy timeout twice). Now: once, plus at most 1 s.
    assert took < BUSY_TIMEOUT_MS / 1000 + 3, took
