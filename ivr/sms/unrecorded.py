"""/sms/incoming failed (the store, most likely): the text is carried on
by the TwiML answer itself, <Message to=...> for each responder."""

from __future__ import annotations

import asyncio
import logging

from quart import Response
from werkzeug.datastructures import MultiDict

from ..conversations.unrecorded import without_store
from ..logs import event
from ..phone import mask, try_normalise
from ..services import Services
from ..twiml import twiml_response, twiml_text
from .inbound import inbound, message_sid

log = logging.getLogger(__name__)

# How long a failed text's answer waits to learn whether it was stored after all.
STORED_ANSWER_SECONDS = 2


def empty_reply(_: Services, __: MultiDict[str, str]) -> Response:
    # Twilio shows the sender nothing for an empty <Response/>; better than an error text.
    return twiml_response("sms_reply.xml", message=None)


async def deliver_unrecorded(svc: Services, form: MultiDict[str, str]) -> Response:
    line = svc.config.line_for_number(try_normalise(form.get("To")))
    sender = try_normalise(form.get("From"))
    sid = message_sid(form)
    if line is None or sender is None:
        return empty_reply(svc, form)
    if svc.config.line_for_number(sender) is not None:
        # Never a <Message> to a line's own number, nor a page about it.
        event(log, logging.WARNING, "text from a line's own number ignored", line=line.id,
              sid=sid or None, **{"from": mask(sender)})
        return empty_reply(svc, form)
    if sid:
        # What failed may have come after the commit: then the text is on its
        # way already, and its stored answer is the one to give.
        try:
            async with asyncio.timeout(STORED_ANSWER_SECONDS):
                stored = await svc.store.read(lambda tx: tx.inbound_reply(sid))
        except Exception:
            stored = None
        if stored is not None:
            return twiml_text(stored)
    if sender in line.policy.blocked and svc.config.responder_by_phone(line, sender) is None:
        # Only the config's blocklist is known here. The store's blocks (a
        # responder's BLOCK, the dashboard's, `ivr block`) are in the store
        # that just failed, so a number blocked there is carried on like any
        # other's until the store is back.
        event(log, logging.WARNING, "text from a number blocked in the config not recorded; "
              "nobody paged, no reply", line=line.id, sid=sid or None,
              **{"from": mask(sender)})
        return empty_reply(svc, form)
    text = inbound(line, sender, form)
    messages = without_store(svc.roster, text, svc.clock.now())
    event(log, logging.ERROR, "text not recorded; its TwiML answer carries it instead",
          line=line.id, sid=text.message_sid, **{"from": mask(sender)},
          to=",".join(mask(to) for to, _ in messages if to) or "-")
    return twiml_response("sms_unrecorded.xml", messages=messages)
