"""What a caller or a responder hears when there is nothing else to say,
or when something failed: valid TwiML, never a bare 500."""

from __future__ import annotations

from quart import Response
from werkzeug.datastructures import MultiDict

from ..config import Line
from ..phone import try_normalise
from ..services import Services
from ..speech import Spoken, speaker, unknown_line
from ..twiml import render, twiml_text
from .voicemail import voicemail_twiml


def line_for(svc: Services, form: MultiDict[str, str]) -> Line | None:
    return svc.config.line_for_number(try_normalise(form.get("To")))


def say(*sentences: Spoken, hangup: bool) -> str:
    return render("voice_say.xml", say=list(sentences), hangup=hangup)


def hang_up() -> str:
    return say(hangup=True)


def nothing() -> Response:
    """An answer to a callback: Twilio reads no TwiML from it."""
    return twiml_text(say(hangup=False))


def not_in_service() -> str:
    return say(unknown_line("not_in_service"), hangup=True)


def apologise_then_voicemail(svc: Services, form: MultiDict[str, str]) -> Response:
    """The caller hears an apology and can still leave a message: taking a
    voicemail needs no state, so it works when whatever failed is broken."""
    line = line_for(svc, form)
    if line is None:
        return twiml_text(not_in_service())
    # The store may be what failed: the line's own language, not the call's.
    return twiml_text(voicemail_twiml(svc, line, apology=speaker(line, None)("apology")))


def spoken(line: Line | None, name: str, language: str | None = None) -> Spoken:
    """The line's wording of `name`, or its default when no line is known."""
    return speaker(line, language)(name) if line else unknown_line(name)


def whisper_failed(svc: Services, form: MultiDict[str, str]) -> Response:
    # Only Say, Play, Gather and Hangup are allowed on a responder's leg.
    return twiml_text(say(spoken(line_for(svc, form), "whisper_unavailable"), hangup=True))


def empty(_: Services, __: MultiDict[str, str]) -> Response:
    return nothing()
