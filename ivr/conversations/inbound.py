"""A text that arrived at a line, as the engine sees it."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Line


@dataclass(frozen=True)
class Inbound:
    line: Line
    sender: str
    message_sid: str
    body: str
    media: tuple[str, ...]
