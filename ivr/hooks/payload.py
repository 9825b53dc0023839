"""The JSON one event hook POST carries, as event.schema.json describes it
(README "Event hooks"). One function builds every event, from the decision
and the rows it concerns; customer numbers and texts leave only for a hook
with include_customer = true."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..bookings import booking_tag
from ..phone import mask
from ..store.rows import Conversation, DecisionRow

if TYPE_CHECKING:
    from ..config import Config
    from ..store.hook_deliveries import HookDelivery
    from .config import Hook

SCHEMA_PATH = Path(__file__).with_name("event.schema.json")
SCHEMA_VERSION = 1


def event_id(decision_id: int) -> str:
    """Stable across retries and restarts: a receiver drops a second copy by it."""
    return f"ivr-evt-{decision_id}"


def build_event(hook: "Hook", config: "Config", delivery: "HookDelivery") -> dict[str, Any]:
    return event_payload(hook, config, delivery.event_type, delivery.decision,
                         delivery.conversation, delivery.customer, delivery.body,
                         delivery.voicemail, delivery.summary)


def event_payload(hook: "Hook", config: "Config", event_type: str, decision: DecisionRow,
                  conversation: Conversation | None, customer: str | None,
                  body: str | None, voicemail: dict[str, Any] | None,
                  summary: dict[str, Any] | None = None) -> dict[str, Any]:
    line = config.lines.get(decision.line_id or "")
    responder = config.responders.get(decision.responder_id or "")
    return {
        "schema_version": SCHEMA_VERSION,
        "id": event_id(decision.id),
        "type": event_type,
        "occurred_at": decision.at,
        "line": ({"id": line.id, "name": line.name} if line
                 else {"id": decision.line_id, "name": None} if decision.line_id else None),
        "conversation": conversation_part(conversation),
        "call": {"sid": decision.sid} if decision.channel == "voice" and decision.sid else None,
        "responder": ({"id": responder.id, "name": responder.name} if responder
                      else {"id": decision.responder_id, "name": None}
                      if decision.responder_id else None),
        "tier": decision.tier,
        "booking": booking_tag(conversation) if conversation is not None else None,
        "customer": (customer if hook.include_customer else mask(customer)) if customer
        else None,
        "body": body if hook.include_customer else None,
        "voicemail": _voicemail_part(voicemail, hook.include_customer),
        # a daily_summary's counts: no customer's number or words are in them
        "summary": summary,
    }


def conversation_part(conversation: Conversation | None) -> dict[str, Any] | None:
    if conversation is None:
        return None
    return {"id": conversation.id, "code": conversation.code, "status": conversation.status,
            "owner": conversation.owner}


def _voicemail_part(voicemail: dict[str, Any] | None,
                    include_customer: bool) -> dict[str, Any] | None:
    if voicemail is None:
        return None
    return {"duration": voicemail["duration"],
            "recording_url": voicemail["recording_url"] if include_customer else None,
            "transcribed": voicemail["transcription"] is not None}


def encode(event: dict[str, Any]) -> bytes:
    """The exact bytes signed and sent."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sample_event(hook: "Hook", config: "Config", at: str) -> dict[str, Any]:
    """What `ivr hooks test` sends: a conversation_opened on the hook's
    first line, marked as a test by its id, valid against the schema."""
    line = next((config.lines[i] for i in sorted(hook.lines)), None) or next(
        iter(config.lines.values()))
    sample = DecisionRow(id=0, at=at, line_id=line.id, channel="sms", sid="SM" + "0" * 32,
                         conversation_id=0, tier=0, responder_id=None,
                         kind="conversation_opened", reason="ivr hooks test")
    conversation = Conversation(id=0, line_id=line.id, customer="+15005550006", code=0,
                                origin="sms", status="open", tier=0, owner=None,
                                opened_at=at, last_forward_at=None, acked_at=None,
                                closed_at=None)
    event = event_payload(hook, config, "conversation_opened", sample, conversation,
                          conversation.customer, "A test event from `ivr hooks test`", None)
    event["id"] = "ivr-evt-test"
    return event
