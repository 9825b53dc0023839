"""Who to try right now, for a line: hours, schedules, calendars and
overrides brought together, with every skip written to the decision log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Sequence

from .calendars import CalendarCache
from .clock import from_text
from .config import Config, Line, Responder
from .decisions import Channel, Decision, DecisionKind
from .schedule import (Availability, Override, TierChoice, anyone_on_call, choose_tier,
                       line_open, next_change, responder_availability, wanted_for)
from .store import Tx

if TYPE_CHECKING:
    from .booking_calendars import BookingCalendars


@dataclass(frozen=True)
class Plan:
    choice: TierChoice
    open: bool
    open_reason: str
    # Closed, and no responder of the tiers has on-call windows or is on
    # call: the tiers are tried as in hours (the reason), so a line with no
    # on-call rota is not left to the last tier or voicemail after hours.
    fallback: str | None = None


class Roster:
    def __init__(self, config: Config, calendars: CalendarCache,
                 bookings: "BookingCalendars | None" = None):
        self.config = config
        self.calendars = calendars
        # The lines' bookings calendars: what a new conversation is tagged with.
        self.bookings = bookings

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
        if plan.fallback:
            tx.decide(Decision(DecisionKind.AFTER_HOURS, channel, plan.fallback,
                               line_id=line.id, sid=sid, conversation_id=conversation_id))
        for rid, tier, why in plan.choice.skipped:
            tx.decide(Decision(DecisionKind.RESPONDER_SKIPPED, channel,
                               f"{rid} skipped: {why}", line_id=line.id, sid=sid,
                               conversation_id=conversation_id, tier=tier,
                               responder_id=rid))
        return plan

    def after_hours_fallback(self, tx: Tx, line: Line,
                             tiers: Sequence[Sequence[str]]) -> str | None:
        """Why the tiers are tried as in hours now, if they are (see Plan)."""
        return self._plan(line, tiers, 0, tx.now, tx.overrides()).fallback

    def plan_without_store(self, line: Line, now: datetime) -> Plan:
        """The first tier as the schedules and calendars have it, when the
        store cannot be read: overrides (OFF/ON by text) are not known."""
        return self._plan(line, line.tiers, 0, now, {})

    def plan_at(self, line: Line, tiers: Sequence[Sequence[str]], start: int, now: datetime,
                overrides: dict[str, tuple[str, str | None]]) -> Plan:
        """The plan `plan` would make at `now`, writing no decision: `ivr
        check` previews who is reached with the service's own rule."""
        return self._plan(line, tiers, start, now, overrides)

    def _plan(self, line: Line, tiers: Sequence[Sequence[str]], start: int, now: datetime,
              overrides: dict[str, tuple[str, str | None]]) -> Plan:
        self.calendars.current()
        is_open, why_open = line_open(line.hours, now)
        after_hours = line.hours.after_hours if line.hours else "on_call"

        def availability(rid: str) -> Availability:
            return self._availability(self.config.responders[rid], now, overrides)

        fallback = None
        rota = any(self.config.responders[rid].schedule.on_call for tier in tiers for rid in tier)
        if not is_open and not rota and not anyone_on_call(tiers, availability):
            fallback = (f"{why_open}, and no responder of the line has on-call windows or is on "
                        "call: its tiers are tried as in hours (anyone not off); give "
                        "responders on_call windows or calendar events to choose who answers "
                        "after hours")
        wanted = wanted_for(is_open or fallback is not None, after_hours, availability)
        return Plan(choose_tier(tiers, start, wanted), is_open, why_open, fallback)

    def next_scheduled_change(self, responder: Responder, now: datetime) -> datetime | None:
        """When `responder`'s schedule or calendar next changes their status."""
        self.calendars.current()
        return next_change(responder.schedule, now, self._events(responder))

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
