"""A voicemail's recording and an MMS's media, fetched from Twilio for a
logged-in operator and streamed through. Twilio needs the account's
credentials for them once "HTTP auth on media URLs" is on; the browser
never sees those, nor Twilio's URL. Only what the store holds is fetched:
a recording of a stored voicemail, a media item of a stored text, by its
place in that text (ivr/twilio_media.py says which URLs qualify), so the
route is no open proxy."""

from __future__ import annotations

import logging
from typing import Any

from quart import Response

from ..gateway import SendError
from ..logs import event
from ..services import current_services
from ..twilio_media import media_path, recording_path, shown_type
from .blueprint import blueprint
from .login import login_required

log = logging.getLogger(__name__)


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status, mimetype="text/plain")


async def _stream(path: str | None, what: str) -> Response:
    if path is None:
        return _plain(404, f"that {what} is not one Twilio keeps for this account")
    svc = current_services()
    try:
        media = await svc.gateway.open_media(path)
    except SendError as exc:
        event(log, logging.WARNING, "media not fetched", what=what, error=str(exc))
        return _plain(502, f"Twilio could not be reached for the {what}; try again")
    if media.status != 200:
        await media.close()
        event(log, logging.WARNING, "media not fetched", what=what, status=media.status)
        if media.status == 404:
            return _plain(404, f"Twilio no longer has this {what} (deleted?)")
        return _plain(502, f"Twilio answered HTTP {media.status} for the {what}")
    content_type, inline = shown_type(media.content_type)
    response = Response(media.chunks, 200, content_type=content_type)
    if media.length is not None:
        response.headers["Content-Length"] = str(media.length)
    response.headers["Content-Disposition"] = "inline" if inline else "attachment"
    response.timeout = None
    return response


@blueprint.get("/recordings/<recording_sid>")
@login_required
async def recording(recording_sid: str) -> Any:
    svc = current_services()
    voicemail = await svc.store.read(lambda tx: tx.voicemail(recording_sid))
    if voicemail is None or not voicemail.recording_url:
        return _plain(404, "no such voicemail (or retention has removed its recording)")
    return await _stream(recording_path(voicemail.recording_url, svc.gateway.account_sid),
                         "recording")


@blueprint.get("/media/in/<message_sid>/<int:index>")
@login_required
async def inbound_media(message_sid: str, index: int) -> Any:
    svc = current_services()
    urls = await svc.store.read(lambda tx: tx.inbound_media(message_sid))
    return await _media(urls, index)


@blueprint.get("/media/out/<int:outbox_id>/<int:index>")
@login_required
async def outbox_media(outbox_id: int, index: int) -> Any:
    svc = current_services()
    urls = await svc.store.read(lambda tx: tx.outbox_media(outbox_id))
    return await _media(urls, index)


async def _media(urls: tuple[str, ...], index: int) -> Response:
    if not 0 <= index < len(urls):
        return _plain(404, "no such media item")
    return await _stream(media_path(urls[index], current_services().gateway.account_sid),
                         "media item")
