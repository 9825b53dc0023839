"""What a caller or a responder hears, one <Say> or <Play> at a time: a
line's template rendered in the listener's language and spoken with that
language's voice, or the recording the line has for it
(twiml_templates/_speech.xml turns each into TwiML)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .config import Line, Responder
from .conversations.wording import Audience, audience, default_message, message
from .line_languages import DEFAULT_LANGUAGE, Language, responder_language
from .twilio_voices import example_voice


@dataclass(frozen=True)
class Spoken:
    """One <Say> (text, voice, language) or, with `play`, one <Play>."""

    text: str
    voice: str
    language: str
    play: str | None = None


@dataclass(frozen=True)
class Speaker:
    """A line speaking one language to one listener."""

    line: Line
    language: Language
    to: Audience

    def __call__(self, name: str, **variables: Any) -> Spoken:
        """The template `name`, or the recording the language has for it."""
        text = message(self.line, name, self.to, **variables)
        return Spoken(text, self.language.voice, self.language.code,
                      play=self.language.recordings.get(name))

    def menu_prompt(self) -> Spoken:
        assert self.line.menu is not None
        return Spoken(self.line.menu.prompt, self.language.voice, self.language.code,
                      play=self.language.recordings.get("menu_prompt"))


def speaker(line: Line, language: str | None, at: datetime | None = None,
            caller: str | None = None) -> Speaker:
    """The line speaking `language` (None: its own) to a caller at `at`."""
    settings = line.languages.get(language)
    return Speaker(line, settings, audience(line, settings.code, at, caller))


def responder_speaker(line: Line, responder: Responder) -> Speaker:
    """The line speaking to one of its responders, in their language."""
    settings = responder_language(line, responder)
    return Speaker(line, settings, Audience(language=settings.code))


def unknown_line(name: str) -> Spoken:
    """A template spoken where no line is known (a number no line has)."""
    return Spoken(default_message(name), example_voice(DEFAULT_LANGUAGE), DEFAULT_LANGUAGE)


def call_speaker(tx: Any, line: Line, call_sid: str) -> Speaker:
    """The line speaking to the caller of `call_sid`, in the language the
    call is in (the one a menu option chose, else the line's)."""
    call = tx.call(call_sid)
    return speaker(line, call.language if call else None, tx.now,
                   call.caller if call else None)
