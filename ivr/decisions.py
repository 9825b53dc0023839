"""The closed set of decision kinds. A decision row says what the service
decided and why; a kind that is not listed here cannot be stored."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class HasId(Protocol):
    @property
    def id(self) -> Any: ...


class DecisionKind(StrEnum):
    # Either channel
    UNKNOWN_LINE = "unknown_line"              # the webhook's To is no configured line
    INVALID_SENDER = "invalid_sender"          # From is no phone number: nobody to answer
    DUPLICATE_WEBHOOK = "duplicate_webhook"    # Twilio retried a webhook already handled
    HANDLER_ERROR = "handler_error"            # a webhook failed inside; Twilio got valid TwiML
    # A customer's text
    CONVERSATION_OPENED = "conversation_opened"
    MESSAGE_FORWARDED = "message_forwarded"    # a responder paged with the customer's text
    FOLLOW_UP_FORWARDED = "follow_up_forwarded"
    FLOOD_HELD = "flood_held"                  # a text within the flood window: sent later, combined
    BLOCKED = "blocked"                        # a blocked number's text or call: logged, nothing more
    NUMBER_BLOCKED = "number_blocked"          # a responder's BLOCK, or an operator's block
    NUMBER_UNBLOCKED = "number_unblocked"      # an operator lifted a stored block
    CUSTOMER_ACKNOWLEDGED = "customer_acknowledged"  # the acknowledgement template answered
    OPTED_OUT = "opted_out"                    # STOP and its synonyms
    OPTED_IN = "opted_in"                      # START and its synonyms
    HELP_REQUESTED = "help_requested"
    LANGUAGE_CHOSEN = "language_chosen"        # by a keyword texted, or a call's menu option
    SEND_SUPPRESSED = "send_suppressed"        # a text to an opted-out customer not sent
    # Nobody took it in time
    ESCALATED = "escalated"                    # the next tier is paged
    UNANSWERED = "unanswered"                  # past the last tier: everyone paged, cascade stops
    # A responder's text
    ACKNOWLEDGED = "acknowledged"              # a responder took the conversation
    ACK_REFUSED = "ack_refused"                # nothing to take, or someone else has it
    RELAYED_TO_CUSTOMER = "relayed_to_customer"
    RESPONDER_HELP = "responder_help"          # a reply that names no conversation they own
    CLOSED = "closed"
    HANDED_OVER = "handed_over"                # an operator gave it to a responder
    PASSED = "passed"                          # a responder texted PASS: the next tier now
    RELEASED = "released"                      # its owner texted RELEASE: back to the cascade
    LISTED = "listed"                          # a responder texted LIST or HELP
    COMMAND_REFUSED = "command_refused"        # PASS, HANDOVER or RELEASE that cannot apply
    RETURNED_TO_CASCADE = "returned_to_cascade"  # a forward to the owner failed: tier paged again
    # Calls
    CALL_RECEIVED = "call_received"
    MENU_OFFERED = "menu_offered"
    MENU_CHOSEN = "menu_chosen"
    MENU_REPEATED = "menu_repeated"            # no or invalid input: the menu once more
    MENU_FELL_THROUGH = "menu_fell_through"    # still nothing: the line's default tiers
    TIER_DIALED = "tier_dialed"
    CALL_ACCEPTED = "call_accepted"            # a responder pressed 1 in the whisper
    CALL_DECLINED = "call_declined"            # anything else, or silence, in the whisper
    TIER_FAILED = "tier_failed"                # the Dial ended without an accepted bridge
    CALL_CONNECTED = "call_connected"
    CALLER_HUNG_UP = "caller_hung_up"
    VOICEMAIL_STARTED = "voicemail_started"
    VOICEMAIL_RECORDING = "voicemail_recording"  # the prompt ended, no text-back: recording
    TEXT_BACK_REQUESTED = "text_back_requested"  # the caller pressed the text-back key
    VOICEMAIL_RECEIVED = "voicemail_received"
    VOICEMAIL_EMPTY = "voicemail_empty"        # silence or an absent recording: nobody paged
    TRANSCRIPTION_RECEIVED = "transcription_received"
    TRANSCRIPTION_FAILED = "transcription_failed"
    MISSED_CALL = "missed_call"                # nobody took a call and no message was left
    # Phone pages: a responder phoned about a text nobody has ACKed
    PAGE_CALL_PLACED = "page_call_placed"      # Twilio was asked to call them
    PAGE_CALL_SKIPPED = "page_call_skipped"    # due, but taken, closed or moved on meanwhile
    PAGE_CALL_FAILED = "page_call_failed"      # Twilio refused the call
    PAGE_CALL_UNANSWERED = "page_call_unanswered"  # no answer, busy, or no key (voicemail)
    PAGE_CALL_REPEATED = "page_call_repeated"  # they pressed 3
    OWNER_PHONED = "owner_phoned"              # a text to the owner failed: they are phoned first
    OWNER_KEPT = "owner_kept"                  # the owner pressed 1 on that call: still theirs
    # Who is available
    RESPONDER_SKIPPED = "responder_skipped"    # off, or not on call after hours
    NOBODY_AVAILABLE = "nobody_available"      # texts: the last tier anyway; calls: voicemail
    AFTER_HOURS = "after_hours"                # the line is closed: its after-hours behaviour
    AVAILABILITY_CHANGED = "availability_changed"  # a responder texted OFF or ON
    # Sending
    SEND_FAILED = "send_failed"                # the REST API refused a message for good
    DELIVERY_FAILED = "delivery_failed"        # Twilio reported failed/undelivered
    NUMBER_UNREACHABLE = "number_unreachable"  # Twilio says the number never takes texts
    NUMBER_CLEARED = "number_cleared"          # an operator cleared that mark: texted again
    # Operators
    NUMBER_REVEALED = "number_revealed"        # an operator chose to see a customer's whole number
    # The business's other systems (ivr/bookings.py, ivr/auto_reply.py, ivr/daily_summary.py)
    BOOKING_TAGGED = "booking_tagged"          # a new conversation concerns a booking under way
    AUTO_REPLIED = "auto_replied"              # a keyword text answered by the line's endpoint
    AUTO_REPLY_FAILED = "auto_reply_failed"    # the endpoint did not answer: the usual cascade
    DAILY_SUMMARY_SENT = "daily_summary_sent"  # yesterday's figures texted to the line's people
    # Housekeeping
    RETENTION = "retention"                    # old texts, recordings and numbers redacted
    # Event hooks (ivr/hooks): the business's own systems told what happened
    HOOK_FAILED = "hook_failed"                # an event never reached a hook: retries ran out


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


def decision(kind: DecisionKind, channel: Channel, reason: str, *,
             line: "HasId | str | None" = None, sid: str | None = None,
             conversation: "HasId | int | None" = None, tier: int | None = None,
             responder_id: str | None = None) -> Decision:
    """A Decision about a line and a conversation given as objects or as ids."""
    return Decision(kind, channel, reason,
                    line_id=line if line is None or isinstance(line, str) else line.id,
                    sid=sid, tier=tier, responder_id=responder_id,
                    conversation_id=(conversation if conversation is None
                                     or isinstance(conversation, int) else conversation.id))
