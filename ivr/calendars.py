"""iCalendar on-call calendars (files or URLs), kept in memory.

A calendar that cannot be read keeps its last good copy, and the failure is
logged: routing never stops because a calendar server is down. Recurring
events are expanded (RFC 5545 RRULE, EXDATE, RDATE and moved instances, by
recurring-ical-events) for a window around now, refreshed as time moves on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Sequence

import aiohttp
import icalendar
import recurring_ical_events

from .background import BackgroundWorker
from .clock import Clock
from .schedule import CalendarEvent, names_responder

log = logging.getLogger(__name__)

REFRESH_SECONDS = 300
FETCH_TIMEOUT_SECONDS = 10
WINDOW_BEFORE = timedelta(days=1)
WINDOW_AFTER = timedelta(days=9)


@dataclass
class _Loaded:
    calendar: icalendar.Calendar
    loaded_at: datetime


def _as_datetime(value: date | datetime) -> datetime:
    """A date (all-day event) becomes a floating midnight: the responder's
    own midnight, not UTC's."""
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day)


def expand(calendar: icalendar.Calendar, start: datetime, end: datetime) -> list[CalendarEvent]:
    events = []
    # Floating events are expanded a day wider so every zone's midnight is inside.
    for component in recurring_ical_events.of(calendar).between(start - timedelta(days=1),
                                                               end + timedelta(days=1)):
        begin = _as_datetime(component["DTSTART"].dt)
        if "DTEND" in component:
            finish = _as_datetime(component["DTEND"].dt)
        elif "DURATION" in component:
            finish = begin + component["DURATION"].dt
        else:
            finish = begin + timedelta(days=1 if not isinstance(component["DTSTART"].dt,
                                                                   datetime) else 0)
        events.append(CalendarEvent(str(component.get("SUMMARY", "")), begin, finish))
    return events


class CalendarCache(BackgroundWorker):
    name = "ivr-calendars"

    def __init__(self, sources: Sequence[str], clock: Clock):
        self.sources = tuple(sources)
        self.clock = clock
        self._loaded: dict[str, _Loaded] = {}
        self._events: list[CalendarEvent] = []
        self._window: tuple[datetime, datetime] | None = None

    async def refresh(self) -> None:
        for source in self.sources:
            try:
                text = await self._read(source)
                calendar = await asyncio.to_thread(icalendar.Calendar.from_ical, text)
            except Exception as exc:  # any failure keeps the last good copy
                previous = self._loaded.get(source)
                kept = (f"keeping the copy loaded {previous.loaded_at:%Y-%m-%d %H:%M} UTC"
                        if previous else "no earlier copy: its events are not applied")
                log.warning("calendar %s cannot be read (%s: %s); %s", source,
                            type(exc).__name__, str(exc)[:200], kept)
                continue
            self._loaded[source] = _Loaded(calendar, self.clock.now())
        await self._expand()

    async def _read(self, source: str) -> str:
        if source.startswith(("http://", "https://")):
            timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(source) as response:
                    response.raise_for_status()
                    return await response.text()
        return await asyncio.to_thread(Path(source).read_text, "utf-8")

    async def _expand(self) -> None:
        await asyncio.to_thread(self._expand_now)

    def _expand_now(self) -> None:
        now = self.clock.now()
        start, end = now - WINDOW_BEFORE, now + WINDOW_AFTER
        calendars = [loaded.calendar for loaded in self._loaded.values()]
        self._events = [event for calendar in calendars for event in expand(calendar, start, end)]
        self._window = (start, end)

    def events_for(self, responder_id: str, name: str) -> list[CalendarEvent]:
        return [e for e in self._events if names_responder(e.summary, responder_id, name)]

    @property
    def stale(self) -> bool:
        """True when now is outside the first half of the expanded window."""
        if self._window is None:
            return bool(self._loaded)
        start, end = self._window
        return not start + WINDOW_BEFORE / 2 <= self.clock.now() <= start + (end - start) / 2

    def current(self) -> None:
        """Re-expand the loaded calendars when time has moved on (cheap otherwise).
        Called inside transactions, in the database thread: rare, and small."""
        if self.stale:
            self._expand_now()

    def start(self) -> None:
        if self.sources:
            super().start()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
            except Exception:
                log.exception("calendar refresh failed; keeping what was loaded")
