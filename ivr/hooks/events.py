"""Which decisions are events a hook hears of, and which hooks want each.

Pure: the store asks `HookRoutes.deliveries_for` inside the transaction that
records the decision, so a hook's delivery row is written (or not) with the
decision itself, never apart from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..decisions import Decision, DecisionKind

# The event types, as documented in README "Event hooks" and the schema.
EVENT_FOR_KIND: dict[DecisionKind, str] = {
    DecisionKind.CONVERSATION_OPENED: "conversation_opened",
    DecisionKind.MESSAGE_FORWARDED: "paged",
    DecisionKind.PAGE_CALL_PLACED: "paged",
    DecisionKind.ACKNOWLEDGED: "acknowledged",
    DecisionKind.ESCALATED: "escalated",
    DecisionKind.HANDED_OVER: "handed_over",
    DecisionKind.CLOSED: "closed",
    DecisionKind.UNANSWERED: "unanswered",
    DecisionKind.VOICEMAIL_RECEIVED: "voicemail_received",
    DecisionKind.TRANSCRIPTION_RECEIVED: "voicemail_transcribed",
    DecisionKind.MISSED_CALL: "missed_call",
    DecisionKind.DELIVERY_FAILED: "delivery_failed",
    DecisionKind.SEND_FAILED: "delivery_failed",
    DecisionKind.AVAILABILITY_CHANGED: "responder_availability_changed",
    DecisionKind.DAILY_SUMMARY_SENT: "daily_summary",
}
# HOOK_FAILED is deliberately no event: a hook that fails must not make
# events about its own failure, which would fail in turn, for ever.
assert DecisionKind.HOOK_FAILED not in EVENT_FOR_KIND

EVENT_TYPES: tuple[str, ...] = tuple(dict.fromkeys(EVENT_FOR_KIND.values()))


@dataclass(frozen=True)
class HookRoute:
    """What the store needs of a hook to decide whether it hears of a decision."""
    name: str
    events: frozenset[str]          # empty: every event
    lines: frozenset[str]           # empty: every line

    def wants(self, event_type: str, line_id: str | None) -> bool:
        return ((not self.events or event_type in self.events)
                and (not self.lines or line_id in self.lines))


@dataclass(frozen=True)
class HookRoutes:
    routes: tuple[HookRoute, ...]

    def deliveries_for(self, decision: Decision) -> list[tuple[str, str, str]]:
        """(hook name, event type, stream) for each hook that hears of it."""
        event_type = EVENT_FOR_KIND.get(DecisionKind(decision.kind))
        if event_type is None:
            return []
        return [(route.name, event_type, stream_of(decision)) for route in self.routes
                if route.wants(event_type, decision.line_id)]


def stream_of(decision: Decision) -> str:
    """What a delivery keeps its order within: a hook hears of one
    conversation's (or call's, or responder's) events in the order they
    happened, each only after the one before it arrived or failed for good."""
    if decision.conversation_id is not None:
        return f"conversation:{decision.conversation_id}"
    if decision.responder_id:
        return f"responder:{decision.responder_id}"
    if decision.sid:
        return f"call:{decision.sid}" if decision.channel == "voice" else f"sid:{decision.sid}"
    return f"line:{decision.line_id or '-'}"


def routes_for(hooks: Iterable[HookRoute]) -> HookRoutes | None:
    routes = tuple(hooks)
    return HookRoutes(routes) if routes else None
