"""Each `ivr` command, run through the same entry point as the console script."""

import asyncio
import io
import os

import pytest

from ivr import admin
from ivr.decisions import Channel, Decision, DecisionKind
from ivr.passwords import verify_password

from .support.cli import clean_env, run  # noqa: F401 (clean_env is a fixture)
from .support.fake_twilio import ACCOUNT_SID
from .support.harness import AUTH_TOKEN, CUSTOMER, EXAMPLE_CONFIG, LINE, SERGIO


def env_file(tmp_path, mode):
    path = tmp_path / "repos.env"
    path.write_text(f"TWILIO_ACCOUNT_SID={ACCOUNT_SID}\nTWILIO_AUTH_TOKEN={AUTH_TOKEN}\n"
                    "IVR_PUBLIC_BASE_URL=https://ivr.example.com\n")
    os.chmod(path, mode)
    return path


def test_check_validates_and_prints_the_console_urls(clean_env, tmp_path):
    clean_env.setenv("IVR_ENV_FILE", str(env_file(tmp_path, 0o600)))
    code, out, err = run("check")
    assert code == 0, err
    assert "config" in out and "OK - 1 line(s), 2 responder(s)" in out
    assert "env file" in out and "mode 600" in out
    assert "A call comes in      (Webhook, HTTP POST): https://ivr.example.com/voice/incoming" in out
    assert "A message comes in   (Webhook, HTTP POST): https://ivr.example.com/sms/incoming" in out
    assert AUTH_TOKEN not in out + err


def test_check_refuses_an_env_file_others_can_read(clean_env, tmp_path):
    path = env_file(tmp_path, 0o644)
    clean_env.setenv("IVR_ENV_FILE", str(path))
    code, out, err = run("check")
    assert code == 2 and f"chmod 600 {path}" in err and AUTH_TOKEN not in err


def test_check_names_a_config_mistake(clean_env, tmp_path):
    bad = tmp_path / "ivr.toml"
    bad.write_text(EXAMPLE_CONFIG.read_text().replace('tiers = ["sergio", "backup"]',
                                                      'tiers = ["sergio", "bakup"]'))
    code, out, err = run("check", "--config", str(bad))
    assert code == 2 and f"{bad}: lines.qdn.tiers[1]: unknown responder 'bakup'" in err


async def make_history(harness):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="first")
    await harness.twilio.text(from_="+16195550177", to=LINE, body="second")
    harness.clock.advance(30)
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK 1")


async def test_log_filters_by_line_number_and_conversation(harness, clean_env):
    await make_history(harness)
    out = io.StringIO()
    config = harness.services.config
    assert await admin.log(config, admin.LogFilter(), 50, False, out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == len(await harness.decisions())
    assert "conversation_opened" in lines[0] and "qdn" in lines[0] and "#1" in lines[0]

    out = io.StringIO()
    await admin.log(config, admin.LogFilter(number="+16195550177"), 50, False, out)
    assert out.getvalue() and all("#2" in line for line in out.getvalue().splitlines())

    out = io.StringIO()
    await admin.log(config, admin.LogFilter(conversation=1), 50, False, out)
    text = out.getvalue()
    assert "acknowledged" in text and "#2" not in text

    out = io.StringIO()
    await admin.log(config, admin.LogFilter(number=SERGIO), 50, False, out)
    assert all("sergio" in line for line in out.getvalue().splitlines())
    assert CUSTOMER not in text  # reasons carry masked numbers only


async def test_log_follow_prints_what_comes_next(harness, clean_env):
    await make_history(harness)
    out = io.StringIO()
    follower = asyncio.create_task(admin.log(harness.services.config, admin.LogFilter(), 5, True,
                                             out, poll_seconds=0.05, max_polls=40))
    await asyncio.sleep(0.1)
    before = out.getvalue().count("\n")
    await harness.store.write(lambda tx: tx.decide(Decision(
        DecisionKind.UNKNOWN_LINE, Channel.SMS, "a late arrival")))
    assert await follower == 0
    assert out.getvalue().count("\n") == before + 1 and "a late arrival" in out.getvalue()


async def test_conversations_lists_the_open_ones_with_owner_and_wait(harness, clean_env):
    await make_history(harness)
    out = io.StringIO()
    await admin.conversations(harness.services.config, out, now=harness.clock.now())
    rows = out.getvalue().splitlines()
    assert rows[0].startswith("QDN #1") and "Sergio has it (ACKed after 30 s)" in rows[0]
    assert rows[1].startswith("QDN #2") and "waiting 30 s, tier 1" in rows[1]
    assert "+1619***0177" in rows[1] and "+16195550177" not in out.getvalue()


async def test_conversations_says_a_hand_over_is_no_ack(harness, clean_env):
    # Backup never sent ACK: the owner got it from Sergio's HANDOVER.
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    harness.clock.advance(30)
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    harness.clock.advance(150)
    await harness.twilio.text(from_=SERGIO, to=LINE, body="HANDOVER backup")
    out = io.StringIO()
    await admin.conversations(harness.services.config, out, now=harness.clock.now())
    [row] = out.getvalue().splitlines()
    assert "Backup has it (handed over by Sergio (by text) after 3 min)" in row, row
    assert "ACKed" not in row


def test_log_without_a_database_says_how_to_get_one(clean_env, tmp_path):
    code, out, err = run("log")
    assert code == 2 and "does not exist yet" in err and "IVR_DATABASE" in err


# What `twilio configure` appends to each URL: Twilio retries a refused or
# timed-out connection and a 5xx, within a call's 15 s (ivr.webhooks).
OVERRIDES = "#ct=2000&rt=15000&tt=15000&rc=3&rp=ct,5xx"


def configure_env(clean_env, url, **more):
    for name, value in [("TWILIO_ACCOUNT_SID", ACCOUNT_SID), ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
                        ("TWILIO_API_BASE", url), ("IVR_PUBLIC_BASE_URL", "https://ivr.example.com"),
                        *more.items()]:
        clean_env.setenv(name, value)


def test_twilio_configure_sets_each_numbers_webhooks(clean_env, fake_twilio_sync):
    fake, url = fake_twilio_sync
    sid = fake.add_number(LINE, voice_url="https://old.example.com/voice")
    configure_env(clean_env, url)
    fake.username, fake.password = ACCOUNT_SID, AUTH_TOKEN

    code, out, err = run("twilio", "configure", "--dry-run")
    assert code == 0, err
    assert f"qdn {LINE} ({sid}): would set" in out
    assert ("voice_url: https://old.example.com/voice -> "
            f"https://ivr.example.com/voice/incoming{OVERRIDES}") in out
    assert fake.number_updates == []

    code, out, err = run("twilio", "configure")
    assert code == 0, err
    [(updated, form)] = fake.number_updates
    assert updated == sid
    # No fallback address: the number's fallback URLs are not touched.
    assert form == {"VoiceUrl": [f"https://ivr.example.com/voice/incoming{OVERRIDES}"],
                    "VoiceMethod": ["POST"],
                    "SmsUrl": [f"https://ivr.example.com/sms/incoming{OVERRIDES}"],
                    "SmsMethod": ["POST"],
                    "StatusCallback": [f"https://ivr.example.com/voice/status{OVERRIDES}"],
                    "StatusCallbackMethod": ["POST"]}
    code, out, err = run("twilio", "configure")
    assert "already set" in out and len(fake.number_updates) == 1


def test_twilio_configure_adds_the_overrides_to_urls_set_without_them(clean_env,
                                                                       fake_twilio_sync):
    """A number configured before the overrides existed is brought up to date."""
    fake, url = fake_twilio_sync
    sid = fake.add_number(LINE, voice_url="https://ivr.example.com/voice/incoming",
                          sms_url="https://ivr.example.com/sms/incoming",
                          status_callback="https://ivr.example.com/voice/status")
    configure_env(clean_env, url)
    fake.username, fake.password = ACCOUNT_SID, AUTH_TOKEN
    code, out, err = run("twilio", "configure")
    assert code == 0, err
    assert "already set" not in out
    for name, path in [("voice_url", "/voice/incoming"), ("sms_url", "/sms/incoming"),
                       ("status_callback", "/voice/status")]:
        assert fake.numbers[sid][name] == f"https://ivr.example.com{path}{OVERRIDES}"


def test_twilio_configure_sets_the_fallback_urls_to_the_second_address(clean_env,
                                                                        fake_twilio_sync):
    fake, url = fake_twilio_sync
    sid = fake.add_number(LINE, voice_url="https://old.example.com/voice")
    configure_env(clean_env, url, IVR_FALLBACK_BASE_URL="https://ivr-b.example.com/")
    fake.username, fake.password = ACCOUNT_SID, AUTH_TOKEN

    code, out, err = run("twilio", "configure", "--dry-run")
    assert code == 0, err
    assert (f"  voice_fallback_url: (none) -> "
            f"https://ivr-b.example.com/voice/incoming{OVERRIDES}\n") in out
    assert (f"  sms_fallback_url: (none) -> "
            f"https://ivr-b.example.com/sms/incoming{OVERRIDES}\n") in out
    assert fake.number_updates == []

    code, out, err = run("twilio", "configure")
    assert code == 0, err
    [(updated, form)] = fake.number_updates
    assert updated == sid
    assert form["VoiceFallbackUrl"] == [f"https://ivr-b.example.com/voice/incoming{OVERRIDES}"]
    assert form["SmsFallbackUrl"] == [f"https://ivr-b.example.com/sms/incoming{OVERRIDES}"]
    assert form["VoiceFallbackMethod"] == form["SmsFallbackMethod"] == ["POST"]
    assert form["VoiceUrl"] == [f"https://ivr.example.com/voice/incoming{OVERRIDES}"]
    number = fake.numbers[sid]
    assert number["voice_fallback_url"] == f"https://ivr-b.example.com/voice/incoming{OVERRIDES}"
    assert number["sms_fallback_url"] == f"https://ivr-b.example.com/sms/incoming{OVERRIDES}"
    code, out, err = run("twilio", "configure")
    assert "already set" in out and len(fake.number_updates) == 1


@pytest.mark.parametrize("fallback, says", [
    ("ivr-b.example.com",
     "IVR_FALLBACK_BASE_URL must be an http(s) URL such as https://ivr.example.com. Fix:"),
    ("https://ivr-b.example.com/#rc=5",
     "IVR_FALLBACK_BASE_URL must not carry a query or fragment. Fix:"),
    ("https://ivr.example.com",
     "IVR_FALLBACK_BASE_URL is the same address as IVR_PUBLIC_BASE_URL"),
])
def test_twilio_configure_refuses_a_bad_fallback_address(clean_env, fake_twilio_sync, fallback,
                                                         says):
    fake, url = fake_twilio_sync
    fake.add_number(LINE)
    configure_env(clean_env, url, IVR_FALLBACK_BASE_URL=fallback)
    fake.username, fake.password = ACCOUNT_SID, AUTH_TOKEN
    code, _, err = run("twilio", "configure")
    assert code == 2 and says in err and "Fix:" in err, err
    assert fake.number_updates == []


def test_twilio_configure_names_a_number_the_account_lacks(clean_env, fake_twilio_sync):
    fake, url = fake_twilio_sync
    fake.username, fake.password = ACCOUNT_SID, AUTH_TOKEN
    for name, value in [("TWILIO_ACCOUNT_SID", ACCOUNT_SID), ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
                        ("TWILIO_API_BASE", url), ("IVR_PUBLIC_BASE_URL", "https://ivr.example.com")]:
        clean_env.setenv(name, value)
    code, out, err = run("twilio", "configure")
    assert code == 1 and f"{LINE} is not a number of account" in err and "Fix:" in err


def test_twilio_configure_needs_the_account_pair(clean_env):
    code, out, err = run("twilio", "configure")
    assert code == 2 and "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in err


def test_hash_password_reads_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    code, out, err = run("hash-password")
    assert code == 0 and verify_password("a long enough password", out.strip())
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, out, err = run("hash-password")
    assert code == 2 and "shorter than 10" in err
