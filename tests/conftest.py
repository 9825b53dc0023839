"""Each test builds its own app from its own config, store and fake Twilio
(tests/support/harness.py)."""

from __future__ import annotations

import pytest

from ivr.config import Config, load_config

from .support.fake_twilio import FakeTwilio
from .support.harness import EXAMPLE_CONFIG, FALLBACK_BASE_URL, open_harness
from .support.postgres import fresh_database


@pytest.fixture
async def fake_twilio():
    fake = await FakeTwilio().start()
    yield fake
    await fake.stop()
    assert fake.unexpected == [], f"the service made requests Twilio would refuse: {fake.unexpected}"


ENGINES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc):
    # Tests marked both_engines run once per engine; the rest on SQLite.
    if "database" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
            "both_engines"):
        metafunc.parametrize("database", ENGINES, indirect=True)


@pytest.fixture
def database(request, tmp_path):
    """The database a test's service uses: an SQLite file of its own, or a
    fresh PostgreSQL database (tests/support/postgres.py)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield str(tmp_path / "ivr.sqlite3")
        return
    with fresh_database() as url:
        yield url


@pytest.fixture
def config(database) -> Config:
    return load_config(EXAMPLE_CONFIG, database_override=database)


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
