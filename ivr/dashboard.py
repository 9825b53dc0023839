"""The operators' dashboard and /metrics.

Server-rendered with Jinja; live through Server-Sent Events that say
"something changed" (each worker polls the store, so a change made by any
worker reaches every browser) after which the page fetches the fresh HTML.
Behind a login: the operator password is kept only as a scrypt hash,
sessions are signed cookies, and every form carries a CSRF token.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import secrets as random
import time
from collections import defaultdict, deque
from datetime import datetime
from functools import wraps
from hashlib import sha256
from typing import Any, Awaitable, Callable

from quart import (Blueprint, Response, abort, current_app, redirect, render_template, request,
                   session, url_for)

from . import texts
from .clock import from_text
from .logs import event
from .passwords import verify_password
from .phone import mask
from .services import Services

log = logging.getLogger(__name__)

blueprint = Blueprint("dashboard", __name__, url_prefix="/dashboard")

OPERATOR = "operator"
LOGIN_FAILURES_ALLOWED = 5          # per address, per window, before logins are refused
LOGIN_FAILURE_WINDOW = 300
EVENT_POLL_SECONDS = 1.0
EVENT_STREAM_SECONDS = 300          # browsers reconnect; a stream never lives for ever
RECENT_CALLS = 20

def session_key(secret: str) -> str:
    """Cookie-signing key: derived from a secret the service already has, so
    every worker and every restart signs alike."""
    return hmac.new(secret.encode(), b"ivr dashboard sessions", sha256).hexdigest()


def _svc() -> Services:
    return current_app.extensions["ivr"]


def logged_in() -> bool:
    return session.get("operator") is True


def login_required(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _svc().secrets.operator_password_hash is None:
            return Response("The dashboard is off: set IVR_OPERATOR_PASSWORD (or "
                            "IVR_OPERATOR_PASSWORD_HASH) to turn it on.\n", 404,
                            mimetype="text/plain")
        if not logged_in():
            return redirect(url_for("dashboard.login"))
        return await handler(*args, **kwargs)
    return wrapper


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = random.token_urlsafe(32)
    return token


async def check_csrf() -> None:
    form = await request.form
    expected = session.get("csrf")
    if not expected or not hmac.compare_digest(expected, form.get("csrf_token", "")):
        abort(400, "the form's CSRF token is missing or wrong; reload the page")


def _failures() -> dict[str, deque[float]]:
    """Failed logins by address, kept per app (per worker)."""
    return current_app.extensions.setdefault("ivr_login_failures", defaultdict(deque))


def _throttled(address: str) -> bool:
    now = time.monotonic()
    attempts = _failures()[address]
    while attempts and now - attempts[0] > LOGIN_FAILURE_WINDOW:
        attempts.popleft()
    return len(attempts) >= LOGIN_FAILURES_ALLOWED


@blueprint.get("/login")
async def login() -> Any:
    return await render_template("login.html", csrf_token=csrf_token(), error=None)


@blueprint.post("/login")
async def login_post() -> Any:
    svc = _svc()
    await check_csrf()
    address = request.remote_addr or "-"
    if _throttled(address):
        return await render_template("login.html", csrf_token=csrf_token(),
                                     error="Too many attempts; wait five minutes."), 429
    form = await request.form
    encoded = svc.secrets.operator_password_hash
    if encoded and await asyncio.to_thread(verify_password, form.get("password", ""), encoded):
        session.clear()
        session["operator"] = True
        csrf_token()
        event(log, logging.INFO, "operator logged in", remote=address)
        return redirect(url_for("dashboard.index"))
    _failures()[address].append(time.monotonic())
    event(log, logging.WARNING, "operator login refused", remote=address)
    return await render_template("login.html", csrf_token=csrf_token(),
                                 error="That password is not right."), 401


@blueprint.post("/logout")
async def logout() -> Any:
    await check_csrf()
    session.clear()
    return redirect(url_for("dashboard.login"))


async def _live_context(svc: Services) -> dict[str, Any]:
    now = svc.clock.now()

    def gather(tx):
        conversations = tx.open_conversations()
        trails = {c.id: tx.recent_decisions(limit=50, conversation_id=c.id)
                  for c in conversations}
        calls = tx.recent_calls(RECENT_CALLS)
        call_trails = {c.call_sid: tx.recent_decisions(limit=50, sid=c.call_sid)
                       for c in calls}
        return conversations, trails, calls, call_trails, tx.latest_decision_id()

    conversations, trails, calls, call_trails, version = await svc.store.read(gather)
    config = svc.config
    rows = []
    for c in conversations:
        line = config.lines.get(c.line_id)
        owner = config.responders.get(c.owner or "")
        rows.append({
            "id": c.id, "code": c.code, "line": line.name if line else c.line_id,
            "line_code": line.code if line else c.line_id, "customer": mask(c.customer),
            "origin": c.origin, "owner": owner.name if owner else None,
            "waiting": _age(now, from_text(c.opened_at)) if not c.acked_at else None,
            "acked_after": (_age(from_text(c.acked_at), from_text(c.opened_at))
                            if c.acked_at else None),
            "tier": c.tier + 1, "trail": trails[c.id],
            "responders": [config.responders[rid] for rid in (line.responder_ids if line else ())],
        })
    call_rows = [{
        "sid": c.call_sid, "line": config.lines[c.line_id].name if c.line_id in config.lines
        else c.line_id, "caller": mask(c.caller), "status": c.status,
        "started": _age(now, from_text(c.started_at)),
        "connected_to": config.responders[c.connected_to].name
        if c.connected_to in config.responders else None,
        "trail": call_trails[c.call_sid]} for c in calls]
    return {"conversations": rows, "calls": call_rows, "version": version,
            "csrf_token": csrf_token(), "now": now}


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
    return await render_template("dashboard.html", **await _live_context(_svc()))


@blueprint.get("/live")
@login_required
async def live() -> Any:
    return await render_template("_live.html", **await _live_context(_svc()))


@blueprint.get("/events")
@login_required
async def events() -> Response:
    """Server-Sent Events: 'changed' whenever the decision log grows."""
    svc = _svc()

    async def stream():
        seen = None
        deadline = time.monotonic() + EVENT_STREAM_SECONDS
        yield b"retry: 2000\n\n"
        while time.monotonic() < deadline:
            version = await svc.store.read(lambda tx: tx.latest_decision_id())
            if version != seen:
                if seen is not None:
                    yield f"event: changed\ndata: {version}\n\n".encode()
                seen = version
            else:
                yield b": keep-alive\n\n"
            await asyncio.sleep(EVENT_POLL_SECONDS)

    response = Response(stream(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    response.timeout = None
    return response


@blueprint.post("/conversations/<int:conversation_id>/close")
@login_required
async def close(conversation_id: int) -> Any:
    await check_csrf()
    svc = _svc()
    await svc.store.write(lambda tx: texts.operator_close(tx, svc.roster, conversation_id,
                                                          OPERATOR))
    return redirect(url_for("dashboard.index"))


@blueprint.post("/conversations/<int:conversation_id>/hand-over")
@login_required
async def hand_over(conversation_id: int) -> Any:
    await check_csrf()
    svc = _svc()
    responder_id = (await request.form).get("responder", "")
    done = await svc.store.write(lambda tx: texts.operator_hand_over(
        tx, svc.roster, conversation_id, responder_id, OPERATOR))
    if not done:
        abort(400, "that conversation or responder cannot take a hand-over")
    return redirect(url_for("dashboard.index"))


def basic_auth_ok(header: str, encoded: str | None) -> bool:
    """HTTP Basic with the operator password: what a Prometheus scrape sends."""
    if not encoded or not header.startswith("Basic "):
        return False
    try:
        _, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return verify_password(password, encoded)


def register_metrics(app: Any) -> None:
    @app.get("/metrics")
    async def metrics() -> Response:
        header = request.headers.get("Authorization", "")
        encoded = _svc().secrets.operator_password_hash
        if not logged_in() and not await asyncio.to_thread(basic_auth_ok, header, encoded):
            return Response("metrics need the operator password (HTTP Basic)\n", 401,
                            {"WWW-Authenticate": 'Basic realm="ivr metrics"'},
                            mimetype="text/plain")
        svc = _svc()
        counts = await svc.store.read(lambda tx: tx.counts())
        gauges = {
            "ivr_pending_timers": ("Timers waiting to fire", counts["pending_timers"]),
            "ivr_open_conversations": ("Conversations not closed", counts["open_conversations"]),
            "ivr_outbox_unsent": ("Texts queued and not yet sent", counts["outbox_unsent"]),
        }
        return Response(svc.metrics.render(gauges), 200,
                        {"Content-Type": svc.metrics.content_type})

