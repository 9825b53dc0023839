"""Sends what the store's outbox holds, so a webhook answers Twilio without
waiting for the REST API, and a send survives a restart.

While this worker runs, a transaction that queues messages queues them
already claimed by this process (`Store.send_lease`), and the worker sends
them as soon as it commits: one write transaction per text, plus one per
batch of sends recorded. The poll claims the rest: messages queued while no
worker ran here, retries that came due, and claims whose lease ran out
because the process that held them died.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from .background import BackgroundWorker
from .clock import Clock
from .conversations.delivery import delivery_reported, send_refused, still_matters
from .gateway import REQUEST_TIMEOUT_SECONDS, SendError, SendResult, TwilioGateway
from .logs import event
from .phone import mask
from .roster import Roster
from .store import OutboxMessage, Store, Tx
from .web.metrics import Metrics

log = logging.getLogger(__name__)

BATCH_SIZE = 20
LEASE = timedelta(seconds=60)  # longer than the gateway's 10 s request timeout
# A send must start early enough in its lease to finish inside it; later,
# the row is left to the next claim rather than sent twice at once.
SEND_START_MARGIN = timedelta(seconds=REQUEST_TIMEOUT_SECONDS + 5)
MAX_IN_FLIGHT = 32  # concurrent REST sends per process
POLL_SECONDS = 1.0
RECORD_RETRY_SECONDS = 1.0
STATUS_CALLBACK_PATH = "/sms/status"


def retry_delay(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s … capped at a minute: Twilio is not hammered while it
    recovers from a 429 or a 5xx, and a page goes out within a minute of
    its recovery however long the outage (retries go on while the text
    still matters: conversations.delivery.still_matters)."""
    return timedelta(seconds=min(2 ** attempts, 60))


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
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._in_flight: set[asyncio.Task[None]] = set()
        # Sends Twilio accepted, not yet recorded: (message, result, accepted at).
        self._accepted: list[tuple[OutboxMessage, SendResult, datetime]] = []
        self._recorder: asyncio.Task[None] | None = None
        store.on_commit(self._after_commit)

    def start(self) -> None:
        super().start()
        self.store.send_lease = LEASE

    async def stop(self) -> None:
        self.store.send_lease = None
        await super().stop()
        # Let sends under way finish and be recorded; what is left is sent
        # again by the next claim once its lease runs out (at-least-once).
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight),
                                            timeout=REQUEST_TIMEOUT_SECONDS + 1)
            for task in pending:
                task.cancel()
        if self._recorder is not None:
            _, pending = await asyncio.wait({self._recorder}, timeout=5)
            for task in pending:  # the store is about to close
                task.cancel()

    def wake(self) -> None:
        self._wake.set()

    def _after_commit(self, tx: Tx) -> None:
        for message in tx.claimed:
            self._spawn_send(message, tx.now)
        if tx.enqueued > len(tx.claimed):
            self.wake()

    def _spawn_send(self, message: OutboxMessage, claimed_at: datetime) -> None:
        task = asyncio.get_running_loop().create_task(self._send(message, claimed_at))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _run(self) -> None:
        while True:
            try:
                await self._sweep()
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
        """Send everything due now and wait until every send under way is
        recorded; returns how many messages were claimed here."""
        tried = await self._sweep()
        await self.flush()
        return tried

    async def _sweep(self) -> int:
        """Claim and send every message that is due now. Messages this
        process queued claimed are not due: they are already on their way."""
        tried = 0
        while True:
            self._wake.clear()
            claimed_at = self.clock.now()
            batch = await self.store.write(lambda tx: tx.claim_due_outbox(BATCH_SIZE, LEASE))
            if not batch:
                return tried
            await asyncio.gather(*(self._send(message, claimed_at) for message in batch))
            tried += len(batch)

    async def flush(self) -> None:
        """Wait for the sends under way and for their records to be written."""
        while self._in_flight or self._accepted or (
                self._recorder is not None and not self._recorder.done()):
            waiting = set(self._in_flight)
            if self._recorder is not None:
                waiting.add(self._recorder)
            if waiting:
                await asyncio.wait(waiting)
            elif self._accepted:
                self._start_recorder()

    async def _send(self, message: OutboxMessage, claimed_at: datetime) -> None:
        async with self._slots:
            if self.clock.now() > claimed_at + LEASE - SEND_START_MARGIN:
                event(log, logging.WARNING, "send left to the next claim: its lease is too "
                      "short now", line=message.line_id, outbox=message.id)
                return
            try:
                result = await self.gateway.send_sms(
                    to=message.to_number, from_=message.from_number, body=message.body,
                    media_urls=message.media_urls, status_callback=self.status_callback_url)
            except SendError as exc:
                failure = exc
            else:
                self._accepted.append((message, result, self.clock.now()))
                self._start_recorder()
                event(log, logging.INFO, "sent", line=message.line_id, outbox=message.id,
                      sid=result.sid, to=mask(message.to_number))
                return
        if self.metrics is not None:
            self.metrics.send_failures.labels(str(failure.retryable).lower()).inc()
        await self.store.write(lambda tx: self._record_failure(tx, message, failure))

    def _start_recorder(self) -> None:
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.get_running_loop().create_task(self._record_accepted())

    async def _record_accepted(self) -> None:
        """Record accepted sends in batches: everything accepted while one
        batch is being written goes in the next, in one transaction."""
        while self._accepted:
            batch, self._accepted = self._accepted, []
            try:
                await self.store.write(lambda tx: self._mark_sent(tx, batch))
            except Exception:
                # Unrecorded, a send would be sent again when its lease runs out.
                log.exception("could not record %d sent message(s); retrying", len(batch))
                self._accepted[:0] = batch
                await asyncio.sleep(RECORD_RETRY_SECONDS)

    def _mark_sent(self, tx: Tx, batch: list[tuple[OutboxMessage, SendResult, datetime]]
                   ) -> None:
        for message, result, accepted_at in batch:
            early = tx.mark_sent(message.id, result.sid, result.status, accepted_at)
            if early is not None:
                status, error_code = early
                delivery_reported(tx, self.roster, message, result.sid, status,
                                        error_code)

    def _record_failure(self, tx: Tx, message: OutboxMessage, exc: SendError) -> None:
        if exc.retryable and still_matters(tx, message, tx.outbox_created_at(message.id)):
            delay = retry_delay(message.attempts)
            tx.mark_retry(message.id, str(exc), tx.now + delay)
            event(log, logging.WARNING, f"send failed, retrying in {int(delay.total_seconds())} s",
                  line=message.line_id, outbox=message.id, attempt=message.attempts,
                  error=str(exc))
            return
        tx.mark_failed(message.id, str(exc))
        why = "no longer needed, or tried for too long" if exc.retryable else "Twilio refused it"
        reason = (f"text to {message.responder_id or mask(message.to_number)} not sent: {why} "
                  f"({exc})")
        code = str(exc.twilio_code) if exc.twilio_code is not None else None
        send_refused(tx, self.roster, message, code, reason)
        event(log, logging.ERROR, "send failed for good", line=message.line_id,
              outbox=message.id, error=str(exc))
