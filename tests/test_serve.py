"""run.py as an operator runs it: a real Hypercorn process on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from .support.driver import sign
from .support.fake_twilio import ACCOUNT_SID, API_KEY, API_SECRET
from .support.harness import AUTH_TOKEN, CUSTOMER, EXAMPLE_CONFIG, LINE, REPO, SERGIO
from .support.processes import clean_environ, free_port, stop, wait_for, wait_until_healthy


@pytest.mark.parametrize("workers", [1, 2])
async def test_run_py_answers_a_signed_webhook_and_stops_cleanly_on_sigterm(
        tmp_path, fake_twilio, workers):
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = clean_environ(TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                        TWILIO_API_KEY=API_KEY, TWILIO_API_SECRET=API_SECRET,
                        TWILIO_API_BASE=fake_twilio.url, IVR_PUBLIC_BASE_URL=public,
                        IVR_DATABASE=str(tmp_path / "ivr.sqlite3"))
    process = subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "--config", str(EXAMPLE_CONFIG),
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        await wait_until_healthy(public, process)
        params = {"MessageSid": "SMserve1", "AccountSid": ACCOUNT_SID, "From": CUSTOMER,
                  "To": LINE, "Body": "hello from a real socket", "NumMedia": "0"}
        url = public + "/sms/incoming"
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=params,
                                    headers={"X-Twilio-Signature": sign(AUTH_TOKEN, url, params)}
                                    ) as response:
                assert response.status == 200
                assert "will reply shortly" in await response.text()
            async with session.post(url, data=params,
                                    headers={"X-Twilio-Signature": "forged"}) as response:
                assert response.status == 403
        await wait_for(lambda: fake_twilio.messages_to(SERGIO))
    finally:
        code, out, err = stop(process)
    assert code == 0, err
    assert AUTH_TOKEN not in err and API_SECRET not in err and CUSTOMER not in err


async def test_a_request_signed_over_the_fallback_address_is_answered(tmp_path, fake_twilio):
    """IVR_FALLBACK_BASE_URL, as the real server reads it: what Twilio sends to
    a number's fallback URL is signed over that address, ErrorCode and
    ErrorUrl added, and is answered as usual."""
    port = free_port()
    public, fallback = f"http://127.0.0.1:{port}", "https://ivr-b.example.com"
    env = clean_environ(TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                        TWILIO_API_KEY=API_KEY, TWILIO_API_SECRET=API_SECRET,
                        TWILIO_API_BASE=fake_twilio.url, IVR_PUBLIC_BASE_URL=public,
                        IVR_FALLBACK_BASE_URL=fallback,
                        IVR_DATABASE=str(tmp_path / "ivr.sqlite3"))
    process = subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "--config", str(EXAMPLE_CONFIG),
         "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        await wait_until_healthy(public, process)
        params = {"MessageSid": "SMfallback1", "AccountSid": ACCOUNT_SID, "From": CUSTOMER,
                  "To": LINE, "Body": "is the line down?", "NumMedia": "0",
                  "ErrorCode": "11205", "ErrorUrl": "https://ivr.example.com/sms/incoming"}
        signed = sign(AUTH_TOKEN, fallback + "/sms/incoming", params)
        async with aiohttp.ClientSession() as session:
            async with session.post(public + "/sms/incoming", data=params,
                                    headers={"X-Twilio-Signature": signed}) as response:
                assert response.status == 200
                assert "will reply shortly" in await response.text()
            forged = sign(AUTH_TOKEN, "https://ivr-c.example.com/sms/incoming", params)
            async with session.post(public + "/sms/incoming", data=params,
                                    headers={"X-Twilio-Signature": forged}) as response:
                assert response.status == 403
        await wait_for(lambda: fake_twilio.messages_to(SERGIO))
    finally:
        code, out, err = stop(process)
    assert code == 0, err


async def test_local_mode_needs_no_account_and_shows_a_text_forwarded(tmp_path):
    port = free_port()
    env = clean_environ(IVR_DATABASE=str(tmp_path / "ivr.sqlite3"))
    process = subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "--config", str(EXAMPLE_CONFIG),
         "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        await wait_until_healthy(f"http://127.0.0.1:{port}", process)
        state = Path(tmp_path / "ivr.sqlite3.local.json")
        assert oct(state.stat().st_mode & 0o777) == "0o600"
        simulate = subprocess.run(
            [sys.executable, "-m", "ivr", "simulate", "--config", str(EXAMPLE_CONFIG),
             "text", "--from", "+16195550142", "Is anybody there?"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
        assert simulate.returncode == 0, simulate.stderr
        assert "reply from the line: Thanks, we got your message." in simulate.stdout

        def run_simulate(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "ivr", "simulate", "--config",
                                   str(EXAMPLE_CONFIG), *args], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=30)

        ack = run_simulate("text", "--as", "sergio", "ACK")
        assert "[QDN #1] is yours" in ack.stdout, ack.stderr
        phone_call = run_simulate("call", "--from", "+16195550143", "--answer", "backup")
        assert phone_call.returncode == 0, phone_call.stderr
        assert "Backup hears: [Polly.Joanna-Neural en-US] Call for Quick Dump Now" \
            in phone_call.stdout
        assert "connected to Backup" in phone_call.stdout
        wrong = run_simulate("text", "--as", "nobody", "hi")
        assert wrong.returncode == 2 and "use one of: sergio, backup" in wrong.stderr
        await asyncio.sleep(1.0)  # the outbox sends, the fake prints, callbacks come back
    finally:
        code, out, err = stop(process)
    assert code == 0, err
    assert "LOCAL MODE" in out
    assert "fake Twilio: text to Sergio" in out
    assert "[QDN #1] +1 619-555-0142: Is anybody there? - reply ACK to take it" in out
    assert "Sergio is on it and will text you from this number." in out
    assert "status=delivered" in err


def test_config_errors_stop_the_start_with_the_key_and_fix(tmp_path):
    bad = tmp_path / "ivr.toml"
    bad.write_text(EXAMPLE_CONFIG.read_text().replace('"+18585550199"', '"+1555"'))
    result = subprocess.run([sys.executable, str(REPO / "run.py"), "--config", str(bad)],
                            env=clean_environ(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"{bad}: responders.backup.phone:" in result.stderr and "Fix:" in result.stderr


def test_a_real_account_without_a_public_url_is_refused(tmp_path):
    env = clean_environ(TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID)
    result = subprocess.run([sys.executable, str(REPO / "run.py"), "--config",
                             str(EXAMPLE_CONFIG)], env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert "IVR_PUBLIC_BASE_URL" in result.stderr and AUTH_TOKEN not in result.stderr
