"""Each test builds its own app from its own config, store and fake Twilio
(tests/support/harness.py)."""

from __future__ import annotations

import pytest

from ivr.config import Config, load_config

from .support.fake_twilio import FakeTwilio
from .support.harness import EXAMPLE_CONFIG, FALLBACK_BASE_URL, open_harness


@pytest.fixture
async def fake_twilio():
    fake = await FakeTwilio().start()
    yield fake
    await fake.stop()
    assert fake.unexpected == [], f"the service made requests Twilio would refuse: {fake.unexpected}"


@pytest.fixture
def config(tmp_path) -> Config:
    return load_config(EXAMPLE_CONFIG, database_override=str(tmp_path / "ivr.sqlite3"))


@pytest.fixture
async def harness(config, fake_twilio):
    async with open_harness(config, fake_twilio) as built:
        yield built


@pytest.fixture
async def fallback_harness(config, fake_twilio):
    """The service with IVR_FALLBACK_BASE_URL set: it takes what Twilio sends
    to the fallback URLs as well as to the public ones."""
    async with open_harness(config, fake_twilio, fallback_base_url=FALLBACK_BASE_URL) as built:
        yield built


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
