"""tests/support/fake_twilio.py in its own process, stamping when each REST send
arrives, so the benchmark can time "inbound text -> REST send started".

    python bench/twilio_sink.py [--delay-ms 250]   # prints "URL http://127.0.0.1:PORT"

--delay-ms: each message create is answered that long after it arrived, as a
real Twilio's REST round trip takes (its arrival is stamped when it arrives).

GET /bench/messages?since=K answers the sends from the K-th on as JSON:
[[arrival unix time, To, Body], ...]; GET /bench/state the counts and
anything the fake refused or did not know.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this copy's ivr

from aiohttp import web  # noqa: E402

from tests.support.fake_twilio import FakeTwilio  # noqa: E402
from ivr.local_twilio import serve  # noqa: E402


class TimedFakeTwilio(FakeTwilio):
    def __init__(self, delay_ms: float = 0) -> None:
        super().__init__()
        self.arrivals: list[float] = []
        self.delay = delay_ms / 1000

    async def start(self) -> "TimedFakeTwilio":
        app = web.Application()
        base = "/2010-04-01/Accounts/{account}"
        app.router.add_post(base + "/Messages.json", self._timed_create_message)
        app.router.add_post(base + "/Calls.json", self._create_call)
        app.router.add_get("/bench/messages", self._bench_messages)
        app.router.add_get("/bench/state", self._bench_state)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner, self.url = await serve(app, backlog=1024)
        return self

    async def _timed_create_message(self, request: web.Request) -> web.Response:
        arrived = time.time()  # the headers are in: the send has started
        before = len(self.messages)
        if self.delay:
            await asyncio.sleep(self.delay)
        response = await self._create_message(request)
        if len(self.messages) > before:
            self.arrivals.append(arrived)
        return response

    async def _bench_messages(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        rows = [[t, m.to, m.body] for t, m in zip(self.arrivals[since:], self.messages[since:])]
        return web.json_response(rows)

    async def _bench_state(self, request: web.Request) -> web.Response:
        return web.json_response({"messages": len(self.messages), "calls": len(self.calls),
                                  "unexpected": self.unexpected[:50],
                                  "unexpected_count": len(self.unexpected)})


async def main() -> None:
    delay_ms = float(sys.argv[sys.argv.index("--delay-ms") + 1]) if "--delay-ms" in sys.argv else 0
    fake = await TimedFakeTwilio(delay_ms).start()
    print("URL", fake.url, flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
