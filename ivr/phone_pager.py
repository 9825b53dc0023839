"""Places phone pages as they fall due: claims the due rows (any instance
may, see store/page_calls.py), asks Twilio to call, records the CallSid or
the refusal. What the responder hears and presses is in
conversations/phone_pages.py and voice/page_call_routes.py."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from .background import BackgroundWorker
from .clock import Clock, from_text
from .conversations import phone_pages
from .gateway import SendError, TwilioGateway
from .logs import event
from .phone import mask
from .roster import Roster
from .store import AnyStore

log = logging.getLogger(__name__)

# Long enough for Twilio to answer the create; a placer that dies holding a
# claim leaves it to another after this (the call may then ring twice).
LEASE = timedelta(seconds=30)
BATCH = 20
MAX_SLEEP_SECONDS = 0.5
PAGE_CALL_PATH = "/voice/page-call"
PAGE_CALL_KEY_PATH = "/voice/page-call-key"
PAGE_CALL_STATUS_PATH = "/voice/page-call-status"


class PhonePager(BackgroundWorker):
    name = "ivr-phone-pager"

    def __init__(self, store: AnyStore, gateway: TwilioGateway, clock: Clock, roster: Roster,
                 public_base_url: str):
        self.store = store
        self.gateway = gateway
        self.clock = clock
        self.roster = roster
        self.base = public_base_url

    async def place_due(self) -> int:
        """Place every call due now; how many were placed or refused."""
        done = 0
        while True:
            calls = await self.store.write(lambda tx: phone_pages.claim_calls_to_place(
                tx, self.roster.config, BATCH, LEASE))
            for call in calls:
                await self._place(call)
            done += len(calls)
            if not calls:
                return done

    async def _place(self, call: phone_pages.CallToPlace) -> None:
        query = f"?page={call.page_call_id}"
        try:
            sid = await self.gateway.place_call(
                to=call.to, from_=call.from_, url=self.base + PAGE_CALL_PATH + query,
                status_callback=self.base + PAGE_CALL_STATUS_PATH + query)
        except SendError as exc:
            error = str(exc)
            event(log, logging.WARNING, "phone page refused", page=call.page_call_id,
                  to=mask(call.to), error=error)
            await self.store.write(lambda tx: phone_pages.call_refused(
                tx, self.roster, call.page_call_id, error))
            return
        event(log, logging.INFO, "phone page placed", page=call.page_call_id, sid=sid,
              to=mask(call.to))
        await self.store.write(lambda tx: phone_pages.call_placed(tx, call.page_call_id, sid))

    async def _run(self) -> None:
        while True:
            try:
                due = await self.store.read(lambda tx: tx.next_page_call_due())
                if due is not None and from_text(due) <= self.clock.now():
                    await self.place_due()
                    continue
                await asyncio.sleep(MAX_SLEEP_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("placing phone pages failed; trying again shortly")
                await asyncio.sleep(MAX_SLEEP_SECONDS)
