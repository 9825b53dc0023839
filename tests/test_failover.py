"""Two instances on one PostgreSQL, as two machines behind a load balancer
(issue 13): losing one loses no text and fires no timer twice. Real
processes: instance A is killed with SIGKILL, as a dead machine is."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import psycopg

from .support.driver import sign
from .support.harness import AUTH_TOKEN, BACKUP, CUSTOMER, EXAMPLE_CONFIG, SERGIO
from .support.postgres import fresh_database
from .support.processes import free_port, sms, start, stop, wait_for, wait_until_healthy

# Both instances answer to the load balancer's address: Twilio signs what it requested.
PUBLIC = "https://line.example.com"
ACK_SECONDS = 15   # the shortest the config allows


def _config(tmp_path: Path) -> Path:
    text = EXAMPLE_CONFIG.read_text("utf-8").replace("ack_seconds = 120",
                                                     f"ack_seconds = {ACK_SECONDS}")
    assert f"ack_seconds = {ACK_SECONDS}" in text
    path = tmp_path / "ivr.toml"
    path.write_text(text, "utf-8")
    return path


async def _post_text(session: aiohttp.ClientSession, port: int,
                     params: dict[str, str]) -> tuple[int, str]:
    """A text webhook as Twilio sends it to PUBLIC, arriving at one instance."""
    headers = {"X-Twilio-Signature": sign(AUTH_TOKEN, PUBLIC + "/sms/incoming", params)}
    async with session.post(f"http://127.0.0.1:{port}/sms/incoming", data=params,
                            headers=headers) as response:
        return response.status, await response.text()


async def _twilio_delivers(session: aiohttp.ClientSession, ports: list[int],
                           params: dict[str, str]) -> tuple[int, str, int]:
    """Twilio's retry: a refused connection is tried again, here at the
    next instance. Returns (status, body, the port that answered)."""
    for port in ports:
        try:
            status, body = await _post_text(session, port, params)
        except aiohttp.ClientConnectionError:
            continue
        return status, body, port
    raise AssertionError("no instance answered")


def _query(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


async def test_a_killed_instance_loses_nothing_and_the_survivor_escalates_once(
        tmp_path, fake_twilio):
    config = _config(tmp_path)
    with fresh_database() as url:
        ports = [free_port(), free_port()]
        instances = []
        for name, port in zip("ab", ports):
            home = tmp_path / name
            home.mkdir()
            instances.append(start(home, fake_twilio.url, port, 1, config=config,
                                   stdout=subprocess.DEVNULL, IVR_DATABASE=url,
                                   IVR_PUBLIC_BASE_URL=PUBLIC))
        a, b = instances
        try:
            for port, process in zip(ports, instances):
                await wait_until_healthy(f"http://127.0.0.1:{port}", process)
            async with aiohttp.ClientSession() as session:
                # A text opens a conversation on A; A pages tier 1.
                first = sms("SM" + "a" * 32, CUSTOMER, "The bin is on fire")
                status, _ = await _post_text(session, ports[0], first)
                assert status == 200
                opened = time.monotonic()
                await wait_for(lambda: len(fake_twilio.messages_to(SERGIO)) == 1)
                # ... and records it sent. (Killed between Twilio's answer and
                # that record, A would leave the row to be claimed again once
                # its lease ends: at least once, tests/test_crash_doubles.py.)
                await wait_for(lambda: _query(url, "SELECT status FROM outbox WHERE"
                                                   " status <> 'sent'") == [])

                # A dies, well before the ACK timeout.
                os.killpg(a.pid, signal.SIGKILL)
                a.wait(10)

                # Twilio's retry of the next webhook lands on B ...
                follow_up = sms("SM" + "b" * 32, CUSTOMER, "It is spreading")
                status, _, answered = await _twilio_delivers(session, ports, follow_up)
                assert (status, answered) == (200, ports[1])
                # ... and so does a retry of one A had answered: the same
                # answer, nothing done twice.
                status, _, answered = await _twilio_delivers(session, ports, first)
                assert (status, answered) == (200, ports[1])

                # B fires the escalation once, at its time: tier 2 is paged.
                await wait_for(lambda: len(fake_twilio.messages_to(BACKUP)) >= 1,
                               seconds=ACK_SECONDS + 15)
                waited = time.monotonic() - opened
                assert ACK_SECONDS - 1 <= waited <= ACK_SECONDS + 5, waited
                await asyncio.sleep(3)   # anything sent twice would show by now
        finally:
            for process in instances:
                if process.poll() is None:
                    stop(process)

        pages_to_backup = [m for m in fake_twilio.messages_to(BACKUP)
                           if "The bin is on fire" in m.body]
        assert len(pages_to_backup) == 1
        # Every text answered 200 is recorded, once.
        assert sorted(r[0] for r in _query(url, "SELECT message_sid FROM inbound_messages")) \
            == sorted([first["MessageSid"], follow_up["MessageSid"]])
        # One conversation, one escalation decision, every message sent once.
        assert _query(url, "SELECT count(*) FROM conversations") == [(1,)]
        assert _query(url, "SELECT count(*) FROM decisions WHERE kind = 'escalated'") == [(1,)]
        assert _query(url, "SELECT count(*) FROM timers WHERE state = 'fired'") == [(1,)]
        sent = _query(url, "SELECT message_sid, status FROM outbox")
        assert all(status == "sent" for _, status in sent), sent
        assert len({sid for sid, _ in sent}) == len(sent) == len(fake_twilio.messages)
