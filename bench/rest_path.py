"""What one REST send costs the sending process: ivr's gateway (a plain form
POST on one aiohttp session) against twilio-python's async client doing the
same create (what the gateway used before), both against the fake Twilio in
its own process (bench/twilio_sink.py), alternated, at 1 and 32 sends in
flight. Figures: CPU-ms of this process per send, and the ratio.

    .venv/bin/python bench/rest_path.py [--sends 600] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from typing import Awaitable, Callable

from paths import BENCH, PY
from twilio.rest import Client

from ivr.gateway import TwilioGateway, _RebasedHttpClient
from ivr.secrets import Secrets
from tests.support.fake_twilio import ACCOUNT_SID, API_KEY, API_SECRET

Send = Callable[[int], Awaitable[object]]


async def cpu_ms_per_send(send: Send, sends: int, in_flight: int) -> float:
    slots = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with slots:
            await send(i)
    started = time.process_time()
    await asyncio.gather(*(one(i) for i in range(sends)))
    return (time.process_time() - started) / sends * 1000


async def measure(api_base: str, sends: int, rounds: int) -> dict[int, dict[str, float]]:
    secrets = Secrets(account_sid=ACCOUNT_SID, auth_token="x" * 32, api_key=API_KEY,
                      api_secret=API_SECRET, api_base=api_base)
    gateway = TwilioGateway(secrets)
    await gateway.start()
    http = _RebasedHttpClient(api_base, timeout=10)
    client = Client(API_KEY, API_SECRET, ACCOUNT_SID, http_client=http)

    async def by_gateway(i: int) -> object:
        return await gateway.send_sms(to="+16195550101", from_="+16195550100", body=f"page {i}")

    async def by_twilio_python(i: int) -> object:
        return await client.messages.create_async(to="+16195550101", from_="+16195550100",
                                                  body=f"page {i}")
    out: dict[int, dict[str, float]] = {}
    try:
        for in_flight in (1, 32):
            samples: dict[str, list[float]] = {"gateway": [], "twilio-python": []}
            await by_gateway(0), await by_twilio_python(0)  # connections open
            for _ in range(rounds):
                for name, send in (("twilio-python", by_twilio_python), ("gateway", by_gateway)):
                    samples[name].append(await cpu_ms_per_send(send, sends, in_flight))
            out[in_flight] = {k: statistics.median(v) for k, v in samples.items()}
    finally:
        await gateway.close()
        await http.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sink = subprocess.Popen([PY, str(BENCH / "twilio_sink.py")], stdout=subprocess.PIPE,
                            text=True)
    try:
        url = sink.stdout.readline().split()[1]  # type: ignore[union-attr]
        results = asyncio.run(measure(url, args.sends, args.rounds))
    finally:
        sink.terminate()
        sink.wait(10)
    print(f"CPU-ms of the sending process per REST send (median of {args.rounds} rounds of"
          f" {args.sends}):")
    for in_flight, row in results.items():
        ratio = row["gateway"] / row["twilio-python"]
        print(f"  {in_flight:>2} in flight: twilio-python {row['twilio-python']:.3f}, gateway"
              f" {row['gateway']:.3f} ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
