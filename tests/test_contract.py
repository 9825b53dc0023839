"""The REST calls the service makes, checked against Twilio's own OpenAPI
description (shared/twilio-oai) served by Prism, and against the rules the
description leaves out (twilio_rules).

Every request goes through the real twilio-python client, rebased as the
gateway rebases it, to a recording proxy (tests/prism.py) that forwards it
unchanged to Prism and keeps the form, so each test asserts three things:
Prism accepted it (2xx, no violation about the request), the form is what
the service means to send, and twilio_rules finds nothing wrong with it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from ivr.admin import wanted_webhooks
from ivr.app import create_app
from ivr.clock import FrozenClock
from ivr.config import load_config
from ivr.gateway import SendError, TwilioGateway, _RebasedHttpClient
from ivr.secrets import DEFAULT_API_BASE, Secrets
from ivr.store.outbox import _STATUS_ORDER

from .support.driver import TwilioDriver
from .support.fake_twilio import ACCOUNT_SID, API_KEY, API_SECRET
from .support.harness import AUTH_TOKEN, CUSTOMER, EXAMPLE_CONFIG, LINE, PUBLIC_BASE_URL, SERGIO
from .support.prism import (  # noqa: F401
    SPEC,
    PrismServer,
    RecordingProxy,
    _stop,
    prism,
    spec_for_prism,
    start_prism,
    strip_encodings,
    with_explicit_array_encoding,
)
from .support.twilio_rules import call_problems, incoming_number_problems, message_problems

STATUS_CALLBACK = f"{PUBLIC_BASE_URL}/sms/status"
NUMBER_SID = "PN" + "0" * 31 + "3"
MEDIA = [
    f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'1' * 32}/Media/ME{'1' * 32}",
    "https://ivr-media.example.com/bin/overflow.jpg",
]
MESSAGES = "/Messages.json"
CALLS = "/Calls.json"
NUMBERS = "/IncomingPhoneNumbers.json"


def secrets_for(api_base: str) -> Secrets:
    return Secrets(auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID, api_key=API_KEY,
                   api_secret=API_SECRET, api_base=api_base, public_base_url=PUBLIC_BASE_URL)


@pytest.fixture
async def proxy(prism: PrismServer):  # noqa: F811 (the fixture imported from prism)
    recorder = await RecordingProxy(prism.url).start()
    yield recorder
    await recorder.stop()


@pytest.fixture
async def gateway(proxy: RecordingProxy):
    gateway = TwilioGateway(secrets_for(proxy.url))
    await gateway.start()
    yield gateway
    await gateway.close()


@pytest.fixture
async def client(proxy: RecordingProxy):
    """twilio-python's client as `ivr twilio configure` will build it: the
    gateway's rebasing http client, so requests reach the proxy."""
    http = _RebasedHttpClient(proxy.url, timeout=10)
    yield Client(API_KEY, API_SECRET, ACCOUNT_SID, http_client=http)
    await http.close()


def accepted(exchange) -> None:
    assert 200 <= exchange.status < 300, (exchange.status, exchange.response)
    assert exchange.request_violations == [], exchange.request_violations


async def raw_post(client: Client, path: str, data: dict) -> tuple[int, dict]:
    """A POST the gateway's API cannot make (to prove Prism refuses it)."""
    response = await client.request_async(
        "POST", f"{DEFAULT_API_BASE}/2010-04-01/Accounts/{ACCOUNT_SID}{path}", data=data)
    return response.status_code, json.loads(response.text)


# -- messages, through the gateway ---------------------------------------------

async def test_a_plain_sms_with_a_status_callback(gateway, proxy):
    result = await gateway.send_sms(to=CUSTOMER, from_=LINE, body="Sergio is on it",
                                    status_callback=STATUS_CALLBACK)
    exchange = proxy.only("POST", MESSAGES)
    accepted(exchange)
    assert exchange.status == 201
    assert exchange.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert exchange.content_type == "application/x-www-form-urlencoded"
    assert exchange.form == {"To": [CUSTOMER], "From": [LINE], "Body": ["Sergio is on it"],
                             "StatusCallback": [STATUS_CALLBACK]}
    assert message_problems(exchange.form) == []
    assert exchange.response_violations == []
    # Prism answers Twilio's example, not an echo: the gateway parsed it.
    assert result.sid.startswith("SM") and len(result.sid) == 34
    assert result.status == "queued"


async def test_an_mms_with_two_media_urls(gateway, proxy):
    await gateway.send_sms(to=SERGIO, from_=LINE, body="[QDN #1] photo attached",
                           media_urls=MEDIA, status_callback=STATUS_CALLBACK)
    exchange = proxy.only("POST", MESSAGES)
    accepted(exchange)
    assert exchange.form["MediaUrl"] == MEDIA
    # as Twilio documents it: the key repeated, no [] suffix, no comma list
    assert exchange.raw_body.count("MediaUrl=") == 2 and "MediaUrl%5B%5D" not in exchange.raw_body
    assert message_problems(exchange.form) == []


async def test_a_body_of_1600_characters_the_most_twilio_takes(gateway, proxy):
    body = ("Grüße 🚛 " * 200)[:1600]
    assert len(body) == 1600
    await gateway.send_sms(to=CUSTOMER, from_=LINE, body=body, status_callback=STATUS_CALLBACK)
    exchange = proxy.only("POST", MESSAGES)
    accepted(exchange)
    assert exchange.form["Body"] == [body]
    assert message_problems(exchange.form) == []


async def test_a_text_the_app_forwards_end_to_end(config, proxy):
    """The real app: a customer's MMS is forwarded by the outbox worker."""
    app = create_app(config, secrets_for(proxy.url), clock=FrozenClock(), background=False)
    async with app.test_app() as test_app:
        driver = TwilioDriver(test_app.test_client(), AUTH_TOKEN, PUBLIC_BASE_URL)
        response = await driver.text(from_=CUSTOMER, to=LINE, body="The bin is full " * 5,
                                     media=[(MEDIA[0], "image/jpeg")])
        assert response.status == 200
        assert await app.extensions["ivr"].outbox.drain() >= 1
    sent = proxy.to("POST", MESSAGES)
    assert sent, proxy.exchanges
    for exchange in sent:
        accepted(exchange)
        assert exchange.form["StatusCallback"] == [STATUS_CALLBACK]
        assert message_problems(exchange.form) == []
    assert [e.form.get("MediaUrl") for e in sent if "MediaUrl" in e.form] == [[MEDIA[0]]]


# -- through a Messaging Service (issue 17) ----------------------------------------

SERVICE = "MG" + "0123456789abcdef" * 2


async def test_a_send_through_a_messaging_service(gateway, proxy):
    """MessagingServiceSid instead of From: the description takes it (To is
    its only required field; MessagingServiceSid "^MG[0-9a-fA-F]{32}$"),
    the rules' either/or From or MessagingServiceSid holds."""
    result = await gateway.send_sms(to=CUSTOMER, from_=LINE, body="Sergio is on it",
                                    status_callback=STATUS_CALLBACK, messaging_service=SERVICE)
    exchange = proxy.only("POST", MESSAGES)
    accepted(exchange)
    assert exchange.status == 201
    assert exchange.form == {"To": [CUSTOMER], "MessagingServiceSid": [SERVICE],
                             "Body": ["Sergio is on it"], "StatusCallback": [STATUS_CALLBACK]}
    assert message_problems(exchange.form) == []
    assert exchange.response_violations == []
    assert result.sid.startswith("SM") and len(result.sid) == 34


def test_accepted_is_a_message_status_twilio_documents():
    """What a send through a service is answered with (`accepted`) and the
    statuses ivr ranks are the description's own."""
    spec = json.loads(SPEC.read_text("utf-8")) if SPEC.is_file() else None
    if spec is None:
        pytest.skip(f"Twilio's OpenAPI description is missing at {SPEC}")
    statuses = spec["components"]["schemas"]["message_enum_status"]["enum"]
    assert "accepted" in statuses
    assert set(_STATUS_ORDER) <= set(statuses)


async def test_finding_a_send_through_a_service_lists_by_to_only(gateway, proxy):
    await gateway.find_sent(to=SERGIO, from_=LINE, body="page", messaging_service=SERVICE,
                            since=datetime(2026, 11, 22, 18, tzinfo=timezone.utc))
    exchange = proxy.only("GET", MESSAGES)
    accepted(exchange)
    assert exchange.query["To"] == [SERGIO] and "From" not in exchange.query


async def test_a_messaging_service_line_sends_through_it_end_to_end(database, tmp_path, proxy):
    path = tmp_path / "ivr.toml"
    path.write_text(EXAMPLE_CONFIG.read_text().replace(
        'code = "QDN"', f'code = "QDN"\nmessaging_service = "{SERVICE}"', 1))
    config = load_config(path, database_override=database)
    app = create_app(config, secrets_for(proxy.url), clock=FrozenClock(), background=False)
    async with app.test_app() as test_app:
        driver = TwilioDriver(test_app.test_client(), AUTH_TOKEN, PUBLIC_BASE_URL)
        response = await driver.text(from_=CUSTOMER, to=LINE, body="The bin is full")
        assert response.status == 200
        assert await app.extensions["ivr"].outbox.drain() >= 1
    sent = proxy.to("POST", MESSAGES)
    assert sent, proxy.exchanges
    for exchange in sent:
        accepted(exchange)
        assert exchange.form["MessagingServiceSid"] == [SERVICE] and "From" not in exchange.form
        assert message_problems(exchange.form) == []


async def test_prism_refuses_a_malformed_messaging_service_sid(client, proxy):
    status, problem = await raw_post(client, MESSAGES, {
        "To": CUSTOMER, "MessagingServiceSid": "MG123", "Body": "hi"})
    assert status == 422
    assert any("MessagingServiceSid" in v["message"] for v in problem["validation"]), problem


# -- Prism has teeth -------------------------------------------------------------

async def test_prism_refuses_a_message_without_to(client, proxy):
    status, problem = await raw_post(client, MESSAGES, {"From": LINE, "Body": "hello"})
    assert status == 422
    assert [v["message"] for v in problem["validation"]] == [
        "Request body must have required property 'To'"]
    assert proxy.only("POST", MESSAGES).request_violations


async def test_the_gateway_reports_a_refused_send_as_not_retryable(gateway, proxy):
    with pytest.raises(SendError) as refused:
        await gateway.send_sms(to=CUSTOMER, from_=LINE, body="hi", status_callback="sms/status")
    assert refused.value.http_status == 422 and refused.value.retryable is False
    assert proxy.only("POST", MESSAGES).request_violations == [
        'Request body property StatusCallback must match format "uri"']


async def test_prism_refuses_a_malformed_account_sid(proxy):
    gateway = TwilioGateway(Secrets(account_sid="AC123", api_key=API_KEY, api_secret=API_SECRET,
                                    auth_token=AUTH_TOKEN, api_base=proxy.url))
    try:
        with pytest.raises(SendError) as refused:
            await gateway.send_sms(to=CUSTOMER, from_=LINE, body="hi")
    finally:
        await gateway.close()
    assert refused.value.http_status == 422
    assert any("accountsid" in v for v in proxy.only("POST", MESSAGES).request_violations)


async def test_what_prism_lets_through_and_the_rules_catch(client, proxy):
    """Twilio refuses each of these; its description (so Prism) does not."""
    cases = {
        "no From": {"To": CUSTOMER, "Body": "hi"},
        "neither Body nor MediaUrl": {"To": CUSTOMER, "From": LINE},
        "1601 characters": {"To": CUSTOMER, "From": LINE, "Body": "x" * 1601},
        "ftp StatusCallback": {"To": CUSTOMER, "From": LINE, "Body": "hi",
                               "StatusCallback": "ftp://ivr.example.com/sms/status"},
        "empty To": {"To": "", "From": LINE, "Body": "hi"},
    }
    for name, data in cases.items():
        status, _ = await raw_post(client, MESSAGES, data)
        assert status == 201, name
        assert message_problems({k: [v] for k, v in data.items()}), name
    eleven = {"To": CUSTOMER, "From": LINE,
              "MediaUrl": [f"https://ivr-media.example.com/{i}.jpg" for i in range(11)]}
    status, _ = await raw_post(client, MESSAGES, eleven)
    assert status == 201
    assert proxy.exchanges[-1].form["MediaUrl"] == eleven["MediaUrl"]
    assert message_problems(proxy.exchanges[-1].form) == ["11 MediaUrl given; Twilio takes at most 10"]


async def test_prism_checks_only_the_last_of_repeated_media_urls(client, proxy):
    status, _ = await raw_post(client, MESSAGES, {
        "To": CUSTOMER, "From": LINE, "MediaUrl": ["not a url", "https://e.example.com/1.jpg"]})
    assert status == 201
    assert message_problems(proxy.exchanges[-1].form) == [
        "MediaUrl must be an absolute http(s) URL, got 'not a url'"]
    status, _ = await raw_post(client, MESSAGES, {
        "To": CUSTOMER, "From": LINE, "MediaUrl": ["https://e.example.com/1.jpg", "not a url"]})
    assert status == 422


# -- calls and IncomingPhoneNumbers (issue 6: `ivr twilio configure`) ------------

async def test_a_call_with_a_url(client, proxy):
    call = await client.calls.create_async(to=SERGIO, from_=LINE,
                                           url=f"{PUBLIC_BASE_URL}/voice/outbound")
    exchange = proxy.only("POST", CALLS)
    accepted(exchange)
    assert exchange.status == 201
    assert exchange.form == {"To": [SERGIO], "From": [LINE],
                             "Url": [f"{PUBLIC_BASE_URL}/voice/outbound"]}
    assert call_problems(exchange.form) == []
    assert exchange.response_violations == []
    assert call.sid.startswith("CA")


async def test_a_call_with_twiml(client, proxy):
    twiml = "<Response><Say>Call for Quick Dump Now.</Say></Response>"
    await client.calls.create_async(to=SERGIO, from_=LINE, twiml=twiml)
    exchange = proxy.only("POST", CALLS)
    accepted(exchange)
    assert exchange.form["Twiml"] == [twiml]
    assert call_problems(exchange.form) == []


async def test_prism_takes_a_call_with_no_twiml_source_the_rules_do_not(client, proxy):
    status, _ = await raw_post(client, CALLS, {"To": SERGIO, "From": LINE})
    assert status == 201
    assert call_problems(proxy.exchanges[-1].form) == [
        "exactly one of Url, Twiml or ApplicationSid is required, got none"]
    status, problem = await raw_post(client, CALLS, {"To": SERGIO, "Url": "https://e.example.com/"})
    assert status == 422
    assert [v["message"] for v in problem["validation"]] == [
        "Request body must have required property 'From'"]


async def test_listing_incoming_phone_numbers_by_number(client, proxy):
    numbers = await client.incoming_phone_numbers.list_async(phone_number=LINE)
    exchange = proxy.only("GET", NUMBERS)
    accepted(exchange)
    assert exchange.query["PhoneNumber"] == [LINE]
    assert exchange.query.get("PageSize") in (None, ["50"])
    assert [n.sid for n in numbers] == ["PN" + "a" * 32]
    # Twilio's own example breaks its own response schema; recorded, not ours.
    assert exchange.response_violations


async def test_updating_an_incoming_phone_numbers_webhooks(client, proxy):
    number = await client.incoming_phone_numbers(NUMBER_SID).update_async(
        voice_url=f"{PUBLIC_BASE_URL}/voice/incoming", voice_method="POST",
        sms_url=f"{PUBLIC_BASE_URL}/sms/incoming", sms_method="POST",
        status_callback=f"{PUBLIC_BASE_URL}/voice/status")
    exchange = proxy.only("POST", f"/IncomingPhoneNumbers/{NUMBER_SID}.json")
    accepted(exchange)
    assert exchange.status == 200
    assert exchange.form == {
        "VoiceUrl": [f"{PUBLIC_BASE_URL}/voice/incoming"], "VoiceMethod": ["POST"],
        "SmsUrl": [f"{PUBLIC_BASE_URL}/sms/incoming"], "SmsMethod": ["POST"],
        "StatusCallback": [f"{PUBLIC_BASE_URL}/voice/status"]}
    assert incoming_number_problems(exchange.form) == []
    assert number.sid.startswith("PN")


async def test_the_fallback_urls_and_connection_overrides_configure_sets(proxy):
    """`ivr twilio configure`'s update, as the gateway sends it, with the
    second address as the fallback: Prism takes the parameters' names and
    URIs (fragment included), the rules the overrides' documented ranges."""
    gateway = TwilioGateway(Secrets(auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID,
                                    api_base=proxy.url), admin=True)
    wanted = wanted_webhooks(PUBLIC_BASE_URL, "https://ivr-b.example.com")
    try:
        await gateway.set_number_webhooks(
            NUMBER_SID, voice_url=wanted["voice_url"], sms_url=wanted["sms_url"],
            status_callback=wanted["status_callback"],
            voice_fallback_url=wanted["voice_fallback_url"],
            sms_fallback_url=wanted["sms_fallback_url"])
    finally:
        await gateway.close()
    exchange = proxy.only("POST", f"/IncomingPhoneNumbers/{NUMBER_SID}.json")
    accepted(exchange)
    overrides = "#ct=2000&rt=15000&tt=15000&rc=3&rp=ct,5xx"
    assert exchange.form["VoiceFallbackUrl"] == [
        f"https://ivr-b.example.com/voice/incoming{overrides}"]
    assert exchange.form["SmsFallbackUrl"] == [f"https://ivr-b.example.com/sms/incoming{overrides}"]
    assert exchange.form["VoiceFallbackMethod"] == exchange.form["SmsFallbackMethod"] == ["POST"]
    assert exchange.form["VoiceUrl"] == [f"{PUBLIC_BASE_URL}/voice/incoming{overrides}"]
    assert incoming_number_problems(exchange.form) == []


async def test_prism_refuses_a_bad_method_or_number_sid(client, proxy):
    with pytest.raises(TwilioRestException) as refused:
        await client.incoming_phone_numbers(NUMBER_SID).update_async(voice_method="PUT")
    assert refused.value.status == 422
    with pytest.raises(TwilioRestException) as refused:
        await client.incoming_phone_numbers("+16195550100").update_async(voice_method="POST")
    assert refused.value.status == 422
    assert all(e.request_violations for e in proxy.exchanges)


# -- the description as Prism reads it --------------------------------------------

def test_the_copy_for_prism_only_spells_out_array_encodings(tmp_path):
    original = json.loads(SPEC.read_text("utf-8"))
    copy = json.loads(spec_for_prism(tmp_path).read_text("utf-8"))
    assert strip_encodings(copy) == original
    changed = with_explicit_array_encoding(json.loads(SPEC.read_text("utf-8")))
    assert "POST /2010-04-01/Accounts/{AccountSid}/Messages.json: PersistentAction, MediaUrl" in changed
    media = copy["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"][
        "requestBody"]["content"]["application/x-www-form-urlencoded"]["encoding"]["MediaUrl"]
    assert media == {"style": "form", "explode": True}


async def test_prism_on_the_description_as_published_refuses_repeated_media_urls(tmp_path):
    """Why spec_for_prism exists (stoplightio/prism#2473). If a Prism upgrade
    makes this fail, Prism reads repeated keys itself: drop the copy."""
    server = start_prism(SPEC, tmp_path)
    recorder = await RecordingProxy(server.url).start()
    gateway = TwilioGateway(secrets_for(recorder.url))
    try:
        with pytest.raises(SendError) as refused:
            await gateway.send_sms(to=SERGIO, from_=LINE, body="photo", media_urls=MEDIA)
        assert refused.value.http_status == 422
        assert recorder.only("POST", MESSAGES).request_violations == [
            "Request body property MediaUrl must be array"]
        await gateway.send_sms(to=SERGIO, from_=LINE, body="no photo")
    finally:
        await gateway.close()
        await recorder.stop()
        _stop(server.process)


# -- the rules themselves -----------------------------------------------------------

def form(**fields) -> dict[str, list[str]]:
    return {name: value if isinstance(value, list) else [value] for name, value in fields.items()}


GOOD_MESSAGES = [
    form(To=CUSTOMER, From=LINE, Body="hi"),
    form(To=CUSTOMER, From=LINE, Body="hi", StatusCallback=STATUS_CALLBACK),
    form(To=CUSTOMER, From=LINE, MediaUrl=MEDIA),
    form(To=CUSTOMER, From=LINE, Body="", MediaUrl=MEDIA[:1]),
    form(To=CUSTOMER, MessagingServiceSid="MG" + "0" * 32, Body="hi"),
    form(To=CUSTOMER, From=LINE, MessagingServiceSid="MG" + "0" * 32, Body="hi"),
    form(To=CUSTOMER, From=LINE, Body="x" * 1600),
    form(To=CUSTOMER, From=LINE, MediaUrl=[f"https://e.example.com/{i}" for i in range(10)]),
    form(To=CUSTOMER, From=LINE, Body="hi", StatusCallback="http://127.0.0.1:8080/sms/status"),
]

BAD_MESSAGES = [
    (form(From=LINE, Body="hi"), "To is required"),
    (form(To=CUSTOMER, Body="hi"), "one of From or MessagingServiceSid is required"),
    (form(To=CUSTOMER, From="", Body="hi"), "one of From or MessagingServiceSid is required"),
    (form(To=CUSTOMER, From=LINE), "one of Body or MediaUrl is required"),
    (form(To=CUSTOMER, From=LINE, Body=""), "one of Body or MediaUrl is required"),
    (form(To=CUSTOMER, From=LINE, MediaUrl=[f"https://e.example.com/{i}" for i in range(11)]),
     "11 MediaUrl given; Twilio takes at most 10"),
    (form(To=CUSTOMER, From=LINE, Body="x" * 1601), "Body has 1601 characters; Twilio takes at most 1600"),
    (form(To=CUSTOMER, From=LINE, Body="hi", StatusCallback="/sms/status"),
     "StatusCallback must be an absolute http(s) URL, got '/sms/status'"),
    (form(To=CUSTOMER, From=LINE, Body="hi", StatusCallback="ftp://ivr.example.com/s"),
     "StatusCallback must be an absolute http(s) URL, got 'ftp://ivr.example.com/s'"),
    (form(To=CUSTOMER, From=LINE, Body="hi", StatusCallback="https://ivr_1.example.com/s"),
     "StatusCallback's host name must not contain an underscore, got 'https://ivr_1.example.com/s'"),
    (form(To=CUSTOMER, From=LINE, MediaUrl=["photo.jpg"]),
     "MediaUrl must be an absolute http(s) URL, got 'photo.jpg'"),
    (form(To=CUSTOMER, From=LINE, Body=["a", "b"]), "Body is given 2 times; Twilio takes one"),
    (form(To=CUSTOMER, From=LINE, Body="hi", status_callback=STATUS_CALLBACK),
     "'status_callback' is not a Twilio parameter name"),
]

GOOD_CALLS = [
    form(To=SERGIO, From=LINE, Url=f"{PUBLIC_BASE_URL}/voice/outbound"),
    form(To=SERGIO, From=LINE, Twiml="<Response><Hangup/></Response>"),
    form(To=SERGIO, From=LINE, ApplicationSid="AP" + "0" * 32),
    form(To=SERGIO, From=LINE, Url=f"{PUBLIC_BASE_URL}/v", StatusCallback=f"{PUBLIC_BASE_URL}/s"),
    form(To=SERGIO, From=LINE, Twiml="<Response>" + " " * 3979 + "</Response>"),
]

BAD_CALLS = [
    (form(To=SERGIO, From=LINE), "exactly one of Url, Twiml or ApplicationSid is required, got none"),
    (form(To=SERGIO, From=LINE, Url=f"{PUBLIC_BASE_URL}/v", Twiml="<Response/>"),
     "exactly one of Url, Twiml or ApplicationSid is required, got Url, Twiml"),
    (form(To=SERGIO, From=LINE, Url="", Twiml=""),
     "exactly one of Url, Twiml or ApplicationSid is required, got none"),
    (form(From=LINE, Url=f"{PUBLIC_BASE_URL}/v"), "To is required"),
    (form(To=SERGIO, Url=f"{PUBLIC_BASE_URL}/v"), "From is required"),
    (form(To=SERGIO, From=LINE, Url="/voice/outbound"),
     "Url must be an absolute http(s) URL, got '/voice/outbound'"),
    (form(To=SERGIO, From=LINE, Url=f"{PUBLIC_BASE_URL}/v", StatusCallback="mailto:x@example.com"),
     "StatusCallback must be an absolute http(s) URL, got 'mailto:x@example.com'"),
    (form(To=SERGIO, From=LINE, Twiml="<Response>" + " " * 3980 + "</Response>"),
     "Twiml has 4001 characters; Twilio takes at most 4000"),
]

GOOD_NUMBERS = [
    form(VoiceUrl=f"{PUBLIC_BASE_URL}/voice/incoming", VoiceMethod="POST",
         SmsUrl=f"{PUBLIC_BASE_URL}/sms/incoming", SmsMethod="POST",
         StatusCallback=f"{PUBLIC_BASE_URL}/voice/status"),
    form(SmsUrl=f"{PUBLIC_BASE_URL}/sms/incoming"),
    form(),
    form(VoiceUrl=f"{PUBLIC_BASE_URL}/voice/incoming#ct=2000&rt=15000&tt=15000&rc=3&rp=ct,5xx",
         VoiceFallbackUrl="https://ivr-b.example.com/voice/incoming#rc=0&e=ashburn&sni=y",
         VoiceFallbackMethod="POST"),
    form(SmsUrl=f"{PUBLIC_BASE_URL}/sms/incoming#rp=all",
         SmsFallbackUrl="https://ivr-b.example.com/sms/incoming"),
]

BAD_NUMBERS = [
    (form(VoiceUrl="ftp://ivr.example.com/voice"),
     "VoiceUrl must be an absolute http(s) URL, got 'ftp://ivr.example.com/voice'"),
    (form(SmsUrl=f"{PUBLIC_BASE_URL}/sms/incoming", SmsMethod="GET"),
     "SmsUrl is set with SmsMethod ['GET']; the service answers POST only"),
    (form(StatusCallbackMethod="PUT"), "StatusCallbackMethod must be GET or POST, got 'PUT'"),
    (form(VoiceUrl=f"{PUBLIC_BASE_URL}/voice/incoming#rc=6"),
     "VoiceUrl's override rc=6 is not within 0-5"),
    (form(SmsFallbackUrl=f"{PUBLIC_BASE_URL}/sms/incoming#tt=20000"),
     "SmsFallbackUrl's override tt=20000 is not within 100-15000"),
    (form(StatusCallback=f"{PUBLIC_BASE_URL}/voice/status#rp=ct,timeout"),
     ("StatusCallback's override rp=ct,timeout names ['timeout']; Twilio knows "
      "['4xx', '5xx', 'all', 'ct', 'rt']")),
    (form(VoiceUrl=f"{PUBLIC_BASE_URL}/voice/incoming#retries=3"),
     "VoiceUrl's fragment has 'retries', which is no connection override"),
    (form(VoiceFallbackUrl=f"{PUBLIC_BASE_URL}/voice/incoming", VoiceFallbackMethod="GET"),
     "VoiceFallbackUrl is set with VoiceFallbackMethod ['GET']; the service answers POST only"),
]


@pytest.mark.parametrize("good", GOOD_MESSAGES)
def test_message_rules_take(good):
    assert message_problems(good) == []


@pytest.mark.parametrize(("bad", "problem"), BAD_MESSAGES)
def test_message_rules_refuse(bad, problem):
    assert message_problems(bad) == [problem]


@pytest.mark.parametrize("good", GOOD_CALLS)
def test_call_rules_take(good):
    assert call_problems(good) == []


@pytest.mark.parametrize(("bad", "problem"), BAD_CALLS)
def test_call_rules_refuse(bad, problem):
    assert call_problems(bad) == [problem]


@pytest.mark.parametrize("good", GOOD_NUMBERS)
def test_incoming_number_rules_take(good):
    assert incoming_number_problems(good) == []


@pytest.mark.parametrize(("bad", "problem"), BAD_NUMBERS)
def test_incoming_number_rules_refuse(bad, problem):
    assert incoming_number_problems(bad) == [problem]
