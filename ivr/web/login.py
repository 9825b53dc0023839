"""The operator's login: the password (kept only as a scrypt hash),
sessions, a CSRF token on every form, and a limit on wrong passwords.
The dashboard and /metrics both check the operator here.

Every check of the password, the login form's and /metrics' HTTP Basic
alike, goes through `check_operator_password`: it reserves the attempt in
the store before verifying, so the limit holds however many requests
arrive at once and whichever worker or instance answers them. A login is a
random session id kept in the store (the signed cookie carries it); every
authenticated request checks it there, and logging out revokes it."""

from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
import logging
import math
import os
import secrets as random
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, wraps
from hashlib import sha256
from typing import Any, Awaitable, Callable

from quart import (Response, abort, current_app, g, redirect, render_template, request, session,
                   url_for)

from ..logs import event
from ..passwords import hash_password, verify_password
from ..services import current_services
from .access import signed_in
from .blueprint import blueprint

log = logging.getLogger(__name__)

LOGIN_FAILURE_WINDOW = timedelta(minutes=5)
LOGIN_FAILURES_ALLOWED = 5          # per address (an IPv6 /64), per window
LOGIN_FAILURES_ALLOWED_OVERALL = 50  # from every address together, per window

SESSION_ID = "sid"


def session_key(secret: str) -> str:
    """Cookie-signing key: derived from a secret the service already has, so
    every worker and every restart signs alike."""
    return hmac.new(secret.encode(), b"ivr dashboard sessions", sha256).hexdigest()


def client_key(remote: str | None) -> str:
    """Whom the per-address limit counts: the address, or an IPv6 client's
    /64 (one host is commonly given a whole /64)."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return remote or "-"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass(frozen=True)
class PasswordCheck:
    right: bool
    retry_after: int | None = None  # seconds; set when refused unchecked (too many failures)


async def check_operator_password(password: str, via: str,
                                  name: str | None = None) -> PasswordCheck:
    """Check the operator password, or the password of the account `name`,
    within the shared limit on failures (per address, per account, overall)."""
    svc = current_services()
    address = client_key(request.remote_addr)
    reservation = await svc.store.write(lambda tx: tx.reserve_login_attempt(
        address, LOGIN_FAILURE_WINDOW, LOGIN_FAILURES_ALLOWED, LOGIN_FAILURES_ALLOWED_OVERALL,
        name))
    if reservation.attempt_id is None:
        assert reservation.retry_at is not None
        retry_after = max(1, math.ceil((reservation.retry_at - svc.clock.now()).total_seconds()))
        event(log, logging.WARNING, "operator password not checked: too many wrong attempts",
              remote=address, via=via, retry_after=retry_after, worker=os.getpid())
        return PasswordCheck(False, retry_after)
    attempt_id = reservation.attempt_id
    if name is None:
        encoded = svc.secrets.operator_password_hash
    else:
        encoded = await svc.store.read(lambda tx: tx.user_password_hash(name))
    # An unknown account costs the same scrypt as a known one: the time
    # taken does not tell which names exist.
    right = await asyncio.to_thread(verify_password, password, encoded or _unknown_account())
    right = right and bool(encoded)
    await svc.store.write(lambda tx: tx.finish_login_attempt(attempt_id, right))
    if not right:
        event(log, logging.WARNING, "operator password refused", remote=address, via=via,
              worker=os.getpid())
    return PasswordCheck(right)


@cache
def _unknown_account() -> str:
    return hash_password("no account has this password", salt=b"ivr-no-account!!")


def _hashed(session_id: str) -> str:
    return sha256(session_id.encode()).hexdigest()


def session_id_hash() -> str | None:
    """The store's key for this request's login, if its cookie names one."""
    session_id = session.get(SESSION_ID)
    return _hashed(session_id) if isinstance(session_id, str) and session_id else None


async def logged_in() -> bool:
    """The cookie names a login that has not been revoked or expired."""
    id_hash = session_id_hash()
    if id_hash is None:
        return False
    return await current_services().store.read(lambda tx: tx.operator_session_live(id_hash))


def login_required(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A live login, whose account is then `g.operator` (see access.py)."""
    @wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        svc = current_services()
        if (svc.secrets.operator_password_hash is None
                and not await svc.store.read(lambda tx: tx.has_users())):
            return Response("The dashboard is off: set IVR_OPERATOR_PASSWORD (or "
                            "IVR_OPERATOR_PASSWORD_HASH), or add an account with `ivr user "
                            "add NAME --role admin`, to turn it on.\n", 404,
                            mimetype="text/plain")
        id_hash = session_id_hash()
        user = (await svc.store.read(lambda tx: tx.session_user(id_hash))
                if id_hash is not None else None)
        if user is None:
            return redirect(url_for("dashboard.login"))
        g.operator = signed_in(user)
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


@blueprint.get("/login")
async def login() -> Any:
    return await render_template("login.html", csrf_token=csrf_token(), error=None)


@blueprint.post("/login")
async def login_post() -> Any:
    await check_csrf()
    form = await request.form
    name = form.get("name", "").strip().lower() or None
    checked = await check_operator_password(form.get("password", ""), via="login", name=name)
    if checked.retry_after is not None:
        minutes = math.ceil(checked.retry_after / 60)
        body = await render_template(
            "login.html", csrf_token=csrf_token(),
            error=f"Too many wrong passwords; try again in {minutes} min.")
        return body, 429, {"Retry-After": str(checked.retry_after)}
    if not checked.right:
        return await render_template("login.html", csrf_token=csrf_token(),
                                     error="That password is not right."), 401
    session.clear()
    session_id = random.token_urlsafe(32)
    lifetime = current_app.permanent_session_lifetime

    def open_session(tx):
        tx.open_operator_session(_hashed(session_id), lifetime)
        tx.name_session(_hashed(session_id), name)

    await current_services().store.write(open_session)
    session[SESSION_ID] = session_id
    csrf_token()
    event(log, logging.INFO, "operator logged in", remote=client_key(request.remote_addr),
          account=name or "the shared password")
    return redirect(url_for("dashboard.index"))


@blueprint.post("/logout")
async def logout() -> Any:
    await check_csrf()
    id_hash = session_id_hash()
    if id_hash is not None:
        await current_services().store.write(lambda tx: tx.revoke_operator_session(id_hash))
    session.clear()
    return redirect(url_for("dashboard.login"))


def basic_auth_password(header: str) -> str | None:
    """The password of an HTTP Basic header (any user name): what a
    Prometheus scrape sends."""
    if not header.startswith("Basic "):
        return None
    try:
        _, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return password


async def metrics_authorized(header: str) -> PasswordCheck:
    """A dashboard session, or HTTP Basic with the operator password (checked
    within the same limit as the login form)."""
    if await logged_in():
        return PasswordCheck(True)
    password = basic_auth_password(header)
    if password is None or current_services().secrets.operator_password_hash is None:
        return PasswordCheck(False)
    return await check_operator_password(password, via="metrics")
