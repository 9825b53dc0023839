"""What a text means: a responder's command (ACK, CLOSE, PASS, HANDOVER,
RELEASE, LIST, HELP, OFF/ON, or a reply for the customer) and a
customer's keyword (STOP, START, HELP). Pure functions, no I/O, tested
with tables and hypothesis.

A responder's command is the whole text ("ACK 12", "PASS", "HANDOVER
backup 12"). A text that starts with PASS, ESCALATE, HANDOVER or RELEASE
but is no well-formed command is a mistyped command, never a reply: those
words rarely start a message to a customer, and relaying a "PASS" the
responder meant for the line is worse than asking. To text a customer
such a word, start with the conversation's code: "12 pass the salt"."""

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


@dataclass(frozen=True)
class Pass:
    """PASS (or ESCALATE): the next tier now."""
    code: int | None


@dataclass(frozen=True)
class Handover:
    """HANDOVER <responder> [code]: `to` as typed, matched to a responder later."""
    to: str
    code: int | None


@dataclass(frozen=True)
class Release:
    """RELEASE [code]: the owner gives it back to the cascade."""
    code: int | None


@dataclass(frozen=True)
class Block:
    """BLOCK [code]: its customer's number is blocked (ivr/conversations/blocking.py)."""
    code: int | None


@dataclass(frozen=True)
class ListOwn:
    """LIST: the responder's open conversations and their codes."""


@dataclass(frozen=True)
class CommandHelp:
    """HELP, or a mistyped command: the list of commands. `word` is the
    command word that was mistyped, if any."""
    word: str | None = None


ResponderCommand = (Ack | Close | Presence | Pass | Handover | Release | ListOwn | CommandHelp
                    | Block | Reply)


_COMMAND = re.compile(r"(ACK|CLOSE|PASS|ESCALATE|RELEASE|BLOCK)#?(\d{1,6})?", re.IGNORECASE)
_SIMPLE = {"ACK": Ack, "CLOSE": Close, "PASS": Pass, "ESCALATE": Pass, "RELEASE": Release}
_SIMPLE["BLOCK"] = Block
_HANDOVER = re.compile(r"\s*HAND\s?OVER\s+(?:#?(\d{1,6})\s+)?([^\s\d#][^\s]{0,39})"
                       r"(?:\s+#?(\d{1,6}))?\s*", re.IGNORECASE)
# Words that make a text a command even when the rest does not parse.
_COMMAND_WORDS = frozenset({"PASS", "ESCALATE", "HANDOVER", "RELEASE"})
_FIRST_WORD = re.compile(r"\s*([A-Za-z]+)")
_CODE_PREFIX = re.compile(r"\s*#?(\d{1,6})[\s:.,-]+(\S.*)", re.DOTALL)


def parse_responder_text(body: str) -> ResponderCommand:
    squeezed = re.sub(r"\s+", "", body)
    if squeezed.upper() in ("ON", "OFF"):
        return Presence(squeezed.upper() == "ON")
    if squeezed.upper() in ("LIST", "HELP"):
        return ListOwn() if squeezed.upper() == "LIST" else CommandHelp()
    command = _COMMAND.fullmatch(squeezed)
    if command:
        code = int(command.group(2)) if command.group(2) else None
        return _SIMPLE[command.group(1).upper()](code)
    handover = _HANDOVER.fullmatch(body)
    if handover and not (handover.group(1) and handover.group(3)):
        code = handover.group(1) or handover.group(3)
        return Handover(handover.group(2), int(code) if code else None)
    first = _FIRST_WORD.match(body)
    word = first.group(1).upper() if first else ""
    if word in _COMMAND_WORDS or (word == "HAND" and re.match(r"\s*hand\s+over\b", body,
                                                              re.IGNORECASE)):
        return CommandHelp("HANDOVER" if word == "HAND" else word)
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
