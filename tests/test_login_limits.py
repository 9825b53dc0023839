"""One limit on wrong operator passwords, wherever the password is checked
(the login form and /metrics' HTTP Basic), counted before the check, and
kept in the store so every worker shares it."""

from __future__ import annotations

import asyncio
import base64
import re
import signal
import subprocess
import threading

import aiohttp
import pytest

import ivr.web.login as login_module
from ivr.web.login import LOGIN_FAILURES_ALLOWED, LOGIN_FAILURES_ALLOWED_OVERALL, client_key

from .support.operator import PASSWORD, harness  # noqa: F401 (harness is a fixture)
from .support.processes import free_port, start, wait_until_healthy

WRONG = "not the password"



@pytest.fixture
def checks(monkeypatch):
    """Every password actually verified (the slow scrypt check)."""
    verified: list[str] = []
    real = login_module.verify_password

    def counting(password: str, encoded: str) -> bool:
        verified.append(password)
        return real(password, encoded)

    monkeypatch.setattr(login_module, "verify_password", counting)
    return verified


def from_address(address: str) -> dict:
    return {"scope_base": {"client": (address, 40000)}}


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"prometheus:{password}".encode()).decode()}


async def csrf(client, **kwargs) -> str:
    html = await (await client.get("/dashboard/login", scheme="https", **kwargs)).get_data(
        as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def log_in(client, password: str, token: str, **kwargs):
    return await client.post("/dashboard/login", scheme="https",
                             form={"password": password, "csrf_token": token}, **kwargs)


async def scrape(client, password: str, **kwargs):
    return await client.get("/metrics", scheme="https", headers=basic(password), **kwargs)


async def test_forty_concurrent_wrong_logins_check_only_five(harness, checks):
    token = await csrf(harness.client)
    answers = await asyncio.gather(*(log_in(harness.client, WRONG, token) for _ in range(40)))
    statuses = sorted(a.status_code for a in answers)
    assert len(checks) == LOGIN_FAILURES_ALLOWED, statuses
    assert statuses == [401] * 5 + [429] * 35
    assert all(int(a.headers["Retry-After"]) > 0 for a in answers if a.status_code == 429)
    # While the address is paused even the right password is not checked.
    right = await log_in(harness.client, PASSWORD, token)
    assert right.status_code == 429 and int(right.headers["Retry-After"]) <= 300
    assert "Too many wrong passwords" in await right.get_data(as_text=True)
    assert len(checks) == 5
    # Five minutes later the failures have aged out.
    harness.clock.advance(301)
    assert (await log_in(harness.client, PASSWORD, token)).status_code == 302


async def test_metrics_basic_auth_counts_against_the_same_limit(harness, checks):
    answers = await asyncio.gather(*(scrape(harness.client, WRONG) for _ in range(40)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [401] * 5 + [429] * 35 and len(checks) == 5
    refused = await scrape(harness.client, PASSWORD)
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 300
    # The login form is paused by the guesses made through /metrics.
    assert (await log_in(harness.client, PASSWORD, await csrf(harness.client))
            ).status_code == 429
    assert len(checks) == 5


async def test_wrong_logins_pause_metrics_basic_auth(harness, checks):
    token = await csrf(harness.client)
    for _ in range(LOGIN_FAILURES_ALLOWED):
        assert (await log_in(harness.client, WRONG, token)).status_code == 401
    refused = await scrape(harness.client, PASSWORD)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert len(checks) == 5
    harness.clock.advance(301)
    assert (await scrape(harness.client, PASSWORD)).status_code == 200


async def test_right_passwords_never_use_up_the_limit(harness):
    for _ in range(3 * LOGIN_FAILURES_ALLOWED):   # a Prometheus scraping every 15 s
        assert (await scrape(harness.client, PASSWORD)).status_code == 200
    for _ in range(LOGIN_FAILURES_ALLOWED - 1):
        assert (await scrape(harness.client, WRONG)).status_code == 401
    assert (await scrape(harness.client, PASSWORD)).status_code == 200


async def test_the_limit_is_per_address_and_overall(harness, checks):
    for _ in range(LOGIN_FAILURES_ALLOWED):
        await scrape(harness.client, WRONG, **from_address("192.0.2.1"))
    assert (await scrape(harness.client, PASSWORD, **from_address("192.0.2.1"))
            ).status_code == 429
    # Another address is still checked ...
    assert (await scrape(harness.client, PASSWORD, **from_address("192.0.2.2"))
            ).status_code == 200
    # ... but an IPv6 client counts as its /64, not as each of its addresses.
    for host in range(1, LOGIN_FAILURES_ALLOWED + 1):
        await scrape(harness.client, WRONG, **from_address(f"2001:db8:1:2::{host}"))
    assert (await scrape(harness.client, PASSWORD, **from_address("2001:db8:1:2:ffff::1"))
            ).status_code == 429
    # A guesser spread over many addresses meets the overall limit.
    spread = LOGIN_FAILURES_ALLOWED_OVERALL - 2 * LOGIN_FAILURES_ALLOWED
    for n in range(spread):
        await scrape(harness.client, WRONG, **from_address(f"198.51.100.{n}"))
    assert len(checks) == LOGIN_FAILURES_ALLOWED_OVERALL + 1
    assert (await scrape(harness.client, PASSWORD, **from_address("203.0.113.9"))
            ).status_code == 429
    assert len(checks) == LOGIN_FAILURES_ALLOWED_OVERALL + 1


def test_an_ipv6_client_is_counted_by_its_slash_64():
    assert client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key(None) == "-"


async def test_wrong_guesses_over_two_workers_share_one_limit(tmp_path, fake_twilio):
    """The real server, two workers, guesses on fresh connections (so both
    workers answer some): no more than the limit are checked in total."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(tmp_path, fake_twilio.url, port, 2, stdout=subprocess.DEVNULL,
                   IVR_OPERATOR_PASSWORD=PASSWORD)
    log_lines: list[str] = []
    reader = threading.Thread(target=lambda: log_lines.extend(server.stderr), daemon=True)
    reader.start()

    def answering_workers() -> set[str]:
        return {match.group(1) for line in list(log_lines) for match in [re.search(
            r"operator password (?:refused|not checked).* worker=(\d+)", line)] if match}

    try:
        await wait_until_healthy(base, server)

        async def guess_by_basic(password: str) -> tuple[int, str | None]:
            async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(force_close=True)) as session, \
                    session.get(base + "/metrics", headers=basic(password)) as response:
                return response.status, response.headers.get("Retry-After")

        async def guess_by_form(password: str) -> tuple[int, str | None]:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True),
                                             cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
                async with session.get(base + "/dashboard/login") as response:
                    token = re.search(r'name="csrf_token" value="([^"]+)"',
                                      await response.text()).group(1)
                async with session.post(base + "/dashboard/login", allow_redirects=False,
                                        data={"password": password, "csrf_token": token}
                                        ) as response:
                    return response.status, response.headers.get("Retry-After")

        # Rounds of guesses, by both routes, until both workers have answered some.
        statuses: list[int] = []
        for _ in range(50):
            guesses = [guess_by_basic(WRONG) for _ in range(8)] + \
                      [guess_by_form(WRONG) for _ in range(2)]
            answers = await asyncio.wait_for(asyncio.gather(*guesses), 60)
            statuses += [status for status, _ in answers]
            assert statuses.count(401) <= LOGIN_FAILURES_ALLOWED, statuses
            assert all(retry for status, retry in answers if status == 429)
            if len(answering_workers()) == 2:
                break
        assert len(answering_workers()) == 2, "the guesses never reached both workers"
        assert sorted(statuses) == [401] * 5 + [429] * (len(statuses) - 5), statuses
        # The right password is refused too, by either route, whichever worker answers.
        for _ in range(4):
            assert (await guess_by_basic(PASSWORD))[0] == 429
            assert (await guess_by_form(PASSWORD))[0] == 429
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
        reader.join(5)
    assert code == 0, "".join(log_lines)
    checked = [line for line in log_lines if "operator password refused" in line]
    assert len(checked) == 5, checked
