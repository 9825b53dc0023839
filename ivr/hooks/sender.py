"""The one HTTP POST of an event hook: signed (ivr/hook_signing.py), with a
real total timeout (aiohttp's ClientTimeout bounds connect, send and the
whole answer, so a receiver that holds the request open cannot hold a
delivery past it), and no redirects followed. Not Twilio's gateway: these
requests go to the business's own systems."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from ..hook_signing import signed_headers

ANSWER_KEPT = 200    # characters of the endpoint's answer kept for the log and `ivr hooks test`
USER_AGENT = "ivr-event-hooks/1"


@dataclass(frozen=True)
class HookAnswer:
    status: int
    text: str        # the start of what the endpoint answered

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class HookUnreachable(Exception):
    """No answer at all: refused, reset, unresolvable, or past the timeout."""


class HookSender:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, secret: str, body: bytes, timestamp: int,
                   timeout_seconds: float) -> HookAnswer:
        headers = {**signed_headers(secret, timestamp, body), "User-Agent": USER_AGENT}
        try:
            async with self._client().post(
                    url, data=body, headers=headers, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=timeout_seconds)) as response:
                text = (await response.content.read(ANSWER_KEPT * 4)).decode(
                    "utf-8", "replace")
                return HookAnswer(response.status, " ".join(text.split())[:ANSWER_KEPT])
        except asyncio.TimeoutError:
            raise HookUnreachable(f"no answer within {timeout_seconds:g} s") from None
        except aiohttp.ClientError as exc:
            raise HookUnreachable(" ".join(str(exc).split())[:200] or type(exc).__name__) \
                from None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
