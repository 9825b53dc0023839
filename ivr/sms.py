"""Texts to the line: POST /sms/incoming (pasted into the Twilio console) and
POST /sms/status (the StatusCallback of every message the service sends)."""

from __future__ import annotations

import logging

from quart import Blueprint, Response
from werkzeug.datastructures import MultiDict

from .config import Line
from .decisions import Channel, Decision, DecisionKind
from .phone import mask, try_normalise
from .routing import acknowledgement, forward_pages
from .services import Services
from .store import Tx
from .twiml import render, twiml_response, twiml_text
from .webhooks import twilio_webhook

log = logging.getLogger(__name__)

blueprint = Blueprint("sms", __name__)

MAX_MEDIA = 10  # Twilio delivers at most 10 media items per message
FAILED_DELIVERY = {"failed", "undelivered"}


def _empty_reply(_: Services, __: MultiDict[str, str]) -> Response:
    # Twilio shows the sender nothing for an empty <Response/>; better than an error text.
    return twiml_response("sms_reply.xml", message=None)


def media_urls(form: MultiDict[str, str]) -> list[str]:
    try:
        count = min(int(form.get("NumMedia", "0")), MAX_MEDIA)
    except ValueError:
        count = 0
    urls = (form.get(f"MediaUrl{i}", "") for i in range(max(count, 0)))
    return [url for url in urls if url.startswith(("https://", "http://"))]


@blueprint.post("/sms/incoming")
@twilio_webhook(Channel.SMS, on_error=_empty_reply)
async def incoming(svc: Services, form: MultiDict[str, str]) -> Response:
    message_sid = form.get("MessageSid") or form.get("SmsSid") or ""
    to = try_normalise(form.get("To"))
    line = svc.config.line_for_number(to)
    sender = try_normalise(form.get("From")) or (form.get("From") or "").strip()
    if line is None:
        await svc.store.write(lambda tx: tx.decide(Decision(
            DecisionKind.UNKNOWN_LINE, Channel.SMS, sid=message_sid or None,
            reason=f"no line is configured for To={mask(to)}; nothing forwarded")))
        log.warning("text to an unknown line to=%s sid=%s", mask(to), message_sid)
        return twiml_response("sms_reply.xml", message=None)
    if not message_sid or not sender:
        log.warning("text without MessageSid or From ignored line=%s", line.id)
        return twiml_response("sms_reply.xml", message=None)

    body = form.get("Body", "")
    media = media_urls(form)

    async def handle(tx: Tx) -> str:
        stored = await tx.inbound_reply(message_sid)
        if stored is not None:
            await tx.decide(Decision(DecisionKind.DUPLICATE_WEBHOOK, Channel.SMS,
                                     line_id=line.id, sid=message_sid,
                                     reason="Twilio retried a text already handled; "
                                            "answered as before, nothing sent again"))
            return stored
        responder = svc.config.responder_by_phone(line, sender)
        if responder is not None:
            reply = await _responder_text(tx, line, responder.id, message_sid)
            conversation_id = None
        else:
            reply, conversation_id = await _customer_text(svc, tx, line, sender, message_sid,
                                                          body, media)
        await tx.record_inbound(message_sid, line.id, sender, conversation_id, body, media, reply)
        return reply

    reply = await svc.store.write(handle)
    log.info("text handled line=%s sid=%s from=%s", line.id, message_sid, mask(sender))
    return twiml_text(reply)


async def _customer_text(svc: Services, tx: Tx, line: Line, customer: str, message_sid: str,
                         body: str, media: list[str]) -> tuple[str, int]:
    config = svc.config
    conversation = await tx.open_conversation_for(line.id, customer)
    is_new = conversation is None
    if conversation is None:
        conversation = await tx.open_conversation(line.id, customer, origin="sms")
        await tx.decide(Decision(DecisionKind.CONVERSATION_OPENED, Channel.SMS, line_id=line.id,
                                 sid=message_sid, conversation_id=conversation.id, tier=0,
                                 reason=f"first text from {mask(customer)} with no open "
                                        f"conversation; code #{conversation.code}"))
    pages = forward_pages(config, line, code=conversation.code, tier=conversation.tier,
                          customer=customer, body=body, media_urls=media,
                          owner=conversation.owner)
    kind = DecisionKind.MESSAGE_FORWARDED if is_new else DecisionKind.FOLLOW_UP_FORWARDED
    for page in pages:
        why = (f"{conversation.owner} owns #{conversation.code}" if conversation.owner
               else f"tier {page.tier + 1} of {len(line.tiers)} is paged until someone ACKs")
        decision_id = await tx.decide(Decision(kind, Channel.SMS, line_id=line.id,
                                               sid=message_sid, conversation_id=conversation.id,
                                               tier=page.tier, responder_id=page.responder.id,
                                               reason=why))
        await tx.enqueue_sms(decision_id, line.id, conversation.id, to_number=page.responder.phone,
                             from_number=line.number, body=page.body, media_urls=page.media_urls)
    message = None
    if is_new:
        message = acknowledgement(config, line, conversation.tier)
        await tx.decide(Decision(DecisionKind.CUSTOMER_ACKNOWLEDGED, Channel.SMS,
                                 line_id=line.id, sid=message_sid,
                                 conversation_id=conversation.id,
                                 reason="a new conversation gets the line's ack template"))
    return render("sms_reply.xml", message=message), conversation.id


async def _responder_text(tx: Tx, line: Line, responder_id: str, message_sid: str) -> str:
    await tx.decide(Decision(DecisionKind.RESPONDER_MESSAGE, Channel.SMS, line_id=line.id,
                             sid=message_sid, responder_id=responder_id,
                             reason="a responder texted the line; it is not forwarded to "
                                    "customers as a new conversation"))
    return render("sms_reply.xml", message=None)


@blueprint.post("/sms/status")
@twilio_webhook(Channel.SMS, on_error=_empty_reply)
async def status(svc: Services, form: MultiDict[str, str]) -> Response:
    message_sid = form.get("MessageSid") or form.get("SmsSid") or ""
    message_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    error_code = form.get("ErrorCode") or None
    if not message_sid or not message_status:
        return twiml_response("sms_reply.xml", message=None)

    async def record(tx: Tx) -> None:
        row = await tx.record_delivery_status(message_sid, message_status, error_code)
        if row is not None and message_status in FAILED_DELIVERY:
            await tx.decide(Decision(
                DecisionKind.DELIVERY_FAILED, Channel.SMS, line_id=row.line_id,
                sid=message_sid, conversation_id=row.conversation_id,
                reason=f"Twilio reports {message_status} (ErrorCode {error_code or 'none'}) "
                       f"for the text to {mask(row.to_number)}"))

    await svc.store.write(record)
    log.info("delivery status sid=%s status=%s error=%s", message_sid, message_status,
             error_code or "-")
    return twiml_response("sms_reply.xml", message=None)
