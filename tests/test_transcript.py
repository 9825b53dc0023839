"""A conversation's transcript (issue 18, item 1): every message both ways
in order, media as thumbnails and a voicemail's recording through the
service's proxy (the account's credentials never reach the browser), the
transcription, beside the decision trail; and the proxy refusing what the
store does not hold."""

import base64
import re

import pytest

from ivr.twilio_media import media_path, recording_path

from .support.call_simulator import CallSimulator
from .support.fake_twilio import ACCOUNT_SID, API_SECRET
from .support.harness import CUSTOMER, LINE, SERGIO
from .support.operator import harness  # noqa: F401 (a fixture)
from .test_dashboard import get, log_in, page

pytestmark = pytest.mark.both_engines

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/"
                       "iZk9HQAAAABJRU5ErkJggg==")
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" * 200


def sources(html: str, tag: str) -> list[str]:
    return re.findall(rf'<{tag}[^>]* src="([^"]+)"', html)


async def a_conversation_with_everything(harness, database):
    """A text with a photo, an ACK, a reply relayed, then a voicemail."""
    photo = harness.fake.media_url("image/png", PNG)
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="The bin is full",
                              media=[(photo, "image/png")])
    harness.clock.advance(60)
    await harness.twilio.text(from_=SERGIO, to=LINE, body="ACK")
    harness.clock.advance(30)
    await harness.twilio.text(from_=SERGIO, to=LINE, body="On my way")
    await harness.deliver_outbox()
    harness.clock.advance(600)
    sim = CallSimulator(harness.twilio, caller=CUSTOMER, line_number=LINE,
                        started_at=harness.clock.now(), voicemail="Still full, please hurry")
    call = await sim.run()
    await sim.deliver_recording()
    await sim.deliver_transcription()
    [recording] = call.recordings
    harness.fake.recordings[recording.sid] = ("audio/mpeg", MP3)
    return recording


async def test_the_transcript_shows_every_message_in_order_with_media_and_voicemail(
        harness, database):
    recording = await a_conversation_with_everything(harness, database)
    await log_in(harness.client)
    html = await page(harness.client, "/dashboard/conversations/1")
    order = ["The bin is full", "reply ACK to take it", "Sergio is on it", "On my way",
             "Still full, please hurry"]
    positions = [html.find(text) for text in order]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "ACK</p>" in html                      # the responder's own text to the line
    assert "Sergio → +1619***0142" in html        # the relayed reply, and who wrote it
    assert "voicemail_received" in html and "acknowledged" in html   # the trail beside it
    assert re.search(r"\d\d:\d\d P[SD]T", html)   # in the line's zone, labelled
    # Nothing of the account's or the customer's whole number reaches the page.
    for secret in (CUSTOMER, "619-555-0142", ACCOUNT_SID, API_SECRET, "api.twilio.com"):
        assert secret not in html

    [audio] = sources(html, "audio")
    assert audio == f"/dashboard/recordings/{recording.sid}"
    played = await get(harness.client, audio)
    assert played.status_code == 200 and await played.get_data() == MP3
    assert played.content_type == "audio/mpeg"
    assert harness.fake.media_fetches[-1].endswith(f"/Recordings/{recording.sid}.mp3")

    # The customer's photo, and the same photo in the page that carried it to Sergio.
    customers, paged = sources(html, "img")
    assert customers.startswith("/dashboard/media/in/")
    assert paged.startswith("/dashboard/media/out/")
    for thumbnail in (customers, paged):
        shown = await get(harness.client, thumbnail)
        assert shown.status_code == 200 and await shown.get_data() == PNG
        assert shown.content_type == "image/png"
        for response in (played, shown):
            assert API_SECRET not in str(response.headers)
            assert "Authorization" not in response.headers


async def test_the_proxy_refuses_what_the_store_does_not_hold(harness, database):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="look",
                              media=[("https://evil.example/steal.png", "image/png"),
                                     (f"https://api.twilio.com/2010-04-01/Accounts/AC{'9' * 32}"
                                      f"/Messages/MM{'1' * 32}/Media/ME{'2' * 32}", "image/png")])
    [message_sid] = [d.sid for d in await harness.decisions() if d.kind == "conversation_opened"]
    assert (await get(harness.client, "/dashboard/recordings/RE" + "0" * 32)).status_code == 302
    await log_in(harness.client)
    html = await page(harness.client, "/dashboard/conversations/1")
    assert sources(html, "img") == [] and "=\"https://evil.example" not in html
    assert html.count("is not kept by Twilio for this account") == 4   # the text and its page
    for path in ("/dashboard/recordings/RE" + "0" * 32,           # no such voicemail
                 f"/dashboard/media/in/{message_sid}/0",          # not Twilio's host
                 f"/dashboard/media/in/{message_sid}/1",          # another account
                 f"/dashboard/media/in/{message_sid}/2",          # no such item
                 "/dashboard/media/in/SMnothing/0", "/dashboard/media/out/999/0"):
        response = await get(harness.client, path)
        assert response.status_code == 404, path
    assert harness.fake.media_fetches == []
    assert (await get(harness.client, "/dashboard/conversations/99")).status_code == 404


async def test_a_recording_twilio_no_longer_has_is_a_404_not_a_crash(harness, database):
    sim = CallSimulator(harness.twilio, caller=CUSTOMER, line_number=LINE,
                        started_at=harness.clock.now(), voicemail="Hello?")
    call = await sim.run()
    await sim.deliver_recording()
    await log_in(harness.client)
    response = await get(harness.client, f"/dashboard/recordings/{call.recordings[0].sid}")
    assert response.status_code == 404
    assert "no longer has" in await response.get_data(as_text=True)


@pytest.mark.parametrize("url, allowed", [
    (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'a' * 32}"
     f"/Media/ME{'b' * 32}", True),
    (f"https://api.twilio.com/2010-04-01/Accounts/AC{'9' * 32}/Messages/MM{'a' * 32}"
     f"/Media/ME{'b' * 32}", False),                       # another account
    (f"http://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'a' * 32}"
     f"/Media/ME{'b' * 32}", False),                       # not https
    (f"https://api.twilio.com.evil.example/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/"
     f"MM{'a' * 32}/Media/ME{'b' * 32}", False),
    (f"https://user:pw@api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'a' * 32}"
     f"/Media/ME{'b' * 32}", False),
    (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", False),
    (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'a' * 32}"
     f"/Media/ME{'b' * 32}/../../../Calls.json", False),
])
def test_which_media_urls_the_proxy_fetches(url, allowed):
    assert (media_path(url, ACCOUNT_SID) is not None) is allowed


def test_a_recording_is_fetched_as_mp3_of_this_account_only():
    base = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'c' * 32}"
    assert recording_path(base, ACCOUNT_SID).endswith(f"RE{'c' * 32}.mp3")
    assert recording_path(base + ".wav", ACCOUNT_SID).endswith(".mp3")
    assert recording_path(base, "AC" + "9" * 32) is None
    assert recording_path("https://example.com/RE1", ACCOUNT_SID) is None
