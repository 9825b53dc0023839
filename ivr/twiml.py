"""TwiML documents rendered from twiml_templates/*.xml (autoescaped by name).

Every value rendered into a document passes through `xml_text` first (the
environment's finalize hook), so a document is well-formed XML whatever a
caller, a customer or a config put in it: escaping handles < > & " ', and
`xml_text` replaces the characters XML 1.0 cannot carry at all, escaped or
not (control characters other than tab, newline and carriage return,
U+FFFE, U+FFFF and lone surrogates). Twilio refuses a document with one of
them (error 12100), and the text it carried reaches nobody.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from quart import Response

from . import TEMPLATES_PATH

TWIML_MIMETYPE = "text/xml"

# What XML 1.0 forbids (its Char production, inverted).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
REPLACEMENT = "\ufffd"


def xml_text(text: str) -> str:
    """`text` with every character XML 1.0 forbids replaced by U+FFFD."""
    return _NOT_XML_CHAR.sub(REPLACEMENT, text)


def _finalize(value: Any) -> Any:
    """Every {{ }} of a TwiML template, before it is escaped."""
    if isinstance(value, str):  # Markup too: it stays Markup, so it is not escaped twice
        cleaned = xml_text(value)
        return Markup(cleaned) if isinstance(value, Markup) else cleaned
    if value is None or isinstance(value, (int, float)):
        return value
    if hasattr(value, "__html__"):
        return Markup(xml_text(value.__html__()))
    return xml_text(str(value))


_env = Environment(
    loader=FileSystemLoader(TEMPLATES_PATH),
    autoescape=select_autoescape(enabled_extensions=("xml",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_finalize,
    # The templates ship with the code and change only with it: no stat of
    # the file before every render to see whether it changed.
    auto_reload=False,
)


def render(template: str, **variables: Any) -> str:
    return _env.get_template(template).render(**variables)


def twiml_response(template: str, status: int = 200, **variables: Any) -> Response:
    return Response(render(template, **variables), status=status, mimetype=TWIML_MIMETYPE)


def twiml_text(document: str) -> Response:
    """A TwiML document rendered earlier (a stored reply to a retried webhook):
    cleaned again, since one stored before values were cleaned may hold a
    character XML forbids."""
    return Response(xml_text(document), mimetype=TWIML_MIMETYPE)
