"""Named operator accounts: `ivr user`, the People page, roles checked on
the server for every action route, operator actions and revealed numbers
in the decision log, and the shared password still an admin."""

from __future__ import annotations

import asyncio
import io

import pytest

from ivr.passwords import hash_password, verify_password

from .support.cli import clean_env, run  # noqa: F401 (clean_env is a fixture)
from .support.harness import CUSTOMER, LINE
from .support.operator import PASSWORD, csrf_of, harness  # noqa: F401 (harness is a fixture)

ACCOUNT_PASSWORD = "a long account password"
ROLES = ("admin", "operator", "viewer")


async def page(client, path="/dashboard/"):
    return await (await client.get(path, scheme="https")).get_data(as_text=True)


async def sign_in(harness, name: str | None, password: str):
    client = harness.app.test_client()
    token = csrf_of(await page(client, "/dashboard/login"))
    response = await client.post("/dashboard/login", scheme="https",
                                 form={"name": name or "", "password": password,
                                       "csrf_token": token})
    return client, response


async def account(harness, name: str, role: str):
    """A signed-in client of a new account `name` with `role`."""
    await harness.store.write(lambda tx: tx.add_user(name, role, hash_password(ACCOUNT_PASSWORD)))
    client, response = await sign_in(harness, name, ACCOUNT_PASSWORD)
    assert response.status_code == 302, await response.get_data(as_text=True)
    return client


async def post(client, path: str, form: dict | None = None):
    token = csrf_of(await page(client))
    return await client.post(path, scheme="https", form={"csrf_token": token, **(form or {})})


# -- ivr user ------------------------------------------------------------------------

async def user(monkeypatch, *argv: str, stdin: str = ""):
    """`ivr user ARGV…` as a shell runs it (its own event loop, so a thread here)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return await asyncio.to_thread(run, "user", *argv)


@pytest.mark.both_engines
async def test_ivr_user_adds_lists_changes_and_removes_accounts(harness, clean_env, database):
    clean_env.setenv("IVR_DATABASE", database)
    code, out, err = await user(clean_env, "add", "ana", "--role", "operator",
                          stdin=ACCOUNT_PASSWORD + "\n")
    assert (code, out, err) == (0, "added ana (operator)\n", "")
    assert (await user(clean_env, "add", "bo", "--role", "viewer",
                       stdin=ACCOUNT_PASSWORD + "\n"))[0] == 0
    stored = await harness.store.read(lambda tx: tx.user_password_hash("ana"))
    assert stored.startswith("scrypt$") and ACCOUNT_PASSWORD not in stored
    assert verify_password(ACCOUNT_PASSWORD, stored)

    code, out, _ = await user(clean_env, "list")
    assert code == 0 and [line.split()[:2] for line in out.splitlines()] == [
        ["ana", "operator"], ["bo", "viewer"]]

    code, _, err = await user(clean_env, "add", "ana", "--role", "admin",
                              stdin=ACCOUNT_PASSWORD + "\n")
    assert code == 2 and "already an account named ana" in err
    code, _, err = await user(clean_env, "add", "Ana Maria", "--role", "admin",
                        stdin=ACCOUNT_PASSWORD + "\n")
    assert code == 2 and "cannot name an account. Fix:" in err
    code, _, err = await user(clean_env, "add", "cy", "--role", "admin", stdin="short\n")
    assert code == 2 and "shorter than 10 characters" in err
    code, _, err = await user(clean_env, "add", "operator", "--role", "admin",
                        stdin=ACCOUNT_PASSWORD + "\n")
    assert code == 2 and "shared operator password" in err

    client, _ = await sign_in(harness, "ana", ACCOUNT_PASSWORD)
    assert (await client.get("/dashboard/", scheme="https")).status_code == 200
    code, out, _ = await user(clean_env, "passwd", "ana", stdin="another long password\n")
    assert code == 0 and "logins have ended" in out
    # The new password ends her logins on every worker: the store says so.
    assert (await client.get("/dashboard/", scheme="https")).status_code == 302
    assert (await sign_in(harness, "ana", ACCOUNT_PASSWORD))[1].status_code == 401
    client, response = await sign_in(harness, "ana", "another long password")
    assert response.status_code == 302

    assert await user(clean_env, "remove", "ana") == (
        0, "removed ana; their logins have ended\n", "")
    assert (await client.get("/dashboard/", scheme="https")).status_code == 302
    code, _, err = await user(clean_env, "remove", "ana")
    assert code == 2 and "no account named ana" in err
    assert [u.name for u in await harness.store.read(lambda tx: tx.users())] == ["bo"]


# -- roles on every action route -----------------------------------------------------

ACTION_ARGUMENTS = {"conversation_id": "1", "name": "nobody-here"}
MANAGE_PEOPLE = "/dashboard/people"


def action_routes(app) -> list[str]:
    """Every POST route of the dashboard but signing in and out."""
    routes = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or not rule.rule.startswith("/dashboard/"):
            continue
        if rule.rule in ("/dashboard/login", "/dashboard/logout"):
            continue
        path = rule.rule
        for name, value in ACTION_ARGUMENTS.items():
            path = path.replace(f"<int:{name}>", value).replace(f"<{name}>", value)
        routes.append(path)
    return sorted(routes)


def expected(role: str, path: str) -> bool:
    if role == "viewer":
        return False
    return role == "admin" or not path.startswith(MANAGE_PEOPLE)


@pytest.mark.both_engines
async def test_every_action_route_checks_the_role_on_the_server(harness, database):
    routes = action_routes(harness.app)
    # The table below covers these at least; a new action route joins it by itself.
    for known in ("/dashboard/conversations/1/close", "/dashboard/conversations/1/hand-over",
                  "/dashboard/conversations/1/reveal", "/dashboard/blocked-numbers/block",
                  "/dashboard/blocked-numbers/unblock", "/dashboard/unreachable-numbers/clear",
                  "/dashboard/people/add", "/dashboard/people/nobody-here/remove",
                  "/dashboard/people/nobody-here/role"):
        assert known in routes
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="the bin is full")
    for role in ROLES:
        client = await account(harness, f"{role}-1", role)
        for path in routes:
            response = await post(client, path)
            allowed = response.status_code != 403
            assert allowed == expected(role, path), (role, path, response.status_code)
    # What a viewer posted changed nothing: #1 is still open (an operator then closed it).
    kinds = [d.kind for d in await harness.decisions(conversation_id=1)]
    assert kinds.count("closed") == 1


@pytest.mark.both_engines
async def test_every_action_route_wants_the_csrf_token(harness, database):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="the bin is full")
    admin = await account(harness, "ada", "admin")
    for path in action_routes(harness.app):
        for form in ({}, {"csrf_token": "forged"}):
            response = await admin.post(path, scheme="https", form={
                **form, "name": "bo", "role": "viewer", "password": ACCOUNT_PASSWORD,
                "responder": "backup", "number": "+16195550123", "line": "*"})
            assert response.status_code == 400, (path, form)
    assert [d.kind for d in await harness.decisions()
            if d.kind in ("closed", "handed_over", "number_blocked", "number_revealed")] == []
    assert [u.name for u in await harness.store.read(lambda tx: tx.users())] == ["ada"]


@pytest.mark.both_engines
async def test_a_viewer_sees_no_buttons_and_an_operator_no_people_page(harness, database):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="the bin is full")
    viewer = await account(harness, "vera", "viewer")
    html = await page(viewer)
    assert "QDN #1" in html and "vera · viewer" in html
    for button in ("Close #1", "Hand over", "Show the number", ">Block<", "People</a>"):
        assert button not in html
    assert (await viewer.get("/dashboard/people", scheme="https")).status_code == 403
    assert (await viewer.get("/dashboard/line-report", scheme="https")).status_code == 200

    operator = await account(harness, "otto", "operator")
    html = await page(operator)
    assert "Close #1" in html and "Show the number" in html and "People</a>" not in html
    assert (await operator.get("/dashboard/people", scheme="https")).status_code == 403


# -- the decision log names the operator ---------------------------------------------

@pytest.mark.both_engines
async def test_each_operator_action_is_a_decision_naming_the_operator(harness, database):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="the bin is full")
    ana = await account(harness, "ana", "operator")
    assert (await post(ana, "/dashboard/conversations/1/hand-over",
                       {"responder": "backup"})).status_code == 302
    assert (await post(ana, "/dashboard/blocked-numbers/block",
                       {"number": "+16195550123", "line": "qdn"})).status_code == 302
    assert (await post(ana, "/dashboard/conversations/1/close")).status_code == 302
    decisions = await harness.decisions()
    named = {d.kind: d.reason for d in decisions
             if d.kind in ("handed_over", "number_blocked", "closed")}
    assert named["handed_over"].startswith("ana handed #1 to")
    assert named["number_blocked"].startswith("ana blocked +1619***0123")
    assert named["closed"] == "ana closed #1 from the dashboard"


@pytest.mark.both_engines
async def test_a_whole_number_is_shown_only_on_a_click_that_is_logged(harness, database):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="the bin is full")
    ana = await account(harness, "ana", "operator")
    html = await page(ana)
    assert CUSTOMER not in html and "+1619***0142" in html
    response = await post(ana, "/dashboard/conversations/1/reveal")
    revealed = await response.get_data(as_text=True)
    assert response.status_code == 200 and f'href="tel:{CUSTOMER}"' in revealed
    [logged] = [d for d in await harness.decisions() if d.kind == "number_revealed"]
    assert logged.conversation_id == 1 and logged.line_id == "qdn"
    assert logged.reason == "ana revealed the customer's number of #1"
    assert CUSTOMER not in logged.reason
    # Back on the dashboard it is masked again.
    assert CUSTOMER not in await page(ana)
    forged = await ana.post("/dashboard/conversations/1/reveal", scheme="https",
                            form={"csrf_token": "forged"})
    assert forged.status_code == 400
    assert len([d for d in await harness.decisions() if d.kind == "number_revealed"]) == 1


# -- the People page and the shared password -------------------------------------------

@pytest.mark.both_engines
async def test_an_admin_manages_people_from_the_dashboard(harness, database):
    admin = await account(harness, "ada", "admin")
    html = await page(admin, "/dashboard/people")
    assert "That is you." in html
    response = await post(admin, "/dashboard/people/add",
                          {"name": "bo", "role": "viewer", "password": ACCOUNT_PASSWORD})
    assert response.status_code == 302
    bo, signed = await sign_in(harness, "bo", ACCOUNT_PASSWORD)
    assert signed.status_code == 302
    assert (await post(admin, "/dashboard/people/bo/role", {"role": "operator"})
            ).status_code == 302
    assert "Close #" not in await page(bo)          # nothing open; but bo may act now:
    assert (await post(bo, "/dashboard/blocked-numbers/block",
                       {"number": "+16195550123", "line": "*"})).status_code == 302
    refused = await post(admin, "/dashboard/people/ada/role", {"role": "viewer"})
    assert refused.status_code == 400
    assert "cannot change your own role" in await refused.get_data(as_text=True)
    assert (await post(admin, "/dashboard/people/add", {
        "name": "cy", "role": "viewer", "password": "short"})).status_code == 400
    assert (await post(admin, "/dashboard/people/bo/remove")).status_code == 302
    assert (await bo.get("/dashboard/", scheme="https")).status_code == 302
    assert [u.name for u in await harness.store.read(lambda tx: tx.users())] == ["ada"]


@pytest.mark.both_engines
async def test_the_shared_password_still_signs_in_as_an_admin(harness, database):
    await harness.twilio.text(from_=CUSTOMER, to=LINE, body="the bin is full")
    client, response = await sign_in(harness, None, PASSWORD)
    assert response.status_code == 302
    html = await page(client)
    assert "operator · admin" in html and "People</a>" in html
    assert (await client.get("/dashboard/people", scheme="https")).status_code == 200
    assert (await post(client, "/dashboard/conversations/1/close")).status_code == 302
    closed = [d for d in await harness.decisions() if d.kind == "closed"]
    assert closed[0].reason == "operator closed #1 from the dashboard"
    # The shared password is no account's: naming one with it is refused.
    await harness.store.write(lambda tx: tx.add_user("ana", "viewer",
                                                     hash_password(ACCOUNT_PASSWORD)))
    assert (await sign_in(harness, "ana", PASSWORD))[1].status_code == 401


@pytest.mark.both_engines
async def test_wrong_passwords_for_one_account_are_limited_from_any_address(harness, database):
    await harness.store.write(lambda tx: tx.add_user("ana", "admin",
                                                     hash_password(ACCOUNT_PASSWORD)))
    client = harness.app.test_client()
    token = csrf_of(await page(client, "/dashboard/login"))
    for n in range(5):
        response = await client.post(
            "/dashboard/login", scheme="https", scope_base={"client": (f"10.0.{n}.1", 4000)},
            form={"name": "ana", "password": "not her password", "csrf_token": token})
        assert response.status_code == 401
    refused = await client.post(
        "/dashboard/login", scheme="https", scope_base={"client": ("10.9.9.9", 4000)},
        form={"name": "ana", "password": ACCOUNT_PASSWORD, "csrf_token": token})
    assert refused.status_code == 429
    # Another account, and the shared password, are not held back by it.
    shared = await client.post(
        "/dashboard/login", scheme="https", scope_base={"client": ("10.9.9.9", 4000)},
        form={"name": "", "password": PASSWORD, "csrf_token": token})
    assert shared.status_code == 302


async def test_without_a_password_or_an_account_the_dashboard_is_off(config, fake_twilio):
    from .support.harness import open_harness
    async with open_harness(config, fake_twilio) as bare:
        response = await bare.client.get("/dashboard/", scheme="https")
        assert response.status_code == 404
        assert "ivr user add NAME --role admin" in await response.get_data(as_text=True)
        await bare.store.write(lambda tx: tx.add_user("ana", "admin",
                                                      hash_password(ACCOUNT_PASSWORD)))
        response = await bare.client.get("/dashboard/", scheme="https")
        assert response.status_code == 302
        client, signed = await sign_in(bare, "ana", ACCOUNT_PASSWORD)
        assert signed.status_code == 302
        assert (await client.get("/dashboard/", scheme="https")).status_code == 200


def test_ivr_check_counts_the_accounts(clean_env, tmp_path):
    from .test_cli import env_file
    clean_env.setenv("IVR_ENV_FILE", str(env_file(tmp_path, 0o600)))
    code, out, _ = run("check")
    assert code == 0 and "dashboard: off" in out
    # The first account may come before the first start: it makes the database.
    clean_env.setattr("sys.stdin", io.StringIO(ACCOUNT_PASSWORD + "\n"))
    assert run("user", "add", "ana", "--role", "admin")[0] == 0
    code, out, _ = run("check")
    assert "dashboard: on (1 operator account(s) from `ivr user`; no shared operator " \
           "password)" in out
