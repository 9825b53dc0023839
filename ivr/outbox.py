"""Sends what the store's outbox holds, so a webhook answers Twilio without
waiting for the REST API, and a send survives a restart.

The worker is woken right after a transaction that queued messages commits;
it also polls, because another worker process may have queued them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from . import texts
from .background import BackgroundWorker
from .clock import Clock
from .metrics import Metrics
from .roster import Roster
from .decisions import Channel, Decision, DecisionKind
from .logs import event
from .gateway import SendError, TwilioGateway
from .phone import mask
from .store import OutboxMessage, Store, Tx

log = logging.getLogger(__name__)

BATCH_SIZE = 20
LEASE = timedelta(seconds=60)  # longer than the gateway's 10 s request timeout
POLL_SECONDS = 1.0
MAX_ATTEMPTS = 8
STATUS_CALLBACK_PATH = "/sms/status"


def retry_delay(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s … capped at 5 minutes: enough for Twilio to recover from
    a 429 or a 5xx without hammering it."""
    return timedelta(seconds=min(2 ** attempts, 300))


class OutboxWorker(BackgroundWorker):
    name = "ivr-outbox"

    def __init__(self, store: Store, gateway: TwilioGateway, clock: Clock,
                 status_callback_url: str, roster: Roster, metrics: Metrics | None = None):
        self.store = store
        self.roster = roster
        self.metrics = metrics
        self.gateway = gateway
        self.clock = clock
        self.status_callback_url = status_callback_url
        self._wake = asyncio.Event()
        store.on_commit(lambda tx: self.wake() if tx.enqueued else None)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox sweep failed; trying again shortly")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=POLL_SECONDS)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def drain(self) -> int:
        """Send every message that is due now; returns how many were tried."""
        tried = 0
        while True:
            self._wake.clear()
            batch = await self.store.write(lambda tx: tx.claim_due_outbox(BATCH_SIZE, LEASE))
            if not batch:
                return tried
            await asyncio.gather(*(self._send(message) for message in batch))
            tried += len(batch)

    async def _send(self, message: OutboxMessage) -> None:
        try:
            result = await self.gateway.send_sms(
                to=message.to_number, from_=message.from_number, body=message.body,
                media_urls=message.media_urls, status_callback=self.status_callback_url)
        except SendError as exc:
            failure = exc
        else:
            await self.store.write(lambda tx: tx.mark_sent(message.id, result.sid, result.status))
            event(log, logging.INFO, "sent", line=message.line_id, outbox=message.id,
                  sid=result.sid, to=mask(message.to_number))
            return
        if self.metrics is not None:
            self.metrics.send_failures.labels(str(failure.retryable).lower()).inc()
        await self.store.write(lambda tx: self._record_failure(tx, message, failure))

    def _record_failure(self, tx: Tx, message: OutboxMessage, exc: SendError) -> None:
        if exc.retryable and message.attempts < MAX_ATTEMPTS:
            delay = retry_delay(message.attempts)
            tx.mark_retry(message.id, str(exc), tx.now + delay)
            event(log, logging.WARNING, f"send failed, retrying in {int(delay.total_seconds())} s",
                  line=message.line_id, outbox=message.id, attempt=message.attempts,
                  error=str(exc))
            return
        tx.mark_failed(message.id, str(exc))
        why = "gave up after repeated failures" if exc.retryable else "Twilio refused it"
        reason = (f"text to {message.responder_id or mask(message.to_number)} not sent: {why} "
                  f"({exc})")
        tx.decide(Decision(DecisionKind.SEND_FAILED, Channel.SMS, reason,
                           line_id=message.line_id, conversation_id=message.conversation_id,
                           tier=message.tier, responder_id=message.responder_id))
        texts.page_failed(tx, self.roster, message, reason)
        event(log, logging.ERROR, "send failed for good", line=message.line_id,
              outbox=message.id, error=str(exc))
