"""Lines' bookings calendars (`[lines.X] bookings`), kept in memory.

Read, refreshed and kept exactly as the on-call calendars are
(ivr/calendars.py: the same reading, the same last-good-copy rule, the
same skipped-event reports), in the background: a conversation opening
inside a store transaction only looks at what is already in memory, never
waits for a server. A calendar never read leaves conversations untagged."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Mapping

import icalendar
import recurring_ical_events

from .bookings import Booking, numbers_in
from .calendars import CalendarCache, _frame, _series, _window, describe_source, event_span
from .clock import Clock

if TYPE_CHECKING:
    from .config import Config

log = logging.getLogger(__name__)


def read_bookings(calendar: icalendar.Calendar, start: datetime,
                  end: datetime) -> tuple[Booking, ...]:
    """The bookings between start and end; a series that cannot be read is
    left out (CalendarCache reports it)."""
    bookings: list[Booking] = []
    for components in _series(calendar):
        try:
            instances = recurring_ical_events.of(_frame(calendar, components)).between(start, end)
            bookings.extend(_booking(component) for component in instances)
        except Exception:
            continue
    return tuple(bookings)


def _booking(component: icalendar.Component) -> Booking:
    begin, finish = event_span(component)
    attendees = component.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    return Booking(uid=str(component.get("UID", "")), summary=str(component.get("SUMMARY", "")),
                   start=begin, end=finish,
                   numbers=numbers_in(str(component.get("DESCRIPTION", "")),
                                      [str(a) for a in attendees]))


class BookingCalendars(CalendarCache):
    """Every line's bookings calendar; `bookings_for(line_id)` is what a
    conversation opening now can be tagged with."""
    name = "ivr-bookings"

    def __init__(self, sources_by_line: Mapping[str, str], clock: Clock):
        super().__init__(tuple(dict.fromkeys(sources_by_line.values())), clock)
        self.sources_by_line = dict(sources_by_line)
        self._bookings: dict[str, tuple[Booking, ...]] = {}

    def _expand_now(self) -> None:
        super()._expand_now()
        start, end = _window(self.clock.now())
        for source, loaded in list(self._loaded.items()):
            try:
                self._bookings[source] = read_bookings(loaded.calendar, start, end)
            except Exception as exc:   # keep what it gave before
                log.warning("bookings calendar %s cannot be expanded (%s); keeping the "
                            "bookings read before", describe_source(source),
                            type(exc).__name__)

    def bookings_for(self, line_id: str) -> tuple[Booking, ...] | None:
        """The line's bookings around now; None when its calendar has never
        been read (nothing to tag with)."""
        source = self.sources_by_line.get(line_id)
        if source is None:
            return None
        self.current()
        return self._bookings.get(source)


def bookings_by_line(config: "Config") -> dict[str, str]:
    return {lid: line.integrations.bookings for lid, line in config.lines.items()
            if line.integrations.bookings}
