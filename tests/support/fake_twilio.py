"""A fake of Twilio's REST API on loopback, in the spirit of twilio-python's
holodeck: it records every request, answers Twilio-shaped JSON, enforces
the rules Twilio enforces (credentials, required and either/or parameters),
and fails loudly on anything it does not know.

The service under test reaches it through its real gateway and the real
twilio-python client, with TWILIO_API_BASE pointing here.
"""

from __future__ import annotations

import base64
import itertools
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Awaitable, Callable
from urllib.parse import urlparse

from aiohttp import web

from ivr.local_twilio import serve

from .twilio_rules import incoming_number_problems

ACCOUNT_SID = "AC" + "0" * 31 + "1"
API_KEY = "SK" + "0" * 31 + "2"
API_SECRET = "fake-api-secret-not-real"

_sids = itertools.count(1)


def new_sid(prefix: str) -> str:
    return f"{prefix}{next(_sids):032x}"


@dataclass
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    media_urls: list[str]
    status_callback: str | None
    form: dict[str, list[str]]
    # Twilio's date_sent in a listing: the fake sends the moment it accepts.
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    # Sent through a Messaging Service: its SID; from_ is then the number the
    # fake picked from its pool (the first), which the REST answer leaves out.
    messaging_service: str | None = None


@dataclass
class PlacedCall:
    sid: str
    to: str
    from_: str
    url: str | None
    twiml: str | None
    form: dict[str, list[str]]


@dataclass
class ScriptedFailure:
    status: int
    code: int
    message: str


@dataclass
class FakeTwilio:
    username: str = API_KEY
    password: str = API_SECRET
    account_sid: str = ACCOUNT_SID
    messages: list[SentMessage] = field(default_factory=list)
    calls: list[PlacedCall] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    numbers: dict[str, dict] = field(default_factory=dict)   # sid -> IncomingPhoneNumber
    number_updates: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    failures: list[ScriptedFailure] = field(default_factory=list)
    # Messaging v1 Services, sid -> Service resource (with "numbers": its pool)
    services: dict[str, dict] = field(default_factory=dict)
    service_updates: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    # Recordings (by RecordingSid) and MMS media (by path) the account keeps:
    # (Content-Type, bytes). Media answers with a redirect to a short-lived
    # URL on a media host that wants no credentials, as Twilio's does.
    recordings: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    media_fetches: list[str] = field(default_factory=list)
    # Awaited with each accepted message before its answer is sent: what
    # Twilio may do meanwhile (post a status callback, take its time).
    before_answer: Callable[[SentMessage], Awaitable[None]] | None = None
    url: str = ""
    _runner: web.AppRunner | None = None
    _media_tokens: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    async def start(self) -> "FakeTwilio":
        app = web.Application()
        base = "/2010-04-01/Accounts/{account}"
        app.router.add_post(base + "/Messages.json", self._create_message)
        app.router.add_get(base + "/Messages.json", self._list_messages)
        app.router.add_post(base + "/Calls.json", self._create_call)
        app.router.add_get(base + "/IncomingPhoneNumbers.json", self._list_numbers)
        app.router.add_post(base + "/IncomingPhoneNumbers/{sid}.json", self._update_number)
        # Messaging v1 (messaging.twilio.com; the gateway rebases it here too).
        app.router.add_get("/v1/Services", self._list_services)
        app.router.add_post("/v1/Services/{sid}", self._update_service)
        app.router.add_get("/v1/Services/{sid}/PhoneNumbers", self._list_pool)
        app.router.add_get(base + "/Recordings/{sid}", self._recording)
        app.router.add_get(base + "/Messages/{message}/Media/{sid}", self._media_item)
        app.router.add_get("/media-host/{token}", self._media_host)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, status: int, code: int = 20500, message: str = "scripted failure",
                  times: int = 1) -> None:
        """The next `times` creates answer with this error, as Twilio would."""
        self.failures.extend(ScriptedFailure(status, code, message) for _ in range(times))

    def messages_to(self, number: str) -> list[SentMessage]:
        return [m for m in self.messages if m.to == number]

    # -- handlers ----------------------------------------------------------

    def _problem(self, status: int, code: int, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message, "more_info":
                                  f"https://www.twilio.com/docs/errors/{code}", "status": status},
                                 status=status)

    def _check_request(self, request: web.Request, form: bool = True) -> web.Response | None:
        # Messaging v1's paths name no account: the credentials say which.
        if request.match_info.get("account", self.account_sid) != self.account_sid:
            self.unexpected.append(f"wrong account in {request.path}")
            return self._problem(404, 20404, "The requested resource was not found")
        header = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if not secrets.compare_digest(header, expected):
            self.unexpected.append(f"bad credentials on {request.path}")
            return self._problem(401, 20003, "Authenticate")
        if form and not request.content_type == "application/x-www-form-urlencoded":
            self.unexpected.append(f"content type {request.content_type} on {request.path}")
            return self._problem(415, 20415, "Unsupported Media Type")
        if self.failures:
            failure = self.failures.pop(0)
            return self._problem(failure.status, failure.code, failure.message)
        return None

    async def _create_message(self, request: web.Request) -> web.Response:
        refused = self._check_request(request)
        if refused is not None:
            return refused
        form = await request.post()
        fields = {key: form.getall(key) for key in set(form.keys())}
        known = {"To", "From", "MessagingServiceSid", "Body", "MediaUrl", "StatusCallback"}
        if set(fields) - known:
            self.unexpected.append(f"unexpected message parameters {sorted(set(fields) - known)}")
        to, sender = form.get("To"), form.get("From") or form.get("MessagingServiceSid")
        body, media = form.get("Body", ""), form.getall("MediaUrl", [])
        service = form.get("MessagingServiceSid")
        if not to:
            return self._problem(400, 21604, "A 'To' phone number is required.")
        if not sender:
            return self._problem(400, 21603, "A 'From' phone number is required.")
        if service is not None and service not in self.services:
            self.unexpected.append(f"a send through unknown Messaging Service {service}")
            return self._problem(404, 20404, "The requested resource was not found")
        if not body and not media:
            return self._problem(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return self._problem(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        callback = form.get("StatusCallback")
        if callback is not None and urlparse(callback).scheme not in ("http", "https"):
            return self._problem(400, 21609, "Invalid StatusCallback URL")
        sid = new_sid("SM")
        if service is not None and not form.get("From"):
            # Twilio picks the sender from the pool after it answers.
            pool = self.services[service]["numbers"]
            sender = pool[0] if pool else service
        sent = SentMessage(sid=sid, to=to, from_=sender, body=body, media_urls=list(media),
                           status_callback=callback, form=fields, messaging_service=service)
        self.messages.append(sent)
        if self.before_answer is not None:
            await self.before_answer(sent)
        document = self._message_json(sid, to, sender, body, len(media))
        if service is not None:
            # Through a Messaging Service a message is created `accepted`, its
            # From not yet chosen (Twilio's "Outbound Message Status in Status
            # Callbacks" guide; `accepted` is in the v2010 status enum).
            document.update(status="accepted", messaging_service_sid=service,
                            **{"from": form.get("From")})
        return web.json_response(document, status=201)

    def _message_json(self, sid: str, to: str, sender: str, body: str, num_media: int) -> dict:
        return {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body,
            "date_created": "Sun, 22 Nov 2026 18:00:00 +0000", "date_sent": None,
            "date_updated": "Sun, 22 Nov 2026 18:00:00 +0000", "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": sender,
            "messaging_service_sid": None, "num_media": str(num_media), "num_segments": "1",
            "price": None, "price_unit": "USD", "sid": sid, "status": "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": to, "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

    async def _list_messages(self, request: web.Request) -> web.Response:
        """Read Messages, newest first, filtered as Twilio filters: To and
        From exactly, DateSent/DateSent</DateSent> by GMT date or date-time."""
        refused = self._check_request(request, form=False)
        if refused is not None:
            return refused
        query = request.query
        known = {"To", "From", "DateSent", "DateSent<", "DateSent>", "PageSize", "Page",
                 "PageToken"}
        if set(query) - known:
            self.unexpected.append(f"unexpected list parameters {sorted(set(query) - known)}")
        try:
            size = int(query.get("PageSize", "50"))
            bounds = {key: _gmt(query[key]) for key in ("DateSent", "DateSent<", "DateSent>")
                      if key in query}
        except ValueError:
            return self._problem(400, 20001, "Invalid parameter")
        if not 1 <= size <= 1000:
            return self._problem(400, 20001, "Invalid PageSize")
        found = [m for m in reversed(self.messages)
                 if query.get("To") in (None, m.to) and query.get("From") in (None, m.from_)
                 and _sent_within(m.created, bounds)][:size]
        return web.json_response({
            "messages": [self._listed(m) for m in found], "page": 0, "page_size": size,
            "start": 0, "end": max(len(found) - 1, 0), "next_page_uri": None,
            "previous_page_uri": None, "first_page_uri": request.path_qs, "uri": request.path_qs})

    def _listed(self, message: SentMessage) -> dict:
        document = self._message_json(message.sid, message.to, message.from_, message.body,
                                      len(message.media_urls))
        when = format_datetime(message.created, usegmt=True)
        document.update(date_created=when, date_updated=when, date_sent=when, status="sent",
                        messaging_service_sid=message.messaging_service)
        return document

    async def _create_call(self, request: web.Request) -> web.Response:
        refused = self._check_request(request)
        if refused is not None:
            return refused
        form = await request.post()
        fields = {key: form.getall(key) for key in set(form.keys())}
        to, sender = form.get("To"), form.get("From")
        url, twiml = form.get("Url"), form.get("Twiml")
        if not to or not sender:
            return self._problem(400, 21201, "To and From are required")
        if bool(url) == bool(twiml):
            return self._problem(400, 21205, "Exactly one of Url or Twiml is required")
        sid = new_sid("CA")
        self.calls.append(PlacedCall(sid=sid, to=to, from_=sender, url=url, twiml=twiml,
                                     form=fields))
        return web.json_response({"sid": sid, "account_sid": self.account_sid, "to": to,
                                  "from": sender, "status": "queued",
                                  "direction": "outbound-api", "api_version": "2010-04-01"},
                                 status=201)

    def add_number(self, phone_number: str, **webhooks: str | None) -> str:
        """An IncomingPhoneNumber the account owns, with its current webhooks."""
        sid = new_sid("PN")
        self.numbers[sid] = {
            "sid": sid, "account_sid": self.account_sid, "phone_number": phone_number,
            "friendly_name": phone_number, "voice_url": webhooks.get("voice_url"),
            "voice_method": webhooks.get("voice_method", "POST"),
            "sms_url": webhooks.get("sms_url"), "sms_method": webhooks.get("sms_method", "POST"),
            "status_callback": webhooks.get("status_callback"),
            "status_callback_method": webhooks.get("status_callback_method", "POST"),
            "voice_fallback_url": webhooks.get("voice_fallback_url"),
            "voice_fallback_method": webhooks.get("voice_fallback_method", "POST"),
            "sms_fallback_url": webhooks.get("sms_fallback_url"),
            "sms_fallback_method": webhooks.get("sms_fallback_method", "POST"),
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers/{sid}.json",
        }
        return sid

    async def _list_numbers(self, request: web.Request) -> web.Response:
        refused = self._check_request(request, form=False)
        if refused is not None:
            return refused
        wanted = request.query.get("PhoneNumber")
        found = [n for n in self.numbers.values() if wanted in (None, n["phone_number"])]
        return web.json_response({
            "incoming_phone_numbers": found, "page": 0, "page_size": 50, "start": 0,
            "end": max(len(found) - 1, 0), "next_page_uri": None, "previous_page_uri": None,
            "first_page_uri": request.path_qs, "uri": request.path_qs})

    async def _update_number(self, request: web.Request) -> web.Response:
        refused = self._check_request(request)
        if refused is not None:
            return refused
        sid = request.match_info["sid"]
        if sid not in self.numbers:
            return self._problem(404, 20404, "The requested resource was not found")
        form = await request.post()
        fields = {key: form.getall(key) for key in set(form.keys())}
        names = {"VoiceUrl": "voice_url", "VoiceMethod": "voice_method", "SmsUrl": "sms_url",
                 "SmsMethod": "sms_method", "StatusCallback": "status_callback",
                 "StatusCallbackMethod": "status_callback_method",
                 "VoiceFallbackUrl": "voice_fallback_url",
                 "VoiceFallbackMethod": "voice_fallback_method",
                 "SmsFallbackUrl": "sms_fallback_url", "SmsFallbackMethod": "sms_fallback_method"}
        if set(fields) - set(names):
            self.unexpected.append(f"unexpected number parameters {sorted(set(fields) - set(names))}")
        problems = incoming_number_problems(fields)
        if problems:
            self.unexpected.extend(problems)
            return self._problem(400, 21502, "; ".join(problems))
        updated = {**self.numbers[sid], **{names[k]: v[-1] for k, v in fields.items()
                                           if k in names}}
        # Twilio refuses a fallback without the URL it stands in for.
        if updated["voice_fallback_url"] and not updated["voice_url"]:
            return self._problem(400, 21405, "Cannot set VoiceFallbackUrl without setting Url")
        if updated["sms_fallback_url"] and not updated["sms_url"]:
            return self._problem(400, 21406, "Cannot set SmsFallbackUrl without setting SmsUrl")
        self.numbers[sid] = updated
        self.number_updates.append((sid, fields))
        return web.json_response(self.numbers[sid])

    # -- Messaging v1 ------------------------------------------------------
    # Twilio's OpenAPI in ../shared holds api v2010 only; these follow the
    # Messaging v1 docs (Service resource: inbound_request_url, null drops
    # incoming texts; use_inbound_webhook_on_number, "Defer to sender's
    # webhook" in the Console; Services/{sid}/PhoneNumbers, the Sender Pool)
    # and twilio-python's messaging/v1 client (v1 pages carry a "meta" key).

    def add_messaging_service(self, numbers: list[str], *, friendly_name: str = "QDN texts",
                              inbound_request_url: str | None = None,
                              use_inbound_webhook_on_number: bool = False,
                              sid: str | None = None) -> str:
        sid = sid or new_sid("MG")
        self.services[sid] = {
            "sid": sid, "account_sid": self.account_sid, "friendly_name": friendly_name,
            "inbound_request_url": inbound_request_url, "inbound_method": "POST",
            "fallback_url": None, "fallback_method": "POST", "status_callback": None,
            "sticky_sender": True, "use_inbound_webhook_on_number": use_inbound_webhook_on_number,
            "url": f"https://messaging.twilio.com/v1/Services/{sid}", "numbers": list(numbers)}
        return sid

    def _service_json(self, service: dict) -> dict:
        return {k: v for k, v in service.items() if k != "numbers"}

    def _v1_page(self, key: str, records: list[dict], request: web.Request) -> web.Response:
        url = f"https://messaging.twilio.com{request.path_qs}"
        return web.json_response({key: records, "meta": {
            "page": 0, "page_size": 50, "first_page_url": url, "previous_page_url": None,
            "url": url, "next_page_url": None, "key": key}})

    async def _list_services(self, request: web.Request) -> web.Response:
        refused = self._check_request(request, form=False)
        if refused is not None:
            return refused
        return self._v1_page("services", [self._service_json(s) for s in self.services.values()],
                             request)

    async def _list_pool(self, request: web.Request) -> web.Response:
        refused = self._check_request(request, form=False)
        if refused is not None:
            return refused
        service = self.services.get(request.match_info["sid"])
        if service is None:
            return self._problem(404, 20404, "The requested resource was not found")
        owned = {n["phone_number"]: n["sid"] for n in self.numbers.values()}
        return self._v1_page("phone_numbers", [
            {"sid": owned.get(number, new_sid("PN")), "service_sid": service["sid"],
             "account_sid": self.account_sid, "phone_number": number, "country_code": "US",
             "capabilities": ["SMS", "MMS", "Voice"]} for number in service["numbers"]], request)

    async def _update_service(self, request: web.Request) -> web.Response:
        refused = self._check_request(request)
        if refused is not None:
            return refused
        service = self.services.get(request.match_info["sid"])
        if service is None:
            return self._problem(404, 20404, "The requested resource was not found")
        form = await request.post()
        fields = {key: form.getall(key) for key in set(form.keys())}
        names = {"UseInboundWebhookOnNumber": "use_inbound_webhook_on_number",
                 "InboundRequestUrl": "inbound_request_url"}
        if set(fields) - set(names) or fields.get("UseInboundWebhookOnNumber", ["true"]) not in (
                ["true"], ["false"]):
            self.unexpected.append(f"unexpected service parameters {fields}")
            return self._problem(400, 20001, "Invalid parameter")
        for key, values in fields.items():
            service[names[key]] = (values[-1] == "true" if key == "UseInboundWebhookOnNumber"
                                   else values[-1])
        self.service_updates.append((service["sid"], fields))
        return web.json_response(self._service_json(service))

    def media_url(self, content_type: str, content: bytes) -> str:
        """An MMS media item the account keeps, and the MediaUrl Twilio sends for it."""
        path = (f"/2010-04-01/Accounts/{self.account_sid}/Messages/{new_sid('MM')}"
                f"/Media/{new_sid('ME')}")
        self.media[path] = (content_type, content)
        return "https://api.twilio.com" + path

    async def _recording(self, request: web.Request) -> web.Response:
        refused = self._check_request(request, form=False)
        if refused is not None:
            return refused
        self.media_fetches.append(request.path)
        sid, dot, extension = request.match_info["sid"].partition(".")
        if sid not in self.recordings:
            return self._problem(404, 20404, "The requested resource was not found")
        content_type, content = self.recordings[sid]
        if dot and extension != "mp3":
            self.unexpected.append(f"recording asked for as .{extension}")
        return web.Response(body=content, content_type=content_type)

    async def _media_item(self, request: web.Request) -> web.Response:
        refused = self._check_request(request, form=False)
        if refused is not None:
            return refused
        self.media_fetches.append(request.path)
        if request.path not in self.media:
            return self._problem(404, 20404, "The requested resource was not found")
        token = secrets.token_urlsafe(8)
        self._media_tokens[token] = self.media[request.path]
        raise web.HTTPTemporaryRedirect(f"{self.url}/media-host/{token}")

    async def _media_host(self, request: web.Request) -> web.Response:
        if "Authorization" in request.headers:
            self.unexpected.append("credentials sent to the media host")
        found = self._media_tokens.get(request.match_info["token"])
        if found is None:
            return web.Response(status=404)
        content_type, content = found
        return web.Response(body=content, content_type=content_type)

    async def _unknown(self, request: web.Request) -> web.Response:
        self.unexpected.append(f"{request.method} {request.path}")
        return self._problem(404, 20404, "The requested resource was not found")


def _gmt(value: str) -> datetime:
    """A DateSent filter's value: YYYY-MM-DD, or a date-time as twilio-python sends it."""
    if len(value) == 10:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _sent_within(sent: datetime, bounds: dict[str, datetime]) -> bool:
    """Twilio compares DateSent by day: `DateSent>` is on or after that date."""
    day = sent.date()
    return all({"DateSent": day == bound.date(), "DateSent<": day <= bound.date(),
                "DateSent>": day >= bound.date()}[key] for key, bound in bounds.items())
