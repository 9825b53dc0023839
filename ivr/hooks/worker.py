"""Delivers event hooks: claims what is due (any instance may, see
store/hook_deliveries.py), POSTs each event signed, and records the answer:
sent, due again after a backoff, or failed for good with a HOOK_FAILED
decision in the same transaction. A delivery waits for the one before it
in its stream (one conversation's events arrive in order), so a receiver
that is down holds back only what comes after, never loses it."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, timedelta

from ..background import BackgroundWorker
from ..clock import Clock, from_text
from ..config import Config
from ..decisions import Channel, Decision, DecisionKind
from ..logs import event
from ..store import AnyStore, Tx
from ..store.hook_deliveries import HookDelivery
from .config import Hook
from .payload import build_event, encode, event_id
from .sender import HookSender, HookUnreachable

log = logging.getLogger(__name__)

BATCH = 20
POLL_SECONDS = 1.0
MAX_RETRY_DELAY = timedelta(hours=1)
# Sent deliveries are kept this long (to see what a receiver was sent), then pruned.
KEEP_SENT = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)


def lease() -> timedelta:
    """How long a claimed delivery is one process's to send: 60 s, far
    past any hook's timeout (30 s at most). The crash tests shorten it
    (IVR_HOOK_LEASE_SECONDS) so as not to wait a minute for a dead claim."""
    return timedelta(seconds=float(os.environ.get("IVR_HOOK_LEASE_SECONDS") or 60))


def next_attempt_at(hook: Hook, attempts: int, created_at: datetime,
                    now: datetime) -> datetime | None:
    """When to try again after `attempts` failed tries, or None to give up:
    retry_seconds, doubling, capped at an hour, for at most max_attempts
    tries and give_up_hours since the event."""
    if attempts >= hook.max_attempts:
        return None
    delay = min(timedelta(seconds=hook.retry_seconds * 2 ** max(attempts - 1, 0)),
                MAX_RETRY_DELAY)
    due = now + delay
    return None if due > created_at + timedelta(hours=hook.give_up_hours) else due


class HookWorker(BackgroundWorker):
    name = "ivr-hooks"

    def __init__(self, store: AnyStore, config: Config, clock: Clock,
                 sender: HookSender | None = None):
        self.store = store
        self.config = config
        self.clock = clock
        self.hooks = {hook.name: hook for hook in config.hooks}
        self.lease = lease()
        longest = max((hook.timeout_seconds for hook in config.hooks), default=0)
        if self.lease.total_seconds() < 2 * longest:
            raise ValueError(f"IVR_HOOK_LEASE_SECONDS={self.lease.total_seconds():g}: at "
                             f"least twice the longest hook timeout ({longest} s)")
        self.sender = sender or HookSender()
        self._wake = asyncio.Event()
        self._stopping = False
        self._pruned_at: datetime | None = None
        store.on_commit(self._after_commit)

    def _after_commit(self, tx: Tx) -> None:
        if tx.hook_queued:
            self._wake.set()

    async def stop(self) -> None:
        # Let the POSTs under way be answered and recorded; what is cut off
        # is sent again once its lease runs out (the id tells it apart).
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            longest = max((h.timeout_seconds for h in self.hooks.values()), default=0)
            await asyncio.wait({self._task}, timeout=longest + 2)
        await super().stop()
        await self.sender.close()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.deliver_due()
                await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event hook sweep failed; trying again shortly")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=POLL_SECONDS)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def prune(self) -> int:
        """Forget sent deliveries older than KEEP_SENT, at most once per PRUNE_EVERY."""
        now = self.clock.now()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return 0
        self._pruned_at = now
        return await self.store.write(lambda tx: tx.prune_hook_deliveries(now - KEEP_SENT))

    async def deliver_due(self) -> int:
        """POST every delivery due now (each stream's next one); how many were tried."""
        tried = 0
        while not self._stopping:
            self._wake.clear()
            batch = await self.store.write(
                lambda tx: tx.claim_hook_deliveries(self.hooks, BATCH, self.lease))
            if not batch:
                break
            await asyncio.gather(*(self._deliver(delivery) for delivery in batch))
            tried += len(batch)
        return tried

    async def _deliver(self, delivery: HookDelivery) -> None:
        hook = self.hooks[delivery.hook]
        body = encode(build_event(hook, self.config, delivery))
        status: int | None = None
        try:
            answer = await self.sender.post(hook.url, hook.secret or "", body,
                                            int(self.clock.now().timestamp()),
                                            hook.timeout_seconds)
        except HookUnreachable as exc:
            error = str(exc)
        else:
            status = answer.status
            if answer.ok:
                await self.store.write(lambda tx: tx.hook_delivered(delivery.id, answer.status))
                event(log, logging.INFO, "event hook delivered", hook=hook.name,
                      event=delivery.event_type, id=event_id(delivery.decision_id),
                      status=answer.status)
                return
            error = f"HTTP {answer.status}: {answer.text[:100]}".rstrip(": ")
        await self.store.write(lambda tx: self._record_failure(tx, hook, delivery, status, error))

    def _record_failure(self, tx: Tx, hook: Hook, delivery: HookDelivery,
                        status: int | None, error: str) -> None:
        due = next_attempt_at(hook, delivery.attempts, from_text(delivery.created_at), tx.now)
        if due is not None:
            tx.hook_due_again(delivery.id, status, error, due)
            event(log, logging.WARNING, "event hook failed; retrying", hook=hook.name,
                  event=delivery.event_type, attempt=delivery.attempts, error=error,
                  retry_in=int((due - tx.now).total_seconds()))
            return
        tx.hook_gave_up(delivery.id, status, error)
        # HOOK_FAILED is no event (hooks/events.py): this decision queues nothing.
        decided = delivery.decision
        tx.decide(Decision(
            DecisionKind.HOOK_FAILED, Channel(decided.channel),
            f"the {delivery.event_type} event {event_id(delivery.decision_id)} never reached "
            f"hook {hook.name}: {delivery.attempts} attempt(s), the last: {error}",
            line_id=decided.line_id, sid=decided.sid,
            conversation_id=decided.conversation_id, responder_id=decided.responder_id))
        event(log, logging.ERROR, "event hook failed for good", hook=hook.name,
              event=delivery.event_type, attempts=delivery.attempts, error=error)
