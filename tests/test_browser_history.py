"""The history and a transcript in a real browser (Debian's Chromium,
driven by Playwright) against the real server: log in, find a closed
conversation by the last four digits of the customer's number, read its
transcript with a voicemail (played through the service) and export the
search as CSV. Screenshots are saved to tests/artifacts/."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from .support.call_simulator import CallSimulator
from .support.driver import TwilioDriver
from .support.harness import AUTH_TOKEN, CUSTOMER, LINE, SERGIO
from .support.processes import free_port, start, stop, wait_until_healthy
from .test_browser import ARTIFACTS, CHROMIUM, playwright_api

PASSWORD = "operator password for the history browser test"
OTHER = "+16195557788"
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" * 400



class Answer:
    """What the call simulator reads of an answer, as the test client gives it."""

    def __init__(self, status: int, body: bytes, content_type: str):
        self.status_code, self._body, self.content_type = status, body, content_type

    async def get_data(self, as_text: bool = False):
        return self._body.decode() if as_text else self._body


class HttpClient:
    """The test client's post/get over real HTTP, for the call simulator."""

    def __init__(self, base: str):
        self.base = base

    async def _request(self, method: str, path: str, **kwargs) -> Answer:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.base + path, **kwargs) as response:
                return Answer(response.status, await response.read(),
                              response.headers.get("Content-Type", ""))

    async def post(self, path: str, data: bytes, headers: dict) -> Answer:
        return await self._request("POST", path, data=data, headers=headers)

    async def get(self, path: str, headers: dict) -> Answer:
        return await self._request("GET", path, headers=headers)


async def a_closed_conversation_with_a_voicemail(base: str, fake) -> TwilioDriver:
    twilio = TwilioDriver(HttpClient(base), AUTH_TOKEN, base)
    for sender, body in ((CUSTOMER, "The bin by the gate is full"), (SERGIO, "ACK"),
                         (SERGIO, "On my way")):
        assert (await twilio.text(from_=sender, to=LINE, body=body)).status == 200
    sim = CallSimulator(twilio, caller=CUSTOMER, line_number=LINE,
                        voicemail="It is overflowing now")
    call = await sim.run()
    await sim.deliver_recording()
    await sim.deliver_transcription()
    fake.recordings[call.recordings[0].sid] = ("audio/mpeg", MP3)
    assert (await twilio.text(from_=SERGIO, to=LINE, body="CLOSE")).status == 200
    return twilio


async def test_an_operator_finds_a_closed_conversation_reads_it_and_exports_csv(
        tmp_path, fake_twilio):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(tmp_path, fake_twilio.url, port, 2, IVR_OPERATOR_PASSWORD=PASSWORD)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        await wait_until_healthy(base, server)
        twilio = await a_closed_conversation_with_a_voicemail(base, fake_twilio)
        async with playwright_api.async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update",
                      "--disable-sync", "--autoplay-policy=no-user-gesture-required"])
            try:
                page = await browser.new_page(viewport={"width": 412, "height": 915},
                                              device_scale_factor=1, accept_downloads=True)
                page.set_default_timeout(15_000)
                await page.goto(base + "/dashboard/")
                await page.fill("#password", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_selector("text=No open conversations.")

                await page.click("text=History")
                await page.fill("input[name=number]", "0142")
                await page.select_option("select[name=status]", "closed")
                await page.click("form.search button[type=submit]")
                card = page.locator("#history-1")
                await card.wait_for()
                assert "+1619***0142" in await card.inner_text()
                assert "closed" in await card.inner_text()
                await page.screenshot(path=str(ARTIFACTS / "history-phone.png"), full_page=True)

                async with page.expect_download() as downloading:
                    await page.click("#export-csv")
                download = await downloading.value
                exported = Path(await download.path()).read_text("utf-8")
                assert exported.splitlines()[0].startswith("line,code,customer (masked)")
                assert "+1619***0142" in exported and CUSTOMER not in exported
                assert len(exported.splitlines()) == 2

                await page.click("#history-1 a.code")
                await page.wait_for_selector("text=The bin by the gate is full")
                await page.wait_for_selector("text=It is overflowing now")   # the transcription
                await page.wait_for_selector("text=On my way")
                audio = page.locator("audio")
                source = await audio.get_attribute("src")
                assert source.startswith("/dashboard/recordings/RE")
                fetched = await page.evaluate(
                    "src => fetch(src).then(r => r.arrayBuffer().then(b =>"
                    " [r.status, r.headers.get('content-type'), b.byteLength]))", source)
                assert fetched == [200, "audio/mpeg", len(MP3)]
                text = await page.locator("main").inner_text()
                assert CUSTOMER not in text and "api.twilio.com" not in text
                await page.screenshot(path=str(ARTIFACTS / "transcript-phone.png"),
                                      full_page=True)
                await page.set_viewport_size({"width": 1100, "height": 900})
                await page.screenshot(path=str(ARTIFACTS / "transcript.png"), full_page=True)

                # An open conversation's page is live: a text shows up without a reload.
                await twilio.text(from_=OTHER, to=LINE, body="Is anyone there?")
                await page.goto(base + "/dashboard/conversations/2")
                await page.wait_for_selector("text=Is anyone there?")
                await page.wait_for_selector("#live-dot.on")
                await twilio.text(from_=OTHER, to=LINE, body="Hello again")
                await page.wait_for_selector("text=Hello again")
            finally:
                await browser.close()
    finally:
        code, out, err = stop(server)
    assert code == 0, err
    assert fake_twilio.media_fetches and all(
        path.endswith(".mp3") for path in fake_twilio.media_fetches)
