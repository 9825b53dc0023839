"""Daily summaries sent: each line's next summary is a row due at its local
time of day (ivr/store/summaries.py); whichever instance claims a due row
reads the day's figures, queues the text to each person named, and
schedules the next day's, all in the claiming transaction. The row's key
(line, day) makes a summary go once, across instances and restarts."""

from __future__ import annotations

import asyncio
import logging
from datetime import date

from .background import BackgroundWorker
from .clock import Clock, from_text, to_text
from .config import Config, Line
from .conversations.sending import send_to_responder
from .conversations.wording import split_sms, words
from .daily_summary import (
    DailySummary,
    day_span,
    following_summary,
    median_ack_seconds,
    next_summary,
)
from .decisions import Channel, DecisionKind, decision
from .phone import mask
from .roster import Roster
from .store import Store, Tx

log = logging.getLogger(__name__)

SUMMARY_BATCH = 20
# Summaries are due minutes apart at most; a sweep every half minute is
# on time enough and costs one read.
SWEEP_SECONDS = 30


def schedule_summaries(tx: Tx, config: Config) -> None:
    """At start: each line's next summary is due (a row already there keeps
    its state; a pending one takes the configured time)."""
    for line in config.lines.values():
        setting = line.integrations.daily_summary
        if setting is not None:
            day, due = next_summary(tx.now, setting.at, line.policy.zone)
            tx.schedule_summary(line.id, day.isoformat(), to_text(due))


def summary_of(tx: Tx, config: Config, line: Line, day: date) -> DailySummary:
    """The line's figures for its local `day`."""
    start, end = day_span(day, line.policy.zone)
    phones = [config.responders[rid].phone for rid in line.responder_ids]
    record = tx.day_record(line.id, to_text(start), to_text(end), phones)
    return DailySummary(line=line.id, day=day.isoformat(), timezone=line.policy.zone.key,
                        texts=record.texts, calls=record.calls, missed=record.missed,
                        voicemails=record.voicemails, unanswered=record.unanswered,
                        median_ack_seconds=median_ack_seconds(record.acks))


def send_due_summaries(tx: Tx, roster: Roster, limit: int = SUMMARY_BATCH) -> list[DailySummary]:
    """Send every summary due now; the summaries sent."""
    config = roster.config
    sent = []
    for due in tx.claim_due_summaries(limit):
        line = config.lines.get(due.line_id)
        setting = line.integrations.daily_summary if line else None
        if line is None or setting is None:
            continue   # the line or its summary left the config since it was scheduled
        day = date.fromisoformat(due.day)
        summary = summary_of(tx, config, line, day)
        text_summary(tx, roster, line, summary, setting.to)
        following, at = following_summary(day, tx.now, setting.at, line.policy.zone)
        tx.schedule_summary(line.id, following.isoformat(), to_text(at))
        sent.append(summary)
    return sent


def text_summary(tx: Tx, roster: Roster, line: Line, summary: DailySummary,
                 to: tuple[str, ...]) -> None:
    """The summary by text, from the line, to each responder id or number in `to`."""
    config = roster.config
    body = words(line, "daily_summary", **summary.wording_variables())
    names = [r if r in config.responders else mask(r) for r in to]
    told = f"texted to {', '.join(names)}" if names else "left to the event hooks"
    decision_id = tx.decide(decision(
        DecisionKind.DAILY_SUMMARY_SENT, Channel.SMS,
        f"the summary of {summary.day} ({summary.timezone}) is {told}", line=line))
    # What a daily_summary hook event carries, read back when it is sent.
    tx.record_summary_figures(line.id, summary.day, decision_id, summary.as_dict())
    for recipient in to:
        responder = config.responders.get(recipient)
        if responder is not None:
            send_to_responder(tx, line, None, decision_id, responder, body, purpose="notice")
            continue
        for part in split_sms(str(body)):
            tx.enqueue_sms(decision_id, line.id, None, to_number=recipient,
                           from_number=line.number, body=part, purpose="notice")


class SummaryWorker(BackgroundWorker):
    name = "ivr-daily-summaries"

    def __init__(self, store: Store, roster: Roster, clock: Clock):
        self.store = store
        self.roster = roster
        self.clock = clock

    async def schedule(self) -> None:
        await self.store.write(lambda tx: schedule_summaries(tx, self.roster.config))

    async def send_due(self) -> list[DailySummary]:
        """Send every summary due now (what the sweep does)."""
        sent: list[DailySummary] = []
        while True:
            batch = await self.store.write(
                lambda tx: send_due_summaries(tx, self.roster, SUMMARY_BATCH))
            sent.extend(batch)
            if len(batch) < SUMMARY_BATCH:
                return sent

    def start(self) -> None:
        if any(line.integrations.daily_summary for line in self.roster.config.lines.values()):
            super().start()

    async def _run(self) -> None:
        while True:
            try:
                # A read first: the write lock is taken only when one is due.
                due = await self.store.read(lambda tx: tx.next_summary_due())
                if due is not None and from_text(due) <= self.clock.now():
                    await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("daily summary sweep failed; trying again shortly")
            await asyncio.sleep(SWEEP_SECONDS)
