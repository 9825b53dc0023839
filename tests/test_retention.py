"""Retention (issue "The line stays up when a machine does not", item 5):
with [service] retention_days set, conversations closed longer ago lose
their texts, recordings and the customer's number, and so do old calls and
texts that never joined one; kinds, times, tiers and responders stay."""

import io
import json
import re
import sqlite3

import pytest

from ivr import admin
from ivr.config import ConfigError, load_config, parse_config
from ivr.retention import RetentionWorker
from ivr.store.retention import REDACTED

from .support.call_simulator import ANSWER_AND_PRESS, NO_ANSWER, CallSimulator
from .support.harness import BACKUP, CUSTOMER, EXAMPLE_CONFIG, LINE, SERGIO, open_harness
from .support.database_rows import dump as dump_rows
from .support.database_rows import execute, query
from .support.operator import PASSWORD, csrf_of, harness  # noqa: F401 (harness is a fixture)

DAY = 86_400
MASKED = re.compile(r"\+\d+\*\*\*\d+")
OLD_TEXTER, OLD_CALLER, OLD_OPEN = CUSTOMER, "+16195550143", "+16195550144"
RECENT_OPEN, RECENT_CLOSED, STRAY_CALLER = "+16195550145", "+16195550146", "+16195550147"


def rows(harness, sql, *params):
    return query(harness.services.config.database, sql, *params)


def conversation_of(harness, customer_or_id):
    column = "id" if isinstance(customer_or_id, int) else "customer"
    [row] = rows(harness, f"SELECT * FROM conversations WHERE {column} = ?", customer_or_id)
    return row


async def text_and_close(harness, customer, body):
    await harness.twilio.text(from_=customer, to=LINE, body=body)
    code = conversation_of(harness, customer)["code"]
    await harness.twilio.text(from_=SERGIO, to=LINE, body=f"ACK {code}")
    await harness.twilio.text(from_=SERGIO, to=LINE, body=f"{code} on our way")
    await harness.twilio.text(from_=SERGIO, to=LINE, body=f"CLOSE {code}")
    await harness.deliver_outbox()
    return conversation_of(harness, customer)["id"]


async def voicemail_and_close(harness, caller):
    sim = CallSimulator(harness.twilio, caller=caller, line_number=LINE,
                        legs={SERGIO: NO_ANSWER, BACKUP: NO_ANSWER},
                        voicemail="my bin is on fire")
    transcript = await sim.run()
    assert transcript.recorded
    await sim.deliver_transcription()
    conversation = conversation_of(harness, caller)
    await harness.twilio.text(from_=SERGIO, to=LINE, body=f"ACK {conversation['code']}")
    await harness.twilio.text(from_=SERGIO, to=LINE, body=f"CLOSE {conversation['code']}")
    await harness.deliver_outbox()
    return transcript.call_sid, conversation["id"]


async def history(harness):
    """Two conversations closed 31 days ago, one opened then and still open,
    an answered call that joined none, a STOP; then, today, one open and one
    closed conversation."""
    old_text = await text_and_close(harness, OLD_TEXTER, "bin not emptied at 12 Elm St")
    old_call, old_voicemail = await voicemail_and_close(harness, OLD_CALLER)
    await harness.twilio.text(from_=OLD_OPEN, to=LINE, body="still waiting")
    stray = CallSimulator(harness.twilio, caller=STRAY_CALLER, line_number=LINE,
                          legs={SERGIO: ANSWER_AND_PRESS("1")})
    stray_sid = (await stray.run()).call_sid
    await harness.twilio.text(from_=STRAY_CALLER, to=LINE, body="STOP")
    harness.clock.advance(31 * DAY)
    await harness.twilio.text(from_=RECENT_OPEN, to=LINE, body="new problem")
    recent_closed = await text_and_close(harness, RECENT_CLOSED, "recent problem")
    await harness.deliver_outbox()
    return {"old": [old_text, old_voicemail], "old_call": old_call, "stray_call": stray_sid,
            "kept": [conversation_of(harness, OLD_OPEN)["id"],
                     conversation_of(harness, RECENT_OPEN)["id"], recent_closed]}


def every_number_and_body(harness, conversation_id):
    found = rows(harness, "SELECT customer AS value FROM conversations WHERE id = ?"
                          " UNION ALL SELECT sender FROM inbound_messages WHERE conversation_id = ?"
                          " UNION ALL SELECT body FROM inbound_messages WHERE conversation_id = ?"
                          " UNION ALL SELECT body FROM outbox WHERE conversation_id = ?",
                 *[conversation_id] * 4)
    return [row["value"] for row in found]


@pytest.mark.both_engines
async def test_retention_redacts_exactly_the_old_closed_conversations(harness):
    made = await history(harness)
    before = {d.id: d for d in await harness.decisions()}
    kept_before = {c: every_number_and_body(harness, c) for c in made["kept"]}

    done = await RetentionWorker(harness.store, 30, harness.clock).run_once()
    # Texts in no conversation: the STOP, and Sergio's five (ACK, reply, CLOSE;
    # his reply was the customer's to read).
    assert (done.conversations, done.calls, done.texts) == (2, 1, 6)

    for conversation_id in made["old"]:
        conversation = conversation_of(harness, conversation_id)
        assert conversation["customer"] == REDACTED and conversation["redacted_at"]
        assert conversation["status"] == "closed" and conversation["owner"] == "sergio"
        texts = rows(harness, "SELECT * FROM inbound_messages WHERE conversation_id = ?",
                     conversation_id)
        assert texts and all(t["body"] == "" and t["sender"] == REDACTED
                             and json.loads(t["media_urls"]) == [] for t in texts)
        sent = rows(harness, "SELECT * FROM outbox WHERE conversation_id = ?", conversation_id)
        assert sent and all(m["body"] == "" for m in sent)
        # Texts to the customer lose the number; pages keep the responder's.
        assert {m["to_number"] for m in sent if m["purpose"] == "customer"} == {REDACTED}
        assert {m["to_number"] for m in sent if m["purpose"] == "page"} <= {SERGIO, BACKUP}
    [voicemail] = rows(harness, "SELECT * FROM voicemails")
    assert (voicemail["caller"], voicemail["recording_url"], voicemail["transcription"]) == (
        REDACTED, "", None)
    calls = {c["call_sid"]: c["caller"] for c in rows(harness, "SELECT * FROM calls")}
    assert calls == {made["old_call"]: REDACTED, made["stray_call"]: REDACTED}
    # The STOP text joined no conversation; it goes too (the opt-out itself stays).
    assert rows(harness, "SELECT * FROM inbound_messages WHERE body = 'STOP' OR sender = ?",
                STRAY_CALLER) == []

    # Open and recent conversations are untouched.
    assert {c: every_number_and_body(harness, c) for c in made["kept"]} == kept_before
    assert conversation_of(harness, OLD_OPEN)["redacted_at"] is None

    # The log keeps what happened: kinds, times, tiers, responders; the reasons
    # lose the masked numbers.
    after = {d.id: d for d in await harness.decisions()}
    for decision_id, old in before.items():
        new = after[decision_id]
        assert (new.kind, new.at, new.tier, new.responder_id, new.conversation_id, new.sid) == (
            old.kind, old.at, old.tier, old.responder_id, old.conversation_id, old.sid)
    for conversation_id in made["old"]:
        for d in await harness.decisions(conversation_id=conversation_id):
            assert not MASKED.search(d.reason), d.reason
    assert all("0143" not in d.reason for d in await harness.decisions(sid=made["old_call"]))
    assert all("0147" not in d.reason for d in await harness.decisions(sid=made["stray_call"]))
    recorded = [d for d in after.values() if d.kind == "retention"]
    assert [(d.line_id, d.channel) for d in recorded] == [("qdn", "sms"), ("qdn", "voice"),
                                                          ("qdn", "sms")]
    assert "2 conversation(s) closed over 30 day(s) ago redacted" in recorded[0].reason

    # Nothing in the database holds the old customers' numbers or words any more.
    # (The opt-out stays: a number that texted STOP is never texted again.)
    dump = dump_rows(harness.services.config.database, leave_out=("opt_outs",))
    for gone in ("6195550142", "6195550143", "6195550147", "12 Elm St", "my bin is on fire"):
        assert gone not in dump, gone
    for kept in ("6195550144", "6195550145", "new problem", "still waiting"):
        assert kept in dump, kept


@pytest.mark.both_engines
async def test_a_second_pass_redacts_nothing_and_writes_no_decision(harness):
    await history(harness)
    worker = RetentionWorker(harness.store, 30, harness.clock)
    assert (await worker.run_once()).total == 9
    latest = (await harness.decisions())[-1].id
    again = await worker.run_once()
    assert (again.total, again.batches) == (0, 0)
    assert (await harness.decisions())[-1].id == latest
    # A day later, the conversation closed "today" is still recent enough.
    harness.clock.advance(DAY)
    assert (await worker.run_once()).total == 0


@pytest.mark.both_engines
async def test_conversations_are_redacted_in_batches_each_with_its_decision(harness):
    for n in range(5):
        await text_and_close(harness, f"+1619555020{n}", f"text {n}")
    harness.clock.advance(8 * DAY)
    done = await RetentionWorker(harness.store, 7, harness.clock, batch=2).run_once()
    # Three batches of conversations, then Sergio's 15 texts in eight.
    assert (done.conversations, done.texts, done.batches) == (5, 15, 3 + 8)
    reasons = [d.reason for d in await harness.decisions() if d.kind == "retention"]
    assert [r.split(" ", 2)[:2] for r in reasons[:3]] == [["2", "conversation(s)"],
                                                          ["2", "conversation(s)"],
                                                          ["1", "conversation(s)"]]
    assert {c["customer"] for c in rows(harness, "SELECT customer FROM conversations")} == {
        REDACTED}


@pytest.mark.both_engines
async def test_a_conversation_with_a_text_still_to_send_waits(harness):
    conversation_id = await text_and_close(harness, CUSTOMER, "hello")
    # A send Twilio has not taken yet (a retry pending): its body must go out whole.
    execute(harness.services.config.database,
            "UPDATE outbox SET status = 'pending' WHERE conversation_id = ?", conversation_id)
    harness.clock.advance(31 * DAY)
    worker = RetentionWorker(harness.store, 30, harness.clock)
    assert (await worker.run_once()).conversations == 0
    assert conversation_of(harness, conversation_id)["customer"] == CUSTOMER


@pytest.mark.both_engines
async def test_the_log_the_conversations_list_and_the_dashboard_read_redacted_rows(harness):
    await history(harness)
    await RetentionWorker(harness.store, 30, harness.clock).run_once()
    config = harness.services.config

    out = io.StringIO()
    assert await admin.log(config, admin.LogFilter(), 500, False, out) == 0
    assert "retention" in out.getvalue() and "conversation_opened" in out.getvalue()
    out = io.StringIO()
    assert await admin.log(config, admin.LogFilter(number=OLD_TEXTER), 500, False, out) == 0
    assert out.getvalue() == "(no decisions match)\n"   # the number is gone from the store
    out = io.StringIO()
    assert await admin.conversations(config, out, now=harness.clock.now()) == 0

    client = harness.client
    login = await (await client.get("/dashboard/login", scheme="https")).get_data(as_text=True)
    await client.post("/dashboard/login", scheme="https",
                      form={"password": PASSWORD, "csrf_token": csrf_of(login)})
    response = await client.get("/dashboard/", scheme="https")
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    assert "0142" not in html and "0147" not in html


async def test_the_app_runs_the_worker_only_with_retention_days(fake_twilio, tmp_path,
                                                                monkeypatch):
    from ivr import app as app_module
    started = []

    class Spy(RetentionWorker):
        def start(self):
            started.append(self.days)

    monkeypatch.setattr(app_module, "retention_worker",
                        lambda store, days, clock: Spy(store, days, clock) if days else None)
    for days in (None, 45):
        data = _example_data()
        if days:
            data["service"]["retention_days"] = days
        config = parse_config(data, EXAMPLE_CONFIG, str(tmp_path / f"{days}.sqlite3"))
        async with open_harness(config, fake_twilio, background=True):
            pass
    assert started == [45]


def _example_data():
    import tomllib
    return tomllib.loads(EXAMPLE_CONFIG.read_text("utf-8"))


def test_retention_days_is_unset_by_default_and_read_when_set(tmp_path):
    assert load_config(EXAMPLE_CONFIG).retention_days is None
    data = _example_data()
    data["service"]["retention_days"] = 90
    assert parse_config(data, "ivr.toml").retention_days == 90


@pytest.mark.parametrize("value, problem", [
    (0, "0 is out of range"), (-3, "-3 is out of range"), (40_000, "40000 is out of range"),
    ("90", "must be a whole number of days, not '90'"), (1.5, "must be a whole number of days"),
    (True, "must be a whole number of days"),
])
def test_a_bad_retention_days_names_the_file_the_key_and_an_example(value, problem):
    data = _example_data()
    data["service"]["retention_days"] = value
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "/etc/ivr.toml")
    message = str(caught.value)
    assert message.startswith("/etc/ivr.toml: service.retention_days: ")
    assert problem in message and "retention_days = 90" in message


def test_a_scrubbed_reason_keeps_no_digits_of_a_number():
    from ivr.store.retention import scrub_reason
    assert scrub_reason("a call from +1619***0142") == "a call from ***"
    assert scrub_reason("The 'To' number +16195550142 is not valid") == (
        "The 'To' number *** is not valid")
    assert scrub_reason("sergio closed #3") == "sergio closed #3"


async def test_a_database_from_before_retention_gains_redacted_at(tmp_path):
    from ivr.clock import FrozenClock
    from ivr.store import Store
    path = tmp_path / "old.sqlite3"
    store = Store(path, FrozenClock())
    await store.open()
    await store.close()
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE conversations DROP COLUMN redacted_at")
    conn.execute("DELETE FROM schema_version WHERE version >= 3")  # as it was at version 2
    conn.commit()
    conn.close()

    store = Store(path, FrozenClock())
    await store.open()
    try:
        columns = await store.read(
            lambda tx: [row[1] for row in tx._all("PRAGMA table_info(conversations)")])
        assert "redacted_at" in columns
    finally:
        await store.close()
