"""What a line tells the business's other systems, validated at start beside
ivr/config.py (which calls `with_integrations` once its lines are parsed):
its bookings calendar (`bookings`), keyword auto-replies
(`[lines.X.auto_reply.NAME]`) and its daily summary
(`[lines.X.daily_summary]`). Kept apart so config.py stays within its size."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import time
from typing import Any, Callable, Mapping

from .phone import InvalidPhoneNumber, normalise

INTEGRATION_KEYS = frozenset({"bookings", "auto_reply", "daily_summary"})
# Twilio waits 15 s for a webhook's answer; the endpoint's time limit plus
# the store's work must stay well inside it.
AUTO_REPLY_TIMEOUT_RANGE = (0.5, 10.0)
DEFAULT_AUTO_REPLY_TIMEOUT = 3.0
MIN_SECRET_CHARS = 16
# Words Twilio or the line already answer: an auto-reply must not take them.
RESERVED_KEYWORDS = frozenset({
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE",
    "START", "YES", "UNSTOP", "OPTIN", "HELP", "INFO"})
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,29}")
_AT = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class AutoReply:
    """Texts starting with `keyword` are answered by the endpoint at `url`."""
    name: str
    keyword: str
    url: str
    secret: str
    timeout_seconds: float = DEFAULT_AUTO_REPLY_TIMEOUT


@dataclass(frozen=True)
class SummarySchedule:
    """When a line's daily summary is texted (the line's zone) and to whom:
    responder ids and E.164 numbers, as written."""
    at: time
    to: tuple[str, ...]


@dataclass(frozen=True)
class LineIntegrations:
    bookings: str | None = None            # an iCalendar file or URL
    auto_replies: tuple[AutoReply, ...] = ()
    daily_summary: SummarySchedule | None = None


def with_integrations(v: Any, data: Mapping[str, Any], lines: dict[str, Any],
                      responders: Mapping[str, Any],
                      locate: Callable[[str], str]) -> dict[str, Any]:
    """Each Line with its integrations; `v` is config.py's validator (errors
    name the file, the key and the fix); `locate` finds a calendar file
    beside the config."""
    result = {}
    line_numbers = frozenset(line.number for line in lines.values())
    for lid, line in lines.items():
        entry, key = data["lines"][lid], f"lines.{lid}"
        integrations = LineIntegrations(
            bookings=bookings(v, entry, f"{key}.bookings", locate),
            auto_replies=auto_replies(v, entry, f"{key}.auto_reply"),
            daily_summary=daily_summary(v, entry, f"{key}.daily_summary", responders,
                                        line_numbers))
        result[lid] = replace(line, integrations=integrations)
    return result


def bookings(v: Any, entry: Mapping[str, Any], key: str,
             locate: Callable[[str], str]) -> str | None:
    if "bookings" not in entry:
        return None
    value = entry["bookings"]
    if not isinstance(value, str) or not value.strip():
        raise v.fail(key, "must be an iCalendar file or URL",
                     'write bookings = "bookings.ics" or bookings = "https://..."')
    return locate(value.strip())


def auto_replies(v: Any, entry: Mapping[str, Any], key: str) -> tuple[AutoReply, ...]:
    table = v.table(entry, "auto_reply", required=False, key=key)
    replies: list[AutoReply] = []
    for name in table:
        where = f"{key}.{name}"
        v.identifier(name, where)
        raw = v.table(table, name, required=True, key=where)
        v.only_keys(raw, where, {"keyword", "url", "secret", "timeout_seconds"})
        keyword = v.string(raw, f"{where}.keyword", "keyword")
        if not _KEYWORD.fullmatch(keyword) or keyword.upper() in RESERVED_KEYWORDS:
            raise v.fail(f"{where}.keyword", f"{keyword!r} cannot be a keyword",
                         'use one word of letters and digits that is not STOP, START, HELP '
                         'or their synonyms, e.g. keyword = "LINK"')
        taken = next((r for r in replies if r.keyword.upper() == keyword.upper()), None)
        if taken is not None:
            raise v.fail(f"{where}.keyword", f"the same keyword as {key}.{taken.name}",
                         "give each auto-reply its own keyword")
        url = v.string(raw, f"{where}.url", "url")
        if not url.startswith(("https://", "http://")):
            raise v.fail(f"{where}.url", "must be an http:// or https:// URL",
                         'write url = "https://crew.example.com/ivr/link"')
        secret = v.string(raw, f"{where}.secret", "secret")
        if len(secret) < MIN_SECRET_CHARS:
            raise v.fail(f"{where}.secret", f"shorter than {MIN_SECRET_CHARS} characters",
                         "use a long random secret, e.g. the output of "
                         "`python3 -c 'import secrets; print(secrets.token_hex(32))'`")
        replies.append(AutoReply(name, keyword, url, secret,
                                 _timeout(v, raw, f"{where}.timeout_seconds")))
    return tuple(replies)


def _timeout(v: Any, raw: Mapping[str, Any], key: str) -> float:
    value = raw.get("timeout_seconds", DEFAULT_AUTO_REPLY_TIMEOUT)
    low, high = AUTO_REPLY_TIMEOUT_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise v.fail(key, f"{value!r} is not a number of seconds from {low:g} to {high:g}",
                     f"write timeout_seconds = {DEFAULT_AUTO_REPLY_TIMEOUT:g} (Twilio waits "
                     "15 s for the whole answer)")
    return float(value)


def daily_summary(v: Any, entry: Mapping[str, Any], key: str, responders: Mapping[str, Any],
                  line_numbers: frozenset[str] = frozenset()) -> SummarySchedule | None:
    raw = v.table(entry, "daily_summary", required=False, key=key)
    if not raw:
        return None
    v.only_keys(raw, key, {"at", "to"})
    at = v.string(raw, f"{key}.at", "at")
    matched = _AT.fullmatch(at)
    if not matched:
        raise v.fail(f"{key}.at", f"{at!r} is not a time of day",
                     'write at = "08:00" (24-hour, the line\'s time zone)')
    # to = [] leaves the summary to the event hooks that take daily_summary
    to = raw.get("to")
    if not isinstance(to, list):
        raise v.fail(f"{key}.to", "must be a list of responder ids or numbers",
                     'write to = ["sergio", "+16195550123"] (or [] for the event hooks only)')
    recipients: list[str] = []
    for i, who in enumerate(to):
        if isinstance(who, str) and who in responders:
            recipients.append(who)
            continue
        try:
            recipients.append(normalise(who) if isinstance(who, str) else "")
        except InvalidPhoneNumber:
            recipients.append("")
        if not recipients[-1]:
            raise v.fail(f"{key}.to[{i}]", f"{who!r} is neither a responder id nor a number",
                         f"use one of {', '.join(sorted(responders))} or an E.164 number")
        if recipients[-1] in line_numbers:
            # A text from a line to a line's number is refused by Twilio (21266 when the same).
            raise v.fail(f"{key}.to[{i}]", "is a line's own Twilio number",
                         "name the person's own phone number or their responder id")
    return SummarySchedule(time(int(matched[1]), int(matched[2])),
                           tuple(dict.fromkeys(recipients)))
