"""Who a text or a call is from.

Issue 14, item 7: a line's own number is no customer. A signed text with
From = To = the line opened a conversation, and later sends had To = From =
the line (Twilio refuses those, 21266). Item 12: a call's From that is no
phone number (withheld, a Twilio Client app, a SIP address, garbage) still
reaches the cascade, but is recorded as "anonymous", and its voicemail is
texted to every responder without opening a conversation that would text
"back" to something that is not a number."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from ivr.config import parse_config
from ivr.logs import TextFormatter
from ivr.store import Store

from .support.call_simulator import ANSWER_AND_PRESS, CallSimulator
from .support.harness import BACKUP, LINE, SERGIO

OTHER_LINE = "+16195550200"


def two_lines(database: str):
    return parse_config({
        "service": {"database": database},
        "responders": {"sergio": {"name": "Sergio", "phone": SERGIO},
                       "backup": {"name": "Backup", "phone": BACKUP}},
        "lines": {
            "qdn": {"name": "Quick Dump Now", "number": LINE, "code": "QDN",
                    "tiers": ["sergio", "backup"]},
            "venue": {"name": "The Venue", "number": OTHER_LINE, "tiers": ["backup"]},
        },
    }, "test.toml")


@pytest.fixture
def config(tmp_path):
    return two_lines(str(tmp_path / "ivr.sqlite3"))


def logged(caplog) -> str:
    """The log lines as the service writes them, structured fields included."""
    return "\n".join(TextFormatter().format(record) for record in caplog.records)


def table(path: str, sql: str) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


# ------------------------------------------------- item 7: a line's own number

@pytest.mark.parametrize("sender", [LINE, OTHER_LINE, "(619) 555-0100"])
async def test_a_text_from_a_lines_own_number_opens_nothing_and_sends_nothing(
        harness, caplog, sender):
    caplog.set_level(logging.INFO)
    response = await harness.twilio.text(from_=sender, to=LINE, body="hello me")
    assert response.status == 200 and response.messages() == []
    [row] = await harness.decisions()
    assert row.kind == "invalid_sender" and row.line_id == "qdn"
    assert "not a customer" in row.reason and "nothing sent" in row.reason
    assert await harness.deliver_outbox() == 0 and harness.fake.messages == []
    path = harness.store.path
    assert table(path, "SELECT * FROM conversations") == []
    assert table(path, "SELECT * FROM inbound_messages") == []
    text = logged(caplog)
    assert "text from a line's own number ignored" in text
    assert LINE not in text and OTHER_LINE not in text
    assert "from=+1619***0100" in text or "from=+1619***0200" in text


async def test_a_text_from_a_lines_own_number_is_not_carried_when_the_store_fails(
        harness, monkeypatch):
    async def failing_write(self, fn):
        raise sqlite3.OperationalError("disk I/O error")
    monkeypatch.setattr(Store, "write", failing_write)
    response = await harness.twilio.text(from_=LINE, to=LINE, body="hello me")
    assert response.status == 200
    assert [m.get("to") for m in response.twiml.iter("Message")] == []


@pytest.mark.parametrize("caller", [LINE, OTHER_LINE])
async def test_a_call_from_a_lines_own_number_is_hung_up_and_dials_nobody(
        harness, caplog, caller):
    caplog.set_level(logging.INFO)
    sim = CallSimulator(harness.twilio, caller=caller, line_number=LINE,
                        legs={SERGIO: ANSWER_AND_PRESS("1")})
    transcript = await sim.run()
    assert transcript.dials == [] and not transcript.recorded
    [document] = [root for _, root in transcript.documents]
    assert [child.tag for child in document] == ["Hangup"]
    [row] = await harness.decisions()
    assert row.kind == "invalid_sender" and row.line_id == "qdn"
    assert "not a caller" in row.reason
    assert table(harness.store.path, "SELECT * FROM calls") == []
    assert await harness.deliver_outbox() == 0
    text = logged(caplog)
    assert "call from a line's own number hung up" in text
    assert caller not in text and "from=+1619***0" in text
