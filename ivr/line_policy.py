"""A line's texting policy, validated at start beside ivr/config.py (which
calls `with_policies` once its lines are parsed): the flood limit
(`flood_texts` within `flood_seconds`), the blocklist (`[lines.X] blocked`
and `[service] blocked`), and the zone a person reads the line's times in.
Kept apart so config.py stays within its size."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from .phone import InvalidPhoneNumber, normalise

LINE_KEYS = frozenset({"flood_texts", "blocked"})
# More texts than this within flood_seconds is a flood, not a person typing
# quickly: a live chat of ten messages a minute is never held.
DEFAULT_FLOOD_TEXTS = 10
FLOOD_TEXTS_RANGE = (1, 1_000)


@dataclass(frozen=True)
class LinePolicy:
    flood_texts: int = DEFAULT_FLOOD_TEXTS
    blocked: frozenset[str] = frozenset()   # E.164, the line's own and the service's
    # Which key each came from, for the operator told where to remove one.
    service_blocked: frozenset[str] = frozenset()
    line_blocked: frozenset[str] = frozenset()
    zone: ZoneInfo = ZoneInfo("UTC")         # the line's hours' zone, else the service's


def with_policies(v: Any, data: Mapping[str, Any], lines: dict[str, Any],
                  service_zone: ZoneInfo) -> dict[str, Any]:
    """Each Line with its policy; `v` is config.py's validator (errors name
    the file, the key and the fix)."""
    service = data.get("service") or {}
    service_blocked = blocked_numbers(v, service, "service.blocked")
    result = {}
    for lid, line in lines.items():
        entry, key = data["lines"][lid], f"lines.{lid}"
        line_blocked = blocked_numbers(v, entry, f"{key}.blocked")
        policy = LinePolicy(
            flood_texts=flood_texts(v, entry, f"{key}.flood_texts"),
            blocked=service_blocked | line_blocked, service_blocked=service_blocked,
            line_blocked=line_blocked,
            zone=line.hours.tz if line.hours else service_zone)
        result[lid] = replace(line, policy=policy)
    return result


def flood_texts(v: Any, table: Mapping[str, Any], key: str) -> int:
    value = table.get("flood_texts", DEFAULT_FLOOD_TEXTS)
    low, high = FLOOD_TEXTS_RANGE
    if isinstance(value, bool) or not isinstance(value, int):
        raise v.fail(key, "must be a whole number of texts",
                     f"write flood_texts = {DEFAULT_FLOOD_TEXTS}")
    if not low <= value <= high:
        raise v.fail(key, f"{value} is out of range", f"use a number from {low} to {high}")
    return value


def blocked_numbers(v: Any, table: Mapping[str, Any], key: str) -> frozenset[str]:
    raw = table.get("blocked", [])
    if not isinstance(raw, list):
        raise v.fail(key, "must be a list of phone numbers",
                     'write blocked = ["+16195550199"]')
    numbers = set()
    for i, value in enumerate(raw):
        if not isinstance(value, str):
            raise v.fail(f"{key}[{i}]", "must be a phone number in quotes",
                         'write blocked = ["+16195550199"]')
        try:
            numbers.add(normalise(value))
        except InvalidPhoneNumber as exc:
            raise v.fail(f"{key}[{i}]", str(exc),
                         'write the number in E.164 form, e.g. "+16195550199"') from None
    return frozenset(numbers)
