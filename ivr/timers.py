"""Sweeps the store's timers: every worker process runs one, and whichever
claims a due timer fires it, once, in the transaction that claims it."""

from __future__ import annotations

import asyncio
import logging

from . import texts
from .background import BackgroundWorker
from .clock import Clock, from_text
from .roster import Roster
from .store import Store

log = logging.getLogger(__name__)

# How long the sweeper sleeps at most; bounds how late a timer can fire
# when it was scheduled by another worker process.
MAX_SLEEP_SECONDS = 0.5


class TimerWorker(BackgroundWorker):
    name = "ivr-timers"

    def __init__(self, store: Store, roster: Roster, clock: Clock):
        self.store = store
        self.roster = roster
        self.clock = clock

    async def fire_due(self) -> int:
        """Fire every timer due now; returns how many were claimed."""
        fired = 0
        while True:
            batch = await self.store.write(
                lambda tx: texts.fire_due_timers(tx, self.roster, texts.TIMER_BATCH))
            fired += batch
            if batch < texts.TIMER_BATCH:
                return fired

    async def _run(self) -> None:
        while True:
            try:
                # A read first: the write lock is taken only when something is due.
                due = await self.store.read(lambda tx: tx.next_timer_due())
                if due is not None and from_text(due) <= self.clock.now():
                    await self.fire_due()
                    continue
                wait = MAX_SLEEP_SECONDS
                if due is not None:
                    wait = min(wait, max((from_text(due) - self.clock.now()).total_seconds(), 0))
                await asyncio.sleep(wait)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("timer sweep failed; trying again shortly")
                await asyncio.sleep(MAX_SLEEP_SECONDS)
