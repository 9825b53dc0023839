"""What people read: a line's templates rendered, and texts cut to what
Twilio accepts. Pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Mapping, Sequence

from ..config import Line, Responder, render_message
from ..default_wording import DEFAULT_MESSAGES, MESSAGE_VARIABLES
from ..line_languages import shipped_messages
from ..local_time import clock_time
from ..phone import display, try_normalise

# Twilio's longest message body; a longer one is refused with error 21617.
SMS_MAX_CHARS = 1600
# Twilio sends at most ten media items in one message.
MMS_MAX_MEDIA = 10


@dataclass(frozen=True)
class Audience:
    """Who reads or hears a template, and when: its language (None: the
    line's) and the variables every template may use besides its own."""

    language: str | None = None
    local_time: str = ""
    caller_number: str = ""


def audience(line: Line, language: str | None, at: datetime | None = None,
             caller: str | None = None) -> Audience:
    """The audience of a call or a conversation with `caller`, at `at`."""
    number = try_normalise(caller) if caller else None
    return Audience(language=language,
                    local_time=clock_time(at, line.policy.zone) if at else "",
                    caller_number=display(number) if number else "")


def customer_audience(line: Line, conversation: Any, at: datetime) -> Audience:
    """A conversation's customer: they read its language (None: the line's)."""
    return audience(line, conversation.language, at, conversation.customer)


def responder_audience(responder: Responder) -> Audience:
    """A responder reads their own language (None: the line's)."""
    return Audience(language=responder.language)


@lru_cache(maxsize=32)
def _shipped(language: str) -> Mapping[str, str]:
    return shipped_messages(language)


def templates(line: Line, language: str | None) -> Mapping[str, str]:
    """The line's templates in `language`: its own for a language it has,
    the shipped defaults for another (a responder's), else the line's."""
    if language is None or language == line.languages.default:
        return line.messages
    if language in line.languages.by_code:
        return line.languages.by_code[language].messages
    return _shipped(language)


def message(line: Line, name: str, /, to: Audience | None = None, **variables: Any) -> str:
    """Render the line's template `name` with exactly its documented variables,
    in the audience's language (the line's by default)."""
    expected = set(MESSAGE_VARIABLES[name])
    assert set(variables) == expected, f"{name} takes {sorted(expected)}, got {sorted(variables)}"
    to = to or Audience()
    wording = templates(line, to.language)
    for key, value in variables.items():
        if isinstance(value, Names):
            variables[key] = render_message(wording["names_list"], listed=list(value.people))
    return render_message(wording[name], line=line.name,
                          line_code=line.code, local_time=to.local_time,
                          caller_number=to.caller_number, **variables)


@dataclass(frozen=True)
class Words:
    """A template not yet rendered, for texts to several responders: each
    reads it in their own language (ivr.conversations.sending)."""

    line: Line
    name: str
    variables: Mapping[str, Any] = field(default_factory=dict)

    def for_responder(self, responder: Responder, customer: str | None = None,
                      at: datetime | None = None) -> str:
        """In the responder's language; `customer` is the conversation's."""
        to = audience(self.line, responder.language, at, customer)
        return message(self.line, self.name, to, **self.variables)

    def for_customer(self, conversation: Any, at: datetime) -> str:
        """In the conversation's language, with its customer's number."""
        return message(self.line, self.name, customer_audience(self.line, conversation, at),
                       **self.variables)

    def __str__(self) -> str:
        """The line's own language: what the decision log shows."""
        return message(self.line, self.name, **self.variables)


def words(line: Line, name: str, **variables: Any) -> Words:
    return Words(line, name, variables)


def default_message(name: str, language: str | None = None) -> str:
    """A template's default wording, for when no line is known (a call to
    a number no line has)."""
    assert not MESSAGE_VARIABLES[name], f"{name} needs a line's variables"
    source = _shipped(language)[name] if language else DEFAULT_MESSAGES[name]
    return render_message(source, line="", line_code="", local_time="", caller_number="")


class Names(str):
    """Responders' names as one variable: 'Sergio or Ana' in the decision
    log, joined by the `names_list` template of the reader's language when
    a message is rendered ('Sergio o Ana')."""

    people: tuple[str, ...]

    def __new__(cls, people: Sequence[str]) -> "Names":
        listed = tuple(people)
        shown = "".join(listed) if len(listed) <= 1 else (
            f"{', '.join(listed[:-1])} or {listed[-1]}")
        joined = super().__new__(cls, shown)
        joined.people = listed
        return joined


def names(responders: Sequence[Responder]) -> Names:
    """'Sergio', 'Sergio or Ana', 'Sergio, Ana or Bo'."""
    return Names([r.name for r in responders])


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


def joined_texts(texts: Sequence[tuple[str, Sequence[str]]],
                 no_text: str) -> tuple[str, tuple[str, ...]]:
    """A conversation's texts as one body (`no_text`, the line's words for
    none, when they are only pictures), and its media (Twilio's limit)."""
    body = " / ".join(text for text, _ in texts if text) or no_text
    media = tuple(url for _, urls in texts for url in urls)[:MMS_MAX_MEDIA]
    return body, media
