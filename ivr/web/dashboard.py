"""The operators' dashboard: open conversations and recent calls, each
with its decision trail; close or hand over; block and unblock numbers.

Server-rendered with Jinja; live through Server-Sent Events that say
"something changed" (each worker polls the store, so a change made by any
worker reaches every browser) after which the page fetches the fresh HTML.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from datetime import datetime
from hashlib import sha256
from typing import Any

from quart import Response, abort, current_app, redirect, render_template, request, url_for

from ..blocked_numbers import (FROM_DASHBOARD, BlockRefused, ShownBlock, all_blocks,
                               operator_block, operator_unblock, typed_line, typed_number,
                               where)
from ..bookings import booking_tag
from ..clock import from_text
from ..config import Config
from ..conversations.operator import operator_close, operator_hand_over
from ..hooks.shown import failed_hook_rows
from ..ownership import how_owned
from ..phone import mask
from ..roles import Action
from ..services import Services, current_services
from ..shown_times import day_and_time, line_zone, time_of_day
from ..store import DecisionRow, Tx
from ..unreachable_numbers import (UnreachableNumber, operator_clear_unreachable,
                                   unreachable_numbers)
from .access import allowed_to, current_operator
from .blueprint import blueprint
from .login import check_csrf, csrf_token, login_required, session_id_hash

EVENT_POLL_SECONDS = 1.0
EVENT_STREAM_SECONDS = 300          # browsers reconnect; a stream never lives for ever
RECENT_CALLS = 20


async def _live_context(svc: Services) -> dict[str, Any]:
    now = svc.clock.now()
    config = svc.config

    def gather(tx):
        conversations = tx.open_conversations()
        trails = {c.id: tx.recent_decisions(limit=50, conversation_id=c.id)
                  for c in conversations}
        owned = tx.open_ownerships()
        calls = tx.recent_calls(RECENT_CALLS)
        call_trails = {c.call_sid: tx.recent_decisions(limit=50, sid=c.call_sid)
                       for c in calls}
        return (conversations, trails, owned, calls, call_trails, tx.latest_decision_id(),
                unreachable_numbers(tx, config), all_blocks(tx, config))

    (conversations, trails, owned, calls, call_trails, version, marked,
     blocked) = await svc.store.read(gather)
    rows = []
    for c in conversations:
        line = config.lines.get(c.line_id)
        owner = config.responders.get(c.owner or "")
        rows.append({
            "id": c.id, "code": c.code, "line": line.name if line else c.line_id,
            "line_code": line.code if line else c.line_id, "customer": mask(c.customer),
            "origin": c.origin, "owner": owner.name if owner else None,
            "waiting": _age(now, from_text(c.opened_at)) if not c.acked_at else None,
            **how_owned(owned.get(c.id), c, _age),
            "tier": c.tier + 1, "trail": _trail(config, trails[c.id]),
            "responders": [config.responders[rid] for rid in (line.responder_ids if line else ())],
            "booking": _booking_row(c, line_zone(config, c.line_id)),
        })
    call_rows = [{
        "sid": c.call_sid, "line": config.lines[c.line_id].name if c.line_id in config.lines
        else c.line_id, "caller": mask(c.caller), "status": c.status,
        "started": _age(now, from_text(c.started_at)),
        "connected_to": config.responders[c.connected_to].name
        if c.connected_to in config.responders else None,
        "trail": _trail(config, call_trails[c.call_sid])} for c in calls]
    return {"conversations": rows, "calls": call_rows,
            "unreachable": _unreachable_rows(config, marked),
            "blocked": _blocked_rows(config, blocked), "version": version,
            "lines": list(config.lines.values()), "csrf_token": csrf_token(), "now": now,
            "operator": current_operator(), "failed_hooks": await failed_hook_rows(svc)}


def _booking_row(conversation: Any, zone: Any) -> dict[str, str] | None:
    tag = booking_tag(conversation)
    return tag and {"summary": tag["summary"], "start": day_and_time(tag["start"], zone)}


def _unreachable_rows(config: Config, marked: list[UnreachableNumber]) -> list[dict[str, Any]]:
    secret = current_app.secret_key
    return [{"key": _number_key(secret, n.number), "whose": n.whose, "number": n.masked,
             "responder": n.responder is not None,
             "error_code": n.error_code, "reason": n.reason,
             "since": day_and_time(n.marked_at, line_zone(config))} for n in marked]


def _blocked_rows(config: Config, blocked: list[ShownBlock]) -> list[dict[str, Any]]:
    secret = current_app.secret_key
    return [{"key": _number_key(secret, f"{b.line_id} {b.number}"), "number": b.masked,
             "line": where(config, b.line_id), "blocked_by": b.blocked_by, "reason": b.reason,
             "since": day_and_time(b.blocked_at, line_zone(config, b.line_id))
             if b.blocked_at else None,
             "config_key": b.config_key, "config_path": config.path} for b in blocked]


def _trail(config: Config, decisions: list[DecisionRow]) -> list[dict[str, Any]]:
    """Each decision with its time in its line's zone, as the operator reads it."""
    return [{"time": time_of_day(d.at, line_zone(config, d.line_id)), "kind": d.kind,
             "responder_id": d.responder_id, "reason": d.reason} for d in decisions]


def _number_key(secret: Any, number: str) -> str:
    """What the page names a marked number by. The page shows numbers masked,
    so its forms must not carry them whole either; keyed by the session key
    (`secret`), the name cannot be turned back into the number, and every
    worker agrees on it."""
    return hmac.new(str(secret).encode(), number.encode(), sha256).hexdigest()[:24]


def _age(now: datetime, then: datetime) -> str:
    seconds = max(int((now - then).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


@blueprint.get("/")
@login_required
async def index() -> Any:
    return await render_template("dashboard.html", **await _live_context(current_services()))


@blueprint.get("/live")
@login_required
async def live() -> Any:
    return await render_template("_live.html", **await _live_context(current_services()))


@blueprint.get("/events")
@login_required
async def events() -> Response:
    """Server-Sent Events: 'changed' whenever the decision log grows, for as
    long as the login it was opened with lasts."""
    svc = current_services()
    id_hash = session_id_hash()

    def look(tx):
        return tx.operator_session_live(id_hash), tx.latest_decision_id()

    async def stream():
        deadline = time.monotonic() + EVENT_STREAM_SECONDS
        # Where the log stands is read before the browser hears anything:
        # read after, a change made as the stream opened was taken for the
        # starting point and never announced.
        live, seen = await svc.store.read(look)
        if not live:
            return
        yield b"retry: 2000\n\n"
        while time.monotonic() < deadline:
            await asyncio.sleep(EVENT_POLL_SECONDS)
            live, version = await svc.store.read(look)
            if not live:
                return          # logged out (from any worker) or expired: the stream ends
            if version != seen:
                yield f"event: changed\ndata: {version}\n\n".encode()
                seen = version
            else:
                yield b": keep-alive\n\n"

    response = Response(stream(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    response.timeout = None
    return response


@blueprint.post("/conversations/<int:conversation_id>/close")
@login_required
@allowed_to(Action.ACT)
async def close(conversation_id: int) -> Any:
    await check_csrf()
    svc = current_services()
    who = current_operator().name   # read here: the transaction runs in the store's thread
    await svc.store.write(lambda tx: operator_close(tx, svc.roster, conversation_id, who))
    return redirect(url_for("dashboard.index"))


@blueprint.post("/conversations/<int:conversation_id>/hand-over")
@login_required
@allowed_to(Action.ACT)
async def hand_over(conversation_id: int) -> Any:
    await check_csrf()
    svc = current_services()
    who = current_operator().name   # read here: the transaction runs in the store's thread
    responder_id = (await request.form).get("responder", "")
    done = await svc.store.write(lambda tx: operator_hand_over(
        tx, svc.roster, conversation_id, responder_id, who))
    if not done:
        abort(400, "that conversation or responder cannot take a hand-over")
    return redirect(url_for("dashboard.index"))


@blueprint.post("/unreachable-numbers/clear")
@login_required
@allowed_to(Action.ACT)
async def clear_unreachable() -> Any:
    """The "try again" button: the number is texted again from now on."""
    await check_csrf()
    svc = current_services()
    who = current_operator().name   # read here: the transaction runs in the store's thread
    key = (await request.form).get("number", "")
    secret = current_app.secret_key   # read here: the transaction runs in the store's thread

    def clear(tx: Tx) -> bool:
        number = next((n for n, *_ in tx.unreachable_numbers()
                       if hmac.compare_digest(_number_key(secret, n), key)), None)
        return number is not None and operator_clear_unreachable(tx, svc.config, number,
                                                           who)

    if not await svc.store.write(clear):
        abort(400, "that number is not marked (any more); reload the page")
    return redirect(url_for("dashboard.index"))


@blueprint.post("/blocked-numbers/block")
@login_required
@allowed_to(Action.ACT)
async def block_number() -> Any:
    """The "Block" form: a number typed whole, on one line or every line."""
    await check_csrf()
    svc = current_services()
    who = current_operator().name   # read here: the transaction runs in the store's thread
    form = await request.form
    try:
        number = typed_number(form.get("number", ""))
        line_id = typed_line(svc.config, form.get("line", ""))
        await svc.store.write(lambda tx: operator_block(
            tx, svc.config, number, line_id, form.get("reason", ""), FROM_DASHBOARD, who))
    except BlockRefused as exc:
        abort(400, str(exc))
    return redirect(url_for("dashboard.index"))


@blueprint.post("/blocked-numbers/unblock")
@login_required
@allowed_to(Action.ACT)
async def unblock_number() -> Any:
    """The "Unblock" button of a stored block. A block in the config has
    none: only editing the config lifts it, which a posted form is told."""
    await check_csrf()
    svc = current_services()
    who = current_operator().name   # read here: the transaction runs in the store's thread
    key = (await request.form).get("block", "")
    secret = current_app.secret_key   # read here: the transaction runs in the store's thread

    def unblock(tx: Tx) -> None:
        # A stored block first: the config may also list that number on that
        # line (added after the block), and then both rows have this key.
        blocks = sorted(all_blocks(tx, svc.config), key=lambda b: b.config_key is not None)
        found = next((b for b in blocks if hmac.compare_digest(
            _number_key(secret, f"{b.line_id} {b.number}"), key)), None)
        if found is None:
            raise BlockRefused("that number is not blocked (any more). Fix: reload the page")
        if found.config_key:
            raise BlockRefused(f"{found.masked} is blocked in the config. Fix: remove it from "
                               f"{found.config_key} in {svc.config.path}, then restart the "
                               "service")
        operator_unblock(tx, svc.config, found.number, found.line_id, FROM_DASHBOARD, who)

    try:
        await svc.store.write(unblock)
    except BlockRefused as exc:
        abort(400, str(exc))
    return redirect(url_for("dashboard.index"))
