"""Phone numbers: normalise to E.164 once at the edge, mask whenever one is shown."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

# Twilio always sends E.164, but people write config by hand; US numbers
# without a country code are the common case for the businesses we serve.
DEFAULT_REGION = "US"


class InvalidPhoneNumber(ValueError):
    pass


# phonenumbers takes ~30 µs to check a number and every webhook checks the same few
# numbers (the line's, its responders', a caller's again and again).
@lru_cache(maxsize=4096)
def normalise(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return `raw` as E.164 (+16195550100) or raise InvalidPhoneNumber."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_normalise(raw: str | None) -> str | None:
    """E.164 for a number Twilio sent, or None when it is not a phone number
    (short codes, 'client:alice', 'Anonymous', garbage from a forged request)."""
    if not raw:
        return None
    try:
        return normalise(raw)
    except InvalidPhoneNumber:
        return None


# How a caller with no number arrives: a withheld number as a word, or as
# Twilio's digits for "ANONYMOUS" on a keypad.
_WITHHELD = frozenset({"anonymous", "restricted", "unknown", "blocked", "private",
                       "unavailable", "withheld", "+266696687", "266696687"})


def no_number_kind(raw: str | None) -> str:
    """What a From that is no phone number is, in one word safe to log
    (never the identity itself): missing, withheld, client (a Twilio
    Client app), sip (a SIP trunk) or other."""
    value = (raw or "").strip().lower()
    if not value:
        return "missing"
    if value.startswith("client:"):
        return "client"
    if value.startswith("sip:"):
        return "sip"
    return "withheld" if value in _WITHHELD else "other"


def mask(number: str | None) -> str:
    """+16195550100 -> +1619***0100: enough to tell numbers apart in a log,
    not enough to call anyone."""
    if not number:
        return "-"
    digits = number[1:] if number.startswith("+") else number
    if not digits.isdigit() or len(digits) < 8:
        return "***"
    return f"+{digits[:4]}***{digits[-4:]}"


@lru_cache(maxsize=4096)
def display(number: str) -> str:
    """Human formatting for text that a responder reads: +1 619-555-0100."""
    try:
        parsed = phonenumbers.parse(number, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


# Only "+"-prefixed numbers: everything Twilio sends and we store is E.164,
# and a looser pattern would mangle dates and SIDs in log lines.
_NUMBER_IN_TEXT = re.compile(r"\+\d[\d\- ]{6,}\d")


def redact_numbers(text: str) -> str:
    """Mask anything in free text that looks like a phone number."""

    def _mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return mask("+" + digits) if len(digits) >= 8 else match.group(0)

    return _NUMBER_IN_TEXT.sub(_mask, text)
