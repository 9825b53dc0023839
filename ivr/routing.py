"""Who gets paged, what they read and what a reply means: pure functions,
no I/O, so they are tested with tables and hypothesis."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from .config import MESSAGE_VARIABLES, Config, Line, Responder, render_message

# Twilio's longest message body; a longer one is refused with error 21617.
SMS_MAX_CHARS = 1600
# Twilio sends at most ten media items in one message.
MMS_MAX_MEDIA = 10

# Twilio's default opt-out handling acts on these words when they are the
# whole message (case-insensitive); we honour the same set.
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                           "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})


@dataclass(frozen=True)
class Page:
    """One text to one responder."""
    responder: Responder
    tier: int
    body: str
    media_urls: tuple[str, ...] = ()


# -- what a responder's text means -------------------------------------------

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


# -- who is paged -------------------------------------------------------------

def tier_responders(config: Config, line: Line, tier: int) -> list[Responder]:
    """The responders of `tier`, clamped to the last tier: the last tier is
    always tried, so a conversation past the end still reaches someone."""
    index = min(max(tier, 0), len(line.tiers) - 1)
    return [config.responders[rid] for rid in line.tiers[index]]


def everyone(config: Config, line: Line) -> list[Responder]:
    return [config.responders[rid] for rid in line.responder_ids]


def next_tier(line: Line, tier: int) -> int | None:
    """The tier paged when `tier` times out, or None after the last one."""
    return tier + 1 if tier + 1 < len(line.tiers) else None


def names(responders: Sequence[Responder]) -> str:
    """'Sergio', 'Sergio or Ana', 'Sergio, Ana or Bo'."""
    listed = [r.name for r in responders]
    if len(listed) <= 1:
        return "".join(listed)
    return f"{', '.join(listed[:-1])} or {listed[-1]}"


# -- what they read ---------------------------------------------------------------

def message(line: Line, name: str, **variables: Any) -> str:
    """Render the line's template `name` with exactly its documented variables."""
    expected = set(MESSAGE_VARIABLES[name])
    assert set(variables) == expected, f"{name} takes {sorted(expected)}, got {sorted(variables)}"
    return render_message(line.messages[name], line=line.name, line_code=line.code, **variables)


def split_sms(text: str, limit: int = SMS_MAX_CHARS) -> list[str]:
    """Cut `text` into parts Twilio accepts, at whitespace where possible,
    losing nothing: "".join of the parts (with the cut spaces) is the text."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind(" ", limit // 2, limit)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut])
        rest = rest[cut:]
    parts.append(rest)
    return parts


def joined_texts(texts: Sequence[tuple[str, Sequence[str]]]) -> tuple[str, tuple[str, ...]]:
    """A conversation's texts as one body, and its media (Twilio's limit)."""
    body = " / ".join(text for text, _ in texts if text) or "(no text)"
    media = tuple(url for _, urls in texts for url in urls)[:MMS_MAX_MEDIA]
    return body, media
