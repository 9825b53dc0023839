"""Who is available when: line hours and responder schedules. Pure
functions over datetimes, so DST, overlaps and overrides are table-tested.

Weekly windows are wall-clock times in a named IANA zone ("mon-fri
08:00-18:00" means 8 a.m. local time on both sides of a DST change); a window
whose end is not after its start runs past midnight ("daily 18:00-08:00").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Callable, Iterable, Literal, Sequence
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Status = Literal["on_duty", "on_call", "off"]
AfterHours = Literal["on_call", "voicemail"]

# Words in a calendar event's title that say what the event means for the
# responder it names; anything else is an on-call shift.
OFF_WORDS = frozenset({"off", "vacation", "leave", "pto", "holiday", "out", "sick"})
DUTY_WORDS = frozenset({"duty", "shift"})

_WINDOW = re.compile(r"^\s*(?P<days>[a-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class WeeklyWindow:
    days: frozenset[int]     # 0 = Monday
    start: time
    end: time
    text: str

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def contains(self, local: datetime) -> bool:
        moment, weekday = local.time(), local.weekday()
        if not self.overnight:
            return weekday in self.days and self.start <= moment < self.end
        return ((weekday in self.days and moment >= self.start)
                or ((weekday - 1) % 7 in self.days and moment < self.end))

    def boundaries(self, day: date) -> list[tuple[date, time]]:
        """Local (date, time) pairs where this window opens or closes on `day`."""
        if day.weekday() not in self.days:
            return []
        close_day = day + timedelta(days=1) if self.overnight else day
        return [(day, self.start), (close_day, self.end)]


def parse_window(text: str) -> WeeklyWindow:
    match = _WINDOW.match(text.lower())
    if not match:
        raise ScheduleError(f"{text!r} is not like \"mon-fri 08:00-18:00\"")
    days: set[int] = set()
    for part in match["days"].split(","):
        if part in ("daily", "every"):
            days.update(range(7))
            continue
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ScheduleError(f"{text!r}: {part!r} is not a day or range like mon-fri")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.update((a + i) % 7 for i in range(((b - a) % 7) + 1))
    try:
        start = time.fromisoformat(match["start"].zfill(5))
        end = time.fromisoformat(match["end"].zfill(5)) if match["end"] != "24:00" else time(0)
    except ValueError:
        raise ScheduleError(f"{text!r}: times must be HH:MM from 00:00 to 24:00") from None
    if start == end and match["end"] != "24:00":
        raise ScheduleError(f"{text!r}: a window needs a different start and end")
    return WeeklyWindow(frozenset(days), start, end, text.strip())


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception:
        raise ScheduleError(f"{name!r} is not an IANA time zone like America/Los_Angeles") from None


@dataclass(frozen=True)
class Hours:
    """When a line is open, and what happens when it is not."""
    tz: ZoneInfo
    open: tuple[WeeklyWindow, ...]
    holidays: frozenset[date] = frozenset()
    after_hours: AfterHours = "on_call"


def line_open(hours: Hours | None, now: datetime) -> tuple[bool, str]:
    if hours is None:
        return True, "the line has no hours: always open"
    local = now.astimezone(hours.tz)
    if local.date() in hours.holidays:
        return False, f"{local.date().isoformat()} is a holiday"
    for window in hours.open:
        if window.contains(local):
            return True, f"open ({window.text}, {hours.tz.key})"
    return False, f"closed at {local:%a %H:%M} {hours.tz.key}"


@dataclass(frozen=True)
class CalendarEvent:
    """An event's instance. Naive start and end are floating times (all-day
    events, or times without a zone): they mean the responder's local time."""
    summary: str
    start: datetime
    end: datetime

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        return tuple(t if t.tzinfo else t.replace(tzinfo=tz)  # type: ignore[return-value]
                     for t in (self.start, self.end))

    def covers(self, moment: datetime, tz: ZoneInfo) -> bool:
        start, end = self.bounds(tz)
        return start <= moment < end


def event_status(summary: str) -> Status:
    words = set(re.findall(r"[a-z]+", summary.lower()))
    if words & OFF_WORDS:
        return "off"
    if words & DUTY_WORDS:
        return "on_duty"
    return "on_call"


def names_responder(summary: str, responder_id: str, name: str) -> bool:
    words = set(re.findall(r"[\w\-]+", summary.lower()))
    return responder_id.lower() in words or name.lower() in words or (
        " " in name and name.lower() in summary.lower())


@dataclass(frozen=True)
class ResponderSchedule:
    tz: ZoneInfo
    on_duty: tuple[WeeklyWindow, ...] = ()
    on_call: tuple[WeeklyWindow, ...] = ()

    @property
    def has_windows(self) -> bool:
        return bool(self.on_duty or self.on_call)


@dataclass(frozen=True)
class Override:
    """A responder's own OFF or ON, until the next scheduled change."""
    status: Status
    until: datetime | None   # None: until they text again


@dataclass(frozen=True)
class Availability:
    status: Status
    reason: str


_RANK = {"off": 2, "on_duty": 1, "on_call": 0}


def scheduled_status(schedule: ResponderSchedule, now: datetime,
                     events: Sequence[CalendarEvent]) -> Availability:
    """From the calendar first (an event beats the weekly windows), then the
    windows; with neither configured, a responder is always on duty."""
    current = [e for e in events if e.covers(now, schedule.tz)]
    if current:
        strongest = max(current, key=lambda e: _RANK[event_status(e.summary)])
        status = event_status(strongest.summary)
        local_end = strongest.bounds(schedule.tz)[1].astimezone(schedule.tz)
        return Availability(status, f"calendar event {strongest.summary!r} until "
                                    f"{local_end:%a %H:%M}")
    local = now.astimezone(schedule.tz)
    for window in schedule.on_duty:
        if window.contains(local):
            return Availability("on_duty", f"on duty ({window.text})")
    for window in schedule.on_call:
        if window.contains(local):
            return Availability("on_call", f"on call ({window.text})")
    if schedule.has_windows:
        return Availability("off", f"no duty or on-call window at {local:%a %H:%M} "
                                   f"{schedule.tz.key}")
    return Availability("on_duty", "no schedule: always available")


def responder_availability(schedule: ResponderSchedule, now: datetime,
                           events: Sequence[CalendarEvent],
                           override: Override | None) -> Availability:
    if override is not None and (override.until is None or now < override.until):
        until = (f" until {override.until.astimezone(schedule.tz):%a %H:%M}"
                 if override.until else "")
        word = "OFF" if override.status == "off" else "ON"
        return Availability(override.status, f"texted {word}{until}")
    return scheduled_status(schedule, now, events)


def next_change(schedule: ResponderSchedule, now: datetime, events: Sequence[CalendarEvent],
                horizon: timedelta = timedelta(days=8)) -> datetime | None:
    """When the scheduled status next differs from now's; None within the horizon."""
    candidates: set[datetime] = set()
    local_today = now.astimezone(schedule.tz).date()
    for offset in range(-1, horizon.days + 1):
        day = local_today + timedelta(days=offset)
        for window in (*schedule.on_duty, *schedule.on_call):
            for when_day, when_time in window.boundaries(day):
                candidates.add(datetime.combine(when_day, when_time, schedule.tz))
    for event in events:
        candidates.update(event.bounds(schedule.tz))
    current = scheduled_status(schedule, now, events).status
    for moment in sorted(c for c in candidates if now < c <= now + horizon):
        if scheduled_status(schedule, moment, events).status != current:
            return moment
    return None


# -- choosing whom to try ----------------------------------------------------------

@dataclass(frozen=True)
class TierChoice:
    """The first tier at or after the one asked for with someone available."""
    index: int
    members: tuple[str, ...]
    skipped: tuple[tuple[str, int, str], ...] = field(default=())   # (responder, tier, why)
    exhausted: bool = False   # nobody available in any remaining tier


Wanted = Callable[[str], tuple[bool, str]]


def choose_tier(tiers: Sequence[Sequence[str]], start: int, wanted: Wanted) -> TierChoice:
    skipped: list[tuple[str, int, str]] = []
    for index in range(start, len(tiers)):
        members = []
        for rid in tiers[index]:
            ok, why = wanted(rid)
            if ok:
                members.append(rid)
            else:
                skipped.append((rid, index, why))
        if members:
            return TierChoice(index, tuple(members), tuple(skipped))
    return TierChoice(len(tiers) - 1, (), tuple(skipped), exhausted=True)


def wanted_for(line_is_open: bool, after_hours: AfterHours,
               availability: Callable[[str], Availability]) -> Wanted:
    """In hours anyone not off is tried; after hours only those on call."""
    def wanted(rid: str) -> tuple[bool, str]:
        status = availability(rid)
        if status.status == "off":
            return False, f"off: {status.reason}"
        if not line_is_open and status.status != "on_call":
            return False, f"not on call after hours: {status.reason}"
        return True, status.reason
    return wanted


def anyone_on_call(tiers: Sequence[Sequence[str]],
                   availability: Callable[[str], Availability]) -> bool:
    """Whether anyone in the tiers is on call now (after hours, the only
    ones tried unless nobody is)."""
    return any(availability(rid).status == "on_call" for tier in tiers for rid in tier)


def parse_holidays(values: Iterable[str]) -> frozenset[date]:
    days = set()
    for value in values:
        try:
            days.add(date.fromisoformat(value))
        except (TypeError, ValueError):
            raise ScheduleError(f"{value!r} is not a date like 2026-12-25") from None
    return frozenset(days)
