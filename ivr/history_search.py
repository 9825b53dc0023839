"""What an operator typed into the history page's search, checked and made
a store filter: a line, a number (whole, or its last four
digits), a code, a responder, a date range (days in the line's zone), a
status. Anything wrong is refused with what to type instead. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Mapping

from .clock import from_text, to_text
from .config import Config
from .phone import InvalidPhoneNumber, normalise
from .shown_times import line_zone
from .store.history import TAIL_DIGITS, HistoryFilter

WHAT = ("conversations", "calls")
STATUSES = ("", "open", "closed")
_SEPARATORS = re.compile(r"[\s().\-]")
CURSOR_SEPARATOR = "~"


class SearchRefused(ValueError):
    """What the operator typed cannot be searched for; says what to type."""


@dataclass(frozen=True)
class Search:
    what: str                          # conversations or calls
    found: HistoryFilter
    typed: dict[str, str]              # the form as typed, to fill it again
    before: tuple[str, str] | None     # the cursor: time and id of the last row shown


def typed_search(config: Config, form: Mapping[str, str]) -> Search:
    typed = {key: (form.get(key) or "").strip() for key in (
        "what", "line", "number", "code", "responder", "from", "to", "status")}
    what = typed["what"] or WHAT[0]
    if what not in WHAT:
        raise SearchRefused(f"{what!r} is neither conversations nor calls")
    line_id = typed["line"] or None
    if line_id is not None and line_id not in config.lines:
        raise SearchRefused(f"there is no line {line_id!r}; pick one of "
                            f"{', '.join(config.lines)} (or every line)")
    responder_id = typed["responder"] or None
    if responder_id is not None and responder_id not in config.responders:
        raise SearchRefused(f"there is no responder {responder_id!r}; pick one of "
                            f"{', '.join(config.responders)} (or anyone)")
    if typed["status"] not in STATUSES:
        raise SearchRefused(f"status {typed['status']!r} is neither open nor closed")
    zone = line_zone(config, line_id)
    since = _day(typed["from"], "from")
    until = _day(typed["to"], "to")
    if since and until and until < since:
        raise SearchRefused("the 'to' date is before the 'from' date; swap them")
    found = HistoryFilter(
        line_id=line_id, number=typed_number(typed["number"]), code=_code(typed["code"]),
        responder_id=responder_id,
        since=to_text(datetime.combine(since, time(), zone)) if since else None,
        until=to_text(datetime.combine(until + timedelta(days=1), time(), zone))
        if until else None,
        status=(typed["status"] or None) if what == "conversations" else None)
    return Search(what, found, typed, _cursor(form.get("before") or ""))


def typed_number(typed: str) -> str | None:
    """E.164 for a whole number, the digits for the end of one, None for nothing."""
    if not typed:
        return None
    bare = _SEPARATORS.sub("", typed)
    digits = bare.removeprefix("+")
    if not digits.isdigit():
        raise SearchRefused(f"{typed!r} is not a phone number or its last digits; type "
                            "digits only, like 0142 or +16195550142")
    if bare.startswith("+") or len(digits) >= 10:
        try:
            return normalise(bare)
        except InvalidPhoneNumber:
            if bare.startswith("+"):
                raise SearchRefused(f"{typed!r} is not a valid phone number; type the whole "
                                    "number, like +16195550142, or its last digits") from None
    if len(digits) != TAIL_DIGITS:
        # The page shows a number's first digits and its last four; a search by
        # five, six or seven last digits would show, a guess at a time, the
        # ones masked, which only a logged reveal may show.
        raise SearchRefused(f"{typed!r} is neither the last {TAIL_DIGITS} digits nor a whole "
                            "number; type the last 4 digits, like 0142, or the whole number, "
                            "like +16195550142")
    return digits


def _code(typed: str) -> int | None:
    if not typed:
        return None
    bare = typed.removeprefix("#").strip()
    if not bare.isdigit() or len(bare) > 9:
        raise SearchRefused(f"code {typed!r} is not a number; type it as 12 or #12")
    return int(bare)


def _day(typed: str, name: str) -> date | None:
    if not typed:
        return None
    try:
        return date.fromisoformat(typed)
    except ValueError:
        raise SearchRefused(f"the {name!r} date {typed!r} is not a date; type it as "
                            "2026-11-22") from None


def _cursor(typed: str) -> tuple[str, str] | None:
    """The next page's start, as cursor() made it; a mangled one starts over."""
    at, sep, key = typed.partition(CURSOR_SEPARATOR)
    if not sep or not key:
        return None
    try:
        from_text(at)
    except ValueError:
        return None
    return at, key


def cursor(at: str, key: str | int) -> str:
    return f"{at}{CURSOR_SEPARATOR}{key}"
