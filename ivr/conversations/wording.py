"""What people read: a line's templates rendered, and texts cut to what
Twilio accepts. Pure functions, no I/O."""

from __future__ import annotations

from typing import Any, Sequence

from ..config import Line, Responder, render_message
from ..default_wording import DEFAULT_MESSAGES, MESSAGE_VARIABLES

# Twilio's longest message body; a longer one is refused with error 21617.
SMS_MAX_CHARS = 1600
# Twilio sends at most ten media items in one message.
MMS_MAX_MEDIA = 10


def message(line: Line, name: str, **variables: Any) -> str:
    """Render the line's template `name` with exactly its documented variables."""
    expected = set(MESSAGE_VARIABLES[name])
    assert set(variables) == expected, f"{name} takes {sorted(expected)}, got {sorted(variables)}"
    return render_message(line.messages[name], line=line.name, line_code=line.code, **variables)


def default_message(name: str) -> str:
    """A template's default wording, for when no line is known (a call to
    a number no line has)."""
    assert not MESSAGE_VARIABLES[name], f"{name} needs a line's variables"
    return render_message(DEFAULT_MESSAGES[name], line="", line_code="")


def names(responders: Sequence[Responder]) -> str:
    """'Sergio', 'Sergio or Ana', 'Sergio, Ana or Bo'."""
    listed = [r.name for r in responders]
    if len(listed) <= 1:
        return "".join(listed)
    return f"{', '.join(listed[:-1])} or {listed[-1]}"


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
