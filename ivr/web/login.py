"""The operator's login: the password (kept only as a scrypt hash),
signed session cookies, a CSRF token on every form, and a limit on wrong
passwords. The dashboard and /metrics both check the operator here."""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import secrets as random
import time
from collections import defaultdict, deque
from functools import wraps
from hashlib import sha256
from typing import Any, Awaitable, Callable

from quart import Response, abort, current_app, redirect, render_template, request, session, url_for

from ..logs import event
from ..passwords import verify_password
from ..services import current_services
from .blueprint import blueprint

log = logging.getLogger(__name__)

LOGIN_FAILURES_ALLOWED = 5          # per address, per window, before logins are refused
LOGIN_FAILURE_WINDOW = 300


def session_key(secret: str) -> str:
    """Cookie-signing key: derived from a secret the service already has, so
    every worker and every restart signs alike."""
    return hmac.new(secret.encode(), b"ivr dashboard sessions", sha256).hexdigest()


def logged_in() -> bool:
    return session.get("operator") is True


def login_required(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_services().secrets.operator_password_hash is None:
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
    svc = current_services()
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


def basic_auth_ok(header: str, encoded: str | None) -> bool:
    """HTTP Basic with the operator password: what a Prometheus scrape sends."""
    if not encoded or not header.startswith("Basic "):
        return False
    try:
        _, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return verify_password(password, encoded)



async def metrics_authorized(header: str) -> bool:
    """A dashboard session, or HTTP Basic with the operator password."""
    encoded = current_services().secrets.operator_password_hash
    return logged_in() or await asyncio.to_thread(basic_auth_ok, header, encoded)
