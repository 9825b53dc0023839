"""A login is a session kept in the store: logging out ends it everywhere,
for a copied cookie too, and it ends by itself after its lifetime."""

from __future__ import annotations

import asyncio
import base64

import pytest

from ivr.passwords import hash_password

from .support.harness import CUSTOMER, LINE, open_harness
from .support.operator import PASSWORD, csrf_of, harness  # noqa: F401 (harness is a fixture)

PAGES = ("/dashboard/", "/dashboard/live", "/dashboard/events", "/metrics")




async def log_in(client) -> str:
    """Log in; the session cookie as a browser would send it."""
    html = await (await client.get("/dashboard/login", scheme="https")).get_data(as_text=True)
    response = await client.post("/dashboard/login", scheme="https",
                                 form={"password": PASSWORD, "csrf_token": csrf_of(html)})
    assert response.status_code == 302
    return response.headers["Set-Cookie"].split(";", 1)[0]


async def log_out(client) -> None:
    html = await (await client.get("/dashboard/", scheme="https")).get_data(as_text=True)
    response = await client.post("/dashboard/logout", scheme="https",
                                 form={"csrf_token": csrf_of(html)})
    assert response.status_code == 302


async def status_with(app, path: str, cookie: str) -> int:
    """The status `path` answers a client that sends only `cookie` (a copy)."""
    client = app.test_client()
    async with client.request(path, scheme="https", headers={"Cookie": cookie}) as connection:
        await asyncio.wait_for(connection.receive(), 5)   # the event stream never ends by itself
        await connection.disconnect()
    return connection.status_code


async def test_a_copied_cookie_is_refused_after_logout(harness):
    cookie = await log_in(harness.client)
    assert [await status_with(harness.app, path, cookie) for path in PAGES] == [200] * 4
    await log_out(harness.client)
    statuses = [await status_with(harness.app, path, cookie) for path in PAGES]
    assert statuses == [302, 302, 302, 401], statuses
    # The refused pages send the copy to the login page, not the dashboard.
    response = await harness.app.test_client().get("/dashboard/", scheme="https",
                                                   headers={"Cookie": cookie})
    assert response.location.endswith("/dashboard/login")


@pytest.mark.both_engines
async def test_logging_out_on_one_worker_ends_the_session_on_another(config, fake_twilio):
    """Two apps on one database stand for two workers."""
    async with open_harness(config, fake_twilio, operator_password_hash=hash_password(PASSWORD)
                            ) as first, \
            open_harness(config, fake_twilio, operator_password_hash=hash_password(PASSWORD)
                         ) as second:
        cookie = await log_in(first.client)
        assert await status_with(second.app, "/dashboard/", cookie) == 200
        await log_out(first.client)
        assert [await status_with(second.app, path, cookie) for path in PAGES] == \
            [302, 302, 302, 401]


async def test_an_open_event_stream_ends_at_logout(harness):
    cookie = await log_in(harness.client)
    client = harness.app.test_client()
    async with client.request("/dashboard/events", scheme="https",
                              headers={"Cookie": cookie}) as connection:
        assert b"retry:" in await asyncio.wait_for(connection.receive(), 5)
        await log_out(harness.client)

        async def until_the_end() -> None:
            while await connection.receive() != b"":
                pass
        await asyncio.wait_for(until_the_end(), 10)
    assert connection.status_code == 200


async def test_a_session_ends_after_its_lifetime(harness):
    cookie = await log_in(harness.client)
    harness.clock.advance(12 * 3600 - 60)
    assert await status_with(harness.app, "/dashboard/", cookie) == 200
    harness.clock.advance(61)
    assert [await status_with(harness.app, path, cookie) for path in PAGES] == \
        [302, 302, 302, 401]


async def test_a_new_login_still_works_and_basic_auth_needs_no_session(harness):
    await log_in(harness.client)
    await log_out(harness.client)
    await log_in(harness.client)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="hello")
    assert "QDN #1" in await (await harness.client.get("/dashboard/", scheme="https")
                              ).get_data(as_text=True)
    auth = "Basic " + base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
    fresh = harness.app.test_client()
    assert (await fresh.get("/metrics", scheme="https",
                            headers={"Authorization": auth})).status_code == 200


@pytest.mark.both_engines
async def test_a_change_on_one_instance_reaches_a_stream_open_on_another(config, fake_twilio):
    """Two apps on one database stand for two instances (on PostgreSQL, two
    machines): each stream polls the store, so a text handled by the first
    reaches a browser watching the second."""
    async with open_harness(config, fake_twilio, operator_password_hash=hash_password(PASSWORD)
                            ) as first, \
            open_harness(config, fake_twilio, operator_password_hash=hash_password(PASSWORD)
                         ) as second:
        await log_in(second.client)
        async with second.client.request("/dashboard/events", scheme="https") as connection:
            received = await asyncio.wait_for(connection.receive(), 5)
            await first.twilio.text(from_=CUSTOMER, to=LINE, body="hello")

            async def until_changed() -> bytes:
                seen = b""
                while b"event: changed" not in seen:
                    seen += await connection.receive()
                return seen
            received += await asyncio.wait_for(until_changed(), 10)
            await connection.disconnect()
        assert b"event: changed" in received
