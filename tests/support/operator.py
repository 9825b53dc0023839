"""The operator's side of the tests: the password, an app that has one, and
the CSRF token every dashboard form carries."""

from __future__ import annotations

import re

import pytest

from ivr.passwords import hash_password

from .harness import open_harness

PASSWORD = "correct horse battery"


@pytest.fixture
async def harness(config, fake_twilio):
    """The usual harness, with an operator password set. A test module
    that imports this name uses it in place of conftest's harness."""
    async with open_harness(config, fake_twilio,
                            operator_password_hash=hash_password(PASSWORD)) as built:
        yield built


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)
