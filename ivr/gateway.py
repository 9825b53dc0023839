"""Twilio's REST API, behind one class. Nothing else in ivr talks to Twilio.

The REST host comes from TWILIO_API_BASE so local mode and the tests can
point the client at a fake on loopback.

The two requests sent for every page (creating a Message or a Call) are
plain form POSTs on one aiohttp session: twilio-python's request building
(headers rebuilt per request, its Values and record deserialising) cost
0.15-0.3 CPU-ms per send of a text's ~3 (bench/rest_path.py), and its async
client dropped its timeout. What an operator runs now and then (listing
and updating numbers, finding a sent message after a crash) still goes
through twilio-python's client.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from urllib.parse import urlencode

import aiohttp
from multidict import MultiDict
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from yarl import URL

from .messaging_services import MessagingService
from .phone import mask
from .secrets import DEFAULT_API_BASE, Secrets

log = logging.getLogger(__name__)

# The longest any REST request may take, answer read included. It must stay
# well inside the outbox's claim lease (ivr/outbox.py LEASE, SEND_START_MARGIN):
# a hung send has to be given up before another claim could send it again.
REQUEST_TIMEOUT_SECONDS = 10

# find_sent looks at this many of the newest messages between two numbers:
# one page, and more than a line sends one responder within a claim's lease.
FIND_SENT_LIMIT = 50


FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}

# Messaging v1 lives on its own host; the fakes (tests, local mode) serve its
# paths (/v1/...) beside api's (/2010-04-01/...), which never overlap.
MESSAGING_BASE = "https://messaging.twilio.com"
# The most Messaging Services, and numbers in one's Sender Pool (Twilio
# allows 400), that `ivr check` and `ivr twilio configure` read.
SERVICES_LIMIT = 100
SENDER_POOL_LIMIT = 400


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str | None


class SendError(Exception):
    """A send that did not happen. `retryable` says whether trying again can help:
    429, 5xx and connection trouble can; any other 4xx never will."""

    def __init__(self, message: str, retryable: bool, http_status: int | None = None,
                 twilio_code: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.http_status = http_status
        self.twilio_code = twilio_code


@contextmanager
def _rest_errors(doing: str) -> Iterator[None]:
    """Every REST failure as a SendError that says whether a retry can help."""
    try:
        yield
    except (TwilioRestException, TwilioServiceException) as exc:
        status = getattr(exc, "status", None)
        code = getattr(exc, "code", None)
        retryable = status is None or status == 429 or status >= 500
        raise SendError(f"Twilio answered HTTP {status} (error {code}) {doing}",
                        retryable=retryable, http_status=status, twilio_code=code) from None
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise SendError(f"could not reach Twilio ({type(exc).__name__}) {doing}",
                        retryable=True) from None


class _RebasedHttpClient(AsyncTwilioHttpClient):
    """twilio-python has no setting for its REST host; rewrite it here."""

    def __init__(self, api_base: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.api_base = api_base.rstrip("/")

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any):  # type: ignore[override]
        if self.api_base != DEFAULT_API_BASE:
            for host in (DEFAULT_API_BASE, MESSAGING_BASE):
                if url.startswith(host):
                    url = self.api_base + url[len(host):]
        return await super().request(method, url, *args, **kwargs)


@dataclass(frozen=True)
class PhoneNumberConfig:
    """An IncomingPhoneNumber's webhooks, as Twilio holds them."""
    sid: str
    phone_number: str
    voice_url: str | None
    voice_method: str | None
    sms_url: str | None
    sms_method: str | None
    status_callback: str | None
    status_callback_method: str | None
    voice_fallback_url: str | None = None
    voice_fallback_method: str | None = None
    sms_fallback_url: str | None = None
    sms_fallback_method: str | None = None


@dataclass(frozen=True)
class MediaStream:
    """A recording or MMS media item as Twilio answers it, read chunk by chunk."""
    status: int                        # Twilio's (or its media host's) HTTP status
    content_type: str | None
    length: int | None
    chunks: AsyncIterator[bytes]       # closes the connection once read to its end
    close: Callable[[], Awaitable[None]]   # for a stream not read (an error answered)


# Twilio answers a media URL with a redirect to a short-lived URL on its
# media host; that one needs (and is sent) no credentials.
MEDIA_REDIRECTS = (301, 302, 303, 307, 308)
MEDIA_CHUNK = 64 * 1024


# How long a phone page rings before Twilio gives up: long enough to wake
# up and answer, short enough that a phone's own voicemail (which usually
# answers after 20-30 s) often does not.
PAGE_CALL_RING_SECONDS = 25


class TwilioGateway:
    def __init__(self, secrets: Secrets, *, admin: bool = False,
                 timeout: float = REQUEST_TIMEOUT_SECONDS):
        """`admin` uses the account SID and auth token, as setting up the
        account's numbers requires; otherwise the run-time credentials.
        `timeout` bounds every REST request (seconds); it may be shortened
        (tests), not lengthened past what the outbox's lease allows for."""
        if not 0 < timeout <= REQUEST_TIMEOUT_SECONDS:
            raise ValueError(f"timeout={timeout!r}: a REST request may take more than 0 and at "
                             f"most {REQUEST_TIMEOUT_SECONDS} s, or the outbox's claim could "
                             f"run out under it and the message be sent twice")
        self.timeout = timeout
        if admin:
            if not (secrets.account_sid and secrets.auth_token):
                raise ValueError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are both needed")
            credentials = (secrets.account_sid, secrets.auth_token, secrets.account_sid)
        else:
            found = secrets.rest_credentials()
            if found is None:
                raise ValueError("the gateway needs TWILIO_ACCOUNT_SID with an API key or "
                                 "auth token")
            credentials = found
        self._credentials = credentials
        self._api_base = secrets.api_base
        self._client: Client | None = None
        self._http: _RebasedHttpClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self.account_sid = credentials[2]
        if secrets.uses_account_pair and not admin:
            log.warning("no TWILIO_API_KEY/TWILIO_API_SECRET set: the REST client uses the "
                        "account SID and auth token; an API key can be revoked on its own")

    async def start(self) -> None:
        # aiohttp wants its session created inside the running loop.
        # twilio-python 9.13 stores this timeout but hands aiohttp timeout=None
        # (which also overrides the session's default): _rest_call enforces it.
        self._http = _RebasedHttpClient(self._api_base, timeout=self.timeout)
        username, password, account_sid = self._credentials
        self._client = Client(username, password, account_sid, http_client=self._http)
        self._session = aiohttp.ClientSession(
            base_url=self._api_base.rstrip("/") + "/",
            headers={"Authorization": basic_authorization(username, password),
                     "Accept": "application/json", "User-Agent": "ivr (aiohttp)"},
            timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._client = None

    async def send_sms(self, *, to: str, from_: str, body: str, media_urls: Sequence[str] = (),
                       status_callback: str | None = None,
                       messaging_service: str | None = None) -> SendResult:
        """Text `to` from `from_`, or through `messaging_service` (MessagingServiceSid
        without From: Twilio picks the sender from the service's pool and
        answers `accepted`; the From shows in the status callbacks)."""
        form = MultiDict([("To", to), ("Body", body)])
        if messaging_service:
            form.add("MessagingServiceSid", messaging_service)
        else:
            form.add("From", from_)
        for url in media_urls:
            form.add("MediaUrl", url)
        if status_callback:
            form.add("StatusCallback", status_callback)
        message = await self._create("Messages.json", form, f"sending to {mask(to)}")
        status = message.get("status")
        return SendResult(sid=str(message.get("sid") or ""), status=str(status) if status else None)

    async def place_call(self, *, to: str, from_: str, url: str, status_callback: str,
                         ring_seconds: int = PAGE_CALL_RING_SECONDS) -> str:
        """Phone `to` from `from_`; Twilio fetches `url` for what to say once
        answered and posts the call's end to `status_callback`. Returns the
        CallSid."""
        form = MultiDict([("To", to), ("From", from_), ("Url", url), ("Method", "POST"),
                          ("Timeout", str(ring_seconds)), ("StatusCallback", status_callback),
                          ("StatusCallbackMethod", "POST"), ("StatusCallbackEvent", "completed")])
        call = await self._create("Calls.json", form, f"calling {mask(to)}")
        return str(call.get("sid") or "")

    async def _create(self, resource: str, form: MultiDict[str], doing: str) -> dict[str, Any]:
        """POST `form` to the account's `resource`; the record Twilio answers."""
        if self._session is None:
            await self.start()
        assert self._session is not None
        path = f"2010-04-01/Accounts/{self.account_sid}/{resource}"
        async with self._rest_call(doing):
            # Encoded here, not by aiohttp's FormData, which builds the same
            # urlencoded body through a payload machinery a form of strings
            # does not need (bench/README.md, "The REST send").
            async with self._session.post(path, data=urlencode(list(form.items())).encode(),
                                          headers=FORM_HEADERS) as response:
                try:
                    answer = await response.json(content_type=None)
                except ValueError:
                    answer = None
                if response.status >= 400 or not isinstance(answer, dict):
                    raise _answer_error(response.status, answer, doing)
        return answer

    async def find_sent(self, *, to: str, from_: str, body: str, since: datetime,
                        messaging_service: str | None = None) -> SendResult | None:
        """A message already sent from `from_` (or through `messaging_service`)
        to `to` with this body since `since`, or None: what a send that
        crashed before its record may have left. One listing (the newest
        FIND_SENT_LIMIT), bounded by the timeout like every call; DateSent is
        compared by day at Twilio, so the day before is asked for too, and the
        body is compared here. A service's message has no From until Twilio
        picks one, so it is listed by To and matched by its service."""
        client = await self._ready()
        sender = {} if messaging_service else {"from_": from_}
        async with self._rest_call(f"listing messages to {mask(to)}"):
            # One page, not list_async: that follows next_page_uri for more.
            page = await client.messages.page_async(
                to=to, date_sent_after=since - timedelta(days=1), page_size=FIND_SENT_LIMIT,
                **sender)
        for message in page:
            if message.body == body and (messaging_service is None
                                         or message.messaging_service_sid == messaging_service):
                status = getattr(message.status, "value", message.status)
                return SendResult(sid=message.sid or "", status=str(status) if status else None)
        return None

    async def find_number(self, phone_number: str) -> PhoneNumberConfig | None:
        client = await self._ready()
        async with self._rest_call(f"listing {mask(phone_number)}"):
            found = await client.incoming_phone_numbers.list_async(phone_number=phone_number,
                                                                  limit=2)
        return _number_config(found[0]) if found else None

    async def set_number_webhooks(self, sid: str, *, voice_url: str, sms_url: str,
                                  status_callback: str, voice_fallback_url: str | None = None,
                                  sms_fallback_url: str | None = None) -> PhoneNumberConfig:
        """A number's webhooks, all POST. A fallback left None is not sent,
        so whatever the number has stays."""
        client = await self._ready()
        fallbacks: dict[str, str] = {}
        if voice_fallback_url:
            fallbacks.update(voice_fallback_url=voice_fallback_url, voice_fallback_method="POST")
        if sms_fallback_url:
            fallbacks.update(sms_fallback_url=sms_fallback_url, sms_fallback_method="POST")
        async with self._rest_call(f"updating {sid}"):
            updated = await client.incoming_phone_numbers(sid).update_async(
                voice_url=voice_url, voice_method="POST", sms_url=sms_url, sms_method="POST",
                status_callback=status_callback, status_callback_method="POST", **fallbacks)
        return _number_config(updated)

    async def messaging_services(self) -> list[MessagingService]:
        """The account's Messaging Services, each with its Sender Pool's numbers."""
        client = await self._ready()
        async with self._listing("listing Messaging Services"):
            services = await client.messaging.v1.services.list_async(limit=SERVICES_LIMIT)
        found = []
        for service in services:
            async with self._listing(f"listing the numbers of {service.sid}"):
                numbers = await client.messaging.v1.services(service.sid).phone_numbers \
                    .list_async(limit=SENDER_POOL_LIMIT)
            found.append(_messaging_service(service, numbers))
        return found

    async def defer_inbound_to_numbers(self, service_sid: str) -> MessagingService:
        """Set a service's 'Incoming messages' to 'Defer to sender's webhook'
        (use_inbound_webhook_on_number): each number's own SMS URL applies."""
        client = await self._ready()
        async with self._rest_call(f"updating {service_sid}"):
            service = await client.messaging.v1.services(service_sid).update_async(
                use_inbound_webhook_on_number=True)
        async with self._listing(f"listing the numbers of {service_sid}"):
            numbers = await client.messaging.v1.services(service_sid).phone_numbers.list_async(
                limit=SENDER_POOL_LIMIT)
        return _messaging_service(service, numbers)

    @asynccontextmanager
    async def _listing(self, doing: str) -> AsyncIterator[None]:
        """A listing's REST call: a page twilio-python cannot fetch raises
        TwilioException itself, with the response as its second argument."""
        try:
            async with self._rest_call(doing):
                yield
        except TwilioException as exc:
            if isinstance(exc, (TwilioRestException, TwilioServiceException)):
                raise
            response = exc.args[1] if len(exc.args) > 1 else None
            status = getattr(response, "status_code", None)
            raise SendError(f"Twilio answered HTTP {status} {doing}",
                            retryable=status is None or status == 429 or status >= 500,
                            http_status=status) from None

    async def open_media(self, path: str) -> MediaStream:
        """GET `path` (an API path twilio_media.py allowed) with the REST
        credentials; a redirect is followed once, without them, so they
        never reach any host but the API's. The stream must be read to its
        end or closed (aclose) to free the connection."""
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeout, sock_read=self.timeout))
        username, password, _ = self._credentials
        try:
            with _rest_errors("fetching media"):
                response = await session.get(
                    self._api_base.rstrip("/") + path, allow_redirects=False,
                    headers={"Authorization": basic_authorization(username, password)})
                location = response.headers.get("Location")
                if response.status in MEDIA_REDIRECTS and location:
                    response.release()
                    response = await session.get(response.url.join(URL(location)),
                                                 allow_redirects=False)
        except BaseException:
            await session.close()
            raise

        async def close() -> None:
            response.release()
            await session.close()

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.content.iter_chunked(MEDIA_CHUNK):
                    yield chunk
            finally:
                await close()

        return MediaStream(status=response.status,
                           content_type=response.headers.get("Content-Type"),
                           length=response.content_length, chunks=chunks(), close=close)

    @asynccontextmanager
    async def _rest_call(self, doing: str) -> AsyncIterator[None]:
        """One REST request, bounded by `timeout`: a request Twilio accepts and
        never answers becomes a retryable SendError, which frees the caller
        (an outbox send slot) instead of holding it until Twilio answers."""
        deadline = asyncio.timeout(self.timeout)
        with _rest_errors(doing):
            try:
                async with deadline:
                    yield
            except TimeoutError:
                if not deadline.expired():
                    raise   # a timeout of aiohttp's own: _rest_errors words it
                raise SendError(f"Twilio did not answer within {self.timeout:g} s {doing}",
                                retryable=True) from None

    async def _ready(self) -> Client:
        if self._client is None:
            await self.start()
        assert self._client is not None
        return self._client


def basic_authorization(username: str, password: str) -> str:
    """HTTP Basic, built here: aiohttp's helper for it is new in 3.14 (its
    BasicAuth is deprecated there), and ivr runs on any aiohttp 3.9 or later."""
    token = base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")
    return f"Basic {token}"


def _answer_error(status: int, answer: Any, doing: str) -> SendError:
    """What Twilio's error answer says, as twilio-python's exceptions said it.
    A 2xx whose body is no record may or may not have been acted on: retryable,
    like a timeout, and the outbox's lease rules keep it from doubling."""
    if status < 400:
        return SendError(f"Twilio answered HTTP {status} with no record {doing}",
                         retryable=True, http_status=status)
    code = answer.get("code") if isinstance(answer, dict) else None
    return SendError(f"Twilio answered HTTP {status} (error {code}) {doing}",
                     retryable=status == 429 or status >= 500, http_status=status,
                     twilio_code=code)


def _number_config(number: Any) -> PhoneNumberConfig:
    def text(value: Any) -> str | None:
        value = getattr(value, "value", value)
        return str(value) if value else None
    return PhoneNumberConfig(
        sid=number.sid, phone_number=number.phone_number, voice_url=text(number.voice_url),
        voice_method=text(number.voice_method), sms_url=text(number.sms_url),
        sms_method=text(number.sms_method), status_callback=text(number.status_callback),
        status_callback_method=text(number.status_callback_method),
        voice_fallback_url=text(number.voice_fallback_url),
        voice_fallback_method=text(number.voice_fallback_method),
        sms_fallback_url=text(number.sms_fallback_url),
        sms_fallback_method=text(number.sms_fallback_method))


def _messaging_service(service: Any, numbers: Sequence[Any]) -> MessagingService:
    return MessagingService(
        sid=service.sid or "", friendly_name=service.friendly_name or service.sid or "",
        inbound_request_url=service.inbound_request_url or None,
        use_inbound_webhook_on_number=bool(service.use_inbound_webhook_on_number),
        numbers=tuple(n.phone_number for n in numbers if n.phone_number))
