"""What a text becomes when the store cannot take it."""

from __future__ import annotations

import logging
from datetime import datetime

from ..phone import display
from ..roster import Roster
from .commands import customer_keyword
from .inbound import Inbound
from .paging import tier_of_plan
from .tiers import tier_responders
from .wording import message, names, split_sms

log = logging.getLogger(__name__)


def without_store(roster: Roster, text: Inbound, now: datetime) -> list[tuple[str | None, str]]:
    """The messages of the webhook's TwiML answer as (to, body), `to` None
    for the sender. Twilio does not retry a webhook answered 200, so this
    answer is the text's only way on. A customer's text goes straight to
    the responders the schedules choose (overrides live in the store, so
    they are not known) and the customer gets the usual acknowledgement; a
    responder learns that their text was not processed. Nothing is recorded."""
    config, line = roster.config, text.line
    if config.responder_by_phone(line, text.sender) is not None:
        return [(None, message(line, "reply_unrecorded"))]
    if customer_keyword(text.body) in ("opt_out", "opt_in"):
        return []  # Twilio itself enforces and confirms STOP and START
    try:
        plan = roster.plan_without_store(line, now)
        is_open, (_, paged) = plan.open, tier_of_plan(config, line, plan)
    except Exception:  # the schedules failing too must not stop the text
        log.exception("no plan for a text the store could not take; paging the first tier")
        is_open, paged = True, tier_responders(config, line, 0)
    page = message(line, "forward_unrecorded", customer=display(text.sender), body=text.body,
                   media=list(text.media))
    messages: list[tuple[str | None, str]] = [
        (responder.phone, part) for responder in paged for part in split_sms(page)]
    messages.append((None, message(line, "ack" if is_open else "ack_after_hours",
                                   responder=names(paged))))
    return messages
