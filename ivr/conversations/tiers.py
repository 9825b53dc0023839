"""A line's tiers: who is in one, who comes next. Pure functions, no I/O."""

from __future__ import annotations

from ..config import Config, Line, Responder


def tier_responders(config: Config, line: Line, tier: int) -> list[Responder]:
    """The responders of `tier`, clamped to the last tier: the last tier is
    always tried, so a conversation past the end still reaches someone."""
    index = min(max(tier, 0), len(line.tiers) - 1)
    return [config.responders[rid] for rid in line.tiers[index]]


def everyone(config: Config, line: Line) -> list[Responder]:
    return [config.responders[rid] for rid in line.responder_ids]


def next_tier(line: Line, tier: int) -> int | None:
    """The tier paged when `tier` times out, or None after the last one."""
    return tier + 1 if tier + 1 < len(line.tiers) else None
