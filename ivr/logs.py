"""Logging: one line per event, with the line, the Twilio SIDs and masked
numbers as fields (key=value text, or JSON with IVR_LOG_FORMAT=json), and a
last line of defence: every record is scrubbed of secret values and full
phone numbers before any handler formats it."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, Iterable

from .phone import redact_numbers

FIELDS = "ivr_fields"


def event(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """Log `message` with structured fields (None values are left out)."""
    logger.log(level, message, extra={FIELDS: {k: v for k, v in fields.items() if v is not None}})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return dict(getattr(record, FIELDS, {}) or {})


def _quote(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """2026-11-22T18:00:00.123Z INFO ivr.sms text handled line=qdn sid=SM… from=+1619***0142"""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, timezone.utc)
        parts = [moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
                 record.levelname, record.name, record.getMessage()]
        parts += [f"{key}={_quote(value)}" for key, value in _fields(record).items()]
        text = " ".join(parts)
        if record.exc_text:
            text += "\n" + record.exc_text
        return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, timezone.utc)
        document = {"time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "level": record.levelname, "logger": record.name,
                    "message": record.getMessage(), **_fields(record)}
        if record.exc_text:
            document["exception"] = record.exc_text
        return json.dumps(document, ensure_ascii=False, default=str)


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self._clean(message), None
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        fields = getattr(record, FIELDS, None)
        if fields:
            setattr(record, FIELDS, {k: self._clean(v) if isinstance(v, str) else v
                                     for k, v in fields.items()})
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


def configure_logging(level: str = "INFO", secrets: Iterable[str] = (),
                      log_format: str = "text") -> None:
    root = logging.getLogger()
    formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    ours = [h for h in root.handlers if getattr(h, "_ivr", False)]
    if ours:
        handler = ours[0]
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler._ivr = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(formatter)
    root.setLevel(level)
    # twilio-python logs whole requests at INFO, phone numbers and bodies included.
    logging.getLogger("twilio").setLevel(logging.WARNING)
    install_redaction(secrets)
