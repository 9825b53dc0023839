"""Only Twilio gets in: every webhook is checked against the public URL."""

import pytest
from werkzeug.datastructures import MultiDict

from ivr.webhooks import SignatureChecker

from .support.driver import sign
from .support.harness import (
    AUTH_TOKEN,
    CUSTOMER,
    FALLBACK_BASE_URL,
    LINE,
    PREVIOUS_TOKEN,
    SERGIO,
    error_params,
    incoming_call_params,
)

KNOWN_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
KNOWN_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
                "From": "+14158675309", "To": "+18005551212"}
KNOWN_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_pythons_known_answer_vector():
    checker = SignatureChecker(("12345",), "https://mycompany.com")
    url = checker.url_for("/myapp.php", b"foo=1&bar=2")
    assert url == KNOWN_URL
    assert checker.valid(url, MultiDict(KNOWN_PARAMS), KNOWN_SIGNATURE)
    assert sign("12345", KNOWN_URL, KNOWN_PARAMS) == KNOWN_SIGNATURE
    assert not checker.valid(url, MultiDict({**KNOWN_PARAMS, "Digits": "1235"}), KNOWN_SIGNATURE)
    assert not checker.valid(url, MultiDict(KNOWN_PARAMS), None)
    # Headers arrive as latin-1 text; a signature that is not base64 is just wrong.
    assert not checker.valid(url, MultiDict(KNOWN_PARAMS), "RSOYDt4T1cUTdK1PDd93/VVr8B8\u00e9")


async def nothing_stored(harness):
    assert await harness.decisions() == []
    assert await harness.store.read(lambda tx: tx.outbox_rows()) == []
    assert await harness.store.read(lambda tx: tx.inbound_reply("SMforged")) is None


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", KNOWN_SIGNATURE])
async def test_a_forged_or_missing_signature_gets_403_and_changes_nothing(harness, signature,
                                                                         caplog):
    params = harness.twilio.sms_params(from_=CUSTOMER, to=LINE, body="secret plans",
                                       message_sid="SMforged")
    response = await harness.twilio.post("/sms/incoming", params, signature=signature)
    assert response.status == 403
    assert "secret plans" not in caplog.text
    assert "X-Twilio-Signature" in caplog.text
    await nothing_stored(harness)
    assert await harness.deliver_outbox() == 0


async def test_a_signature_from_another_token_is_refused(harness):
    params = harness.twilio.sms_params(from_=CUSTOMER, to=LINE, body="hi", message_sid="SMforged")
    response = await harness.twilio.post("/sms/incoming", params, token="not-our-token")
    assert response.status == 403
    await nothing_stored(harness)


async def test_the_previous_token_is_accepted_during_a_rotation(harness):
    response = await harness.twilio.post(
        "/sms/incoming", harness.twilio.sms_params(from_=CUSTOMER, to=LINE, body="hi"),
        token=PREVIOUS_TOKEN)
    assert response.status == 200 and response.messages()


async def test_a_replayed_signature_with_another_body_is_refused(harness):
    original = harness.twilio.sms_params(from_=CUSTOMER, to=LINE, body="hello",
                                         message_sid="SMforged")
    signature = sign(AUTH_TOKEN, "https://ivr.example.com/sms/incoming", original)
    tampered = [(k, "pay me" if k == "Body" else v) for k, v in original]
    response = await harness.twilio.post("/sms/incoming", tampered, signature=signature)
    assert response.status == 403
    await nothing_stored(harness)


async def test_behind_a_proxy_the_public_url_is_what_counts(harness):
    """The app sees http://localhost/...; Twilio signed https://ivr.example.com/..."""
    params = harness.twilio.sms_params(from_=CUSTOMER, to=LINE, body="via proxy")
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.com",
               "Host": "127.0.0.1:8080"}
    response = await harness.twilio.post("/sms/incoming", params, headers=headers)
    assert response.status == 200

    internal = harness.twilio.sms_params(from_=CUSTOMER, to=LINE, body="direct")
    response = await harness.twilio.post("/sms/incoming", internal,
                                         signed_url="http://127.0.0.1:8080/sms/incoming",
                                         headers=headers)
    assert response.status == 403


async def test_the_default_port_may_or_may_not_be_in_the_signed_url(harness):
    params = harness.twilio.sms_params(from_=CUSTOMER, to=LINE, body="port")
    response = await harness.twilio.post("/sms/incoming", params,
                                         signed_url="https://ivr.example.com:443/sms/incoming")
    assert response.status == 200


async def test_the_query_string_is_part_of_the_signed_url(harness):
    params = harness.twilio.sms_params(from_=CUSTOMER, to=LINE, body="query")
    ok = await harness.twilio.post("/sms/incoming?line=qdn", params,
                                   signed_url="https://ivr.example.com/sms/incoming?line=qdn")
    assert ok.status == 200
    params = harness.twilio.sms_params(from_=CUSTOMER, to=LINE, body="query")
    stripped = await harness.twilio.post("/sms/incoming?line=qdn", params,
                                         signed_url="https://ivr.example.com/sms/incoming")
    assert stripped.status == 403


async def test_repeated_parameters_are_signed_as_twilio_does(harness):
    params = harness.twilio.sms_params(from_=CUSTOMER, to=LINE, body="twice")
    params.append(("Body", "again"))
    assert (await harness.twilio.post("/sms/incoming", params)).status == 200


async def test_the_status_callback_is_signed_too(harness):
    response = await harness.twilio.message_status(message_sid="SMx", to=CUSTOMER, from_=LINE,
                                                   status="delivered")
    assert response.status == 200
    forged = await harness.twilio.post("/sms/status", [("MessageSid", "SMx"),
                                                       ("MessageStatus", "failed")],
                                       signature="Zm9yZ2Vk")
    assert forged.status == 403


# -- the fallback address and the connection overrides ------------------------------

OVERRIDES = "#ct=2000&rt=15000&tt=15000&rc=3&rp=ct,5xx"   # what `twilio configure` writes


def test_a_signature_over_the_configured_overrides_counts_any_other_fragment_does_not():
    """HTTP never carries a fragment, so the URL as requested has none; Twilio
    may have signed the URL it was given, overrides included."""
    checker = SignatureChecker((AUTH_TOKEN,), "https://ivr.example.com", FALLBACK_BASE_URL,
                               fragments=(OVERRIDES,))
    params = MultiDict({"MessageSid": "SM1", "Body": "hi"})
    for base in ("https://ivr.example.com", FALLBACK_BASE_URL):
        for signed in ("", OVERRIDES):
            signature = sign(AUTH_TOKEN, f"{base}/sms/incoming{signed}", params)
            assert checker.accepts("/sms/incoming", b"", params, signature), (base, signed)
    other = sign(AUTH_TOKEN, "https://ivr.example.com/sms/incoming#rc=5&rp=all", params)
    assert not checker.accepts("/sms/incoming", b"", params, other)
    elsewhere = sign(AUTH_TOKEN, "https://ivr-c.example.com/sms/incoming", params)
    assert not checker.accepts("/sms/incoming", b"", params, elsewhere)
    # Without IVR_FALLBACK_BASE_URL the second address is nobody's.
    alone = SignatureChecker((AUTH_TOKEN,), "https://ivr.example.com", fragments=(OVERRIDES,))
    fallback = sign(AUTH_TOKEN, f"{FALLBACK_BASE_URL}/sms/incoming", params)
    assert not alone.accepts("/sms/incoming", b"", params, fallback)


async def test_a_text_signed_over_the_fallback_address_is_handled(fallback_harness):
    twilio = fallback_harness.twilio
    params = twilio.sms_params(from_=CUSTOMER, to=LINE, body="is the line down?")
    response = await twilio.post("/sms/incoming", params + error_params("/sms/incoming"),
                                 signed_url=f"{FALLBACK_BASE_URL}/sms/incoming")
    assert response.status == 200
    assert response.messages() == ["Thanks, we got your message. Sergio will reply shortly."]
    await fallback_harness.deliver_outbox()
    [page] = fallback_harness.fake.messages_to(SERGIO)
    assert "is the line down?" in page.body
    kinds = [d.kind for d in await fallback_harness.decisions()]
    assert "conversation_opened" in kinds and "handler_error" not in kinds


async def test_a_call_signed_over_the_fallback_address_rings_the_first_tier(fallback_harness):
    params = incoming_call_params("CAfallback")
    response = await fallback_harness.twilio.post(
        "/voice/incoming", params + error_params("/voice/incoming"),
        signed_url=f"{FALLBACK_BASE_URL}/voice/incoming#ct=2000&rt=15000&tt=15000&rc=3&rp=ct,5xx")
    assert response.status == 200
    dial = response.twiml.find("Dial")
    assert dial is not None and [n.text for n in dial.iter("Number")] == [SERGIO]
    # Its callbacks go to the address this instance is configured with.
    assert dial.get("action").startswith("https://ivr.example.com/")


async def test_with_a_fallback_address_a_forged_signature_is_still_refused(fallback_harness):
    twilio = fallback_harness.twilio
    params = twilio.sms_params(from_=CUSTOMER, to=LINE, body="secret plans",
                               message_sid="SMforged")
    fallback_url = f"{FALLBACK_BASE_URL}/sms/incoming"
    for forged in [{"signed_url": fallback_url, "token": "not-our-token"},
                   {"signed_url": "https://ivr-c.example.com/sms/incoming"},
                   {"signed_url": fallback_url + "#rc=5&rp=all"},
                   {"signature": sign(AUTH_TOKEN, fallback_url, params)},   # without ErrorCode
                   {"signature": ""}]:
        response = await twilio.post("/sms/incoming", params + error_params("/sms/incoming"),
                                     **forged)
        assert response.status == 403, forged
    await nothing_stored(fallback_harness)
