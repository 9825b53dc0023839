"""A business's system receiving ivr's event hooks: a real HTTP server on
loopback that records every request, answers with the statuses it is told
to, and can hold requests open (a slow or hanging endpoint)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class HookReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        # The status of each answer, by how many requests came before it.
        self.answer: Callable[[int], int] = lambda _: 200
        self.hold = asyncio.Event()      # cleared: requests wait (their sender times out)
        self.hold.set()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> "HookReceiver":
        app = web.Application()
        app.router.add_post("/events", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]   # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/events"
        return self

    async def stop(self) -> None:
        self.hold.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        number = len(self.received)
        self.received.append(Received(dict(request.headers), body))
        await self.hold.wait()
        status = self.answer(number)
        return web.Response(status=status, text="ok" if status < 300 else "not now")

    @property
    def events(self) -> list[dict[str, Any]]:
        return [r.event for r in self.received]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def first_copies(self) -> list[dict[str, Any]]:
        """What a receiver that drops repeated ids keeps, in arrival order."""
        seen: dict[str, dict[str, Any]] = {}
        for event in self.events:
            seen.setdefault(event["id"], event)
        return list(seen.values())
