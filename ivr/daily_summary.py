"""A line's daily summary (`[lines.X.daily_summary]`): yesterday's figures,
in the line's zone, sent at a local time of day. Pure: when a summary is
due, which UTC span a local day is (23 or 25 hours on a DST change), the
median, and the summary as a value that can be texted or sent by hook.

Figures (ivr/store/summaries.py reads them for the local day):
texts     the customers' texts to the line (not responders' texts, not
          voicemails or missed-call notes kept as a conversation's text);
calls     calls to the line;
missed    calls nobody took where no message was left (MISSED_CALL);
voicemails  voicemails received (VOICEMAIL_RECEIVED);
unanswered  conversations that went past the last tier (UNANSWERED);
median_ack_seconds  over the conversations opened that day and ACKed
          (whenever): ACK time minus opening time; None if none was ACKed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta, timezone
from statistics import median
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from .clock import from_text


def local_moment(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`at` on `day` in `zone`, as UTC. A time the clocks skip (02:30 on the
    spring change) is read with the offset before the change, so it lands
    just after it (03:30); a time that happens twice is its first."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(timezone.utc)


def day_span(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local day from midnight to midnight, in UTC."""
    return local_moment(day, time(0), zone), local_moment(day + timedelta(days=1), time(0), zone)


def next_summary(now: datetime, at: time, zone: ZoneInfo) -> tuple[date, datetime]:
    """The next summary from `now`: the day it summarises and when it is due
    (today's if its time has not come yet, else tomorrow's)."""
    today = now.astimezone(zone).date()
    due = local_moment(today, at, zone)
    if due > now:
        return today - timedelta(days=1), due
    return today, local_moment(today + timedelta(days=1), at, zone)


def following_summary(day: date, now: datetime, at: time,
                      zone: ZoneInfo) -> tuple[date, datetime]:
    """The summary after the one of `day`: the next day's, unless a later
    day's time has come already (a service down for days then sends the
    latest day's at once, not one summary per day missed)."""
    chained = (day + timedelta(days=1), local_moment(day + timedelta(days=2), at, zone))
    today = now.astimezone(zone).date()
    due_today = local_moment(today, at, zone)
    latest = ((today - timedelta(days=1), due_today) if due_today <= now
              else (today - timedelta(days=2), local_moment(today - timedelta(days=1), at, zone)))
    return max(chained, latest)


def median_ack_seconds(acks: Sequence[tuple[str, str]]) -> int | None:
    """The median of ACK time minus opening time, whole seconds."""
    if not acks:
        return None
    waits = [(from_text(acked) - from_text(opened)).total_seconds() for opened, acked in acks]
    return round(median(waits))


def shown_day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


@dataclass(frozen=True)
class DailySummary:
    """One line's figures for one local day; `as_dict()` is what a hook
    event would carry."""
    line: str
    day: str                   # YYYY-MM-DD, the line's local date
    timezone: str
    texts: int
    calls: int
    missed: int
    voicemails: int
    unanswered: int
    median_ack_seconds: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def wording_variables(self) -> dict[str, Any]:
        """The variables of the `daily_summary` template."""
        return {"day": shown_day(date.fromisoformat(self.day)), "texts": self.texts,
                "calls": self.calls, "missed": self.missed, "voicemails": self.voicemails,
                "unanswered": self.unanswered, "median_ack_seconds": self.median_ack_seconds}
