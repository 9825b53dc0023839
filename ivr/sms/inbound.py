"""A text to the line, read from Twilio's form and handed to the engine:
a retried webhook gets its first answer; a responder's text is a command
or a reply, anyone else's is a customer's."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from ..answer_once import answer_once
from ..config import Line
from ..conversations.auto_replied import auto_replied
from ..conversations.blocking import drop_if_blocked
from ..conversations.customer_text import customer_text
from ..conversations.delivery import delivery_reported
from ..conversations.inbound import Inbound
from ..conversations.responder_text import responder_text
from ..conversations.wording import MMS_MAX_MEDIA
from ..decisions import Channel, Decision, DecisionKind
from ..line_integrations import AutoReply
from ..roster import Roster
from ..store import Tx
from ..twiml import render

# An auto-reply rule, and its endpoint's reply or why there is none.
Asked = tuple[AutoReply, str | None, str | None]


def message_sid(form: MultiDict[str, str]) -> str:
    return form.get("MessageSid") or form.get("SmsSid") or ""


def media_urls(form: MultiDict[str, str]) -> list[str]:
    try:
        count = min(int(form.get("NumMedia", "0")), MMS_MAX_MEDIA)
    except ValueError:
        count = 0
    urls = (form.get(f"MediaUrl{i}", "") for i in range(max(count, 0)))
    return [url for url in urls if url.startswith(("https://", "http://"))]


def inbound(line: Line, sender: str, form: MultiDict[str, str]) -> Inbound:
    return Inbound(line=line, sender=sender, message_sid=message_sid(form),
                   body=form.get("Body", ""), media=tuple(media_urls(form)))


def handle_text(tx: Tx, roster: Roster, text: Inbound, asked: Asked | None = None) -> str:
    """The TwiML answer to a text, stored with it for a retry. `asked`: the
    line's auto-reply endpoint was asked about it, and what it answered."""
    def build() -> str:
        tx.record_inbound(text.message_sid, text.line.id, text.sender, text.body, text.media)
        responder = roster.config.responder_by_phone(text.line, text.sender)
        if asked is not None and auto_replied(tx, text, *asked):
            reply = None
        elif responder is not None:
            reply = responder_text(tx, roster, text, responder)
        elif drop_if_blocked(tx, text.line, text.sender, Channel.SMS, text.message_sid):
            reply = None
        else:
            reply = customer_text(tx, roster, text)
        return render("sms_reply.xml", message=reply)

    duplicate = Decision(DecisionKind.DUPLICATE_WEBHOOK, Channel.SMS, line_id=text.line.id,
                         sid=text.message_sid,
                         reason="Twilio retried a text already handled; answered as before, "
                                "nothing sent again")
    return answer_once(tx, tx.inbound_reply(text.message_sid), duplicate, build,
                       lambda document: tx.set_inbound_reply(text.message_sid, document))


def record_delivery(tx: Tx, roster: Roster, sid: str, status: str,
                    error_code: str | None) -> None:
    """A status callback for a text we sent."""
    sent = tx.record_delivery_status(sid, status, error_code)
    # None: not (yet) ours. A callback can beat the outbox's record of the
    # send; the outbox reads the stored event when it records the send.
    if sent is not None:
        delivery_reported(tx, roster, sent, sid, status, error_code)
