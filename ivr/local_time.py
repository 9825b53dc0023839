"""Times as a person reads them: in the line's zone, with its abbreviation
("18:04 PST"), never the store's UTC. Pure."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def clock_time(moment: datetime, zone: ZoneInfo, seconds: bool = False) -> str:
    local = moment.astimezone(zone)
    shown = f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"
    return f"{shown} {local.tzname()}"
