"""The times the dashboard, `ivr log`, `ivr conversations` and `ivr check`
show: in the zone of the line they concern (its `[lines.X.hours]
timezone`, else `[service] timezone`; held as `line.policy.zone`), with
the zone's abbreviation ("18:04 PST"), never unlabelled UTC. Pure."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from .clock import from_text
from .config import Config
from .local_time import clock_time

UTC = ZoneInfo("UTC")


def line_zone(config: Config, line_id: str | None = None) -> ZoneInfo:
    """The zone of `line_id`. A time that concerns no line (a number's mark,
    a webhook to an unknown line) is read in the first line's zone: the
    config keeps `[service] timezone` only as the zone of each line without
    hours of its own, which is the usual case."""
    line = config.lines.get(line_id or "") or next(iter(config.lines.values()), None)
    return line.policy.zone if line is not None else UTC


def _moment(when: datetime | str) -> datetime:
    return from_text(when) if isinstance(when, str) else when


def time_of_day(when: datetime | str, zone: ZoneInfo) -> str:
    """'18:04:09 PST': a decision trail's times, all of one day or so."""
    return clock_time(_moment(when), zone, seconds=True)


def day_and_time(when: datetime | str, zone: ZoneInfo) -> str:
    """'Sun 22 Nov 18:04 PST': since when something has been so."""
    moment = _moment(when)
    return f"{moment.astimezone(zone):%a %d %b} {clock_time(moment, zone)}"


def date_and_time(when: datetime | str, zone: ZoneInfo) -> str:
    """'2026-11-22 18:04:09 PST': a log line's time, to the second."""
    moment = _moment(when)
    return f"{moment.astimezone(zone):%Y-%m-%d} {clock_time(moment, zone, seconds=True)}"
