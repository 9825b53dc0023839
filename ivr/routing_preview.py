"""Who a line's calls and texts reach at a moment, and which rule decided:
what `ivr check` prints for now, after hours and the next holiday. Pure:
the moment and the texted OFF/ON are given, and every choice is the
service's own (`Roster.plan_at`, the cascade's and the paging's rules), so
the preview cannot drift from what a call or a text really does."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Callable, Sequence

from .config import Config, Line
from .conversations.paging import tier_of_plan
from .conversations.tiers import next_tier
from .roster import Plan, Roster
from .schedule import Hours, line_open
from .shown_times import day_and_time

Overrides = dict[str, tuple[str, str | None]]
# The roster's plan at the previewed moment: (tiers, first tier to look at).
Planner = Callable[[Sequence[Sequence[str]], int], Plan]
Rung = tuple[tuple[str, ...], ...]   # the tiers a call rings, in order, by name

# A closing is looked for this far ahead: a year of holidays cannot hide
# every one, and a line whose hours never close is told apart.
CLOSING_HORIZON = timedelta(days=400)
HOLIDAY_TIME = time(12, 0)   # midday: well inside any holiday, whatever the zone


@dataclass(frozen=True)
class Moment:
    label: str                # "now", "after hours", "on the next holiday"
    at: datetime | None       # None: there is no such moment, `absent` says why
    absent: str = ""


@dataclass(frozen=True)
class Step:
    """One tier paged: by name, and whether it is paged only because
    nobody from there on is available (the last tier, anyway)."""
    names: tuple[str, ...]
    anyway: bool = False


@dataclass(frozen=True)
class Routing:
    """Who a call and a text reach at `at`, and why."""
    at: datetime
    open: bool
    calls: Rung                          # then voicemail
    calls_rule: str
    menu: tuple[tuple[str, Rung], ...]   # option, its tiers rung
    texts: tuple[Step, ...]              # paged first, then each escalation
    texts_rule: str
    skipped: tuple[str, ...]             # "Backup: off: …", each responder once
    warning: str | None                  # with the fix


def after_hours_moment(hours: Hours, now: datetime) -> datetime | None:
    """A minute after the next closing time when the line is then closed
    and not on a holiday: where its after-hours rule shows."""
    today = now.astimezone(hours.tz).date()
    closings = set()
    for offset in range(-1, CLOSING_HORIZON.days):
        day = today + timedelta(days=offset)
        for window in hours.open:
            for when_day, when_time in window.boundaries(day)[1:]:
                closings.add(datetime.combine(when_day, when_time, hours.tz)
                             + timedelta(minutes=1))
    for moment in sorted(c for c in closings if c > now):
        if moment.date() not in hours.holidays and not line_open(hours, moment)[0]:
            return moment
    return None


def holiday_moment(hours: Hours, now: datetime) -> datetime | None:
    """Midday of the next holiday still to come, in the line's zone."""
    for day in sorted(hours.holidays):
        moment = datetime.combine(day, HOLIDAY_TIME, hours.tz)
        if moment > now:
            return moment
    return None


def moments(line: Line, now: datetime) -> tuple[Moment, ...]:
    if line.hours is None:
        return (Moment("now", now), Moment("after hours", None, "the line is always open"),
                Moment("on the next holiday", None, "no holidays set"))
    after = after_hours_moment(line.hours, now)
    holiday = holiday_moment(line.hours, now)
    return (Moment("now", now),
            Moment("after hours", after, "its hours never close outside holidays"),
            Moment("on the next holiday", holiday,
                   "no holidays set" if not line.hours.holidays else "no holiday to come"))


def routing(config: Config, roster: Roster, line: Line, at: datetime,
            overrides: Overrides) -> Routing:
    """The cascade's and the paging's choices at `at`, made by their own rules."""
    is_open, why_open = line_open(line.hours, at)
    mode = line.hours.after_hours if line.hours else "on_call"
    skipped: dict[str, str] = {}

    def plan(tiers: Sequence[Sequence[str]], start: int) -> Plan:
        made = roster.plan_at(line, tiers, start, at, overrides)
        for rid, _, why in made.choice.skipped:
            skipped.setdefault(rid, why)
        return made

    first = plan(line.tiers, 0)
    if not is_open and mode == "voicemail":
        # ivr.voice.cascade: such a call is never dialed.
        calls: Rung = ()
        calls_rule = f"{why_open}: the line takes voicemail after hours"
        menu: tuple[tuple[str, Rung], ...] = ()
    else:
        calls = _rung(config, plan, line.tiers)
        calls_rule = _rule(first)
        if first.choice.exhausted:
            calls_rule += "; nobody is available: the caller is offered voicemail"
        # The menu is offered in hours only; no choice rings the line's tiers.
        menu = tuple((f"{o.digit} {o.name}", _rung(config, plan, o.tiers))
                     for o in line.menu.options) if line.menu and is_open else ()
    texts = _paged(config, line, plan, first)
    texts_rule = _rule(first)
    if first.choice.exhausted:
        texts_rule += (f"; nobody is available: the last tier ({_names(texts[0].names)}) is "
                       "paged anyway")
    result = Routing(at, is_open, calls, calls_rule, menu, texts, texts_rule,
                     tuple(f"{config.responders[rid].name}: {why}"
                           for rid, why in skipped.items()), None)
    return _with_warning(line, result, first, mode)


def _rung(config: Config, plan: Planner, tiers: Sequence[Sequence[str]]) -> Rung:
    """ivr.voice.cascade.dial_tier, then after_dial: each tier with someone
    available from the one after the last rung, until none is left."""
    rung: list[tuple[str, ...]] = []
    start = 0
    while start < len(tiers):
        choice = plan(tiers, start).choice
        if choice.exhausted:
            break
        rung.append(tuple(config.responders[rid].name for rid in choice.members))
        start = choice.index + 1
    return tuple(rung)


def _paged(config: Config, line: Line, plan: Planner, first: Plan) -> tuple[Step, ...]:
    """ivr.conversations.paging and escalation: the first tier paged, then
    each tier after a missed ACK, the last one anyway when nobody is left."""
    tier, who = tier_of_plan(config, line, first)
    steps = [Step(tuple(r.name for r in who), first.choice.exhausted)]
    while (following := next_tier(line, tier)) is not None:
        made = plan(line.tiers, following)
        tier, who = tier_of_plan(config, line, made)
        steps.append(Step(tuple(r.name for r in who), made.choice.exhausted))
    return tuple(steps)


def _rule(plan: Plan) -> str:
    """The reason the service's decision rows give (ivr.roster, cascade, paging)."""
    if plan.fallback:
        return plan.fallback
    if plan.open:
        return f"{plan.open_reason}: anyone not off is tried"
    return f"{plan.open_reason}: only on-call responders are tried"


def _with_warning(line: Line, result: Routing, first: Plan, mode: str) -> Routing:
    """Nobody on call after hours, or nobody at all, said plainly with the fix."""
    calls = (f"calls ring {_then(result.calls)}" if result.calls else "calls go to voicemail")
    last = _names(result.texts[-1].names)
    if first.fallback:
        problem = "nobody on the line has on_call windows or is on call"
        if first.choice.exhausted:
            outcome = (f", and nobody is available as in hours either: {calls} and texts page "
                       f"the last tier ({last}) anyway")
        else:
            outcome = (f", so its tiers are tried as in hours (anyone not off): {calls} and "
                       f"texts page {_names(result.texts[0].names)} first")
        fix = "add on_call windows (or on-call calendar events) to a responder of the line"
        if mode == "on_call":
            fix += f', or set after_hours = "voicemail" in [lines.{line.id}.hours]'
    elif first.choice.exhausted:
        problem = "nobody on the line is available" if result.open else "nobody is on call"
        outcome = f": {calls} and texts page the last tier ({last}) anyway"
        fix = ("give a responder on_duty windows covering the line's hours, or check who is "
               "off (calendar events, a texted OFF)" if result.open else
               "give a responder on_call windows (or an on-call calendar event) covering "
               "this time")
    else:
        return result
    return replace(result, warning=f"{problem}{outcome}. Fix: {fix}")


def _names(names: Sequence[str]) -> str:
    """A tier rung or paged at once: 'Sergio + Ana'."""
    return " + ".join(names)


def _then(tiers: Sequence[Sequence[str]]) -> str:
    return ", then ".join(_names(t) for t in tiers)


# -- what `ivr check` prints ----------------------------------------------------------

def describe(line: Line, moment: Moment, result: Routing | None) -> list[str]:
    """A moment's lines of the report; a WARNING line stands alone, unindented."""
    if moment.at is None or result is None:
        return [f"    {moment.label}: {moment.absent}"]
    when = day_and_time(moment.at, line.policy.zone)
    lines = [f"    {moment.label} ({when}): {'open' if result.open else 'closed'}"]
    calls = (f"{_then(result.calls)}, then voicemail" if result.calls else "voicemail")
    lines.append(f"      calls: {calls}")
    for option, rung in result.menu:
        shown = f"{_then(rung)}, then voicemail" if rung else "voicemail"
        lines.append(f"        menu option {option}: {shown}")
    lines.append(f"      texts: {_paging(result.texts)}")
    if line.policy.page_call_after is not None:
        delays = " and ".join(f"{d} s" for d in line.policy.page_call_delays())
        lines.append(f"      phone pages: whoever is paged and has not ACKed is phoned "
                     f"{delays} after the text")
    lines.append(f"      why: calls: {result.calls_rule}")
    if result.texts_rule != result.calls_rule:
        lines.append(f"           texts: {result.texts_rule}")
    if result.skipped:
        lines.append(f"           skipped: {'; '.join(result.skipped)}")
    if result.warning:
        lines.append(f"WARNING: line {line.id} {moment.label} ({when}): {result.warning}")
    return lines


def _paging(steps: Sequence[Step]) -> str:
    shown = [_names(s.names) + (" (nobody available: the last tier anyway)" if s.anyway
                                else "") for s in steps]
    return (f"{shown[0]} first" + "".join(f"; if nobody ACKs, {s}" for s in shown[1:])
            + "; then everyone on the line once more")


def preview(config: Config, roster: Roster, now: datetime,
            overrides: Overrides) -> dict[str, list[tuple[Moment, Routing | None]]]:
    """Per line: its three moments, each with who is reached then."""
    return {line.id: [(m, routing(config, roster, line, m.at, overrides) if m.at else None)
                      for m in moments(line, now)]
            for line in config.lines.values()}
