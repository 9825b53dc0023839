"""iCalendar on-call calendars (files or URLs), kept in memory.

Calendars come from other tools and can hold what this code cannot read: an
event without DTSTART, an invalid RRULE or DURATION, a broken date. Such an
event is skipped and logged, and the rest of its calendar still applies. A
calendar that cannot be read or expanded at all (the server is down, the file
is not iCalendar, every event is unreadable) keeps its last good copy, and
the failure is logged: routing never stops because of a calendar, and no
calendar content can fail a webhook or the start. Recurring events are
expanded (RFC 5545 RRULE, EXDATE, RDATE and moved instances, by
recurring-ical-events) for a window around now, refreshed as time moves on.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import urlsplit

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


class CalendarUnusable(Exception):
    """Nothing in the calendar can be used: its last good copy is kept."""


@dataclass(frozen=True)
class SkippedEvent:
    """An event that could not be read; the rest of its calendar applies."""
    uid: str
    summary: str
    why: str

    def describe(self) -> str:
        summary = f" ({self.summary!r})" if self.summary else ""
        return f"event {self.uid or '(no UID)'}{summary}: {self.why}"


@dataclass(frozen=True)
class Expansion:
    events: tuple[CalendarEvent, ...]
    skipped: tuple[SkippedEvent, ...] = ()


@dataclass
class _Loaded:
    """A calendar's last good copy and what it gave for the current window."""
    calendar: icalendar.Calendar
    loaded_at: datetime
    expansion: Expansion


@dataclass
class CalendarStatus:
    """What `ivr check` says about one calendar."""
    source: str
    loaded: bool
    events: int = 0
    skipped: tuple[SkippedEvent, ...] = ()
    problem: str | None = None     # why the latest read failed, if it did
    loaded_at: datetime | None = None
    notes: list[str] = field(default_factory=list)


def describe_source(source: str) -> str:
    """A calendar's name for logs and `ivr check`: a URL loses its user,
    query and the middle of its path, where private calendar links keep
    their key (…/private-0123abcd/basic.ics)."""
    if not source.startswith(("http://", "https://")):
        return source
    parts = urlsplit(source)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    segments = [s for s in parts.path.split("/") if s]
    tail = f"/…/{segments[-1]}" if len(segments) > 1 else (f"/{segments[0]}" if segments else "")
    return f"{parts.scheme}://{host}{tail}"


def _as_datetime(value: date | datetime) -> datetime:
    """A date (all-day event) becomes a floating midnight: the responder's
    own midnight, not UTC's."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise ValueError(f"{value!r} is not a date or a date-time")


def event_span(component: icalendar.Component) -> tuple[datetime, datetime]:
    """When an event instance begins and ends. Without DTEND or DURATION it
    lasts a day if it starts on a date, and no time if it starts at a time
    (RFC 5545, 3.6.1)."""
    begin = _as_datetime(component["DTSTART"].dt)
    if "DTEND" in component:
        return begin, _as_datetime(component["DTEND"].dt)
    if "DURATION" in component:
        return begin, begin + component["DURATION"].dt
    all_day = not isinstance(component["DTSTART"].dt, datetime)
    return begin, begin + timedelta(days=1 if all_day else 0)


def _instances(calendar: icalendar.Calendar, start: datetime,
               end: datetime) -> list[CalendarEvent]:
    events = []
    # Floating events are expanded a day wider so every zone's midnight is inside.
    for component in recurring_ical_events.of(calendar).between(start - timedelta(days=1),
                                                               end + timedelta(days=1)):
        begin, finish = event_span(component)
        events.append(CalendarEvent(str(component.get("SUMMARY", "")), begin, finish))
    return events


def read_events(calendar: icalendar.Calendar, start: datetime, end: datetime) -> Expansion:
    """The instances of `calendar`'s events between start and end. An event
    that cannot be read is left out and named in `skipped`; CalendarUnusable
    if nothing in the calendar can be read."""
    try:
        return Expansion(tuple(_instances(calendar, start, end)))
    except Exception:
        pass   # one event or more cannot be read: take the events one series at a time
    frame = _frame(calendar)
    try:
        _instances(frame, start, end)
    except Exception as exc:
        raise CalendarUnusable(_event_problem(exc)) from None
    events: list[CalendarEvent] = []
    skipped: list[SkippedEvent] = []
    series = _series(calendar)
    for components in series:
        try:
            events.extend(_instances(_frame(calendar, components), start, end))
        except Exception as exc:
            first = components[0]
            skipped.append(SkippedEvent(_text(first.get("UID")), _text(first.get("SUMMARY")),
                                        _event_problem(exc)))
    if series and len(skipped) == len(series):
        raise CalendarUnusable(f"none of its {len(series)} event(s) can be read, e.g. "
                               f"{skipped[0].describe()}")
    return Expansion(tuple(events), tuple(skipped))


def expand(calendar: icalendar.Calendar, start: datetime, end: datetime) -> list[CalendarEvent]:
    """The readable events' instances (unreadable events are left out)."""
    return list(read_events(calendar, start, end).events)


def _series(calendar: icalendar.Calendar) -> list[list[icalendar.Component]]:
    """VEVENTs grouped as recurring-ical-events groups them: by UID, so a
    moved instance (RECURRENCE-ID) stays with its series."""
    groups: dict[object, list[icalendar.Component]] = {}
    for component in calendar.subcomponents:
        if component.name == "VEVENT":
            uid = component.get("UID")
            groups.setdefault(str(uid) if uid is not None else id(component), []).append(component)
    return list(groups.values())


def _frame(calendar: icalendar.Calendar,
           events: Iterable[icalendar.Component] = ()) -> icalendar.Calendar:
    """`calendar`'s properties and time zones, holding only `events`."""
    frame = icalendar.Calendar()
    for name, value in calendar.items():
        frame[name] = value
    frame.subcomponents = [c for c in calendar.subcomponents if c.name != "VEVENT"]
    frame.subcomponents.extend(events)
    return frame


def _text(value: object) -> str:
    return " ".join(str(value).split())[:80] if value is not None else ""


_FREQUENCIES = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_BROKEN = re.compile(r"broken property '(?P<name>[\w-]+)'[^:]*:\s*(?P<detail>.*)", re.S)


def _event_problem(exc: BaseException) -> str:
    """Why an event (or a calendar) cannot be read, in a few words."""
    if isinstance(exc, KeyError) and exc.args:
        return f"it has no {exc.args[0]}"
    text = " ".join(str(exc).split()).replace("\\;", ";").replace("\\,", ",")
    broken = _BROKEN.search(text)
    if broken:
        return f"its {broken['name']} cannot be read ({broken['detail'][:150]})"
    if type(exc).__name__ == "BadRuleStringFormat":
        frequency = re.search(r"FREQ=([^;\s]*)", text)
        if frequency and frequency[1].upper() not in _FREQUENCIES:
            return (f"its RRULE has FREQ={frequency[1][:20]}, not one of "
                    f"{', '.join(_FREQUENCIES)}")
        return f"its RRULE cannot be read ({text[:150]})"
    return f"{type(exc).__name__}: {text[:150]}" if text else type(exc).__name__


_URL = re.compile(r"https?://[^\s'\"<>]+")


def _why(exc: BaseException) -> str:
    """A read failure in a few words, with any URL in it shortened (a
    calendar's URL may hold its key)."""
    text = _URL.sub(lambda url: describe_source(url[0]), " ".join(str(exc).split()))
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _window(now: datetime) -> tuple[datetime, datetime]:
    return now - WINDOW_BEFORE, now + WINDOW_AFTER


class CalendarCache(BackgroundWorker):
    name = "ivr-calendars"

    def __init__(self, sources: Sequence[str], clock: Clock):
        self.sources = tuple(sources)
        self.clock = clock
        self._loaded: dict[str, _Loaded] = {}
        self._problems: dict[str, str] = {}
        self._reported: dict[str, frozenset[SkippedEvent]] = {}
        self._events: tuple[CalendarEvent, ...] = ()
        self._window: tuple[datetime, datetime] | None = None

    async def refresh(self) -> None:
        """Read every calendar again. Never raises: a calendar that fails
        keeps its last good copy."""
        start, end = _window(self.clock.now())
        for source in self.sources:
            try:
                text = await self._read(source)
            except Exception as exc:
                self._keep(source, f"cannot be read ({_why(exc)})")
                continue
            try:
                loaded = await asyncio.to_thread(self._load, text, start, end)
            except CalendarUnusable as exc:
                self._keep(source, f"cannot be read ({exc})")
                continue
            except Exception as exc:
                self._keep(source, f"cannot be read (not iCalendar: {_why(exc)})")
                continue
            self._loaded[source] = loaded
            if self._problems.pop(source, None):
                log.info("calendar %s can be read again", describe_source(source))
            self._report_skipped(source, loaded.expansion.skipped)
        try:
            await asyncio.to_thread(self._expand_now)
        except Exception:
            log.exception("calendars could not be expanded; keeping the events expanded before")

    def _load(self, text: str, start: datetime, end: datetime) -> _Loaded:
        calendar = icalendar.Calendar.from_ical(text)
        return _Loaded(calendar, self.clock.now(), read_events(calendar, start, end))

    def _keep(self, source: str, problem: str) -> None:
        previous = self._loaded.get(source)
        kept = (f"keeping the copy loaded {previous.loaded_at:%Y-%m-%d %H:%M} UTC"
                if previous else "no earlier copy: its events are not applied")
        if self._problems.get(source) != problem:
            log.warning("calendar %s %s; %s", describe_source(source), problem, kept)
        self._problems[source] = problem

    def _report_skipped(self, source: str, skipped: Sequence[SkippedEvent]) -> None:
        """Each unreadable event is logged once, not at every refresh."""
        new = frozenset(skipped) - self._reported.get(source, frozenset())
        for event in sorted(new, key=lambda e: (e.uid, e.summary)):
            log.warning("calendar %s: %s; skipped, the rest of the calendar applies",
                        describe_source(source), event.describe())
        self._reported[source] = frozenset(skipped)

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
        """Expand every last good copy for the window around now. A copy that
        fails now keeps the events it gave before."""
        start, end = _window(self.clock.now())
        for source, loaded in list(self._loaded.items()):
            try:
                expansion = read_events(loaded.calendar, start, end)
            except Exception as exc:
                log.warning("calendar %s cannot be expanded for the coming days (%s); keeping "
                            "the events expanded before", describe_source(source),
                            _event_problem(exc))
                continue
            loaded.expansion = expansion
            self._report_skipped(source, expansion.skipped)
        self._events = tuple(e for loaded in list(self._loaded.values())
                             for e in loaded.expansion.events)
        self._window = (start, end)

    def events_for(self, responder_id: str, name: str) -> list[CalendarEvent]:
        return [e for e in self._events if names_responder(e.summary, responder_id, name)]

    def status(self, source: str) -> CalendarStatus:
        loaded = self._loaded.get(source)
        if loaded is None:
            return CalendarStatus(source, False, problem=self._problems.get(source))
        return CalendarStatus(source, True, len(loaded.expansion.events),
                              loaded.expansion.skipped, self._problems.get(source),
                              loaded.loaded_at)

    @property
    def stale(self) -> bool:
        """True when now is outside the first half of the expanded window."""
        if self._window is None:
            return bool(self._loaded)
        start, end = self._window
        return not start + WINDOW_BEFORE / 2 <= self.clock.now() <= start + (end - start) / 2

    def current(self) -> None:
        """Re-expand the loaded calendars when time has moved on (cheap otherwise).
        Called inside transactions, in the database thread: rare, and small.
        Never raises: a calendar must not fail the transaction."""
        if self.stale:
            try:
                self._expand_now()
            except Exception:
                log.exception("calendars could not be expanded; keeping the events expanded "
                              "before")

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
