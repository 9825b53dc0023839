"""Logging set-up with a last line of defence: every record is scrubbed of
secret values and full phone numbers before any handler formats it."""

from __future__ import annotations

import logging
import sys
from typing import Iterable

from .phone import redact_numbers

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        cleaned = self._clean(message)
        record.msg, record.args = cleaned, None
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")
        return redact_numbers(text)


def install_redaction(secrets: Iterable[str], handlers: Iterable[logging.Handler] | None = None) -> None:
    """Attach the filter to the given handlers (default: the root logger's),
    replacing any earlier one, so every record that is written is scrubbed."""
    secrets = tuple(secrets)
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactingFilter(secrets))


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_ivr", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._ivr = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # twilio-python logs whole requests at INFO, phone numbers and bodies included.
    logging.getLogger("twilio").setLevel(logging.WARNING)
    install_redaction(secrets)
