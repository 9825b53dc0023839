"""Keyword auto-replies against a real endpoint in its own process on
loopback: a text that starts with the keyword is POSTed, signed, and the
endpoint's reply is texted back from the line; an endpoint that hangs,
fails or answers nonsense leaves the text to the usual cascade. A retried
webhook is answered as before, without asking again."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ivr.auto_reply import matching_rule, read_answer
from ivr.clock import FrozenClock
from ivr.config import ConfigError, load_config
from ivr.hook_signing import verify
from ivr.line_integrations import AutoReply

from .support.harness import CUSTOMER, EXAMPLE_CONFIG, LINE, REPO, SERGIO, open_harness
from .support.processes import free_port

SECRET = "crew-secret-0123456789abcdef"
CLOCK_START = 1_795_370_400     # FrozenClock's default moment, as Unix seconds


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """The endpoint process: (base URL, its record of requests)."""
    record = tmp_path_factory.mktemp("endpoint") / "requests.jsonl"
    record.touch()
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.support.reply_endpoint",
                                str(port), str(record)], cwd=REPO)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError("the endpoint process did not start")
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", record
    process.kill()
    process.wait()


def received(record: Path, since: int = 0) -> list[dict]:
    lines = record.read_text("utf-8").splitlines()[since:]
    return [{**r, "body": base64.b64decode(r["body"])} for r in map(json.loads, lines)]


def config_with(tmp_path: Path, database: str, url: str, timeout: float = 3):
    text = EXAMPLE_CONFIG.read_text("utf-8") + (
        f'\n[lines.qdn.auto_reply.crew_link]\nkeyword = "LINK"\nurl = "{url}"\n'
        f'secret = "{SECRET}"\ntimeout_seconds = {timeout}\n')
    path = tmp_path / "ivr.toml"
    path.write_text(text, "utf-8")
    return load_config(path, database_override=database)


async def bodies(harness, to: str) -> list[str]:
    await harness.deliver_outbox()
    return [m.body for m in harness.fake.messages_to(to)]


@pytest.mark.both_engines
async def test_the_endpoints_reply_goes_back_and_nobody_is_paged(tmp_path, database,
                                                                 fake_twilio, endpoint):
    base, record = endpoint
    before = len(received(record))
    config = config_with(tmp_path, database, base + "/reply")
    async with open_harness(config, fake_twilio, FrozenClock()) as harness:
        answer = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="link please",
                                           message_sid="SMlink1")
        assert answer.status == 200 and answer.messages() == []
        assert await bodies(harness, CUSTOMER) == ["Your crew link: https://crew.example/m/0142"]
        [sent] = fake_twilio.messages_to(CUSTOMER)
        assert sent.from_ == LINE
        assert await bodies(harness, SERGIO) == []
        kinds = [d.kind for d in await harness.decisions()]
        assert "auto_replied" in kinds and "conversation_opened" not in kinds

        [request] = received(record, before)
        assert request["path"] == "/reply"
        assert verify(SECRET, request["headers"], request["body"], now=CLOCK_START)
        assert not verify("another-secret-0123456789", request["headers"], request["body"],
                          now=CLOCK_START)
        assert json.loads(request["body"]) == {
            "version": 1, "type": "auto_reply", "auto_reply": "crew_link", "line": "qdn",
            "line_number": LINE, "keyword": "LINK", "from": CUSTOMER, "text": "link please",
            "message_sid": "SMlink1"}

        # Twilio retries the webhook: the same answer, the endpoint not asked, nothing resent.
        again = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="link please",
                                          message_sid="SMlink1")
        assert again.status == 200 and again.messages() == []
        assert len(received(record, before)) == 1
        assert len(await bodies(harness, CUSTOMER)) == 1
        assert "duplicate_webhook" in [d.kind for d in await harness.decisions()]


@pytest.mark.both_engines
@pytest.mark.parametrize("path, why", [
    ("/hang", "no answer within 0.5 s"),
    ("/error", "the endpoint answered HTTP 500"),
    ("/malformed", "the endpoint's answer is not JSON"),
])
async def test_an_endpoint_that_fails_leaves_the_text_to_the_cascade(
        tmp_path, database, fake_twilio, endpoint, path, why):
    base, record = endpoint
    before = len(received(record))
    config = config_with(tmp_path, database, base + path, timeout=0.5)
    async with open_harness(config, fake_twilio, FrozenClock()) as harness:
        answer = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="LINK",
                                           message_sid="SMfails")
        assert answer.status == 200
        assert answer.messages() == ["Thanks, we got your message. Sergio will reply shortly."]
        assert await bodies(harness, SERGIO) == [
            "[QDN #1] +1 619-555-0142: LINK - reply ACK to take it"]
        decisions = await harness.decisions()
        [failed] = [d for d in decisions if d.kind == "auto_reply_failed"]
        assert why in failed.reason and failed.sid == "SMfails"
        assert "conversation_opened" in [d.kind for d in decisions]
        assert [r["path"] for r in received(record, before)] == [path]


async def test_the_unreachable_endpoint_falls_back(tmp_path, fake_twilio):
    url = f"http://127.0.0.1:{free_port()}/nothing-listens"
    config = config_with(tmp_path, str(tmp_path / "ivr.sqlite3"), url)
    async with open_harness(config, fake_twilio, FrozenClock()) as harness:
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="link")
        [failed] = [d for d in await harness.decisions() if d.kind == "auto_reply_failed"]
        assert "cannot be reached" in failed.reason
        assert len(await bodies(harness, SERGIO)) == 1


async def test_other_texts_and_responders_do_not_ask(tmp_path, fake_twilio, endpoint):
    base, record = endpoint
    before = len(received(record))
    config = config_with(tmp_path, str(tmp_path / "ivr.sqlite3"), base + "/reply")
    async with open_harness(config, fake_twilio, FrozenClock()) as harness:
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="links are broken")
        await harness.twilio.text(from_=SERGIO, to=LINE, body="LINK")
        assert received(record, before) == []
        assert "auto_replied" not in [d.kind for d in await harness.decisions()]


RULE = AutoReply("crew_link", "LINK", "https://crew.example/ivr", SECRET)


@pytest.mark.parametrize("body, matches", [
    ("LINK", True), ("link", True), ("  Link please", True), ("LINK.", True),
    ("link-me", True), ("LINKS", False), ("unlink", False), ("my LINK", False), ("", False),
])
def test_which_texts_start_with_the_keyword(body, matches):
    assert (matching_rule([RULE], body) is RULE) is matches


@pytest.mark.parametrize("status, body, reply, failure", [
    (200, b'{"reply": "  hi  "}', "hi", None),
    (201, b'{"reply": "ok"}', "ok", None),
    (204, b"", None, "not JSON"),
    (200, b'{"reply": ""}', None, 'no text in "reply"'),
    (200, b'{"reply": 3}', None, 'no text in "reply"'),
    (200, b'["reply"]', None, 'no text in "reply"'),
    (302, b'{"reply": "moved"}', None, "HTTP 302"),
    (500, b'{"reply": "x"}', None, "HTTP 500"),
    (200, b"\xff\xfe", None, "not JSON"),
])
def test_what_an_answer_means(status, body, reply, failure):
    outcome = read_answer(status, body)
    assert outcome.reply == reply
    assert (failure in outcome.failure) if failure else outcome.failure is None


@pytest.mark.parametrize("lines, key", [
    ('keyword = "STOP"\nurl = "https://x.example"\nsecret = "%s"' % SECRET, ".keyword"),
    ('keyword = "two words"\nurl = "https://x.example"\nsecret = "%s"' % SECRET, ".keyword"),
    ('keyword = "LINK"\nurl = "ftp://x.example"\nsecret = "%s"' % SECRET, ".url"),
    ('keyword = "LINK"\nurl = "https://x.example"\nsecret = "short"', ".secret"),
    ('keyword = "LINK"\nurl = "https://x.example"\nsecret = "%s"\ntimeout_seconds = 14'
     % SECRET, ".timeout_seconds"),
    ('keyword = "LINK"\nsecret = "%s"' % SECRET, ".url"),
])
def test_a_bad_auto_reply_names_its_key(tmp_path, lines, key):
    path = tmp_path / "ivr.toml"
    path.write_text(EXAMPLE_CONFIG.read_text("utf-8")
                    + f"\n[lines.qdn.auto_reply.crew]\n{lines}\n", "utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.key == f"lines.qdn.auto_reply.crew{key}"
    assert str(raised.value).count("\n") == 0 and raised.value.fix
