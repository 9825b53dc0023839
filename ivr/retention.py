"""Retention: with `[service] retention_days` set, conversations closed
longer ago than that, and calls and texts that never joined one, lose what
identifies the customer and what they said (ivr/store/retention.py says
exactly what). The decision log keeps what happened and when.

Every worker process runs a RetentionWorker: each batch checks its rows
again inside its transaction, so workers running at once redact each row
once, and a batch that finds nothing left to do writes nothing."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Sequence

from .background import BackgroundWorker
from .clock import Clock, to_text
from .decisions import Channel, DecisionKind, decision
from .store import Store, Tx
from .store.retention import Redacted

log = logging.getLogger(__name__)

# A batch is one transaction, and webhooks queue behind its write lock. 200
# conversations of 5 texts, 5 pages and 5 decisions each held it about 60 ms
# (500: about 150 ms), and a pass is no slower for it: 20,000 took 3 s.
RETENTION_BATCH = 200

# Nothing turns old faster than a day; hourly is prompt enough, and the first
# pass waits a little so it does not add to a start's work.
RETENTION_EVERY_SECONDS = 3600
FIRST_PASS_AFTER_SECONDS = 60


@dataclass(frozen=True)
class RetentionPass:
    conversations: int = 0
    calls: int = 0
    texts: int = 0
    batches: int = 0

    @property
    def total(self) -> int:
        return self.conversations + self.calls + self.texts


@dataclass(frozen=True)
class _Rows:
    """One kind of row retention redacts, and how its decisions read. The
    decisions table takes channel 'voice' or 'sms' only: a conversation is a
    text thread (a voicemail's too, once it is one), so its batches are
    'sms', and calls that never became one are 'voice'."""
    find: Callable[[Tx, str, int], Sequence[Any]]
    redact: Callable[[Tx, Sequence[Any], str], Redacted]
    channel: Channel
    what: str
    lost: str


CONVERSATIONS = _Rows(Tx.conversations_to_redact, Tx.redact_conversations, Channel.SMS,
                      "conversation(s) closed",
                      "texts, media, voicemails and the customer's number")
CALLS = _Rows(Tx.calls_to_redact, Tx.redact_stray_calls, Channel.VOICE,
              "call(s) with no conversation ended", "the caller's number and any recording")
TEXTS = _Rows(Tx.texts_to_redact, Tx.redact_stray_texts, Channel.SMS,
              "text(s) with no conversation received", "their body, media and sender")


def cutoff_for(clock: Clock, days: int) -> str:
    return to_text(clock.now() - timedelta(days=days))


class RetentionWorker(BackgroundWorker):
    name = "ivr-retention"

    def __init__(self, store: Store, days: int, clock: Clock, batch: int = RETENTION_BATCH):
        self.store = store
        self.days = days
        self.clock = clock
        self.batch = batch

    async def run_once(self) -> RetentionPass:
        """Redact everything past retention now, a batch at a time."""
        cutoff = cutoff_for(self.clock, self.days)
        conversations, b1 = await self._drain(CONVERSATIONS, cutoff)
        calls, b2 = await self._drain(CALLS, cutoff)
        texts, b3 = await self._drain(TEXTS, cutoff)
        done = RetentionPass(conversations, calls, texts, b1 + b2 + b3)
        if done.total:
            log.info("retention: redacted %d conversation(s), %d call(s) and %d text(s) "
                     "older than %d day(s)", conversations, calls, texts, self.days)
        return done

    async def _drain(self, rows: _Rows, cutoff: str) -> tuple[int, int]:
        """(rows redacted, batches written). Candidates are read outside the
        write lock; the write redacts those still due."""
        redacted = batches = 0
        previous: list[Any] | None = None
        while True:
            found = list(await self.store.read(lambda tx: rows.find(tx, cutoff, self.batch)))
            if not found or found == previous:
                # None left, or none the write could take (they changed in
                # between and the read has not caught up): never spin.
                return redacted, batches
            done = await self.store.write(lambda tx: self._redact(tx, rows, found, cutoff))
            if done:
                redacted += done
                batches += 1
            previous = found
            await asyncio.sleep(0)  # queued requests get the loop between batches

    def _redact(self, tx: Tx, rows: _Rows, found: Sequence[Any], cutoff: str) -> int:
        redacted = rows.redact(tx, found, cutoff)
        for line_id, count in redacted.by_line:
            tx.decide(decision(
                DecisionKind.RETENTION, rows.channel,
                f"{count} {rows.what} over {self.days} day(s) ago redacted: {rows.lost} "
                "removed; kinds, times, tiers and responders kept", line=line_id))
        return redacted.total

    async def _run(self) -> None:
        await asyncio.sleep(FIRST_PASS_AFTER_SECONDS)
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention pass failed; trying again in an hour")
            await asyncio.sleep(RETENTION_EVERY_SECONDS)


def retention_worker(store: Store, days: int | None, clock: Clock) -> RetentionWorker | None:
    return RetentionWorker(store, days, clock) if days else None

