"""The webhooks of a phone page (conversations/phone_pages.py): Twilio
asks what to say when the responder answers, posts the key they press,
and posts the call's end. Each answers valid TwiML, whatever fails."""

from __future__ import annotations

from quart import Response, request
from werkzeug.datastructures import MultiDict

from ..conversations import phone_pages
from ..decisions import Channel
from ..phone_pager import PAGE_CALL_KEY_PATH, PAGE_CALL_PATH, PAGE_CALL_STATUS_PATH
from ..services import Services
from ..speech import unknown_line
from ..twiml import render, twiml_text
from ..webhooks import twilio_webhook
from .answers import nothing, say
from .routes import blueprint


def _page_id() -> int:
    try:
        return int(request.args.get("page", ""))
    except ValueError:
        return -1


def _cannot_go_on(svc: Services, form: MultiDict[str, str]) -> Response:
    # Whatever failed, the responder hears an end, not Twilio's error; the
    # text page stands and the cascade goes on at its time.
    return twiml_text(say(unknown_line("page_call_error"), hangup=True))


def _spoken(svc: Services, page_id: int, answer: phone_pages.Answer) -> Response:
    if answer.keys is None:
        return twiml_text(say(answer.words, hangup=True))
    return twiml_text(render("voice_page_call.xml", prompt=answer.words, keys=answer.keys,
                             action=svc.callback_url(PAGE_CALL_KEY_PATH, page=page_id)))


@blueprint.post(PAGE_CALL_PATH)
@twilio_webhook(Channel.VOICE, on_error=_cannot_go_on)
async def page_call(svc: Services, form: MultiDict[str, str]) -> Response:
    page_id = _page_id()
    answer = await svc.store.read(
        lambda tx: phone_pages.what_they_wrote(tx, svc.config, page_id))
    return _spoken(svc, page_id, answer)


@blueprint.post(PAGE_CALL_KEY_PATH)
@twilio_webhook(Channel.VOICE, on_error=_cannot_go_on)
async def page_call_key(svc: Services, form: MultiDict[str, str]) -> Response:
    page_id = _page_id()
    digits = (form.get("Digits") or "").strip()[:1]
    answer = await svc.store.write(lambda tx: phone_pages.key_pressed(
        tx, svc.roster, page_id, digits, form.get("CallSid")))
    return _spoken(svc, page_id, answer)


@blueprint.post(PAGE_CALL_STATUS_PATH)
@twilio_webhook(Channel.VOICE, on_error=lambda svc, form: nothing())
async def page_call_status(svc: Services, form: MultiDict[str, str]) -> Response:
    page_id = _page_id()
    status = (form.get("CallStatus") or "").lower()
    if status in ("completed", "busy", "no-answer", "failed", "canceled"):
        await svc.store.write(lambda tx: phone_pages.call_ended(
            tx, svc.roster, page_id, status, form.get("CallSid")))
    return nothing()
