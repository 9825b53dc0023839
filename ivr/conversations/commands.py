"""What a text means: a responder's command (ACK, CLOSE, OFF/ON, or a
reply for the customer) and a customer's keyword (STOP, START, HELP).
Pure functions, no I/O, tested with tables and hypothesis."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Twilio's default opt-out handling acts on these words when they are the
# whole message (case-insensitive); we honour the same set.
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                           "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})


@dataclass(frozen=True)
class Ack:
    code: int | None


@dataclass(frozen=True)
class Close:
    code: int | None


@dataclass(frozen=True)
class Reply:
    """Anything else: text for the customer. `code` is set when the text
    starts with a number, which addresses that conversation only if the
    responder owns one with that code ("10 minutes away" is not #10)."""
    text: str
    code: int | None = None
    rest: str = ""


@dataclass(frozen=True)
class Presence:
    """OFF or ON: the responder's own availability."""
    on: bool


ResponderCommand = Ack | Close | Presence | Reply


_COMMAND = re.compile(r"(ACK|CLOSE)#?(\d{1,6})?", re.IGNORECASE)
_CODE_PREFIX = re.compile(r"\s*#?(\d{1,6})[\s:.,-]+(\S.*)", re.DOTALL)


def parse_responder_text(body: str) -> ResponderCommand:
    squeezed = re.sub(r"\s+", "", body)
    if squeezed.upper() in ("ON", "OFF"):
        return Presence(squeezed.upper() == "ON")
    command = _COMMAND.fullmatch(squeezed)
    if command:
        code = int(command.group(2)) if command.group(2) else None
        return Ack(code) if command.group(1).upper() == "ACK" else Close(code)
    prefix = _CODE_PREFIX.fullmatch(body)
    if prefix:
        return Reply(text=body, code=int(prefix.group(1)), rest=prefix.group(2))
    return Reply(text=body)


def customer_keyword(body: str) -> str | None:
    """'opt_out', 'opt_in' or 'help' when the whole text is such a keyword."""
    word = body.strip().strip(".!").upper()
    if word in OPT_OUT_WORDS:
        return "opt_out"
    if word in OPT_IN_WORDS:
        return "opt_in"
    if word in HELP_WORDS:
        return "help"
    return None
