"""POST /sms/incoming (pasted into the Twilio console) and POST /sms/status
(the StatusCallback of every message the service sends)."""

from __future__ import annotations

import logging

from quart import Blueprint, Response
from werkzeug.datastructures import MultiDict

from ..decisions import Channel, Decision, DecisionKind
from ..logs import event
from ..phone import mask, try_normalise
from ..services import Services
from ..twiml import twiml_text
from ..webhooks import twilio_webhook
from .inbound import inbound, message_sid, record_delivery
from .keyword_reply import answer_text
from .unrecorded import deliver_unrecorded, empty_reply

log = logging.getLogger(__name__)

blueprint = Blueprint("sms", __name__)


@blueprint.post("/sms/incoming")
@twilio_webhook(Channel.SMS, on_error=deliver_unrecorded)
async def incoming(svc: Services, form: MultiDict[str, str]) -> Response:
    sid = message_sid(form)
    to = try_normalise(form.get("To"))
    line = svc.config.line_for_number(to)
    sender = try_normalise(form.get("From"))
    if line is None:
        await svc.store.write(lambda tx: tx.decide(Decision(
            DecisionKind.UNKNOWN_LINE, Channel.SMS, sid=sid or None,
            reason=f"no line is configured for To={mask(to)}; nothing forwarded")))
        event(log, logging.WARNING, "text to an unknown line", sid=sid, to=mask(to))
        return empty_reply(svc, form)
    if not sid or not sender:
        # Nobody can be answered at a sender that is not a phone number.
        await svc.store.write(lambda tx: tx.decide(Decision(
            DecisionKind.INVALID_SENDER, Channel.SMS, line_id=line.id, sid=sid or None,
            reason="a text without a MessageSid or a phone number in From; nothing forwarded")))
        event(log, logging.WARNING, "text without MessageSid or a phone number in From ignored",
              line=line.id, sid=sid or None)
        return empty_reply(svc, form)
    own = svc.config.line_for_number(sender)
    if own is not None:
        # A line's own number is nobody to answer: a conversation with it
        # would have every reply sent To = From = the line (Twilio: 21266).
        await svc.store.write(lambda tx: tx.decide(Decision(
            DecisionKind.INVALID_SENDER, Channel.SMS, line_id=line.id, sid=sid,
            reason=f"From is the number of line {own.id}, not a customer; nothing "
                   "forwarded, nothing sent")))
        event(log, logging.WARNING, "text from a line's own number ignored", line=line.id,
              sid=sid, **{"from": mask(sender)})
        return empty_reply(svc, form)
    text = inbound(line, sender, form)
    document = await answer_text(svc, text)
    event(log, logging.INFO, "text handled", line=line.id, sid=sid, **{"from": mask(sender)})
    return twiml_text(document)


@blueprint.post("/sms/status")
@twilio_webhook(Channel.SMS, on_error=empty_reply)
async def status(svc: Services, form: MultiDict[str, str]) -> Response:
    sid = message_sid(form)
    message_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    error_code = form.get("ErrorCode") or None
    if sid and message_status:
        await svc.store.write(
            lambda tx: record_delivery(tx, svc.roster, sid, message_status, error_code))
        # From: through a Messaging Service, the sender Twilio picked from its
        # pool, known only from here on (the send was answered `accepted`).
        event(log, logging.INFO, "delivery status", sid=sid, status=message_status,
              error_code=error_code, **{"from": mask(form.get("From"))})
    return empty_reply(svc, form)
