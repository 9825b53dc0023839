"""Who to try right now, for a line: hours, schedules, calendars and
overrides brought together, with every skip written to the decision log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from .calendars import CalendarCache
from .clock import from_text
from .config import Config, Line, Responder
from .decisions import Channel, Decision, DecisionKind
from .schedule import (Availability, Override, TierChoice, choose_tier, line_open, next_change,
                       responder_availability, wanted_for)
from .store import Tx


@dataclass(frozen=True)
class Plan:
    choice: TierChoice
    open: bool
    open_reason: str


class Roster:
    def __init__(self, config: Config, calendars: CalendarCache):
        self.config = config
        self.calendars = calendars

    def _events(self, responder: Responder):
        return self.calendars.events_for(responder.id, responder.name)

    def _availability(self, responder: Responder, now: datetime,
                      overrides: dict[str, tuple[str, str | None]]) -> Availability:
        override = None
        if responder.id in overrides:
            status, until = overrides[responder.id]
            override = Override(status, from_text(until) if until else None)  # type: ignore[arg-type]
        return responder_availability(responder.schedule, now, self._events(responder), override)

    def plan(self, tx: Tx, line: Line, tiers: Sequence[Sequence[str]], start: int,
             channel: Channel, sid: str | None = None,
             conversation_id: int | None = None) -> Plan:
        """The first tier from `start` with someone to try, and a decision
        row for each responder passed over on the way."""
        plan = self._plan(line, tiers, start, tx.now, tx.overrides())
        for rid, tier, why in plan.choice.skipped:
            tx.decide(Decision(DecisionKind.RESPONDER_SKIPPED, channel,
                               f"{rid} skipped: {why}", line_id=line.id, sid=sid,
                               conversation_id=conversation_id, tier=tier,
                               responder_id=rid))
        return plan

    def plan_without_store(self, line: Line, now: datetime) -> Plan:
        """The first tier as the schedules and calendars have it, when the
        store cannot be read: overrides (OFF/ON by text) are not known."""
        return self._plan(line, line.tiers, 0, now, {})

    def _plan(self, line: Line, tiers: Sequence[Sequence[str]], start: int, now: datetime,
              overrides: dict[str, tuple[str, str | None]]) -> Plan:
        self.calendars.current()
        is_open, why_open = line_open(line.hours, now)
        after_hours = line.hours.after_hours if line.hours else "on_call"
        wanted = wanted_for(is_open, after_hours, lambda rid: self._availability(
            self.config.responders[rid], now, overrides))
        return Plan(choose_tier(tiers, start, wanted), is_open, why_open)

    def set_own_availability(self, tx: Tx, responder: Responder,
                             on: bool) -> tuple[str, datetime | None]:
        """OFF or ON by text, in force until the next scheduled change (or,
        with no schedule, until they text again). ON means reachable at any
        hour, so it is stored as on call."""
        self.calendars.current()
        until = next_change(responder.schedule, tx.now, self._events(responder))
        status = "on_call" if on else "off"
        tx.set_override(responder.id, status, until)
        return status, until
