"""The real server under the things that happen in production: SIGKILL in
the middle of a cascade, many webhooks at once over two workers, clients
that hang up mid-request."""

from __future__ import annotations

import pytest
import asyncio
import os
import signal
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from .support.driver import sign
from .support.harness import AUTH_TOKEN, BACKUP, EXAMPLE_CONFIG, SERGIO
from .support.processes import free_port, post, rows, sms, start, stop, wait_for, wait_until_healthy

# The text, call and reliability scenarios hold on both engines.
pytestmark = pytest.mark.both_engines

ACK_SECONDS = 15   # the shortest the config allows: the crash test waits it out for real


def short_ack_config(tmp_path: Path) -> Path:
    path = tmp_path / "ivr.toml"
    path.write_text(EXAMPLE_CONFIG.read_text().replace("ack_seconds = 120",
                                                       f"ack_seconds = {ACK_SECONDS}"))
    return path


async def test_sigkill_mid_cascade_then_restart_escalates_exactly_once(tmp_path, fake_twilio):
    config = short_ack_config(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start(tmp_path, fake_twilio.url, port, workers=1, config=config)
    try:
        await wait_until_healthy(url, server)
        async with aiohttp.ClientSession() as session:
            status, _ = await post(session, url + "/sms/incoming",
                                   sms("SMcrash1", "+16195550142", "crash test"))
        assert status == 200
        texted_at = time.monotonic()
        await wait_for(lambda: fake_twilio.messages_to(SERGIO))
    finally:
        # The whole process group, with no chance to clean up.
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
    db = tmp_path / "ivr.sqlite3"
    before = rows(db, "SELECT id, kind FROM decisions ORDER BY id")
    assert [kind for _, kind in before] == ["conversation_opened", "message_forwarded",
                                            "customer_acknowledged"]
    assert rows(db, "SELECT state FROM timers") == [("pending",)]

    # The deadline passes while the service is down; then it comes back, twice over.
    await asyncio.sleep(max(ACK_SECONDS + 1 - (time.monotonic() - texted_at), 0))
    server = start(tmp_path, fake_twilio.url, port, workers=2, config=config)
    try:
        await wait_until_healthy(url, server)
        await wait_for(lambda: fake_twilio.messages_to(BACKUP), seconds=15)
        await asyncio.sleep(2)   # room for a second firing, which must not come
    finally:
        code, _, err = stop(server)
    assert code == 0, err
    assert len(fake_twilio.messages_to(BACKUP)) == 1
    after = rows(db, "SELECT id, kind FROM decisions ORDER BY id")
    assert after[:len(before)] == before
    assert [kind for _, kind in after].count("escalated") == 1
    assert rows(db, "SELECT state FROM timers ORDER BY id") == [("fired",), ("pending",)]
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


async def hang_up_mid_request(port: int, path: str, params: dict[str, str]) -> None:
    """Send a whole signed request, then close the socket without reading."""
    url = f"http://127.0.0.1:{port}{path}"
    body = urlencode(params).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        f"X-Twilio-Signature: {sign(AUTH_TOKEN, url, params)}\r\n\r\n".encode() + body)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_64_webhooks_at_once_over_two_workers(tmp_path, fake_twilio):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start(tmp_path, fake_twilio.url, port, workers=2)
    customers = [f"+1619555{2000 + i:04d}" for i in range(48)]
    try:
        await wait_until_healthy(url, server)
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as session:
            requests = [post(session, url + "/sms/incoming", sms(f"SMload{i}", c, f"load {i}"))
                        for i, c in enumerate(customers)]
            # Twilio retrying the first eight at the same moment: forwarded once each.
            requests += [post(session, url + "/sms/incoming", sms(f"SMload{i}", customers[i],
                                                                  f"load {i}"))
                         for i in range(8)]
            hang_ups = [hang_up_mid_request(port, "/sms/incoming",
                                            sms(f"SMgone{i}", f"+1619555{3000 + i:04d}", "bye"))
                        for i in range(8)]
            results = await asyncio.wait_for(asyncio.gather(*requests, *hang_ups), 60)
            answered = results[:len(requests)]
            assert all(status == 200 for status, _ in answered), answered
            assert all("<Response>" in body for _, body in answered)
            # Still answering, and writing, after the hang-ups.
            status, _ = await post(session, url + "/sms/incoming",
                                   sms("SMafter", "+16195559999", "still there?"))
            assert status == 200
        await wait_for(lambda: len(fake_twilio.messages_to(SERGIO)) >= 49, seconds=20)
        await asyncio.sleep(1)
    finally:
        code, _, err = stop(server)
    assert code == 0, err
    assert "database is locked" not in err
    db = tmp_path / "ivr.sqlite3"
    pages = [m.body for m in fake_twilio.messages_to(SERGIO)]
    for i in range(48):
        assert sum(f": load {i} - reply" in body for body in pages) == 1, i
    opened = rows(db, "SELECT COUNT(*) FROM decisions WHERE kind = 'conversation_opened'")[0][0]
    hung_up = rows(db, "SELECT COUNT(*) FROM conversations WHERE customer LIKE '+16195553%'")[0][0]
    # A request whose client left is either handled whole or not at all.
    assert opened == 48 + 1 + hung_up
    forwarded = rows(db, "SELECT COUNT(*) FROM decisions WHERE kind = 'message_forwarded'")[0][0]
    assert forwarded == opened
    duplicates = rows(db, "SELECT COUNT(*) FROM decisions WHERE kind = 'duplicate_webhook'")[0][0]
    assert duplicates == 8
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
