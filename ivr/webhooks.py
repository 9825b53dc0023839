"""What every Twilio webhook shares: the signature check and the promise
that Twilio always gets valid TwiML back, never a bare 500."""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
from functools import wraps
from typing import Any, Awaitable, Callable

from quart import Response, request
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from .decisions import Channel, Decision, DecisionKind
from .logs import event
from .services import Services, current_services
from .twiml import twiml_response

log = logging.getLogger(__name__)

Handler = Callable[[Services, MultiDict[str, str]], Awaitable[Response]]


# The connection overrides `ivr twilio configure` appends to every URL it
# writes (https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides).
# Twilio's default is one retry, on a failed connection only; a call allows
# 15 s in all (tt), so the budget is spent where a retry can help:
# - ct=2000: a live service accepts in milliseconds; four 2 s tries (rc=3)
#   hold a caller about 8 s on a dead machine before the fallback URL, and
#   a refused connection (a restart) fails at once, so the retries are cheap.
# - rp=ct,5xx: a refused or timed-out connection, and a proxy's 502/503/504
#   while the service restarts, are worth retrying; the service itself never
#   answers Twilio 5xx, and its 4xx (a bad signature) would fail again.
# - rt=15000, and rt not in rp: a read timeout means the service has the
#   request and is still at it (with its database locked it answers its
#   fallback TwiML at about 13 s); a retry would queue behind it and leave
#   time for neither.
# A retry carries the same CallSid/MessageSid: the service answers it with
# the stored answer and changes nothing.
CONNECTION_OVERRIDES = "#ct=2000&rt=15000&tt=15000&rc=3&rp=ct,5xx"


class SignedParams(dict):
    """A request's form as twilio's RequestValidator reads it: each name's
    values as a list, by `getall`, the first thing it tries. Werkzeug's
    MultiDict has no getall, so the validator paid for an AttributeError,
    then getlist, for every parameter of every request. Built once per
    request; the signature is still twilio's own computation."""

    def __init__(self, form: MultiDict[str, str]):
        super().__init__(form.lists())

    getall = dict.__getitem__


class SignatureChecker:
    """Checks X-Twilio-Signature against the URL Twilio requested: the public
    base URL plus the path and query this request arrived with, so the check
    holds behind a TLS-terminating proxy that rewrote scheme, host or port.
    A request Twilio sent to the fallback address (IVR_FALLBACK_BASE_URL) is
    signed over that address instead, and counts as well.

    A signature counts only over a URL Twilio could have requested for that
    public URL: with its port as configured, or, when that port is the
    scheme's default (443, 80), with the port written or left out, since
    Twilio is inconsistent about it. RequestValidator.validate also strips
    any other port, which would accept a signature over http://host/ for a
    service configured at http://host:8080; it is not used.

    A URL's fragment (the connection overrides) never reaches the service:
    HTTP sends no fragment, so the URL as requested has none, and that is
    what is checked first. Twilio does not document whether it signs the
    URL it was given, fragment included; twilio-python's RequestValidator
    signs whatever string it is handed, fragment and all. So a signature
    over the URL with the configured `fragments` appended counts too, rather
    than every webhook being refused after `twilio configure` if it does."""

    _DEFAULT_PORTS = {"http": 80, "https": 443}

    def __init__(self, tokens: tuple[str, ...], public_base_url: str,
                 fallback_base_url: str | None = None, fragments: tuple[str, ...] = ()):
        self._validators = tuple(RequestValidator(token) for token in tokens)
        self.public_base_url = public_base_url.rstrip("/")
        self.fallback_base_url = fallback_base_url.rstrip("/") if fallback_base_url else None
        self._fragments = tuple(f for f in fragments if f)

    def url_for(self, path: str, query_string: bytes) -> str:
        query = query_string.decode("latin-1")
        return f"{self.public_base_url}{path}" + (f"?{query}" if query else "")

    def accepts(self, path: str, query_string: bytes, form: MultiDict[str, str],
                signature: str | None) -> bool:
        """Whether `signature` is Twilio's over this request as it reached the
        public address, or the fallback address."""
        bases = [self.public_base_url] + ([self.fallback_base_url]
                                          if self.fallback_base_url else [])
        query = query_string.decode("latin-1")
        params = SignedParams(form)
        for base in bases:
            url = f"{base}{path}" + (f"?{query}" if query else "")
            if any(self.valid(url + fragment, params, signature)
                   for fragment in ("", *self._fragments)):
                return True
        return False

    def valid(self, url: str, form: "MultiDict[str, str] | SignedParams",
              signature: str | None) -> bool:
        if not signature:
            return False
        # The URL as requested first: one HMAC per token. Only a URL on the
        # default port has a second form, tried when the first did not match.
        given = signature.encode("utf-8", "replace")
        if self._signed(url, form, given):
            return True
        twin = self._default_port_twin(url)
        return twin is not None and self._signed(twin, form, given)

    def _signed(self, url: str, form: "MultiDict[str, str] | SignedParams",
                given: bytes) -> bool:
        return any(hmac.compare_digest(v.compute_signature(url, form).encode("ascii"), given)
                   for v in self._validators)

    @classmethod
    def _default_port_twin(cls, url: str) -> str | None:
        """The same URL with the scheme's default port written out, or left
        out if it is written; None when the URL names any other port."""
        from urllib.parse import urlsplit
        parts = urlsplit(url)
        default = cls._DEFAULT_PORTS.get(parts.scheme.lower())
        prefix = f"{parts.scheme}://{parts.netloc}"
        if default is None or not parts.hostname or not url.startswith(prefix):
            return None
        try:
            port = parts.port
        except ValueError:
            return None
        if port is None:
            netloc = f"{parts.netloc}:{default}"
        elif port == default:
            netloc = parts.netloc.rpartition(":")[0]
        else:
            return None
        return f"{parts.scheme}://{netloc}{url[len(prefix):]}"


def _raw_path() -> str:
    """The path as Twilio sent it: request.path is already percent-decoded,
    and the signature covers the URL as requested."""
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if raw else request.path


ErrorAnswer = Callable[[Services, MultiDict[str, str]], "Response | Awaitable[Response]"]


def twilio_webhook(channel: Channel, on_error: ErrorAnswer
                   ) -> Callable[[Handler], Callable[..., Awaitable[Response]]]:
    """Wrap a handler: reject unsigned requests with 403 before anything is
    read or stored, and turn any failure inside into `on_error`'s TwiML."""

    def decorate(handler: Handler) -> Callable[..., Awaitable[Response]]:
        @wraps(handler)
        async def endpoint(**_: Any) -> Response:
            svc = current_services()
            form = await request.form
            route = request.path
            if not svc.signatures.accepts(_raw_path(), request.query_string, form,
                                          request.headers.get("X-Twilio-Signature")):
                svc.metrics.signature_rejections.labels(route).inc()
                svc.metrics.webhooks.labels(route, "403").inc()
                # The body may hold a stranger's probe or a customer's text: never log it.
                event(log, logging.WARNING, "webhook refused: bad or missing X-Twilio-Signature",
                      path=request.path, remote=request.remote_addr)
                return Response("Forbidden: the X-Twilio-Signature does not match.\n",
                                status=403, mimetype="text/plain")
            try:
                response = await handler(svc, form)
                svc.metrics.webhooks.labels(route, str(response.status_code)).inc()
                return response
            except HTTPException:
                raise
            except Exception as exc:
                sid = form.get("MessageSid") or form.get("CallSid") or None
                log.exception("webhook failed inside path=%s sid=%s", request.path, sid or "-")
                svc.metrics.webhooks.labels(route, "200-fallback").inc()
                # The answer first: it may need the store (a text's stored
                # answer), and the record of the failure can wait for it.
                try:
                    answer = on_error(svc, form)
                    fallback = await answer if inspect.isawaitable(answer) else answer
                except Exception:
                    log.exception("the error answer failed too path=%s", request.path)
                    fallback = twiml_response("sms_reply.xml", message=None)
                await _record_failure(svc, channel, sid, f"{type(exc).__name__} in "
                                      f"{request.path}; Twilio was answered with fallback TwiML")
                return fallback

        return endpoint

    return decorate


# Recording a failure must not hold up the answer Twilio waits for (15 s in
# all): with the database locked elsewhere, every write waits out the busy
# timeout, and the handler's own write has already waited once.
RECORD_FAILURE_SECONDS = 1


async def _record_failure(svc: Services, channel: Channel, sid: str | None, reason: str) -> None:
    """Best effort: the failure may be the database itself. The write is
    shielded, so one that outlasts the wait may still land later."""
    try:
        async with asyncio.timeout(RECORD_FAILURE_SECONDS):
            await svc.store.write(lambda tx: tx.decide(Decision(
                DecisionKind.HANDLER_ERROR, channel, sid=sid, reason=reason)))
    except Exception:
        log.warning("could not record the handler error in the decision log")
