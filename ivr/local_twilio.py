"""Local mode's stand-in for Twilio: a REST endpoint on loopback that prints
each text the service sends, then reports it delivered through the
service's StatusCallback, signed as Twilio would sign it.

It runs in its own thread with its own event loop, beside Hypercorn's
workers, so it works whatever the number of workers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from typing import Callable, TextIO

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from .phone import mask

log = logging.getLogger(__name__)

LOCAL_ACCOUNT_SID = "AC" + "10ca1" + "0" * 27
LOCAL_API_KEY = "SK" + "10ca1" + "0" * 27
_sids = itertools.count(1)


async def serve(app: web.Application, host: str = "127.0.0.1", port: int = 0,
                backlog: int = 100) -> tuple[web.AppRunner, str]:
    """Serve `app` on host:port (0: a free port); returns the runner to clean
    up and the base URL. The fakes in tests/ and bench/ are served the same way."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=backlog)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://{host}:{bound}"


class LocalTwilio:
    def __init__(self, auth_token: str, out: TextIO, name_for: Callable[[str], str],
                 host: str = "127.0.0.1", port: int = 0):
        self.auth_token = auth_token
        self.out = out
        self.name_for = name_for
        self.host = host
        self.port = port
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> str:
        self._thread = threading.Thread(target=self._serve, name="local-twilio", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError(f"the local fake Twilio could not start: {self._error}")
        return self.url

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            runner = self._loop.run_until_complete(self._start_site())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()

    async def _start_site(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._message)
        app.router.add_post("/2010-04-01/Accounts/{account}/Calls.json", self._call)
        runner, self.url = await serve(app, self.host, self.port)
        return runner

    async def _message(self, request: web.Request) -> web.Response:
        form = await request.post()
        sid = f"SM{next(_sids):032x}"
        to, sender = form.get("To", ""), form.get("From", "")
        # A line with a Messaging Service sends MessagingServiceSid, no From;
        # Twilio answers `accepted` and picks the sender later.
        service = form.get("MessagingServiceSid")
        media = form.getall("MediaUrl", [])
        source = (f"through Messaging Service {service}" if service and not sender
                  else f"from the line {mask(str(sender))}")
        self.out.write(f"\n  ┌─ fake Twilio: text to {self.name_for(str(to))} ({mask(str(to))}),"
                       f" {source}\n")
        for line in str(form.get("Body", "")).splitlines() or [""]:
            self.out.write(f"  │ {line}\n")
        for url in media:
            self.out.write(f"  │ [media] {url}\n")
        self.out.write("  └─\n")
        self.out.flush()
        callback = form.get("StatusCallback")
        if callback:
            asyncio.ensure_future(self._report(str(callback), sid, str(to), str(sender)))
        return web.json_response({"sid": sid, "status": "accepted" if service else "queued",
                                  "to": to, "from": sender or None,
                                  "messaging_service_sid": service,
                                  "body": form.get("Body", ""), "account_sid": LOCAL_ACCOUNT_SID,
                                  "api_version": "2010-04-01", "num_media": str(len(media))},
                                 status=201)

    async def _call(self, request: web.Request) -> web.Response:
        form = await request.post()
        sid = f"CA{next(_sids):032x}"
        to = str(form.get("To", ""))
        self.out.write(f"\n  ── fake Twilio: phoning {self.name_for(to)} ({mask(to)}) from the "
                       f"line; `ivr simulate answer-page --press 1` answers and takes it\n")
        self.out.flush()
        return web.json_response({"sid": sid, "status": "queued", "to": form.get("To"),
                                  "from": form.get("From"), "account_sid": LOCAL_ACCOUNT_SID},
                                 status=201)

    async def _report(self, url: str, sid: str, to: str, sender: str) -> None:
        """Report 'sent' then 'delivered', as a carrier would a moment later."""
        validator = RequestValidator(self.auth_token)
        async with aiohttp.ClientSession() as session:
            for status in ("sent", "delivered"):
                await asyncio.sleep(0.2)
                params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                          "SmsStatus": status, "AccountSid": LOCAL_ACCOUNT_SID, "From": sender,
                          "To": to, "ApiVersion": "2010-04-01"}
                headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
                try:
                    async with session.post(url, data=params, headers=headers) as response:
                        await response.read()
                except aiohttp.ClientError as exc:
                    log.warning("local status callback failed: %s", exc)
                    return
