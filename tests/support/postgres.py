"""A fresh PostgreSQL database for each test that runs on both engines.

The server is the throwaway cluster scripts/test starts (scripts/postgres)
and names in IVR_TEST_POSTGRES. Without it, a developer's run skips the
PostgreSQL cases and says how to run them; CI never skips them."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator

import pytest

ENVIRONMENT = "IVR_TEST_POSTGRES"

HOW_TO_ENABLE = (
    "PostgreSQL cases skipped: IVR_TEST_POSTGRES is not set. scripts/test starts a throwaway "
    "cluster and sets it; by hand: scripts/postgres start /tmp/ivr-pg && "
    "export IVR_TEST_POSTGRES=$(cat /tmp/ivr-pg/url)")


def server_url() -> str:
    url = os.environ.get(ENVIRONMENT)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{ENVIRONMENT} is not set in CI, where the PostgreSQL cases must run "
                    f"(scripts/test starts the cluster)")
    pytest.skip(HOW_TO_ENABLE)


def _with_database(server: str, name: str) -> str:
    base, _, _ = server.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    import psycopg
    server = server_url()
    name = "ivr_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server, name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
