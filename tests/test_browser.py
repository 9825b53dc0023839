"""The dashboard in a real browser (Debian's Chromium, driven by Playwright)
against the real server: log in, watch a conversation appear and be ACKed
live, close it. Screenshots are saved to tests/artifacts/."""

from __future__ import annotations

import os
import shutil

import aiohttp
import pytest

from .support.driver import sign
from .support.fake_twilio import ACCOUNT_SID
from .support.harness import AUTH_TOKEN, CUSTOMER, LINE, REPO, SERGIO
from .support.processes import free_port, start, stop, wait_until_healthy

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "tests" / "artifacts"
PASSWORD = "operator password for the browser test"

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("Chromium is missing in CI: scripts/test installs Debian's chromium")
    pytest.skip("Chromium is not installed (scripts/test installs it as root)",
                allow_module_level=True)

playwright_api = pytest.importorskip("playwright.async_api")


async def text(url: str, params: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=params,
                                headers={"X-Twilio-Signature": sign(AUTH_TOKEN, url, params)}
                                ) as response:
            assert response.status == 200


async def test_an_operator_watches_a_conversation_live_and_closes_it(tmp_path, fake_twilio):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(tmp_path, fake_twilio.url, port, 2,
                   IVR_OPERATOR_PASSWORD=PASSWORD)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        await wait_until_healthy(base, server)
        async with playwright_api.async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update",
                      "--disable-sync"])
            try:
                # A phone-sized screen: the dashboard must work there.
                page = await browser.new_page(viewport={"width": 412, "height": 915},
                                              device_scale_factor=1)
                page.set_default_timeout(15_000)
                await page.goto(base + "/dashboard/")
                assert page.url.endswith("/dashboard/login")
                await page.fill("#password", "not the password")
                await page.click("button[type=submit]")
                await page.wait_for_selector("text=That password is not right.")
                await page.fill("#password", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_selector("text=No open conversations.")
                await page.wait_for_selector("#live-dot.on")   # the event stream is connected

                message = {"MessageSid": "SMbrowser1", "AccountSid": ACCOUNT_SID,
                           "From": CUSTOMER, "To": LINE, "Body": "The bin is overflowing",
                           "NumMedia": "0"}
                await text(base + "/sms/incoming", message)
                card = page.locator("#conversation-1")
                await card.wait_for()
                assert "waiting" in await card.inner_text()
                assert "+1619***0142" in await card.inner_text()

                ack = {"MessageSid": "SMbrowser2", "AccountSid": ACCOUNT_SID, "From": SERGIO,
                       "To": LINE, "Body": "ACK", "NumMedia": "0"}
                await text(base + "/sms/incoming", ack)
                await page.wait_for_selector("#conversation-1 >> text=Sergio has it")
                await page.click("#trail-1 summary")
                await page.wait_for_selector("#trail-1 >> text=acknowledged")
                await page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
                await page.set_viewport_size({"width": 1100, "height": 760})
                await page.screenshot(path=str(ARTIFACTS / "dashboard.png"))

                await page.click("#conversation-1 button[name=close]")
                await page.wait_for_selector("text=No open conversations.")
                assert await page.locator("#conversation-1").count() == 0
            finally:
                await browser.close()
    finally:
        code, out, err = stop(server)
    assert code == 0, err
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
