"""Each test builds its own app from its own config, store and fake Twilio."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from quart import Quart

sys.path.insert(0, str(Path(__file__).parent))

from driver import TwilioDriver  # noqa: E402
from fake_twilio import ACCOUNT_SID, API_KEY, API_SECRET, FakeTwilio  # noqa: E402
from ivr.app import create_app  # noqa: E402
from ivr.clock import FrozenClock  # noqa: E402
from ivr.config import Config, load_config  # noqa: E402
from ivr.secrets import Secrets  # noqa: E402
from ivr.services import Services  # noqa: E402
from ivr.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = REPO / "examples" / "ivr.toml"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PREVIOUS_TOKEN = "test-previous-token-fedcba9876543210"
PUBLIC_BASE_URL = "https://ivr.example.com"

LINE = "+16195550100"
SERGIO = "+16195550101"
BACKUP = "+18585550199"
CUSTOMER = "+16195550142"


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


@pytest.fixture
async def fake_twilio():
    fake = await FakeTwilio().start()
    yield fake
    await fake.stop()
    assert fake.unexpected == [], f"the service made requests Twilio would refuse: {fake.unexpected}"


@pytest.fixture
def config(tmp_path) -> Config:
    return load_config(EXAMPLE_CONFIG, database_override=str(tmp_path / "ivr.sqlite3"))


def test_secrets(fake: FakeTwilio, **overrides) -> Secrets:
    values = dict(auth_token=AUTH_TOKEN, auth_token_previous=PREVIOUS_TOKEN,
                  account_sid=ACCOUNT_SID, api_key=API_KEY, api_secret=API_SECRET,
                  api_base=fake.url, public_base_url=PUBLIC_BASE_URL)
    values.update(overrides)
    return Secrets(**values)


test_secrets.__test__ = False  # a helper, not a test


@pytest.fixture
async def harness(config, fake_twilio):
    clock = FrozenClock()
    app = create_app(config, test_secrets(fake_twilio), clock=clock, background=False)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        yield Harness(app=app, client=client,
                      twilio=TwilioDriver(client, AUTH_TOKEN, PUBLIC_BASE_URL),
                      fake=fake_twilio, clock=clock, services=app.extensions["ivr"])


@pytest.fixture
def fake_twilio_sync():
    """The fake Twilio on its own loop in a thread, for code that runs its own
    event loop (the CLI's asyncio.run)."""
    import asyncio
    import threading
    loop = asyncio.new_event_loop()
    fake = FakeTwilio()
    started = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(fake.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    yield fake, fake.url
    asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    assert fake.unexpected == [], fake.unexpected
