"""A signature counts only for a URL Twilio could have requested for the
configured public URL: its port as configured, and the host without a port
only when that port is the scheme's default (https://host:443 is https://host).

twilio-python's RequestValidator.validate also accepts the URL with any port
stripped, so a signature over http://host/... passed for a service whose
public URL is http://host:8080."""

import pytest
from werkzeug.datastructures import MultiDict

from ivr.app import create_app
from ivr.webhooks import SignatureChecker

from .support.driver import TwilioDriver, sign
from .support.harness import AUTH_TOKEN, CUSTOMER, LINE, PREVIOUS_TOKEN, secrets_for

PARAMS = {"MessageSid": "SM" + "1" * 32, "From": CUSTOMER, "To": LINE, "Body": "port?"}


@pytest.mark.parametrize("configured, signed, accepted", [
    # A port that is not the scheme's default is part of the URL Twilio requests.
    ("http://ivr.example.com:8080", "http://ivr.example.com:8080", True),
    ("http://ivr.example.com:8080", "http://ivr.example.com", False),
    ("http://ivr.example.com:8080", "http://ivr.example.com:80", False),
    ("https://ivr.example.com:8443", "https://ivr.example.com", False),
    ("https://ivr.example.com:8443", "https://ivr.example.com:443", False),
    ("http://127.0.0.1:8080", "http://127.0.0.1", False),
    ("https://ivr.example.com", "https://ivr.example.com:8443", False),
    # The default port may be written or left out, either way round.
    ("https://ivr.example.com:443", "https://ivr.example.com", True),
    ("https://ivr.example.com", "https://ivr.example.com:443", True),
    ("http://ivr.example.com:80", "http://ivr.example.com", True),
    ("http://ivr.example.com", "http://ivr.example.com:80", True),
    ("https://ivr.example.com:443/ivr", "https://ivr.example.com/ivr", True),
    # ...but only the scheme's own default.
    ("https://ivr.example.com", "https://ivr.example.com:80", False),
    ("http://ivr.example.com", "http://ivr.example.com:443", False),
    ("https://ivr.example.com", "http://ivr.example.com", False),
])
@pytest.mark.parametrize("token", [AUTH_TOKEN, PREVIOUS_TOKEN])
def test_only_the_configured_port_or_the_schemes_default_counts(configured, signed, accepted,
                                                                 token):
    checker = SignatureChecker((AUTH_TOKEN, PREVIOUS_TOKEN), configured)
    path = configured.partition("//")[2].partition("/")[2]
    url = checker.url_for(("/" + path if path else "") + "/sms/incoming", b"line=qdn")
    signature = sign(token, signed + url[len(checker.public_base_url):], PARAMS)
    assert checker.valid(url, MultiDict(PARAMS), signature) is accepted


@pytest.fixture
def app_at(config, fake_twilio):
    """A test client of the app whose IVR_PUBLIC_BASE_URL is `base`."""
    def build(base: str):
        return create_app(config, secrets_for(fake_twilio, public_base_url=base),
                          background=False)
    return build


async def nothing_stored(svc) -> None:
    assert await svc.store.read(lambda tx: tx.recent_decisions(limit=100)) == []
    assert await svc.store.read(lambda tx: tx.outbox_rows()) == []
    assert await svc.store.read(lambda tx: tx.inbound_reply(PARAMS["MessageSid"])) is None


async def test_a_signature_without_the_configured_port_is_refused(app_at, caplog):
    app = app_at("http://ivr.example.com:8080")
    async with app.test_app() as test_app:
        svc = app.extensions["ivr"]
        twilio = TwilioDriver(test_app.test_client(), AUTH_TOKEN, "http://ivr.example.com:8080")
        params = twilio.sms_params(from_=CUSTOMER, to=LINE, body="port stripped",
                                   message_sid=PARAMS["MessageSid"])
        for token in (AUTH_TOKEN, PREVIOUS_TOKEN):
            refused = await twilio.post("/sms/incoming", params, token=token,
                                        signed_url="http://ivr.example.com/sms/incoming")
            assert refused.status == 403
        assert "port stripped" not in caplog.text
        await nothing_stored(svc)
        assert await svc.outbox.drain() == 0

        accepted = await twilio.post("/sms/incoming", params)
        assert accepted.status == 200 and accepted.messages()


@pytest.mark.parametrize("configured, signed", [
    ("https://ivr.example.com:443", "https://ivr.example.com"),
    ("https://ivr.example.com", "https://ivr.example.com:443"),
])
async def test_the_default_port_is_the_same_url_either_way(app_at, configured, signed):
    app = app_at(configured)
    async with app.test_app() as test_app:
        twilio = TwilioDriver(test_app.test_client(), AUTH_TOKEN, configured)
        for token, customer in ((AUTH_TOKEN, CUSTOMER), (PREVIOUS_TOKEN, "+16195550143")):
            response = await twilio.post(
                "/sms/incoming", twilio.sms_params(from_=customer, to=LINE, body="default"),
                token=token, signed_url=signed + "/sms/incoming")
            assert response.status == 200 and response.messages()
