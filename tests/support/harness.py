"""The numbers and tokens the tests use, and the Harness: one app built by
create_app around its own store, a fake Twilio and a frozen clock."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

from quart import Quart

from ivr.app import create_app
from ivr.clock import FrozenClock
from ivr.config import Config, load_config
from ivr.secrets import Secrets
from ivr.services import Services
from ivr.store import Store

from .driver import TwilioDriver
from .fake_twilio import ACCOUNT_SID, API_KEY, API_SECRET, FakeTwilio

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLE_CONFIG = REPO / "examples" / "ivr.toml"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PREVIOUS_TOKEN = "test-previous-token-fedcba9876543210"
PUBLIC_BASE_URL = "https://ivr.example.com"
# The second machine's address (IVR_FALLBACK_BASE_URL), Twilio's fallback URLs.
FALLBACK_BASE_URL = "https://ivr-b.example.com"

LINE = "+16195550100"
SERGIO = "+16195550101"
BACKUP = "+18585550199"
CUSTOMER = "+16195550142"


def secrets_for(fake: FakeTwilio, **overrides) -> Secrets:
    values = dict(auth_token=AUTH_TOKEN, auth_token_previous=PREVIOUS_TOKEN,
                  account_sid=ACCOUNT_SID, api_key=API_KEY, api_secret=API_SECRET,
                  api_base=fake.url, public_base_url=PUBLIC_BASE_URL)
    values.update(overrides)
    return Secrets(**values)


def error_params(path: str) -> list[tuple[str, str]]:
    """What Twilio adds to its request to a fallback URL: the error and the
    URL it happened on (11205: HTTP connection failure)."""
    return [("ErrorCode", "11205"), ("ErrorUrl", f"{PUBLIC_BASE_URL}{path}")]


def incoming_call_params(call_sid: str, from_: str = CUSTOMER) -> list[tuple[str, str]]:
    """An incoming call's first webhook, as Twilio posts it."""
    return [("CallSid", call_sid), ("AccountSid", ACCOUNT_SID), ("From", from_), ("To", LINE),
            ("CallStatus", "ringing"), ("ApiVersion", "2010-04-01"), ("Direction", "inbound"),
            ("Caller", from_), ("Called", LINE)]


@dataclass
class Harness:
    app: Quart
    client: object
    twilio: TwilioDriver
    fake: FakeTwilio
    clock: FrozenClock
    services: Services

    @property
    def store(self) -> Store:
        return self.services.store

    async def deliver_outbox(self) -> int:
        """What the background worker does, run now, so tests need not wait."""
        return await self.services.outbox.drain()

    async def fire_timers(self) -> int:
        """What the background sweeper does, run now."""
        return await self.services.timers.fire_due()

    async def decisions(self, **filters):
        return await self.store.read(lambda tx: tx.recent_decisions(limit=1000, **filters))


@asynccontextmanager
async def open_harness(config: Config, fake: FakeTwilio, clock: FrozenClock | None = None,
                       background: bool = False, **secret_overrides) -> AsyncIterator[Harness]:
    """An app served in-process (its lifespan run), for one test."""
    clock = clock or FrozenClock()
    app = create_app(config, secrets_for(fake, **secret_overrides), clock=clock,
                     background=background)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        yield Harness(app=app, client=client,
                      twilio=TwilioDriver(client, AUTH_TOKEN, PUBLIC_BASE_URL),
                      fake=fake, clock=clock, services=app.extensions["ivr"])


class LoopedService:
    """One app on an event loop of its own, kept across a module's
    hypothesis examples (hypothesis drives sync test functions)."""

    def __init__(self, tmp_path: Path, config: Config | None = None):
        self.runner = asyncio.Runner()
        self.fake = self.runner.run(FakeTwilio().start())
        config = config or load_config(EXAMPLE_CONFIG,
                                       database_override=str(tmp_path / "ivr.sqlite3"))
        self._context = open_harness(config, self.fake)
        self.harness = self.runner.run(self._context.__aenter__())
        self.driver = self.harness.twilio
        self.services = self.harness.services
        self.store = self.services.store
        self.db_path = config.database

    def run(self, coroutine):
        return self.runner.run(coroutine)

    def post(self, path, pairs):
        return self.run(self.driver.post(path, pairs))

    def close(self) -> None:
        self.run(self._context.__aexit__(None, None, None))
        self.run(self.fake.stop())
        self.runner.close()
