"""Messaging Services (issue 17, item 5): a line that names one sends every
text through it (MessagingServiceSid, no From), Twilio answers `accepted`
and reports the sender it picked in the status callbacks; delivery tracking,
escalation and the relay work as they do from a number. `ivr check` and
`ivr twilio configure` read the services holding the lines' numbers and say
what to change when their 'Incoming messages' setting bypasses ivr."""

from __future__ import annotations

import io

import pytest

from ivr.config import ConfigError, load_config, parse_config
from ivr.gateway import TwilioGateway
from ivr.local_twilio import LOCAL_ACCOUNT_SID, LOCAL_API_KEY, LocalTwilio
from ivr.messaging_services import MessagingService, findings, reaches_ivr
from ivr.outbox import LEASE
from ivr.secrets import Secrets

from .support import cli
from .support.fake_twilio import ACCOUNT_SID
from .support.harness import (
    AUTH_TOKEN,
    BACKUP,
    CUSTOMER,
    EXAMPLE_CONFIG,
    LINE,
    SERGIO,
    open_harness,
)
from .test_config import with_change

SERVICE = "MG" + "0123456789abcdef" * 2
SMS_URL = "https://ivr.example.com/sms/incoming"
OVERRIDES = "#ct=2000&rt=15000&tt=15000&rc=3&rp=ct,5xx"
clean_env = cli.clean_env   # the fixture
run = cli.run


def service_config_text(service: str = SERVICE) -> str:
    return EXAMPLE_CONFIG.read_text().replace(
        'code = "QDN"', f'code = "QDN"\nmessaging_service = "{service}"', 1)


@pytest.fixture
def service_config(database, tmp_path):
    path = tmp_path / "ivr.toml"
    path.write_text(service_config_text())
    return load_config(path, database_override=database)


# -- the config key ---------------------------------------------------------------

def test_a_line_may_name_a_messaging_service():
    config = parse_config(with_change("lines.qdn.messaging_service", f" {SERVICE} "))
    assert config.lines["qdn"].messaging_service == SERVICE
    assert parse_config(with_change("lines.qdn.name", "QDN")).lines["qdn"].messaging_service \
        is None


@pytest.mark.parametrize("value", [
    "MG0123",                                   # too short
    "mg" + "0123456789abcdef" * 2,              # Twilio's prefix is upper case
    "PN" + "0123456789abcdef" * 2,              # a phone number's SID
    "MG" + "0123456789abcdeg" * 2,              # not hex
    "MG" + "0123456789abcdef" * 2 + "0",        # 35 characters
    12345, "",
])
def test_a_bad_messaging_service_names_the_file_key_and_fix(value):
    with pytest.raises(ConfigError) as bad:
        parse_config(with_change("lines.qdn.messaging_service", value), "ivr.toml")
    text = str(bad.value)
    assert text.startswith("ivr.toml: lines.qdn.messaging_service: ")
    assert "is not a Messaging Service SID (MG and 32 hex digits, 34 characters)" in text
    assert 'Fix: copy it from the Twilio Console, Messaging > Services' in text
    assert "\n" not in text


# -- a text conversation on a Messaging-Service line --------------------------------

def through_the_service(message) -> bool:
    return message.form.get("MessagingServiceSid") == [SERVICE] and "From" not in message.form


async def delivery(harness, sid: str) -> tuple[str | None, str | None]:
    [row] = [r for r in await harness.store.read(lambda tx: tx.outbox_rows())
             if r["message_sid"] == sid]
    return row["delivery_status"], row["error_code"]


@pytest.mark.both_engines
async def test_page_ack_and_relay_go_through_the_service(service_config, fake_twilio):
    fake_twilio.add_messaging_service([LINE], sid=SERVICE)
    async with open_harness(service_config, fake_twilio) as harness:
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Dumpster is full")
        await harness.deliver_outbox()
        [page] = harness.fake.messages_to(SERGIO)
        assert page.body.endswith("Dumpster is full - reply ACK to take it")
        # Twilio answered `accepted`: taken, not yet sent, and no failure.
        assert await delivery(harness, page.sid) == ("accepted", None)
        # The status callbacks bring the From Twilio picked from the pool.
        for status in ("queued", "sent", "delivered"):
            response = await harness.twilio.message_status(message_sid=page.sid, to=SERGIO,
                                                           from_=LINE, status=status)
            assert response.status == 200
        assert await delivery(harness, page.sid) == ("delivered", None)

        await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
        await harness.twilio.text(from_=SERGIO, to=LINE, body="On my way")
        harness.clock.advance(60)
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Thanks!")
        await harness.deliver_outbox()
        told = [m.body for m in harness.fake.messages_to(CUSTOMER)]
        assert "On my way" in told
        assert [m.body for m in harness.fake.messages_to(SERGIO)][-1] == (
            "[QDN #1] +1 619-555-0142: Thanks!")
        assert harness.fake.messages and all(through_the_service(m)
                                             for m in harness.fake.messages)
        assert all(m.from_ == LINE for m in harness.fake.messages)   # the pool's one number
        kinds = [d.kind for d in await harness.decisions()]
        assert "delivery_failed" not in kinds and "escalated" not in kinds
        assert {"acknowledged", "relayed_to_customer", "message_forwarded"} <= set(kinds)
        rows = await harness.store.read(lambda tx: tx.outbox_rows())
        assert {r["status"] for r in rows} == {"sent"}


@pytest.mark.both_engines
async def test_a_failed_page_through_the_service_escalates(service_config, fake_twilio):
    fake_twilio.add_messaging_service([LINE], sid=SERVICE)
    async with open_harness(service_config, fake_twilio) as harness:
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="Bin is on fire")
        await harness.deliver_outbox()
        [page] = harness.fake.messages_to(SERGIO)
        assert await delivery(harness, page.sid) == ("accepted", None)
        await harness.twilio.message_status(message_sid=page.sid, to=SERGIO, from_=LINE,
                                            status="undelivered", error_code="30007")
        await harness.deliver_outbox()
        assert await delivery(harness, page.sid) == ("undelivered", "30007")
        [backup_page] = harness.fake.messages_to(BACKUP)
        assert backup_page.body.endswith("Bin is on fire - reply ACK to take it")
        assert through_the_service(backup_page)
        [escalated] = [d for d in await harness.decisions() if d.kind == "escalated"]
        assert "undelivered (ErrorCode 30007)" in escalated.reason


# -- the rules: does a service keep texts from ivr? ---------------------------------

def service(numbers=(LINE,), url=None, defer=False, sid=SERVICE) -> MessagingService:
    return MessagingService(sid=sid, friendly_name="QDN texts", inbound_request_url=url,
                            use_inbound_webhook_on_number=defer, numbers=tuple(numbers))


@pytest.mark.parametrize("held, reaches", [
    (service(defer=True), True),
    (service(url=SMS_URL + OVERRIDES), True),
    (service(url=SMS_URL + "/"), True),
    (service(url="https://x.example.com/sms"), False),
    (service(url=None), False),     # Twilio drops incoming texts
])
def test_which_services_reach_ivr(held, reaches):
    assert reaches_ivr(held, SMS_URL) is reaches


def example_lines(service_sid: str | None = SERVICE):
    path_config = parse_config(with_change("lines.qdn.messaging_service", service_sid)
                               if service_sid else with_change("lines.qdn.name", "QDN"))
    return path_config.lines.values()


def test_a_number_in_a_service_that_sends_texts_elsewhere():
    # The line need not name the service: the number's own webhook is bypassed anyway.
    [found] = findings(example_lines(None), [service(url="https://x.example.com/sms")], SMS_URL)
    assert found.describe() == (
        "PROBLEM: qdn: the number +16195550100 is in Messaging Service "
        f"{SERVICE} (QDN texts); its 'Incoming messages' setting sends texts to "
        "https://x.example.com/sms, not ivr. Fix: in the Twilio Console (Messaging > Services "
        "> QDN texts > Integration) set 'Incoming messages' to 'Defer to sender's webhook', or "
        "run `ivr twilio configure --messaging-service-webhook`")
    assert found.fixable


def test_a_named_service_without_the_number_or_with_others_in_its_pool():
    [missing] = findings(example_lines(), [service(numbers=["+16195550111"], defer=True)],
                         SMS_URL)
    assert missing.problem and not missing.fixable
    assert "the number +16195550100 is not in Messaging Service" in missing.says
    [shared] = findings(example_lines(), [service(numbers=[LINE, "+16195550111"], defer=True)],
                        SMS_URL)
    assert not shared.problem and "also sends from +16195550111" in shared.says
    [unknown] = findings(example_lines(), [], SMS_URL)
    assert unknown.problem and "is not a Messaging Service of this account" in unknown.says
    assert findings(example_lines(), [service(defer=True)], SMS_URL) == []


# -- ivr check and ivr twilio configure ---------------------------------------------

def service_env(clean_env, tmp_path, url):
    path = tmp_path / "service.toml"
    path.write_text(service_config_text())
    for name, value in [("TWILIO_ACCOUNT_SID", ACCOUNT_SID), ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
                        ("TWILIO_API_BASE", url), ("IVR_PUBLIC_BASE_URL", "https://ivr.example.com"),
                        ("IVR_CONFIG", str(path))]:
        clean_env.setenv(name, value)


def test_check_and_configure_report_and_fix_a_service_that_bypasses_ivr(
        clean_env, fake_twilio_sync, tmp_path):
    fake, url = fake_twilio_sync
    fake.username, fake.password = ACCOUNT_SID, AUTH_TOKEN
    fake.add_number(LINE)
    fake.add_messaging_service([LINE], sid=SERVICE, inbound_request_url="https://x.example.com/sms")
    service_env(clean_env, tmp_path, url)
    bypass = (f"PROBLEM: qdn: the number {LINE} is in Messaging Service {SERVICE} (QDN texts); "
              "its 'Incoming messages' setting sends texts to https://x.example.com/sms, not "
              "ivr. Fix: in the Twilio Console")

    code, out, err = run("check")
    assert code == 1, err
    assert bypass in out and "--messaging-service-webhook --dry-run` shows the change" in out

    code, out, err = run("twilio", "configure", "--dry-run")
    assert code == 1 and bypass in err
    assert "or run `ivr twilio configure --messaging-service-webhook`" in err

    code, out, err = run("twilio", "configure", "--messaging-service-webhook", "--dry-run")
    assert code == 0, err
    assert (f"Messaging Service {SERVICE} (QDN texts): would set\n"
            "  use_inbound_webhook_on_number: false -> true ('Incoming messages': 'Defer to "
            "sender's webhook'; was https://x.example.com/sms)") in out
    assert fake.service_updates == [] and fake.number_updates == []

    code, out, err = run("twilio", "configure", "--messaging-service-webhook")
    assert code == 0, err
    assert f"Messaging Service {SERVICE} (QDN texts): setting" in out
    assert fake.service_updates == [(SERVICE, {"UseInboundWebhookOnNumber": ["true"]})]
    # The number's own SMS URL, which the service now defers to, is ivr's.
    [number] = fake.numbers.values()
    assert number["sms_url"] == f"{SMS_URL}{OVERRIDES}"

    code, out, err = run("twilio", "configure")
    assert code == 0 and "Messaging Service" not in out + err and "already set" in out
    code, out, err = run("check")
    assert code == 0, err
    assert (f"Messaging Service(s) {SERVICE}: OK - each line's number is in its pool, and "
            "incoming texts reach ivr") in out
    assert AUTH_TOKEN not in out + err


def test_check_names_a_line_whose_number_is_not_in_its_service(clean_env, fake_twilio_sync,
                                                                tmp_path):
    fake, url = fake_twilio_sync
    fake.username, fake.password = ACCOUNT_SID, AUTH_TOKEN
    fake.add_messaging_service(["+16195550111"], sid=SERVICE, use_inbound_webhook_on_number=True)
    service_env(clean_env, tmp_path, url)
    code, out, err = run("check")
    assert code == 1, err
    assert (f"PROBLEM: qdn: the number {LINE} is not in Messaging Service {SERVICE} (QDN texts)"
            in out)
    assert "Fix: in the Twilio Console add +16195550100 to the service's Sender Pool" in out


def test_check_reads_no_service_for_a_config_that_names_none(clean_env, tmp_path):
    # TWILIO_API_BASE left at api.twilio.com: a request would fail the test.
    clean_env.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    clean_env.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    clean_env.setenv("IVR_PUBLIC_BASE_URL", "https://ivr.example.com")
    code, out, err = run("check")
    assert code == 0, err
    assert "Messaging Service" not in out


@pytest.mark.both_engines
async def test_a_send_through_the_service_before_a_crash_is_not_sent_again(service_config,
                                                                          fake_twilio):
    """A claim that ran out unrecorded is looked up before it is sent again; a
    service's message is found by To and service, its From being Twilio's pick."""
    fake_twilio.add_messaging_service([LINE], sid=SERVICE)
    async with open_harness(service_config, fake_twilio) as harness:
        svc = harness.services
        await harness.twilio.text(from_=CUSTOMER, to=LINE, body="anyone?")
        await svc.store.write(lambda tx: tx.claim_due_outbox(10, LEASE))
        harness.clock.advance(LEASE.total_seconds() + 1)
        [row] = await svc.store.read(lambda tx: tx.outbox_rows())
        await svc.outbox.gateway.send_sms(to=row["to_number"], from_=row["from_number"],
                                          body=row["body"], messaging_service=SERVICE)
        [earlier] = fake_twilio.messages
        assert await svc.outbox.drain() == 1
        assert fake_twilio.messages == [earlier]
        [row] = await svc.store.read(lambda tx: tx.outbox_rows())
        assert (row["status"], row["message_sid"]) == ("sent", earlier.sid)


async def test_local_modes_fake_twilio_takes_a_send_through_a_service():
    out = io.StringIO()
    local = LocalTwilio("local-token", out, lambda number: "Sergio")
    gateway = TwilioGateway(Secrets(account_sid=LOCAL_ACCOUNT_SID, api_key=LOCAL_API_KEY,
                                    api_secret="local-secret", auth_token="local-token",
                                    api_base=local.start()))
    try:
        result = await gateway.send_sms(to=SERGIO, from_=LINE, body="page",
                                        messaging_service=SERVICE)
    finally:
        await gateway.close()
        local.stop()
    assert result.status == "accepted"
    assert f"text to Sergio (+1619***0101), through Messaging Service {SERVICE}" in out.getvalue()


def test_check_says_when_twilio_refuses_to_show_the_services(clean_env, fake_twilio_sync,
                                                             tmp_path):
    fake, url = fake_twilio_sync
    fake.username, fake.password = ACCOUNT_SID, "another-token"
    service_env(clean_env, tmp_path, url)
    code, out, err = run("check")
    assert code == 2
    assert err.startswith("ivr: could not read the Messaging Services: Twilio refused the "
                          "credentials (Twilio answered HTTP 401")
    assert "Fix: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in err
    fake.unexpected.clear()   # the refused request is the point here
