"""The dashboard and /metrics through the app: login, CSRF, live data,
operator actions; the browser test is in test_browser.py."""

import asyncio
import base64

from prometheus_client.parser import text_string_to_metric_families

from ivr.passwords import hash_password, verify_password

from .support.harness import BACKUP, CUSTOMER, LINE, open_harness
from .support.operator import PASSWORD, csrf_of, harness  # noqa: F401 (harness is a fixture)


# The session cookie is Secure (the public URL is https), so the browser side
# of these tests speaks https too.
async def get(client, path, **kwargs):
    return await client.get(path, scheme="https", **kwargs)


async def post(client, path, **kwargs):
    return await client.post(path, scheme="https", **kwargs)


async def page(client, path="/dashboard/"):
    return await (await get(client, path)).get_data(as_text=True)


async def log_in(client, password=PASSWORD):
    login_page = await page(client, "/dashboard/login")
    return await post(client, "/dashboard/login",
                      form={"password": password, "csrf_token": csrf_of(login_page)})


async def test_the_password_is_only_ever_a_hash():
    encoded = hash_password(PASSWORD)
    assert PASSWORD not in encoded and encoded.startswith("scrypt$")
    assert verify_password(PASSWORD, encoded) and not verify_password("wrong", encoded)


async def test_the_dashboard_needs_a_login(harness):
    response = await get(harness.client, "/dashboard/")
    assert response.status_code == 302 and response.location.endswith("/dashboard/login")
    assert (await log_in(harness.client, "wrong password")).status_code == 401
    response = await log_in(harness.client)
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
    assert (await get(harness.client, "/dashboard/")).status_code == 200


async def test_a_login_without_the_csrf_token_is_refused(harness):
    response = await post(harness.client, "/dashboard/login", form={"password": PASSWORD})
    assert response.status_code == 400


async def test_repeated_wrong_passwords_are_throttled(harness):
    for _ in range(5):
        assert (await log_in(harness.client, "nope nope nope")).status_code == 401
    assert (await log_in(harness.client)).status_code == 429


async def test_it_shows_open_conversations_with_their_trail_and_recent_calls(harness):
    await log_in(harness.client)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="<b>bin</b> full")
    harness.clock.advance(90)
    html = await page(harness.client)
    assert "QDN #1" in html and "+1619***0142" in html and "waiting 90 s" in html
    assert "conversation_opened" in html and "message_forwarded" in html
    assert CUSTOMER not in html          # numbers are masked on screen too
    assert "<b>bin</b>" not in html       # nothing from a text is rendered as HTML
    assert 'name="viewport"' in html


async def test_an_operator_can_close_a_conversation_and_it_is_logged(harness):
    await log_in(harness.client)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    html = await page(harness.client)
    forged = await post(harness.client, "/dashboard/conversations/1/close",
                                       form={"csrf_token": "forged"})
    assert forged.status_code == 400
    response = await post(harness.client, "/dashboard/conversations/1/close",
                                         form={"csrf_token": csrf_of(html)})
    assert response.status_code == 302
    conversation = await harness.store.read(lambda tx: tx.conversation(1))
    assert conversation.status == "closed"
    closed = (await harness.decisions())[-1]
    assert closed.kind == "closed" and "operator closed #1 from the dashboard" in closed.reason
    await harness.deliver_outbox()
    assert harness.fake.messages_to(CUSTOMER)[-1].body.startswith("Quick Dump Now has closed")
    html = await page(harness.client)
    assert "No open conversations." in html


async def test_an_operator_can_hand_a_conversation_over(harness):
    await log_in(harness.client)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    html = await page(harness.client)
    response = await post(harness.client, "/dashboard/conversations/1/hand-over",
                                         form={"csrf_token": csrf_of(html), "responder": "backup"})
    assert response.status_code == 302
    assert (await harness.store.read(lambda tx: tx.conversation(1))).owner == "backup"
    handed = [d for d in await harness.decisions() if d.kind == "handed_over"]
    assert handed[0].responder_id == "backup"
    await harness.deliver_outbox()
    assert "handed to you" in harness.fake.messages_to(BACKUP)[-1].body
    # The backup now owns it: their reply reaches the customer.
    await harness.twilio.text(from_=BACKUP, to=LINE, body="on it")
    await harness.deliver_outbox()
    assert harness.fake.messages_to(CUSTOMER)[-1].body == "on it"
    bad = await post(harness.client, "/dashboard/conversations/1/hand-over",
                                    form={"csrf_token": csrf_of(html), "responder": "nobody"})
    assert bad.status_code == 400


async def test_the_event_stream_says_when_something_changed(harness):
    await log_in(harness.client)
    async with harness.client.request("/dashboard/events", scheme="https") as connection:
        async def until_changed() -> bytes:
            received = b""
            while b"event: changed" not in received:
                received += await connection.receive()
            return received
        first = await asyncio.wait_for(connection.receive(), 5)
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
        received = first + await asyncio.wait_for(until_changed(), 10)
        await connection.disconnect()
    assert b"retry: 2000" in received


async def test_metrics_need_the_password_and_parse_as_prometheus(harness):
    assert (await get(harness.client, "/metrics")).status_code == 401
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    await harness.twilio.post("/sms/incoming", [("From", CUSTOMER)], signature="forged")
    harness.fake.fail_next(500, 20500)
    await harness.deliver_outbox()
    harness.clock.advance(130)
    await harness.fire_timers()
    await harness.twilio.text(from_=BACKUP, to=LINE, body="ACK")
    auth = "Basic " + base64.b64encode(f"operator:{PASSWORD}".encode()).decode()
    response = await get(harness.client, "/metrics", headers={"Authorization": auth})
    assert response.status_code == 200
    text = await response.get_data(as_text=True)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("ivr_webhooks_total", (("route", "/sms/incoming"), ("status", "200")))] == 2
    assert samples[("ivr_signature_rejections_total", (("route", "/sms/incoming"),))] == 1
    assert samples[("ivr_decisions_total", (("kind", "escalated"),))] == 1
    assert samples[("ivr_escalations_total", (("line", "qdn"),))] == 1
    assert samples[("ivr_rest_send_failures_total", (("retryable", "true"),))] == 1
    assert samples[("ivr_time_to_ack_seconds_count", (("line", "qdn"),))] == 1
    assert samples[("ivr_time_to_ack_seconds_sum", (("line", "qdn"),))] == 130
    assert samples[("ivr_pending_timers", ())] == 0
    assert samples[("ivr_open_conversations", ())] == 1
    wrong = "Basic " + base64.b64encode(b"operator:nope").decode()
    assert (await get(harness.client, "/metrics",
                      headers={"Authorization": wrong})).status_code == 401


async def test_without_a_password_the_dashboard_is_off(config, fake_twilio):
    async with open_harness(config, fake_twilio) as harness:
        response = await harness.client.get("/dashboard/")
        assert response.status_code == 404
        assert "IVR_OPERATOR_PASSWORD" in await response.get_data(as_text=True)
