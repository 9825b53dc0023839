"""The People page: admins add accounts, remove them and change their
roles (ivr.people makes the same checks as `ivr user`). Every form carries
the CSRF token; every route is for admins only, checked here."""

from __future__ import annotations

import logging
from typing import Any

from quart import abort, redirect, render_template, request, url_for

from .. import people as accounts
from ..logs import event
from ..roles import Action, BadAccount, Role
from ..services import current_services
from ..shown_times import day_and_time, line_zone
from .access import allowed_to, current_operator
from .blueprint import blueprint
from .login import check_csrf, csrf_token, login_required

log = logging.getLogger(__name__)


@blueprint.get("/people")
@login_required
@allowed_to(Action.MANAGE_PEOPLE)
async def people() -> Any:
    svc = current_services()
    users = await svc.store.read(lambda tx: tx.users())
    zone = line_zone(svc.config)
    return await render_template(
        "people.html", operator=current_operator(), csrf_token=csrf_token(),
        roles=[r.value for r in Role],
        users=[{"name": u.name, "role": u.role, "since": day_and_time(u.created_at, zone)}
               for u in users],
        shared=svc.secrets.operator_password_hash is not None)


async def _change(what: str, change) -> Any:
    """Run `change(tx, by)` (it returns the account's name) as the signed-in
    admin; a refusal is a 400 with its fix. The route checked the CSRF token."""
    svc = current_services()
    by = current_operator().name
    try:
        done = await svc.store.write(lambda tx: change(tx, by))
    except BadAccount as exc:
        abort(400, str(exc))
    event(log, logging.INFO, f"operator account {what}", account=done, by=by)
    return redirect(url_for("dashboard.people"))


@blueprint.post("/people/add")
@login_required
@allowed_to(Action.MANAGE_PEOPLE)
async def add_person() -> Any:
    await check_csrf()   # before the password is hashed: a forged form costs nothing
    form = await request.form
    try:
        password_hash = accounts.checked_password(form.get("password", ""))
    except BadAccount as exc:
        abort(400, str(exc))
    return await _change("added", lambda tx, by: accounts.add_account(
        tx, form.get("name", ""), form.get("role", ""), password_hash))


@blueprint.post("/people/<name>/remove")
@login_required
@allowed_to(Action.MANAGE_PEOPLE)
async def remove_person(name: str) -> Any:
    await check_csrf()
    return await _change("removed", lambda tx, by: accounts.remove_account(tx, name, by))


@blueprint.post("/people/<name>/role")
@login_required
@allowed_to(Action.MANAGE_PEOPLE)
async def change_role(name: str) -> Any:
    await check_csrf()
    role = (await request.form).get("role", "")
    return await _change(f"made {role}", lambda tx, by: accounts.change_role(tx, name, role, by))
