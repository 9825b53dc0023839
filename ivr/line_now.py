"""Who is on at each tier of a line now, and when that next changes: the
dashboard's "now" panel. Every answer is the router's own
(`Roster.plan_at`, as `ivr check`'s preview uses it), so the panel cannot
disagree with where a text or a call goes. Pure but for the roster's
calendars, which it reads as routing does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .clock import from_text
from .config import Config, Line
from .roster import Roster
from .schedule import line_open

Overrides = dict[str, tuple[str, str | None]]
HORIZON = timedelta(days=8)   # as far as a responder's next change is looked for


@dataclass(frozen=True)
class TierNow:
    number: int                   # 1-based, as the page shows it
    on: tuple[str, ...]           # names of those a page or a call reaches at this tier
    skipped: tuple[str, ...]      # "Ana: off (texted OFF until Tue 08:00)"


@dataclass(frozen=True)
class LineNow:
    line: Line
    open: bool
    why: str
    tiers: tuple[TierNow, ...]
    next_change: datetime | None       # None: nothing changes within the horizon
    next_tiers: tuple[TierNow, ...]    # who is on from then


def tiers_at(config: Config, roster: Roster, line: Line, at: datetime,
             overrides: Overrides) -> tuple[TierNow, ...]:
    shown = []
    for index in range(len(line.tiers)):
        choice = roster.plan_at(line, line.tiers, index, at, overrides).choice
        here = choice.members if choice.index == index and not choice.exhausted else ()
        skipped = tuple(f"{config.responders[rid].name}: {why}"
                        for rid, tier, why in choice.skipped if tier == index)
        shown.append(TierNow(index + 1, tuple(config.responders[r].name for r in here),
                             skipped))
    return tuple(shown)


def _candidates(config: Config, roster: Roster, line: Line, now: datetime,
                overrides: Overrides) -> list[datetime]:
    """Moments something may change: a responder's schedule or calendar, the
    end of a texted OFF/ON, the line's hours opening or closing."""
    moments: set[datetime] = set()
    for rid in {rid for tier in line.tiers for rid in tier}:
        change = roster.next_scheduled_change(config.responders[rid], now)
        if change is not None:
            moments.add(change)
        if rid in overrides and overrides[rid][1]:
            moments.add(from_text(overrides[rid][1] or ""))
    if line.hours is not None:
        today = now.astimezone(line.hours.tz).date()
        for offset in range(-1, HORIZON.days + 1):
            day: date = today + timedelta(days=offset)
            for window in line.hours.open:
                for when_day, when_time in window.boundaries(day):
                    moments.add(datetime.combine(when_day, when_time, line.hours.tz))
            moments.add(datetime.combine(day, datetime.min.time(), line.hours.tz))  # holidays
    return sorted(m for m in moments if now < m <= now + HORIZON)


def line_now(config: Config, roster: Roster, line: Line, now: datetime,
             overrides: Overrides) -> LineNow:
    is_open, why = line_open(line.hours, now)
    tiers = tiers_at(config, roster, line, now, overrides)
    for moment in _candidates(config, roster, line, now, overrides):
        # A texted OFF/ON past its `until` no longer counts (the roster's rule).
        then = tiers_at(config, roster, line, moment, overrides)
        if [t.on for t in then] != [t.on for t in tiers] or line_open(line.hours, moment)[0] \
                != is_open:
            return LineNow(line, is_open, why, tiers, moment, then)
    return LineNow(line, is_open, why, tiers, None, ())
