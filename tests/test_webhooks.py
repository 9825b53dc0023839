"""How the service answers Twilio: idempotent, never a bare 500, nothing leaked."""

import logging
import sqlite3

from ivr.logs import JsonFormatter, TextFormatter

from .support.fake_twilio import API_SECRET
from .support.harness import (
    AUTH_TOKEN,
    BACKUP,
    CUSTOMER,
    FALLBACK_BASE_URL,
    LINE,
    PREVIOUS_TOKEN,
    SERGIO,
    error_params,
    incoming_call_params,
)


async def test_a_retried_webhook_forwards_once_and_gets_the_same_answer(harness):
    first = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello", message_sid="SMdup")
    again = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello", message_sid="SMdup")
    assert again.status == 200 and again.body == first.body
    await harness.deliver_outbox()
    assert len(harness.fake.messages) == 1
    kinds = [d.kind for d in await harness.decisions()]
    assert kinds.count("message_forwarded") == 1 and kinds[-1] == "duplicate_webhook"


async def test_twilios_retry_at_the_fallback_address_gets_the_same_answer_and_pages_once(
        fallback_harness):
    """The primary took the text but its answer was lost (a 5xx from the proxy,
    say): Twilio retries with the same MessageSid and idempotency token, and
    then asks the fallback URL, adding ErrorCode and ErrorUrl."""
    twilio = fallback_harness.twilio
    params = twilio.sms_params(from_=CUSTOMER, to=LINE, body="hello", message_sid="SMretry")
    token = {"I-Twilio-Idempotency-Token": "8f3c1e0a-retry-token"}
    first = await twilio.post("/sms/incoming", params, headers=token)
    retry = await twilio.post("/sms/incoming", params, headers=token)
    fallback = await twilio.post("/sms/incoming", params + error_params("/sms/incoming"),
                                 headers=token, signed_url=f"{FALLBACK_BASE_URL}/sms/incoming")
    assert first.status == retry.status == fallback.status == 200
    assert first.messages() and retry.body == first.body and fallback.body == first.body
    await fallback_harness.deliver_outbox()
    assert len(fallback_harness.fake.messages) == 1
    kinds = [d.kind for d in await fallback_harness.decisions()]
    assert kinds.count("message_forwarded") == 1 and kinds.count("duplicate_webhook") == 2


async def test_a_calls_retry_at_the_fallback_address_rings_nobody_twice(fallback_harness):
    twilio = fallback_harness.twilio
    params = incoming_call_params("CAretry")
    token = {"I-Twilio-Idempotency-Token": "0b7d2f44-retry-token"}
    first = await twilio.post("/voice/incoming", params, headers=token)
    retry = await twilio.post("/voice/incoming", params, headers=token)
    fallback = await twilio.post("/voice/incoming", params + error_params("/voice/incoming"),
                                 headers=token, signed_url=f"{FALLBACK_BASE_URL}/voice/incoming")
    assert first.status == retry.status == fallback.status == 200
    assert first.twiml.find("Dial") is not None
    assert retry.body == first.body and fallback.body == first.body
    kinds = [d.kind for d in await fallback_harness.decisions()]
    assert kinds.count("tier_dialed") == 1 and kinds.count("duplicate_webhook") == 2


async def test_a_follow_up_joins_the_conversation_without_a_second_ack(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="first")
    harness.clock.advance(30)   # past the flood window
    follow_up = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="second")
    assert follow_up.messages() == []
    await harness.deliver_outbox()
    bodies = [m.body for m in harness.fake.messages_to(SERGIO)]
    assert [b.split(": ", 1)[1] for b in bodies] == ["first - reply ACK to take it",
                                                      "second - reply ACK to take it"]
    assert all(b.startswith("[QDN #1]") for b in bodies)
    kinds = [d.kind for d in await harness.decisions()]
    assert kinds.count("conversation_opened") == 1 and "follow_up_forwarded" in kinds


async def test_mms_media_is_forwarded(harness):
    media = [("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
              "image/jpeg")]
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="", media=media)
    await harness.deliver_outbox()
    [page] = harness.fake.messages
    assert page.media_urls == [media[0][0]] and media[0][0] in page.body


async def test_a_text_to_an_unknown_number_is_logged_and_answered_empty(harness):
    response = await harness.twilio.text(from_=CUSTOMER, to="+14155550000", body="hello?")
    assert response.status == 200 and response.messages() == []
    [row] = await harness.decisions()
    assert row.kind == "unknown_line" and "+1415***0000" in row.reason
    assert await harness.deliver_outbox() == 0


async def test_a_responder_texting_the_line_is_not_a_customer(harness):
    response = await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    assert response.messages() == ["Nothing is waiting for an ACK on Quick Dump Now."]
    [row] = await harness.decisions()
    assert row.kind == "ack_refused" and row.responder_id == "sergio"
    assert await harness.deliver_outbox() == 0


async def test_a_failure_inside_a_handler_answers_valid_twiml(harness, caplog):
    # The database breaks under the running service.
    db = sqlite3.connect(harness.store.path)
    db.execute("DROP TABLE inbound_messages")
    db.close()
    response = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="anyone?")
    assert response.status == 200
    assert response.twiml.tag == "Response"
    assert "webhook failed inside" in caplog.text
    # The decision log still works, and says what happened.
    last = (await harness.decisions())[-1]
    assert last.kind == "handler_error" and "OperationalError" in last.reason
    # Nothing could be stored, so the answer itself carries the text on.
    assert [m.get("to") for m in response.twiml.iter("Message")] == [SERGIO, None]


def carried(response):
    return [(m.get("to"), m.text) for m in response.twiml.iter("Message")]


async def test_a_text_the_store_cannot_take_reaches_the_responder_in_the_twiml(harness, caplog):
    await harness.store.close()  # the disk is gone, the database with it
    response = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Dumpster is on fire")
    assert response.status == 200
    assert carried(response) == [
        (SERGIO, "[QDN] +1 619-555-0142: Dumpster is on fire - the line could not record this "
                 "text: ACK and replies will not reach the customer, contact them directly."),
        (None, "Thanks, we got your message. Sergio will reply shortly.")]
    assert "text not recorded; its TwiML answer carries it instead" in caplog.text
    assert CUSTOMER not in caplog.text and SERGIO not in caplog.text
    assert "Dumpster" not in caplog.text


async def test_a_responders_text_the_store_cannot_take_is_answered_as_not_processed(harness):
    await harness.store.close()
    response = await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    assert carried(response) == [(None, "[QDN] the line could not take your text just now; "
                                        "nothing was relayed or acknowledged. Try again in a "
                                        "minute, or contact the customer directly.")]


async def test_a_text_already_handled_keeps_its_answer_when_writes_fail(harness):
    first = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hi",
                                      message_sid="SMretried")
    await harness.deliver_outbox()
    # The disk fills up: reads still work, every write is refused.
    db = sqlite3.connect(harness.store.path)
    db.execute("CREATE TRIGGER disk_full BEFORE INSERT ON decisions"
               " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    db.close()
    again = await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hi",
                                      message_sid="SMretried")
    # The retry is answered as the first time, and the text is not paged twice.
    assert again.body == first.body
    assert carried(again) == [(None, "Thanks, we got your message. Sergio will reply shortly.")]
    assert len(harness.fake.messages_to(SERGIO)) == 1


async def test_healthz_says_whether_the_database_answers(harness):
    response = await harness.client.get("/healthz")
    assert response.status_code == 200
    await harness.store.close()
    response = await harness.client.get("/healthz")
    assert response.status_code == 503


async def test_transient_send_failures_are_retried_and_permanent_ones_logged(harness):
    harness.fake.fail_next(503, 20503, "Service Unavailable")
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="retry me")
    await harness.deliver_outbox()
    assert harness.fake.messages == []
    [row] = await harness.store.read(lambda tx: tx.outbox_rows())
    assert row["status"] == "pending" and "503" in row["error"]
    harness.clock.advance(2)
    await harness.deliver_outbox()
    assert len(harness.fake.messages) == 1

    harness.fake.fail_next(400, 21211, "Invalid 'To' Phone Number")
    await harness.twilio.text(from_="+16195550150", to=LINE, body="bad number")
    await harness.deliver_outbox()
    rows = await harness.store.read(lambda tx: tx.outbox_rows())
    [failed] = [row for row in rows if row["status"] == "failed"]
    assert failed["to_number"] == SERGIO and "21211" in failed["error"]
    kinds = [d.kind for d in await harness.decisions()]
    assert "send_failed" in kinds


async def test_a_failed_delivery_is_stored_with_its_error_code(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hi")
    await harness.deliver_outbox()
    [page] = harness.fake.messages
    await harness.twilio.message_status(message_sid=page.sid, to=SERGIO, from_=LINE,
                                        status="undelivered", error_code="30003")
    row = (await harness.store.read(lambda tx: tx.outbox_rows()))[0]
    assert (row["delivery_status"], row["error_code"]) == ("undelivered", "30003")
    [failed] = await harness.decisions(sid=page.sid)
    assert failed.kind == "delivery_failed" and "30003" in failed.reason


async def test_no_secret_or_full_number_reaches_a_log_line(harness, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("twilio").setLevel(logging.DEBUG)  # even twilio-python's request dumps
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    await harness.twilio.text(from_=CUSTOMER, to="+14155550000", body="hello")
    await harness.twilio.post("/sms/incoming", [("From", CUSTOMER)], signature="forged")
    harness.fake.fail_next(400, 21211, f"Invalid 'To' Phone Number: {SERGIO}")
    await harness.deliver_outbox()
    logging.getLogger("ivr.test").warning("token %s in a message", AUTH_TOKEN)
    # Rendered as the service writes them, structured fields included.
    text = "\n".join(TextFormatter().format(r) for r in caplog.records)
    text += "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert caplog.records, "nothing was logged, so nothing was checked"
    for secret in (AUTH_TOKEN, PREVIOUS_TOKEN, API_SECRET):
        assert secret not in text
    for number in (CUSTOMER, LINE, SERGIO, BACKUP, "+14155550000"):
        assert number not in text
    assert "from=+1619***0142" in text and '"from": "+1619***0142"' in text
    assert "[secret]" in text
