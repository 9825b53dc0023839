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

LINE_KEYS = frozenset({"flood_texts", "blocked", "page_call_after_seconds", "page_calls",
                       "page_call_repeat_seconds"})
# More texts than this within flood_seconds is a flood, not a person typing
# quickly: a live chat of ten messages a minute is never held.
DEFAULT_FLOOD_TEXTS = 10
FLOOD_TEXTS_RANGE = (1, 1_000)
# Phone pages: a responder paged by text who has not ACKed is phoned this
# long after the text, and again `page_calls - 1` times. Under 10 s a
# text has not reached a phone; a call every 30 s at most, or the phone
# never stops ringing.
PAGE_CALL_AFTER_RANGE = (10, 86_400)
PAGE_CALLS_RANGE = (1, 5)
PAGE_CALL_REPEAT_RANGE = (30, 3_600)
DEFAULT_PAGE_CALL_REPEAT = 60


@dataclass(frozen=True)
class LinePolicy:
    flood_texts: int = DEFAULT_FLOOD_TEXTS
    blocked: frozenset[str] = frozenset()   # E.164, the line's own and the service's
    # Which key each came from, for the operator told where to remove one.
    service_blocked: frozenset[str] = frozenset()
    line_blocked: frozenset[str] = frozenset()
    zone: ZoneInfo = ZoneInfo("UTC")         # the line's hours' zone, else the service's
    # Phone pages (ivr/conversations/phone_pages.py): off while None.
    page_call_after: int | None = None
    page_calls: int = 1
    page_call_repeat: int = DEFAULT_PAGE_CALL_REPEAT

    def page_call_delays(self) -> tuple[int, ...]:
        """Seconds after a tier's text at which each of its phone pages is due."""
        if self.page_call_after is None:
            return ()
        return tuple(self.page_call_after + n * self.page_call_repeat
                     for n in range(self.page_calls))


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
            zone=line.hours.tz if line.hours else service_zone,
            **phone_pages(v, entry, key, line.ack_seconds))
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


def phone_pages(v: Any, entry: Mapping[str, Any], key: str, ack_seconds: int) -> dict[str, Any]:
    if "page_call_after_seconds" not in entry:
        for name in ("page_calls", "page_call_repeat_seconds"):
            if name in entry:
                raise v.fail(f"{key}.{name}", "has no effect without page_call_after_seconds",
                             f"set page_call_after_seconds (e.g. 60) in [{key}], or remove "
                             f"{name}")
        return {}
    after = v.integer(entry, f"{key}.page_call_after_seconds", "page_call_after_seconds", 60,
                      PAGE_CALL_AFTER_RANGE)
    calls = v.integer(entry, f"{key}.page_calls", "page_calls", 1, PAGE_CALLS_RANGE)
    repeat = v.integer(entry, f"{key}.page_call_repeat_seconds", "page_call_repeat_seconds",
                       DEFAULT_PAGE_CALL_REPEAT, PAGE_CALL_REPEAT_RANGE)
    last = after + (calls - 1) * repeat
    if last >= ack_seconds:
        # The next tier would be paged before the call: the call would ring
        # for a conversation that has already moved on.
        raise v.fail(f"{key}.page_call_after_seconds",
                     f"the last phone page would come {last} s after the text, but the next "
                     f"tier is paged after ack_seconds = {ack_seconds} s",
                     f"make page_call_after_seconds + (page_calls - 1) x "
                     f"page_call_repeat_seconds less than ack_seconds, e.g. "
                     f"page_call_after_seconds = {max(PAGE_CALL_AFTER_RANGE[0], ack_seconds // 2)}"
                     f" with page_calls = 1")
    return {"page_call_after": after, "page_calls": calls, "page_call_repeat": repeat}
