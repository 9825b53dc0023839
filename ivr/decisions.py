"""The closed set of decision kinds. A decision row says what the service
decided and why; a kind that is not listed here cannot be stored."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DecisionKind(StrEnum):
    # Either channel
    UNKNOWN_LINE = "unknown_line"              # the webhook's To is no configured line
    # Texts
    CONVERSATION_OPENED = "conversation_opened"
    MESSAGE_FORWARDED = "message_forwarded"    # a customer's text paged to a responder
    CUSTOMER_ACKNOWLEDGED = "customer_acknowledged"  # the acknowledgement template answered
    FOLLOW_UP_FORWARDED = "follow_up_forwarded"
    DUPLICATE_WEBHOOK = "duplicate_webhook"    # Twilio retried a webhook already handled
    RESPONDER_MESSAGE = "responder_message"    # a responder texted the line
    SEND_FAILED = "send_failed"                # the REST API refused a message for good
    DELIVERY_FAILED = "delivery_failed"        # Twilio reported failed/undelivered
    HANDLER_ERROR = "handler_error"            # a webhook failed inside; Twilio got valid TwiML


class Channel(StrEnum):
    VOICE = "voice"
    SMS = "sms"


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    channel: Channel
    reason: str
    line_id: str | None = None
    sid: str | None = None
    conversation_id: int | None = None
    tier: int | None = None
    responder_id: str | None = None
