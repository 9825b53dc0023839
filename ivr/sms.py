"""Texts to the line: POST /sms/incoming (pasted into the Twilio console) and
POST /sms/status (the StatusCallback of every message the service sends)."""

from __future__ import annotations

import asyncio
import logging

from quart import Blueprint, Response
from werkzeug.datastructures import MultiDict

from . import texts
from .config import Line
from .logs import event
from .decisions import Channel, Decision, DecisionKind
from .phone import mask, try_normalise
from .routing import MMS_MAX_MEDIA
from .services import Services
from .store import Tx
from .twiml import render, twiml_response, twiml_text
from .webhooks import twilio_webhook

log = logging.getLogger(__name__)

blueprint = Blueprint("sms", __name__)

# How long a failed text's answer waits to learn whether it was stored after all.
STORED_ANSWER_SECONDS = 2


def _message_sid(form: MultiDict[str, str]) -> str:
    return form.get("MessageSid") or form.get("SmsSid") or ""


def _inbound(line: Line, sender: str, form: MultiDict[str, str]) -> texts.Inbound:
    return texts.Inbound(line=line, sender=sender, message_sid=_message_sid(form),
                         body=form.get("Body", ""), media=tuple(media_urls(form)))


def _empty_reply(_: Services, __: MultiDict[str, str]) -> Response:
    # Twilio shows the sender nothing for an empty <Response/>; better than an error text.
    return twiml_response("sms_reply.xml", message=None)


async def _deliver_unrecorded(svc: Services, form: MultiDict[str, str]) -> Response:
    """/sms/incoming failed (the store, most likely): the text is carried
    on by the TwiML answer itself, <Message to=...> for each responder."""
    line = svc.config.line_for_number(try_normalise(form.get("To")))
    sender = try_normalise(form.get("From"))
    message_sid = _message_sid(form)
    if line is None or sender is None:
        return _empty_reply(svc, form)
    if message_sid:
        # What failed may have come after the commit: then the text is on its
        # way already, and its stored answer is the one to give.
        try:
            async with asyncio.timeout(STORED_ANSWER_SECONDS):
                stored = await svc.store.read(lambda tx: tx.inbound_reply(message_sid))
        except Exception:
            stored = None
        if stored is not None:
            return twiml_text(stored)
    text = _inbound(line, sender, form)
    messages = texts.without_store(svc.roster, text, svc.clock.now())
    event(log, logging.ERROR, "text not recorded; its TwiML answer carries it instead",
          line=line.id, sid=text.message_sid, **{"from": mask(sender)},
          to=",".join(mask(to) for to, _ in messages if to) or "-")
    return twiml_response("sms_unrecorded.xml", messages=messages)


def media_urls(form: MultiDict[str, str]) -> list[str]:
    try:
        count = min(int(form.get("NumMedia", "0")), MMS_MAX_MEDIA)
    except ValueError:
        count = 0
    urls = (form.get(f"MediaUrl{i}", "") for i in range(max(count, 0)))
    return [url for url in urls if url.startswith(("https://", "http://"))]


@blueprint.post("/sms/incoming")
@twilio_webhook(Channel.SMS, on_error=_deliver_unrecorded)
async def incoming(svc: Services, form: MultiDict[str, str]) -> Response:
    message_sid = _message_sid(form)
    to = try_normalise(form.get("To"))
    line = svc.config.line_for_number(to)
    sender = try_normalise(form.get("From"))
    if line is None:
        await svc.store.write(lambda tx: tx.decide(Decision(
            DecisionKind.UNKNOWN_LINE, Channel.SMS, sid=message_sid or None,
            reason=f"no line is configured for To={mask(to)}; nothing forwarded")))
        event(log, logging.WARNING, "text to an unknown line", sid=message_sid, to=mask(to))
        return twiml_response("sms_reply.xml", message=None)
    if not message_sid or not sender:
        # Nobody can be answered at a sender that is not a phone number.
        await svc.store.write(lambda tx: tx.decide(Decision(
            DecisionKind.INVALID_SENDER, Channel.SMS, line_id=line.id, sid=message_sid or None,
            reason="a text without a MessageSid or a phone number in From; nothing forwarded")))
        event(log, logging.WARNING, "text without MessageSid or a phone number in From ignored",
              line=line.id, sid=message_sid or None)
        return twiml_response("sms_reply.xml", message=None)

    text = _inbound(line, sender, form)

    def handle(tx: Tx) -> str:
        stored = tx.inbound_reply(message_sid)
        if stored is not None:
            tx.decide(Decision(DecisionKind.DUPLICATE_WEBHOOK, Channel.SMS,
                               line_id=line.id, sid=message_sid,
                               reason="Twilio retried a text already handled; "
                                            "answered as before, nothing sent again"))
            return stored
        tx.record_inbound(message_sid, line.id, sender, text.body, text.media)
        responder = svc.config.responder_by_phone(line, sender)
        if responder is not None:
            reply = texts.responder_text(tx, svc.roster, text, responder)
        else:
            reply = texts.customer_text(tx, svc.roster, text)
        document = render("sms_reply.xml", message=reply)
        tx.set_inbound_reply(message_sid, document)
        return document

    document = await svc.store.write(handle)
    event(log, logging.INFO, "text handled", line=line.id, sid=message_sid, **{"from": mask(sender)})
    return twiml_text(document)


@blueprint.post("/sms/status")
@twilio_webhook(Channel.SMS, on_error=_empty_reply)
async def status(svc: Services, form: MultiDict[str, str]) -> Response:
    message_sid = _message_sid(form)
    message_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    error_code = form.get("ErrorCode") or None
    if not message_sid or not message_status:
        return twiml_response("sms_reply.xml", message=None)

    def record(tx: Tx) -> None:
        sent = tx.record_delivery_status(message_sid, message_status, error_code)
        # None: not (yet) ours. A callback can beat the outbox's record of the
        # send; the outbox reads the stored event when it records the send.
        if sent is not None:
            texts.delivery_reported(tx, svc.roster, sent, message_sid, message_status,
                                    error_code)

    await svc.store.write(record)
    event(log, logging.INFO, "delivery status", sid=message_sid, status=message_status,
          error_code=error_code)
    return twiml_response("sms_reply.xml", message=None)
