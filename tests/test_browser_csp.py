"""The dashboard under its Content-Security-Policy in a real browser
(Debian's Chromium, driven by Playwright): the styles apply, the live
updates arrive, and the browser reports no violation of the policy."""

from __future__ import annotations

import os
import shutil

import aiohttp
import pytest

from .support.driver import sign
from .support.fake_twilio import ACCOUNT_SID
from .support.harness import AUTH_TOKEN, CUSTOMER, LINE
from .support.processes import free_port, start, stop, wait_until_healthy

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORD = "operator password for the CSP test"

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("Chromium is missing in CI: scripts/test installs Debian's chromium")
    pytest.skip("Chromium is not installed (scripts/test installs it as root)",
                allow_module_level=True)

playwright_api = pytest.importorskip("playwright.async_api")

# Runs before the page's own script (through the DevTools protocol, which the
# policy does not govern) and records every violation the browser reports.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.effectiveDirective + " " + (e.blockedURI || "inline"));
});
"""


async def test_the_dashboard_works_under_its_content_security_policy(tmp_path, fake_twilio):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(tmp_path, fake_twilio.url, port, 1,
                   IVR_OPERATOR_PASSWORD=PASSWORD)
    console: list[str] = []
    try:
        await wait_until_healthy(base, server)
        async with playwright_api.async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update",
                      "--disable-sync"])
            try:
                page = await browser.new_page()
                page.set_default_timeout(15_000)
                await page.add_init_script(WATCH_VIOLATIONS)
                page.on("console", lambda message: console.append(message.text))
                response = await page.goto(base + "/dashboard/login")
                assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
                await page.fill("#password", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_selector("text=No open conversations.")
                await page.wait_for_selector("#live-dot.on")   # the script ran; the stream is up
                # The stylesheet applied: the page's background is the dashboard's.
                assert await page.evaluate(
                    "getComputedStyle(document.body).backgroundColor") == "rgb(246, 248, 250)"

                message = {"MessageSid": "SMcsp1", "AccountSid": ACCOUNT_SID, "From": CUSTOMER,
                           "To": LINE, "Body": "Is the policy in the way?", "NumMedia": "0"}
                url = base + "/sms/incoming"
                async with aiohttp.ClientSession() as session, session.post(
                        url, data=message,
                        headers={"X-Twilio-Signature": sign(AUTH_TOKEN, url, message)}) as sent:
                    assert sent.status == 200
                await page.locator("#conversation-1").wait_for()   # fetched live, not reloaded
                assert await page.evaluate("window.__violations") == []
            finally:
                await browser.close()
    finally:
        code, _, err = stop(server)
    assert code == 0, err
    assert not [line for line in console if "Content Security Policy" in line], console
