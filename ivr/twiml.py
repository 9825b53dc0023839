"""TwiML documents rendered from twiml_templates/*.xml (autoescaped by name)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from quart import Response

from . import TEMPLATES_PATH

TWIML_MIMETYPE = "text/xml"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_PATH),
    autoescape=select_autoescape(enabled_extensions=("xml",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, **variables: Any) -> str:
    return _env.get_template(template).render(**variables)


def twiml_response(template: str, status: int = 200, **variables: Any) -> Response:
    return Response(render(template, **variables), status=status, mimetype=TWIML_MIMETYPE)


def twiml_text(document: str) -> Response:
    """A TwiML document rendered earlier (a stored reply to a retried webhook)."""
    return Response(document, mimetype=TWIML_MIMETYPE)
