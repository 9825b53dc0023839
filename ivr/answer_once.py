"""Twilio retries a webhook it got no answer to in time: the retry gets
the answer the first request got, and changes nothing."""

from __future__ import annotations

from typing import Callable

from .decisions import Decision
from .store import Tx


def answer_once(tx: Tx, stored: str | None, duplicate: Decision, build: Callable[[], str],
                keep: Callable[[str], None]) -> str:
    """The stored answer for a retry (logged as `duplicate`); otherwise the
    answer `build` makes, handed to `keep` for the next retry."""
    if stored:
        tx.decide(duplicate)
        return stored
    document = build()
    keep(document)
    return document
