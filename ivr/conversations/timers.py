"""Due timers fire here: an ACK deadline escalates, a flood window's end
sends what it held. Every worker process runs a TimerWorker, and
whichever claims a due timer fires it, once, in the transaction that
claims it."""

from __future__ import annotations

import asyncio
import logging

from ..background import BackgroundWorker
from ..clock import Clock, from_text
from ..roster import Roster
from ..store import Store, Tx
from .escalation import escalate
from .flood import flush_held

log = logging.getLogger(__name__)

TIMER_BATCH = 50
# How long the sweeper sleeps at most; bounds how late a timer can fire
# when it was scheduled by another worker process.
MAX_SLEEP_SECONDS = 0.5


def fire_due_timers(tx: Tx, roster: Roster, limit: int = TIMER_BATCH) -> int:
    config = roster.config
    timers = tx.claim_due_timers(limit)
    for timer in timers:
        conversation = tx.conversation(timer.conversation_id)
        if timer.kind == "flush":
            if conversation is not None:
                flush_held(tx, roster, conversation)
            continue
        if conversation is None or conversation.status != "open" or conversation.owner:
            continue  # taken or closed since; the ACK cancelled it in the same transaction
        if conversation.tier != timer.tier:
            continue  # escalated early (a failed delivery) and a newer timer exists
        line = config.lines.get(conversation.line_id)
        seconds = line.ack_seconds if line else 0
        escalate(tx, roster, conversation, f"nobody replied ACK within {seconds} s")
    return len(timers)


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
                lambda tx: fire_due_timers(tx, self.roster, TIMER_BATCH))
            fired += batch
            if batch < TIMER_BATCH:
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

