"""A REST request Twilio accepts and never answers must not hold its caller.

twilio-python's AsyncTwilioHttpClient keeps the `timeout` it is given but
hands aiohttp `timeout=None`, so without a bound of the gateway's own a hung
request would hold an outbox send slot until Twilio answered, or forever.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import aiohttp
import pytest

from ivr.app import create_app
from ivr.clock import FrozenClock
from ivr.config import TWILIO_CONCURRENCY_DEFAULT
from ivr.gateway import REQUEST_TIMEOUT_SECONDS, SendError, TwilioGateway
from ivr.outbox import LEASE, SEND_START_MARGIN, sends_in_flight

from .support.driver import TwilioDriver
from .support.fake_twilio import SentMessage
from .support.harness import CUSTOMER, LINE, SERGIO, secrets_for
from .support.processes import free_port, post, rows, sms, start, stop, wait_for, wait_until_healthy

SHORT = 0.5  # the in-process tests' timeout, in seconds


def parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")


class Hang:
    """A fake Twilio's `before_answer` that, while on, accepts each message and
    never answers it (until the test ends); every arrival is timed."""

    def __init__(self) -> None:
        self.on = True
        self.held: list[SentMessage] = []
        self.arrivals: list[tuple[float, SentMessage]] = []
        self._release = asyncio.Event()

    async def __call__(self, sent: SentMessage) -> None:
        self.arrivals.append((time.monotonic(), sent))
        if self.on:
            self.held.append(sent)
            await self._release.wait()

    def answered(self) -> list[SentMessage]:
        """The messages the fake answered: created, as far as the sender knows."""
        return [sent for _, sent in self.arrivals if not any(sent is h for h in self.held)]

    def release(self) -> None:
        self._release.set()


@pytest.fixture
async def hang(fake_twilio):
    hang = Hang()
    fake_twilio.before_answer = hang
    yield hang
    hang.release()   # let the fake's handlers finish so it stops at once
    await asyncio.sleep(0.05)


@pytest.fixture
async def silent_twilio():
    """A host that accepts connections, reads the request and never answers,
    whatever is asked: how Twilio looked during the incident."""
    connections: list[float] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(time.monotonic())
        await reader.read()          # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", connections
    server.close()
    await server.wait_closed()


async def expect_timeout(call, timeout: float) -> tuple[SendError, float]:
    started = time.monotonic()
    with pytest.raises(SendError) as raised:
        # The outer bound only keeps a hung test from hanging the suite.
        await asyncio.wait_for(call, timeout + 5)
    return raised.value, time.monotonic() - started


async def test_the_default_timeout_ends_a_send_well_inside_its_claim(fake_twilio):
    gateway = TwilioGateway(secrets_for(fake_twilio))
    assert gateway.timeout == REQUEST_TIMEOUT_SECONDS == 10
    # A send starts at the latest SEND_START_MARGIN before its lease ends, so
    # a hung one is given up before another claim can send the row again.
    assert gateway.timeout < SEND_START_MARGIN.total_seconds() < LEASE.total_seconds()
    with pytest.raises(ValueError):
        TwilioGateway(secrets_for(fake_twilio), timeout=LEASE.total_seconds())


async def test_a_send_twilio_never_answers_is_a_retryable_send_error(fake_twilio, hang):
    gateway = TwilioGateway(secrets_for(fake_twilio), timeout=SHORT)
    await gateway.start()
    try:
        error, took = await expect_timeout(
            gateway.send_sms(to=SERGIO, from_=LINE, body="[QDN #1] hello"), SHORT)
    finally:
        await gateway.close()
    assert len(hang.held) == 1                       # it did reach the fake
    assert error.retryable and error.http_status is None
    assert f"did not answer within {SHORT:g} s" in str(error)
    assert SHORT <= took < SHORT + 1.5, took


@pytest.mark.parametrize("what", ["send_sms", "find_number", "set_number_webhooks"])
async def test_every_rest_call_of_the_gateway_is_bounded(fake_twilio, silent_twilio, what):
    url, connections = silent_twilio
    secrets = secrets_for(fake_twilio, api_base=url)
    gateway = TwilioGateway(secrets, admin=what != "send_sms", timeout=SHORT)
    await gateway.start()
    try:
        call = {
            "send_sms": lambda: gateway.send_sms(to=SERGIO, from_=LINE, body="hi"),
            "find_number": lambda: gateway.find_number(LINE),
            "set_number_webhooks": lambda: gateway.set_number_webhooks(
                "PN" + "0" * 32, voice_url="https://x/voice/incoming",
                sms_url="https://x/sms/incoming", status_callback="https://x/voice/status"),
        }[what]
        error, took = await expect_timeout(call(), SHORT)
    finally:
        await gateway.close()
    assert connections, "the request never reached the silent host"
    assert error.retryable
    assert SHORT <= took < SHORT + 1.5, took


async def test_the_outbox_retries_a_hung_send_and_sends_it_once(config, fake_twilio, hang):
    clock = FrozenClock()
    secrets = secrets_for(fake_twilio)
    app = create_app(config, secrets, clock=clock, background=False,
                     gateway=TwilioGateway(secrets, timeout=SHORT))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        svc = app.extensions["ivr"]
        driver = TwilioDriver(client, secrets.auth_token, secrets.public_base_url)
        assert (await driver.text(from_=CUSTOMER, to=LINE, body="anyone?")).status == 200

        started = time.monotonic()
        await asyncio.wait_for(svc.outbox.drain(), SHORT + 5)
        assert time.monotonic() - started < SHORT + 1.5
        [row] = await svc.store.read(lambda tx: tx.outbox_rows())
        assert row["status"] == "pending" and "did not answer" in row["error"]
        decisions = await svc.store.read(lambda tx: tx.recent_decisions(limit=100))
        assert "send_failed" not in [d.kind for d in decisions]

        hang.on = False                # Twilio recovers
        clock.advance(5)               # past the first retry's backoff
        assert await svc.outbox.drain() == 1
        [row] = await svc.store.read(lambda tx: tx.outbox_rows())
        assert row["status"] == "sent" and row["attempts"] == 2
    assert [m.to for m in hang.answered()] == [SERGIO]


async def test_the_real_server_frees_hung_sends_and_pages_once(tmp_path, fake_twilio, hang):
    """Every send slot of the real run.py held by a Twilio that does not
    answer; Twilio recovers (the held requests stay unanswered, as in the
    incident): a new text's page goes out within the timeout, and each page
    is sent once. With the default 10 s timeout this takes about 20 s."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start(tmp_path, fake_twilio.url, port, workers=1)
    # One worker: every slot of the default concurrency is this worker's.
    slots = sends_in_flight(TWILIO_CONCURRENCY_DEFAULT, workers=1)
    hung = slots + 1             # one more than the slots: it waits for one
    try:
        await wait_until_healthy(url, server)
        async with aiohttp.ClientSession() as session:
            answers = await asyncio.gather(*(
                post(session, url + "/sms/incoming",
                     sms(f"SMhung{i}", f"+1619555{4000 + i:04d}", f"hung {i}"))
                for i in range(hung)))
            assert all(status == 200 for status, _ in answers), answers
            await wait_for(lambda: len(hang.held) == slots, seconds=10)

            hang.on = False          # Twilio answers new requests again
            recovered = time.monotonic()
            status, _ = await post(session, url + "/sms/incoming",
                                   sms("SMafter", "+16195554999", "after recovery"))
            assert status == 200

            def new_page() -> list[float]:
                return [at for at, m in hang.arrivals if ": after recovery - reply" in m.body]

            await wait_for(new_page, seconds=REQUEST_TIMEOUT_SECONDS + 3)
            new_page_after = new_page()[0] - recovered

            # The hung pages are retried (2 s backoff) and each is sent once.
            await wait_for(lambda: len(hang.answered()) >= hung + 1, seconds=15)
            await asyncio.sleep(2)   # room for a second send, which must not come
    finally:
        code, _, err = stop(server)
    assert code == 0, err
    db = tmp_path / "ivr.sqlite3"
    # How long each hung send held its slot, as the server saw it: from the
    # commit that queued it (its send starts then) to the failure it recorded
    # (next_attempt_at is that moment plus the first retry's 2 s backoff).
    held_for = [(parse(retry) - parse(created)).total_seconds() - 2 for created, retry in rows(
        db, "SELECT created_at, next_attempt_at FROM outbox WHERE attempts = 2")]
    print(f"\n{len(held_for)} hung sends each held a slot {min(held_for):.2f}-"
          f"{max(held_for):.2f} s; the new text's page went out {new_page_after:.2f} s after "
          f"Twilio recovered")
    assert len(held_for) == slots
    assert all(REQUEST_TIMEOUT_SECONDS <= s < REQUEST_TIMEOUT_SECONDS + 1 for s in held_for)
    assert new_page_after <= REQUEST_TIMEOUT_SECONDS + 3

    answered = [m.body for m in hang.answered()]
    for body in [f"hung {i}" for i in range(hung)] + ["after recovery"]:
        assert sum(f": {body} - reply" in b for b in answered) == 1, (body, answered)
    assert len(answered) == hung + 1
    assert rows(db, "SELECT status, attempts, COUNT(*) FROM outbox GROUP BY 1, 2 ORDER BY 2") == [
        ("sent", 1, hung + 1 - slots), ("sent", 2, slots)]
    assert rows(db, "SELECT COUNT(DISTINCT message_sid) FROM outbox") == [(hung + 1,)]
    assert "did not answer within 10 s" in err
