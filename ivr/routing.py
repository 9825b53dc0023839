"""Who gets paged and what they read: pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .config import Config, Line, Responder, render_message
from .phone import display


@dataclass(frozen=True)
class Page:
    """One text to one responder."""
    responder: Responder
    tier: int
    body: str
    media_urls: tuple[str, ...] = ()


def tier_responders(config: Config, line: Line, tier: int) -> list[Responder]:
    """The responders of `tier`, clamped to the last tier: the last tier is
    always tried, so a conversation past the end still reaches someone."""
    index = min(max(tier, 0), len(line.tiers) - 1)
    return [config.responders[rid] for rid in line.tiers[index]]


def names(responders: Sequence[Responder]) -> str:
    """'Sergio', 'Sergio or Ana', 'Sergio, Ana or Bo'."""
    listed = [r.name for r in responders]
    if len(listed) <= 1:
        return "".join(listed)
    return f"{', '.join(listed[:-1])} or {listed[-1]}"


def forward_pages(config: Config, line: Line, *, code: int, tier: int, customer: str,
                  body: str, media_urls: Sequence[str], owner: str | None) -> list[Page]:
    """The customer's text as each recipient reads it: the owner alone once
    someone has taken the conversation, otherwise everyone in the tier."""
    recipients = [config.responders[owner]] if owner else tier_responders(config, line, tier)
    text = render_message(line.messages["forward"], line_code=line.code, line=line.name,
                          code=code, customer=display(customer), body=body,
                          media=list(media_urls))
    return [Page(responder=r, tier=tier, body=text, media_urls=tuple(media_urls))
            for r in recipients]


def acknowledgement(config: Config, line: Line, tier: int) -> str:
    return render_message(line.messages["ack"], line=line.name,
                          responder=names(tier_responders(config, line, tier)))
