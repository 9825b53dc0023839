"""[service] twilio_concurrency: how many REST requests this machine has
under way at Twilio at once, shared by its workers. Twilio refuses what an
account sends beyond its concurrency limit with HTTP 429 (error 20429);
before this setting each worker sent up to 32 at once, however many
workers there were."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from ivr.config import TWILIO_CONCURRENCY_DEFAULT, ConfigError, load_config
from ivr.outbox import sends_in_flight

from .support.fake_twilio import SentMessage
from .support.harness import EXAMPLE_CONFIG
from .support.processes import free_port, post, sms, start, stop, wait_for, wait_until_healthy


def config_with(tmp_path, setting: str):
    text = EXAMPLE_CONFIG.read_text().replace("[service]\n", f"[service]\n{setting}\n", 1)
    path = tmp_path / "ivr.toml"
    path.write_text(text)
    return path


def test_the_default_leaves_room_under_twilios_usual_limit(tmp_path):
    config = load_config(EXAMPLE_CONFIG, database_override=str(tmp_path / "db.sqlite3"))
    assert config.twilio_concurrency == TWILIO_CONCURRENCY_DEFAULT == 90


@pytest.mark.parametrize("setting, problem", [
    ("twilio_concurrency = 0", "0 is out of range"),
    ("twilio_concurrency = 5000", "5000 is out of range"),
    ('twilio_concurrency = "lots"', "must be a whole number"),
    ("twilio_concurrency = 2.5", "must be a whole number"),
])
def test_a_wrong_setting_names_the_file_the_key_and_the_fix(tmp_path, setting, problem):
    path = config_with(tmp_path, setting)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert str(path) in message and "service.twilio_concurrency" in message
    assert problem in message and "twilio_concurrency = 90" in message


@pytest.mark.parametrize("concurrency, workers, each", [
    (90, 1, 90), (90, 2, 45), (90, 4, 22), (6, 2, 3), (1, 4, 1), (3, 8, 1)])
def test_each_worker_sends_its_share(concurrency, workers, each):
    assert sends_in_flight(concurrency, workers) == each


class Holding:
    """The fake Twilio's `before_answer`: holds every request until released,
    counting how many are under way at once."""

    def __init__(self) -> None:
        self.under_way = 0
        self.most_at_once = 0
        self.bodies: list[str] = []
        self._release = asyncio.Event()

    async def __call__(self, sent: SentMessage) -> None:
        self.under_way += 1
        self.most_at_once = max(self.most_at_once, self.under_way)
        self.bodies.append(sent.body)
        try:
            await self._release.wait()
        finally:
            self.under_way -= 1

    def release(self) -> None:
        self._release.set()


async def test_two_workers_together_never_exceed_the_machines_concurrency(tmp_path, fake_twilio):
    """`ivr serve --workers 2` with twilio_concurrency = 6, Twilio holding
    every send: 20 texts at once put at most 6 sends under way (3 per
    worker; before the setting each worker sent up to 32); once Twilio
    answers, every page goes out."""
    holding = Holding()
    fake_twilio.before_answer = holding
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start(tmp_path, fake_twilio.url, port, workers=2,
                   config=config_with(tmp_path, "twilio_concurrency = 6"))
    texts = 20
    try:
        await wait_until_healthy(url, server)
        async with aiohttp.ClientSession() as session:
            answers = await asyncio.gather(*(
                post(session, url + "/sms/incoming",
                     sms(f"SMcap{i:02d}", f"+1619555{5000 + i:04d}", f"capped {i}"))
                for i in range(texts)))
        assert all(status == 200 for status, _ in answers), answers
        # Each worker fills its 3; which worker took which text is the
        # kernel's choice, so one of them may hold fewer than 3 texts.
        await wait_for(lambda: holding.under_way >= 3, seconds=10)
        settled = time.monotonic()
        while time.monotonic() - settled < 1.5:   # the other worker's sweep has come and gone
            await asyncio.sleep(0.05)
        assert 3 <= holding.most_at_once <= 6
        holding.release()
        await wait_for(lambda: all(any(f": capped {i} -" in b for b in holding.bodies)
                                   for i in range(texts)), seconds=30)
    finally:
        holding.release()
        code, _, err = stop(server)
    assert code == 0, err


def test_more_workers_than_the_concurrency_is_refused_at_start(tmp_path):
    """Each worker sends at least one at a time, so 4 workers with
    twilio_concurrency = 2 would go over it: ivr serve says so and stops."""
    import subprocess
    import sys

    from .support.harness import REPO
    from .support.processes import clean_environ
    config = config_with(tmp_path, "twilio_concurrency = 2")
    done = subprocess.run(
        [sys.executable, str(REPO / "run.py"), "--config", str(config), "--bind",
         f"127.0.0.1:{free_port()}", "--workers", "4"], cwd=tmp_path, capture_output=True,
        text=True, timeout=60,
        env=clean_environ(TWILIO_AUTH_TOKEN="t" * 32, TWILIO_ACCOUNT_SID="AC" + "0" * 32,
                          IVR_PUBLIC_BASE_URL="https://ivr.example.com",
                          IVR_DATABASE=str(tmp_path / "ivr.sqlite3")))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "service.twilio_concurrency = 2 is fewer than --workers 4" in done.stderr
    assert "Traceback" not in done.stderr


async def test_sends_one_process_has_no_room_for_go_out_through_another(tmp_path, fake_twilio):
    """Two ivr processes on one database (as two workers are, or two
    machines on PostgreSQL), each allowed one send under way and one
    waiting (twilio_concurrency = 1). Every text goes to the first: the
    texts beyond its two are handed back, the second's poll sends them, and
    every page goes out exactly once. Before, the second sat idle while the
    first sent its backlog one at a time."""
    holding = Holding()
    fake_twilio.before_answer = holding
    config = config_with(tmp_path, "twilio_concurrency = 1")
    first_port, second_port = free_port(), free_port()
    first = start(tmp_path, fake_twilio.url, first_port, workers=1, config=config)
    second = None
    texts = 8
    try:
        await wait_until_healthy(f"http://127.0.0.1:{first_port}", first)
        second = start(tmp_path, fake_twilio.url, second_port, workers=1, config=config)
        await wait_until_healthy(f"http://127.0.0.1:{second_port}", second)
        url = f"http://127.0.0.1:{first_port}"
        async with aiohttp.ClientSession() as session:
            for i in range(texts):
                status, _ = await post(session, url + "/sms/incoming",
                                       sms(f"SMmore{i:02d}", f"+1619555{6000 + i:04d}",
                                           f"overflow {i}"))
                assert status == 200
        # The second polls every second: its one send joins the first's.
        # Within 5 s: at 10 s the first's held send times out and frees its
        # slot, and Twilio (which never notices) would count two.
        await wait_for(lambda: holding.under_way == 2, seconds=5)
        assert holding.most_at_once == 2
        holding.release()
        await wait_for(lambda: all(any(f": overflow {i} -" in b for b in holding.bodies)
                                   for i in range(texts)), seconds=30)
        await asyncio.sleep(1.5)               # room for a second send, which must not come
    finally:
        holding.release()
        code, _, err = stop(first)
        if second is not None:
            second_code, _, second_err = stop(second)
            assert second_code == 0, second_err
    assert code == 0, err
    for i in range(texts):
        assert sum(f": overflow {i} -" in b for b in holding.bodies) == 1, holding.bodies
    assert "sends handed back for any process with room" in err


@pytest.mark.both_engines
async def test_a_handed_back_claim_is_due_for_any_process_and_a_taken_one_stays(database):
    """release_claims hands back only claims still untouched: a row queued
    claimed is due again at once for any claim, with its attempt not
    counted; a row already sent is left as it is."""
    from datetime import timedelta

    from ivr.clock import FrozenClock
    from ivr.decisions import Channel, Decision, DecisionKind
    from ivr.store import store_for

    store = store_for(database, FrozenClock())
    await store.open()
    try:
        store.send_lease = timedelta(seconds=60)

        def queue(tx):
            decision_id = tx.decide(Decision(kind=DecisionKind.MESSAGE_FORWARDED,
                                             channel=Channel.SMS, reason="t", line_id="qdn"))
            return [tx.enqueue_sms(decision_id, "qdn", None, f"+1619555{n:04d}",
                                   "+16195550100", f"page {n}", purpose="page")
                    for n in range(3)]

        ids = await store.write(queue)
        await store.write(lambda tx: tx.mark_sent(ids[2], "SM" + "2" * 32, "queued"))
        store.send_lease = None
        assert await store.write(lambda tx: tx.release_claims(ids)) == 2
        # The same again changes nothing: they are no longer claims.
        assert await store.write(lambda tx: tx.release_claims(ids)) == 0
        claimed = await store.write(lambda tx: tx.claim_due_outbox(10, timedelta(seconds=60)))
        assert sorted(m.id for m in claimed) == ids[:2]
        assert all(m.attempts == 1 for m in claimed)
        # Sent by whoever claimed it: a late hand-back leaves it sent.
        await store.write(lambda tx: tx.mark_sent(ids[0], "SM" + "0" * 32, "queued"))
        assert await store.write(lambda tx: tx.release_claims(ids[:1])) == 0
    finally:
        await store.close()
