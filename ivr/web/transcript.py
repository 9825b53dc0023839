"""A conversation's page: its transcript (every message both ways, media
and voicemails through the proxy) beside its decision trail. Open and
closed conversations alike; read only."""

from __future__ import annotations

from typing import Any

from quart import abort, render_template, url_for

from ..phone import mask
from ..services import current_services
from ..shown_times import day_and_time, line_zone
from .blueprint import blueprint
from .login import login_required
from .transcript_entries import ProxyUrls, transcript_entries


def _proxy_urls(account_sid: str) -> ProxyUrls:
    return ProxyUrls(
        inbound_media=lambda sid, i: url_for("dashboard.inbound_media", message_sid=sid,
                                             index=i),
        outbox_media=lambda oid, i: url_for("dashboard.outbox_media", outbox_id=oid, index=i),
        recording=lambda sid: url_for("dashboard.recording", recording_sid=sid),
        account_sid=account_sid)


@blueprint.get("/conversations/<int:conversation_id>")
@login_required
async def transcript(conversation_id: int) -> Any:
    return await render_template("transcript.html", **await _context(conversation_id))


@blueprint.get("/conversations/<int:conversation_id>/live")
@login_required
async def transcript_live(conversation_id: int) -> Any:
    """What the page's script fetches when the event stream says something changed."""
    return await render_template("_transcript.html", **await _context(conversation_id))


async def _context(conversation_id: int) -> dict[str, Any]:
    svc = current_services()
    config = svc.config
    found = await svc.store.read(lambda tx: tx.transcript(conversation_id))
    if found is None:
        abort(404, "no such conversation")
    c = found.conversation
    zone = line_zone(config, c.line_id)
    line = config.lines.get(c.line_id)
    owner = config.responders.get(c.owner or "")
    header = {
        "id": c.id, "code": c.code, "line": line.name if line else c.line_id,
        "line_code": line.code if line else c.line_id, "customer": mask(c.customer),
        "origin": c.origin, "status": c.status, "owner": owner.name if owner else c.owner,
        "opened": day_and_time(c.opened_at, zone),
        "closed": day_and_time(c.closed_at, zone) if c.closed_at else None,
        "redacted": c.redacted_at is not None}
    trail = [{"time": day_and_time(d.at, zone), "kind": d.kind,
              "responder_id": d.responder_id, "reason": d.reason} for d in found.trail]
    entries = transcript_entries(config, found, _proxy_urls(svc.gateway.account_sid))
    return {"conversation": header, "entries": entries, "trail": trail}
