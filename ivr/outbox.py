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
import os
import time
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Coroutine

from .background import BackgroundWorker
from .clock import Clock, from_text
from .config import TWILIO_CONCURRENCY_DEFAULT
from .conversations.delivery import delivery_reported, send_refused, still_matters
from .gateway import REQUEST_TIMEOUT_SECONDS, SendError, SendResult, TwilioGateway
from .logs import event
from .phone import mask
from .roster import Roster
from .store import OutboxMessage, Store, Tx
from .store.outbox import FirstInLine
from .web.metrics import Metrics

log = logging.getLogger(__name__)

BATCH_SIZE = 20


def _lease() -> timedelta:
    """60 s, far longer than the gateway's 10 s request timeout. The crash
    tests shorten it (IVR_OUTBOX_LEASE_SECONDS) so as not to wait a minute
    for an expired claim; never below twice the timeout, or a send that
    started in time could still be under way when another claim sends it."""
    seconds = float(os.environ.get("IVR_OUTBOX_LEASE_SECONDS") or 60)
    if seconds < 2 * REQUEST_TIMEOUT_SECONDS:
        raise ValueError(f"IVR_OUTBOX_LEASE_SECONDS={seconds:g}: at least "
                         f"{2 * REQUEST_TIMEOUT_SECONDS} s, twice the REST timeout")
    return timedelta(seconds=seconds)


LEASE = _lease()
# A send must start early enough in its lease to finish inside it; later,
# the row is left to the next claim rather than sent twice at once.
SEND_START_MARGIN = timedelta(seconds=REQUEST_TIMEOUT_SECONDS + 5)
# Without IVR_WORKERS (an app built by a test, or by hand): one process.
WORKERS_ENV = "IVR_WORKERS"
POLL_SECONDS = 1.0
RECORD_RETRY_SECONDS = 1.0
STATUS_CALLBACK_PATH = "/sms/status"


def sends_in_flight(twilio_concurrency: int, workers: int) -> int:
    """How many REST sends one worker may have under way: its share of the
    machine's `[service] twilio_concurrency`, so that all the workers
    together stay within it. At 250 ms a send, 90 at once send 360 texts
    a second, more than one worker takes in (bench/README.md, "A burst
    with Twilio at 250 ms")."""
    return max(1, twilio_concurrency // max(1, workers))


def workers_here() -> int:
    """How many workers `ivr serve` started beside this one (itself included)."""
    try:
        return max(1, int(os.environ.get(WORKERS_ENV) or 1))
    except ValueError:
        return 1


def retry_delay(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s … capped at a minute: Twilio is not hammered while it
    recovers from a 429 or a 5xx, and a page goes out within a minute of
    its recovery however long the outage (retries go on while the text
    still matters: conversations.delivery.still_matters)."""
    return timedelta(seconds=min(2 ** attempts, 60))


def _claim(tx: Tx, limit: int) -> tuple[list[OutboxMessage], set[int]]:
    batch = tx.claim_due_outbox(limit, LEASE)
    return batch, tx.unrecorded_claims(message.id for message in batch)


Accepted = tuple[OutboxMessage, SendResult, datetime, float]


class OutboxWorker(BackgroundWorker):
    name = "ivr-outbox"

    def __init__(self, store: Store, gateway: TwilioGateway, clock: Clock,
                 status_callback_url: str, roster: Roster, metrics: Metrics | None = None,
                 max_in_flight: int = sends_in_flight(TWILIO_CONCURRENCY_DEFAULT, 1)):
        self.store = store
        self.roster = roster
        self.metrics = metrics
        self.gateway = gateway
        self.clock = clock
        self.status_callback_url = status_callback_url
        self._wake = asyncio.Event()
        self.max_in_flight = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight)
        # Sends of this process holding a slot, and waiting for one.
        self._sending = 0
        self._waiting = 0
        # Set while due sends may wait in the outbox for this process's room
        # (it handed some back, or its sweep stopped short): a freed slot then
        # wakes the sweep, rather than leaving them to the next poll.
        self._more_may_be_due = False
        self._in_flight: set[asyncio.Task[None]] = set()
        # Sends Twilio accepted, not yet recorded: (message, result, accepted
        # at, and by time.monotonic for the record's delay in the log).
        self._accepted: list[Accepted] = []
        self._recorder: asyncio.Task[None] | None = None
        # Records go first in line: until one commits, a crash sends it again.
        self._records = FirstInLine(store)
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
        await self._records.close()

    def wake(self) -> None:
        self._wake.set()

    def _after_commit(self, tx: Tx) -> None:
        overflow: list[OutboxMessage] = []
        for message in tx.claimed:
            # A second round already waits for this process's slots: what is
            # more is handed back for whichever process has room (another
            # worker, another machine), instead of waiting here behind it.
            if self._waiting >= self.max_in_flight:
                overflow.append(message)
            else:
                self._spawn_send(message, tx.now)
        if overflow:
            self._track(self._hand_back(overflow, tx.now))
        if tx.enqueued > len(tx.claimed):
            self.wake()

    def _spawn_send(self, message: OutboxMessage, claimed_at: datetime,
                    ask_first: bool = False) -> None:
        self._waiting += 1
        self._track(self._send(message, claimed_at, ask_first))

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _hand_back(self, messages: list[OutboxMessage], claimed_at: datetime) -> None:
        ids = [message.id for message in messages]
        try:
            handed = await self.store.write(lambda tx: tx.release_claims(ids))
        except Exception:  # still ours: send them here, behind the rest
            log.exception("could not hand back %d sends; sending them here", len(ids))
            for message in messages:
                self._spawn_send(message, claimed_at)
            return
        self._more_may_be_due = True
        event(log, logging.INFO, "sends handed back for any process with room",
              count=handed, waiting=self._waiting)

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
        tried = 0
        while True:
            claimed = await self._sweep()
            await self.flush()
            if not claimed:
                return tried
            tried += claimed

    async def _sweep(self) -> int:
        """Claim and send every message that is due now. Messages this
        process queued claimed are not due: they are already on their way."""
        tried = 0
        while True:
            self._wake.clear()
            # Claim only what this process has room to start: the rest is
            # left to a process with room (see _after_commit).
            room = min(BATCH_SIZE, self.max_in_flight - self._sending - self._waiting)
            if room <= 0:
                self._more_may_be_due = True
                return tried
            claimed_at = self.clock.now()
            batch, unrecorded = await self.store.write(lambda tx: _claim(tx, room))
            if not batch:
                self._more_may_be_due = False
                return tried
            # Each send on its own, as the commit's are: the next batch is
            # claimed as soon as there is room, not once this one is done.
            for message in batch:
                self._spawn_send(message, claimed_at, message.id in unrecorded)
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

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """One of this process's send slots; the caller counted itself in
        `_waiting` when it was queued."""
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        self._sending += 1
        try:
            yield
        finally:
            self._sending -= 1
            self._slots.release()
            if self._more_may_be_due:
                self.wake()

    async def _send(self, message: OutboxMessage, claimed_at: datetime,
                    ask_first: bool = False) -> None:
        async with self._slot():
            if self.clock.now() > claimed_at + LEASE - SEND_START_MARGIN:
                event(log, logging.WARNING, "send left to the next claim: its lease is too "
                      "short now", line=message.line_id, outbox=message.id)
                return
            try:
                found = await self._already_sent(message) if ask_first else None
                result = found or await self.gateway.send_sms(
                    to=message.to_number, from_=message.from_number, body=message.body,
                    media_urls=message.media_urls, status_callback=self.status_callback_url,
                    messaging_service=self._messaging_service(message))
            except SendError as exc:
                failure = exc
            else:
                self._accepted.append((message, result, self.clock.now(), time.monotonic()))
                self._start_recorder()
                return
        if self.metrics is not None:
            self.metrics.send_failures.labels(str(failure.retryable).lower()).inc()
        await self.store.write(lambda tx: self._record_failure(tx, message, failure))

    async def _already_sent(self, message: OutboxMessage) -> SendResult | None:
        """Before sending again what a process that died may have sent (its
        claim ran out unrecorded), ask Twilio: a message with the same To,
        From and body since the row was queued is that send, and is recorded
        instead. Twilio offers no idempotency key; this narrows a crash's
        doubles to the sends Twilio had not yet taken at it. If Twilio cannot
        say, the text is sent: twice is better than never. A recorded
        failure (a 5xx, a timeout) is retried as it was, unasked."""
        created = from_text(await self.store.read(
            lambda tx: tx.outbox_created_at(message.id)))
        try:
            found = await self.gateway.find_sent(
                to=message.to_number, from_=message.from_number, body=message.body,
                since=created, messaging_service=self._messaging_service(message))
        except SendError as exc:
            event(log, logging.WARNING, "could not ask Twilio whether a text was sent; "
                  "sending it", line=message.line_id, outbox=message.id, error=str(exc))
            return None
        if found is not None:
            event(log, logging.WARNING, "already sent before a crash; recorded, "
                  "not sent again", line=message.line_id, outbox=message.id, sid=found.sid)
        return found

    def _messaging_service(self, message: OutboxMessage) -> str | None:
        """The line's Messaging Service as configured now: a row queued before
        a restart that added one is sent through it too (issue 17)."""
        line = self.roster.config.lines.get(message.line_id)
        return line.messaging_service if line else None

    def _start_recorder(self) -> None:
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.get_running_loop().create_task(self._record_accepted())

    async def _record_accepted(self) -> None:
        """Record accepted sends in batches: everything accepted while one
        batch is being written goes in the next, in one transaction, on the
        records' own write path (FirstInLine)."""
        while self._accepted:
            batch, self._accepted = self._accepted, []
            try:
                await self._records.write(lambda tx: self._mark_sent(tx, batch))
            except Exception:
                # Unrecorded, a send would be sent again when its lease runs out.
                log.exception("could not record %d sent message(s); retrying", len(batch))
                self._accepted[:0] = batch
                await asyncio.sleep(RECORD_RETRY_SECONDS)
                continue
            recorded = self._records.committed_at
            for message, result, _, accepted in batch:
                # record_ms: how long a crash would have sent this again (bench/record_window.py)
                event(log, logging.INFO, "sent", line=message.line_id, outbox=message.id,
                      sid=result.sid, to=mask(message.to_number),
                      record_ms=round((recorded - accepted) * 1000, 1))

    def _mark_sent(self, tx: Tx, batch: list[Accepted]) -> None:
        for message, result, accepted_at, _ in batch:
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
