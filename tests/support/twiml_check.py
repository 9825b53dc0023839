"""Check a TwiML document the way Twilio reads it, not the way Python builds it.

Why this exists: twilio-python's TwiML classes take ``**kwargs`` and turn any
keyword into an attribute, and Jinja templates can write any attribute at all,
so a typo such as ``answerOnbridge`` or ``<Number>`` outside ``<Dial>`` builds
and renders without complaint. Twilio then ignores the unknown attribute (or the
whole verb) at call time, and the mistake only shows up as a call that behaves
wrongly. ``check_twiml`` catches these in tests.

What is allowed where is not written down here by hand: it is read from
twilio-python's own generated classes (``twilio.twiml.voice_response`` and
``twilio.twiml.messaging_response``). Each method such as ``Dial.number(self,
phone_number, url=None, ...)`` is one allowed child; we call it once with a
distinct marker for every named parameter and look at the element it builds,
so the tag, the attribute names (after twilio's ``lower_camel`` and its
``from_`` -> ``from`` style renames) and which parameter becomes the element's
text are all exactly what twilio-python itself would produce. Upgrading twilio
updates the table.

On top of that structure, a few cheap value rules Twilio enforces are checked
(HTTP methods, integers, booleans, URLs, E.164 numbers).
"""

from __future__ import annotations

import functools
import inspect
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

from twilio.twiml import TwiML, lower_camel
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from ivr.twilio_voices import GATHER_LANGUAGES, SAY_LANGUAGES, VOICES

__all__ = ["ElementSpec", "check_twiml", "children_of", "element_spec"]


@dataclass(frozen=True)
class ElementSpec:
    """One element as a parent's method builds it."""

    tag: str
    cls: type
    attributes: frozenset[str]
    # The method parameter that becomes the element's text (``message`` for
    # Say, ``phone_number`` for Number), or None when the element takes none.
    text: str | None

    @property
    def children(self) -> Mapping[str, "ElementSpec"]:
        return children_of(self.cls)


VOICE_ROOT = ElementSpec("Response", VoiceResponse, frozenset(), None)
MESSAGING_ROOT = ElementSpec("Response", MessagingResponse, frozenset(), None)

# Twilio runs <Number url="..."> TwiML on the called party's leg before
# bridging; there only these verbs do anything (anything else drops the call).
WHISPER_VERBS = frozenset({"Say", "Play", "Gather", "Hangup"})


def _builder_methods(cls: type) -> list[tuple[str, object]]:
    # TwiML's own methods (append, nest, add_child, to_xml, ...) are plumbing,
    # not verbs; every other public method on a generated class nests a child.
    plumbing = set(vars(TwiML))
    return [(name, function) for name, function in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_") and name not in plumbing]


@functools.cache
def children_of(cls: type) -> Mapping[str, ElementSpec]:
    """The elements allowed directly inside an element built by ``cls``."""
    children: dict[str, ElementSpec] = {}
    for name, method in _builder_methods(cls):
        parameters = [p for p in inspect.signature(method).parameters.values()
                      if p.name != "self" and p.kind is not p.VAR_KEYWORD]
        # A distinct marker per parameter shows where twilio puts each one:
        # into the element's text or into an attribute (and under what name).
        markers = {p.name: f"\x00{p.name}\x00" for p in parameters}
        # Some constructors require their text (Number(phone_number)); a bare
        # TwiML state is all a builder method needs to nest into.
        parent = cls.__new__(cls)
        TwiML.__init__(parent)
        child = method(parent, **markers)
        assert isinstance(child, TwiML) and child in parent.verbs, (
            f"{cls.__name__}.{name} did not nest a TwiML element; "
            "twilio's generated classes changed shape")

        text = next((p for p, marker in markers.items() if child.value == marker), None)
        attributes = frozenset(child.attrs)
        # Cross-check the observation against twilio's documented conversion,
        # so a twilio change in how attributes are named fails here loudly.
        expected = {lower_camel(TwiML.MAP.get(p, p)) for p in markers if p != text}
        assert attributes == expected, (cls.__name__, name, sorted(attributes), sorted(expected))

        spec = ElementSpec(child.name, type(child), attributes, text)
        previous = children.get(spec.tag)
        assert previous is None or previous == spec, (
            f"{cls.__name__} builds <{spec.tag}> two different ways: {previous} / {spec}")
        children[spec.tag] = spec
    return children


def element_spec(*path: str, messaging: bool = False) -> ElementSpec:
    """The spec at ``path`` below <Response>, e.g. ``element_spec("Dial", "Number")``."""
    spec = MESSAGING_ROOT if messaging else VOICE_ROOT
    for tag in path:
        spec = spec.children[tag]
    return spec


# --- value rules --------------------------------------------------------------

HTTP_METHODS = frozenset({"GET", "POST"})
INTEGER_ATTRIBUTES = frozenset({"timeout", "maxLength", "numDigits", "timeLimit", "loop", "length"})
BOOLEAN_ATTRIBUTES = frozenset({
    "answerOnBridge", "transcribe", "playBeep", "actionOnEmptyResult", "hangupOnStar",
    "bargeIn", "profanityFilter", "sequential", "startConferenceOnEnter",
    "endConferenceOnExit",
})
URL_ATTRIBUTES = frozenset({
    "action", "url", "statusCallback", "recordingStatusCallback", "transcribeCallback",
    "waitUrl", "referUrl", "partialResultCallback",
})
# Media streams and ConversationRelay connect to a websocket, not a webhook.
WEBSOCKET_ELEMENTS = frozenset({"Stream", "ConversationRelay"})
E164 = re.compile(r"\+[1-9][0-9]{7,14}")
XML_NAMESPACE = "{http://www.w3.org/XML/1998/namespace}"


def _url_problem(value: str, schemes: frozenset[str] = frozenset({"http", "https"})) -> str | None:
    if not value or value != value.strip() or any(c.isspace() for c in value):
        return "is not a URL (empty or contains whitespace)"
    parts = urlsplit(value)
    if parts.scheme:
        if parts.scheme not in schemes or not parts.netloc:
            return f"is not an absolute {'/'.join(sorted(schemes))} URL"
    elif parts.netloc:
        # Twilio resolves relative URLs against the document's URL; a
        # scheme-relative "//host" is almost certainly a template mistake.
        return "is scheme-relative; use an absolute URL or a path"
    return None


def _value_problem(tag: str, name: str, value: str) -> str | None:
    if name == "method" or name.endswith("Method"):
        if value not in HTTP_METHODS:
            return "must be GET or POST"
    elif name in INTEGER_ATTRIBUTES:
        if not value.isascii() or not value.isdigit():
            return "must be a non-negative integer"
    elif name in BOOLEAN_ATTRIBUTES:
        # twilio-python writes Python booleans as "true"/"false"; "True" or
        # "1" comes from a template and Twilio does not read it as true.
        if value not in ("true", "false"):
            return 'must be "true" or "false"'
    elif tag == "Say" and name == "voice":
        if value not in VOICES:
            return "is not a voice Twilio documents (ivr/twilio_voices.py)"
    elif tag == "Say" and name == "language":
        if value not in SAY_LANGUAGES:
            return "is not a language Twilio's <Say> speaks"
    elif tag == "Gather" and name == "language":
        if value not in GATHER_LANGUAGES:
            return "is not a speech recognition language Twilio takes (warning 13512)"
    elif name in URL_ATTRIBUTES:
        schemes = frozenset({"ws", "wss"}) if tag in WEBSOCKET_ELEMENTS else frozenset({"http", "https"})
        return _url_problem(value, schemes)
    return None


def _text_problem(tag: str, text: str) -> str | None:
    if tag == "Number" and not E164.fullmatch(text):
        return f"text {text!r} is not an E.164 number (+ and 8-15 digits)"
    if tag == "Redirect" or (tag == "Play" and text):
        problem = _url_problem(text)
        if problem:
            return f"text {text!r} {problem}"
    return None


# --- the walk -----------------------------------------------------------------

def _direct_text(element: ET.Element) -> str:
    # Text directly inside an element is its .text plus each child's tail
    # (SSML inside <Say> is mixed content).
    return "".join([element.text or ""] + [child.tail or "" for child in element])


def _walk(element: ET.Element, spec: ElementSpec, where: str,
          allowed: Mapping[str, ElementSpec], problems: list[str]) -> None:
    for raw_name, value in element.attrib.items():
        name = raw_name.replace(XML_NAMESPACE, "xml:")
        if name not in spec.attributes:
            known = ", ".join(sorted(spec.attributes)) or "none"
            problems.append(f"{where}: unknown attribute {name!r} (allowed: {known})")
            continue
        problem = _value_problem(spec.tag, name, value)
        if problem:
            problems.append(f"{where}: {name}={value!r} {problem}")

    voice, language = element.get("voice"), element.get("language")
    if spec.tag == "Say" and voice in VOICES and language in SAY_LANGUAGES \
            and language not in VOICES[voice]:
        problems.append(f"{where}: voice {voice!r} does not speak {language!r}")

    text = _direct_text(element).strip()
    if text and spec.text is None:
        problems.append(f"{where}: <{spec.tag}> takes no text, found {text!r}")
    elif spec.text is not None:
        problem = _text_problem(spec.tag, text)
        if problem:
            problems.append(f"{where}: {problem}")

    counts: dict[str, int] = {}
    for child in element:
        counts[child.tag] = counts.get(child.tag, 0) + 1
        child_where = f"{where}/{child.tag}[{counts[child.tag]}]"
        child_spec = allowed.get(child.tag)
        if child_spec is None:
            known = ", ".join(sorted(allowed)) or "none"
            problems.append(f"{child_where}: <{child.tag}> is not allowed inside <{spec.tag}> "
                            f"(allowed: {known})")
            continue
        _walk(child, child_spec, child_where, child_spec.children, problems)


def check_twiml(document: str, *, whisper: bool = False, messaging: bool = False) -> ET.Element:
    """Parse ``document`` and assert it is TwiML Twilio would act on as written.

    ``messaging`` checks it as a reply to a message webhook (MessagingResponse)
    instead of a voice webhook; ``whisper`` as the TwiML of a ``<Number url>``,
    run on the called party's leg. Every problem found is listed in one
    AssertionError. Returns the parsed <Response> element.
    """
    if whisper and messaging:
        raise ValueError("whisper TwiML is voice TwiML; pass whisper or messaging, not both")
    try:
        # expat itself refuses anything (even whitespace) before <?xml ...?>
        # and anything after the root element, as Twilio's parser does.
        root = ET.fromstring(document)
    except ET.ParseError as error:
        raise AssertionError(f"TwiML is not well-formed XML: {error}\n{document}") from None

    root_spec = MESSAGING_ROOT if messaging else VOICE_ROOT
    if root.tag != root_spec.tag:
        raise AssertionError(f"TwiML root must be <Response>, not <{root.tag}>\n{document}")

    allowed = root_spec.children
    if whisper:
        allowed = {tag: spec for tag, spec in allowed.items() if tag in WHISPER_VERBS}

    problems: list[str] = []
    _walk(root, root_spec, "Response", allowed, problems)
    if problems:
        kind = "whisper" if whisper else "messaging" if messaging else "voice"
        raise AssertionError(f"invalid {kind} TwiML:\n  " + "\n  ".join(problems)
                             + f"\n{document}")
    return root
