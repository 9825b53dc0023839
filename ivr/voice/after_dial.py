"""What a call does next: pure functions, no I/O.

The one rule that matters most: a tier succeeded only when a responder
pressed 1 in the whisper *and* Twilio bridged the call. DialCallStatus
alone says `completed` when a cell phone's voicemail box answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The caller's CallStatus values that mean they are gone.
CALLER_GONE = frozenset({"completed", "canceled", "busy", "failed", "no-answer"})

DIAL_STATUS_REASONS = {
    "completed": "answered, but nobody pressed 1 (a voicemail box or a declined call)",
    "answered": "answered, but nobody pressed 1 (a voicemail box or a declined call)",
    "no-answer": "nobody answered within {ring} s",
    "busy": "busy",
    "failed": "the number could not be reached",
    "canceled": "the dial was canceled",
}


@dataclass(frozen=True)
class DialOutcome:
    """What Twilio's Dial action reported, with what the store knows."""
    dial_status: str          # DialCallStatus
    bridged: bool | None      # DialBridged; None when Twilio did not send it
    accepted_by: str | None   # who pressed 1 in the whisper, per the store
    caller_status: str        # the parent call's CallStatus


@dataclass(frozen=True)
class NextStep:
    kind: Literal["connected", "caller_gone", "dial", "voicemail"]
    reason: str
    tier: int | None = None


def parse_bridged(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.strip().lower() == "true"


def was_connected(outcome: DialOutcome) -> bool:
    if outcome.accepted_by is None:
        return False
    if outcome.bridged is not None:
        return outcome.bridged
    # Without DialBridged, an accepted leg that completed was connected: the
    # whisper only ends without a hangup after a 1 was pressed.
    return outcome.dial_status in ("completed", "answered")


def tier_failure_reason(outcome: DialOutcome, ring_seconds: int) -> str:
    if outcome.accepted_by is not None:
        return f"{outcome.accepted_by} pressed 1 but the call was not bridged ({outcome.dial_status})"
    template = DIAL_STATUS_REASONS.get(outcome.dial_status,
                                       f"the dial ended with {outcome.dial_status!r}")
    return template.format(ring=ring_seconds)


def after_dial(outcome: DialOutcome, *, tier: int, tier_count: int, deadline_passed: bool,
               ring_seconds: int) -> NextStep:
    if was_connected(outcome):
        return NextStep("connected", f"{outcome.accepted_by} accepted and was connected")
    failed = tier_failure_reason(outcome, ring_seconds)
    if outcome.caller_status in CALLER_GONE:
        return NextStep("caller_gone", f"the caller hung up ({failed})")
    if deadline_passed:
        return NextStep("voicemail", f"{failed}; the call's deadline has passed")
    if tier + 1 < tier_count:
        return NextStep("dial", f"{failed}; trying tier {tier + 2}", tier=tier + 1)
    return NextStep("voicemail", f"{failed}; every tier has been tried")


def menu_step(chosen: bool, tries: int) -> Literal["chosen", "repeat", "fall_through"]:
    """No input or an invalid one repeats the menu once, then falls through."""
    if chosen:
        return "chosen"
    return "repeat" if tries < 1 else "fall_through"


def spoken_number(number: str) -> str | None:
    """+16195550142 -> '6 1 9, 5 5 5, 0 1 4 2' so text-to-speech reads
    digits; None for a caller with no number."""
    digits = number.lstrip("+")
    if not digits.isdigit():
        return None
    if number.startswith("+1") and len(digits) == 11:
        digits = digits[1:]
        groups = [digits[:3], digits[3:6], digits[6:]]
    else:
        groups = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    return ", ".join(" ".join(group) for group in groups if group)
