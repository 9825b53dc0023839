"""Accounts and the picture of the line in a real browser (Debian's
Chromium, driven by Playwright) against the real server: an admin and a
viewer sign in, the viewer cannot act (no button, and a forged post is
refused 403), the picture's charts draw under the Content-Security-Policy,
and its screenshots are taken at a desk's and a phone's width (the
README's, with IVR_SCREENSHOTS_TO_DOCS=1)."""

from __future__ import annotations

import os
import shutil

import pytest

from ivr.clock import SystemClock
from ivr.passwords import hash_password
from ivr.store import store_for

from .support.fake_twilio import ACCOUNT_SID
from .support.harness import CUSTOMER, LINE, REPO, SERGIO
from .support.processes import free_port, start, stop, wait_until_healthy
from .test_browser import text
from .test_browser_csp import WATCH_VIOLATIONS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Screenshots go to tests/artifacts; with IVR_SCREENSHOTS_TO_DOCS=1 they
# replace the README's pictures in docs/ (a test run leaves the checkout clean).
DOCS = REPO / ("docs" if os.environ.get("IVR_SCREENSHOTS_TO_DOCS") else "tests/artifacts")
SHARED_PASSWORD = "operator password for the people test"
ACCOUNT_PASSWORD = "an account password for the browser"
OTHER_CUSTOMER = "+16195550177"

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("Chromium is missing in CI: scripts/test installs Debian's chromium")
    pytest.skip("Chromium is not installed (scripts/test installs it as root)",
                allow_module_level=True)

playwright_api = pytest.importorskip("playwright.async_api")


async def add_accounts(database: str) -> None:
    store = store_for(database, SystemClock())
    await store.open()
    try:
        for name, role in (("ada", "admin"), ("vera", "viewer")):
            await store.write(lambda tx, name=name, role=role: tx.add_user(
                name, role, hash_password(ACCOUNT_PASSWORD)))
    finally:
        await store.close()


async def sign_in(browser, base: str, name: str, width: int):
    page = await browser.new_page(viewport={"width": width, "height": 900},
                                  device_scale_factor=1)
    page.set_default_timeout(15_000)
    await page.add_init_script(WATCH_VIOLATIONS)
    await page.goto(base + "/dashboard/")
    await page.fill("#name", name)
    await page.fill("#password", ACCOUNT_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector(f"#signed-in-as >> text={name}")
    return page


def sms(sid: str, sender: str, body: str) -> dict[str, str]:
    return {"MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": sender, "To": LINE,
            "Body": body, "NumMedia": "0"}


async def test_an_admin_and_a_viewer_and_the_picture_of_the_line(tmp_path, fake_twilio):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(tmp_path, fake_twilio.url, port, 2, IVR_OPERATOR_PASSWORD=SHARED_PASSWORD)
    try:
        await wait_until_healthy(base, server)
        await add_accounts(str(tmp_path / "ivr.sqlite3"))
        incoming = base + "/sms/incoming"
        await text(incoming, sms("SMpeople1", CUSTOMER, "The bin is overflowing"))
        await text(incoming, sms("SMpeople2", SERGIO, "ACK"))
        await text(incoming, sms("SMpeople3", OTHER_CUSTOMER, "Pick-up missed today"))
        async with playwright_api.async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update",
                      "--disable-sync"])
            try:
                viewer = await sign_in(browser, base, "vera", 390)
                card = viewer.locator("#conversation-2")
                await card.wait_for()
                assert "+1619***0177" in await card.inner_text()
                assert await viewer.locator("form[action$='/close']").count() == 0
                assert await viewer.locator("button[name=reveal]").count() == 0
                assert await viewer.locator("text=People").count() == 0
                # A post the page does not offer, with the viewer's own CSRF token: 403.
                status = await viewer.evaluate("""async () => {
                    const token = document.querySelector("input[name=csrf_token]").value;
                    const body = new URLSearchParams({csrf_token: token});
                    const r = await fetch("/dashboard/conversations/2/close",
                                          {method: "POST", body, redirect: "manual"});
                    return r.status; }""")
                assert status == 403
                await viewer.reload()
                await viewer.locator("#conversation-2").wait_for()

                admin = await sign_in(browser, base, "ada", 1280)
                await admin.click("text=People")
                await admin.wait_for_selector("#person-vera")
                await admin.click("text=How the line is doing")
                await admin.wait_for_selector("#report.charted")
                assert await admin.locator("#line-qdn .uplot canvas").count() == 1
                opened = admin.locator("#line-qdn td[data-figure=opened]")
                assert await opened.inner_text() == "2"
                await admin.wait_for_selector("#now-qdn >> text=Tier 1")
                DOCS.mkdir(exist_ok=True)
                await admin.screenshot(path=str(DOCS / "line-report.png"), full_page=True)
                await admin.set_viewport_size({"width": 390, "height": 844})
                await admin.wait_for_timeout(300)   # the charts follow the resize
                await admin.screenshot(path=str(DOCS / "line-report-phone.png"),
                                       full_page=True)
                assert await admin.evaluate("window.__violations") == []
                assert await viewer.evaluate("window.__violations") == []
            finally:
                await browser.close()
    finally:
        code, _, err = stop(server)
    assert code == 0, err
    assert (DOCS / "line-report.png").stat().st_size > 10_000
    assert (DOCS / "line-report-phone.png").stat().st_size > 10_000
