"""Plays Twilio toward the app: signed form POSTs with Twilio's exact
parameter names, and the TwiML that comes back parsed (and so checked to be
well-formed) before anything else looks at it."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from .fake_twilio import ACCOUNT_SID
from .twiml_check import check_twiml

_sids = itertools.count(1)

TWILIO_HEADERS = {
    "User-Agent": "TwilioProxy/1.1",
    "X-Home-Region": "us1",
}

Params = Mapping[str, str] | Sequence[tuple[str, str]]


def sid(prefix: str) -> str:
    return f"{prefix}{next(_sids):032x}"


def _pairs(params: Params) -> list[tuple[str, str]]:
    return list(params.items()) if isinstance(params, Mapping) else list(params)


def sign(token: str, url: str, params: Params) -> str:
    """X-Twilio-Signature as Twilio computes it, repeated names included."""
    from werkzeug.datastructures import MultiDict
    return RequestValidator(token).compute_signature(url, MultiDict(_pairs(params)))


@dataclass
class WebhookResponse:
    status: int
    body: str
    content_type: str
    messaging: bool = False

    @property
    def twiml(self) -> ET.Element:
        """The TwiML, checked as Twilio would read it (see twiml_check)."""
        assert self.content_type.startswith("text/xml"), self.content_type
        return check_twiml(self.body, messaging=self.messaging)

    def messages(self) -> list[str]:
        return [element.text or "" for element in self.twiml.iter("Message")]


class TwilioDriver:
    def __init__(self, client, auth_token: str, public_base_url: str):
        self.client = client
        self.auth_token = auth_token
        self.public_base_url = public_base_url.rstrip("/")

    async def post(self, path: str, params: Params, *, token: str | None = None,
                   signature: str | None = None, signed_url: str | None = None,
                   headers: Mapping[str, str] | None = None) -> WebhookResponse:
        """POST `params` to `path`, signed for the public URL unless told otherwise."""
        pairs = _pairs(params)
        url = signed_url or f"{self.public_base_url}{path}"
        if signature is None:
            signature = sign(token or self.auth_token, url, pairs)
        all_headers = {**TWILIO_HEADERS, "Content-Type": "application/x-www-form-urlencoded",
                       "I-Twilio-Idempotency-Token": sid("")[:32]}
        if signature:
            all_headers["X-Twilio-Signature"] = signature
        all_headers.update(headers or {})
        response = await self.client.post(path, data=urlencode(pairs).encode(),
                                          headers=all_headers)
        body = await response.get_data(as_text=True)
        return WebhookResponse(response.status_code, body, response.content_type or "",
                               messaging=path.startswith("/sms/"))

    def sms_params(self, *, from_: str, to: str, body: str, message_sid: str | None = None,
                   media: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
        """An inbound SMS/MMS exactly as Twilio posts it."""
        message_sid = message_sid or sid("SM")
        media = list(media)
        params = [
            ("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", message_sid),
            ("NumMedia", str(len(media))), ("ToCity", "SAN DIEGO"), ("FromZip", "92101"),
            ("SmsSid", message_sid), ("FromState", "CA"), ("SmsStatus", "received"),
            ("FromCity", "SAN DIEGO"), ("Body", body), ("FromCountry", "US"), ("To", to),
            ("ToZip", "92101"), ("NumSegments", "1"), ("MessageSid", message_sid),
            ("AccountSid", ACCOUNT_SID), ("From", from_), ("ApiVersion", "2010-04-01"),
        ]
        for i, (url, content_type) in enumerate(media):
            params += [(f"MediaUrl{i}", url), (f"MediaContentType{i}", content_type)]
        return params

    async def text(self, *, from_: str, to: str, body: str, message_sid: str | None = None,
                   media: Iterable[tuple[str, str]] = ()) -> WebhookResponse:
        return await self.post("/sms/incoming", self.sms_params(
            from_=from_, to=to, body=body, message_sid=message_sid, media=media))

    async def message_status(self, *, message_sid: str, to: str, from_: str, status: str,
                             error_code: str | None = None) -> WebhookResponse:
        params = [("MessageSid", message_sid), ("SmsSid", message_sid),
                  ("MessageStatus", status), ("SmsStatus", status), ("AccountSid", ACCOUNT_SID),
                  ("From", from_), ("To", to), ("ApiVersion", "2010-04-01")]
        if error_code:
            params.append(("ErrorCode", error_code))
        return await self.post("/sms/status", params)
