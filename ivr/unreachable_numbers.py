"""Numbers Twilio says can never take a text, as an operator sees them
(the dashboard and `ivr check`): whose phone each is, since when, and
clearing a mark by hand so the number is texted again.

Marking is in conversations/delivery.py; a text from the number or a
delivered text clears the mark by itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .clock import from_text
from .config import Config, Responder
from .decisions import Channel, DecisionKind, decision
from .phone import mask
from .store import Tx


@dataclass(frozen=True)
class UnreachableNumber:
    number: str                 # E.164: never shown or logged whole
    responder: Responder | None  # None: a customer's number
    error_code: str | None
    reason: str
    marked_at: datetime

    @property
    def masked(self) -> str:
        return mask(self.number)

    @property
    def whose(self) -> str:
        return f"{self.responder.name}'s phone" if self.responder else "a customer's phone"


def responder_with_phone(config: Config, number: str) -> Responder | None:
    return next((r for r in config.responders.values() if r.phone == number), None)


def unreachable_numbers(tx: Tx, config: Config) -> list[UnreachableNumber]:
    return [UnreachableNumber(number, responder_with_phone(config, number), code, reason,
                              from_text(marked_at))
            for number, code, reason, marked_at in tx.unreachable_numbers()]


def operator_clear_unreachable(tx: Tx, config: Config, number: str, operator: str) -> bool:
    """The mark taken off `number`, logged; False if it was not marked."""
    if not tx.clear_unreachable(number):
        return False
    responder = responder_with_phone(config, number)
    who = f"{responder.name}'s number" if responder else "the customer's number"
    tx.decide(decision(
        DecisionKind.NUMBER_CLEARED, Channel.SMS,
        f"{operator} cleared the mark on {who} {mask(number)} from the dashboard: "
        f"texts to it are tried again",
        responder_id=responder.id if responder else None))
    return True
