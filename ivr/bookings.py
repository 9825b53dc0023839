"""Which booking a new conversation concerns: pure choice, no I/O.

A line's bookings calendar (ivr/booking_calendars.py reads it) holds the
business's bookings; an event may carry the customer's number, as a tel:
attendee or written in its description. When a conversation opens it is
tagged with a booking whose time window covers now:

1. a covering booking that carries the customer's number wins;
2. else a covering booking that carries no number at all (it could be
   anyone's); a booking that carries only other people's numbers is
   someone else's and is never chosen;
3. among several of the same rank, the one that started latest (the
   newest job under way), then the smallest UID, so the choice is stable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

import phonenumbers

from .clock import to_text
from .phone import DEFAULT_REGION, InvalidPhoneNumber, mask, normalise


@dataclass(frozen=True)
class Booking:
    """One instance of a bookings-calendar event. A naive start or end is a
    floating time: the line's own clock."""
    uid: str
    summary: str
    start: datetime
    end: datetime
    numbers: frozenset[str] = frozenset()   # E.164

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        return (self.start if self.start.tzinfo else self.start.replace(tzinfo=zone),
                self.end if self.end.tzinfo else self.end.replace(tzinfo=zone))

    def covers(self, now: datetime, zone: ZoneInfo) -> bool:
        start, end = self.bounds(zone)
        return start <= now < end


@dataclass(frozen=True)
class BookingChoice:
    booking: Booking
    start: str          # UTC text, as the store keeps times
    why: str            # for the decision row


_TEL = re.compile(r"tel:\s*([+\d][\d\-. ()]{5,}\d)", re.IGNORECASE)


def numbers_in(description: str, attendees: Iterable[str],
               region: str = DEFAULT_REGION) -> frozenset[str]:
    """The phone numbers an event carries: tel: URIs among its attendees
    and in its description, and numbers written in its description."""
    found: set[str] = set()
    for attendee in attendees:
        found.update(_tel_numbers(attendee, region))
    found.update(_tel_numbers(description, region))
    for match in phonenumbers.PhoneNumberMatcher(description, region):
        if phonenumbers.is_valid_number(match.number):
            found.add(phonenumbers.format_number(match.number,
                                                 phonenumbers.PhoneNumberFormat.E164))
    return frozenset(found)


def _tel_numbers(text: str, region: str) -> set[str]:
    numbers = set()
    for raw in _TEL.findall(text):
        try:
            numbers.add(normalise(raw.strip(), region))
        except InvalidPhoneNumber:
            continue
    return numbers


def choose_booking(bookings: Sequence[Booking], customer: str, now: datetime,
                   zone: ZoneInfo) -> BookingChoice | None:
    """The booking a conversation with `customer` opened at `now` concerns
    (rules in the module's docstring), or None."""
    covering = [b for b in bookings if b.covers(now, zone)]
    theirs = [b for b in covering if customer in b.numbers]
    anyones = [b for b in covering if not b.numbers]
    pool = theirs or anyones
    if not pool:
        return None
    chosen = max(pool, key=lambda b: (b.bounds(zone)[0], _reverse(b.uid)))
    start = to_text(chosen.bounds(zone)[0])
    if theirs:
        why = f"booking {chosen.summary!r} is under way and names {mask(customer)}"
    else:
        why = f"booking {chosen.summary!r} is under way and names no number"
    if len(pool) > 1:
        why += f"; the latest started of {len(pool)} such bookings"
    others = len(covering) - len(pool)
    if others and not theirs:
        why += f"; {others} booking(s) under way name other numbers"
    return BookingChoice(chosen, start, why)


def _reverse(uid: str) -> tuple[int, ...]:
    # max() picks the largest key: negated code points make the smallest UID win a tie.
    return tuple(-ord(c) for c in uid)


def booking_tag(conversation: Any) -> dict[str, str] | None:
    """The booking a conversation (a store row, or a mapping of its columns)
    was tagged with when it opened: {uid, summary, start}, start in UTC
    ISO-8601; None when it was not tagged. What hook events carry."""
    get = (conversation.get if isinstance(conversation, Mapping)
           else lambda name: getattr(conversation, name, None))
    uid = get("booking_uid")
    if not uid:
        return None
    return {"uid": uid, "summary": get("booking_summary") or "",
            "start": get("booking_start") or ""}
