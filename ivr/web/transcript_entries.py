"""A conversation's transcript as the operator reads it: every message both
ways, in the order it happened: the customer's texts and voicemails, the
responders' texts to the line, what the line sent (pages and notices to
responders, its automatic texts and the replies it relayed to the
customer) and its phone pages. Numbers masked, times in the line's zone.
Pure: the routes give it the store's rows and the URLs of the proxy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ..config import Config
from ..phone import display, mask
from ..shown_times import day_and_time, line_zone
from ..store.history import InboundText, OutboundText, PhonePage, Transcript
from ..twilio_media import media_path

# Every word of it is in dashboard_templates/transcript.html; these are
# what an entry is ("kind": text, voicemail, or the outbox's purpose: page,
# notice, customer, relay; phone_page, owner_call) and who its ends are
# (a responder's name, the masked customer, or None: the line itself).


# Twilio's URLs in what the line sent (a page carries the media's and the
# recording's): the page shows the media itself, through the proxy.
_TWILIO_URL = re.compile(r"https://api\.twilio\.com/\S+")
ELIDED = "[…]"


def shown_body(body: str, customer: str) -> str:
    """A body as the transcript shows it: the customer's number masked, as
    everywhere on the dashboard, and no Twilio URL."""
    if customer:
        for written in (display(customer), customer):
            body = body.replace(written, mask(customer))
    return _TWILIO_URL.sub(ELIDED, body)


@dataclass(frozen=True)
class Media:
    number: int          # 1, 2 ...: its place in the text
    url: str | None      # the proxy's URL; None: not Twilio's, so not fetched


@dataclass(frozen=True)
class Entry:
    at: str              # store time: the order
    time: str            # shown, in the line's zone
    side: str            # 'in' (to the line) or 'out' (from it)
    kind: str
    who: str | None = None       # None: the line
    to: str | None = None        # None: the line
    body: str = ""
    media: tuple[Media, ...] = ()
    audio_url: str | None = None
    transcription: str | None = None
    seconds: int | None = None
    status: str | None = None    # a text's delivery, a phone page's end
    answer: str | None = None    # the key pressed on a phone page


@dataclass(frozen=True)
class ProxyUrls:
    """The proxy routes' URLs (the routes build them with url_for)."""
    inbound_media: Callable[[str, int], str]
    outbox_media: Callable[[int, int], str]
    recording: Callable[[str], str]
    account_sid: str


def transcript_entries(config: Config, transcript: Transcript,
                       urls: ProxyUrls) -> list[Entry]:
    conversation = transcript.conversation
    zone = line_zone(config, conversation.line_id)
    customer = mask(conversation.customer)

    def name(responder_id: str | None, number: str | None = None) -> str:
        responder = config.responders.get(responder_id or "")
        if responder is None and number is not None:
            responder = next((r for r in config.responders.values() if r.phone == number),
                             None)
        return responder.name if responder else (responder_id or mask(number or ""))

    def media(urls_of: tuple[str, ...], proxied: Callable[[int], str]) -> tuple[Media, ...]:
        return tuple(Media(i + 1, proxied(i) if media_path(url, urls.account_sid) else None)
                     for i, url in enumerate(urls_of))

    entries: list[Entry] = []
    # A voicemail is also kept as a text of the conversation (what pages quote): shown once.
    recordings = {voicemail.recording_sid for voicemail in transcript.voicemails}
    for text in transcript.customer_texts:
        if text.message_sid in recordings:
            continue
        entries.append(_inbound(text, customer, zone, media(
            text.media_urls, lambda i, sid=text.message_sid: urls.inbound_media(sid, i))))
    for text in transcript.responder_texts:
        if not text.relayed:    # a relayed reply is shown as the line sent it
            entries.append(_inbound(text, name(None, text.sender), zone, media(
                text.media_urls, lambda i, sid=text.message_sid: urls.inbound_media(sid, i))))
    for sent in transcript.sent:
        entries.append(_outbound(sent, customer, name, zone, media(
            sent.media_urls, lambda i, oid=sent.id: urls.outbox_media(oid, i)),
            shown_body(sent.body, conversation.customer)))
    for voicemail in transcript.voicemails:
        entries.append(Entry(
            at=voicemail.received_at, time=day_and_time(voicemail.received_at, zone),
            side="in", kind="voicemail", who=customer,
            audio_url=urls.recording(voicemail.recording_sid)
            if voicemail.recording_url else None,
            transcription=voicemail.transcription, seconds=voicemail.duration))
    entries.extend(_phone_page(page, name(page.responder_id), zone)
                   for page in transcript.phone_pages)
    return sorted(entries, key=lambda e: e.at)


def _inbound(text: InboundText, who: str, zone, media: tuple[Media, ...]) -> Entry:
    return Entry(at=text.received_at, time=day_and_time(text.received_at, zone), side="in",
                 kind="text", who=who, body=text.body, media=media)


def _outbound(sent: OutboundText, customer: str, name, zone, media: tuple[Media, ...],
              body: str) -> Entry:
    to = customer if sent.purpose in ("customer", "relay") else name(sent.responder_id,
                                                                      sent.to_number)
    who = name(sent.decided_by) if sent.purpose == "relay" and sent.decided_by else None
    return Entry(at=sent.created_at, time=day_and_time(sent.created_at, zone), side="out",
                 kind=sent.purpose, who=who, to=to, body=body, media=media,
                 status=sent.delivery_status or sent.status)


def _phone_page(page: PhonePage, responder: str, zone) -> Entry:
    return Entry(at=page.due_at, time=day_and_time(page.due_at, zone), side="out",
                 kind="phone_page" if page.purpose == "page" else "owner_call", to=responder,
                 status=page.call_status or page.status, answer=page.answer)
